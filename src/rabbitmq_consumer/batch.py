"""The batch policy: what happens to each message of one invocation.

Lambda retries the whole batch when the invocation fails and RabbitMQ mappings have no
partial-batch response, so:

- a message that can never succeed (`InvalidMessage`: undecodable, or refused by business
  logic) becomes a dead letter and the batch carries on;
- on a message's last delivery before the queue's delivery limit (`deliveries`), any failure
  makes it a dead letter too, with the error as the reason, and the batch carries on:
  otherwise the broker would move it to its dead-letter queue with no reason, and every
  batch-mate would be delivered again with it;
- any other exception stops the batch: no further message is processed, and the invocation
  fails with that very exception so that Lambda delivers the batch again. Before it fails,
  every message of the batch on its last delivery that is not done (refused, failed on it, or
  never reached) is dead-lettered with its reason, since the broker moves those away without
  one when the batch comes back; the other rejected messages come again with the retry and are
  dead-lettered then;
- at the end the batch's dead letters are sent in one go; if that fails, the invocation fails
  too, and nothing has been lost.

With an idempotency store (`idempotency`), the keys of the whole batch are read first, in one
go: a message completed before (by an earlier, failed delivery of its batch) or earlier in the
same batch is skipped and counted, and each message that completes is recorded, the pending
records always written before the invocation ends; a store that cannot be read fails the
invocation before any message runs, unless `fail_open` says to process without the check. With a
`deadline` (shortly before the function's timeout), no message starts after it: the invocation
fails as for a retryable error, with everything done so far recorded and dead-lettered, rather
than being killed halfway.

Whatever JSON stands in the event, each message is counted once, as processed, skipped or
dead-lettered, or the invocation fails: with `InvalidEvent` for an event that is not a
RabbitMQ event, or with the very exception business logic raised. Nothing here reads a
field in a way that could raise in its place (tests/consumer/test_bad_inputs.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import lanes
from .dead_letters import DeadLetter, DeadLetterSink, reject
from .decoding import decode_record, queue_batches
from .deliveries import delivery_headers, last_delivery
from .errors import InvalidMessage, RetryableError
from .idempotency import Completions, IdempotencyStore
from .keys import KeySetting
from .messages import Message
from .reasons import describe, error_fields, log_id

Process = Callable[[Message], None]


@dataclass(frozen=True)
class Ordering:
    """Which messages of a batch may run at the same time: with no `key` all run in one lane, in
    delivery order; with one, the lanes of different keys run on up to `parallelism` threads,
    each lane in delivery order (`lanes`)."""

    key: KeySetting | None = None
    parallelism: int = 1

    @property
    def parallel(self) -> bool:
        return self.key is not None and self.parallelism > 1


SEQUENTIAL = Ordering()


@dataclass(frozen=True)
class Idempotency:
    """Skip what was completed before, by each message's `key` (`idempotency`); `fail_open`
    processes a batch without the check when the store cannot be read, instead of failing it."""

    store: IdempotencyStore
    key: KeySetting
    fail_open: bool = False


SKIPPED = 2  # in _Batch.processed: completed before, not run again


class DeadlineReached(RetryableError):
    """The function's timeout is near: the rest of the batch is left to the retry."""


@dataclass
class QueueCounts:
    queue: str
    vhost: str
    processed: int = 0
    dead_lettered: int = 0
    skipped: int = 0  # completed before, or earlier in the batch (idempotency)
    without_key: int = 0  # processed without an idempotency key: no check was possible

    @property
    def messages(self) -> int:
        return self.processed + self.dead_lettered + self.skipped


