"""P5: idempotent processing, our batch-level store against Powertools' per-record idempotency,
against the same DynamoDB server over HTTP, in the same run.

| id  | what                                                  | baseline                                     | target |
|-----|-------------------------------------------------------|----------------------------------------------|--------|
| P5  | batches of 100 new messages, the handler's policy     | Powertools `idempotent_function` per message | >= 5   |
| P5r | the same, half of each batch completed before (retry) | the same                                     | info   |

(Powertools with its `DynamoDBPersistenceLayer`, as its documentation shows it.)

Business logic does no I/O and both run sequentially (parallelism 1): what is measured is the
store's cost. The server is moto's, in a process of its own, reached over HTTP on loopback, so a
round trip costs what the server takes to answer, not a network's latency; DynamoDB's own is
several milliseconds, which would widen the gap. Round trips per batch are counted on each
client (botocore's `before-call` event).
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import boto3
import pika
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function
from botocore.config import Config

from performance import Figure
from rabbitmq_consumer.batch import Idempotency, process_batch
from rabbitmq_consumer.decoding import decode_record
from rabbitmq_consumer.idempotency import DynamoDBStore
from rabbitmq_consumer.keys import parse_key
from rabbitmq_consumer.messages import Message
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, build_event, build_record
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext

BATCH = 100
REGION = "eu-west-1"


class NoSink:
    def send(self, dead_letters: Any) -> None:
        raise AssertionError("nothing is dead-lettered in P5")


@contextlib.contextmanager
def dynamodb_server() -> Iterator[str]:
    """moto's server in a process of its own; yields its endpoint."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("moto's server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


class CountingClient:
    """A DynamoDB client of the server that counts its requests."""

    def __init__(self, endpoint: str) -> None:
        self.client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 1}),
        )
        self.requests = 0
        self.client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, **kwargs: Any) -> None:
        self.requests += 1

    def table(self, key: str) -> str:
        name = f"p5-{uuid.uuid4().hex[:8]}"
        self.client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name


def batch_event(run: str) -> dict[str, Any]:
    records = [
        build_record(
            json.dumps({"n": index}).encode(),
            pika.BasicProperties(content_type="application/json", message_id=f"{run}-{index:03d}"),
            False,
        )
        for index in range(BATCH)
    ]
    return build_event(LOCAL_BROKER_ARN, "orders", "/", records)


def no_io(message: Message) -> None:
    """Business logic that does no I/O: the store is all there is to measure."""


def ours(counting: CountingClient) -> Callable[[dict[str, Any]], None]:
    store = DynamoDBStore(counting.table("key"), 3600, client=counting.client)
    idempotency = Idempotency(store, parse_key("message-id", "IDEMPOTENCY_KEY"))

    def run(event: dict[str, Any]) -> None:
        process_batch(event, no_io, NoSink(), _quiet, idempotency=idempotency)

    return run


def powertools(counting: CountingClient) -> Callable[[dict[str, Any]], None]:
    """Powertools' idempotency as its documentation shows it for a batch: the record handler
    decorated with `idempotent_function`, keyed on the message id, called once per message."""
    layer = DynamoDBPersistenceLayer(table_name=counting.table("id"), boto3_client=counting.client)
    config = IdempotencyConfig(event_key_jmespath="messageId", expires_after_seconds=3600)
    config.register_lambda_context(LocalLambdaContext("bench"))

    def record_handler(record: dict[str, Any]) -> None:
        no_io(record["message"])

    handle = cast(
        Callable[..., None],
        idempotent_function(data_keyword_argument="record", persistence_store=layer, config=config)(record_handler),
    )

    def run(event: dict[str, Any]) -> None:
        for key, records in event["rmqMessagesByQueue"].items():
            queue, _, vhost = key.rpartition("::")
            for raw in records:
                message = decode_record(queue, vhost, raw)
                handle(record={"messageId": message.message_id, "message": message})

    return run


def _half_done(run: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
    """Complete the first half of the batch, as a failed first delivery would have."""
    ((key, records),) = event["rmqMessagesByQueue"].items()
    run({**event, "rmqMessagesByQueue": {key: records[: BATCH // 2]}})


class _Quiet:
    """A logger that logs nothing: the batch policy's lines are not what is measured."""

    def isEnabledFor(self, level: int) -> bool:
        return False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


_quiet = _Quiet()


def measure(
    counting: CountingClient, make: Callable[[CountingClient], Callable[[dict[str, Any]], None]], half_done: bool
) -> tuple[float, float]:
    """(seconds for one batch, requests for it)."""
    run = make(counting)
    event = batch_event(uuid.uuid4().hex[:10])
    if half_done:
        _half_done(run, event)
    before = counting.requests
    started = time.perf_counter()
    run(event)
    return time.perf_counter() - started, counting.requests - before


def p5_idempotency(repeat: int) -> list[Figure]:
    figures = []
    with dynamodb_server() as endpoint:
        counting = CountingClient(endpoint)
        measure(counting, ours, False)  # warm both
        measure(counting, powertools, False)
        for figure_id, half_done, target in (("P5", False, ">= 5"), ("P5r", True, "")):
            ours_runs, theirs_runs = [], []
            for _ in range(repeat):
                theirs_runs.append(measure(counting, powertools, half_done))
                ours_runs.append(measure(counting, ours, half_done))
            ours_s = statistics.median(seconds for seconds, _ in ours_runs)
            theirs_s = statistics.median(seconds for seconds, _ in theirs_runs)
            ours_calls = statistics.median(calls for _, calls in ours_runs)
            theirs_calls = statistics.median(calls for _, calls in theirs_runs)
            what = "new messages" if not half_done else "half completed before (a retried batch)"
            figures.append(
                Figure(
                    figure_id,
                    f"idempotent batches of {BATCH}, {what}; store round trips per batch {ours_calls:.0f} vs "
                    f"Powertools {theirs_calls:.0f}",
                    "msg/s",
                    BATCH / ours_s,
                    BATCH / theirs_s,
                    theirs_s / ours_s,
                    target,
                )
            )
    return figures


if __name__ == "__main__":  # python benchmarks/idempotency.py: P5 alone
    for figure in p5_idempotency(3):
        print(figure)
