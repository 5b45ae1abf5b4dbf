"""Publish test messages to the deployed broker, or to any RabbitMQ.

After `terraform apply`, with no arguments, it publishes example-message.json once to the
deployed queue: the broker endpoint, queue, vhost and credentials secret come from the
Terraform outputs, the user name and password from Secrets Manager. With --url it publishes
to any broker instead. Always over verified TLS for amqps, as persistent messages with the
mandatory flag and publisher confirms. It publishes as the publisher user (write on the exchange it
publishes through only), whose credentials are the Terraform output publisher_secret_arn's; it
declares nothing: it checks that the queue exists, and for the deployment (Terraform outputs) its
dead-letter queue too, which the bootstrap made (terraform apply, or scripts/bootstrap.py for
another broker). Any RabbitMQ's queue may have no `<queue>.dlq`.

The ordering key (the deployment's ordering_key, or --ordering-key): a `header:<name>` key is set
on every message, from --key, or from the message itself (--key-field, by default the example's
key: the order's customerId), or spread over many keys for a load test (--spread-keys). Sharded
(shard_count above 1, or --shards), messages go to the consistent-hash exchange, which sends each
key's messages to one shard queue; send.py checks that the exchange and every shard queue exist.

    python scripts/send.py                                   # once, to the deployed queue
    python scripts/send.py --count 20000 --spread-keys 500   # a load test over 500 keys
    python scripts/send.py --url amqp://guest:guest@localhost:5672/ --queue orders
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pika
import pika.exceptions

from rabbitmq_admin.topology import MAX_SHARDS, Topology, dead_letter_queue_name
from rabbitmq_tools.broker import CREDENTIALS, VHOST, connection_parameters, explain_connection_error, redact
from rabbitmq_tools.credentials import (
    CredentialsProvider,
    CredentialsUnavailable,
    from_file,
    from_secret,
    refused_by_broker,
)
from rabbitmq_tools.demo_messages import ORDERING_KEY as EXAMPLE_ORDERING_KEY
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, MAX_EVENT_BYTES, build_event, build_record
from rabbitmq_tools.project import EXAMPLE_MESSAGE, ROOT
from rabbitmq_tools.publisher import (
    DEFAULT_WINDOW,
    ConfirmedPublisher,
    MessageFactory,
    PublishError,
    PublishInterrupted,
    PublishResult,
    UnpublishableMessage,
)

OUTPUT_NAMES = (
    "region",
    "amqps_endpoint",
    "publisher_secret_arn",
    "queue_name",
    "virtual_host",
    "max_message_size",
)

OK, ERROR, USAGE, OUTPUTS, AWS, UNREACHABLE, REFUSED, QUEUE, NOT_CONFIRMED, INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    130,
)
EXIT_CODES = {
    OK: "every message was confirmed by the broker",
    ERROR: "an unexpected error (a bug: please report it)",
    USAGE: "bad arguments or input: options, message file, headers, a body too large for the broker or a Lambda event",
    OUTPUTS: "Terraform outputs missing, incomplete or unreadable",
    AWS: "no AWS credentials, or the publisher's secret is missing or malformed",
    UNREACHABLE: "cannot reach the broker: not listening, unknown host, TLS verification failed, connection lost",
    REFUSED: "the broker refused the user name and password, or access to the vhost",
    QUEUE: "the queue, or the deployment's dead-letter queue, does not exist: the bootstrap creates them",
    NOT_CONFIRMED: "the broker nacked messages or returned them as unroutable",
    INTERRUPTED: "interrupted (Ctrl-C) before every message was confirmed",
}


# A header value that is a whole number is sent as one; AMQP tables carry signed integers of 64 bits
# at most (pika/data.py encode_value packs an int as 'I', signed 32 bits, else 'l', signed 64 bits,
# else raises struct.error), and a header name is a short string of 255 bytes at most (AMQP 0-9-1
# section 4.2.5.3; pika/data.py encode_short_string raises ShortStringTooLong).
HEADER_NUMBER = re.compile(r"-?[0-9]+")
HEADER_INT_RANGE = range(-(2**63), 2**63)
HEADER_INT_MAX_DIGITS = len(str(2**63))
HEADER_NAME_MAX_BYTES = 255
# Where a message holds its ordering key when no --key is given: the example's key (a JSON path).
DEFAULT_KEY_FIELD = EXAMPLE_ORDERING_KEY.removeprefix("json:")


class Failure(Exception):
    """A fault the user can fix: one line on stderr and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def fail(code: int, message: str) -> NoReturn:
    raise Failure(code, message)


