"""The whole pattern, locally: no AWS account needed.

Finds a broker ($RABBITMQ_URL, else RabbitMQ in Docker via Testcontainers, the `docker` extra),
bootstraps a fresh queue through the broker's management API as `terraform apply` does in AWS
(the topology, its policy, a consumer and a publisher user), publishes example-message.json
and one invalid order as the publisher, runs the local event source mapping with the real
Lambda handler as the consumer, shows what happened to each message, and deletes it all again.

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

from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT
from rabbitmq_tools.bootstrap import BrokerSetup, reporting_changes
from rabbitmq_tools.broker import BrokerUnavailable, LocalBroker, connection_parameters, local_broker, redact
from rabbitmq_tools.local_event_source_mapping import (
    LocalEventSourceMapping,
    MappingSettings,
    describe_connection_error,
    load_handler,
)
from rabbitmq_tools.project import EXAMPLE_MESSAGE


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        description="Run the whole pattern locally, no AWS account needed: bootstrap a fresh queue and its users "
        "through the management API, publish example-message.json and an invalid order as the publisher, run the "
        "local event source mapping with the Lambda handler as the consumer, show what happened to each message, "
        "delete it all. The broker is $RABBITMQ_URL (its management API $RABBITMQ_MANAGEMENT_URL, else port 15672 "
        "of its host), else a RabbitMQ in Docker via Testcontainers. Exit code 0 when both messages went where "
        "they should.",
    ).parse_args(argv)
    queue = f"orders-demo-{uuid.uuid4().hex[:8]}"
    os.environ.pop("DEAD_LETTER_QUEUE_URL", None)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG")  # show the per-message lines too
    # The handler's dead letters go to a file the demo prints, then removes with its folder.
    with tempfile.TemporaryDirectory(prefix="rabbitmq-demo-") as scratch:
        dead_letter_file = Path(scratch) / "dead-letters.jsonl"
        os.environ["DEAD_LETTER_FILE"] = str(dead_letter_file)
        try:
            with local_broker() as broker:
                return run_demo(broker, queue, dead_letter_file)
        except BrokerUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1


def run_demo(broker: LocalBroker, queue: str, dead_letter_file: Path) -> int:
    client = broker.management_client()
    setup = BrokerSetup.new(Topology(queue, DEFAULT_DELIVERY_LIMIT), f"{queue}-consumer", f"{queue}-publisher")
    topology, consumer, publisher = setup.topology, setup.consumer, setup.publisher
    made: list[str] = []  # what the bootstrap created on the broker, for a clean-up that fails
    try:
        with reporting_changes(made.append):
            setup.apply(client)
        print(
            f"1. bootstrapped through the management API: {queue} (quorum; policy: delivery limit "
            f"{topology.delivery_limit}, then {topology.dead_letter_queue}), user {consumer.name} (reads {queue}), "
            f"user {publisher.name} (writes to the default exchange)"
        )
        as_publisher = connection_parameters(broker.url, publisher.name, publisher.password)
        as_consumer = connection_parameters(broker.url, consumer.name, consumer.password)
        good = json.loads(EXAMPLE_MESSAGE.read_text())
        bad = {**good, "orderId": "ord-bad-total", "total": "1.00"}
        with pika.BlockingConnection(as_publisher) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            for order in (good, bad):
                properties = pika.BasicProperties(
                    content_type="application/json", delivery_mode=2, message_id=order["orderId"]
                )
                channel.basic_publish("", queue, json.dumps(order).encode(), properties, mandatory=True)
        print(f"2. published example-message.json and an order whose total is wrong as {publisher.name} (confirmed)")
        print(f"3. running the local event source mapping with the Lambda handler as {consumer.name}; its logs:")
        mapping = LocalEventSourceMapping(
            as_consumer, MappingSettings(queue), load_handler("rabbitmq_consumer.handler.lambda_handler")
        )
        stats = mapping.run(max_messages=2, idle_timeout=10)
    except AdminError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except pika.exceptions.AMQPError as exc:
        print(f"error: {describe_connection_error(exc, connection_parameters(broker.url))}", file=sys.stderr)
        return 1
    finally:
        remove(setup, client, made)
    sys.stdout.flush()
    print(f"4. {stats.line()}")
    for line in dead_letter_file.read_text().splitlines() if dead_letter_file.exists() else []:
        letter = json.loads(line)
        print(f"   dead letter: {letter['record']['basicProperties']['messageId']}: {letter['reason']}")
    print("   (in AWS they go to the SQS dead-letter queue; here to a temporary file, removed now)")
    ok = stats.messages == 2 and stats.dead_lettered == 1
    print("demo " + ("succeeded: 1 order processed, 1 dead-lettered" if ok else "did not go as expected"))
    return 0 if ok else 1


def remove(setup: BrokerSetup, client: ManagementClient, made: list[str]) -> None:
    """Delete what the demo bootstrapped (`made`: the bootstrap's lines of what it created). When the
    broker cannot be reached (the likely reason the demo failed), one more line says what is left,
    instead of a traceback over the first; none when nothing was created (a refused login)."""
    try:
        setup.remove(client)
    except AdminError as exc:
        if made:
            print(
                f"warning: could not delete what the demo created, which is left on the broker ({'; '.join(made)}): "
                f"{redact(str(exc))}",
                file=sys.stderr,
            )


if __name__ == "__main__":
    raise SystemExit(main())
