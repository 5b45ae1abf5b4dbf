"""The least-privilege users the bootstrap makes, proved on the real broker: the consumer (the
event source mapping's user) reads its queue and can do nothing else; the publisher (send.py's
user) publishes through the default exchange and can do nothing else; the monitoring user (the
metrics function's) reads queue statistics from the management API and can do nothing else."""

from __future__ import annotations

import json
from typing import Any

import pika
import pika.exceptions
import pytest

from rabbitmq_admin.bootstrap import apply
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import QUEUE_ARGUMENTS
from rabbitmq_admin.users import MARKER_TAG, consumer
from rabbitmq_consumer import handler
from rabbitmq_tools import send
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.broker import LocalBroker
from rabbitmq_tools.local_event_source_mapping import LocalEventSourceMapping, MappingSettings
from support import drain, json_properties, message_count, publish, refused, sample, url_as, wait_for

pytestmark = pytest.mark.integration


def test_the_mapping_runs_as_the_consumer(
    broker_url: str, broker_setup: BrokerSetup, channel: Any, dead_letter_file: Any
) -> None:
    # GIVEN messages on the queue
    topology = broker_setup.topology
    bodies = [sample() for _ in range(5)]
    publish(
        channel,
        topology.queue,
        (json.dumps(b).encode() for b in bodies),
        lambda i: json_properties(bodies[i]["id"]),
    )
    # WHEN the local event source mapping consumes as the consumer user
    as_consumer = pika.URLParameters(url_as(broker_url, broker_setup.consumer))
    stats = LocalEventSourceMapping(as_consumer, MappingSettings(topology.queue), handler.lambda_handler).run(
        max_messages=5, idle_timeout=5
    )
    # THEN it processed and acked every one
    assert (stats.messages, stats.failures) == (5, 0)
    assert message_count(channel, topology.queue) == 0


def test_the_consumer_can_do_nothing_else(broker_url: str, broker_setup: BrokerSetup) -> None:
    topology = broker_setup.topology
    url = url_as(broker_url, broker_setup.consumer)
    publish_to_queue = refused(lambda ch: ch.basic_publish("", topology.queue, b"{}", mandatory=True), url)
    assert "access to exchange 'amq.default' in vhost '/' refused" in publish_to_queue
    refused(lambda ch: ch.basic_publish(topology.dead_letter_exchange, "", b"{}"), url)
    declare = refused(lambda ch: ch.queue_declare(f"{topology.queue}-other", durable=True), url)
    assert f"access to queue '{topology.queue}-other' in vhost '/' refused" in declare
    refused(lambda ch: ch.queue_declare(topology.queue, durable=True, arguments={"x-queue-type": "quorum"}), url)
    refused(lambda ch: ch.queue_bind(topology.queue, "amq.fanout"), url)
    refused(lambda ch: ch.basic_get(topology.dead_letter_queue), url)  # not even its dead-letter queue
    refused(lambda ch: ch.queue_purge(topology.dead_letter_queue), url)
    refused(lambda ch: ch.queue_delete(topology.queue), url)


