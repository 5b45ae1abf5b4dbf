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

Whatever JSON stands in the event, each message is counted once, as processed or
dead-lettered, or the invocation fails: with `InvalidEvent` for an event that is not a
RabbitMQ event, or with the very exception business logic raised. Nothing here reads a
field in a way that could raise in its place (tests/test_malformed_records.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .dead_letters import DeadLetter, DeadLetterSink, reject
from .decoding import decode_record, queue_batches
from .deliveries import delivery_headers, last_delivery
from .errors import InvalidMessage
from .messages import Message
from .reasons import describe, error_fields, log_id

Process = Callable[[Message], None]


@dataclass
class QueueCounts:
    queue: str
    vhost: str
    processed: int = 0
    dead_lettered: int = 0

    @property
    def messages(self) -> int:
        return self.processed + self.dead_lettered


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
            "queues": {
                key: {"processed": counts.processed, "deadLettered": counts.dead_lettered}
                for key, counts in self.queues.items()
            },
        }


class _Batch:
    """Every record of one event in delivery order, and what became of each: processed
    (`processed[position]` is 1), rejected (a reason in `reasons`), or neither yet.

    Built for a hot path of up to 10,000 messages: a sequential run decodes each message only
    when it comes to it and keeps nothing of it (holding 10,000 decoded payloads at once costs
    the garbage collector more than the decoding), and marks what it processed in one slice
    assignment afterwards."""

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

    def mark_processed(self, end: int) -> None:
        """Every message before `end` that was not rejected was processed (a sequential run)."""
        self.processed[:end] = b"\x01" * end
        for position in self.reasons:
            if position < end:
                self.processed[position] = 0

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


def process_batch(
    event: Mapping[str, Any],
    process: Process,
    sink: DeadLetterSink,
    logger: logging.Logger | Any,
    delivery_limit: int | None = None,
) -> BatchResult:
    """Run `process` on every message of the event; see the module docstring for the policy.
    `delivery_limit` is the queue's x-delivery-limit (None: no last-delivery guard)."""
    batch = _Batch(event)
    failure = _run(batch, process, logger, delivery_limit)
    if failure is not None:
        _fail(batch, sink, logger, delivery_limit, failure)
    result = BatchResult(batch.queues)
    rejected = sorted(batch.reasons)
    for start, end, counts in batch.ranges:
        counts.processed += batch.processed.count(1, start, end)
        counts.dead_lettered += sum(1 for position in rejected if start <= position < end)
    if rejected:
        result.dead_letters = [batch.dead_letter(position) for position in rejected]
        _log_dead_letters(batch, logger, rejected)
        sink.send(result.dead_letters)
    return result


def _run(
    batch: _Batch, process: Process, logger: logging.Logger | Any, delivery_limit: int | None
) -> tuple[int, Exception] | None:
    """Process the messages in delivery order; the first failure that fails the invocation,
    (position, error), stops it."""
    debug = logger.isEnabledFor(logging.DEBUG)  # once per batch, not per message
    reasons = batch.reasons
    for position, message in batch.messages():
        if message is None:
            continue
        try:
            process(message)
        except InvalidMessage as exc:
            reasons[position] = describe(exc)
        except Exception as exc:
            record = batch.records[position]
            which = last_delivery(record, delivery_limit)
            fields = {**batch.ids(position), **delivery_headers(record), **error_fields(exc)}
            if which is None:
                logger.error("message failed: the invocation fails so Lambda retries the batch", extra=fields)
                batch.mark_processed(position)
                return position, exc
            reasons[position] = f"failed on its last delivery ({which}): {type(exc).__name__}: {describe(exc)}"
            logger.error("message failed on its last delivery", extra=fields)
        else:
            if debug:
                logger.debug("message processed", extra=batch.ids(position))
    batch.mark_processed(len(batch.records))
    return None


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
    cause = f"message {batch.ids(failed_at)['messageId']!r} failed ({type(error).__name__}: {describe(error)})"
    send: list[int] = []
    processed_last: list[int] = []
    for position, record in enumerate(batch.records):
        which = last_delivery(record, delivery_limit)
        if which is None or position == failed_at:
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
