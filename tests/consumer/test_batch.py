"""The batch policy: poison messages are dead-lettered and the batch goes on; anything else
fails the invocation, and then only what is on its last delivery is dead-lettered (the retry
will see the rest again). Every test runs sequentially and on parallel lanes."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any

import pika
import pytest

from rabbitmq_consumer import batch
from rabbitmq_consumer.batch import SEQUENTIAL, Ordering, process_batch
from rabbitmq_consumer.dead_letters import DeadLetter
from rabbitmq_consumer.errors import DeadLetterError, InvalidMessage, RetryableError
from rabbitmq_consumer.keys import parse_key
from rabbitmq_consumer.messages import Message
from support import event_of, record, sample
from support.logic import process as process_sample

pytestmark = pytest.mark.unit

logger = logging.getLogger("test_batch")

ORDERINGS = {
    "sequential": SEQUENTIAL,
    "lanes by message id": Ordering(parse_key("message-id", "key"), 4),
    "lanes by a JSON field": Ordering(parse_key("json:id", "key"), 16),
}


@pytest.fixture(autouse=True, params=list(ORDERINGS.values()), ids=list(ORDERINGS))
def ordering(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Ordering:
    """Every test of this module once per ordering: `process_batch` here is the policy run that way."""
    monkeypatch.setitem(globals(), "process_batch", functools.partial(batch.process_batch, ordering=request.param))
    ordering: Ordering = request.param
    return ordering


class RecordingSink:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[DeadLetter] = []
        self.calls = 0
        self.fail = fail

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        self.calls += 1
        if self.fail:
            raise DeadLetterError("sink down")
        self.sent.extend(dead_letters)


def sample_record(sample_id: str | None = None, **fields: Any) -> dict[str, Any]:
    value = sample(sample_id, **fields)
    return record(
        json.dumps(value).encode(), pika.BasicProperties(content_type="application/json", message_id=value["id"])
    )


def test_all_valid_messages_are_processed() -> None:
    seen: list[Message] = []
    sink = RecordingSink()
    result = process_batch(event_of([sample_record() for _ in range(5)]), seen.append, sink, logger)
    assert len(seen) == 5
    assert sink.calls == 0
    assert result.summary() == {
        "messages": 5,
        "processed": 5,
        "deadLettered": 0,
        "skipped": 0,
        "queues": {"orders::/": {"processed": 5, "deadLettered": 0, "skipped": 0}},
    }


def test_poison_messages_are_dead_lettered_and_the_batch_continues() -> None:
    # GIVEN a batch with undecodable, invalid-JSON and refused messages among good ones
    good = [sample_record(f"good-{i}") for i in range(3)]
    bad_base64 = {**sample_record(), "data": "%%%"}
    bad_json = record(b"{oops", pika.BasicProperties(content_type="application/json", message_id="bad-json"))
    refused = sample_record("refused", reject="no such customer")
    records = [good[0], bad_base64, good[1], bad_json, refused, good[2]]
    sink = RecordingSink()
    processed: list[str] = []

    def process(message: Message) -> None:
        process_sample(message)
        processed.append(message.payload["id"])

    # WHEN the batch is processed
    result = process_batch(event_of(records, "orders", "prod"), process, sink, logger)

    # THEN the good ones are processed, in order, and the three others are dead-lettered once, together
    assert processed == ["good-0", "good-1", "good-2"]
    assert sink.calls == 1
    assert [d.record for d in sink.sent] == [bad_base64, bad_json, refused]
    reasons = [d.reason for d in sink.sent]
    assert "not valid base64" in reasons[0]
    assert "not valid JSON" in reasons[1]
    assert reasons[2] == "no such customer"
    assert all((d.queue, d.vhost) == ("orders", "prod") for d in sink.sent)
    assert result.summary()["queues"] == {"orders::prod": {"processed": 3, "deadLettered": 3, "skipped": 0}}


def test_dead_letter_keeps_the_original_record() -> None:
    bad = record(b"\x00binary", pika.BasicProperties(content_type="application/json", headers={"h": "v"}))
    sink = RecordingSink()
    process_batch(event_of([bad]), process_sample, sink, logger)
    (letter,) = sink.sent
    as_json = json.loads(letter.to_json())
    assert as_json["record"] == bad
    assert as_json["queue"] == "orders"
    assert as_json["eventSourceArn"].startswith("arn:aws:mq:")
    assert "not valid JSON" in as_json["reason"]
    assert as_json["rejectedAt"].endswith("+00:00")


@pytest.mark.parametrize("error", [RetryableError("database down"), RuntimeError("bug"), KeyError("x")])
def test_other_failures_fail_the_invocation_and_dead_letter_nothing(error: Exception, ordering: Ordering) -> None:
    # GIVEN a poison message before a message whose processing fails transiently
    records = [record(b"{oops"), sample_record(), sample_record()]
    calls = 0

    def process(message: Message) -> None:
        nonlocal calls
        calls += 1
        raise error

    sink = RecordingSink()
    # WHEN / THEN the invocation fails with that error, at the first failing message (on lanes, the
    # other lane's first message may be running already and finishes)
    with pytest.raises(type(error)):
        process_batch(event_of(records), process, sink, logger)
    assert calls == 1 if not ordering.parallel else 1 <= calls <= 2
    # and the poison message is not dead-lettered yet: the retried batch will carry it again
    assert sink.calls == 0


def test_a_failing_sink_fails_the_invocation() -> None:
    with pytest.raises(DeadLetterError, match="sink down"):
        process_batch(event_of([record(b"{oops")]), process_sample, RecordingSink(fail=True), logger)


def test_invalid_message_from_business_logic_is_dead_lettered() -> None:
    def process(message: Message) -> None:
        raise InvalidMessage("refused by business logic")

    sink = RecordingSink()
    result = process_batch(event_of([sample_record()]), process, sink, logger)
    assert [d.reason for d in sink.sent] == ["refused by business logic"]
    assert result.summary()["deadLettered"] == 1


def test_empty_event() -> None:
    sink = RecordingSink()
    result = process_batch(event_of([]), process_sample, sink, logger)
    assert result.summary() == {
        "messages": 0,
        "processed": 0,
        "deadLettered": 0,
        "skipped": 0,
        "queues": {"orders::/": {"processed": 0, "deadLettered": 0, "skipped": 0}},
    }
    assert sink.calls == 0


def test_rejections_are_logged_with_ids(caplog: pytest.LogCaptureFixture) -> None:
    bad = record(
        b"{oops", pika.BasicProperties(content_type="application/json", message_id="m-1", correlation_id="c-1")
    )
    with caplog.at_level(logging.DEBUG, logger="test_batch"):
        process_batch(
            event_of([bad, {**bad, "data": "%"}, sample_record("o-1")]), process_sample, RecordingSink(), logger
        )
    rejected = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.messageId, r.correlationId) for r in rejected] == [("m-1", "c-1"), ("m-1", "c-1")]  # type: ignore[attr-defined]
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert [r.messageId for r in debug] == ["o-1"]  # type: ignore[attr-defined]


def test_no_per_message_lines_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="test_batch"):
        process_batch(event_of([sample_record() for _ in range(50)]), process_sample, RecordingSink(), logger)
    assert caplog.records == []


def delivered_before(count: int, header: str = "x-delivery-count") -> dict[str, Any]:
    value = sample()
    props = pika.BasicProperties(content_type="application/json", message_id=value["id"], headers={header: count})
    return record(json.dumps(value).encode(), props, redelivered=count > 0)


def test_failure_on_the_last_delivery_is_dead_lettered_and_the_batch_continues() -> None:
    # GIVEN a queue with delivery limit 3, and a batch whose first message is on its last delivery
    records = [delivered_before(3), delivered_before(3), delivered_before(1)]
    crasher = json.loads(base64.b64decode(records[0]["data"]))["id"]
    processed: list[str] = []

    def process(message: Message) -> None:
        if message.payload["id"] == crasher:
            raise RuntimeError("bug triggered by this message")
        processed.append(message.payload["id"])

    sink = RecordingSink()
    # WHEN the batch is processed
    result = process_batch(event_of(records), process, sink, logger, delivery_limit=3)
    # THEN the failing message is dead-lettered with the error, and its batch-mates processed
    (letter,) = sink.sent
    assert letter.record == records[0]
    assert letter.reason == "failed on its last delivery (4 of 4): RuntimeError: bug triggered by this message"
    assert len(processed) == 2
    assert result.summary()["processed"] == 2


def test_an_acquired_count_inflated_by_reconnects_does_not_dead_letter_a_first_failure() -> None:
    # GIVEN a message RabbitMQ 4.3 delivered 25 times (a poller reconnecting), none of them failed
    # (no x-delivery-count), on a queue with delivery limit 20
    message = delivered_before(25, "x-acquired-count")

    def process(message: Message) -> None:
        raise RetryableError("database down")

    sink = RecordingSink()
    # WHEN its first failure comes
    with pytest.raises(RetryableError):
        process_batch(event_of([message]), process, sink, logger, delivery_limit=20)
    # THEN it is not dead-lettered: the invocation fails and the broker delivers it again
    assert sink.sent == []


def test_a_loop_the_broker_does_not_count_is_stopped_by_the_acquired_count() -> None:
    # GIVEN a message acquired 5 times the delivery limit with no failed delivery counted (RabbitMQ
    # 4.3 with a poller returning failed batches with basic.nack, which never reaches the limit)
    message = delivered_before(100, "x-acquired-count")

    def process(message: Message) -> None:
        raise RetryableError("still failing")

    sink = RecordingSink()
    process_batch(event_of([message]), process, sink, logger, delivery_limit=20)
    (letter,) = sink.sent
    assert letter.reason == (
        "failed on its last delivery (acquired 100 times, 5 times the delivery limit of 20): RetryableError: "
        "still failing"
    )


# The kinds of message of the interaction tests: below or at the limit of 3, and what business
# logic does with it.
KINDS = {
    "fails": (1, RetryableError("database down")),
    "fails, last": (3, RuntimeError("bug")),
    "invalid, last": (3, InvalidMessage("refused")),
    "ok, last": (3, None),
    "invalid": (0, InvalidMessage("refused early")),
}


def fail_as_kind(message: Message) -> None:
    """Business logic that fails as its message's kind says, with a new exception each time: one
    raised again would carry the tracebacks of every earlier raise, which the handler formats."""
    error = KINDS[message.payload["id"]][1]
    if error is not None:
        raise type(error)(*error.args)


def kinds_batch(kinds: Sequence[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    records, ids = [], {}
    for kind in kinds:
        value = sample(kind)
        props = pika.BasicProperties(
            content_type="application/json", message_id=kind, headers={"x-delivery-count": KINDS[kind][0]}
        )
        records.append(record(json.dumps(value).encode(), props, redelivered=True))
        ids[kind] = kind
    return records, ids


# What each kind's dead letter says when business logic ran on it; any of them says "not processed
# on its last delivery" when the failure below the limit kept it from running.
RAN = {
    "fails, last": "failed on its last delivery (4 of 4): RuntimeError: bug",
    "invalid, last": "refused",
}
NOT_REACHED = (
    "not processed on its last delivery (4 of 4): the invocation failed because message 'fails' failed "
    "(RetryableError: database down), so the broker moves this message to its dead-letter queue too"
)


@pytest.mark.parametrize("kinds", list(itertools.permutations(KINDS)), ids="|".join)
def test_every_message_on_its_last_delivery_is_dead_lettered_before_the_invocation_fails(
    kinds: Sequence[str], ordering: Ordering
) -> None:
    # GIVEN a batch with a message that fails below its limit, one that fails on its last delivery,
    # one refused on its last delivery, one fine on its last delivery and one refused early, in this order
    records, _ = kinds_batch(kinds)
    processed: list[str] = []

    def process(message: Message) -> None:
        fail_as_kind(message)
        processed.append(message.payload["id"])

    sink = RecordingSink()
    # WHEN the batch is processed
    with pytest.raises(RetryableError, match="database down"):
        process_batch(event_of(records), process, sink, logger, delivery_limit=3)

    # THEN the invocation fails with the failure below the limit
    reasons = {letter.record["basicProperties"]["messageId"]: letter.reason for letter in sink.sent}
    # AND every message on its last delivery is processed or dead-lettered first, with its own reason
    # or, when the failure kept business logic from it, with the failure's; those below the limit
    # are left to the retry
    assert set(reasons) == {kind for kind in kinds if kind.endswith(", last")} - set(processed)
    assert all(reasons[kind] in (RAN.get(kind), NOT_REACHED) for kind in reasons)
    assert [letter.record["basicProperties"]["messageId"] for letter in sink.sent] == [
        kind for kind in kinds if kind in reasons
    ]
    if not ordering.parallel:
        # one lane: processing stopped at the failure, and nothing after it was reached
        failed_at = kinds.index("fails")
        assert processed == [kind for kind in kinds[:failed_at] if kind == "ok, last"]
        assert {kind for kind, reason in reasons.items() if reason == NOT_REACHED} == {
            kind for kind in kinds[failed_at + 1 :] if kind.endswith(", last")
        }


def test_a_failing_sink_still_fails_the_invocation_with_the_business_error(caplog: pytest.LogCaptureFixture) -> None:
    records, _ = kinds_batch(["ok, last", "fails", "fails, last"])

    with caplog.at_level(logging.ERROR, logger="test_batch"), pytest.raises(RetryableError, match="database down"):
        process_batch(event_of(records), fail_as_kind, RecordingSink(fail=True), logger, delivery_limit=3)
    assert "could not be stored" in caplog.text


def test_processed_messages_going_back_on_their_last_delivery_are_named(caplog: pytest.LogCaptureFixture) -> None:
    records, _ = kinds_batch(["ok, last", "fails"])

    with caplog.at_level(logging.WARNING, logger="test_batch"), pytest.raises(RetryableError):
        process_batch(event_of(records), fail_as_kind, RecordingSink(), logger, delivery_limit=3)
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert line.messageIds == ["ok, last"]  # type: ignore[attr-defined]
    assert "they need no replay" in line.getMessage()


def test_reasons_and_log_fields_quoting_payload_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN business logic that quotes a 1 MB field in its reasons and errors, and a record whose
    # message id is a 1 MB string
    huge = "x" * 1_000_000
    refused = sample_record("refused")
    failing = sample_record("failing")
    refused["basicProperties"]["correlationId"] = huge

    def process(message: Message) -> None:
        if message.payload["id"] == "refused":
            raise InvalidMessage(f"quantity: expected a positive integer, got {huge!r}")
        raise RetryableError(f"downstream refused {huge}")

    sink = RecordingSink()
    with caplog.at_level(logging.DEBUG, logger="test_batch"):
        process_batch(event_of([refused]), process, sink, logger)
        with pytest.raises(RetryableError):
            process_batch(event_of([failing]), process, RecordingSink(), logger)
    # THEN the stored reason and every log line stay small
    (letter,) = sink.sent
    assert len(letter.reason) < 1100
    assert letter.reason.endswith("more characters)")
    assert all(len(json.dumps(r.__dict__, default=str)) < 12_000 for r in caplog.records)
    error = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert error.exception_name == "RetryableError"  # type: ignore[attr-defined]
    assert "downstream refused xxx" in error.exception  # type: ignore[attr-defined]


@pytest.mark.parametrize(("count", "limit"), [(2, 3), (5, None), (0, 1)])
def test_failure_before_the_last_delivery_fails_the_invocation(count: int, limit: int | None) -> None:
    def process(message: Message) -> None:
        raise RetryableError("database down")

    sink = RecordingSink()
    with pytest.raises(RetryableError):
        process_batch(event_of([delivered_before(count)]), process, sink, logger, delivery_limit=limit)
    assert sink.calls == 0


def test_a_failure_is_logged_with_the_delivery_counting_headers(caplog: pytest.LogCaptureFixture) -> None:
    # What a deliberately failing probe shows on a real deployment (docs/error-handling.md)
    def process(message: Message) -> None:
        raise RetryableError("probe")

    with caplog.at_level(logging.ERROR, logger="test_batch"), pytest.raises(RetryableError):
        process_batch(event_of([delivered_before(2, "x-acquired-count")]), process, RecordingSink(), logger, 3)
    (line,) = caplog.records
    assert (line.deliveryCount, line.acquiredCount, line.redelivered) == (None, 2, True)  # type: ignore[attr-defined]
