"""Replay dead letters: publish the messages the handler rejected back to the work queue.

A dead letter holds the message record exactly as Lambda delivered it, so the original body
and properties are restored (the user id aside: the broker only accepts the publisher's own).
Each replayed message carries an `x-replayed-reason` header with the reason it was rejected.
Fix the cause first (deploy the business logic that accepts them), then:

    python scripts/replay.py                          # from the deployed SQS dead-letter queue
    python scripts/replay.py --dry-run                # list what would be replayed
    python scripts/replay.py --file .local/dead-letters.jsonl --url amqp://guest:guest@localhost:5672/

A replayed dead letter leaves its store only once the broker confirmed every replayed
message; if any was not confirmed, nothing is removed (a second run may then publish some
twice, which an idempotent consumer absorbs):

- from SQS, a dead letter too large for SQS is an S3 pointer in the Amazon SQS Extended
  Client's format (see rabbitmq_consumer.dead_letters); it is read from S3, and after the
  confirms its S3 object is deleted first, then the SQS message. Only a pointer into the
  deployment's dead-letter bucket (the Terraform output dead_letter_bucket, or
  --dead-letter-bucket with --sqs-url) and its dead-letters/ prefix is followed: whoever can
  send to the queue must not make this run read or delete any other object of yours;
- from a file, the replayed lines are removed from it (the others stay), so a second run does
  not publish them again; `--keep-file` leaves the file as it is and says how many would be.

A dead letter that cannot be restored (its body was never valid base64, its properties
cannot be published) is skipped with a warning and stays where it is. The broker's own
dead-letter queue (messages past the delivery limit) is replayed with the RabbitMQ web
console's shovel instead.
"""

from __future__ import annotations

import binascii
import json
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika

from rabbitmq_consumer.dead_letters import (
    EXTENDED_PAYLOAD_SIZE,
    LEGACY_EXTENDED_PAYLOAD_SIZE,
    S3_KEY_PREFIX,
    locked_file,
    parse_s3_pointer,
)
from rabbitmq_consumer.errors import InvalidMessage
from rabbitmq_consumer.messages import MessageProperties
from rabbitmq_tools.send import (
    AWS,
    NOT_CONFIRMED,
    OK,
    USAGE,
    Failure,
    check_queue,
    fail,
    new_parser,
    publish_messages,
    read_outputs,
    resolve_target,
)

SQS_BATCH = 10
# The Terraform outputs that say where the dead letters are.
DEAD_LETTER_OUTPUTS = ("dead_letter_queue_url", "dead_letter_bucket")
# Headers the broker sets on delivery: a republished message starts its count afresh.
BROKER_HEADERS = frozenset({"x-delivery-count", "x-acquired-count"})


@dataclass
class DeadLetter:
    reason: str
    body: bytes
    properties: pika.BasicProperties
    receipt_handle: str | None = None  # SQS only
    s3_object: tuple[str, str] | None = None  # SQS only: (bucket, key) of a dead letter stored in S3
    line: int | None = None  # a file only: its line number, from 0


