"""The sharded layout's exchange and bindings, and what happens to a queue a new shard count no
longer consumes (docs/sharding.md).

Sharded (`Topology.sharded`), the bootstrap declares the consistent-hash exchange and binds each
shard queue to it with the same weight (`Topology.exchange_arguments` says what it hashes, and an
exchange's arguments never change: an exchange of ours that hashes something else is replaced, which
moves keys between queues like any rebinding). Unsharded, no such exchange is left.

A queue of the topology's family (the work queue, `<queue>.shard-<i>`) that the shard count no
longer consumes is *retired*, never deleted: it may hold messages. Terraform removes the mapping
that read it before the bootstrap runs again (the mapping depends on the bootstrap's invocation,
which a changed shard_count replaces), so its poller has returned what it held by then. The queue
is unbound, so nothing new reaches it through the exchange, and a dynamic shovel `<queue>.drain`
moves whatever it holds, and whatever reaches it later, to where messages go now: the exchange, or
the work queue. Amazon MQ for RabbitMQ supports dynamic shovels
declared through the management API (Amazon MQ guide, "Plugins", Shovel plugin); a broker without
the shovel plugin refuses the declaration, and a retired queue that still exists then stops the
bootstrap with the fix, since nothing would read what it holds (the management API's message
count lags, so an empty-looking queue is no exception). The empty queue stays until you delete it;
a shard count that consumes it again takes it back (its shovel removed, then bound).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from .errors import AdminError
from .management import ManagementClient
from .topology import HASH_EXCHANGE_TYPE, SHARD_WEIGHT, Topology

Changed = Callable[[str], None]
SHOVEL_SUFFIX = ".drain"


def apply(client: ManagementClient, topology: Topology, overview: dict[str, Any], changed: Changed) -> None:
    """The exchange and the bindings of the consumed queues (which exist), then the retired queues."""
    if topology.sharded:
        _check_exchange_type(topology, overview)
    for queue in topology.queues:
        _stop_draining(client, topology, queue, changed)  # first: its shovel may point at the exchange
    if topology.sharded:
        _exchange(client, topology, changed)
        for queue in topology.queues:
            _bind(client, topology, queue, changed)
    for queue in retired_queues(client, topology):
        _retire(client, topology, queue, changed)
    if not topology.sharded:
        _remove_exchange(client, topology, changed)


def retired_queues(client: ManagementClient, topology: Topology) -> list[str]:
    """The family's queues on the vhost that the topology does not consume."""
    family = re.compile(topology.family_pattern)
    found = client.get("queues", topology.vhost) or []
    names = sorted(str(queue.get("name")) for queue in found if isinstance(queue, dict))
    return [name for name in names if family.match(name) and name not in topology.queues]


def shovel_name(queue: str) -> str:
    return f"{queue}{SHOVEL_SUFFIX}"


def remove(client: ManagementClient, topology: Topology) -> None:
    """Delete the family's queues (with their messages), shovels and exchange: for the demo, the tests and
    the benchmarks, never the bootstrap."""
    family = re.compile(topology.family_pattern)
    for queue in client.get("queues", topology.vhost) or []:
        name = str(queue.get("name"))
        if family.match(name):
            client.delete("parameters", "shovel", topology.vhost, shovel_name(name))
            client.delete("queues", topology.vhost, name)
    if _hash_exchange_exists(client, topology):
        client.delete("exchanges", topology.vhost, topology.queue)


def _hash_exchange_exists(client: ManagementClient, topology: Topology) -> bool:
    """Whether the exchange named like the queue is a hash exchange, ours from a sharded shard count."""
    exchange = client.get("exchanges", topology.vhost, topology.queue)
    return exchange is not None and exchange.get("type") == HASH_EXCHANGE_TYPE


def _check_exchange_type(topology: Topology, overview: dict[str, Any]) -> None:
    """`GET /api/overview` lists the exchange types the broker's plugins provide."""
    types = {str(kind.get("name")) for kind in overview.get("exchange_types") or [] if isinstance(kind, dict)}
    if types and HASH_EXCHANGE_TYPE not in types:
        raise AdminError(
            f"the broker has no {HASH_EXCHANGE_TYPE} exchange type, which {topology.shards} shards need: enable the "
            "plugin (rabbitmq-plugins enable rabbitmq_consistent_hash_exchange; Amazon MQ has it on), or set "
            "shard_count = 1"
        )