@dataclass(frozen=True)
class Target:
    parameters: pika.ConnectionParameters  # with the credentials read first
    queue: str
    max_message_size: int | None = None  # the deployed broker's; None for --url, whose broker is not known
    # The deployment's <queue>.dlq, checked before publishing; None for --url: another broker's
    # queue need not have our topology.
    dead_letter_queue: str | None = None
    # Read again at every reconnect, so a long run survives a password rotation; None: the URL's user.
    credentials: CredentialsProvider | None = None
    credentials_failure: int = USAGE  # the exit code when the provider fails: AWS for a secret
    exchange: str = ""  # where to publish: the default exchange (to `queue`), or a sharded topology's hash exchange
    queues: tuple[str, ...] = ()  # the queues consumed: `queue`, or the shard queues behind the exchange
    key_header: str | None = None  # the header the ordering key travels in (its `header:<name>`), if any

    @property
    def vhost(self) -> str:
        vhost: str = self.parameters.virtual_host
        return vhost


def new_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the options that say where to publish, shared with replay.py."""
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        description=description,
        epilog="environment: RABBITMQ_USERNAME and RABBITMQ_PASSWORD give the credentials for a --url "
        "without them and without --credentials (keeps them out of shell history); AWS_PROFILE etc. as for the "
        "AWS CLI.\n\n"
        f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queue", help="queue to publish to (default: the Terraform output queue_name, or 'orders')")
    parser.add_argument("--vhost", help="virtual host (default: the Terraform output, or the URL's, or '/')")
    parser.add_argument("--url", help="amqp[s]://user:password@host:port/vhost of any broker, instead of Terraform's")
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help="with --url: the publisher's user name and password from this file, written by scripts/bootstrap.py",
    )
    parser.add_argument("--ca-file", help="CA certificate(s) to trust for amqps, for a private CA")
    parser.add_argument("--outputs", help="a file of `terraform output -json` (default: run it in the repository root)")
    parser.add_argument(
        "--shards",
        type=int,
        help=f"with --url: the queue's shard count, 1 to {MAX_SHARDS} (default 1): above 1, publish to the "
        "consistent-hash exchange named like the queue (a deployment's comes from the Terraform outputs)",
    )
    parser.add_argument(
        "--ordering-key",
        help="the ordering key, none, message-id, header:<name> or json:<path> (default: the Terraform output "
        "ordering_key; with --url, none): sharded, the exchange hashes it",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help="publishes awaiting confirmation at once (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = new_parser(
        "Publish a message (example-message.json by default) to the deployed Amazon MQ broker, found through "
        "the Terraform outputs, or to any RabbitMQ with --url. Publishes are persistent, mandatory and confirmed "
        "by the broker; amqps certificates are always verified."
    )
    parser.add_argument(
        "--file", default=str(EXAMPLE_MESSAGE), help="message body file, or - for stdin (default: %(default)s)"
    )
    parser.add_argument("--count", type=int, default=1, help="how many messages to publish (default 1)")
    parser.add_argument("--rate", type=float, default=0.0, help="messages per second; 0 = as fast as possible")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an AMQP header; repeat for more. A VALUE of ASCII digits, with an optional leading -, is a number "
        "(a signed 64-bit integer at most); any other a string",
    )
    parser.add_argument("--content-type", default="application/json", help="content type (default %(default)s)")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--key", help="the ordering key of every message (the value of its header)")
    keys.add_argument(
        "--key-field",
        default=DEFAULT_KEY_FIELD,
        metavar="PATH",
        help="the JSON field of the message that holds its ordering key, dots between names (default: %(default)s, "
        "the example's customer)",
    )
    keys.add_argument(
        "--spread-keys",
        type=int,
        metavar="N",
        help="for a load test: message i gets the key key-<i mod N>, spread over N keys (and so over the shards)",
    )
    parser.add_argument(
        "--allow-invalid", action="store_true", help="publish a body that is not valid JSON for a JSON content type"
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    if args.rate < 0:
        parser.error(f"--rate must be 0 or positive, got {args.rate}")
    if args.window < 1:
        parser.error(f"--window must be at least 1, got {args.window}")
    if args.spread_keys is not None and args.spread_keys < 1:
        parser.error(f"--spread-keys must be at least 1, got {args.spread_keys}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        body = read_body(args.file)
        headers = parse_headers(args.header)
        check_body(body, args.content_type, args.allow_invalid)
        target = resolve_target(args)
        key_of = ordering_keys(target, body, headers, args)
        check_fits_in_broker(body, target)
        check_fits_in_event(body, args.content_type, {**headers, **key_of(0)}, target)
        check_queue(target)
        result, first_id = publish(target, body, args, headers, key_of)
    except Failure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.code
    except PublishInterrupted as interrupted:
        result = interrupted.result
        print(f"\ninterrupted: {result.confirmed:,} of {result.count:,} messages confirmed", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:
        print("\ninterrupted before publishing", file=sys.stderr)
        return INTERRUPTED
    return report(result, first_id, target, args)


# --- input ------------------------------------------------------------------------------


def read_body(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        fail(USAGE, f"cannot read the message file {path}: {exc.strerror}")


def parse_headers(pairs: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; a VALUE of ASCII digits (with a leading -) is a number, any other a string."""
    headers: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            fail(USAGE, f"--header {pair!r} is not KEY=VALUE")
        try:
            pair.encode()
        except UnicodeEncodeError:  # bytes of the command line that are not UTF-8 (os.fsdecode's surrogates)
            shown = pair.encode(errors="surrogateescape").decode(errors="backslashreplace")
            fail(USAGE, f"--header {shown} is not UTF-8 text")
        if len(key.encode()) > HEADER_NAME_MAX_BYTES:
            fail(
                USAGE, f"--header name {key[:20]!r}... is over AMQP's {HEADER_NAME_MAX_BYTES} bytes: use a shorter name"
            )
        if not HEADER_NUMBER.fullmatch(value):
            headers[key] = value
        # int() refuses more than 4,300 digits (sys.get_int_max_str_digits): count them first
        elif len(value.lstrip("-").lstrip("0")) <= HEADER_INT_MAX_DIGITS and int(value) in HEADER_INT_RANGE:
            headers[key] = int(value)
        else:
            shown = value if len(value) <= HEADER_INT_MAX_DIGITS + 1 else f"{value[:HEADER_INT_MAX_DIGITS]}..."
            fail(
                USAGE,
                f"--header {key}: {shown} is beyond AMQP's signed 64-bit integers ({HEADER_INT_RANGE.start} to "
                f"{HEADER_INT_RANGE.stop - 1}), the largest a header carries: give a number in that range",
            )
    return headers


