"""Dead-letter sinks (SQS through moto, JSON lines) and choosing one by configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from rabbitmq_consumer.config import ConfigError, dead_letter_sink, load_config
from rabbitmq_consumer.dead_letters import DeadLetter, JsonLinesSink, SqsSink, reject
from rabbitmq_consumer.errors import DeadLetterError
from support import record

pytestmark = pytest.mark.unit


def letters(count: int, body: bytes = b"{oops") -> list[DeadLetter]:
    return [
        reject(f"reason {i}", "orders", "/", "arn:aws:mq:eu-west-1:1:broker:b:b-1", record(body)) for i in range(count)
    ]


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="eu-west-1")


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        batch = response.get("Messages", [])
        if not batch:
            return bodies
        bodies += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch]
        )


def test_sqs_sink_sends_every_dead_letter_in_batches_of_ten(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    sent = letters(23)
    calls = []
    sink = SqsSink(url, client=sqs)
    original = sqs.send_message_batch

    def counting(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Entries"]))
        return original(**kwargs)

    sqs.send_message_batch = counting
    sink.send(sent)
    assert calls == [10, 10, 3]
    received = receive_all(sqs, url)
    assert {r["reason"]: r["record"] for r in received} == {d.reason: d.record for d in sent}


def test_sqs_sink_creates_its_client_lazily(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    url = sqs.create_queue(QueueName="lazy")["QueueUrl"]
    sink = SqsSink(url)
    assert sink._client is None
    sink.send(letters(1))
    assert len(receive_all(sqs, url)) == 1


def test_sqs_sink_failure_is_retryable(sqs: Any) -> None:
    missing = "https://sqs.eu-west-1.amazonaws.com/123456789012/missing"
    with pytest.raises(DeadLetterError, match=r"cannot send dead letters to .*missing"):
        SqsSink(missing, client=sqs).send(letters(1))


def test_sqs_sink_refuses_a_dead_letter_larger_than_sqs_allows(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="big")["QueueUrl"]
    with pytest.raises(DeadLetterError, match="exceeds SQS's 1048576-byte limit"):
        SqsSink(url, client=sqs).send(letters(1, body=b"x" * 900_000))
    assert receive_all(sqs, url) == []


def test_sqs_sink_splits_batches_by_size(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="sized")["QueueUrl"]
    sent = letters(4, body=b"x" * 300_000)  # ~400 KB each in base64: two fit in a 1 MiB request
    SqsSink(url, client=sqs).send(sent)
    assert len(receive_all(sqs, url)) == 4


def test_json_lines_sink_appends(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dead.jsonl"
    sink = JsonLinesSink(path)
    sink.send(letters(2))
    sink.send(letters(1))
    assert [json.loads(line)["reason"] for line in path.read_text().splitlines()] == [
        "reason 0",
        "reason 1",
        "reason 0",
    ]


def test_json_lines_sink_failure_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DeadLetterError, match="cannot append dead letters"):
        JsonLinesSink(blocker / "dead.jsonl").send(letters(1))


def test_sink_chosen_by_configuration(tmp_path: Path) -> None:
    sqs_sink = dead_letter_sink(load_config({"DEAD_LETTER_QUEUE_URL": "https://sqs.example/q"}))
    assert isinstance(sqs_sink, SqsSink)
    assert sqs_sink.queue_url == "https://sqs.example/q"
    file_sink = dead_letter_sink(load_config({"DEAD_LETTER_FILE": str(tmp_path / "d.jsonl")}))
    assert isinstance(file_sink, JsonLinesSink)
    assert file_sink.path == tmp_path / "d.jsonl"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no dead-letter destination: set DEAD_LETTER_QUEUE_URL"),
        ({"DEAD_LETTER_QUEUE_URL": "u", "DEAD_LETTER_FILE": "f"}, "set only one dead-letter destination"),
    ],
)
def test_sink_configuration_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dead_letter_sink(load_config(environ))


def test_config_defaults() -> None:
    config = load_config({})
    assert (config.service_name, config.metrics_namespace) == ("rabbitmq-consumer", "RabbitMQConsumer")
    config = load_config({"POWERTOOLS_SERVICE_NAME": "svc", "POWERTOOLS_METRICS_NAMESPACE": "Ns"})
    assert (config.service_name, config.metrics_namespace) == ("svc", "Ns")


def stubbed_sqs() -> tuple[Any, Stubber]:
    """An SQS client whose answers the test gives, checked against SQS's API model by botocore's
    Stubber: moto never answers SendMessageBatch with per-entry failures, SQS does ("you should
    check for batch errors even when the call returns an HTTP status code of 200", SQS API
    Reference, SendMessageBatch)."""
    client = boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/dead-letters"


def batch_answer(ids: list[str], failed: list[str]) -> dict[str, Any]:
    return {
        "Successful": [{"Id": i, "MessageId": f"m-{i}", "MD5OfMessageBody": "0" * 32} for i in ids if i not in failed],
        "Failed": [{"Id": i, "SenderFault": False, "Code": "InternalError", "Message": "try again"} for i in failed],
    }


def test_entries_sqs_refuses_in_a_200_answer_fail_the_send() -> None:
    # GIVEN SQS accepting the request but refusing one entry of it
    client, stubber = stubbed_sqs()
    stubber.add_response("send_message_batch", batch_answer(["0", "1", "2"], failed=["1"]))
    # WHEN three dead letters are sent THEN the send fails, so the invocation fails and the broker
    # keeps the message SQS refused
    with stubber, pytest.raises(DeadLetterError, match=r"SQS refused 1 dead letter.*InternalError: try again"):
        SqsSink(QUEUE_URL, client=client).send(letters(3))
    stubber.assert_no_pending_responses()


def test_a_partial_send_fails_after_the_first_chunk_is_stored() -> None:
    # GIVEN SQS storing the first request of ten and refusing the second one's entries
    client, stubber = stubbed_sqs()
    stubber.add_response("send_message_batch", batch_answer([str(i) for i in range(10)], failed=[]))
    stubber.add_response("send_message_batch", batch_answer(["0", "1"], failed=["0", "1"]))
    # WHEN twelve dead letters are sent THEN the second request's refusal fails the send: the retried
    # batch sends them all again (the first ten twice: duplicates in SQS, nothing lost)
    with stubber, pytest.raises(DeadLetterError, match="SQS refused 2 dead letter"):
        SqsSink(QUEUE_URL, client=client).send(letters(12))
    stubber.assert_no_pending_responses()
