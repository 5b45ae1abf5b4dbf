"""The queue topology, declared in one place for the local mapping, send.py and the tests.

    orders (quorum queue, delivery limit) --dead-letter--> orders.dlx (fanout) --> orders.dlq

Lambda retries a failed batch with no retry limit of its own, so a message that crashes
the function on every delivery would loop forever. The quorum queue's delivery limit caps
that: past it the broker moves the message to the dead-letter exchange, and the
`at-least-once` strategy makes that move safe (the message is dropped from the work queue
only once the dead-letter queue has it; that strategy requires `reject-publish` overflow).

Messages the handler itself rejects (undecodable, invalid) go to the function's own
dead-letter sink instead (SQS in AWS); this broker-side queue holds the ones that crashed it.

Arguments cannot change on an existing queue: declaring it again with other settings is
refused by the broker, and reported here as `TopologyMismatch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT

__all__ = ["DEFAULT_DELIVERY_LIMIT", "Topology", "TopologyMismatch", "declare_topology", "delete_topology"]

_PRECONDITION_FAILED = 406


class TopologyMismatch(Exception):
    """A queue or exchange already exists with other settings."""


@dataclass(frozen=True)
class Topology:
    queue: str
    dead_letter_exchange: str
    dead_letter_queue: str
    delivery_limit: int

    @property
    def queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


def topology_for(queue: str, delivery_limit: int = DEFAULT_DELIVERY_LIMIT) -> Topology:
    if delivery_limit < 1:
        raise ValueError(f"delivery limit must be at least 1, got {delivery_limit}")
    return Topology(queue, f"{queue}.dlx", f"{queue}.dlq", delivery_limit)


def declare_topology(
    channel: pika.adapters.blocking_connection.BlockingChannel,
    queue: str,
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
) -> Topology:
    """Declare the work queue, its dead-letter exchange and dead-letter queue; a no-op when
    they exist with the same settings. On `TopologyMismatch` the broker has closed `channel`."""
    topology = topology_for(queue, delivery_limit)
    try:
        channel.exchange_declare(topology.dead_letter_exchange, exchange_type="fanout", durable=True)
        channel.queue_declare(topology.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(topology.dead_letter_queue, topology.dead_letter_exchange)
        channel.queue_declare(queue, durable=True, arguments=topology.queue_arguments)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code != _PRECONDITION_FAILED:
            raise
        raise TopologyMismatch(
            f"{exc.reply_text}: delete the existing queue/exchange, or choose another queue name"
        ) from None
    return topology


def delete_topology(channel: pika.adapters.blocking_connection.BlockingChannel, topology: Topology) -> None:
    channel.queue_delete(topology.queue)
    channel.queue_delete(topology.dead_letter_queue)
    channel.exchange_delete(topology.dead_letter_exchange)