KeyHeaders = Callable[[int], dict[str, Any]]  # message index -> the ordering key's header, if any


def ordering_keys(target: Target, body: bytes, headers: dict[str, Any], args: argparse.Namespace) -> KeyHeaders:
    """The ordering key's header for each message, when the key is a header (sharded, the exchange
    hashes it; unsharded, the function's lanes read it): --key, --spread-keys, else the message's
    --key-field. A --header of that name given by hand wins."""
    name = target.key_header
    if name is None or name in headers:
        return lambda index: {}
    if args.key is not None:
        return lambda index: {name: args.key}
    if args.spread_keys is not None:
        return lambda index: {name: f"key-{index % args.spread_keys}"}
    value = key_in(body, args.key_field)
    if value is None:
        fail(
            USAGE,
            f"the message has no {args.key_field!r} (a string or a whole number) for its ordering key, the header "
            f"{name!r}: give --key VALUE, --key-field PATH (the field that holds it), or --spread-keys N for a load "
            "test",
        )
    return lambda index: {name: value}


def key_in(body: bytes, path: str) -> str | int | None:
    """The key at `path` (dots between names) of a JSON object body: a non-empty string or a whole
    number, else None."""
    value: Any = None
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        value = json.loads(body)
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None


def check_body(body: bytes, content_type: str, allow_invalid: bool) -> None:
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if allow_invalid or not (media == "application/json" or media.endswith("+json")):
        return
    try:
        json.loads(body)
    except ValueError as exc:
        fail(
            USAGE,
            f"the body is not valid JSON ({exc}), so the handler would dead-letter it: fix the file, "
            "set --content-type, or pass --allow-invalid to send it anyway",
        )


def check_fits_in_broker(body: bytes, target: Target) -> None:
    """A broker closes the channel on a body over its max_message_size; Amazon MQ's default is 512 KiB
    on RabbitMQ 4.x and 128 MiB on 3.13 (the Terraform output max_message_size)."""
    if target.max_message_size is not None and len(body) > target.max_message_size:
        fail(
            USAGE,
            f"a {len(body):,}-byte body is over the {target.max_message_size:,}-byte max_message_size of the deployed "
            "broker (Amazon MQ's default for its engine): send a smaller body, or raise the limit with a broker "
            "configuration on RabbitMQ 4.x (docs/error-handling.md#message-size)",
        )