def parse_args(argv: Sequence[str] | None) -> Any:
    parser = new_parser(
        "Publish dead letters (messages the handler rejected) back to the work queue, with their original "
        "body and properties, once their cause is fixed."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--file", help="a JSON-lines dead-letter file (local mode) instead of SQS")
    source.add_argument("--sqs-url", help="the SQS dead-letter queue (default: the Terraform output)")
    parser.add_argument(
        "--dead-letter-bucket",
        metavar="BUCKET",
        help="with --sqs-url: the S3 bucket of its large dead letters (otherwise the Terraform output "
        f"dead_letter_bucket); a pointer to any other bucket, or outside {S3_KEY_PREFIX}, is skipped",
    )
    parser.add_argument("--max", type=int, default=1000, help="replay at most this many (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="list the dead letters, publish nothing")
    parser.add_argument(
        "--keep-file",
        action="store_true",
        help="with --file: leave the replayed dead letters in the file (a second run publishes them again)",
    )
    args = parser.parse_args(argv)
    if args.max < 1:
        parser.error(f"--max must be at least 1, got {args.max}")
    if args.keep_file and not args.file:
        parser.error("--keep-file goes with --file: from SQS a replayed dead letter is always deleted")
    if args.dead_letter_bucket and not args.sqs_url:
        parser.error("--dead-letter-bucket goes with --sqs-url: otherwise the bucket is the Terraform output's")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        letters, store = read_dead_letters(args)
        if args.dry_run or not letters:
            for letter in letters:
                print(f"{letter.properties.message_id}: {letter.reason}")
            print(f"{len(letters)} dead letter(s){' would be replayed' if letters else ''}", file=sys.stderr)
            return OK
        target = resolve_target(args)
        check_queue(target)
        result = publish_messages(
            target, len(letters), lambda i: (letters[i].body, letters[i].properties), window=args.window
        )
        if not result.all_confirmed:
            fail(
                NOT_CONFIRMED,
                f"only {result.confirmed} of {len(letters)} replayed messages were confirmed "
                f"(nacked {result.nacked}, unroutable {result.unroutable}); no dead letter was removed",
            )
        where = store.remove(letters, keep=args.keep_file)
    except Failure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.code
    summary = {"replayed": len(letters), "queue": target.queue, "vhost": target.vhost, "removed": not args.keep_file}
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"replayed {len(letters)} dead letter(s) to queue {target.queue!r} on vhost {target.vhost!r} {where}")
    return OK


def read_dead_letters(args: Any) -> tuple[list[DeadLetter], SqsDeadLetters | FileDeadLetters]:
    if args.file:
        store = FileDeadLetters(Path(args.file))
        return store.read(args.max), store
    if args.sqs_url:
        url, bucket = args.sqs_url, args.dead_letter_bucket
    else:
        outputs = read_outputs(args.outputs, DEAD_LETTER_OUTPUTS)
        url, bucket = outputs["dead_letter_queue_url"], outputs["dead_letter_bucket"]
    sqs = SqsDeadLetters(url, bucket)
    return sqs.receive(args.max), sqs


def parse_dead_letter(text: str, **where: Any) -> DeadLetter | None:
    """The original message from a dead letter; None (with a warning) if it cannot be restored.
    `where` says where it is kept (receipt_handle and s3_object, or line)."""
    try:
        letter = json.loads(text)
        reason, record = letter["reason"], letter["record"]
        body = binascii.a2b_base64(record["data"], strict_mode=True)
        props = MessageProperties(record["basicProperties"])
        restored = props.as_dict()  # checks every property's type: InvalidMessage names the first bad one
        sent_at = props.sent_at()
        headers = {**restored["headers"], "x-replayed-reason": str(reason)[:1000]}
        properties = pika.BasicProperties(
            content_type=restored["content_type"],
            content_encoding=restored["content_encoding"],
            headers={name: value for name, value in headers.items() if name not in BROKER_HEADERS},
            delivery_mode=restored["delivery_mode"] or pika.DeliveryMode.Persistent,
            priority=restored["priority"],
            correlation_id=restored["correlation_id"],
            reply_to=restored["reply_to"],
            expiration=restored["expiration"],
            message_id=restored["message_id"],
            timestamp=int(sent_at.timestamp()) if sent_at else None,
            type=restored["type"],
            app_id=restored["app_id"],
            cluster_id=restored["cluster_id"],
        )
        properties.encode()  # what pika cannot publish (a float header, a priority over 255) shows here
    except (ValueError, KeyError, TypeError, binascii.Error, InvalidMessage) as exc:
        # e.g. a record whose data was not base64 in the first place: the body is unknown
        warn_skipped(exc)
        return None
    except Exception as exc:  # pika's encoding errors (struct.error, ShortStringTooLong, ...) share no base
        warn_skipped(exc)
        return None
    return DeadLetter(str(reason), body, properties, **where)


def warn_skipped(error: BaseException) -> None:
    cause = f"{type(error).__name__}: {error}"[:300]
    print(f"warning: skipped a dead letter that cannot be restored ({cause}); it stays where it is", file=sys.stderr)


class FileDeadLetters:
    """A JSON-lines dead-letter file, read and rewritten under the lock the handler's sink
    appends under (`rabbitmq_consumer.dead_letters.locked_file`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def read(self, limit: int) -> list[DeadLetter]:
        try:
            with locked_file(self.path, "r") as file:
                self.lines = file.read().splitlines()
        except OSError as exc:
            fail(USAGE, f"cannot read the dead-letter file {self.path}: {exc.strerror}")
        except UnicodeDecodeError as exc:
            fail(
                USAGE,
                f"{self.path} is not UTF-8 text (byte {exc.start:,}: {exc.reason}), so not a dead-letter file the "
                "handler wrote: nothing was replayed or removed; check the --file path",
            )
        return [
            letter
            for number, line in enumerate(self.lines[:limit])
            if line.strip() and (letter := parse_dead_letter(line, line=number))
        ]

    def remove(self, letters: Sequence[DeadLetter], keep: bool) -> str:
        """Take the replayed lines out of the file, keeping every other line and whatever was
        appended since it was read; or, with `keep`, leave it and warn."""
        if keep:
            print(
                f"warning: {self.path} still holds the {len(letters)} replayed dead letter(s): a second run "
                "publishes them again; run without --keep-file to remove them once replayed",
                file=sys.stderr,
            )
            return f"({self.path} is left as it is)"
        replayed = {letter.line for letter in letters}
        try:
            with locked_file(self.path, "r") as file:
                current = file.read().splitlines()
                if current[: len(self.lines)] != self.lines:
                    fail(
                        USAGE,
                        f"{self.path} changed while replaying (another replay?): it is left as it is, and a second "
                        f"run publishes the {len(letters)} replayed dead letter(s) again",
                    )
                kept = [line for number, line in enumerate(self.lines) if number not in replayed and line.strip()]
                remaining = kept + current[len(self.lines) :]
                self._replace(remaining)
        except UnicodeDecodeError as exc:
            fail(
                USAGE,
                f"the messages were replayed, but {self.path} is no longer UTF-8 text (byte {exc.start:,}: something "
                "else wrote to it) and is left as it is: a second run publishes them again",
            )
        except OSError as exc:
            fail(
                USAGE,
                f"the messages were replayed, but {self.path} could not be rewritten ({exc}): a second run publishes "
                "them again",
            )
        return f"and removed them from {self.path} ({len(remaining)} line(s) left)"

    def _replace(self, lines: list[str]) -> None:
        """Write the new content beside the file and rename it over: a crash leaves the old
        file or the new one, never half of one."""
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write("".join(f"{line}\n" for line in lines))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, self.path.stat().st_mode & 0o7777)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class SqsDeadLetters:
    def __init__(self, url: str, bucket: str | None) -> None:
        """`bucket`: the one bucket whose dead-letters/ objects a pointer may name (None: none)."""
        import boto3

        match = re.match(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com", url)
        self.url = url
        self.bucket = bucket
        self.client = boto3.client("sqs", region_name=match.group(1) if match else None)
        self.s3 = boto3.client("s3", region_name=match.group(1) if match else None)

    def receive(self, limit: int) -> list[DeadLetter]:
        import botocore.exceptions

        letters: list[DeadLetter] = []
        try:
            while len(letters) < limit:
                response = self.client.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=min(SQS_BATCH, limit - len(letters)),
                    MessageAttributeNames=[EXTENDED_PAYLOAD_SIZE, LEGACY_EXTENDED_PAYLOAD_SIZE],
                    WaitTimeSeconds=1,
                    VisibilityTimeout=300,  # hidden from other readers while this run replays them
                )
                messages = response.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    letter = self._restore(message)
                    if letter is not None:
                        letters.append(letter)
        except botocore.exceptions.NoCredentialsError:
            fail(AWS, "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            fail(AWS, f"cannot read the dead-letter queue {self.url}: {exc}")
        return letters

    def _restore(self, message: Any) -> DeadLetter | None:
        import botocore.exceptions

        body, handle = message.get("Body", ""), message.get("ReceiptHandle")
        pointer = parse_s3_pointer(body, message.get("MessageAttributes"))
        if pointer is None:
            return parse_dead_letter(body, receipt_handle=handle)
        bucket, key = pointer
        if bucket != self.bucket or not key.startswith(S3_KEY_PREFIX):
            allowed = (
                f"is outside the dead-letter bucket {self.bucket!r} and its {S3_KEY_PREFIX} prefix"
                if self.bucket
                else "and no dead-letter bucket was given (--dead-letter-bucket, with --sqs-url)"
            )
            print(
                f"warning: skipped a dead letter whose pointer {f's3://{bucket}/{key}'!r} {allowed}: the object was "
                "neither read nor deleted, and its SQS message stays",
                file=sys.stderr,
            )
            return None
        try:
            text = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                fail(AWS, f"cannot read the dead letter s3://{bucket}/{key}: {exc}")
            print(
                f"warning: skipped a dead letter whose body s3://{bucket}/{key} is gone (replayed by a run that "
                "could not delete its SQS message, or expired by the bucket's lifecycle rule); delete its SQS "
                "message by hand",
                file=sys.stderr,
            )
            return None
        return parse_dead_letter(text, receipt_handle=handle, s3_object=pointer)

    def remove(self, letters: Sequence[DeadLetter], keep: bool = False) -> str:
        """Delete the S3 objects of the replayed dead letters, then their SQS messages; an SQS
        message whose object could not be deleted is kept (a second run replays it again)."""
        import botocore.exceptions

        errors: list[str] = []
        handles: list[str] = []
        objects = 0
        for letter in letters:
            if letter.s3_object is not None:
                bucket, key = letter.s3_object
                try:
                    self.s3.delete_object(Bucket=bucket, Key=key)
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                    errors.append(f"cannot delete s3://{bucket}/{key}: {exc}")
                    continue
                objects += 1
            if letter.receipt_handle:
                handles.append(letter.receipt_handle)
        for start in range(0, len(handles), SQS_BATCH):
            chunk = handles[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            try:
                response = self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
                errors.append(f"cannot delete {len(chunk)} message(s) from {self.url}: {exc}")
                continue
            errors += [f"SQS kept a message: {f.get('Code')}: {f.get('Message')}" for f in response.get("Failed", [])]
        if errors:
            fail(
                AWS,
                f"the messages were replayed, but {len(errors)} dead letter(s) could not be deleted and a second run "
                f"publishes them again; first: {errors[0]}",
            )
        stored = f" and {objects} S3 object(s)" if objects else ""
        return f"and deleted them from the dead-letter queue{stored}"


if __name__ == "__main__":
    raise SystemExit(main())
