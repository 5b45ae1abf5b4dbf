"""The broker bootstrap (rabbitmq_admin) against the real broker's management API: what it
creates, that a second run changes nothing, that a new delivery limit reaches an existing queue
through its policy, how its policy takes its place among Amazon MQ's default policies, and each
fault with its one line. Then scripts/bootstrap.py, the same code from a laptop."""

from __future__ import annotations

import dataclasses
import json
import re
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pika.exceptions
import pytest

from rabbitmq_admin.bootstrap import apply
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.policy import apply_to, work_queue_policy
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import (
    MARKER_TAG,
    PASSWORD_ALPHABET,
    alternate,
    consumer,
    generate_password,
    holds_password,
    monitoring,
    password_matches,
    publisher,
)
from rabbitmq_tools import bootstrap as bootstrap_command
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.broker import LocalBroker
from support import message_count, publish, wait_for
from support.tcp_proxy import TcpProxy
from support.tls import self_signed_certificate, server_context

# --- units: the policy's place, passwords, URLs ---------------------------------------------

# Amazon MQ's default policies ("Amazon MQ for RabbitMQ broker defaults"), with the keys the
# guide lists for each deployment mode.
SINGLE_INSTANCE: dict[str, Any] = {
    "name": "AWS-DEFAULT-POLICY-SINGLE-INSTANCE",
    "pattern": ".*",
    "apply-to": "all",
    "priority": 0,
    "definition": {"queue-mode": "lazy"},
}
CLUSTER: list[dict[str, Any]] = [
    {
        "name": "AWS-DEFAULT-POLICY-CLUSTER-MULTI-AZ",
        "pattern": ".*",
        "apply-to": "all",
        "priority": 1,
        "definition": {
            "ha-mode": "all",
            "ha-sync-mode": "automatic",
            "max-length": 8000000,
            "overflow": "reject-publish",
            "queue-mode": "lazy",
        },
    },
    {
        "name": "AWS-DEFAULT-QUORUM-QUEUES-POLICY-CLUSTER-MULTI-AZ",
        "pattern": ".*",
        "apply-to": "quorum_queues",
        "priority": 1,
        "definition": {"max-length": 4000000, "overflow": "reject-publish"},
    },
]


@pytest.mark.unit
def test_our_policy_outranks_amazon_mqs_default_and_keeps_its_limits() -> None:
    topology = Topology("orders", 20)
    single = work_queue_policy(topology, [SINGLE_INSTANCE], "3.13.7")
    assert single.priority == 1
    assert single.definition == topology.policy_definition  # queue-mode is classic-only: not carried
    cluster = work_queue_policy(topology, CLUSTER, "3.13.7")
    assert cluster.priority == 2
    # the quorum-queue policy is the more specific of the two tied at priority 1
    assert cluster.definition == {**topology.policy_definition, "max-length": 4000000}
    assert cluster.apply_to == "quorum_queues"
    assert cluster.pattern == "^orders$"


@pytest.mark.unit
def test_policies_that_do_not_reach_the_work_queue_are_ignored() -> None:
    others = [
        {"name": "other-queue", "pattern": "^other$", "apply-to": "queues", "priority": 9, "definition": {"a": 1}},
        {"name": "exchanges", "pattern": ".*", "apply-to": "exchanges", "priority": 9, "definition": {"b": 2}},
        {"name": "classic", "pattern": ".*", "apply-to": "classic_queues", "priority": 9, "definition": {"c": 3}},
        {"name": "orders.dead-lettering", "pattern": ".*", "apply-to": "queues", "priority": 7, "definition": {}},
    ]
    policy = work_queue_policy(Topology("orders", 20), others, "4.2.0")
    assert (policy.priority, policy.definition) == (0, Topology("orders", 20).policy_definition)


@pytest.mark.unit
def test_apply_to_follows_the_version() -> None:
    assert apply_to("3.10.8") == apply_to("3.12.13") == "queues"  # they know no quorum_queues
    assert apply_to("3.13.7") == apply_to("4.2.1") == apply_to("4.3.0-beta.1") == "quorum_queues"