def check_fits_in_event(body: bytes, content_type: str, headers: dict[str, Any], target: Target) -> None:
    """Lambda drops a message too large for a 6 MB event; base64 grows a body by 4/3."""
    properties = pika.BasicProperties(content_type=content_type, headers=headers or None, message_id=str(uuid.uuid4()))
    record = build_record(body, properties, redelivered=True)
    size = len(json.dumps(build_event(LOCAL_BROKER_ARN, target.queue, target.vhost, [record])))
    if size > MAX_EVENT_BYTES:
        fail(
            USAGE,
            f"a {len(body):,}-byte body makes a {size:,}-byte Lambda event, over the {MAX_EVENT_BYTES:,}-byte "
            "limit (Lambda would drop it): keep bodies under about 4.5 MB, or store large payloads elsewhere",
        )


# --- where to publish -------------------------------------------------------------------


def resolve_target(args: argparse.Namespace) -> Target:
    provider: CredentialsProvider | None = None
    provider_failure = USAGE
    if args.url:
        username, password = os.environ.get("RABBITMQ_USERNAME"), os.environ.get("RABBITMQ_PASSWORD")
        try:
            if "@" in args.url.split("://", 1)[-1].split("/", 1)[0]:
                username = password = None  # the URL's own credentials win
            elif args.credentials:
                provider = from_file(args.credentials, "publisher")
                username, password = provider()
            parameters = connection_parameters(args.url, username, password, args.ca_file)
        except (ValueError, OSError) as exc:
            fail(USAGE, f"bad --url, --credentials or --ca-file: {exc}")
        queue, max_size, dead_letter_queue = args.queue or "orders", None, None
        shards = 1 if args.shards is None else args.shards
        ordering_key = args.ordering_key or "none"
    else:
        outputs = read_outputs(args.outputs)
        provider, provider_failure = publisher_secret(outputs["publisher_secret_arn"], outputs["region"]), AWS
        username, password = fetch_credentials(provider)
        try:
            parameters = connection_parameters(outputs["amqps_endpoint"], username, password, args.ca_file)
        except (ValueError, OSError) as exc:
            fail(
                OUTPUTS, f"the Terraform output amqps_endpoint {redact(outputs['amqps_endpoint'])!r} is unusable: {exc}"
            )
        parameters.virtual_host = outputs["virtual_host"]
        queue = args.queue or outputs["queue_name"]
        max_size = int(outputs["max_message_size"])
        dead_letter_queue = dead_letter_queue_name(queue)
        # Outputs of a deployment from before shard_count: one queue, no key.
        shards = len(outputs.get("consumed_queues") or [queue]) if args.shards is None else args.shards
        ordering_key = args.ordering_key or outputs.get("ordering_key") or "none"
    if args.vhost:
        parameters.virtual_host = args.vhost
    parameters.blocked_connection_timeout = 60  # a broker in a resource alarm blocks publishers
    try:  # the bootstrap's topology: its queue or shard queues and its exchange, and what it refuses
        layout = Topology(queue, 1, parameters.virtual_host, shards, ordering_key)
    except ValueError as exc:
        fail(USAGE, f"{exc}: check --queue, --shards and --ordering-key")
    source, _, header = ordering_key.partition(":")
    return Target(
        parameters,
        queue,
        max_size,
        dead_letter_queue,
        provider,
        provider_failure,
        exchange=layout.exchange,
        queues=layout.queues,
        key_header=header if source == "header" and header else None,
    )


