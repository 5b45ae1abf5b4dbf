"""A local stand-in for Lambda's RabbitMQ event source mapping.

It consumes a queue on any RabbitMQ, batches messages by Lambda's rules (batch size,
batching window, 6 MB payload), builds each event with `lambda_event.build_event`, and
invokes the handler in-process, one invocation at a time. After a successful invocation it
acks the batch; after a failed one it returns the batch to the queue, so the broker
redelivers it with `redelivered: true`. Nothing is acked before the handler has returned, so
an interrupted or killed run loses nothing: the broker requeues what was unacked when the
connection drops.

AWS does not document how Lambda's poller returns a failed batch, and since RabbitMQ 4.3 the
way matters: only some returns count toward a quorum queue's delivery limit. So the way is a
setting (`--failure-mode`, `MappingSettings.failure_mode`):

| mode | what the broker gets | counts toward the delivery limit on RabbitMQ 4.3+ |
|---|---|---|
| `reject` (default) | `basic.reject` requeue=true per message | yes |
| `nack` | `basic.nack` requeue=true per message | no |
| `nack-multiple` | one `basic.nack` multiple=true requeue=true | no |
| `close-channel` | the channel closed with the batch unacked (prefetched messages return too) | yes |

Up to RabbitMQ 4.2 every return counts (docs/error-handling.md has the sources).

One difference from AWS: Lambda drops a single message too large for a 6 MB event; here it
is rejected to the broker's dead-letter queue instead, with a warning.

Like the event source mapping, it declares nothing: the queue must exist (scripts/bootstrap.py
creates it), and it consumes best as the consumer user the bootstrap made (--credentials).

Like Lambda's poller, it reconnects when its connection is lost (closed by the broker or through
the management API, a network cut), with a bounded backoff, and reads its credentials again for
every connection (from the --credentials file, or any provider such as a Secrets Manager
secret), so a password rotation does not stop it. Unacked messages go back to the queue with the
lost connection. A broker that refuses the credentials stops it, as Lambda disables a mapping on
EVENT_SOURCE_AUTHN_ERROR: one line names the cause and the fix.

    python scripts/local_event_source_mapping.py --queue orders --url amqp://localhost:5672/ \
        --credentials .local/credentials.json
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pika
import pika.exceptions
from aws_lambda_powertools.utilities.typing import LambdaContext

from rabbitmq_admin.topology import MAX_SHARDS, shard_queue_name
from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT
from rabbitmq_tools.broker import CREDENTIALS, VHOST, connection_parameters, explain_connection_error
from rabbitmq_tools.credentials import CredentialsProvider, from_file, refused_by_broker, with_credentials
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, MAX_EVENT_BYTES, build_event, build_record

MAX_BATCH_SIZE = 10_000
MAX_BATCHING_WINDOW = 300.0
DEFAULT_HANDLER = "rabbitmq_consumer.handler.lambda_handler"
DEFAULT_DEAD_LETTER_FILE = ".local/dead-letters.jsonl"
# How a failed batch goes back to the queue (see the module docstring).
FAILURE_MODES = ("reject", "nack", "nack-multiple", "close-channel")
RECONNECT_ATTEMPTS = 10  # failed attempts in a row before giving up: about 45 s with the backoff
MAX_BACKOFF = 10.0  # seconds between reconnect attempts, at most
# What a lost connection raises from pika's blocking adapter (anything on its socket included).
CONNECTION_LOST = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionWrongStateError,
    pika.exceptions.ChannelWrongStateError,
    OSError,
)

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class MappingSettings:
    """The event source mapping's settings, with Lambda's defaults and limits."""

    queue: str
    batch_size: int = 100
    batching_window: float = 0.5
    broker_arn: str = LOCAL_BROKER_ARN
    function_name: str = "local-rabbitmq-consumer"
    failure_mode: str = "reject"

    def __post_init__(self) -> None:
        if self.failure_mode not in FAILURE_MODES:
            raise ValueError(f"failure mode must be one of {', '.join(FAILURE_MODES)}, got {self.failure_mode!r}")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be 1 to {MAX_BATCH_SIZE:,}, got {self.batch_size}")
        if not 0 <= self.batching_window <= MAX_BATCHING_WINDOW:
            raise ValueError(
                f"batching window must be 0 to {MAX_BATCHING_WINDOW:g} seconds, got {self.batching_window}"
            )


@dataclass
class Stats:
    messages: int = 0  # messages in successful invocations, now acked
    batches: int = 0  # invocations, successful or not
    failures: int = 0  # failed invocations, whose messages went back to the queue
    returned_unread: int = 0  # prefetched messages a closed channel returned with a failed batch
    dead_lettered: int = 0  # as reported by the handler's summaries
    oversized: int = 0  # single messages too large for an event
    reconnects: int = 0  # connections made again after one was lost
    authentication_failures: int = 0  # connects the broker refused the credentials (or vhost) of
    started: float = field(default_factory=time.monotonic)
    idle: float = 0.0  # seconds spent waiting for a batch's first message (an empty queue)
    waiting_since: float | None = None  # when the current wait for a first message began
    ended: float | None = None  # when run() returned: the figures stop there

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def busy(self) -> float:
        """Seconds not spent waiting on an empty queue: what the rate is measured over."""
        now = self.ended or time.monotonic()
        idle = self.idle + (now - self.waiting_since if self.waiting_since is not None else 0.0)
        return max(now - self.started - idle, 0.0)

    def stop_waiting(self) -> None:
        if self.waiting_since is not None:
            self.idle += time.monotonic() - self.waiting_since
            self.waiting_since = None

    @property
    def rate(self) -> float:
        """Messages per second of busy time: an idle queue (--idle-timeout, a slow producer) does
        not lower it."""
        busy = self.busy
        return self.messages / busy if busy > 0 else 0.0

    def line(self) -> str:
        reconnects = f" | reconnects {self.reconnects:,}" if self.reconnects else ""
        return (
            f"messages {self.messages:,} | batches {self.batches:,} | failures {self.failures:,} | "
            f"dead-lettered {self.dead_lettered:,}{reconnects} | {self.rate:,.0f} msg/s"
        )


class MappingStopped(Exception):
    """The mapping stopped as Lambda's would: the broker refused its credentials or its vhost
    (`state_reason` EVENT_SOURCE_AUTHN_ERROR or EVENT_SOURCE_AUTHZ_ERROR), or it could not
    reconnect. The message is one line naming the cause and the fix."""

    def __init__(self, message: str, state_reason: str) -> None:
        super().__init__(message)
        self.state_reason = state_reason


class LocalLambdaContext(LambdaContext):
    """Lambda's context object for one local invocation: what Powertools and handlers read."""

    def __init__(self, function_name: str, timeout_seconds: float = 60.0, memory_limit_in_mb: int = 128) -> None:
        self._function_name = function_name
        self._function_version = "$LATEST"
        self._invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function_name}"
        self._memory_limit_in_mb = memory_limit_in_mb
        self._aws_request_id = str(uuid.uuid4())
        self._log_group_name = f"/aws/lambda/{function_name}"
        self._log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]  # static in the stub
        return max(0, int((self._deadline - time.monotonic()) * 1000))


