"""The batch policy: what happens to each message of one invocation.

Lambda retries the whole batch when the invocation fails and RabbitMQ mappings have no
partial-batch response, so:

- a message that can never succeed (`InvalidMessage`: undecodable, or refused by business
  logic) is set aside as a dead letter and the batch carries on;
- any other exception fails the invocation at once, so Lambda delivers the batch again;
- except on a message's last delivery before the queue's delivery limit: there a failure
  makes it a dead letter too, with the error as the reason. Otherwise the broker would move
  the whole batch to its dead-letter queue together, unprocessed batch-mates included; and
  on RabbitMQ 4.3+ a requeue may not count toward the limit at all (see `deliveries`);
- once every message is through, the dead letters are sent in one go; if that fails, the
  invocation fails too, and nothing has been lost.

Whatever JSON stands in the event, each message is counted once, as processed or
dead-lettered, or the invocation fails: with `InvalidEvent` for an event that is not a
RabbitMQ event, or with the very exception business logic raised. Nothing here reads a
field in a way that could raise in its place (tests/test_malformed_records.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .dead_letters import DeadLetter, DeadLetterSink, reject
from .decoding import decode_record, queue_batches
from .errors import InvalidMessage
from .messages import Message

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


def process_batch(
    event: Mapping[str, Any],
    process: Process,
    sink: DeadLetterSink,
    logger: logging.Logger | Any,
    delivery_limit: int | None = None,
) -> BatchResult:
    """Run `process` on every message of the event; see the module docstring for the policy.
    `delivery_limit` is the queue's x-delivery-limit (None: no last-delivery guard)."""
    result = BatchResult()
    batches = list(queue_batches(event))  # the whole event is checked before any message is processed
    source_arn = event.get("eventSourceArn")
    debug = logger.isEnabledFor(logging.DEBUG)  # once per batch, not per message
    for queue, vhost, records in batches:
        counts = result.queues.setdefault(f"{queue}::{vhost}", QueueCounts(queue, vhost))
        processed = 0  # a local, not counts.processed, on the hot path
        for record in records:
            message: Message | None = None
            try:
                message = decode_record(queue, vhost, record)
                process(message)
            except InvalidMessage as exc:
                reason = describe(exc)
            except Exception as exc:
                ids = {**_ids(message, record), **_redelivery(message)}
                if message is None or delivery_limit is None or (count := deliveries(message)) < delivery_limit:
                    logger.exception(
                        "message failed: the invocation fails so Lambda retries the batch",
                        extra={"queue": queue, **ids},
                    )
                    raise
                reason = (
                    f"failed on its last delivery ({count + 1} of {delivery_limit + 1}): "
                    f"{type(exc).__name__}: {describe(exc)}"
                )
                logger.exception("message failed on its last delivery", extra={"queue": queue, **ids})
            else:
                processed += 1
                if debug:
                    logger.debug("message processed", extra={"queue": queue, **_ids(message, record)})
                continue
            result.dead_letters.append(reject(reason, queue, vhost, source_arn, record))
            counts.dead_lettered += 1
            logger.warning(
                "message rejected: will be dead-lettered",
                extra={"reason": reason, "queue": queue, **_ids(message, record)},
            )
        counts.processed += processed
    if result.dead_letters:
        sink.send(result.dead_letters)
    return result


def deliveries(message: Message) -> int:
    """How many times the broker delivered this message before, by its quorum-queue headers.

    `x-delivery-count` counts failed deliveries; RabbitMQ 4.3 stopped counting a
    `basic.nack` requeue as failed (only `basic.reject` counts) and added `x-acquired-count`
    for every delivery. AWS does not document which one Lambda's poller uses, so take the
    larger of the two.

    It reads the two numbers from the headers as Lambda delivered them, not through the
    decoded headers: it runs while a business-logic error is being handled, and must not
    raise in its place whatever the headers hold.
    """
    headers = message.properties.raw.get("headers")
    if not isinstance(headers, Mapping):
        return 0
    counts = [headers.get("x-delivery-count"), headers.get("x-acquired-count")]
    return max((count for count in counts if isinstance(count, int) and not isinstance(count, bool)), default=0)


def describe(error: BaseException) -> str:
    """str(error), or its type's name if even that fails: a reason must never raise."""
    try:
        return str(error)
    except Exception:
        return f"<{type(error).__name__} that cannot be shown>"


def _redelivery(message: Message | None) -> dict[str, Any]:
    """What a failure's log line tells about the message's past deliveries: the broker's two
    counting headers as delivered (absent: None) and the redelivered flag. A deliberately
    failing message's lines show which of them grows with each return, and so how Lambda's
    poller returns a failed batch (docs/error-handling.md)."""
    if message is None:
        return {}
    headers = message.properties.raw.get("headers")
    found = headers if isinstance(headers, Mapping) else {}
    return {
        "deliveryCount": found.get("x-delivery-count"),
        "acquiredCount": found.get("x-acquired-count"),
        "redelivered": message.redelivered,
    }


def _ids(message: Message | None, record: Any) -> dict[str, Any]:
    """messageId and correlationId for a log line, as Lambda delivered them (a log line must
    not raise, even for properties of the wrong type)."""
    raw: Any = message.properties.raw if message is not None else None
    if raw is None and isinstance(record, Mapping):
        raw = record.get("basicProperties")
    props = raw if isinstance(raw, Mapping) else {}
    return {"messageId": props.get("messageId"), "correlationId": props.get("correlationId")}
