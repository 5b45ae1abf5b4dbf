"""The queue topology: the one definition of its names and arguments, for the bootstrap that
applies it and for every tool and test that uses it.

    <queue> (quorum queue) --dead-letter--> <queue>.dlx (fanout exchange) --> <queue>.dlq (quorum queue)

Sharded (`shards` N > 1, docs/sharding.md), messages go to an exchange named like the queue, of
the consistent-hash type, which hashes the ordering key (a header, or the message id) and routes
each message to one of N quorum queues, all bound with the same weight; each has its own event
source mapping, and all dead-letter to the one <queue>.dlq:

    <queue> (x-consistent-hash exchange) --> <queue>.shard-0 ... <queue>.shard-<N-1> (quorum queues)

The messages of one key always reach the same shard queue while the bindings stay as they are:
the plugin picks a queue by jump consistent hashing over the bindings (rabbit_exchange_type_
consistent_hash.erl in rabbitmq-server), so adding or removing a shard moves some keys to another
queue, and, by its README ("Node Restart Effects"), a node restart may move keys too.

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
# The plugin rabbitmq_consistent_hash_exchange's type; Amazon MQ for RabbitMQ ships it enabled ("By
# default, Amazon MQ for RabbitMQ supports the Consistent Hash exchange type plugin", Amazon MQ guide,
# "Plugins", rabbitmq-basic-elements-plugins.html).
HASH_EXCHANGE_TYPE = "x-consistent-hash"
# A binding's key is its weight, the number of buckets its queue gets; the plugin's README recommends
# equal weights of 1 ("Choosing Appropriate Weight Values").
SHARD_WEIGHT = "1"
# The most shards: each is an event source mapping, and the alarms that sum or compare the shards'
# metrics may read at most 10 metrics each (PutMetricAlarm: "as many as 10 structures that contain a
# MetricStat"); Terraform's shard_count says the same (variables.tf).
MAX_SHARDS = 10
# The ordering keys a consistent-hash exchange can hash: a header (`hash-header`) or the message id
# (`hash-property`); a key in the body (json:<path>) it cannot read.
SHARD_KEYS = ("header:<name>", "message-id")


@dataclass(frozen=True)
class Topology:
    queue: str
    delivery_limit: int
    vhost: str = "/"
    shards: int = 1
    # The ordering key the exchange hashes when sharded: "header:<name>" or "message-id".
    shard_key: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.shards, bool) or not isinstance(self.shards, int) or not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"the shard count must be a whole number from 1 to {MAX_SHARDS}, got {self.shards!r}")
        # The longest name derived from the queue's: its dead-letter queue's, or a shard's.
        suffix = max(len(name) for name in (self.dead_letter_queue, *self.queues)) - len(self.queue)
        if not self.queue or len(self.queue.encode()) + suffix > _MAX_NAME_BYTES:
            raise ValueError(f"queue name must be 1 to {_MAX_NAME_BYTES - suffix} bytes long, got {self.queue!r}")
        if self.queue.startswith("amq."):
            raise ValueError(f"queue name {self.queue!r} starts with 'amq.', which RabbitMQ reserves for itself")
        if not self.vhost:
            raise ValueError("the vhost name must not be empty ('/' is the default vhost)")
        if isinstance(self.delivery_limit, bool) or not isinstance(self.delivery_limit, int) or self.delivery_limit < 1:
            raise ValueError(f"delivery limit must be a whole number of at least 1, got {self.delivery_limit!r}")
        if self.sharded:
            hash_arguments(self.shard_key, self.shards)  # a key the exchange cannot hash is refused here

    @property
    def sharded(self) -> bool:
        return self.shards > 1

    @property
    def queues(self) -> tuple[str, ...]:
        """The queues consumed, each by its own event source mapping: the work queue, or the shards."""
        if not self.sharded:
            return (self.queue,)
        return tuple(shard_queue_name(self.queue, index) for index in range(self.shards))

    @property
    def exchange(self) -> str:
        """Where publishers send: the default exchange ("") to the work queue, or the hash exchange."""
        return self.queue if self.sharded else ""

    @property
    def exchange_arguments(self) -> dict[str, str]:
        """The hash exchange's arguments: what it hashes (an exchange's arguments never change)."""
        return hash_arguments(self.shard_key, self.shards)

    @property
    def family_pattern(self) -> str:
        """A regular expression of every queue this topology may have consumed, live or retired: the
        work queue and any shard queue (a different shard count consumes others)."""
        return f"^{re.escape(self.queue)}({re.escape(SHARD_SEPARATOR)}[0-9]+)?$"

    @property
    def dead_letter_exchange(self) -> str:
        return dead_letter_exchange_name(self.queue)

    @property
    def dead_letter_queue(self) -> str:
        return dead_letter_queue_name(self.queue)

    @property
    def queue_pattern(self) -> str:
        """A regular expression that matches the consumed queues' names and nothing else (the work
        queue's, or the shards'), for the policy and the consumer's permissions."""
        names = [re.escape(name) for name in self.queues]
        return f"^{names[0]}$" if len(names) == 1 else f"^({'|'.join(names)})$"

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


SHARD_SEPARATOR = ".shard-"


def hash_arguments(shard_key: str | None, shards: int) -> dict[str, str]:
    """What the hash exchange hashes, for an ordering key; ValueError for one it cannot hash."""
    key = shard_key or "none"
    source, _, name = key.partition(":")
    if key == "message-id":
        return {"hash-property": "message_id"}
    if source == "header" and name:
        return {"hash-header": name}
    raise ValueError(
        f"{shards} shards need an ordering key the exchange can hash, {' or '.join(SHARD_KEYS)} (header:customer-id "
        f"keeps each customer's messages in order; message-id keeps no order), got {key!r}"
    )


def shard_queue_name(queue: str, index: int) -> str:
    return f"{queue}{SHARD_SEPARATOR}{index}"


def dead_letter_exchange_name(queue: str) -> str:
    return f"{queue}.dlx"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"