def test_send_py_runs_as_the_publisher(
    broker_url: str, broker_setup: BrokerSetup, channel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    topology = broker_setup.topology
    code = send.main(["--url", url_as(broker_url, broker_setup.publisher), "--queue", topology.queue, "--count", "3"])
    assert (code, capsys.readouterr().err) == (0, "")
    assert message_count(channel, topology.queue) == 3
    assert len(drain(channel, topology.queue)) == 3


def test_the_publisher_can_do_nothing_else(broker_url: str, broker_setup: BrokerSetup, channel: Any) -> None:
    topology = broker_setup.topology
    url = url_as(broker_url, broker_setup.publisher)
    publish(channel, topology.queue, [b"{}"])
    consume = refused(lambda ch: ch.basic_consume(topology.queue, lambda *_: None), url)
    assert f"access to queue '{topology.queue}' in vhost '/' refused" in consume
    refused(lambda ch: ch.basic_get(topology.queue), url)
    refused(lambda ch: ch.queue_declare(f"{topology.queue}-other", durable=True), url)
    refused(lambda ch: ch.queue_bind(topology.queue, "amq.fanout"), url)
    # nor publish straight into the dead-letter queue, or through any other exchange
    refused(lambda ch: ch.basic_publish(topology.dead_letter_exchange, "", b"{}"), url)
    refused(lambda ch: ch.basic_publish("amq.direct", topology.queue, b"{}"), url)
    assert message_count(channel, topology.queue) == 1
    assert message_count(channel, topology.dead_letter_queue) == 0


def test_the_monitoring_user_reads_queue_statistics(
    broker: LocalBroker, broker_setup: BrokerSetup, channel: Any, management: ManagementClient
) -> None:
    # GIVEN two messages on the work queue
    topology, user = broker_setup.topology, broker_setup.monitoring
    publish(channel, topology.queue, [b"{}", b"{}"])
    as_monitoring = ManagementClient(broker.management_url, user.name, user.password)
    # WHEN the monitoring user reads the queue from the management API, as the metrics function does
    # THEN it sees its depth and consumers (the statistics arrive every few seconds)
    queue = wait_for(
        lambda: (q := as_monitoring.get("queues", topology.vhost, topology.queue)).get("messages") == 2 and q,
        timeout=30,
        interval=0.5,
    )
    assert queue["consumers"] == 0
    assert as_monitoring.get("queues", topology.vhost, topology.dead_letter_queue)["name"] == topology.dead_letter_queue
    # AND it may change nothing through the API
    with pytest.raises(AdminError, match=r"refused DELETE /api/queues/%2F/.* \(401 "):
        as_monitoring.delete("queues", topology.vhost, topology.queue)
    with pytest.raises(AdminError, match=r"refused GET /api/users .*\(401 Not administrator user\)"):
        as_monitoring.get("users")
    # AND its permission entry, which matches no resource, is what lets it see the vhost: without it,
    # the API refuses the queue whatever the user's tags
    management.delete("permissions", topology.vhost, user.name)
    with pytest.raises(AdminError, match=r"\(401 User not authorised to access virtual host\)"):
        as_monitoring.get("queues", topology.vhost, topology.queue)


def test_the_monitoring_user_can_do_nothing_over_amqp(broker_url: str, broker_setup: BrokerSetup) -> None:
    topology = broker_setup.topology
    url = url_as(broker_url, broker_setup.monitoring)
    refused(lambda ch: ch.basic_get(topology.queue), url)
    refused(lambda ch: ch.basic_consume(topology.dead_letter_queue, lambda *_: None), url)
    refused(lambda ch: ch.basic_publish("", topology.queue, b"{}"), url)
    refused(lambda ch: ch.queue_declare(f"{topology.queue}-other", durable=True), url)
    refused(lambda ch: ch.queue_purge(topology.queue), url)


def test_the_marker_tag_grants_no_management_access(
    broker: LocalBroker, broker_setup: BrokerSetup, management: ManagementClient
) -> None:
    # The consumer and the publisher carry the bootstrap's marker tag, a tag RabbitMQ does not
    # know: they still may not use the management API (only its management, policymaker,
    # monitoring and administrator tags open it).
    for user in (broker_setup.consumer, broker_setup.publisher):
        assert management.get("users", user.name)["tags"] == [MARKER_TAG]
        with pytest.raises(AdminError, match=r"\(401 Not management user\)"):
            ManagementClient(broker.management_url, user.name, user.password).get("overview")


def test_the_consumer_may_declare_its_queue_only_when_asked(
    broker_url: str, broker_setup: BrokerSetup, management: ManagementClient
) -> None:
    # GIVEN the consumer with configure on its queue (consumer_configure_permission = true), for a
    # poller that would declare the queue non-passively
    topology = broker_setup.topology
    user = consumer(broker_setup.consumer.name, broker_setup.consumer.password, topology, configure=True)
    apply(management, topology, [user])
    url = url_as(broker_url, user)
    # THEN it may declare its queue as the bootstrap did, and still nothing else
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        connection.channel().queue_declare(topology.queue, durable=True, arguments=QUEUE_ARGUMENTS)
    refused(lambda ch: ch.queue_declare(f"{topology.queue}-other", durable=True), url)
    refused(lambda ch: ch.queue_delete(topology.dead_letter_queue), url)
    refused(lambda ch: ch.basic_publish("", topology.queue, b"{}", mandatory=True), url)
