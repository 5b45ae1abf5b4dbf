"""P1-P4: each figure a ratio against a baseline measured in the same run, on the same machine.

| id | what                                             | baseline                                         | target  |
|----|--------------------------------------------------|--------------------------------------------------|---------|
| P1 | handler on a ~6 MB event of 10,000 JSON messages | bare loop of json.loads(base64.b64decode(data))  | <= 1.25 |
| P2 | cold import of the handler module                | a fresh process importing Powertools' Logger     | <= 1.5  |
| P3 | send.py's publisher, confirms on, 20,000 msgs    | unconfirmed pika publish loop, same messages     | >= 0.8  |
| P4 | publish -> broker -> local mapping -> handler    | raw pika publish-then-consume, batched acks      | >= 0.5  |

P1 measures what the handler adds to the decoding every consumer needs, so its business
logic is a no-op there; P1b times the example business logic too, for information.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pika

from rabbitmq_admin.topology import Topology
from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT
from rabbitmq_consumer.dead_letters import JsonLinesSink
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.broker import LocalBroker, connection_parameters
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, MAX_EVENT_BYTES, build_event, build_record
from rabbitmq_tools.local_event_source_mapping import LocalEventSourceMapping, LocalLambdaContext, MappingSettings
from rabbitmq_tools.publisher import ConfirmedPublisher

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "example-message.json").read_bytes()


@dataclass
class Figure:
    id: str
    what: str
    unit: str
    measured: float
    baseline: float
    ratio: float
    target: str  # "<= 1.25" or ">= 0.8"; "" for information only

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        op, bound = self.target.split()
        return self.ratio <= float(bound) if op == "<=" else self.ratio >= float(bound)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


def median_pair(candidate: Callable[[], float], baseline: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Median of each, measured alternately so drift on a shared machine hits both alike."""
    ours, theirs = [], []
    for _ in range(repeat):
        theirs.append(baseline())
        ours.append(candidate())
    return statistics.median(ours), statistics.median(theirs)


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def message_properties(run_id: str, index: int) -> pika.BasicProperties:
    """What send.py publishes with."""
    return pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=f"{run_id}-{index:06d}",
        timestamp=1_795_960_861,
        app_id="send.py",
    )


@contextlib.contextmanager
def quiet_handler(dead_letters: Path) -> Iterator[None]:
    """The handler's logs and metrics go to a buffer, not the terminal (still formatted, as in
    Lambda), and its dead letters to a scratch file."""
    registered = handler.logger.registered_handler
    previous = registered.setStream(io.StringIO())  # type: ignore[attr-defined]
    original_sink = handler.sink
    handler.sink = lambda: JsonLinesSink(dead_letters)  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        handler.sink = original_sink
        registered.setStream(previous)  # type: ignore[attr-defined]


# --- P1 ---------------------------------------------------------------------------------


def six_megabyte_event(count: int = 10_000) -> dict[str, Any]:
    """`count` JSON messages in one event of just under Lambda's 6 MB cap."""
    run_id = uuid.uuid4().hex[:12]
    overhead = len(json.dumps(build_record(b"", message_properties(run_id, 0), False))) + 2
    envelope = len(json.dumps(build_event(LOCAL_BROKER_ARN, "orders", "/", [])))
    base64_room = (MAX_EVENT_BYTES - envelope) // count - overhead
    body_size = base64_room * 3 // 4 - 3
    records = []
    for index in range(count):
        head = f'{{"orderId":"ord-{index:06d}","customerId":"cus-{index % 97}","total":"25.00","note":"'
        body = (head + "x" * (body_size - len(head) - 2) + '"}').encode()
        records.append(build_record(body, message_properties(run_id, index), False))
    event = build_event(LOCAL_BROKER_ARN, "orders", "/", records)
    assert len(json.dumps(event)) <= MAX_EVENT_BYTES
    return event


def p1_handler(repeat: int, scratch: Path) -> list[Figure]:
    event = six_megabyte_event()
    size = len(json.dumps(event))
    (records,) = event["rmqMessagesByQueue"].values()

    def bare_loop() -> float:
        return timed(lambda: [json.loads(base64.b64decode(record["data"])) for record in records])

    def handler_run() -> float:
        return timed(lambda: handler.lambda_handler(event, LocalLambdaContext("bench")))

    figures = []
    original = business_logic.process
    with quiet_handler(scratch / "p1-dead-letters.jsonl"):
        business_logic.process = lambda message: None
        try:
            handler_run()  # warm: the first call pays for imports and caches
            ours, baseline = median_pair(handler_run, bare_loop, repeat)
        finally:
            business_logic.process = original
        figures.append(
            Figure(
                "P1",
                f"handler, no-op business logic, {len(records):,} messages, {size / 1e6:.1f} MB event",
                "ms",
                ours * 1000,
                baseline * 1000,
                ours / baseline,
                "<= 1.25",
            )
        )
        orders = build_event(
            LOCAL_BROKER_ARN,
            "orders",
            "/",
            [build_record(EXAMPLE, message_properties("p1b", index), False) for index in range(len(records))],
        )
        (order_records,) = orders["rmqMessagesByQueue"].values()
        ours_b, baseline_b = median_pair(
            lambda: timed(lambda: handler.lambda_handler(orders, LocalLambdaContext("bench"))),
            lambda: timed(lambda: [json.loads(base64.b64decode(r["data"])) for r in order_records]),
            repeat,
        )
        figures.append(
            Figure(
                "P1b",
                f"handler with the example business logic, {len(order_records):,} orders",
                "ms",
                ours_b * 1000,
                baseline_b * 1000,
                ours_b / baseline_b,
                "",
            )
        )
    return figures


