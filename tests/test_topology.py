"""The queue topology on a real broker: idempotent, clash-checked, and a delivery limit that
moves a message which keeps failing to the broker's dead-letter queue."""

from __future__ import annotations

from typing import Any

import pika
import pytest

from rabbitmq_tools.topology import Topology, TopologyMismatch, declare_topology, topology_for
from support import drain, message_count, publish, wait_for

pytestmark = pytest.mark.integration


def test_declaring_twice_is_a_no_op(channel: Any, queue_name: str) -> None:
    first = declare_topology(channel, queue_name, delivery_limit=5)
    publish(channel, queue_name, [b"{}"])
    second = declare_topology(channel, queue_name, delivery_limit=5)
    assert first == second == topology_for(queue_name, 5)
    assert message_count(channel, queue_name) == 1


def test_queue_with_other_arguments_is_a_clear_error(connection: Any, queue_name: str) -> None:
    # GIVEN a classic queue that already has the name
    connection.channel().queue_declare(queue_name, durable=True)
    # WHEN the topology is declared on it THEN the clash is reported with the fix
    with pytest.raises(TopologyMismatch, match=r"inequivalent arg .* delete the existing queue"):
        declare_topology(connection.channel(), queue_name)


def test_message_past_the_delivery_limit_moves_to_the_dead_letter_queue(channel: Any, topology: Topology) -> None:
    # GIVEN a message on a queue with delivery limit 3
    (message_id,) = publish(channel, topology.queue, [b'{"poison": true}'])
    # WHEN a consumer rejects it on every delivery
    deliveries = 0
    while True:
        method, _, _ = channel.basic_get(topology.queue)
        if method is None:
            break
        deliveries += 1
        channel.basic_reject(method.delivery_tag, requeue=True)
    # THEN it was delivered limit + 1 times, then dead-lettered with its properties intact
    assert deliveries == topology.delivery_limit + 1
    wait_for(lambda: message_count(channel, topology.dead_letter_queue) == 1)
    ((properties, body),) = drain(channel, topology.dead_letter_queue)
    assert body == b'{"poison": true}'
    assert properties.message_id == message_id
    assert properties.headers["x-first-death-reason"] == "delivery_limit"


def test_topology_names(queue_name: str) -> None:
    topology = topology_for(queue_name)
    assert topology.dead_letter_exchange == f"{queue_name}.dlx"
    assert topology.dead_letter_queue == f"{queue_name}.dlq"
    assert topology.queue_arguments["x-queue-type"] == "quorum"
    assert topology.queue_arguments["x-delivery-limit"] == 20
    with pytest.raises(ValueError, match="at least 1"):
        topology_for(queue_name, 0)


def test_basic_properties_are_kept(channel: Any, topology: Topology) -> None:
    props = pika.BasicProperties(content_type="text/plain", headers={"k": "v"}, message_id="m")
    channel.basic_publish("", topology.queue, b"x", props)
    ((properties, _),) = drain(channel, topology.queue)
    assert properties.headers["k"] == "v"
