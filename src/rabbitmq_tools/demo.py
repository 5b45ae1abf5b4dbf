"""The whole pattern, locally: no AWS account needed.

Finds a broker ($RABBITMQ_URL, else RabbitMQ in Docker via Testcontainers, the `docker` extra), declares the
queue topology on a fresh queue, publishes example-message.json and one invalid order,
runs the local event source mapping with the real Lambda handler, shows what happened to
each message, and deletes the queue again.

    python scripts/demo.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import pika
import pika.exceptions

from rabbitmq_tools.broker import BrokerUnavailable, connection_parameters, rabbitmq_url
from rabbitmq_tools.local_event_source_mapping import (
    LocalEventSourceMapping,
    MappingSettings,
    describe_connection_error,
    load_handler,
)
from rabbitmq_tools.project import EXAMPLE_MESSAGE
from rabbitmq_tools.topology import declare_topology, delete_topology


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        description="Run the whole pattern locally, no AWS account needed: declare a fresh queue, publish "
        "example-message.json and an invalid order, run the local event source mapping with the Lambda handler, "
        "show what happened to each message, delete the queue. The broker is $RABBITMQ_URL, else a RabbitMQ "
        "in Docker via Testcontainers. Exit code 0 when both messages went where they should.",
    ).parse_args(argv)
    queue = f"orders-demo-{uuid.uuid4().hex[:8]}"
    dead_letter_file = Path(tempfile.mkdtemp(prefix="rabbitmq-demo-")) / "dead-letters.jsonl"
    os.environ["DEAD_LETTER_FILE"] = str(dead_letter_file)
    os.environ.pop("DEAD_LETTER_QUEUE_URL", None)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG")  # show the per-message lines too
    try:
        with rabbitmq_url() as url:
            return run_demo(connection_parameters(url), queue, dead_letter_file)
    except BrokerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run_demo(parameters: pika.ConnectionParameters, queue: str, dead_letter_file: Path) -> int:
    try:
        connection = pika.BlockingConnection(parameters)
    except pika.exceptions.AMQPError as exc:
        print(f"error: {describe_connection_error(exc, parameters)}", file=sys.stderr)
        return 1
    with connection:
        channel = connection.channel()
        topology = declare_topology(channel, queue)
        try:
            limit = topology.delivery_limit
            print(f"1. declared {queue} (quorum, delivery limit {limit}) -> {topology.dead_letter_queue}")
            good = json.loads(EXAMPLE_MESSAGE.read_text())
            bad = {**good, "orderId": "ord-bad-total", "total": "1.00"}
            channel.confirm_delivery()
            for order in (good, bad):
                properties = pika.BasicProperties(
                    content_type="application/json", delivery_mode=2, message_id=order["orderId"]
                )
                channel.basic_publish("", queue, json.dumps(order).encode(), properties, mandatory=True)
            print("2. published example-message.json and an order whose total is wrong (confirmed)")
            print("3. running the local event source mapping with the Lambda handler; its logs:")
            mapping = LocalEventSourceMapping(
                parameters, MappingSettings(queue), load_handler("rabbitmq_consumer.handler.lambda_handler")
            )
            stats = mapping.run(max_messages=2, idle_timeout=10)
            sys.stdout.flush()
            print(f"4. {stats.line()}")
            for line in dead_letter_file.read_text().splitlines() if dead_letter_file.exists() else []:
                letter = json.loads(line)
                print(f"   dead letter: {letter['record']['basicProperties']['messageId']}: {letter['reason']}")
            print(f"   dead letters are in {dead_letter_file}")
        finally:
            delete_topology(channel, topology)
    ok = stats.messages == 2 and stats.dead_lettered == 1
    print("demo " + ("succeeded: 1 order processed, 1 dead-lettered" if ok else "did not go as expected"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