@pytest.mark.unit
def test_passwords() -> None:
    passwords = {generate_password() for _ in range(100)}
    assert len(passwords) == 100
    assert all(len(p) == 32 and set(p) <= set(PASSWORD_ALPHABET) for p in passwords)
    assert not set(",:=") & set(PASSWORD_ALPHABET)  # Amazon MQ refuses them
    # The example of RabbitMQ's guide ("Computing Password Hashes"): salt 908DC60A, password test12.
    example = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    assert password_matches("test12", example, "rabbit_password_hashing_sha256")
    assert not password_matches("test13", example, "rabbit_password_hashing_sha256")
    assert not password_matches("test12", example, "rabbit_password_hashing_unknown")
    assert not password_matches("test12", "not base64!", "rabbit_password_hashing_sha256")
    user = consumer("orders-consumer", "s3cr3t-password", Topology("orders", 20))
    assert "s3cr3t" not in repr(user)


@pytest.mark.unit
def test_the_roles_permissions() -> None:
    topology = Topology("orders-1", 20)
    reader = consumer("c", "p" * 12, topology).permissions
    assert (reader.configure, reader.write, reader.read) == ("^$", "^$", r"^orders\-1$")
    writer = publisher("p", "p" * 12).permissions
    assert (writer.configure, writer.write, writer.read) == ("^$", r"^amq\.default$", "^$")
    watcher = monitoring("m", "p" * 12)
    assert (watcher.permissions.configure, watcher.permissions.write, watcher.permissions.read) == ("^$", "^$", "^$")
    assert watcher.tags == ("monitoring",)
    assert consumer("c", "p" * 12, topology).tags == publisher("p", "p" * 12).tags == ()


@pytest.mark.unit
def test_alternate_users() -> None:
    # The pair AWS's alternating-users templates rotate between: <name> and <name>_clone
    assert alternate("orders-consumer") == "orders-consumer_clone"
    assert alternate("orders-consumer_clone") == "orders-consumer"
    assert alternate(alternate("x")) == "x"
    assert alternate("_clone") == "_clone_clone"  # never an empty name


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://b-1234.mq.eu-west-1.amazonaws.com", True),
        ("http://localhost:15672", True),
        ("http://127.0.0.1:15672", True),
        ("http://172.17.0.1:32768", True),  # a Testcontainers broker behind the docker0 gateway
        ("http://b-1234.mq.eu-west-1.amazonaws.com", False),
        ("http://8.8.8.8:15672", False),
        ("ftp://localhost", False),
    ],
)
def test_plain_http_only_for_a_local_broker(url: str, allowed: bool) -> None:
    if allowed:
        ManagementClient(url, "admin", "password")
    else:
        with pytest.raises(AdminError, match=r"https://"):
            ManagementClient(url, "admin", "password")


# --- the real broker ----------------------------------------------------------------------


def snapshot(client: ManagementClient, setup: BrokerSetup) -> dict[str, Any]:
    """What the broker holds for a bootstrap, without statistics."""
    topology = setup.topology
    queues = {
        name: {key: client.get("queues", topology.vhost, name)[key] for key in ("arguments", "durable", "type")}
        for name in (topology.queue, topology.dead_letter_queue)
    }
    return {
        "queues": queues,
        "exchange": client.get("exchanges", topology.vhost, topology.dead_letter_exchange),
        "bindings": client.get(
            "bindings", topology.vhost, "e", topology.dead_letter_exchange, "q", topology.dead_letter_queue
        ),
        "policies": client.get("policies", topology.vhost),
        "users": [client.get("users", user.name) for user in setup.users],  # the password hash included
        "permissions": [client.get("permissions", topology.vhost, user.name) for user in setup.users],
    }


@pytest.fixture
def vhost(management: ManagementClient) -> Iterator[str]:
    """A unique vhost, deleted afterwards with all it holds."""
    name = f"test-vhost-{uuid.uuid4().hex[:8]}"
    yield name
    management.delete("vhosts", name)


