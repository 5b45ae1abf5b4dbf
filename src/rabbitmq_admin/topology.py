"""The queue topology: the one definition of its names and arguments, for the bootstrap that
applies it and for every tool and test that uses it.

    <queue> (quorum queue) --dead-letter--> <queue>.dlx (fanout exchange) --> <queue>.dlq (quorum queue)

Lambda retries a failed batch with no retry limit of its own, so a message that crashes the
function on every delivery would loop forever. The quorum queue's delivery limit caps that:
past it the broker moves the message to the dead-letter exchange, and the `at-least-once`
strategy makes the move safe (the message leaves the work queue only once the dead-letter
queue has it; that strategy requires `reject-publish` overflow).

A queue's arguments can never change once it exists, while a policy can change at any time.
So the queues carry only what cannot be a policy, their type; the delivery limit and the
dead-lettering are a policy (`policy.py`), and a new delivery limit takes effect on the next
bootstrap without deleting the queue or its messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# What only a queue argument can set: a queue's type is fixed when it is declared.
QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}
DEAD_LETTER_EXCHANGE_TYPE = "fanout"
_MAX_NAME_BYTES = 255  # AMQP 0-9-1 short strings


@dataclass(frozen=True)
class Topology:
    queue: str
    delivery_limit: int
    vhost: str = "/"

    def __post_init__(self) -> None:
        if not self.queue or len(self.dead_letter_queue.encode()) > _MAX_NAME_BYTES:
            raise ValueError(f"queue name must be 1 to {_MAX_NAME_BYTES - 4} bytes long, got {self.queue!r}")
        if self.queue.startswith("amq."):
            raise ValueError(f"queue name {self.queue!r} starts with 'amq.', which RabbitMQ reserves for itself")
        if not self.vhost:
            raise ValueError("the vhost name must not be empty ('/' is the default vhost)")
        if isinstance(self.delivery_limit, bool) or not isinstance(self.delivery_limit, int) or self.delivery_limit < 1:
            raise ValueError(f"delivery limit must be a whole number of at least 1, got {self.delivery_limit!r}")

    @property
    def dead_letter_exchange(self) -> str:
        return dead_letter_exchange_name(self.queue)

    @property
    def dead_letter_queue(self) -> str:
        return dead_letter_queue_name(self.queue)

    @property
    def queue_pattern(self) -> str:
        """A regular expression that matches the work queue's name and nothing else, for the
        policy and the consumer's permissions."""
        return f"^{re.escape(self.queue)}$"

    @property
    def policy_name(self) -> str:
        return f"{self.queue}.dead-lettering"

    @property
    def policy_definition(self) -> dict[str, Any]:
        """The work queue's delivery limit and dead-lettering. RabbitMQ 3.10 and later accept each
        key in a policy for quorum queues (`dead-letter-strategy` first appeared in 3.10)."""
        return {
            "delivery-limit": self.delivery_limit,
            "dead-letter-exchange": self.dead_letter_exchange,
            "dead-letter-strategy": "at-least-once",
            "overflow": "reject-publish",
        }


def dead_letter_exchange_name(queue: str) -> str:
    return f"{queue}.dlx"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"