# --- P2 ---------------------------------------------------------------------------------


def p2_cold_import(repeat: int) -> Figure:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}

    def process(code: str) -> Callable[[], float]:
        return lambda: timed(lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True))

    ours, baseline = median_pair(
        process("import rabbitmq_consumer.handler"),
        process("from aws_lambda_powertools import Logger"),
        max(repeat * 3, 15),
    )
    return Figure(
        "P2",
        "cold import of rabbitmq_consumer.handler (fresh process)",
        "ms",
        ours * 1000,
        baseline * 1000,
        ours / baseline,
        "<= 1.5",
    )


# --- P3 and P4: against the broker -------------------------------------------------------


class Queue:
    """A fresh topology per measurement, made by the bootstrap, deleted afterwards."""

    def __init__(self, broker: LocalBroker) -> None:
        self.client = broker.management_client()
        name = f"bench-{uuid.uuid4().hex[:10]}"
        self.setup = BrokerSetup.new(Topology(name, DEFAULT_DELIVERY_LIMIT), f"{name}-consumer", f"{name}-publisher")
        self.setup.apply(self.client)
        self.name = name

    def close(self) -> None:
        self.setup.remove(self.client)


def unconfirmed_publish(parameters: pika.ConnectionParameters, queue: str, count: int) -> None:
    run_id = uuid.uuid4().hex[:12]
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        for index in range(count):
            channel.basic_publish("", queue, EXAMPLE, message_properties(run_id, index))


def confirmed_publish(parameters: pika.ConnectionParameters, queue: str, count: int) -> None:
    run_id = uuid.uuid4().hex[:12]
    result = ConfirmedPublisher(parameters, queue).publish(count, lambda i: (EXAMPLE, message_properties(run_id, i)))
    assert result.all_confirmed, f"only {result.confirmed} of {count} confirmed"


def p3_publisher(broker: LocalBroker, repeat: int, count: int = 20_000) -> Figure:
    parameters = connection_parameters(broker.url)

    def measure(publish: Callable[[pika.ConnectionParameters, str, int], None]) -> Callable[[], float]:
        def run() -> float:
            queue = Queue(broker)
            try:
                return timed(lambda: publish(parameters, queue.name, count))
            finally:
                queue.close()

        return run

    ours, baseline = median_pair(measure(confirmed_publish), measure(unconfirmed_publish), repeat)
    # Throughput ratio: the baseline's time over ours.
    return Figure(
        "P3",
        f"send.py publisher with confirms, {count:,} messages",
        "msg/s",
        count / ours,
        count / baseline,
        baseline / ours,
        ">= 0.8",
    )


def raw_consume(parameters: pika.ConnectionParameters, queue: str, count: int, batch: int = 100) -> None:
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=batch)
        for received, (method, _, body) in enumerate(channel.consume(queue), start=1):
            json.loads(body)
            if received % batch == 0 or received == count:
                channel.basic_ack(method.delivery_tag, multiple=True)
            if received == count:
                break
        channel.cancel()


def p4_end_to_end(broker: LocalBroker, repeat: int, scratch: Path, count: int = 20_000) -> Figure:
    parameters = connection_parameters(broker.url)

    def baseline() -> float:
        queue = Queue(broker)

        def run() -> None:
            unconfirmed_publish(parameters, queue.name, count)
            raw_consume(parameters, queue.name, count)

        try:
            return timed(run)
        finally:
            queue.close()

    def ours() -> float:
        queue = Queue(broker)
        try:
            mapping = LocalEventSourceMapping(parameters, MappingSettings(queue.name), handler.lambda_handler)

            def run() -> None:
                confirmed_publish(parameters, queue.name, count)
                stats = mapping.run(max_messages=count)
                assert stats.messages == count, stats
                assert stats.dead_lettered == 0, stats

            with quiet_handler(scratch / "p4-dead-letters.jsonl"):
                return timed(run)
        finally:
            queue.close()

    ours_s, baseline_s = median_pair(ours, baseline, repeat)
    return Figure(
        "P4",
        f"end to end, {count:,} messages, batch size 100, example business logic",
        "msg/s",
        count / ours_s,
        count / baseline_s,
        baseline_s / ours_s,
        ">= 0.5",
    )