Delivery = tuple[Any, pika.BasicProperties, bytes]  # (method, properties, body) from pika


class LocalEventSourceMapping:
    def __init__(
        self,
        parameters: pika.ConnectionParameters,
        settings: MappingSettings,
        handler: Handler,
        *,
        credentials: CredentialsProvider | None = None,
        reconnect_attempts: int = RECONNECT_ATTEMPTS,
    ) -> None:
        """`credentials`, when given, is asked for the user name and password at every connect
        (else those of `parameters` are used); `reconnect_attempts` failed reconnects in a row
        stop the mapping."""
        self.parameters = parameters
        self.settings = settings
        self.handler = handler
        self.credentials = credentials
        self.reconnect_attempts = reconnect_attempts
        self.vhost: str = parameters.virtual_host
        self._envelope_bytes = len(json.dumps(build_event(settings.broker_arn, settings.queue, self.vhost, [])))
        self.stats = Stats()
        self._pending: deque[Delivery] = deque()  # delivered by the broker, not yet in a batch
        self._connection: Any = None
        self._channel: Any = None
        self._consumer_tag = ""
        self._prefetch = settings.batch_size
        self._connected_as = parameters  # the parameters, with the user, of the last connect
        self._max_messages: int | None = None  # of the current run

    def run(
        self,
        max_messages: int | None = None,
        idle_timeout: float | None = None,
        progress: Callable[[Stats], None] | None = None,
    ) -> Stats:
        """Invoke the handler until `max_messages` were processed, no message arrived for
        `idle_timeout` seconds, or the caller interrupts; unacked messages go back to the queue.
        A lost connection is made again (with fresh credentials); the first connect failing, or
        the broker refusing the credentials, raises (`MappingStopped` for a refusal).
        `self.stats` counts as it goes, so an interrupted caller can still report."""
        stats = self.stats = Stats()
        self._max_messages = max_messages
        failed_attempts = 0
        try:
            self._connect()
            while True:
                try:
                    self._process(max_messages, idle_timeout, progress)
                    return stats
                except CONNECTION_LOST as exc:  # not ChannelClosedByBroker (a missing queue): that raises
                    lost: BaseException = exc
                stats.stop_waiting()
                # Reconnect with backoff; the broker has requeued whatever was unacked.
                while True:
                    failed_attempts += 1
                    if failed_attempts > self.reconnect_attempts:
                        raise MappingStopped(
                            f"could not reconnect after {self.reconnect_attempts} attempts: {self._describe(lost)}",
                            "CONNECTION_LOST",
                        ) from lost
                    delay = min(0.25 * 2 ** (failed_attempts - 1), MAX_BACKOFF)
                    print(
                        f"connection lost ({self._describe(lost)}): reconnecting in {delay:g} s with fresh credentials",
                        file=sys.stderr,
                    )
                    time.sleep(delay)
                    try:
                        self._connect()
                    except (*CONNECTION_LOST, ValueError) as exc:  # ValueError: the credentials provider's
                        lost = exc
                        continue
                    stats.reconnects += 1
                    failed_attempts = 0
                    break
        finally:
            stats.stop_waiting()
            stats.ended = time.monotonic()
            connection = self._connection
            if connection is not None and connection.is_open:
                connection.close()  # the broker requeues whatever was not acked

    def _connect(self) -> None:
        """Connect with the provider's current credentials, and consume. Raises `MappingStopped`
        when the broker refuses them: like Lambda, which disables a mapping then, never retry a
        refused password in a loop."""
        self._connection = self._channel = None
        self._pending.clear()  # the delivery tags of a lost channel are void; the broker requeued them
        parameters = self._connected_as = with_credentials(self.parameters, self.credentials)
        try:
            self._connection = pika.BlockingConnection(parameters)
        except pika.exceptions.AMQPConnectionError as exc:
            kind, message = explain_connection_error(exc, parameters)
            if not refused_by_broker(exc):
                raise  # not the broker's refusal: a connection cut during the handshake is only lost
            if kind == CREDENTIALS:
                self.stats.authentication_failures += 1
                source = "the credentials file or secret" if self.credentials else "the URL"
                raise MappingStopped(
                    f"RabbitMQ at {parameters.host}:{parameters.port} refused the credentials of user "
                    f"{parameters.credentials.username!r}; the mapping stopped, as Lambda's stops on "
                    f"EVENT_SOURCE_AUTHN_ERROR: put the user's current password in {source}, then start it again",
                    "EVENT_SOURCE_AUTHN_ERROR",
                ) from exc
            if kind == VHOST:
                self.stats.authentication_failures += 1
                raise MappingStopped(
                    f"{message}; the mapping stopped, as Lambda's stops on EVENT_SOURCE_AUTHZ_ERROR",
                    "EVENT_SOURCE_AUTHZ_ERROR",
                ) from exc
            raise
        self._channel = self._connection.channel()
        prefetch = self.settings.batch_size
        if self._max_messages is not None:
            prefetch = min(prefetch, max(self._max_messages - self.stats.messages, 1))
        self._consume(prefetch)

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, ValueError):  # the credentials provider's, already one line
            return str(error)
        return explain_connection_error(error, self._connected_as)[1]

    def _process(
        self,
        max_messages: int | None,
        idle_timeout: float | None,
        progress: Callable[[Stats], None] | None,
    ) -> None:
        """Collect and invoke batches on the current connection until done; raises on a lost one."""
        stats = self.stats
        while max_messages is None or stats.messages < max_messages:
            remaining = None if max_messages is None else max_messages - stats.messages
            batch = self._collect(self._connection, stats, remaining, idle_timeout, progress)
            if batch is None:
                break  # idle timeout
            self._invoke(batch, stats, remaining)
            if progress:
                progress(stats)

    def _consume(self, prefetch: int) -> None:
        # The broker sends no more than one batch ahead of the acks: Lambda's
        # one-invocation-at-a-time behaviour, and no message sits idle in this process.
        self._prefetch = prefetch
        self._channel.basic_qos(prefetch_count=prefetch)
        self._consumer_tag = self._channel.basic_consume(
            self.settings.queue,
            on_message_callback=lambda _ch, method, props, body: self._pending.append((method, props, body)),
        )

    def _collect(
        self,
        connection: pika.BlockingConnection,
        stats: Stats,
        remaining: int | None,
        idle_timeout: float | None,
        progress: Callable[[Stats], None] | None,
    ) -> tuple[list[dict[str, Any]], list[int]] | None:
        """Gather one batch: (records, their delivery tags), or None after `idle_timeout`."""
        limit = self.settings.batch_size if remaining is None else min(self.settings.batch_size, remaining)
        records: list[dict[str, Any]] = []
        size = self._envelope_bytes
        tags: list[int] = []
        pending, channel = self._pending, self._channel
        window_ends = 0.0
        idle_since = stats.waiting_since = time.monotonic()
        while len(records) < limit:
            if not pending:
                now = time.monotonic()
                if records:
                    wait = window_ends - now
                    if wait <= 0:
                        break
                else:
                    if idle_timeout is not None and now - idle_since >= idle_timeout:
                        stats.stop_waiting()
                        return None
                    wait = 1.0 if idle_timeout is None else min(1.0, idle_since + idle_timeout - now)
                    if progress:
                        progress(stats)
                connection.process_data_events(time_limit=max(wait, 0))
                continue
            if not records:
                stats.stop_waiting()
            method, properties, body = pending.popleft()
            record = build_record(body, properties, method.redelivered)
            record_bytes = len(json.dumps(record)) + 2  # and the ", " that separates records
            if self._envelope_bytes + record_bytes > MAX_EVENT_BYTES:
                channel.basic_reject(method.delivery_tag, requeue=False)
                stats.oversized += 1
                print(
                    f"warning: message {properties.message_id!r} of {len(body):,} bytes cannot fit in a "
                    f"6 MB event (Lambda would drop it): rejected to the broker's dead-letter queue",
                    file=sys.stderr,
                )
                continue
            if size + record_bytes > MAX_EVENT_BYTES:
                pending.appendleft((method, properties, body))  # it opens the next batch
                break
            if not records:
                window_ends = time.monotonic() + self.settings.batching_window
            records.append(record)
            size += record_bytes
            tags.append(method.delivery_tag)
        return records, tags

    def _invoke(self, batch: tuple[list[dict[str, Any]], list[int]], stats: Stats, remaining: int | None) -> None:
        records, tags = batch
        channel = self._channel
        event = build_event(self.settings.broker_arn, self.settings.queue, self.vhost, records)
        stats.batches += 1
        try:
            result = self.handler(event, LocalLambdaContext(self.settings.function_name))
        except Exception as exc:
            self._return_failed(tags, stats)
            stats.failures += 1
            print(
                f"invocation failed ({type(exc).__name__}: {exc}): "
                f"{len(records)} message(s) returned to the queue for redelivery ({self.settings.failure_mode})",
                file=sys.stderr,
            )
            return
        wanted = None if remaining is None else remaining - len(records) - len(self._pending)
        if wanted is not None and wanted < self.settings.batch_size:
            # Near max_messages: a consumer's prefetch cannot shrink while it runs, so stop it
            # before the ack frees room, and start one that takes only what is still wanted.
            channel.basic_cancel(self._consumer_tag)
        # Every delivery up to the batch's last is in the batch or already settled, so one
        # `multiple` ack settles exactly this batch, whatever is prefetched behind it.
        channel.basic_ack(tags[-1], multiple=True)
        if wanted is not None and 0 < wanted < self.settings.batch_size:
            self._consume(wanted)
        stats.messages += len(records)
        if isinstance(result, dict):
            stats.dead_lettered += int(result.get("deadLettered", 0))

    def _return_failed(self, tags: list[int], stats: Stats) -> None:
        """Give a failed batch back to the queue the way `settings.failure_mode` says."""
        channel, mode = self._channel, self.settings.failure_mode
        if mode == "reject":  # counts toward the delivery limit on every RabbitMQ version
            for tag in tags:
                channel.basic_reject(tag, requeue=True)
        elif mode == "nack":  # RabbitMQ 4.3+: does not count
            for tag in tags:
                channel.basic_nack(tag, multiple=False, requeue=True)
        elif mode == "nack-multiple":
            # Every delivery up to the batch's last is in the batch or already settled (see the ack).
            channel.basic_nack(tags[-1], multiple=True, requeue=True)
        else:  # close-channel: the broker returns every unacked message, prefetched ones too
            stats.returned_unread += len(self._pending)
            self._pending.clear()  # their delivery tags die with the channel
            channel.close()
            self._channel = self._connection.channel()
            self._consume(self._prefetch)