@pytest.mark.integration
def test_first_run_creates_everything_and_a_second_changes_nothing(
    management: ManagementClient, queue_name: str, vhost: str
) -> None:
    # GIVEN a vhost that does not exist yet
    setup = BrokerSetup.new(Topology(queue_name, 7, vhost), f"{queue_name}-consumer", f"{queue_name}-publisher")
    try:
        # WHEN the bootstrap runs
        first = setup.apply(management)
        # THEN it made the vhost, the topology, the policy, the users and their permissions
        assert first == [
            f"created vhost '{vhost}'",
            f"created exchange '{queue_name}.dlx' (fanout) on vhost '{vhost}'",
            f"created queue '{queue_name}.dlq' (quorum) on vhost '{vhost}'",
            f"bound queue '{queue_name}.dlq' to exchange '{queue_name}.dlx' on vhost '{vhost}'",
            f"created policy '{queue_name}.dead-lettering' on vhost '{vhost}' (priority 0, apply-to "
            f"{apply_to(management.get('overview')['rabbitmq_version'])}): delivery-limit 7, dead-letter-exchange "
            f"{queue_name}.dlx, dead-letter-strategy at-least-once, overflow reject-publish",
            f"created queue '{queue_name}' (quorum) on vhost '{vhost}'",
            f"created consumer user '{queue_name}-consumer'",
            f"set the permissions of consumer user '{queue_name}-consumer' on vhost '{vhost}': configure ^$, "
            f"write ^$, read ^{queue_name.replace('-', chr(92) + '-')}$",
            f"created publisher user '{queue_name}-publisher'",
            f"set the permissions of publisher user '{queue_name}-publisher' on vhost '{vhost}': configure ^$, "
            r"write ^amq\.default$, read ^$",
            f"created monitoring user '{queue_name}-monitoring'",
            f"set the permissions of monitoring user '{queue_name}-monitoring' on vhost '{vhost}': configure ^$, "
            "write ^$, read ^$",
        ]
        # each tagged as the bootstrap's own; the monitoring user with RabbitMQ's monitoring tag too
        assert sorted(management.get("users", f"{queue_name}-monitoring")["tags"]) == ["monitoring", MARKER_TAG]
        assert management.get("users", f"{queue_name}-consumer")["tags"] == [MARKER_TAG]
        before = snapshot(management, setup)
        # WHEN it runs again THEN nothing changes: no line, and the broker holds exactly the same
        # (a password set again would have a new salt, so a new hash)
        assert setup.apply(management) == []
        assert snapshot(management, setup) == before
    finally:
        setup.remove(management)


@pytest.mark.integration
def test_a_new_delivery_limit_updates_the_policy_and_keeps_the_queue_and_its_messages(
    bootstrap: Callable[..., BrokerSetup], management: ManagementClient, channel: Any
) -> None:
    # GIVEN a bootstrapped queue with delivery limit 3 and two messages on it
    topology = bootstrap(delivery_limit=3).topology
    publish(channel, topology.queue, [b"{}", b'{"poison": true}'])
    # WHEN the bootstrap runs with limit 5
    changes = apply(management, dataclasses.replace(topology, delivery_limit=5), [])
    # THEN only the policy changed, the messages are still there, and the new limit applies
    (change,) = changes
    assert change.startswith(f"updated policy '{topology.policy_name}' on vhost '/' (priority ")
    assert f"): delivery-limit 5, dead-letter-exchange {topology.dead_letter_exchange}, " in change
    assert message_count(channel, topology.queue) == 2
    method, _, _ = channel.basic_get(topology.queue)
    channel.basic_ack(method.delivery_tag)
    deliveries = 0
    while (method := channel.basic_get(topology.queue)[0]) is not None:
        deliveries += 1
        channel.basic_reject(method.delivery_tag, requeue=True)
    assert deliveries == 5 + 1
    wait_for(lambda: message_count(channel, topology.dead_letter_queue) == 1)


@pytest.mark.integration
def test_the_policy_outranks_amazon_mqs_defaults_on_the_broker(
    bootstrap: Callable[..., BrokerSetup], management: ManagementClient, vhost: str
) -> None:
    # GIVEN a vhost with Amazon MQ's single-instance default policy (max-length added to see it carried)
    management.put("vhosts", vhost, body={})
    default = {**SINGLE_INSTANCE, "definition": {"queue-mode": "lazy", "max-length": 1000}}
    management.put("policies", vhost, default["name"], body={k: v for k, v in default.items() if k != "name"})
    # WHEN the bootstrap runs there
    topology = bootstrap(delivery_limit=4, vhost=vhost).topology
    # THEN the broker applies our policy to the work queue, with the default's limit carried
    queue = wait_for(
        lambda: (q := management.get("queues", vhost, topology.queue)).get("policy") and q, timeout=20, interval=0.5
    )
    assert queue["policy"] == topology.policy_name
    assert queue["effective_policy_definition"] == {**topology.policy_definition, "max-length": 1000}


# --- faults: one line each, with the fix ---------------------------------------------------


def fails(client: ManagementClient, topology: Topology, users: list[Any] | None = None) -> str:
    with pytest.raises(AdminError) as failure:
        apply(client, topology, users or [])
    message = str(failure.value)
    assert "\n" not in message
    return message


