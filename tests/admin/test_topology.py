"""The queue topology on a real broker: the names and the policy it is defined by, and a
delivery limit, held by the policy, that moves a message which keeps failing to the broker's
dead-letter queue."""

from __future__ import annotations

from typing import Any

import pika
import pytest

from rabbitmq_admin.topology import QUEUE_ARGUMENTS, Topology
from support import drain, message_count, publish, wait_for


@pytest.mark.unit
def test_names_arguments_and_policy() -> None:
    topology = Topology("orders.eu-1", 20)
    assert (topology.dead_letter_exchange, topology.dead_letter_queue) == ("orders.eu-1.dlx", "orders.eu-1.dlq")
    assert QUEUE_ARGUMENTS == {"x-queue-type": "quorum"}  # only what cannot be a policy
    assert topology.queue_pattern == r"^orders\.eu\-1$"
    assert topology.policy_definition == {
        "delivery-limit": 20,
        "dead-letter-exchange": "orders.eu-1.dlx",
        "dead-letter-strategy": "at-least-once",
        "overflow": "reject-publish",
    }
    assert topology.vhost == "/"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("queue", "limit", "vhost", "error"),
    [
        ("orders", 0, "/", "delivery limit must be a whole number of at least 1"),
        ("orders", True, "/", "delivery limit must be a whole number of at least 1"),
        ("", 20, "/", "queue name must be 1 to 251 bytes long"),
        ("q" * 252, 20, "/", "queue name must be 1 to 251 bytes long"),
        ("amq.orders", 20, "/", "RabbitMQ reserves"),
        ("orders", 20, "", "the vhost name must not be empty"),
    ],
)
def test_invalid_topologies(queue: str, limit: int, vhost: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Topology(queue, limit, vhost)


@pytest.mark.integration
def test_message_past_the_delivery_limit_moves_to_the_dead_letter_queue(channel: Any, topology: Topology) -> None:
    # GIVEN a message on a bootstrapped queue, whose policy sets delivery limit 3
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


@pytest.mark.integration
def test_basic_properties_are_kept(channel: Any, topology: Topology) -> None:
    props = pika.BasicProperties(content_type="text/plain", headers={"k": "v"}, message_id="m")
    channel.basic_publish("", topology.queue, b"x", props)
    ((properties, _),) = drain(channel, topology.queue)
    assert properties.headers["k"] == "v"