def load_handler(path: str) -> Handler:
    """A handler in Lambda's `module.function` notation. The module is imported by name (it must
    be installed, like the default), or, when it is a path with a slash in it, loaded from that
    file: `handlers/orders.lambda_handler` is the function `lambda_handler` of handlers/orders.py,
    as Lambda reads `dir/module.function` relative to its task root (here: the current directory).
    Raises ImportError, or AttributeError for a missing function."""
    module_name, _, function_name = path.rpartition(".")
    if not module_name or not function_name:
        raise ImportError(f"handler {path!r} is not in the form module.function")
    if "/" in module_name or os.sep in module_name:
        module = _load_module_file(Path(f"{module_name}.py"))
    else:
        module = importlib.import_module(module_name)
    handler: Handler = getattr(module, function_name)
    return handler


def _load_module_file(file: Path) -> ModuleType:
    """Import a module from its file, under its file name, without touching sys.path."""
    name = file.stem
    if name in sys.modules:
        raise ImportError(f"cannot load {file} as module {name!r}: a module of that name is already imported")
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None or not file.is_file():
        raise ImportError(f"no handler module file {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as an import would: dataclasses, pickle and the like look it up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the Lambda handler on a RabbitMQ queue, batching and retrying as Lambda's "
        "event source mapping does. Exit codes: 0 done, 1 error, 130 interrupted."
    )
    parser.add_argument(
        "--queue", required=True, help="queue to consume (sharded: the queue_name the shards are named after)"
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help=f"consume the {MAX_SHARDS} or fewer shard queues <queue>.shard-<i> of a sharded topology, one poller per "
        "queue, each in a process of its own, as AWS runs one event source mapping per shard; --max-messages then "
        "counts per queue (default 1: --queue alone)",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("RABBITMQ_URL"),
        help="broker URL, amqp[s]://user:password@host:port/vhost (default: $RABBITMQ_URL)",
    )
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help="consume as the consumer user of this file, written by scripts/bootstrap.py (instead of the URL's "
        "user); read again at every reconnect, so a rotated password is picked up",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="messages per event, 1-10000 (default 100)")
    parser.add_argument(
        "--batching-window", type=float, default=0.5, help="seconds to gather a batch, 0-300 (default 0.5)"
    )
    parser.add_argument("--max-messages", type=int, help="stop after this many messages were processed")
    parser.add_argument("--idle-timeout", type=float, help="stop when no message arrived for this many seconds")
    parser.add_argument(
        "--handler",
        default=DEFAULT_HANDLER,
        help="handler to invoke, module.function: an installed module, or a file path without .py such as "
        f"handlers/orders.lambda_handler (default {DEFAULT_HANDLER})",
    )
    parser.add_argument(
        "--dead-letter-file",
        default=DEFAULT_DEAD_LETTER_FILE,
        help="JSON-lines file for messages the handler rejects, unless DEAD_LETTER_QUEUE_URL or "
        f"DEAD_LETTER_FILE is set (default {DEFAULT_DEAD_LETTER_FILE})",
    )
    parser.add_argument(
        "--delivery-limit",
        type=int,
        default=DEFAULT_DELIVERY_LIMIT,
        help="the queue's delivery limit, for the handler's last-delivery guard (its DELIVERY_LIMIT; default "
        f"{DEFAULT_DELIVERY_LIMIT}): the one the bootstrap applied",
    )
    parser.add_argument(
        "--ordering-key",
        help="the handler's ORDERING_KEY: none (default), message-id, header:<name> or json:<path>; with "
        "--parallelism above 1 the messages of different keys run at the same time, each key's in order",
    )
    parser.add_argument(
        "--parallelism", type=int, help="the handler's PARALLELISM: lanes run at once, 1 (default) to 64"
    )
    parser.add_argument(
        "--idempotency-table",
        help="the handler's IDEMPOTENCY_TABLE: skip messages this DynamoDB table records as completed (the key: "
        "IDEMPOTENCY_KEY, message-id by default); with --dynamodb-endpoint, a table on a local server such as "
        "scripts/local_dynamodb.py's",
    )
    parser.add_argument(
        "--dynamodb-endpoint",
        metavar="URL",
        help="DynamoDB server of the idempotency table, e.g. http://127.0.0.1:8000 (AWS_ENDPOINT_URL_DYNAMODB); "
        "without AWS credentials or a region in the environment, placeholders that a local server accepts",
    )
    parser.add_argument(
        "--failure-mode",
        choices=FAILURE_MODES,
        default="reject",
        help="how a failed batch goes back to the queue: basic.reject per message (default), basic.nack per "
        "message, one basic.nack multiple=true, or closing the channel; since RabbitMQ 4.3 the nacks do not count "
        "toward the delivery limit",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.url:
        print("error: no broker URL: pass --url amqp://user:password@host:5672/ or set RABBITMQ_URL", file=sys.stderr)
        return 1
    try:
        settings = MappingSettings(args.queue, args.batch_size, args.batching_window, failure_mode=args.failure_mode)
        # Read again at every connect, so a rotated password in the file is picked up.
        credentials = from_file(args.credentials, "consumer") if args.credentials else None
        parameters = connection_parameters(args.url, *(credentials() if credentials else (None, None)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not (os.environ.get("DEAD_LETTER_QUEUE_URL") or os.environ.get("DEAD_LETTER_FILE")):
        os.environ["DEAD_LETTER_FILE"] = args.dead_letter_file
    os.environ.setdefault("DELIVERY_LIMIT", str(args.delivery_limit))  # the handler's last-delivery guard
    # The handler reads these when it is loaded, as in Lambda, where Terraform sets them.
    for name, value in (("ORDERING_KEY", args.ordering_key), ("PARALLELISM", args.parallelism)):
        if value is not None:
            os.environ[name] = str(value)
    set_idempotency_environment(args.idempotency_table, args.dynamodb_endpoint)
    if args.shards != 1:
        return run_shards(args, settings)
    live = sys.stderr.isatty()
    last_shown = 0.0

    def show(stats: Stats) -> None:
        nonlocal last_shown
        if live and time.monotonic() - last_shown >= 0.5:
            print(f"\r{stats.line()}", end="", file=sys.stderr, flush=True)
            last_shown = time.monotonic()

    try:
        handler = load_handler(args.handler)
    except (ImportError, AttributeError) as exc:
        print(f"error: cannot load the handler {args.handler!r}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # the handler's configuration (rabbitmq_consumer.config.ConfigError)
        print(f"error: the handler's configuration: {exc}", file=sys.stderr)
        return 1
    mapping = LocalEventSourceMapping(parameters, settings, handler, credentials=credentials)
    try:
        stats = mapping.run(args.max_messages, args.idle_timeout, show)
    except KeyboardInterrupt:
        print(f"\ninterrupted: unacked messages returned to the queue\n{mapping.stats.line()}", file=sys.stderr)
        return 130
    except MappingStopped as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except (pika.exceptions.AMQPError, OSError) as exc:
        print(f"\nerror: {describe_connection_error(exc, parameters)}", file=sys.stderr)
        return 1
    print(
        ("\n" if live else "") + f"done: {stats.line()} in {stats.elapsed:.1f} s ({stats.idle:.1f} s idle)",
        file=sys.stderr,
    )
    return 0


def run_shards(args: argparse.Namespace, settings: MappingSettings) -> int:
    """One poller per shard queue, each in a process of its own (`pollers`), then one line per queue and
    the total."""
    from rabbitmq_tools.pollers import Poller, report, run_pollers  # it imports this module

    if not 1 <= args.shards <= MAX_SHARDS:
        print(
            f"error: --shards must be 1 to {MAX_SHARDS} (Terraform's shard_count), got {args.shards}", file=sys.stderr
        )
        return 1
    pollers = [
        Poller(
            args.url,
            dataclasses.replace(settings, queue=shard_queue_name(args.queue, index)),
            args.handler,
            args.credentials,
            args.max_messages,
            args.idle_timeout,
        )
        for index in range(args.shards)
    ]
    print(f"consuming {args.shards} shard queues of {args.queue!r}, one poller each", file=sys.stderr)
    return report(run_pollers(pollers))


def set_idempotency_environment(table: str | None, endpoint: str | None) -> None:
    """The handler's idempotency store, as Terraform sets it in AWS: IDEMPOTENCY_TABLE, and the
    DynamoDB server boto3 reaches (AWS_ENDPOINT_URL_DYNAMODB)."""
    if table:
        os.environ["IDEMPOTENCY_TABLE"] = table
    if not endpoint:
        return
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    # boto3 signs every request, so it needs credentials and a region; a local server checks neither.
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        os.environ.update(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION") or "us-east-1")  # botocore's variable


def describe_connection_error(error: BaseException, parameters: pika.ConnectionParameters) -> str:
    if isinstance(error, pika.exceptions.ChannelClosedByBroker):
        hint = {
            404: ": the bootstrap creates the queue (scripts/bootstrap.py locally, terraform apply in AWS)",
            403: ": the user may not do that; the consumer user may read its queue and nothing else",
        }.get(error.reply_code, "")
        return f"the broker closed the channel: {error.reply_code} {error.reply_text}{hint}"
    return explain_connection_error(error, parameters)[1]


if __name__ == "__main__":
    raise SystemExit(main())
