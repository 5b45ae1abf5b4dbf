"""scripts/send.py and the ordering key: sharded, it publishes to the consistent-hash exchange, each
key's messages to one shard queue, after checking the exchange and every shard queue exist; the key
header comes from --key, --spread-keys or the message itself (the example: its customerId); and,
unsharded, a header:<name> key is set too, so the function's lanes see it (docs/sharding.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pika
import pytest
from moto import mock_aws

from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_tools import send
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.project import EXAMPLE_MESSAGE
from support import drain, url_as

pytestmark = pytest.mark.integration

KEY = "customer-id"
EXAMPLE_CUSTOMER = json.loads(EXAMPLE_MESSAGE.read_text())["customerId"]


@pytest.fixture
def sharded(management: ManagementClient) -> Iterator[Callable[..., BrokerSetup]]:
    """`sharded(shards, key)`: a bootstrapped topology of that many shards on vhost '/', removed afterwards."""
    made: list[BrokerSetup] = []

    def make(shards: int = 3, key: str | None = f"header:{KEY}") -> BrokerSetup:
        name = f"test-{uuid.uuid4().hex[:12]}"
        setup = BrokerSetup.new(Topology(name, 3, "/", shards, key), f"{name}-consumer", f"{name}-publisher")
        made.append(setup)
        setup.apply(management)
        return setup

    yield make
    for setup in made:
        setup.remove(management)


def run_send(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = send.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def on_each_queue(broker_url: str, setup: BrokerSetup) -> dict[str, list[pika.BasicProperties]]:
    """Every message on each consumed queue (taken off), read as the consumer."""
    with pika.BlockingConnection(pika.URLParameters(url_as(broker_url, setup.consumer))) as connection:
        channel = connection.channel()
        return {queue: [props for props, _ in drain(channel, queue)] for queue in setup.topology.queues}


def sharded_args(broker_url: str, setup: BrokerSetup, *extra: str) -> list[str]:
    return [
        "--url",
        url_as(broker_url, setup.publisher),
        "--queue",
        setup.topology.queue,
        "--shards",
        str(setup.topology.shards),
        "--ordering-key",
        setup.topology.shard_key or "none",
        *extra,
    ]


def test_spread_keys_go_to_the_shards_each_key_to_one(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN three shards hashing the header customer-id
    setup = sharded(3)
    # WHEN send.py publishes 60 messages over 12 keys, as the publisher (who may write to the exchange only)
    code, out, err = run_send(sharded_args(broker_url, setup, "--count", "60", "--spread-keys", "12"), capsys)
    # THEN every message is confirmed and on a shard, each key's messages all on one shard, in order
    assert (code, err) == (0, "")
    assert f"exchange {setup.topology.queue!r} (3 shard queues) on vhost '/': sent 60 | confirmed 60" in out
    found = on_each_queue(broker_url, setup)
    assert sum(len(messages) for messages in found.values()) == 60
    homes: dict[str, set[str]] = {}
    for queue, messages in found.items():
        for props in messages:
            homes.setdefault(props.headers[KEY], set()).add(queue)
    assert sorted(homes) == sorted(f"key-{index}" for index in range(12))
    assert all(len(queues) == 1 for queues in homes.values()), homes
    for messages in found.values():
        ids = [props.message_id for props in messages]
        assert ids == sorted(ids)  # one poller reads a shard in publishing order
    assert sum(1 for messages in found.values() if messages) >= 2


def test_the_key_comes_from_the_message_by_default(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(2)
    code, _, err = run_send(sharded_args(broker_url, setup, "--count", "3"), capsys)  # example-message.json
    assert (code, err) == (0, "")
    (messages,) = [messages for messages in on_each_queue(broker_url, setup).values() if messages]
    assert [props.headers[KEY] for props in messages] == [EXAMPLE_CUSTOMER] * 3


def test_a_given_key_and_a_header_given_by_hand(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(2)
    code, _, err = run_send(sharded_args(broker_url, setup, "--key", "cus-1"), capsys)
    assert (code, err) == (0, "")
    code, _, err = run_send(sharded_args(broker_url, setup, "--header", f"{KEY}=cus-2"), capsys)
    assert (code, err) == (0, "")
    keys = sorted(props.headers[KEY] for messages in on_each_queue(broker_url, setup).values() for props in messages)
    assert keys == ["cus-1", "cus-2"]


def test_a_message_without_its_key_is_refused_before_publishing(
    broker_url: str, sharded: Callable[..., BrokerSetup], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(2)
    body = tmp_path / "no-customer.json"
    body.write_text('{"orderId": "ord-1"}')
    code, _, err = run_send(sharded_args(broker_url, setup, "--file", str(body)), capsys)
    assert code == send.USAGE
    assert err == (
        f"error: the message has no 'customerId' (a string or a whole number) for its ordering key, the header "
        f"'{KEY}': give --key VALUE, --key-field PATH (the field that holds it), or --spread-keys N for a load test\n"
    )
    assert sum(len(messages) for messages in on_each_queue(broker_url, setup).values()) == 0


def test_message_id_shards_need_no_header(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(3, "message-id")
    code, _, err = run_send(sharded_args(broker_url, setup, "--count", "30"), capsys)
    assert (code, err) == (0, "")
    found = on_each_queue(broker_url, setup)
    assert sum(len(messages) for messages in found.values()) == 30
    assert all(messages for messages in found.values())  # unique ids spread over every shard
    assert not [props for messages in found.values() for props in messages if KEY in (props.headers or {})]


@pytest.mark.parametrize("missing", ["exchange", "shard"])
def test_a_missing_exchange_or_shard_queue_is_the_bootstraps_to_create(
    broker_url: str,
    management: ManagementClient,
    sharded: Callable[..., BrokerSetup],
    missing: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup = sharded(3)
    queue = setup.topology.queue
    if missing == "exchange":
        management.delete("exchanges", "/", queue)
        error = (
            f"error: exchange {queue!r}, which sends each message to a shard queue, does not exist on vhost '/': "
            "terraform apply runs the bootstrap that creates it; locally run scripts/bootstrap.py --shards N, or "
            "check --shards and --queue\n"
        )
    else:
        management.delete("queues", "/", f"{queue}.shard-2")
        error = (
            f"error: queue '{queue}.shard-2' does not exist on vhost '/' on the broker: terraform apply runs the "
            "bootstrap that creates it; locally run scripts/bootstrap.py, or check --queue and --vhost\n"
        )
    code, _, err = run_send(sharded_args(broker_url, setup, "--spread-keys", "3"), capsys)
    assert (code, err) == (send.QUEUE, error)


def test_shards_need_a_key_the_exchange_hashes(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_send(["--url", broker_url, "--shards", "3", "--ordering-key", "json:customerId"], capsys)
    assert code == send.USAGE
    assert err == (
        "error: 3 shards need an ordering key the exchange hashes, header:<name> or message-id, not "
        "'json:customerId': give --ordering-key\n"
    )


@pytest.mark.parametrize("shards", ["0", "11"])
def test_a_shard_count_out_of_range_is_refused(
    broker_url: str, capsys: pytest.CaptureFixture[str], shards: str
) -> None:
    code, _, err = run_send(["--url", broker_url, "--shards", shards, "--ordering-key", "message-id"], capsys)
    assert code == send.USAGE
    assert err == f"error: --shards must be 1 to 10 (shard_count's range), got {shards}\n"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager, in this process, for the publisher's secret the outputs name."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


@pytest.mark.parametrize("shards", [1, 3])
def test_the_deployments_outputs_say_where_to_publish_and_which_header_holds_the_key(
    broker_url: str,
    sharded: Callable[..., BrokerSetup],
    aws: Any,
    shards: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Terraform outputs name the consumed queues, the exchange and the ordering key. Unsharded with a
    header key, the header is set too, for the function's lanes."""
    setup = sharded(shards)
    topology, publisher = setup.topology, setup.publisher
    secret = aws.create_secret(
        Name=f"publisher-{topology.queue}",
        SecretString=json.dumps({"username": publisher.name, "password": publisher.password}),
    )["ARN"]
    parts = urlsplit(broker_url)
    values = {
        "region": "eu-west-1",
        "amqps_endpoint": f"amqp://{parts.hostname}:{parts.port}",
        "publisher_secret_arn": secret,
        "queue_name": topology.queue,
        "virtual_host": "/",
        "max_message_size": 134217728,
        "consumed_queues": list(topology.queues),
        "publish_exchange": topology.exchange,
        "ordering_key": f"header:{KEY}",
    }
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({name: {"sensitive": False, "value": value} for name, value in values.items()}))
    code, out, err = run_send(["--outputs", str(outputs), "--key", "cus-9"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"sent 1 message to {'exchange' if shards > 1 else 'queue'} {topology.queue!r}")
    found = on_each_queue(broker_url, setup)
    assert [props.headers[KEY] for messages in found.values() for props in messages] == ["cus-9"]
