"""Where messages that can never succeed go: the dead-letter record and its sinks.

A dead letter keeps the message record exactly as Lambda delivered it (base64 `data` and
`basicProperties`), so it can be inspected and replayed, plus the reason it was rejected.
The handler sends a batch's dead letters once, after every message of the batch was
processed: a batch that fails later is retried whole and would send them again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import DeadLetterError

if TYPE_CHECKING:  # boto3 costs ~110 ms to import: only the SQS sink loads it, on first use
    from mypy_boto3_sqs import SQSClient

# SQS quotas: 10 entries and 1 MiB per SendMessageBatch, 1 MiB per message.
SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_BYTES = 1_048_576


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
            with self.path.open("a", encoding="utf-8") as file:
                file.write(lines)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise DeadLetterError(f"cannot append dead letters to {self.path}: {exc}") from exc


class SqsSink:
    """Sends dead letters to an SQS queue, ten to a request."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    @property
    def client(self) -> SQSClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("sqs")
        return self._client

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        bodies = [dead_letter.to_json() for dead_letter in dead_letters]
        for body in bodies:
            if len(body.encode()) > SQS_MAX_BYTES:
                # Failing the batch is the safe choice: the broker's delivery limit then moves
                # the message to the broker's dead-letter queue, where size is no problem.
                raise DeadLetterError(
                    f"a dead letter of {len(body.encode())} bytes exceeds SQS's {SQS_MAX_BYTES}-byte limit"
                )
        for chunk in _sqs_batches(bodies):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)  # type: ignore[arg-type]
            except Exception as exc:  # botocore's errors share no useful base class
                raise DeadLetterError(f"cannot send dead letters to {self.queue_url}: {exc}") from exc
            failed = response.get("Failed", [])
            if failed:
                first = failed[0]
                raise DeadLetterError(
                    f"SQS refused {len(failed)} dead letter(s) for {self.queue_url}: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )


def _sqs_batches(bodies: Sequence[str]) -> Iterator[Sequence[str]]:
    chunk: list[str] = []
    size = 0
    for body in bodies:
        body_size = len(body.encode())
        if chunk and (len(chunk) == SQS_MAX_BATCH_ENTRIES or size + body_size > SQS_MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(body)
        size += body_size
    if chunk:
        yield chunk
