"""The sharded layout on a real broker: the consistent-hash exchange, the shard queues bound with one
weight each under the one policy, the users' permissions, the messages of one key on one queue;
and a change of the shard count that moves the messages of a queue no longer consumed and loses
none (docs/sharding.md)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pytest

from rabbitmq_admin import shards
from rabbitmq_admin.bootstrap_handler import Settings
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import HASH_EXCHANGE_TYPE, MAX_SHARDS, Topology
from rabbitmq_tools.bootstrap import BrokerSetup
from support import drain, refused, url_as, wait_for
from support.admin_functions import ROLES

KEY = "customer-id"


# --- units ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_sharded_names_patterns_and_what_the_exchange_hashes() -> None:
    topology = Topology("orders", 20, shards=3, shard_key=f"header:{KEY}")
    assert topology.queues == ("orders.shard-0", "orders.shard-1", "orders.shard-2")
    assert topology.exchange == "orders"
    assert topology.exchange_arguments == {"hash-header": KEY}
    assert topology.queue_pattern == r"^(orders\.shard\-0|orders\.shard\-1|orders\.shard\-2)$"
    assert Topology("orders", 20, shards=2, shard_key="message-id").exchange_arguments == {
        "hash-property": "message_id"
    }
    # One shard is today's layout: the queue alone, through the default exchange, whatever the key
    single = Topology("orders", 20, shard_key=f"header:{KEY}")
    assert (single.queues, single.exchange, single.queue_pattern) == (("orders",), "", "^orders$")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("shards", "key", "error"),
    [
        (2, None, "2 shards need an ordering key the exchange can hash, header:<name> or message-id"),
        (2, "json:customerId", "got 'json:customerId'"),
        (2, "header:", "got 'header:'"),
        (MAX_SHARDS + 1, "message-id", f"the shard count must be a whole number from 1 to {MAX_SHARDS}, got 11"),
        (0, None, "the shard count must be a whole number from 1 to 10, got 0"),
    ],
)
def test_keys_an_exchange_cannot_hash_and_counts_out_of_range_are_refused(
    shards: int, key: str | None, error: str
) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        Topology("orders", 20, shards=shards, shard_key=key)


@pytest.mark.unit
def test_a_broker_without_the_hash_exchange_type_stops_before_any_change() -> None:
    client = ManagementClient("http://127.0.0.1:1", "guest", "guest")  # never called: nothing reachable there
    topology = Topology("orders", 20, shards=2, shard_key="message-id")
    overview = {"exchange_types": [{"name": kind} for kind in ("direct", "fanout", "headers", "topic")]}
    with pytest.raises(AdminError) as failure:
        shards.apply(client, topology, overview, lambda line: None)
    assert str(failure.value) == (
        "the broker has no x-consistent-hash exchange type, which 2 shards need: enable the plugin "
        "(rabbitmq-plugins enable rabbitmq_consistent_hash_exchange; Amazon MQ has it on), or set shard_count = 1"
    )


ENVIRONMENT = {
    "MANAGEMENT_URL": "https://b-1.mq.eu-west-1.amazonaws.com",
    "ADMIN_SECRET_ARN": "arn:admin",
    **{f"{role.upper()}_SECRET_ARN": f"arn:{role}" for role in ROLES},
    **{f"{role.upper()}_USERNAME": role for role in ROLES},
    "QUEUE_NAME": "orders",
    "VIRTUAL_HOST": "/",
    "DELIVERY_LIMIT": "20",
}


@pytest.mark.unit
def test_the_bootstrap_function_reads_the_shard_count_and_the_key_from_its_environment() -> None:
    assert Settings.from_environment(ENVIRONMENT).topology.queues == ("orders",)  # SHARD_COUNT unset: one queue
    settings = Settings.from_environment({**ENVIRONMENT, "SHARD_COUNT": "4", "ORDERING_KEY": f"header:{KEY}"})
    assert settings.topology.queues == tuple(f"orders.shard-{index}" for index in range(4))
    assert settings.user("publisher", "p", "x" * 16).permissions.write == "^orders$"
    assert settings.user("consumer", "c", "x" * 16).permissions.read == settings.topology.queue_pattern
    for change, error in (
        ({"SHARD_COUNT": "4", "ORDERING_KEY": "none"}, "4 shards need an ordering key the exchange can hash"),
        ({"SHARD_COUNT": "four"}, "SHARD_COUNT is 'four', not a whole number"),
    ):
        with pytest.raises(AdminError) as failure:
            Settings.from_environment({**ENVIRONMENT, **change})
        assert str(failure.value).startswith(error)


# --- on the broker --------------------------------------------------------------------------


@pytest.fixture
def sharded(queue_name: str) -> Callable[..., BrokerSetup]:
    """`sharded(shards, key)`: the bootstrap's setup of `queue_name` with that many shards, the same
    users and passwords every time; everything is removed afterwards (queue_name's fixture)."""
    passwords = {role: uuid.uuid4().hex for role in ROLES}

    def make(count: int, key: str | None = f"header:{KEY}") -> BrokerSetup:
        topology = Topology(queue_name, 3, "/", count, key if count > 1 else None)
        return BrokerSetup.new(topology, f"{queue_name}-consumer", f"{queue_name}-publisher", passwords)

    return make


def publish_keys(url: str, exchange: str, queue: str, keys: list[str]) -> None:
    """Publish one message per key, in order, with confirms: to the exchange, or to the queue."""
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        for index, key in enumerate(keys):
            properties = pika.BasicProperties(message_id=f"m-{index}", headers={KEY: key}, delivery_mode=2)
            channel.basic_publish(exchange, "" if exchange else queue, key.encode(), properties, mandatory=True)


def counts(broker_url: str, names: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Ready messages per queue, exact (passive declares, not the management API's statistics)."""
    found = {}
    with pika.BlockingConnection(pika.URLParameters(broker_url)) as connection:
        channel = connection.channel()
        for name in names:
            found[name] = channel.queue_declare(name, passive=True).method.message_count
    return found


@pytest.mark.integration
def test_four_shards_behind_a_hash_exchange_with_the_policy_and_the_users(
    management: ManagementClient, broker_url: str, sharded: Callable[..., BrokerSetup]
) -> None:
    # GIVEN the bootstrap of 4 shards hashing the header customer-id
    setup = sharded(4)
    changes = setup.apply(management)
    topology = setup.topology
    # THEN the exchange hashes the header, and each shard is a quorum queue bound once with weight 1,
    # under the policy that holds the delivery limit and dead-lettering
    exchange = management.get("exchanges", "/", topology.exchange)
    assert (exchange["type"], exchange["durable"], exchange["arguments"]) == (
        HASH_EXCHANGE_TYPE,
        True,
        {"hash-header": KEY},
    )

    def policy_of(queue: str) -> Any:
        return (management.get("queues", "/", queue) or {}).get("policy")

    for queue in topology.queues:
        bindings = management.get("bindings", "/", "e", topology.exchange, "q", queue)
        assert [binding["routing_key"] for binding in bindings] == ["1"]
        assert wait_for(functools.partial(policy_of, queue)) == topology.policy_name
        assert management.get("queues", "/", queue)["arguments"] == {"x-queue-type": "quorum"}
    assert (
        f"created exchange {topology.exchange!r} ({HASH_EXCHANGE_TYPE}, {{'hash-header': '{KEY}'}}) on vhost '/'"
        in changes
    )
    # AND a second run changes nothing
    assert setup.apply(management) == []
    # WHEN the publisher publishes 200 messages over 20 keys to the exchange
    keys = [f"customer-{index % 20}" for index in range(200)]
    publish_keys(url_as(broker_url, setup.publisher), topology.exchange, "", keys)
    # THEN every message is in a shard, the messages of a key all in one, in publishing order, and the
    # consumer may read every shard
    per_queue: dict[str, list[str]] = {}
    with pika.BlockingConnection(pika.URLParameters(url_as(broker_url, setup.consumer))) as connection:
        channel = connection.channel()
        for queue in topology.queues:
            per_queue[queue] = [body.decode() for _, body in drain(channel, queue)]
    assert sorted(key for bodies in per_queue.values() for key in bodies) == sorted(keys)
    homes = {key: [queue for queue, bodies in per_queue.items() if key in bodies] for key in set(keys)}
    assert all(len(queues) == 1 for queues in homes.values()), homes
    assert sum(1 for bodies in per_queue.values() if bodies) >= 3  # 20 keys spread over the shards
    # AND the publisher may write to the exchange only: not to the default exchange
    reply = refused(
        lambda channel: channel.basic_publish("", topology.queues[0], b"x"), url_as(broker_url, setup.publisher)
    )
    assert "amq.default" in reply


@pytest.mark.integration
def test_the_message_id_is_hashed_when_it_is_the_key(
    management: ManagementClient, broker_url: str, sharded: Callable[..., BrokerSetup]
) -> None:
    setup = sharded(3, "message-id")
    setup.apply(management)
    assert management.get("exchanges", "/", setup.topology.exchange)["arguments"] == {"hash-property": "message_id"}
    publish_keys(url_as(broker_url, setup.publisher), setup.topology.exchange, "", ["same"] * 60)  # ids differ
    found = counts(broker_url, setup.topology.queues)
    assert sum(found.values()) == 60
    assert all(count > 0 for count in found.values()), found


@pytest.mark.integration
def test_changing_the_shard_count_moves_the_messages_of_retired_queues_and_loses_none(
    management: ManagementClient, broker_url: str, sharded: Callable[..., BrokerSetup]
) -> None:
    # GIVEN one queue holding 60 messages over 12 keys
    one = sharded(1)
    one.apply(management)
    keys = [f"customer-{index % 12}" for index in range(60)]
    publish_keys(url_as(broker_url, one.publisher), "", one.topology.queue, keys)
    family = [one.topology.queue, *sharded(3).topology.queues]

    def settled(expected: dict[str, int]) -> Callable[[], bool]:
        return lambda: counts(broker_url, family) == {name: expected.get(name, 0) for name in family}

    # WHEN the shard count becomes 3
    three = sharded(3)
    changes = three.apply(management)
    # THEN the queue no longer consumed is retired and its messages move to the shards through the exchange
    queue = one.topology.queue
    assert any(
        line.startswith(f"retired queue {queue!r} on vhost '/': shovel '{queue}.drain' moves") for line in changes
    )
    wait_for(lambda: sum(counts(broker_url, three.topology.queues).values()) == 60, timeout=20)
    spread = counts(broker_url, three.topology.queues)
    # AND a second run changes nothing
    assert three.apply(management) == []
    # WHEN it becomes 2: shard 2 is unbound and drained into the exchange, to shards 0 and 1
    two = sharded(2)
    changes = two.apply(management)
    retired = three.topology.queues[2]
    assert f"unbound queue {retired!r} from exchange {queue!r} on vhost '/': no mapping consumes it any more" in changes
    assert management.get("bindings", "/", "e", queue, "q", retired) == []
    wait_for(lambda: sum(counts(broker_url, two.topology.queues).values()) == 60, timeout=20)
    # AND the keys that were on shards 0 and 1 are still there: only shard 2's keys moved
    after = counts(broker_url, two.topology.queues)
    assert all(after[name] >= spread[name] for name in two.topology.queues)
    # WHEN it is 3 again: shard 2 is consumed again, no longer drained, and bound
    changes = three.apply(management)
    assert f"deleted shovel '{retired}.drain' on vhost '/': queue {retired!r} is consumed again" in changes
    assert management.get("parameters", "shovel", "/", f"{retired}.drain") is None
    # WHEN it is 1 again: the shards drain into the queue, and the exchange goes
    changes = one.apply(management)
    assert f"deleted shovel '{queue}.drain' on vhost '/': queue {queue!r} is consumed again" in changes
    assert management.get("exchanges", "/", queue) is None
    # THEN all 60 messages are back in the one queue, none lost, none doubled
    wait_for(settled({queue: 60}), timeout=20)
    with pika.BlockingConnection(pika.URLParameters(url_as(broker_url, one.consumer))) as connection:
        bodies = [body.decode() for _, body in drain(connection.channel(), queue)]
    assert sorted(bodies) == sorted(keys)


class _NoShovels(ManagementClient):
    """A broker's management API without the shovel plugin: it refuses a shovel's declaration."""

    def put(self, *path: str, body: dict[str, Any]) -> None:
        if path[:2] == ("parameters", "shovel"):
            raise AdminError(f"the RabbitMQ management API at {self.url} answered PUT /api/parameters/shovel with 400")
        super().put(*path, body=body)


@pytest.mark.integration
def test_without_shovels_a_retired_queue_stops_the_bootstrap_until_it_is_gone(
    management: ManagementClient, broker_url: str, sharded: Callable[..., BrokerSetup]
) -> None:
    no_shovels = _NoShovels(management.url, management.username, unquote(urlsplit(broker_url).password or ""))
    three = sharded(3)
    three.apply(no_shovels)
    retired = three.topology.queues[2]
    publish_keys(url_as(broker_url, three.publisher), three.topology.exchange, "", [f"k{i}" for i in range(30)])
    held = counts(broker_url, [retired])[retired]
    assert held > 0
    # WHEN the shard count drops to 2 on a broker that refuses shovels
    with pytest.raises(AdminError) as failure:
        sharded(2).apply(no_shovels)
    # THEN the bootstrap stops with the fix, and the messages stay where they are
    assert str(failure.value).startswith(f"queue {retired!r} on vhost '/' is no longer consumed with shard_count 2")
    assert "the broker refused the shovel that would move its messages to exchange" in str(failure.value)
    assert counts(broker_url, [retired])[retired] == held
    # AND an emptied queue still stops it (the management API's count lags: an empty-looking queue
    # may hold what a removed poller just returned), until the queue is deleted
    with pika.BlockingConnection(pika.URLParameters(url_as(broker_url, three.consumer))) as connection:
        drain(connection.channel(), retired)
    with pytest.raises(AdminError):
        sharded(2).apply(no_shovels)
    management.delete("queues", "/", retired)
    sharded(2).apply(no_shovels)
    assert management.get("queues", "/", retired) is None


@pytest.mark.integration
def test_an_exchange_of_another_type_is_never_replaced(
    management: ManagementClient, sharded: Callable[..., BrokerSetup]
) -> None:
    setup = sharded(2)
    body = {"type": "direct", "durable": True, "auto_delete": False, "internal": False, "arguments": {}}
    management.put("exchanges", "/", setup.topology.exchange, body=body)
    try:
        with pytest.raises(AdminError) as failure:
            setup.apply(management)
        assert str(failure.value) == (
            f"exchange {setup.topology.exchange!r} on vhost '/' exists as a durable direct exchange, not a durable "
            f"x-consistent-hash one: delete exchange {setup.topology.exchange!r} or choose another queue_name"
        )
    finally:
        management.delete("exchanges", "/", setup.topology.exchange)


@pytest.mark.integration
def test_a_new_key_replaces_the_exchange(management: ManagementClient, sharded: Callable[..., BrokerSetup]) -> None:
    sharded(2).apply(management)
    changes = sharded(2, "message-id").apply(management)
    exchange = sharded(2).topology.exchange
    assert changes[0] == (
        f"deleted exchange {exchange!r} on vhost '/', which hashed {{'hash-header': '{KEY}'}}, to hash "
        "{'hash-property': 'message_id'}: keys move between the shard queues"
    )
    assert management.get("exchanges", "/", exchange)["arguments"] == {"hash-property": "message_id"}
    assert len(management.get("exchanges", "/", exchange, "bindings", "source")) == 2