@pytest.mark.integration
def test_management_api_unreachable(queue_name: str) -> None:
    message = fails(ManagementClient("http://127.0.0.1:1", "guest", "guest"), Topology(queue_name, 3))
    assert message.startswith("cannot reach the RabbitMQ management API at http://127.0.0.1:1: connection refused;")
    assert "rabbitmq-plugins enable rabbitmq_management" in message


@pytest.fixture
def management_address(broker: LocalBroker) -> tuple[str, int]:
    parts = urlsplit(broker.management_url)
    return parts.hostname or "localhost", parts.port or 15672


@pytest.mark.integration
def test_untrusted_certificate(
    broker: LocalBroker, management_address: tuple[str, int], queue_name: str, tmp_path: Path
) -> None:
    # GIVEN the management API behind TLS with a self-signed certificate
    cert, key = self_signed_certificate(tmp_path)
    admin = broker.management_client()
    with TcpProxy(management_address, tls=server_context(cert, key)) as proxy:
        url = f"https://localhost:{proxy.port}"
        # WHEN the bootstrap calls it THEN the certificate is refused...
        message = fails(ManagementClient(url, admin.username, password_of(broker)), Topology(queue_name, 3))
        assert message.startswith(f"TLS certificate verification failed for the RabbitMQ management API at {url} (")
        assert "verification cannot be turned off" in message
        # ...and accepted with its CA
        trusted = ManagementClient(url, admin.username, password_of(broker), ca_file=str(cert))
        assert trusted.get("overview")["rabbitmq_version"]


def password_of(broker: LocalBroker) -> str:
    return unquote(urlsplit(broker.url).password or "")


@pytest.mark.integration
def test_wrong_admin_password(broker: LocalBroker, queue_name: str) -> None:
    client = ManagementClient(broker.management_url, "guest", "wrong", credentials_hint="check the admin secret")
    message = fails(client, Topology(queue_name, 3))
    # RabbitMQ 3.x says "Login failed", 4.x "Not_Authorized"
    assert re.fullmatch(
        rf"the RabbitMQ management API at {re.escape(broker.management_url)} refused the credentials of user "
        r"'guest' \(401 (Login failed|Not_Authorized)\): check the admin secret",
        message,
    )


