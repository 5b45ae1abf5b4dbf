"""The Lambda handler end to end, in-process: summary, logs, metrics, dead letters."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest

from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.config import load_config
from rabbitmq_consumer.decoding import InvalidEvent
from rabbitmq_consumer.messages import Message
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import ROOT, event_of, load_event, record, sample, sample_event

pytestmark = pytest.mark.unit


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """What the handler's Powertools logger writes, one JSON object per line."""
    stream = io.StringIO()
    registered = handler.logger.registered_handler
    previous = registered.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    registered.setStream(previous)  # type: ignore[attr-defined]


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in map(json.loads, filter(None, text.splitlines())) if "_aws" in doc]


def test_batch_summary_log_and_metrics(
    dead_letter_file: Path,
    lambda_context: LocalLambdaContext,
    logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN 3 messages and one that business logic refuses
    bad = sample("bad", reject="no such customer")
    records = [
        *sample_event(3)["rmqMessagesByQueue"]["orders::/"],
        record(json.dumps(bad).encode(), pika.BasicProperties(content_type="application/json", message_id="bad")),
    ]
    # WHEN the handler runs
    summary = handler.lambda_handler(event_of(records), lambda_context)
    # THEN it returns the counts per queue
    assert summary == {
        "messages": 4,
        "processed": 3,
        "deadLettered": 1,
        "skipped": 0,
        "queues": {"orders::/": {"processed": 3, "deadLettered": 1, "skipped": 0}},
    }
    # AND the rejected message is in the dead-letter file with its reason
    (letter,) = [json.loads(line) for line in dead_letter_file.read_text().splitlines()]
    assert letter["record"] == records[3]
    assert letter["reason"] == "no such customer"
    # AND it logs one warning for the rejected message and one INFO summary, with the Lambda context
    logged = lines(logs)
    assert [(line["level"], line["message"]) for line in logged] == [
        ("WARNING", "message rejected: will be dead-lettered"),
        ("INFO", "batch processed"),
    ]
    assert logged[0]["messageId"] == "bad"
    assert logged[1]["function_name"] == "test-rabbitmq-consumer"
    assert logged[1]["function_request_id"] == lambda_context.aws_request_id
    assert logged[1]["processed"] == 3
    # AND publishes EMF metrics with queue and vhost dimensions
    (document,) = emf_documents(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "RabbitMQConsumer"
    assert directive["Dimensions"] == [["Queue", "VirtualHost", "service"]]
    assert {m["Name"] for m in directive["Metrics"]} == {"BatchSize", "Processed", "DeadLettered"}
    assert (document["Queue"], document["VirtualHost"]) == ("orders", "/")
    assert (document["BatchSize"], document["Processed"], document["DeadLettered"]) == ([4.0], [3.0], [1.0])


def test_metrics_per_queue(
    dead_letter_file: Path, lambda_context: LocalLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample_event(2, "orders", "/")
    event["rmqMessagesByQueue"].update(sample_event(5, "orders", "eu")["rmqMessagesByQueue"])
    handler.lambda_handler(event, lambda_context)
    documents = emf_documents(capsys.readouterr().out)
    assert [(d["VirtualHost"], d["Processed"]) for d in documents] == [("/", [2.0]), ("eu", [5.0])]


def test_per_message_lines_at_debug(
    dead_letter_file: Path, lambda_context: LocalLambdaContext, logs: io.StringIO
) -> None:
    handler.logger.setLevel("DEBUG")
    try:
        handler.lambda_handler(sample_event(2), lambda_context)
    finally:
        handler.logger.setLevel("INFO")
    messages = [line["message"] for line in lines(logs)]
    assert messages.count("message processed") == 2
    assert messages[-1] == "batch processed"


def test_aws_sample_reaches_business_logic_as_text(
    dead_letter_file: Path, lambda_context: LocalLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN business logic that keeps what it is given
    seen: list[Message] = []
    monkeypatch.setattr(business_logic, "process", seen.append)
    # WHEN the handler runs AWS's sample event, whose body is text/plain
    summary = handler.lambda_handler(load_event("aws_sample"), lambda_context)
    # THEN business logic gets its message, the body as a str, and the message is processed
    assert (summary["processed"], summary["deadLettered"]) == (1, 0)
    (message,) = seen
    assert (message.queue, message.payload) == ("pizzaQueue", '{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}')


def test_wrong_event_source_fails_the_invocation(dead_letter_file: Path, lambda_context: LocalLambdaContext) -> None:
    with pytest.raises(InvalidEvent, match="unsupported event source 'aws:sqs'"):
        handler.lambda_handler({"eventSource": "aws:sqs", "Records": []}, lambda_context)


def test_no_dead_letter_destination_fails_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, lambda_context: LocalLambdaContext
) -> None:
    monkeypatch.delenv("DEAD_LETTER_FILE", raising=False)
    monkeypatch.delenv("DEAD_LETTER_QUEUE_URL", raising=False)
    monkeypatch.setattr(handler, "config", load_config())
    handler.sink.cache_clear()
    try:
        with pytest.raises(ValueError, match="set DEAD_LETTER_QUEUE_URL"):
            handler.lambda_handler(sample_event(1), lambda_context)
    finally:
        handler.sink.cache_clear()


def test_importing_the_handler_loads_no_aws_sdk() -> None:
    # A cold start pays for every import: boto3 must wait until the SQS sink needs it. (Powertools
    # itself imports botocore's top-level package, which is cheap; its client machinery is not.)
    # What business logic imports is the user's: an empty module stands in for it.
    modules = ("boto3", "botocore.session", "botocore.client", "aws_xray_sdk")
    code = (
        "import sys, types; sys.modules['rabbitmq_consumer.business_logic'] = types.ModuleType('business_logic'); "
        f"import rabbitmq_consumer.handler; print([m for m in {modules!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={},
    )
    assert out.stdout.strip() == "[]"
