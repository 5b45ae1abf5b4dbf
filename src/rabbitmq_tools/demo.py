"""The whole pattern, locally: no AWS account needed.

Finds a broker ($RABBITMQ_URL, else RabbitMQ in Docker via Testcontainers, the `docker` extra),
bootstraps a fresh queue through the broker's management API as `terraform apply` does in AWS
(the topology, its policy, a consumer and a publisher user), publishes the example's messages
(`demo_messages`: example-message.json and an invalid order) as the publisher, runs the local
event source mapping with the real Lambda handler as the consumer, shows what it expected of
each message against what happened, and deletes it all again.

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
from rabbitmq_tools.demo_messages import ORDERING_KEY, PARALLELISM, DemoMessage, demo_messages
from rabbitmq_tools.local_event_source_mapping import (
    LocalEventSourceMapping,
    MappingSettings,
    describe_connection_error,
    load_handler,
)

# The mapping stops once every message was acked, or after this many seconds without one: a
# message the broker moved to its dead-letter queue never is.
IDLE_TIMEOUT = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        description="Run the whole pattern locally, no AWS account needed: bootstrap a fresh queue and its users "
        "through the management API, publish the example's messages (example-message.json and an invalid order, "
        "from rabbitmq_tools/demo_messages.py) as the publisher, run the local event source mapping with the "
        "Lambda handler as the consumer, show what was expected of each message against what happened, delete it "
        "all. The broker is $RABBITMQ_URL (its management API $RABBITMQ_MANAGEMENT_URL, else port 15672 of its "
        "host), else a RabbitMQ in Docker via Testcontainers. Exit code 0 when every message went where expected.",
    ).parse_args(argv)
    queue = f"orders-demo-{uuid.uuid4().hex[:8]}"
    os.environ.pop("DEAD_LETTER_QUEUE_URL", None)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "DEBUG")  # show the per-message lines too
    # The handler on the example's lanes (it reads them when it is loaded, as in Lambda).
    os.environ.setdefault("ORDERING_KEY", ORDERING_KEY)
    os.environ.setdefault("PARALLELISM", str(PARALLELISM))
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
        messages = {f"demo-{number}": message for number, message in enumerate(demo_messages(), start=1)}
        with pika.BlockingConnection(as_publisher) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            for message_id, message in messages.items():
                properties = pika.BasicProperties(
                    content_type="application/json", delivery_mode=2, message_id=message_id
                )
                channel.basic_publish("", queue, message.body, properties, mandatory=True)
        print(
            f"2. published as {publisher.name} (confirmed): "
            + "; ".join(f"{message_id} {message.label}" for message_id, message in messages.items())
        )
        print(
            f"3. running the local event source mapping with the Lambda handler as {consumer.name}, on "
            f"{os.environ.get('PARALLELISM', '1')} lane(s) by {os.environ.get('ORDERING_KEY', 'none')}; its logs:"
        )
        mapping = LocalEventSourceMapping(
            as_consumer, MappingSettings(queue), load_handler("rabbitmq_consumer.handler.lambda_handler")
        )
        stats = mapping.run(max_messages=len(messages), idle_timeout=IDLE_TIMEOUT)
        sys.stdout.flush()
        print(f"4. {stats.line()}")
        left = left_on_broker(connection_parameters(broker.url), topology)
    except AdminError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except pika.exceptions.AMQPError as exc:
        print(f"error: {describe_connection_error(exc, connection_parameters(broker.url))}", file=sys.stderr)
        return 1
    finally:
        remove(setup, client, made)
    dead_letters = {}
    for line in dead_letter_file.read_text().splitlines() if dead_letter_file.exists() else []:
        letter = json.loads(line)
        dead_letters[letter["record"]["basicProperties"]["messageId"]] = letter["reason"]
    print("5. each message, what was expected and what happened:")
    unexpected = []
    for message_id, message in messages.items():
        happened = outcome(message_id, dead_letters, left, topology)
        expected = expectation(message)
        as_expected = happened == "processed" if message.dead_letter_reason is None else happened.startswith(expected)
        if not as_expected:
            unexpected.append(message_id)
        print(f"   {message_id} {message.label}")
        print(f"      expected {expected}")
        print(f"      happened {happened}" + ("" if as_expected else "   <- not as expected"))
    print("   (in AWS dead letters go to the SQS dead-letter queue; here to a temporary file, removed now)")
    if unexpected:
        print(
            f"demo failed: {', '.join(unexpected)} did not go where expected. If you changed business_logic.process, "
            "change what the demo publishes and expects with it: src/rabbitmq_tools/demo_messages.py"
        )
        return 1
    print(f"demo succeeded: each of the {len(messages)} messages went where expected")
    return 0


def expectation(message: DemoMessage) -> str:
    if message.dead_letter_reason is None:
        return "processed"
    return f"dead-lettered: {message.dead_letter_reason}"


def outcome(message_id: str, dead_letters: dict[str, str], left: dict[str, str], topology: Topology) -> str:
    """What became of a message: dead-lettered by the handler (with its reason), left on the broker
    (the invocations failed), or else acked by a successful invocation: processed."""
    if message_id in dead_letters:
        return f"dead-lettered: {dead_letters[message_id]}"
    if message_id in left:
        if left[message_id] == topology.dead_letter_queue:
            return f"in {topology.dead_letter_queue}, past the delivery limit: every invocation failed (see the logs)"
        return f"still on {topology.queue}: its invocations failed (see the logs)"
    return "processed"


def left_on_broker(parameters: pika.ConnectionParameters, topology: Topology) -> dict[str, str]:
    """{message id: queue} of what is still on the work queue or its dead-letter queue (as the
    admin: the consumer may not read the latter). The demo deletes both right after."""
    left = {}
    with pika.BlockingConnection(parameters) as connection:
        channel = connection.channel()
        for queue in (topology.queue, topology.dead_letter_queue):
            while True:
                method, properties, _ = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    break
                left[properties.message_id] = queue
    return left


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
