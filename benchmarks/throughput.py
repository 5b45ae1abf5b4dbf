"""P6 and P6k: the handler's throughput with parallel lanes against the sequential handler, for
business logic that waits on I/O, each figure a ratio measured in the same run.

| id  | what                                                                | baseline                       | target  |
|-----|---------------------------------------------------------------------|--------------------------------|---------|
| P6  | batch of 100, 100 distinct keys, parallelism 16, 20 ms per message  | the sequential handler         | >= 10   |
| P6k | the same with 4 distinct keys                                       | the sequential handler         | >= 3.5  |
| P6a | Powertools' AsyncBatchProcessor on P6k's batch, order not kept     | the sequential handler         | info    |

The business logic waits 15 to 25 ms per message (20 on average, the same for a message in every
run), standing in for a database or an HTTP call, and records the order each key's messages ran
in: every run counts the messages that ran after a later message of their key (order
violations), which must be 0 for the lanes (a violation fails the figure). The anchor is what
Powertools offers for concurrency (`AsyncBatchProcessor`, which knows SQS, Kinesis and DynamoDB
events but not Amazon MQ: the same messages go through it as SQS records), with the same waits as
`asyncio.sleep`: all messages at once, so the fastest possible, and what you give up for
ordering, measured.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType, async_process_partial_response

from performance import Figure, quiet_handler
from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.batch import Ordering
from rabbitmq_consumer.keys import parse_key
from rabbitmq_consumer.messages import Message
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, build_event, build_record
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext

LATENCY = 0.020  # seconds of I/O per message, on average
BATCH = 100
PARALLELISM = 16
KEY_HEADER = "customer-id"


def latency(sequence: int) -> float:
    """15 to 25 ms, spread evenly over the messages of a batch, the same in every run."""
    return LATENCY + 0.010 * ((sequence * 37) % BATCH / BATCH - 0.5)


def keyed_event(keys: int) -> dict[str, Any]:
    """A batch of `BATCH` messages spread over `keys` customers, in delivery order."""
    records = []
    for index in range(BATCH):
        body = json.dumps({"sequence": index}).encode()
        properties = pika.BasicProperties(
            content_type="application/json",
            message_id=f"p6-{index:03d}",
            headers={KEY_HEADER: f"customer-{index % keys}"},
        )
        records.append(build_record(body, properties, False))
    return build_event(LOCAL_BROKER_ARN, "orders", "/", records)


class Recorder:
    """Business logic that waits `LATENCY` and records, per key, the order messages ran in."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.order: dict[str, list[int]] = {}

    def ran(self, key: str, sequence: int) -> None:
        with self.lock:
            self.order.setdefault(key, []).append(sequence)

    def __call__(self, message: Message) -> None:
        time.sleep(latency(message.payload["sequence"]))
        self.ran(str(message.properties.headers[KEY_HEADER]), message.payload["sequence"])

    def violations(self) -> int:
        """Messages that ran after a later message of their key had run."""
        return sum(
            sum(1 for before, after in itertools.pairwise(sequences) if after < before)
            for sequences in self.order.values()
        )


@contextlib.contextmanager
def handler_with(ordering: Ordering, recorder: Recorder, scratch: Path) -> Iterator[None]:
    original_config, original_process = handler.config, business_logic.process
    handler.config = dataclasses.replace(handler.config, ordering=ordering)
    business_logic.process = recorder
    try:
        with quiet_handler(scratch / "p6-dead-letters.jsonl"):
            yield
    finally:
        handler.config, business_logic.process = original_config, original_process


def run_handler(event: dict[str, Any], ordering: Ordering, scratch: Path) -> tuple[float, int]:
    """Seconds for the handler on one batch, and the order violations."""
    recorder = Recorder()
    with handler_with(ordering, recorder, scratch):
        started = time.perf_counter()
        summary = handler.lambda_handler(event, LocalLambdaContext("bench", timeout_seconds=900))
        elapsed = time.perf_counter() - started
    assert summary["processed"] == BATCH, summary
    return elapsed, recorder.violations()


def run_async_batch_processor(event: dict[str, Any]) -> tuple[float, int]:
    """Seconds for Powertools' AsyncBatchProcessor on the same messages as SQS records."""
    (records,) = event["rmqMessagesByQueue"].values()
    sqs_event = {
        "Records": [
            {
                "messageId": record["basicProperties"]["messageId"],
                "receiptHandle": "handle",
                "body": json.dumps(
                    {"key": record["basicProperties"]["headers"][KEY_HEADER]["bytes"], "data": record["data"]}
                ),
                "attributes": {},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:p6",
                "awsRegion": "eu-west-1",
            }
            for record in records
        ]
    }
    recorder = Recorder()

    async def record_handler(record: Any) -> None:
        body = json.loads(record.body)
        sequence = json.loads(base64.b64decode(body["data"]))["sequence"]
        await asyncio.sleep(latency(sequence))
        recorder.ran(bytes(body["key"]).decode(), sequence)

    processor = AsyncBatchProcessor(event_type=EventType.SQS)
    started = time.perf_counter()
    response = async_process_partial_response(
        event=sqs_event, record_handler=record_handler, processor=processor, context=LocalLambdaContext("bench")
    )
    elapsed = time.perf_counter() - started
    assert response == {"batchItemFailures": []}, response
    return elapsed, recorder.violations()


def p6_lanes(repeat: int, scratch: Path) -> list[Figure]:
    sequential = Ordering()
    lanes = Ordering(parse_key(f"header:{KEY_HEADER}", "ORDERING_KEY"), PARALLELISM)
    figures = []
    baselines: list[float] = []
    for figure_id, keys, target in (("P6", BATCH, ">= 10"), ("P6k", 4, ">= 3.5")):
        event = keyed_event(keys)
        ours, theirs, violations = [], [], 0
        for _ in range(repeat):
            base_seconds, base_violations = run_handler(event, sequential, scratch)
            assert base_violations == 0
            theirs.append(base_seconds)
            seconds, found = run_handler(event, lanes, scratch)
            ours.append(seconds)
            violations += found
        baselines += theirs
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        figures.append(
            Figure(
                figure_id,
                f"handler, {BATCH} messages x {LATENCY * 1000:.0f} ms, {keys} keys, parallelism {PARALLELISM}; "
                f"order violations {violations}",
                "msg/s",
                BATCH / ours_s,
                BATCH / theirs_s,
                theirs_s / ours_s if violations == 0 else 0.0,  # a violation fails the figure
                target,
            )
        )
    event = keyed_event(4)
    runs = [run_async_batch_processor(event) for _ in range(repeat)]
    anchor = statistics.median(seconds for seconds, _ in runs)
    baseline = statistics.median(baselines)
    figures.append(
        Figure(
            "P6a",
            f"Powertools AsyncBatchProcessor, {BATCH} at once, 4 keys; order violations "
            f"{sum(found for _, found in runs)}",
            "msg/s",
            BATCH / anchor,
            BATCH / baseline,
            baseline / anchor,
            "",
        )
    )
    return figures