@dataclass
class BatchResult:
    queues: dict[str, QueueCounts] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts for the whole batch and per `"queue::vhost"`; what the handler returns."""
        return {
            "messages": sum(counts.messages for counts in self.queues.values()),
            "processed": sum(counts.processed for counts in self.queues.values()),
            "deadLettered": len(self.dead_letters),
            "skipped": sum(counts.skipped for counts in self.queues.values()),
            "queues": {
                key: {"processed": counts.processed, "deadLettered": counts.dead_lettered, "skipped": counts.skipped}
                for key, counts in self.queues.items()
            },
        }


class _Batch:
    """Every record of one event in delivery order, and what became of each: processed
    (`processed[position]` is 1), skipped as completed before (`processed[position]` is
    `SKIPPED`), rejected (a reason in `reasons`), or neither yet.

    Built for a hot path of up to 10,000 messages: a sequential run decodes each message only
    when it comes to it and keeps nothing of it (holding 10,000 decoded payloads at once costs
    the garbage collector more than the decoding)."""

    def __init__(self, event: Mapping[str, Any]) -> None:
        batches = list(queue_batches(event))  # the whole event is checked before any message is processed
        self.source_arn = event.get("eventSourceArn")
        self.queues: dict[str, QueueCounts] = {}
        self.ranges: list[tuple[int, int, QueueCounts]] = []  # each queue's positions, start to end
        self.records: list[Any] = []
        for queue, vhost, records in batches:
            counts = self.queues.setdefault(f"{queue}::{vhost}", QueueCounts(queue, vhost))
            start = len(self.records)
            self.records += records
            self.ranges.append((start, len(self.records), counts))
        self.reasons: dict[int, str] = {}  # of the rejected messages, by position
        self.processed = bytearray(len(self.records))

    def messages(self) -> Iterator[tuple[int, Message | None]]:
        """(position, message) in delivery order, each decoded as it comes; an undecodable one is
        rejected with its reason, and None."""
        position = 0
        reasons = self.reasons
        for start, end, counts in self.ranges:
            queue, vhost = counts.queue, counts.vhost
            for record in self.records[start:end]:
                try:
                    yield position, decode_record(queue, vhost, record)
                except InvalidMessage as exc:
                    reasons[position] = describe(exc)
                    yield position, None
                position += 1

    def queue_of(self, position: int) -> QueueCounts:
        return next(counts for start, end, counts in self.ranges if start <= position < end)

    def dead_letter(self, position: int) -> DeadLetter:
        counts = self.queue_of(position)
        return reject(self.reasons[position], counts.queue, counts.vhost, self.source_arn, self.records[position])

    def ids(self, position: int) -> dict[str, Any]:
        """messageId and correlationId for a log line, as Lambda delivered them (a log line must
        not raise, nor carry a malformed event's whole field)."""
        record = self.records[position]
        raw = record.get("basicProperties") if isinstance(record, Mapping) else None
        props = raw if isinstance(raw, Mapping) else {}
        return {
            "queue": self.queue_of(position).queue,
            "messageId": log_id(props.get("messageId")),
            "correlationId": log_id(props.get("correlationId")),
        }


class _Runner:
    """The policy for one message, on whichever thread runs it: `step` processes the message; a
    failure that fails the invocation sets `stopped` before anything else, so no lane starts
    another message."""

    def __init__(
        self,
        batch: _Batch,
        process: Process,
        logger: logging.Logger | Any,
        delivery_limit: int | None,
        deadline: float | None,
    ) -> None:
        self.batch = batch
        self.process = process
        self.logger = logger
        self.delivery_limit = delivery_limit
        self.deadline = deadline
        self.debug = logger.isEnabledFor(logging.DEBUG)  # once per batch, not per message
        self.failures: list[tuple[int, Exception]] = []  # those that fail the invocation, in time order
        self.stopped = threading.Event()
        self.completions: Completions | None = None  # with idempotency: records what completes
        self.fail_open = False  # with idempotency: a store error does not fail the invocation
        self.keys: dict[int, str] = {}  # the idempotency key of each position that has one

    def stop(self, position: int, error: Exception) -> None:
        self.stopped.set()
        self.failures.append((position, error))

    def step(self, position: int, message: Message) -> None:
        batch = self.batch
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stop(position, DeadlineReached("the function's timeout is near: the rest of the batch is retried"))
            return
        try:
            self.process(message)
        except InvalidMessage as exc:
            batch.reasons[position] = describe(exc)
            return
        except Exception as exc:
            record = batch.records[position]
            which = last_delivery(record, self.delivery_limit)
            if which is None:
                self.stop(position, exc)
                fields = {**batch.ids(position), **delivery_headers(record), **error_fields(exc)}
                self.logger.error("message failed: the invocation fails so Lambda retries the batch", extra=fields)
                return
            batch.reasons[position] = f"failed on its last delivery ({which}): {type(exc).__name__}: {describe(exc)}"
            fields = {**batch.ids(position), **delivery_headers(record), **error_fields(exc)}
            self.logger.error("message failed on its last delivery", extra=fields)
            return
        batch.processed[position] = 1
        if self.debug:
            self.logger.debug("message processed", extra=batch.ids(position))
        if self.completions is not None and position in self.keys:
            try:
                self.completions.add(self.keys[position])
            except Exception as exc:  # the store: no message may run that could not be recorded
                self.store_error(exc, -1)

    def store_error(self, error: Exception, position: int) -> None:
        """A completion record could not be written (`position` -1: the store, not a message)."""
        if self.fail_open:
            self.logger.warning("completion records could not be written (fail open)", extra=error_fields(error))
            return
        self.logger.error("completion records could not be written", extra=error_fields(error))
        if not self.failures:
            self.stop(position, error)


def process_batch(
    event: Mapping[str, Any],
    process: Process,
    sink: DeadLetterSink,
    logger: logging.Logger | Any,
    delivery_limit: int | None = None,
    *,
    ordering: Ordering = SEQUENTIAL,
    idempotency: Idempotency | None = None,
    deadline: float | None = None,
) -> BatchResult:
    """Run `process` on every message of the event; see the module docstring for the policy.
    `delivery_limit` is the queue's x-delivery-limit (None: no last-delivery guard); `ordering`
    says which messages may run at the same time; `idempotency` skips what was done before;
    `deadline` (time.monotonic()) is when to stop starting messages."""
    batch = _Batch(event)
    runner = _Runner(batch, process, logger, delivery_limit, deadline)
    result = BatchResult(batch.queues)
    if ordering.parallel or idempotency is not None:
        _run_decoded(runner, ordering, idempotency)
    else:  # the hot path: each message decoded as it comes, and dropped
        for position, message in batch.messages():
            if message is not None:
                runner.step(position, message)
                if runner.stopped.is_set():
                    break
    if runner.completions is not None:
        try:
            runner.completions.flush()  # before the invocation ends, whichever way
        except Exception as exc:
            runner.store_error(exc, -1)
    if runner.failures:
        _fail(batch, sink, logger, delivery_limit, runner.failures[0])
    rejected = sorted(batch.reasons)
    for start, end, counts in batch.ranges:
        counts.processed += batch.processed.count(1, start, end)
        counts.dead_lettered += sum(1 for position in rejected if start <= position < end)
    if rejected:
        result.dead_letters = [batch.dead_letter(position) for position in rejected]
        _log_dead_letters(batch, logger, rejected)
        sink.send(result.dead_letters)
    return result


def _run_decoded(runner: _Runner, ordering: Ordering, idempotency: Idempotency | None) -> None:
    """Decode every message first (their keys decide the lanes and what to skip), then run them."""
    messages = {position: message for position, message in runner.batch.messages() if message is not None}
    if idempotency is not None:
        _skip_completed(runner, messages, idempotency)
    if ordering.parallel:
        _run_lanes(runner, messages, ordering)
        return
    for position, message in messages.items():
        runner.step(position, message)
        if runner.stopped.is_set():
            return


def _skip_completed(runner: _Runner, messages: dict[int, Message], idempotency: Idempotency) -> None:
    """Take out of `messages` those completed before, or earlier in this batch (a publisher's
    re-send); keep the keys of the others, for their completion records."""
    batch, logger = runner.batch, runner.logger
    first: dict[str, int] = {}
    again: list[int] = []
    for position, message in messages.items():
        key = idempotency.key.read(message)
        if key is None:
            batch.queue_of(position).without_key += 1
        elif key in first:
            again.append(position)
        else:
            first[key] = position
    try:
        done = idempotency.store.completed(list(first))
    except Exception as exc:
        if not idempotency.fail_open:
            # Nothing runs; the invocation fails through the policy's way out, so what is on its
            # last delivery is dead-lettered with this reason rather than moved away without one.
            logger.error("the idempotency store cannot be read: no message runs", extra=error_fields(exc))
            runner.stop(-1, exc)
            messages.clear()
            return
        logger.warning(
            "the idempotency store cannot be read: processing the batch without the check (fail open)",
            extra=error_fields(exc),
        )
        done = set()
    runner.keys = {position: key for key, position in first.items() if key not in done}
    runner.completions = Completions(idempotency.store)
    runner.fail_open = idempotency.fail_open
    for position in sorted(again + [position for key, position in first.items() if key in done]):
        del messages[position]
        batch.processed[position] = SKIPPED  # done: if the batch fails, not a message to dead-letter
        batch.queue_of(position).skipped += 1
        if runner.debug:
            logger.debug("message skipped: completed before", extra=batch.ids(position))


def _run_lanes(runner: _Runner, messages: dict[int, Message], ordering: Ordering) -> None:
    """Run the messages on lanes by their ordering keys, in parallel."""
    assert ordering.key is not None
    read, unordered = ordering.key.read, ordering.key.text == "message-id"
    keys: list[tuple[int, Any]] = []
    for position, message in messages.items():
        key = read(message)
        # A message without the key shares one lane with the others that have none, in their
        # order; under `message-id`, which promises no order, it has a lane of its own.
        keys.append((position, ("key", key) if key is not None else ("position", position) if unordered else None))
    lanes.run(
        lanes.group(keys),
        lambda position: runner.step(position, messages[position]),
        ordering.parallelism,
        runner.stopped,
    )


def _fail(
    batch: _Batch,
    sink: DeadLetterSink,
    logger: logging.Logger | Any,
    delivery_limit: int | None,
    failure: tuple[int, Exception],
) -> NoReturn:
    """Dead-letter what the broker would move away without a reason once the batch comes back
    (every message on its last delivery that is not done), then raise the failure. A message
    below its limit is left alone: the retry carries it again."""
    failed_at, error = failure
    if isinstance(error, DeadlineReached):
        cause = "the function's timeout came near"
    elif failed_at < 0:  # the idempotency store, read before or written after the messages
        cause = f"the idempotency store failed ({describe(error)})"
    else:
        cause = f"message {batch.ids(failed_at)['messageId']!r} failed ({type(error).__name__}: {describe(error)})"
    send: list[int] = []
    processed_last: list[int] = []
    for position, record in enumerate(batch.records):
        which = last_delivery(record, delivery_limit)
        if which is None:  # the failed message too: it is below its limit
            continue
        if batch.processed[position]:
            processed_last.append(position)
        elif position in batch.reasons:
            send.append(position)
        else:  # never reached
            batch.reasons[position] = (
                f"not processed on its last delivery ({which}): the invocation failed because {cause}, "
                "so the broker moves this message to its dead-letter queue too"
            )
            send.append(position)
    if processed_last:
        logger.warning(
            "messages processed on their last delivery go back with the failed batch: the broker moves them to its "
            "dead-letter queue; they need no replay",
            extra={
                "count": len(processed_last),
                "messageIds": [batch.ids(p)["messageId"] for p in processed_last[:10]],
            },
        )
    if send:
        _log_dead_letters(batch, logger, send)
        try:
            sink.send([batch.dead_letter(position) for position in send])
        except Exception:
            logger.exception(
                "the dead letters of the failed batch could not be stored: the broker moves these messages to its "
                "dead-letter queue without a reason",
                extra={"count": len(send)},
            )
    raise error


def _log_dead_letters(batch: _Batch, logger: logging.Logger | Any, positions: list[int]) -> None:
    for position in positions:
        logger.warning(
            "message rejected: will be dead-lettered", extra={"reason": batch.reasons[position], **batch.ids(position)}
        )
