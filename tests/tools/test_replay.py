"""scripts/replay.py: dead letters from a file or SQS (moto) back onto the work queue, with
their original bodies and properties; what was replayed leaves the file or the queue, so a
second run does not publish it again. Dead letters stored in S3 are in
test_large_dead_letters.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pika
import pytest
from moto import mock_aws

from rabbitmq_admin.topology import Topology
from rabbitmq_consumer import handler
from rabbitmq_consumer.dead_letters import SqsSink
from rabbitmq_tools import replay, send
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import drain, event_of, message_count, record, sample

pytestmark = pytest.mark.integration

REFUSED = json.dumps(sample("m-1", reject="no such customer")).encode()


def rejected_event() -> dict[str, Any]:
    """Two messages the handler rejects (one with headers), and one it cannot decode at all."""
    return event_of(
        [
            record(
                REFUSED,
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
    assert body == REFUSED
    assert (props.content_type, props.correlation_id, props.timestamp) == ("application/json", "c-1", 1_795_960_861)
    assert (props.headers["tenant"], props.headers["n"]) == ("acme", 3)
    assert props.headers["x-replayed-reason"].startswith("no such customer")
    assert messages["m-2"][1] == b"{oops"


def test_replay_from_a_file(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN dead letters the handler wrote
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    capsys.readouterr()
    unrestorable = dead_letter_file.read_text().splitlines()[2]
    # WHEN they are listed, then replayed
    assert replay.main(["--file", str(dead_letter_file), "--dry-run"]) == 0
    listed = capsys.readouterr()
    assert listed.out.splitlines()[0].startswith("m-1: no such customer")
    assert "skipped a dead letter that cannot be restored" in listed.err
    code = replay.main(["--file", str(dead_letter_file), "--url", broker_url, "--queue", topology.queue])
    # THEN the two restorable ones are back on the queue, as they were published, and out of
    # the file: only the one that cannot be restored is left
    out = capsys.readouterr().out
    assert code == 0
    assert f"replayed 2 dead letter(s) to queue '{topology.queue}'" in out
    assert f"removed them from {dead_letter_file} (1 line(s) left)" in out
    check_replayed(channel, topology.queue)
    assert dead_letter_file.read_text().splitlines() == [unrestorable]
    # AND a second run publishes nothing again
    assert replay.main(["--file", str(dead_letter_file), "--url", broker_url, "--queue", topology.queue]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == "0 dead letter(s)"
    assert message_count(channel, topology.queue) == 0


def test_replay_from_a_file_with_keep_file_says_what_a_second_run_repeats(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    before = dead_letter_file.read_text()
    capsys.readouterr()
    args = ["--file", str(dead_letter_file), "--url", broker_url, "--queue", topology.queue, "--keep-file"]
    assert replay.main(args) == 0
    out, err = capsys.readouterr()
    assert f"({dead_letter_file} is left as it is)" in out
    assert f"warning: {dead_letter_file} still holds the 2 replayed dead letter(s): a second run publishes them" in err
    assert dead_letter_file.read_text() == before
    check_replayed(channel, topology.queue)


def test_dead_letters_appended_while_replaying_stay_in_the_file(
    broker_url: str,
    channel: Any,
    topology: Topology,
    dead_letter_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a dead-letter file, and the handler rejecting one more message while replay.py publishes
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    late = record(b"{late", pika.BasicProperties(content_type="application/json", message_id="m-late"))
    publish = send.publish_messages

    def publish_while_the_handler_appends(*args: Any, **kwargs: Any) -> Any:
        result = publish(*args, **kwargs)
        handler.lambda_handler(event_of([late]), LocalLambdaContext("replay"))
        return result

    monkeypatch.setattr(replay, "publish_messages", publish_while_the_handler_appends)
    # WHEN the file is replayed
    assert replay.main(["--file", str(dead_letter_file), "--url", broker_url, "--queue", topology.queue]) == 0
    # THEN the replayed lines are gone, and the line appended meanwhile is kept
    ids = [
        json.loads(line)["record"]["basicProperties"]["messageId"] for line in dead_letter_file.read_text().splitlines()
    ]
    assert ids == ["m-3", "m-late"]
    assert "(2 line(s) left)" in capsys.readouterr().out


def test_a_file_is_left_as_it_is_when_the_broker_does_not_confirm(
    broker_url: str,
    topology: Topology,
    dead_letter_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    before = dead_letter_file.read_text()
    monkeypatch.setattr(replay, "publish_messages", lambda *_args, **_kwargs: unconfirmed(2))
    code = replay.main(["--file", str(dead_letter_file), "--url", broker_url, "--queue", topology.queue])
    assert code == send.NOT_CONFIRMED
    assert "no dead letter was removed" in capsys.readouterr().err
    assert dead_letter_file.read_text() == before


@pytest.mark.parametrize(
    ("properties", "cause"),
    [
        ({"priority": "high"}, "basicProperties.priority: expected an integer or null, got string"),
        ({"headers": ["x"]}, "basicProperties.headers: expected an object or null, got array"),
        ({"timestamp": "None"}, "basicProperties.timestamp: 'None' is not a timestamp"),
        ({"headers": {"ratio": 0.5}}, "UnsupportedAMQPFieldException"),  # pika cannot publish a float header
        ({"priority": 300}, "ubyte format requires"),
    ],
)
def test_a_dead_letter_whose_properties_cannot_be_published_is_skipped(
    properties: dict[str, Any], cause: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = record(REFUSED, pika.BasicProperties(content_type="application/json", message_id="m-odd"))
    rec["basicProperties"].update(properties)
    path = tmp_path / "dead-letters.jsonl"
    path.write_text(json.dumps({"reason": "r", "record": rec}) + "\n")
    assert replay.main(["--file", str(path), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "skipped a dead letter that cannot be restored" in err
    assert cause in err
    assert err.splitlines()[-1] == "0 dead letter(s)"


def unconfirmed(count: int) -> Any:
    """What publish_messages returns when the broker confirmed none of `count` messages."""
    return SimpleNamespace(all_confirmed=False, confirmed=0, nacked=count, unroutable=0)


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("sqs", region_name="eu-west-1")


def test_replay_from_sqs_deletes_what_was_replayed(
    broker_url: str,
    channel: Any,
    topology: Topology,
    sqs: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = sqs.create_queue(QueueName="dead-letters")["QueueUrl"]
    monkeypatch.setattr(handler, "sink", lambda: SqsSink(url, client=sqs))
    handler.lambda_handler(rejected_event(), LocalLambdaContext("replay"))
    capsys.readouterr()
    code = replay.main(["--sqs-url", url, "--url", broker_url, "--queue", topology.queue, "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == 2
    check_replayed(channel, topology.queue)
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


def test_keep_file_goes_with_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        replay.main(["--keep-file"])
    assert "--keep-file goes with --file" in capsys.readouterr().err


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["--file", str(tmp_path / "missing.jsonl")]) == send.USAGE
    assert "cannot read the dead-letter file" in capsys.readouterr().err


def test_a_file_that_is_not_utf8_is_refused_and_left_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = record(REFUSED, pika.BasicProperties(content_type="application/json", message_id="m-1"))
    path = tmp_path / "dead-letters.jsonl"
    content = (json.dumps({"reason": "r", "record": rec}) + "\n").encode() + b"\xff\xfe latin-1 caf\xe9\n"
    path.write_bytes(content)
    code = replay.main(["--file", str(path), "--url", "amqp://localhost:1/"])
    err = capsys.readouterr().err
    assert code == send.USAGE
    assert err.startswith(f"error: {path} is not UTF-8 text (byte ")
    assert "nothing was replayed or removed" in err
    assert err.count("\n") == 1
    assert path.read_bytes() == content


@pytest.mark.parametrize("missing", ["dead_letter_queue_url", "dead_letter_bucket"])
def test_outputs_without_the_dead_letter_queue_are_stale(
    missing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {"dead_letter_queue_url": "https://sqs.eu-west-1.amazonaws.com/1/dl", "dead_letter_bucket": "b"}
    del values[missing]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({name: {"value": value} for name, value in values.items()}))
    code = replay.main(["--outputs", str(outputs), "--dry-run"])
    err = capsys.readouterr().err
    assert code == send.OUTPUTS
    assert err == f"error: the Terraform outputs lack {missing}: they are stale, run terraform apply again\n"


def test_dead_letter_bucket_goes_with_sqs_url(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        replay.main(["--dead-letter-bucket", "b"])
    assert exit_info.value.code == send.USAGE
    assert "--dead-letter-bucket goes with --sqs-url" in capsys.readouterr().err
