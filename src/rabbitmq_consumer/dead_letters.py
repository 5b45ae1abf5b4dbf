"""Where messages that can never succeed go: the dead-letter record and its sinks.

A dead letter keeps the message record exactly as Lambda delivered it (base64 `data` and
`basicProperties`), so it can be inspected and replayed, plus the reason it was rejected.
The handler sends a batch's dead letters once, after every message of the batch was
processed: a batch that fails later is retried whole and would send them again.

A dead letter can be as large as the event that carried it (6 MB), larger than an SQS
message. With a bucket (`DEAD_LETTER_BUCKET`), the SQS sink stores a dead letter over
`SQS_INLINE_MAX_BYTES` in S3 and sends a pointer to it, as the Amazon SQS Extended Client
Library does (Java: awslabs/amazon-sqs-java-extended-client-lib; Python:
awslabs/amazon-sqs-python-extended-client-lib, `sqs_extended_client/client.py`): the body
`["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": ..., "s3Key": ...}]`
and the message attribute `ExtendedPayloadSize` (Number: the dead letter's size in bytes).
The extended clients, and `scripts/replay.py`, read it back from S3.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from .errors import DeadLetterError

if TYPE_CHECKING:  # boto3 costs ~110 ms to import: only the SQS sink loads it, on first use
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# SQS quotas: 10 entries and 1 MiB per SendMessageBatch, 1 MiB per message (AWS raised both
# from 256 KiB in August 2025; a queue's MaximumMessageSize may still be lower).
SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_BYTES = 1_048_576
# With a bucket, dead letters above this size go to S3. 256 KiB: what every SQS queue takes,
# whatever its MaximumMessageSize (the Terraform AWS provider 5.x creates queues with
# 262,144 and refuses more), and the Python extended client's own threshold.
SQS_INLINE_MAX_BYTES = 262_144
# The Amazon SQS Extended Client's pointer format (see the module docstring).
S3_POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_S3_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
EXTENDED_PAYLOAD_SIZE = "ExtendedPayloadSize"
LEGACY_EXTENDED_PAYLOAD_SIZE = "SQSLargePayloadSize"
# Every object the handler writes is under this prefix (IAM grants s3:PutObject on it only).
S3_KEY_PREFIX = "dead-letters/"
JSON_TYPE = "application/json"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    queue: str
    vhost: str
    event_source_arn: str | None
    record: Mapping[str, Any]
    rejected_at: datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "reason": self.reason,
                "queue": self.queue,
                "vhost": self.vhost,
                "eventSourceArn": self.event_source_arn,
                "rejectedAt": self.rejected_at.isoformat(),
                "record": self.record,
            },
            separators=(",", ":"),
            default=repr,  # a malformed record may hold anything; keep what can be kept
        )


def reject(reason: str, queue: str, vhost: str, event_source_arn: str | None, record: Any) -> DeadLetter:
    return DeadLetter(reason, queue, vhost, event_source_arn, record, datetime.now(UTC))


class DeadLetterSink(Protocol):
    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        """Store every dead letter durably, or raise `DeadLetterError`."""


class JsonLinesSink:
    """Appends one JSON object per line to a local file: the sink of local mode."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        lines = "".join(dead_letter.to_json() + "\n" for dead_letter in dead_letters)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked_file(self.path, "a") as file:
                file.write(lines)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise DeadLetterError(f"cannot append dead letters to {self.path}: {exc}") from exc


@contextmanager
def locked_file(path: Path, mode: str) -> Iterator[IO[str]]:
    """`path` opened in `mode`, under an exclusive lock (flock; none where the OS has none).

    The sink appends under it and `scripts/replay.py` rewrites the file under it, by writing
    a new file and renaming it over the old one. So once the lock is held, check that the
    path still names the file that is open; if a rewrite replaced it meanwhile, open it again.
    """
    while True:
        file = path.open(mode, encoding="utf-8")
        try:
            _lock(file)
            try:
                current = os.stat(path).st_ino == os.fstat(file.fileno()).st_ino
            except FileNotFoundError:
                current = False
            if current:
                yield file
                return
        finally:
            file.close()  # releases the lock


def _lock(file: IO[str]) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)


