"""Batch-level idempotency against a DynamoDB server over HTTP (moto's, as strict as DynamoDB on the
batch limits and throttling: tests/consumer/conftest.py): a retried batch skips every message that
had completed, one read per 100 keys and one write per 25 completions, unprocessed keys and items
are retried, and a store that cannot be read fails the invocation before any message runs."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import boto3
import pika
import pytest
from botocore.config import Config

from rabbitmq_consumer.batch import DeadlineReached, Idempotency, Ordering, process_batch
from rabbitmq_consumer.dead_letters import DeadLetter
from rabbitmq_consumer.errors import InvalidMessage, RetryableError
from rabbitmq_consumer.idempotency import MAX_ATTEMPTS, DynamoDBStore, IdempotencyStoreError
from rabbitmq_consumer.keys import parse_key
from rabbitmq_consumer.messages import Message
from support import MOTO_REGION, event_of, record, strict_aws

pytestmark = pytest.mark.unit

logger = logging.getLogger("test_idempotency")
MESSAGE_ID = parse_key("message-id", "IDEMPOTENCY_KEY")


class Sink:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        self.sent.extend(dead_letters)


@pytest.fixture
def table(idempotency_table: str) -> str:
    return idempotency_table


@pytest.fixture
def store(dynamodb: Any, table: str) -> DynamoDBStore:
    return DynamoDBStore(table, 3600, client=dynamodb, sleep=lambda seconds: None)


def messages(count: int, prefix: str = "m") -> list[dict[str, Any]]:
    return [
        record(
            json.dumps({"n": index, "customer": f"c{index % 7}"}).encode(),
            pika.BasicProperties(content_type="application/json", message_id=f"{prefix}-{index}"),
        )
        for index in range(count)
    ]


class Effects:
    """Business logic that counts its effects by message id, failing where told to."""

    def __init__(self, fail_on: set[str] | None = None) -> None:
        self.done: Counter[str] = Counter()
        self.fail_on = fail_on or set()

    def __call__(self, message: Message) -> None:
        if message.message_id in self.fail_on:
            raise RetryableError(f"{message.message_id}: downstream unavailable")
        self.done[message.message_id or ""] += 1


ORDERINGS = [Ordering(), Ordering(parse_key("json:customer", "ORDERING_KEY"), 8)]


@pytest.mark.parametrize("ordering", ORDERINGS, ids=["sequential", "lanes"])
def test_a_retried_batch_skips_every_message_that_completed(store: DynamoDBStore, ordering: Ordering) -> None:
    # GIVEN a batch of 60 whose 41st message fails below its limit
    batch = event_of(messages(60))
    effects = Effects(fail_on={"m-40"})
    idempotency = Idempotency(store, MESSAGE_ID)
    # WHEN the invocation fails
    with pytest.raises(RetryableError):
        process_batch(batch, effects, Sink(), logger, ordering=ordering, idempotency=idempotency)
    completed_first = set(effects.done)
    # AND the batch is delivered again, the cause gone
    effects.fail_on.clear()
    result = process_batch(batch, effects, Sink(), logger, ordering=ordering, idempotency=idempotency)
    # THEN every message took effect exactly once: those completed the first time were skipped
    assert effects.done == Counter({f"m-{index}": 1 for index in range(60)})
    assert result.summary()["skipped"] == len(completed_first) > 0
    assert result.summary()["processed"] == 60 - len(completed_first)


def test_one_read_per_100_keys_and_one_write_per_25_completions(store: DynamoDBStore) -> None:
    batch = event_of(messages(250))
    process_batch(batch, Effects(), Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert store.calls == 3 + 10  # BatchGetItem of 100, 100, 50; BatchWriteItem of 25 ten times
    store.calls = 0
    result = process_batch(batch, Effects(), Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert store.calls == 3
    assert result.summary()["skipped"] == 250


def test_a_message_twice_in_one_batch_runs_once(store: DynamoDBStore) -> None:
    twice = messages(3)
    batch = event_of([*twice, twice[1]])
    effects = Effects()
    result = process_batch(batch, effects, Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert effects.done == Counter({"m-0": 1, "m-1": 1, "m-2": 1})
    assert (result.summary()["processed"], result.summary()["skipped"]) == (3, 1)


def test_a_message_without_a_key_is_processed_and_counted(store: DynamoDBStore) -> None:
    keyless = record(b'{"n": 1}', pika.BasicProperties(content_type="application/json"))
    effects = Effects()
    result = process_batch(
        event_of([keyless, keyless]), effects, Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID)
    )
    assert effects.done == Counter({"": 2})
    assert result.queues["orders::/"].without_key == 2


def test_an_idempotency_key_from_the_body(store: DynamoDBStore) -> None:
    by_n = Idempotency(store, parse_key("json:n", "IDEMPOTENCY_KEY"))
    first, again = messages(2, "a"), messages(2, "b")  # other message ids, the same bodies
    process_batch(event_of(first), Effects(), Sink(), logger, idempotency=by_n)
    effects = Effects()
    result = process_batch(event_of(again), effects, Sink(), logger, idempotency=by_n)
    assert effects.done == Counter()
    assert result.summary()["skipped"] == 2


def test_an_unreachable_store_fails_the_invocation_before_any_message_runs() -> None:
    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",  # discard: nothing listens
        region_name=MOTO_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    effects = Effects()
    store = DynamoDBStore("missing", 3600, client=client)
    with pytest.raises(IdempotencyStoreError, match="cannot read the idempotency records in DynamoDB table missing"):
        process_batch(event_of(messages(3)), effects, Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert effects.done == Counter()
    # unless told to process without the check
    result = process_batch(
        event_of(messages(3)), effects, Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID, fail_open=True)
    )
    assert sum(effects.done.values()) == 3
    assert result.summary()["processed"] == 3


def test_an_unreadable_store_dead_letters_what_is_on_its_last_delivery_with_the_reason() -> None:
    # GIVEN a store that cannot be read, and a batch whose second message is on its last delivery
    class Unreadable:
        def completed(self, keys: Sequence[str]) -> set[str]:
            raise IdempotencyStoreError("cannot read the idempotency records in DynamoDB table t: throttled")

        def record(self, keys: Sequence[str]) -> None:
            raise AssertionError("nothing completed, nothing to record")

    last = record(
        b'{"n": 1}',
        pika.BasicProperties(content_type="application/json", message_id="last", headers={"x-delivery-count": 3}),
    )
    effects, sink = Effects(), Sink()
    # WHEN the batch comes THEN no message runs and the invocation fails with the store's error
    with pytest.raises(IdempotencyStoreError, match="throttled"):
        process_batch(
            event_of([*messages(1), last]), effects, sink, logger, 3, idempotency=Idempotency(Unreadable(), MESSAGE_ID)
        )
    assert effects.done == Counter()
    # AND the message on its last delivery is dead-lettered with that reason, not moved away without one
    (letter,) = sink.sent
    assert letter.reason.startswith(
        "not processed on its last delivery (4 of 4): the invocation failed because the idempotency store failed "
        "(cannot read the idempotency records in DynamoDB table t: throttled)"
    )


def test_a_completion_that_cannot_be_recorded_fails_the_invocation(
    store: DynamoDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(keys: Sequence[str]) -> None:
        raise IdempotencyStoreError("cannot write: throttled")

    monkeypatch.setattr(store, "record", refuse)
    effects = Effects()
    with pytest.raises(IdempotencyStoreError, match="throttled"):
        process_batch(event_of(messages(30)), effects, Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert sum(effects.done.values()) == 25  # the batch stopped when the first 25 could not be recorded


def test_expired_records_count_as_absent(dynamodb: Any, table: str) -> None:
    now = [time.time()]
    store = DynamoDBStore(table, 60, client=dynamodb, clock=lambda: now[0])
    process_batch(event_of(messages(2)), Effects(), Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    now[0] += 61  # DynamoDB deletes expired items some time after they expire
    effects = Effects()
    process_batch(event_of(messages(2)), effects, Sink(), logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert sum(effects.done.values()) == 2


def test_dead_lettered_and_failed_messages_are_not_recorded(store: DynamoDBStore) -> None:
    def refuse_one(message: Message) -> None:
        if message.message_id == "m-1":
            raise InvalidMessage("refused")

    sink = Sink()
    process_batch(event_of(messages(3)), refuse_one, sink, logger, idempotency=Idempotency(store, MESSAGE_ID))
    assert store.completed(["m-0", "m-1", "m-2"]) == {"m-0", "m-2"}
    assert [letter.reason for letter in sink.sent] == ["refused"]


def test_near_the_timeout_no_message_starts_and_what_completed_is_recorded(store: DynamoDBStore) -> None:
    # GIVEN business logic slow enough that the deadline passes during the batch
    started = time.monotonic()
    effects = Effects()

    def slow(message: Message) -> None:
        effects(message)
        if message.message_id == "m-4":
            time.sleep(0.2)

    # WHEN the deadline comes after the fifth message THEN the invocation fails before the sixth
    with pytest.raises(DeadlineReached):
        process_batch(
            event_of(messages(10)),
            slow,
            Sink(),
            logger,
            idempotency=Idempotency(store, MESSAGE_ID),
            deadline=started + 0.1,
        )
    assert set(effects.done) == {f"m-{index}" for index in range(5)}
    # AND the five are recorded, so the retry skips them
    assert store.completed([f"m-{index}" for index in range(10)]) == set(effects.done)


def test_unprocessed_keys_are_read_again(store: DynamoDBStore, throttle: strict_aws.Throttle) -> None:
    # GIVEN three keys recorded, and DynamoDB throttling the next read: its last key comes back unprocessed
    store.record(["a", "b", "c"])
    store.calls = 0
    throttle.calls = 1
    # THEN the store reads the unprocessed key again, and finds every recorded key
    assert store.completed(["a", "b", "c", "d"]) == {"a", "b", "c"}
    assert store.calls == 2


def test_unprocessed_items_are_written_again(store: DynamoDBStore, throttle: strict_aws.Throttle) -> None:
    throttle.calls, throttle.leave = 1, 2
    store.record(["a", "b", "c"])
    assert store.calls == 2
    assert store.completed(["a", "b", "c"]) == {"a", "b", "c"}


def test_a_lasting_throttle_fails_the_call(store: DynamoDBStore, throttle: strict_aws.Throttle) -> None:
    throttle.calls = MAX_ATTEMPTS
    with pytest.raises(IdempotencyStoreError, match="left 1 completion record"):
        store.record(["a", "b"])
    store.record(["a", "b"])
    throttle.calls = MAX_ATTEMPTS
    with pytest.raises(IdempotencyStoreError, match=r"left 1 key\(s\) unread after 8 attempts"):
        store.completed(["a", "b"])


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("\N{GRINNING FACE}" * 600, id="2400-bytes-in-600-characters"),
        pytest.param("\ud800", id="a-lone-surrogate"),
    ],
)
def test_a_key_dynamodb_cannot_hold_is_no_key(store: DynamoDBStore, key: str) -> None:
    # GIVEN a message whose key DynamoDB would refuse (over 2048 bytes; over 1024 is no key here)
    # or cannot be UTF-8 at all, beside one with a good key
    by_field = Idempotency(store, parse_key("json:ref", "IDEMPOTENCY_KEY"))
    bodies = [json.dumps({"ref": key}).encode(), json.dumps({"ref": "r-1"}).encode()]
    batch = event_of([record(body, pika.BasicProperties(content_type="application/json")) for body in bodies])
    effects = Effects()
    # WHEN the batch runs THEN both are processed, the first counted as without a key: the batch does not
    # fail on every delivery because of one key
    result = process_batch(batch, effects, Sink(), logger, idempotency=by_field)
    assert (result.summary()["processed"], result.queues["orders::/"].without_key) == (2, 1)


def test_a_message_completed_before_is_not_dead_lettered_when_its_batch_fails(store: DynamoDBStore) -> None:
    # GIVEN m-0 completed before, now on its last delivery in a batch whose m-1 fails below its limit
    store.record(["m-0"])
    first, second = messages(2)
    first["basicProperties"]["headers"] = {"x-delivery-count": 3}
    sink = Sink()
    # WHEN the invocation fails
    with pytest.raises(RetryableError):
        process_batch(
            event_of([first, second]),
            Effects(fail_on={"m-1"}),
            sink,
            logger,
            delivery_limit=3,
            idempotency=Idempotency(store, MESSAGE_ID),
        )
    # THEN m-0 is not dead-lettered as "not processed": it was done (the broker's dead-letter queue gets it,
    # and it needs no replay)
    assert sink.sent == []
