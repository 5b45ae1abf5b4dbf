"""Parallel lanes: messages of one key run one after another in delivery order, those of
different keys at the same time, on a bounded number of threads; a failure stops the batch."""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pika
import pytest

from rabbitmq_consumer import lanes
from rabbitmq_consumer.batch import Ordering, process_batch
from rabbitmq_consumer.config import ConfigError, load_config
from rabbitmq_consumer.dead_letters import DeadLetter
from rabbitmq_consumer.errors import InvalidMessage, RetryableError
from rabbitmq_consumer.keys import parse_key
from rabbitmq_consumer.messages import Message
from support import event_of, record

pytestmark = pytest.mark.unit

logger = logging.getLogger("test_lanes")


class Sink:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        self.sent.extend(dead_letters)


def keyed(key: str | None, sequence: int, **headers: Any) -> dict[str, Any]:
    """A message of `key` (in the header customer-id), its body naming key and sequence."""
    if key is not None:
        headers["customer-id"] = key
    body = json.dumps({"key": key, "sequence": sequence}).encode()
    return record(body, pika.BasicProperties(content_type="application/json", headers=headers or None))


BY_CUSTOMER = parse_key("header:customer-id", "ORDERING_KEY")


class InFlight:
    """Business logic that records, per key, the order it ran messages in and how many ran at once."""

    def __init__(self, gate: threading.Barrier | None = None) -> None:
        self.lock = threading.Lock()
        self.order: dict[Any, list[int]] = defaultdict(list)
        self.running: dict[Any, int] = defaultdict(int)
        self.most_of_one_key = 0
        self.gate = gate

    def __call__(self, message: Message) -> None:
        key, sequence = message.payload["key"], message.payload["sequence"]
        with self.lock:
            self.running[key] += 1
            self.most_of_one_key = max(self.most_of_one_key, self.running[key])
        if self.gate is not None and sequence == 0:
            self.gate.wait(timeout=10)  # every key's first message must be running at once to pass
        with self.lock:
            self.running[key] -= 1
            self.order[key].append(sequence)


def test_keys_run_at_the_same_time_and_each_key_in_delivery_order() -> None:
    # GIVEN 8 customers' messages interleaved, 10 each, and 8 lanes
    records = [keyed(f"c{key}", sequence) for sequence in range(10) for key in range(8)]
    logic = InFlight(gate=threading.Barrier(8))
    # WHEN the batch runs on 8 lanes
    result = process_batch(event_of(records), logic, Sink(), logger, ordering=Ordering(BY_CUSTOMER, 8))
    # THEN the 8 first messages ran at the same time (the barrier let them through), each key's
    # messages in delivery order, never two of one key at once, and all were processed
    assert logic.gate is not None
    assert not logic.gate.broken
    assert logic.order == {f"c{key}": list(range(10)) for key in range(8)}
    assert logic.most_of_one_key == 1
    assert result.summary()["processed"] == 80


def test_at_most_parallelism_lanes_run_at_once() -> None:
    records = [keyed(f"c{key}", 0) for key in range(20)]
    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def logic(message: Message) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running == 3:
                release.set()
        release.wait(timeout=10)
        with lock:
            running -= 1

    process_batch(event_of(records), logic, Sink(), logger, ordering=Ordering(BY_CUSTOMER, 3))
    assert most == 3


def test_messages_without_the_key_keep_their_order_in_one_lane() -> None:
    records = [keyed(None, sequence) for sequence in range(30)] + [keyed("c1", 0)]
    logic = InFlight()
    process_batch(event_of(records), logic, Sink(), logger, ordering=Ordering(BY_CUSTOMER, 8))
    assert logic.order[None] == list(range(30))
    assert logic.most_of_one_key == 1


def test_an_invalid_message_is_dead_lettered_and_its_lane_goes_on() -> None:
    records = [keyed("c1", 0), keyed("c1", 1), keyed("c1", 2), keyed("c2", 0)]
    ran: list[tuple[str, int]] = []

    def logic(message: Message) -> None:
        if (message.payload["key"], message.payload["sequence"]) == ("c1", 1):
            raise InvalidMessage("refused")
        ran.append((message.payload["key"], message.payload["sequence"]))

    sink = Sink()
    result = process_batch(event_of(records), logic, sink, logger, ordering=Ordering(BY_CUSTOMER, 4))
    assert sorted(ran) == [("c1", 0), ("c1", 2), ("c2", 0)]
    assert [letter.reason for letter in sink.sent] == ["refused"]
    assert result.summary()["processed"] == 3


class FailureLogged(logging.Handler):
    """Sets `event` when the batch logs the failure that fails the invocation, which it does after
    stopping the lanes."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


def test_a_failure_stops_new_messages_lets_running_ones_finish_and_fails_the_invocation() -> None:
    # GIVEN two lanes: c1's second message fails below its limit while c2's first is running
    records = [keyed("c1", 0), keyed("c1", 1), keyed("c1", 2), keyed("c2", 0), keyed("c2", 1), keyed("c2", 2)]
    c2_running = threading.Event()
    failure = FailureLogged()
    ran: list[tuple[str, int]] = []

    def logic(message: Message) -> None:
        key, sequence = message.payload["key"], message.payload["sequence"]
        if key == "c2" and sequence == 0:
            c2_running.set()
            assert failure.event.wait(timeout=10)  # still running when c1's failure stopped the batch
        if (key, sequence) == ("c1", 1):
            assert c2_running.wait(timeout=10)
            raise RetryableError("database down")
        ran.append((key, sequence))

    sink = Sink()
    logger.addHandler(failure)
    # WHEN the batch runs on two lanes THEN the invocation fails with that error
    try:
        with pytest.raises(RetryableError, match="database down"):
            process_batch(event_of(records), logic, sink, logger, ordering=Ordering(BY_CUSTOMER, 2))
    finally:
        logger.removeHandler(failure)
    # AND the running message finished, no lane started another, nothing was dead-lettered
    assert sorted(ran) == [("c1", 0), ("c2", 0)]
    assert sink.sent == []


def test_the_lanes_of_a_batch_are_longest_first() -> None:
    assert lanes.group([(0, "a"), (1, "b"), (2, "b"), (3, "c"), (4, "b"), (5, "c")]) == [[1, 2, 4], [3, 5], [0]]


def test_an_exception_escaping_a_step_is_raised_by_run() -> None:
    def step(position: int) -> None:
        raise KeyError("a bug in the policy")

    with pytest.raises(KeyError, match="a bug in the policy"):
        lanes.run([[0], [1], [2]], step, 3, threading.Event())


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PARALLELISM": "16"}, "PARALLELISM 16 needs an ORDERING_KEY"),
        ({"PARALLELISM": "0", "ORDERING_KEY": "message-id"}, "PARALLELISM must be a whole number from 1 to 64"),
        ({"PARALLELISM": "65", "ORDERING_KEY": "message-id"}, "PARALLELISM must be a whole number from 1 to 64"),
        ({"ORDERING_KEY": "customer"}, "ORDERING_KEY 'customer' is not one of message-id, header:<name>, json:<path>"),
        ({"ORDERING_KEY": "json:a..b"}, "ORDERING_KEY 'json:a..b' is not one of"),
    ],
)
def test_the_ordering_settings_are_checked(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ)


def test_the_ordering_settings_are_read() -> None:
    ordering = load_config({"ORDERING_KEY": "json:customer.id", "PARALLELISM": "16"}).ordering
    assert (str(ordering.key), ordering.parallelism, ordering.parallel) == ("json:customer.id", 16, True)
    assert not load_config({}).ordering.parallel