class SqsSink:
    """Sends dead letters to an SQS queue, ten to a request; with a bucket, those too large
    to send inline go to S3, with a pointer in SQS (see the module docstring)."""

    def __init__(
        self,
        queue_url: str,
        client: SQSClient | None = None,
        *,
        bucket: str | None = None,
        s3_client: S3Client | None = None,
        inline_max_bytes: int = SQS_INLINE_MAX_BYTES,
    ) -> None:
        self.queue_url = queue_url
        self.bucket = bucket
        self.inline_max_bytes = inline_max_bytes if bucket else SQS_MAX_BYTES
        self._client = client
        self._s3_client = s3_client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    @property
    def s3_client(self) -> S3Client:
        if self._s3_client is None:
            import boto3

            self._s3_client = boto3.client("s3")
        return self._s3_client

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        entries: list[dict[str, Any]] = []
        for dead_letter in dead_letters:
            body = dead_letter.to_json()
            size = len(body.encode())
            if size <= self.inline_max_bytes:
                entries.append({"MessageBody": body})
            elif self.bucket:
                entries.append(self._offload(body, size))
            else:
                # Failing the batch is the safe choice: the broker's delivery limit then moves
                # the message to the broker's dead-letter queue, where size is no problem.
                raise DeadLetterError(
                    f"a dead letter of {size} bytes exceeds SQS's {SQS_MAX_BYTES}-byte limit and no bucket is "
                    "configured: set DEAD_LETTER_BUCKET to store large dead letters in S3"
                )
        for chunk in _sqs_batches(entries):
            request = [{"Id": str(index), **entry} for index, entry in enumerate(chunk)]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=request)  # type: ignore[arg-type]
            except Exception as exc:  # botocore's errors share no useful base class
                raise DeadLetterError(f"cannot send dead letters to {self.queue_url}: {exc}") from exc
            failed = response.get("Failed", [])
            if failed:
                first = failed[0]
                raise DeadLetterError(
                    f"SQS refused {len(failed)} dead letter(s) for {self.queue_url}: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )

    def _offload(self, body: str, size: int) -> dict[str, Any]:
        """Store the dead letter in S3; the SQS entry that points to it."""
        key = f"{S3_KEY_PREFIX}{uuid.uuid4()}.json"
        try:
            self.s3_client.put_object(Bucket=str(self.bucket), Key=key, Body=body.encode(), ContentType=JSON_TYPE)
        except Exception as exc:  # botocore's errors share no useful base class
            raise DeadLetterError(f"cannot store a dead letter of {size} bytes in s3://{self.bucket}: {exc}") from exc
        pointer = json.dumps([S3_POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": key}])
        return {
            "MessageBody": pointer,
            "MessageAttributes": {EXTENDED_PAYLOAD_SIZE: {"DataType": "Number", "StringValue": str(size)}},
        }


def parse_s3_pointer(body: str, attributes: Mapping[str, Any] | None = None) -> tuple[str, str] | None:
    """(bucket, key) if an SQS message body is an extended client's S3 pointer, else None.

    The extended clients mark such a message with the `ExtendedPayloadSize` (or legacy
    `SQSLargePayloadSize`) attribute; the body's shape is enough here, so a pointer whose
    attributes were not requested is recognised too.
    """
    if attributes and not ({EXTENDED_PAYLOAD_SIZE, LEGACY_EXTENDED_PAYLOAD_SIZE} & set(attributes)):
        return None
    if not body.startswith("["):
        return None
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict)):
        return None
    pointer_class, where = value
    bucket, key = where.get("s3BucketName"), where.get("s3Key")
    if pointer_class not in (S3_POINTER_CLASS, LEGACY_S3_POINTER_CLASS):
        return None
    if not (isinstance(bucket, str) and isinstance(key, str) and bucket and key):
        return None
    return bucket, key


def _sqs_batches(entries: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(entry["MessageBody"].encode()) + _attributes_size(entry.get("MessageAttributes", {}))
        if chunk and (len(chunk) == SQS_MAX_BATCH_ENTRIES or size + entry_size > SQS_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


def _attributes_size(attributes: Mapping[str, Mapping[str, str]]) -> int:
    """SQS counts a message attribute's name, data type and value toward the message size."""
    return sum(len(name) + sum(len(part.encode()) for part in value.values()) for name, value in attributes.items())
