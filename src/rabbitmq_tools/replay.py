"""Replay dead letters: publish the messages the handler rejected back to the work queue.

A dead letter holds the message record exactly as Lambda delivered it, so the original body
and properties are restored (the user id aside: the broker only accepts the publisher's own).
Each replayed message carries an `x-replayed-reason` header with the reason it was rejected.
Fix the cause first (deploy the business logic that accepts them), then:

    python scripts/replay.py                          # from the deployed SQS dead-letter queue
    python scripts/replay.py --dry-run                # list what would be replayed
    python scripts/replay.py --file .local/dead-letters.jsonl --url amqp://guest:guest@localhost:5672/

From SQS, a dead letter is deleted only once every replayed message was confirmed by the
broker; if any was not, none is deleted (a second run may then publish some twice, which an
idempotent consumer absorbs). A file is left as it is. The broker's own dead-letter queue
(messages past the delivery limit) is replayed with the RabbitMQ web console's shovel instead.
"""

from __future__ import annotations

import binascii
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika

from rabbitmq_consumer.messages import MessageProperties
from rabbitmq_tools.send import (
    AWS,
    NOT_CONFIRMED,
    OK,
    USAGE,
    Failure,
    fail,
    new_parser,
    prepare_queue,
    publish_messages,
    read_outputs,
    resolve_target,
)

SQS_BATCH = 10


@dataclass
class DeadLetter:
    reason: str
    body: bytes
    properties: pika.BasicProperties
    receipt_handle: str | None  # SQS only


def parse_args(argv: Sequence[str] | None) -> Any:
    parser = new_parser(
        "Publish dead letters (messages the handler rejected) back to the work queue, with their original "
        "body and properties, once their cause is fixed."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--file", help="a JSON-lines dead-letter file (local mode) instead of SQS")
    source.add_argument("--sqs-url", help="the SQS dead-letter queue (default: the Terraform output)")
    parser.add_argument("--max", type=int, default=1000, help="replay at most this many (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="list the dead letters, publish nothing")
    args = parser.parse_args(argv)
    if args.max < 1:
        parser.error(f"--max must be at least 1, got {args.max}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        letters, sqs = read_dead_letters(args)
        if args.dry_run or not letters:
            for letter in letters:
                print(f"{letter.properties.message_id}: {letter.reason}")
            print(f"{len(letters)} dead letter(s){' would be replayed' if letters else ''}", file=sys.stderr)
            return OK
        target = resolve_target(args)
        prepare_queue(target, declare=not args.no_declare)
        result = publish_messages(
            target, len(letters), lambda i: (letters[i].body, letters[i].properties), window=args.window
        )
        if not result.all_confirmed:
            fail(
                NOT_CONFIRMED,
                f"only {result.confirmed} of {len(letters)} replayed messages were confirmed "
                f"(nacked {result.nacked}, unroutable {result.unroutable}); no dead letter was deleted",
            )
        if sqs is not None:
            sqs.delete([letter.receipt_handle for letter in letters if letter.receipt_handle])
    except Failure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.code
    where = "and deleted them from the dead-letter queue" if sqs else f"({args.file} is left as it is)"
    summary = {"replayed": len(letters), "queue": target.queue, "vhost": target.vhost}
    if args.json:
        print(json.dumps(summary))
    elif not args.quiet:
        print(f"replayed {len(letters)} dead letter(s) to queue {target.queue!r} on vhost {target.vhost!r} {where}")
    return OK


def read_dead_letters(args: Any) -> tuple[list[DeadLetter], SqsDeadLetters | None]:
    if args.file:
        try:
            lines = Path(args.file).read_text().splitlines()
        except OSError as exc:
            fail(USAGE, f"cannot read the dead-letter file {args.file}: {exc.strerror}")
        return [letter for line in lines[: args.max] if (letter := parse_dead_letter(line, None))], None
    url = args.sqs_url or read_outputs(args.outputs)["dead_letter_queue_url"]
    sqs = SqsDeadLetters(url)
    return sqs.receive(args.max), sqs


def parse_dead_letter(text: str, receipt_handle: str | None) -> DeadLetter | None:
    """The original message from a dead letter; None (with a warning) if it cannot be restored."""
    try:
        letter = json.loads(text)
        reason, record = letter["reason"], letter["record"]
        body = binascii.a2b_base64(record["data"], strict_mode=True)
        props = MessageProperties(record["basicProperties"])
        sent_at = props.sent_at()
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        # e.g. a record whose data was not base64 in the first place: the body is unknown
        print(f"warning: skipped a dead letter that cannot be restored ({exc}); it stays where it is", file=sys.stderr)
        return None
    headers = {**props.headers, "x-replayed-reason": reason[:1000]}
    properties = pika.BasicProperties(
        content_type=props.content_type,
        content_encoding=props.content_encoding,
        headers={name: value for name, value in headers.items() if not name.startswith("x-delivery")},
        delivery_mode=props.delivery_mode or pika.DeliveryMode.Persistent,
        priority=props.priority,
        correlation_id=props.correlation_id,
        reply_to=props.reply_to,
        expiration=props.expiration,
        message_id=props.message_id,
        timestamp=int(sent_at.timestamp()) if sent_at else None,
        type=props.type,
        app_id=props.app_id,
        cluster_id=props.cluster_id,
    )
    return DeadLetter(reason, body, properties, receipt_handle)


class SqsDeadLetters:
    def __init__(self, url: str) -> None:
        import boto3

        match = re.match(r"https://sqs\.([a-z0-9-]+)\.amazonaws\.com", url)
        self.url = url
        self.client = boto3.client("sqs", region_name=match.group(1) if match else None)

    def receive(self, limit: int) -> list[DeadLetter]:
        import botocore.exceptions

        letters: list[DeadLetter] = []
        try:
            while len(letters) < limit:
                response = self.client.receive_message(
                    QueueUrl=self.url,
                    MaxNumberOfMessages=min(SQS_BATCH, limit - len(letters)),
                    WaitTimeSeconds=1,
                    VisibilityTimeout=300,  # hidden from other readers while this run replays them
                )
                messages = response.get("Messages", [])
                if not messages:
                    break
                letters += [
                    letter for m in messages if (letter := parse_dead_letter(m.get("Body", ""), m.get("ReceiptHandle")))
                ]
        except botocore.exceptions.NoCredentialsError:
            fail(AWS, "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            fail(AWS, f"cannot read the dead-letter queue {self.url}: {exc}")
        return letters

    def delete(self, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), SQS_BATCH):
            chunk = receipt_handles[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
