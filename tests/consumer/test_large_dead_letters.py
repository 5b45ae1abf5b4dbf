"""Dead letters of any size the event can carry: those too large for SQS go to S3, with a
pointer in SQS in the Amazon SQS Extended Client's format (moto's S3 and SQS), and replay.py
brings them back, deleting the S3 object only after the broker confirmed the message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

import boto3
import botocore.exceptions
import pika
import pytest
from moto import mock_aws

from rabbitmq_admin.topology import Topology
from rabbitmq_consumer import handler
from rabbitmq_consumer.config import dead_letter_sink, load_config
from rabbitmq_consumer.dead_letters import (
    EXTENDED_PAYLOAD_SIZE,
    S3_KEY_PREFIX,
    S3_POINTER_CLASS,
    SQS_INLINE_MAX_BYTES,
    DeadLetter,
    SqsSink,
    parse_s3_pointer,
    reject,
)
from rabbitmq_consumer.errors import DeadLetterError
from rabbitmq_tools import replay, send
from rabbitmq_tools.local_event_source_mapping import LocalEventSourceMapping, MappingSettings
from rabbitmq_tools.send import OUTPUT_NAMES
from support import drain, json_properties, message_count, publish, record, sample

REGION: Final = "eu-west-1"
BUCKET = "dead-letters-bucket"
# As the Terraform AWS provider 5.x creates the queue: it sets MaximumMessageSize to 262,144
# unless told otherwise, and refuses more (SQS itself allows 1 MiB since August 2025).
PROVIDER_5_MAX_MESSAGE_SIZE = "262144"


@dataclass
class Aws:
    sqs: Any
    s3: Any
    queue_url: str

    def sink(self, bucket: str | None = BUCKET) -> SqsSink:
        return SqsSink(self.queue_url, client=self.sqs, bucket=bucket, s3_client=self.s3)

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the queue (received with all attributes, then made visible again)."""
        found: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
            ).get("Messages", [])
            if not batch:
                break
            found += batch
        for message in found:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return found

    def objects(self) -> list[str]:
        return [item["Key"] for item in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        url = sqs.create_queue(
            QueueName="dead-letters", Attributes={"MaximumMessageSize": PROVIDER_5_MAX_MESSAGE_SIZE}
        )["QueueUrl"]
        yield Aws(sqs, s3, url)


def from_sqs(aws: Aws) -> list[str]:
    """replay.py's options for the dead-letter queue and its bucket."""
    return ["--sqs-url", aws.queue_url, "--dead-letter-bucket", BUCKET]


def letter(size: int, reason: str = "no such customer") -> DeadLetter:
    """A dead letter whose record carries a body of `size` bytes (base64 makes it 4/3 larger)."""
    body = json.dumps(sample("m-big", note="x" * size)).encode()
    return reject(reason, "orders", "/", "arn:aws:mq:eu-west-1:1:broker:b:b-1", record(body))


@pytest.mark.unit
def test_a_dead_letter_that_fits_stays_inline(aws: Aws) -> None:
    sent = letter(1_000)
    aws.sink().send([sent])
    (message,) = aws.messages()
    assert json.loads(message["Body"])["reason"] == sent.reason
    assert "MessageAttributes" not in message
    assert aws.objects() == []


@pytest.mark.unit
def test_a_large_dead_letter_goes_to_s3_with_an_extended_client_pointer(aws: Aws) -> None:
    # GIVEN a dead letter of about 4 MB, as a 3 MB poison message makes
    sent = letter(3_000_000)
    # WHEN the sink sends it
    aws.sink().send([sent])
    # THEN SQS holds the extended client's pointer, and S3 the dead letter itself
    (message,) = aws.messages()
    (key,) = aws.objects()
    assert key.startswith(S3_KEY_PREFIX)
    assert json.loads(message["Body"]) == [S3_POINTER_CLASS, {"s3BucketName": BUCKET, "s3Key": key}]
    stored = aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert stored.decode() == sent.to_json()
    assert message["MessageAttributes"][EXTENDED_PAYLOAD_SIZE] == {
        "DataType": "Number",
        "StringValue": str(len(stored)),
    }
    assert parse_s3_pointer(message["Body"], message["MessageAttributes"]) == (BUCKET, key)


@pytest.mark.unit
def test_the_amazon_sqs_extended_client_reads_it(aws: Aws) -> None:
    # The standard tool: awslabs' Python extended client (PyPI amazon-sqs-extended-client).
    sent = letter(2_000_000)
    aws.sink().send([sent])
    with extended_client_session() as session:
        client: Any = session(region_name=REGION).client("sqs")
        client.large_payload_support = BUCKET
        (message,) = client.receive_message(QueueUrl=aws.queue_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"]) == json.loads(sent.to_json())


@contextmanager
def extended_client_session() -> Iterator[Any]:
    """The extended client's session class. Importing the library replaces boto3.Session, and
    boto3's default session, for the whole process: undo all of it on the way out."""
    saved = (boto3.Session, boto3.session.Session, boto3.DEFAULT_SESSION)
    boto3.DEFAULT_SESSION = None
    try:
        from sqs_extended_client.client import SQSExtendedClientSession

        yield SQSExtendedClientSession
    finally:
        boto3.Session, boto3.session.Session, boto3.DEFAULT_SESSION = saved  # type: ignore[misc]


@pytest.mark.unit
def test_a_batch_of_small_and_large_dead_letters(aws: Aws) -> None:
    sent = [letter(100, f"small {i}") for i in range(10)] + [letter(400_000, f"large {i}") for i in range(2)]
    aws.sink().send(sent)
    messages = aws.messages()
    assert len(messages) == 12
    assert sum(EXTENDED_PAYLOAD_SIZE in message.get("MessageAttributes", {}) for message in messages) == 2
    assert len(aws.objects()) == 2


@pytest.mark.unit
def test_without_a_bucket_a_dead_letter_over_1_mib_fails_the_invocation(aws: Aws) -> None:
    with pytest.raises(DeadLetterError, match="exceeds SQS's 1048576-byte limit and no bucket is configured: set "):
        aws.sink(bucket=None).send([letter(900_000)])
    assert aws.messages() == []


@pytest.mark.unit
def test_without_a_bucket_a_queue_with_a_lower_limit_refuses_it(aws: Aws) -> None:
    # the queue as provider 5.x makes it takes 256 KiB: the sink tries, SQS refuses, the batch fails
    with pytest.raises(DeadLetterError):
        aws.sink(bucket=None).send([letter(300_000)])
    assert aws.messages() == []


@pytest.mark.unit
def test_a_bucket_that_cannot_be_written_fails_the_invocation_and_sends_nothing(aws: Aws) -> None:
    with pytest.raises(DeadLetterError, match=r"cannot store a dead letter of \d+ bytes in s3://missing-bucket"):
        aws.sink(bucket="missing-bucket").send([letter(100), letter(300_000)])
    assert aws.messages() == []


@pytest.mark.unit
def test_the_bucket_comes_from_dead_letter_bucket() -> None:
    config = load_config({"DEAD_LETTER_QUEUE_URL": "https://sqs.example/q", "DEAD_LETTER_BUCKET": "b"})
    sink = dead_letter_sink(config)
    assert isinstance(sink, SqsSink)
    assert (sink.bucket, sink.inline_max_bytes) == ("b", SQS_INLINE_MAX_BYTES)
    unbounded = dead_letter_sink(load_config({"DEAD_LETTER_QUEUE_URL": "https://sqs.example/q"}))
    assert isinstance(unbounded, SqsSink)
    assert unbounded.bucket is None


@pytest.mark.unit
@pytest.mark.parametrize(
    "body",
    [
        "{}",
        "[]",
        '["software.amazon.payloadoffloading.PayloadS3Pointer"]',
        '["another.Pointer", {"s3BucketName": "b", "s3Key": "k"}]',
        '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b"}]',
        "[not json",
    ],
)
def test_what_is_not_a_pointer(body: str) -> None:
    assert parse_s3_pointer(body) is None


@pytest.mark.unit
def test_the_legacy_pointer_is_a_pointer() -> None:
    body = '["com.amazon.sqs.javamessaging.MessageS3Pointer", {"s3BucketName": "b", "s3Key": "k"}]'
    assert parse_s3_pointer(body, {"SQSLargePayloadSize": {"StringValue": "9"}}) == ("b", "k")


# --- a 3 MB poison message, end to end on the local broker --------------------------------


@pytest.fixture
def poisoned_queue(broker_url: str, channel: Any, topology: Topology) -> dict[str, bytes]:
    """The work queue with three good messages and a 3 MB one business logic refuses: {id: body}."""
    bodies = {f"good-{i}": json.dumps(sample(f"good-{i}")).encode() for i in range(3)}
    bodies["poison"] = json.dumps(sample("poison", reject="no such customer", note="x" * 3_000_000)).encode()
    ids = list(bodies)
    publish(channel, topology.queue, bodies.values(), lambda index: json_properties(ids[index]))
    return bodies


@pytest.mark.integration
@pytest.mark.fault_injection
def test_a_3_mb_poison_message_is_dead_lettered_through_s3_and_replayed(
    broker_url: str,
    channel: Any,
    topology: Topology,
    poisoned_queue: dict[str, bytes],
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the handler dead-lettering to SQS with a bucket, as deployed
    monkeypatch.setattr(handler, "sink", aws.sink)
    mapping = LocalEventSourceMapping(
        pika.URLParameters(broker_url), MappingSettings(topology.queue, batching_window=0.2), handler.lambda_handler
    )
    # WHEN the mapping runs: the batch succeeds, its batch-mates are processed
    stats = mapping.run(idle_timeout=1)
    assert (stats.messages, stats.failures, stats.dead_lettered) == (4, 0, 1)
    assert message_count(channel, topology.dead_letter_queue) == 0
    (message,) = aws.messages()
    (key,) = aws.objects()
    assert parse_s3_pointer(message["Body"], message["MessageAttributes"]) == (BUCKET, key)
    # AND replay.py brings the poison message back whole, then deletes its S3 object and SQS message
    capsys.readouterr()
    code = replay.main([*from_sqs(aws), "--url", broker_url, "--queue", topology.queue])
    assert code == 0, capsys.readouterr().err
    assert "deleted them from the dead-letter queue and 1 S3 object(s)" in capsys.readouterr().out
    ((props, body),) = drain(channel, topology.queue)
    assert body == poisoned_queue["poison"]
    assert props.message_id == "poison"
    assert props.headers["x-replayed-reason"].startswith("no such customer")
    assert aws.objects() == []
    assert aws.messages() == []


@pytest.fixture
def stored_in_s3(aws: Aws) -> Aws:
    """One large dead letter, in S3 with its pointer in SQS."""
    aws.sink().send([letter(2_000_000)])
    return aws


@pytest.mark.integration
def test_nothing_is_deleted_when_the_broker_does_not_confirm(
    broker_url: str,
    topology: Topology,
    stored_in_s3: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(replay, "publish_messages", lambda *_args, **_kwargs: unconfirmed(1))
    code = replay.main([*from_sqs(stored_in_s3), "--url", broker_url, "--queue", topology.queue])
    assert code == send.NOT_CONFIRMED
    assert "no dead letter was removed" in capsys.readouterr().err
    assert len(stored_in_s3.objects()) == 1
    assert queue_depth(stored_in_s3) == 1


@pytest.mark.integration
def test_an_s3_object_that_cannot_be_deleted_keeps_its_sqs_message(
    broker_url: str,
    channel: Any,
    topology: Topology,
    stored_in_s3: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def refuse(**_kwargs: Any) -> Any:
        raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "DeleteObject")

    real_client = boto3.client

    def client(name: str, **kwargs: Any) -> Any:
        made = real_client(name, **kwargs)  # type: ignore[call-overload]
        if name == "s3":
            made.delete_object = refuse
        return made

    monkeypatch.setattr(boto3, "client", client)
    code = replay.main([*from_sqs(stored_in_s3), "--url", broker_url, "--queue", topology.queue])
    assert code == send.AWS
    assert "cannot delete s3://" in capsys.readouterr().err
    assert len(drain(channel, topology.queue)) == 1  # replayed, confirmed
    assert len(stored_in_s3.objects()) == 1  # kept: its SQS message still points to it
    assert queue_depth(stored_in_s3) == 1


@pytest.mark.integration
def test_a_pointer_whose_object_is_gone_is_skipped(
    broker_url: str, topology: Topology, stored_in_s3: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    (key,) = stored_in_s3.objects()
    stored_in_s3.s3.delete_object(Bucket=BUCKET, Key=key)
    assert replay.main([*from_sqs(stored_in_s3), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert f"skipped a dead letter whose body s3://{BUCKET}/{key} is gone" in err


def queue_depth(aws: Aws) -> int:
    """Visible and in flight: how many messages the queue still holds."""
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def unconfirmed(count: int) -> Any:
    """What publish_messages returns when the broker confirmed none of `count` messages."""
    return SimpleNamespace(all_confirmed=False, confirmed=0, nacked=count, unroutable=0)


# --- replay.py follows a pointer only into the deployment's dead-letter bucket and prefix -----


@dataclass
class Reads:
    """The S3 objects replay.py's clients read and deleted."""

    got: list[str]
    deleted: list[str]


@pytest.fixture
def s3_calls(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Reads:
    calls = Reads([], [])
    real_client = boto3.client

    def client(name: str, **kwargs: Any) -> Any:
        made = real_client(name, **kwargs)  # type: ignore[call-overload]
        if name == "s3":
            get, delete = made.get_object, made.delete_object

            def get_object(**call: Any) -> Any:
                calls.got.append(f"s3://{call['Bucket']}/{call['Key']}")
                return get(**call)

            def delete_object(**call: Any) -> Any:
                calls.deleted.append(f"s3://{call['Bucket']}/{call['Key']}")
                return delete(**call)

            made.get_object, made.delete_object = get_object, delete_object
        return made

    monkeypatch.setattr(boto3, "client", client)
    return calls


def pointing_to(aws: Aws, bucket: str, key: str) -> None:
    """A dead letter as the sink stores it, moved to s3://bucket/key, its pointer naming it: as anyone
    who may send to the queue could make one."""
    aws.sink().send([letter(300_000)])
    (message,) = aws.messages()
    (stored,) = aws.objects()
    if (bucket, key) != (BUCKET, stored):
        aws.s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": BUCKET, "Key": stored})
        aws.s3.delete_object(Bucket=BUCKET, Key=stored)
    aws.sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    aws.sqs.send_message(
        QueueUrl=aws.queue_url,
        MessageBody=json.dumps([S3_POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}]),
        MessageAttributes=message["MessageAttributes"],
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    ("bucket", "key"),
    [("other-bucket", f"{S3_KEY_PREFIX}x.json"), (BUCKET, "invoices/2026.json"), (BUCKET, "dead-letters")],
)
def test_a_pointer_outside_the_dead_letter_bucket_and_prefix_is_neither_read_nor_deleted(
    bucket: str,
    key: str,
    broker_url: str,
    channel: Any,
    topology: Topology,
    aws: Aws,
    s3_calls: Reads,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a pointer to an object elsewhere (another bucket of the account, or outside dead-letters/)
    if bucket != BUCKET:
        aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    pointing_to(aws, bucket, key)
    # WHEN replay.py runs on the deployment's dead-letter queue and bucket
    code = replay.main([*from_sqs(aws), "--url", broker_url, "--queue", topology.queue])
    # THEN it skips that dead letter with one line: the object is untouched, its SQS message stays
    err = capsys.readouterr().err
    assert code == 0
    assert err.splitlines()[0] == (
        f"warning: skipped a dead letter whose pointer 's3://{bucket}/{key}' is outside the dead-letter bucket "
        f"'{BUCKET}' and its {S3_KEY_PREFIX} prefix: the object was neither read nor deleted, and its SQS message stays"
    )
    assert (s3_calls.got, s3_calls.deleted) == ([], [])
    assert aws.s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert queue_depth(aws) == 1
    assert message_count(channel, topology.queue) == 0


@pytest.mark.unit
def test_without_a_bucket_no_pointer_is_followed(aws: Aws, s3_calls: Reads, capsys: pytest.CaptureFixture[str]) -> None:
    pointing_to(aws, BUCKET, f"{S3_KEY_PREFIX}x.json")
    assert replay.main(["--sqs-url", aws.queue_url, "--dry-run"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"warning: skipped a dead letter whose pointer 's3://{BUCKET}/{S3_KEY_PREFIX}x.json' and no dead-letter bucket "
        "was given (--dead-letter-bucket, with --sqs-url): the object was neither read nor deleted, and its SQS "
        "message stays",
        "0 dead letter(s)",
    ]
    assert s3_calls.got == []


@pytest.mark.unit
def test_the_bucket_is_the_terraform_outputs(
    aws: Aws, s3_calls: Reads, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the deployment's outputs, and one pointer into its bucket and one into another
    aws.sink().send([letter(300_000)])
    (stored,) = aws.objects()
    aws.s3.create_bucket(Bucket="other-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.s3.copy_object(Bucket="other-bucket", Key=stored, CopySource={"Bucket": BUCKET, "Key": stored})
    aws.sqs.send_message(
        QueueUrl=aws.queue_url,
        MessageBody=json.dumps([S3_POINTER_CLASS, {"s3BucketName": "other-bucket", "s3Key": stored}]),
        MessageAttributes={EXTENDED_PAYLOAD_SIZE: {"DataType": "Number", "StringValue": "1"}},
    )
    values = dict.fromkeys(OUTPUT_NAMES, "x") | {"dead_letter_queue_url": aws.queue_url, "dead_letter_bucket": BUCKET}
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({name: {"value": value} for name, value in values.items()}))
    # WHEN replay.py lists the dead letters
    assert replay.main(["--outputs", str(outputs), "--dry-run"]) == 0
    # THEN it read the one in the deployment's bucket only
    out, err = capsys.readouterr()
    assert out.count("\n") == 1
    assert ": no such customer" in out
    assert "warning: skipped a dead letter whose pointer 's3://other-bucket/" in err
    assert s3_calls.got == [f"s3://{BUCKET}/{stored}"]