@pytest.mark.integration
def test_an_admin_without_the_administrator_tag(
    broker: LocalBroker, management: ManagementClient, queue_name: str
) -> None:
    user, password = f"{queue_name}-monitor", generate_password()
    management.put("users", user, body={"password": password, "tags": "management"})
    try:
        message = fails(ManagementClient(broker.management_url, user, password), Topology(queue_name, 3))
    finally:
        management.delete("users", user)
    assert message == (
        f"the RabbitMQ management API at {broker.management_url} refused GET /api/vhosts/%2F to user '{user}' "
        "(401 Not administrator user): the bootstrap and the rotation function need a user with the administrator tag "
        "and full permissions "
        "on the vhost, as Amazon MQ gives its admin user on '/'"
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    "arguments",
    [
        # what earlier versions of send.py declared
        {
            "x-queue-type": "quorum",
            "x-delivery-limit": 20,
            "x-dead-letter-exchange": "q.dlx",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
        None,  # a classic queue
    ],
    ids=["old-send-py-arguments", "classic"],
)
def test_a_queue_with_other_arguments(
    management: ManagementClient, connection: Any, queue_name: str, arguments: dict[str, Any] | None
) -> None:
    # GIVEN a queue of that name declared with other arguments, holding a message
    connection.channel().queue_declare(queue_name, durable=True, arguments=arguments)
    connection.channel().basic_publish("", queue_name, b"{}")
    # WHEN the bootstrap runs THEN it refuses, and names the fix
    message = fails(management, Topology(queue_name, 3))
    assert message.startswith(f"queue '{queue_name}' on vhost '/' exists as a durable ")
    assert message.endswith(f"delete queue '{queue_name}' (its messages too) or choose another queue_name")
    assert message_count(connection.channel(), queue_name) == 1  # and leaves it alone


@pytest.mark.integration
def test_a_dead_letter_exchange_of_another_type(management: ManagementClient, connection: Any, queue_name: str) -> None:
    connection.channel().exchange_declare(f"{queue_name}.dlx", "direct", durable=True)
    message = fails(management, Topology(queue_name, 3))
    assert message == (
        f"exchange '{queue_name}.dlx' on vhost '/' exists as a durable direct exchange, not a durable fanout one: "
        f"delete exchange '{queue_name}.dlx' or choose another queue_name"
    )


@pytest.mark.integration
def test_users_the_bootstrap_must_not_touch(management: ManagementClient, queue_name: str) -> None:
    topology = Topology(queue_name, 3)
    # the admin itself, and its alternate: the first rotation would change the admin's password
    for name in (management.username, alternate(management.username)):
        assert fails(management, topology, [consumer(name, "p" * 16, topology)]) == (
            f"the consumer user '{name}' is the admin user the bootstrap works as, or its `_clone` alternate that "
            "rotation would use: choose another consumer_username"
        )
    # one user for both roles, or one role's user the other's alternate
    for other in ("same", "same_clone"):
        assert "must have different names, none the `_clone` alternate of another" in fails(
            management, topology, [consumer("same", "p" * 16, topology), publisher(other, "p" * 16)]
        )
    # someone's tagged account, and an untagged account where the monitoring user would be
    tagged, untagged = f"{queue_name}-person", f"{queue_name}-tool"
    management.put("users", tagged, body={"password": generate_password(), "tags": "management"})
    management.put("users", untagged, body={"password": generate_password(), "tags": ""})
    try:
        message = fails(management, topology, [publisher(tagged, "p" * 16)])
        assert message == (
            f"user '{tagged}' exists without the tag '{MARKER_TAG}' of the users this bootstrap makes, and without "
            "the password the publisher secret holds, so it is someone else's: choose another publisher_username, or "
            "delete that user"
        )
        assert management.get("users", tagged)["tags"] == ["management"]
        message = fails(management, topology, [monitoring(untagged, "p" * 16)])
        assert message.startswith(f"user '{untagged}' exists without the tag '{MARKER_TAG}'")
        assert management.get("users", untagged)["tags"] == []
    finally:
        management.delete("users", tagged)
        management.delete("users", untagged)


@pytest.mark.integration
def test_an_unmarked_user_of_that_name_is_someone_elses(management: ManagementClient, queue_name: str) -> None:
    # GIVEN someone's untagged user with the consumer's name and another password: what a
    # consumer user made by hand looks like
    topology, name, theirs = Topology(queue_name, 3), f"{queue_name}-consumer", generate_password()
    management.put("users", name, body={"password": theirs, "tags": ""})
    before = management.get("users", name)
    # WHEN the bootstrap runs with our consumer of that name THEN it refuses, in one line
    message = fails(management, topology, [consumer(name, generate_password(), topology)])
    assert message.startswith(f"user '{name}' exists without the tag '{MARKER_TAG}' of the users this bootstrap makes")
    assert message.endswith("choose another consumer_username, or delete that user")
    # AND the user is as it was: its password (hash), its tags, no permission given
    assert management.get("users", name) == before
    assert management.get("permissions", "/", name) is None
    assert holds_password(management.get("users", name), theirs)


@pytest.mark.integration
@pytest.mark.parametrize("role", ["consumer", "monitoring"])
def test_an_unmarked_user_holding_our_password_is_adopted(
    broker_url: str, management: ManagementClient, queue_name: str, role: str
) -> None:
    # GIVEN a user as an earlier bootstrap made it, before the marker: the role's tags, and the
    # password our secret holds (nobody else has it)
    topology, ours = Topology(queue_name, 3), generate_password()
    user = (
        consumer(f"{queue_name}-consumer", ours, topology)
        if role == "consumer"
        else monitoring(f"{queue_name}-monitoring", ours)
    )
    management.put("users", user.name, body={"password": ours, "tags": ",".join(user.tags)})
    # WHEN the bootstrap runs THEN it adopts it: the marker added, the password the same
    changes = apply(management, topology, [user])
    assert f"adopted {role} user '{user.name}', made before the '{MARKER_TAG}' tag: tagged it" in changes
    assert sorted(management.get("users", user.name)["tags"]) == sorted((*user.tags, MARKER_TAG))
    assert logs_in(broker_url, user.name, ours)
    # AND a second run changes nothing
    assert apply(management, topology, [user]) == []


@pytest.mark.integration
def test_a_marked_user_is_ours_to_correct(management: ManagementClient, queue_name: str) -> None:
    # GIVEN our publisher, whose password and tags someone changed
    topology = Topology(queue_name, 3)
    user = publisher(f"{queue_name}-publisher", generate_password())
    apply(management, topology, [user])
    management.put("users", user.name, body={"password": generate_password(), "tags": f"management,{MARKER_TAG}"})
    # WHEN the bootstrap runs THEN it sets them back
    assert apply(management, topology, [user]) == [f"set the password and tags of publisher user '{user.name}'"]
    found = management.get("users", user.name)
    assert (found["tags"], holds_password(found, user.password)) == ([MARKER_TAG], True)


def logs_in(broker_url: str, username: str, password: str) -> bool:
    params = pika.URLParameters(broker_url)
    params.credentials = pika.PlainCredentials(username, password)
    params.connection_attempts = 1
    try:
        with pika.BlockingConnection(params):
            return True
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
        return False


# --- the command line ----------------------------------------------------------------------


def run_bootstrap(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = bootstrap_command.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.integration
def test_command_line_writes_and_reuses_the_credentials(
    broker: LocalBroker,
    queue_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RABBITMQ_ADMIN_PASSWORD", password_of(broker))
    for name in ("RABBITMQ_CONSUMER_PASSWORD", "RABBITMQ_PUBLISHER_PASSWORD", "RABBITMQ_MONITORING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials.json"
    args = ["--management-url", broker.management_url, "--admin-user", unquote(urlsplit(broker.url).username or "")]
    args += ["--queue", queue_name, "--delivery-limit", "4", "--credentials-out", str(credentials)]
    # WHEN it runs the first time THEN it prints each change and writes the credentials, mode 0600
    code, out, err = run_bootstrap(args, capsys)
    assert (code, err) == (0, "")
    assert f"created queue '{queue_name}' (quorum) on vhost '/'" in out.splitlines()
    assert out.rstrip().endswith(
        f"wrote the consumer's, the publisher's and the monitoring user's credentials to {credentials}"
    )
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    written = json.loads(credentials.read_text())
    for role in ("consumer", "publisher", "monitoring"):
        assert written[role]["username"] == f"{queue_name}-{role}"
    # WHEN it runs again THEN it keeps the passwords of the file, and changes nothing
    code, out, _ = run_bootstrap(args, capsys)
    assert code == 0
    assert "nothing to change" in out
    assert json.loads(credentials.read_text()) == written
    # and the consumer's credentials work
    params = pika.URLParameters(broker.url)
    params.credentials = pika.PlainCredentials(written["consumer"]["username"], written["consumer"]["password"])
    with pika.BlockingConnection(params) as connection:
        assert connection.channel().queue_declare(queue_name, passive=True).method.message_count == 0
    # WHEN a file from before the monitoring user is given THEN that user gets a new password, the others keep theirs
    credentials.write_text(json.dumps({key: value for key, value in written.items() if key != "monitoring"}))
    code, out, _ = run_bootstrap(args, capsys)
    assert code == 0
    (changed,) = out.splitlines()[:-1]
    assert changed.startswith("set the password")  # (and the tags that mark it as the bootstrap's)
    assert changed.endswith(f"monitoring user '{queue_name}-monitoring'")
    rewritten = json.loads(credentials.read_text())
    assert {role: rewritten[role] for role in ("consumer", "publisher")} == {
        role: written[role] for role in ("consumer", "publisher")
    }
    assert rewritten["monitoring"]["password"] != written["monitoring"]["password"]
    # (the queue_name fixture deletes the users: they have the default names)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "environment", "code", "error"),
    [
        (["--management-url", "http://127.0.0.1:1"], {"RABBITMQ_ADMIN_PASSWORD": "x"}, 1, "error: cannot reach"),
        ([], {}, 2, "error: no admin password: set RABBITMQ_ADMIN_PASSWORD, pass --admin-password-file, or give "),
        (
            [],
            {"RABBITMQ_ADMIN_PASSWORD": "x", "RABBITMQ_CONSUMER_PASSWORD": "y"},
            2,
            "error: no password for the publisher: pass --credentials-out FILE to keep a generated one",
        ),
        (["--queue", "amq.x"], {"RABBITMQ_ADMIN_PASSWORD": "x"}, 2, "error: queue name 'amq.x' starts with 'amq.'"),
    ],
)
def test_command_line_faults(
    args: list[str],
    environment: dict[str, str],
    code: int,
    error: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for role in ("ADMIN", "CONSUMER", "PUBLISHER", "MONITORING"):
        monkeypatch.delenv(f"RABBITMQ_{role}_PASSWORD", raising=False)
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    out = [] if "RABBITMQ_CONSUMER_PASSWORD" in environment else ["--credentials-out", str(tmp_path / "c.json")]
    base = ["--management-url", "http://127.0.0.1:15672", "--admin-user", "guest", *out]
    result = run_bootstrap([*base, *args], capsys)
    assert result[0] == code
    assert result[2].startswith(error)
    assert len(result[2].splitlines()) == 1
    # bad arguments stop it before it writes anything; the credentials are written before the broker is asked
    assert (tmp_path / "c.json").exists() == (code == 1)


@pytest.mark.integration
def test_a_credentials_file_that_cannot_be_written_changes_no_user(
    broker: LocalBroker,
    management: ManagementClient,
    queue_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a --credentials-out under a regular file (no mode bits stop root)
    monkeypatch.setenv("RABBITMQ_ADMIN_PASSWORD", password_of(broker))
    for role in ("CONSUMER", "PUBLISHER", "MONITORING"):
        monkeypatch.delenv(f"RABBITMQ_{role}_PASSWORD", raising=False)
    (tmp_path / "file").write_text("")
    credentials = tmp_path / "file" / "credentials.json"
    args = ["--management-url", broker.management_url, "--admin-user", unquote(urlsplit(broker.url).username or "")]
    # WHEN the bootstrap runs, which would generate the users' passwords
    code, out, err = run_bootstrap([*args, "--queue", queue_name, "--credentials-out", str(credentials)], capsys)
    # THEN it stops in one line before any user exists with a password that was never written down
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot write the credentials file {credentials} (")
    assert err.endswith("): choose a --credentials-out that can be written; no user was changed on the broker\n")
    assert err.count("\n") == 1
    for role in ("consumer", "publisher", "monitoring"):
        assert management.get("users", f"{queue_name}-{role}") is None
    assert management.get("queues", "/", queue_name) is None
    assert list(tmp_path.iterdir()) == [tmp_path / "file"]  # and no temporary file is left


@pytest.mark.integration
def test_the_command_line_takes_the_broker_and_admin_from_rabbitmq_url(
    broker: LocalBroker,
    queue_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN only RABBITMQ_URL, the admin's (its management API at port 15672 of its host, or given)
    for role in ("ADMIN", "CONSUMER", "PUBLISHER", "MONITORING"):
        monkeypatch.delenv(f"RABBITMQ_{role}_PASSWORD", raising=False)
    monkeypatch.setenv("RABBITMQ_URL", broker.url)
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", broker.management_url)
    credentials = tmp_path / "credentials.json"
    # WHEN the bootstrap runs with a queue and a credentials file
    code, out, err = run_bootstrap(["--queue", queue_name, "--credentials-out", str(credentials)], capsys)
    # THEN it worked as the URL's user
    assert (code, err) == (0, "")
    assert f"created queue '{queue_name}' (quorum) on vhost '/'" in out.splitlines()
    assert json.loads(credentials.read_text())["publisher"]["username"] == f"{queue_name}-publisher"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "args", "error"),
    [
        # the URL's password is its user's, never another admin's
        (
            "amqp://guest:guest@127.0.0.1:5672/",
            ["--admin-user", "admin"],
            "error: no admin password: set RABBITMQ_ADMIN_PASSWORD, pass --admin-password-file, or give the admin's "
            "password in RABBITMQ_URL",
        ),
        ("amqp://127.0.0.1:5672/", [], "error: no admin user: pass --admin-user, or set RABBITMQ_URL="),
        (
            "localhost:5672",
            [],
            "error: RABBITMQ_URL='localhost:5672': broker URL must start with amqp:// or amqps://, it has no scheme; "
            "for example RABBITMQ_URL=amqp://guest:guest@localhost:5672/",
        ),
    ],
)
def test_what_rabbitmq_url_cannot_give(
    url: str,
    args: list[str],
    error: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("RABBITMQ_ADMIN_PASSWORD", "RABBITMQ_MANAGEMENT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RABBITMQ_URL", url)
    credentials = tmp_path / "credentials.json"
    code, out, err = run_bootstrap([*args, "--queue", "orders", "--credentials-out", str(credentials)], capsys)
    assert (code, out) == (2, "")
    assert not credentials.exists()
    assert err.startswith(error)
    assert err.count("\n") == 1
