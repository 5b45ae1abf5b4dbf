"""scripts/replay.py: dead letters from a file or SQS (moto) back onto the work queue, with
their original bodies and properties."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pika
import pytest
from moto import mock_aws

from rabbitmq_consumer import handler
from rabbitmq_consumer.dead_letters import SqsSink
from rabbitmq_tools import replay, send
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import drain, event_of, order, record

pytestmark = pytest.mark.integration

BAD_TOTAL = json.dumps(order("ord-bad", total="0.01")).encode()


def rejected_event() -> dict[str, Any]:
    """Two messages the handler rejects (one with headers), and one it cannot decode at all."""
    return event_of(
        [
            record(
                BAD_TOTAL,
                pika.BasicProperties(
                    content_type="application/json",
                    message_id="m-1",
                    correlation_id="c-1",
                    timestamp=1_795_960_861,
                    headers={"tenant": "acme", "n": 3},
                    user_id="guest",
                ),
            ),
            record(b"{oops", pika.BasicProperties(content_type="application/json", message_id="m-2")),
            {**record(b"{}", pika.BasicProperties(message_id="m-3")), "data": "%%%"},
        ]
    )


def check_replayed(channel: Any, queue: str) -> None:
    messages = {props.message_id: (props, body) for props, body in drain(channel, queue)}
    assert set(messages) == {"m-1", "m-2"}  # m-3's body was never known: it stays a dead letter
    props, body = messages["m-1"]
    assert body == BAD_TOTAL
    assert (props.content_type, props.correlation_id, props.timestamp) == ("application/json", "c-1", 1_795_960_861)
    assert (props.headers["tenant"], props.headers["n"]) == ("acme", 3)
    assert props.headers["x-replayed-reason"].startswith("total: 0.01 does not equal")
    assert messages["m-2"][1] == b"{oops"


def test_replay_from_a_file(
    broker_url: str, channel: Any, queue_name: str, dead_letter_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN dead letters the handler wrote
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    capsys.readouterr()
    # WHEN they are listed, then replayed
    assert replay.main(["--file", str(dead_letter_file), "--dry-run"]) == 0
    listed = capsys.readouterr()
    assert listed.out.splitlines()[0].startswith("m-1: total: 0.01 does not equal")
    assert "skipped a dead letter that cannot be restored" in listed.err
    code = replay.main(["--file", str(dead_letter_file), "--url", broker_url, "--queue", queue_name])
    # THEN the two restorable ones are back on the queue, as they were published
    out = capsys.readouterr().out
    assert code == 0
    assert f"replayed 2 dead letter(s) to queue '{queue_name}'" in out
    check_replayed(channel, queue_name)


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("sqs", region_name="eu-west-1")


def test_replay_from_sqs_deletes_what_was_replayed(
    broker_url: str,
    channel: Any,
    queue_name: str,
    sqs: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    monkeypatch.setattr(handler, "sink", lambda: SqsSink(url, client=sqs))
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    capsys.readouterr()
    code = replay.main(["--sqs-url", url, "--url", broker_url, "--queue", queue_name, "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == 2
    check_replayed(channel, queue_name)
    # only the dead letter that could not be restored is left (hidden for a while by the receive)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1
    )


def test_nothing_to_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    assert replay.main(["--file", str(empty)]) == 0
    assert capsys.readouterr().err.strip() == "0 dead letter(s)"


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["--file", str(tmp_path / "missing.jsonl")]) == send.USAGE
    assert "cannot read the dead-letter file" in capsys.readouterr().err