def read_outputs(path: str | None, names: Sequence[str] = OUTPUT_NAMES, *, offer_url: bool = True) -> dict[str, Any]:
    """The Terraform outputs, from `path` or `terraform output -json`; each of `names` must be there.
    `offer_url`: whether a missing output may be met with --url (not by verify.py, which checks the
    deployment whatever broker it publishes to)."""
    how = f"the file {path}" if path else "`terraform output -json`"
    otherwise = ", or use --url for another broker" if offer_url else ""
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            fail(OUTPUTS, f"cannot read Terraform outputs from {path}: {exc.strerror}")
    else:
        try:
            done = subprocess.run(
                ["terraform", "output", "-json", "-no-color"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except FileNotFoundError:
            fail(
                OUTPUTS,
                f"terraform is not installed: install it{',' if offer_url else ' or'} pass --outputs FILE{otherwise}",
            )
        if done.returncode != 0:
            fail(OUTPUTS, f"`terraform output -json` failed in {ROOT}: {terraform_error(done.stderr)}")
        text = done.stdout
    try:
        raw = json.loads(text)
        outputs = {name: entry["value"] for name, entry in raw.items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        fail(OUTPUTS, f"{how} is not Terraform's JSON output format")
    if not outputs:
        where = f"{path} holds none" if path else f"{ROOT} has no Terraform state, or a state without outputs"
        fail(
            OUTPUTS,
            f"there are no Terraform outputs: run terraform apply first ({where}){otherwise}",
        )
    missing = [name for name in names if outputs.get(name) in (None, "")]
    if missing:
        fail(OUTPUTS, f"the Terraform outputs lack {', '.join(missing)}: they are stale, run terraform apply again")
    return outputs


def terraform_error(stderr: str) -> str:
    """The first line of Terraform's first error (a CLI-configuration warning may come before it),
    else its first line."""
    lines = [line.strip("│╷╵ \t") for line in stderr.splitlines()]
    lines = [line for line in lines if line]
    return next((line for line in lines if line.startswith("Error:")), lines[0] if lines else "no message")


def publisher_secret(secret_arn: str, region: str) -> CredentialsProvider:
    """The publisher's credentials from its secret, read at every call (see credentials.py)."""
    import botocore.exceptions

    try:
        return from_secret(secret_arn, region)
    except botocore.exceptions.BotoCoreError as exc:  # no region, a broken AWS configuration
        fail(AWS, f"cannot make a Secrets Manager client for {region}: {exc}")


def fetch_credentials(provider: CredentialsProvider) -> tuple[str, str]:
    try:
        return provider()
    except CredentialsUnavailable as exc:
        fail(AWS, str(exc))


# --- broker -----------------------------------------------------------------------------


def connection_failure(error: BaseException, parameters: pika.ConnectionParameters) -> Failure:
    kind, message = explain_connection_error(error, parameters)
    if kind in {CREDENTIALS, VHOST} and not refused_by_broker(error):
        # pika calls a connection cut during the handshake a probable refusal; the broker said nothing
        return Failure(
            UNREACHABLE,
            f"RabbitMQ at {parameters.host}:{parameters.port} closed the connection during the handshake without "
            "refusing it: check the network path to the broker (a proxy, a firewall) and try again",
        )
    return Failure(REFUSED if kind in {CREDENTIALS, VHOST} else UNREACHABLE, message)


def check_queue(target: Target) -> None:
    """Check that the work queue (or the exchange and every shard queue) exists, and the deployment's
    dead-letter queue. Declaring them is the bootstrap's job: a passive declare needs no permission, so
    the publisher user may do this and no more."""
    try:
        with pika.BlockingConnection(target.parameters) as connection:
            if target.exchange:
                check_exchange(connection, target)
            for name in (*(target.queues or (target.queue,)), target.dead_letter_queue):
                if name is None:
                    continue
                try:
                    connection.channel().queue_declare(name, passive=True)
                except pika.exceptions.ChannelClosedByBroker as exc:
                    if exc.reply_code != 404:
                        raise
                    what = (
                        f"the deployment's dead-letter queue {name!r}, where the broker moves a message past its "
                        "delivery limit,"
                        if name == target.dead_letter_queue
                        else f"queue {name!r}"
                    )
                    fail(
                        QUEUE,
                        f"{what} does not exist on vhost {target.vhost!r} on the broker: terraform apply runs the "
                        "bootstrap that creates it; locally run scripts/bootstrap.py, or check --queue and --vhost",
                    )
    except pika.exceptions.ChannelClosedByBroker as exc:
        fail(QUEUE, f"the broker refused the queue {target.queue!r}: {exc.reply_code} {exc.reply_text}")
    except (pika.exceptions.AMQPError, OSError) as exc:
        raise connection_failure(exc, target.parameters) from None


def check_exchange(connection: pika.BlockingConnection, target: Target) -> None:
    """The sharded topology's exchange exists (a passive declare, which needs no permission)."""
    try:
        connection.channel().exchange_declare(target.exchange, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != 404:
            raise
        fail(
            QUEUE,
            f"exchange {target.exchange!r}, which sends each message to a shard queue, does not exist on vhost "
            f"{target.vhost!r}: terraform apply runs the bootstrap that creates it; locally run scripts/bootstrap.py "
            "--shards N, or check --shards and --queue",
        )


def publish(
    target: Target, body: bytes, args: argparse.Namespace, headers: dict[str, Any], key_of: KeyHeaders
) -> tuple[PublishResult, str]:
    """Publish `args.count` copies of the body, each with a unique message id and its ordering key's
    header; return the result and the first message's id."""
    run_id = uuid.uuid4().hex[:12]
    timestamp = int(time.time())

    def message(index: int) -> tuple[bytes, pika.BasicProperties]:
        return body, pika.BasicProperties(
            content_type=args.content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=f"{run_id}-{index:06d}",
            timestamp=timestamp,
            app_id="send.py",
            headers={**headers, **key_of(index)} or None,
        )

    result = publish_messages(
        target, args.count, message, window=args.window, rate=args.rate, show_progress=not args.quiet
    )
    return result, f"{run_id}-{0:06d}"


def publish_messages(
    target: Target, count: int, message: MessageFactory, *, window: int, rate: float = 0.0, show_progress: bool = False
) -> PublishResult:
    """Publish with confirms (see publisher.py), a progress line on a terminal; a failure to
    connect becomes a `Failure` with its exit code."""
    progress = Progress(count) if show_progress and count > 1 and sys.stderr.isatty() else None
    publisher = ConfirmedPublisher(
        target.parameters,
        "" if target.exchange else target.queue,  # the hash exchange routes by the key, not the routing key
        exchange=target.exchange,
        window=window,
        rate=rate,
        on_progress=progress,
        credentials=target.credentials,
    )
    try:
        return publisher.publish(count, message)
    except PublishError as exc:
        done = f"{exc.result.confirmed:,} of {exc.result.count:,} messages confirmed"
        if isinstance(exc.cause, CredentialsUnavailable):
            raise Failure(target.credentials_failure, f"{exc.cause} ({done})") from None
        if isinstance(exc, UnpublishableMessage):
            fail(ERROR, f"{exc} ({done})")
        if exc.cause is not None and not isinstance(exc.cause, pika.exceptions.ChannelClosedByBroker):
            failure = connection_failure(exc.cause, exc.parameters or target.parameters)
            raise Failure(failure.code, f"{failure} ({done})") from None
        fail(ERROR, str(exc))
    finally:
        if progress:
            progress.finish()


class Progress:
    """One live line on a terminal: sent, confirmed, rate."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.shown = False

    def __call__(self, result: PublishResult) -> None:
        line = f"\rsent {result.sent:,}/{self.count:,} | confirmed {result.confirmed:,} | {result.rate:,.0f} msg/s"
        print(line, end="", file=sys.stderr, flush=True)
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            print(file=sys.stderr)


# --- output -----------------------------------------------------------------------------


def report(result: PublishResult, first_id: str, target: Target, args: argparse.Namespace) -> int:
    where = (
        f"exchange {target.exchange!r} ({len(target.queues)} shard queues)"
        if target.exchange
        else f"queue {target.queue!r}"
    )
    summary = {
        "queue": target.queue,
        "exchange": target.exchange,
        "vhost": target.vhost,
        "count": result.count,
        "sent": result.sent,
        "confirmed": result.confirmed,
        "nacked": result.nacked,
        "unroutable": result.unroutable,
        "resent": result.resent,
        "elapsed_seconds": round(result.elapsed, 3),
        "messages_per_second": round(result.rate, 1),
        "first_message_id": first_id,
    }
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        if result.count == 1 and result.all_confirmed:
            print(f"sent 1 message to {where} on vhost {target.vhost!r}: message id {first_id}, confirmed")
        else:
            print(
                f"{where} on vhost {target.vhost!r}: sent {result.sent:,} | confirmed "
                f"{result.confirmed:,} | nacked {result.nacked:,} | unroutable {result.unroutable:,} | re-sent "
                f"{result.resent:,} | {result.elapsed:.1f} s | {result.rate:,.0f} msg/s"
            )
    if result.unroutable:
        took = f"no queue behind {where}" if target.exchange else f"no {where}"
        print(
            f"error: {result.unroutable:,} message(s) returned unroutable: {took} on vhost {target.vhost!r} took them; "
            "was it deleted? The bootstrap creates it (scripts/bootstrap.py locally)",
            file=sys.stderr,
        )
    if result.nacked:
        print(
            f"error: the broker nacked {result.nacked:,} message(s) (first {result.nacked_ids[0]}): the queue is "
            "probably full (x-max-length with reject-publish) or the broker is out of resources",
            file=sys.stderr,
        )
    return OK if result.all_confirmed else NOT_CONFIRMED


if __name__ == "__main__":
    raise SystemExit(main())