def _exchange(client: ManagementClient, topology: Topology, changed: Changed) -> None:
    vhost, name, arguments = topology.vhost, topology.exchange, topology.exchange_arguments
    on = f"on vhost {vhost!r}"
    existing = client.get("exchanges", vhost, name)
    if existing is not None:
        if existing.get("type") != HASH_EXCHANGE_TYPE or not existing.get("durable"):
            raise AdminError(
                f"exchange {name!r} {on} exists as a {'durable' if existing.get('durable') else 'transient'} "
                f"{existing.get('type')} exchange, not a durable {HASH_EXCHANGE_TYPE} one: delete exchange {name!r} "
                "or choose another queue_name"
            )
        if (existing.get("arguments") or {}) == arguments:
            return
        # What it hashes cannot change in place. The exchange holds no messages: a publish in the moment
        # between delete and declare comes back unroutable (send.py publishes mandatory and says so).
        client.delete("exchanges", vhost, name)
        changed(
            f"deleted exchange {name!r} {on}, which hashed {existing.get('arguments')}, to hash {arguments}: keys "
            "move between the shard queues"
        )
    body = {"type": HASH_EXCHANGE_TYPE, "durable": True, "auto_delete": False, "internal": False}
    client.put("exchanges", vhost, name, body={**body, "arguments": arguments})
    changed(f"created exchange {name!r} ({HASH_EXCHANGE_TYPE}, {arguments}) {on}")


def _bind(client: ManagementClient, topology: Topology, queue: str, changed: Changed) -> None:
    """One binding of weight SHARD_WEIGHT: the plugin counts the first binding of a queue only."""
    vhost, exchange = topology.vhost, topology.exchange
    bindings = client.get("bindings", vhost, "e", exchange, "q", queue) or []
    if [binding.get("routing_key") for binding in bindings] == [SHARD_WEIGHT]:
        return
    for binding in bindings:
        client.delete("bindings", vhost, "e", exchange, "q", queue, str(binding.get("properties_key")))
    client.post("bindings", vhost, "e", exchange, "q", queue, body={"routing_key": SHARD_WEIGHT})
    changed(f"bound queue {queue!r} to exchange {exchange!r} (weight {SHARD_WEIGHT}) on vhost {vhost!r}")


def _stop_draining(client: ManagementClient, topology: Topology, queue: str, changed: Changed) -> None:
    """A queue consumed again is no longer drained: into the exchange, which would route back to it, or
    out of the work queue into an exchange about to go."""
    name = shovel_name(queue)
    if client.get("parameters", "shovel", topology.vhost, name) is not None:
        client.delete("parameters", "shovel", topology.vhost, name)
        changed(f"deleted shovel {name!r} on vhost {topology.vhost!r}: queue {queue!r} is consumed again")


def _retire(client: ManagementClient, topology: Topology, queue: str, changed: Changed) -> None:
    vhost, on = topology.vhost, f"on vhost {topology.vhost!r}"
    if _hash_exchange_exists(client, topology):
        for binding in client.get("bindings", vhost, "e", topology.queue, "q", queue) or []:
            client.delete("bindings", vhost, "e", topology.queue, "q", queue, str(binding.get("properties_key")))
            changed(f"unbound queue {queue!r} from exchange {topology.queue!r} {on}: no mapping consumes it any more")
    destination = {"dest-exchange": topology.exchange} if topology.sharded else {"dest-queue": topology.queue}
    where = f"exchange {topology.exchange!r}" if topology.sharded else f"queue {topology.queue!r}"
    value = {
        "src-protocol": "amqp091",
        "src-uri": _local_uri(vhost),
        "src-queue": queue,
        "dest-protocol": "amqp091",
        "dest-uri": _local_uri(vhost),
        **destination,
        "ack-mode": "on-confirm",  # a message leaves the retired queue once its new place has it
    }
    name = shovel_name(queue)
    existing = client.get("parameters", "shovel", vhost, name)
    if existing is not None and existing.get("value") == value:
        return
    stats = client.get("queues", vhost, queue) or {}
    held = stats.get("messages")
    try:
        client.put("parameters", "shovel", vhost, name, body={"value": value})
    except AdminError as exc:
        # Stop whatever the queue seems to hold: the management API's count lags the queue by
        # seconds, and the messages a removed mapping's poller returned may not be in it yet.
        raise AdminError(
            f"queue {queue!r} {on} is no longer consumed with shard_count {topology.shards} (it showed "
            f"{held if held is not None else 'an unknown number of'} message(s)), and the broker refused the shovel "
            f"that would move its messages to {where} ({exc}): enable the shovel plugin (Amazon MQ has it); or keep "
            "the former shard_count until the queue is empty, delete it, and apply again"
        ) from None
    changed(
        f"retired queue {queue!r} {on}: shovel {name!r} moves its messages ({held if held is not None else 'a'} "
        f"now, and any that reach it) to {where}; delete the queue once it shows no messages and no consumer"
    )


def _remove_exchange(client: ManagementClient, topology: Topology, changed: Changed) -> None:
    """Unsharded, the hash exchange of an earlier shard count goes (no queue is bound to it any more)."""
    if _hash_exchange_exists(client, topology):
        client.delete("exchanges", topology.vhost, topology.queue)
        changed(
            f"deleted exchange {topology.queue!r} on vhost {topology.vhost!r}: with one queue, messages go to "
            f"queue {topology.queue!r} through the default exchange"
        )


def _local_uri(vhost: str) -> str:
    """The broker itself, on the vhost: a direct connection as the user who declares the shovel."""
    return f"amqp:///{quote(vhost, safe='')}"
