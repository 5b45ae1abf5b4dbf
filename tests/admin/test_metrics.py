"""The queue-metrics function (rabbitmq_admin.metrics) against the real broker's management API and
moto's Secrets Manager: the EMF documents it prints hold what the broker holds, follow the EMF
specification, and every fault is one line. Also what its monitoring user needs: the `monitoring`
tag and permissions that match nothing ('^$'); without any permission entry the broker hides the
vhost's queues from it."""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from rabbitmq_admin import metrics
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.metrics import emf_document, metric_values
from rabbitmq_admin.metrics_handler import Settings, lambda_handler
from rabbitmq_admin.secrets_manager import SecretsManager
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import User, generate_password, monitoring
from rabbitmq_tools.broker import LocalBroker
from support import MOTO_REGION, publish, refused, sample, url_as, wait_for

REGION = MOTO_REGION
NAMESPACE = "RabbitMQLambda/Test"
# What EventBridge sends a scheduled function (Lambda guide, "Using Lambda with EventBridge
# Scheduler"/scheduled events): the function ignores it.
SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2015-10-08T16:53:06Z",
    "region": REGION,
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/queue-metrics"],
    "detail": {},
}
CONTRACT_UNITS = {
    "MessagesReady": "Count",
    "MessagesUnacknowledged": "Count",
    "Consumers": "Count",
    "PublishRate": "Count/Second",
    "DeliverRate": "Count/Second",
}
# The units CloudWatch knows (MetricDatum, Amazon CloudWatch API Reference): what an EMF Unit may be.
CLOUDWATCH_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


# --- the EMF specification, as a checker ------------------------------------------------------


def _no_constant(name: str) -> None:
    raise AssertionError(f"{name} is not JSON (RFC 8259)")


def _name(value: object) -> bool:
    """A namespace, dimension or metric name: a string of 1-255 characters (the spec's schema)."""
    return isinstance(value, str) and 1 <= len(value) <= 255


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _array(value: object, most: int) -> bool:
    return isinstance(value, list) and 1 <= len(value) <= most


def assert_valid_emf(line: str) -> dict[str, Any]:
    """Check one stdout line against "Specification: Embedded metric format" (Amazon CloudWatch User
    Guide, cited in rabbitmq_admin/metrics.py); return the document."""
    # The LogEvent MUST be one valid JSON object with no other data before or after it.
    assert line == line.strip()
    document = json.loads(line, parse_constant=_no_constant)
    assert isinstance(document, dict)
    metadata = document["_aws"]
    # Objects the spec defines MUST NOT contain additional members.
    assert set(metadata) == {"Timestamp", "CloudWatchMetrics"}
    timestamp = metadata["Timestamp"]
    assert isinstance(timestamp, int), "Timestamp is an integer"
    assert abs(timestamp - time.time() * 1000) < 60_000, "Timestamp is milliseconds after the epoch, and now"
    assert _array(metadata["CloudWatchMetrics"], 100)
    for directive in metadata["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert _name(directive["Namespace"])
        assert _array(directive["Dimensions"], 100)
        for dimension_set in directive["Dimensions"]:
            assert _array(dimension_set, 30)
            for key in dimension_set:  # a dimension target: a root member with a string value
                assert _name(key)
                assert isinstance(document.get(key), str), key
        assert _array(directive["Metrics"], 100)
        for definition in directive["Metrics"]:
            assert set(definition) <= {"Name", "Unit", "StorageResolution"}
            assert _name(definition["Name"])
            assert definition.get("Unit", "None") in CLOUDWATCH_UNITS
            assert _number(document.get(definition["Name"])), definition  # a metric target: a number
    return document


def values_of(document: dict[str, Any]) -> dict[str, float]:
    return {name: document[name] for name in CONTRACT_UNITS}


# --- units ----------------------------------------------------------------------------------


ENVIRONMENT = {
    "MANAGEMENT_URL": "https://b-1234.mq.eu-west-1.amazonaws.com",
    "MONITORING_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:monitoring",
    "VIRTUAL_HOST": "/",
    "QUEUES": "orders,orders.dlq",
    "METRICS_NAMESPACE": "RabbitMQLambda",
}


@pytest.mark.unit
def test_settings_from_the_environment() -> None:
    settings = Settings.from_environment({**ENVIRONMENT, "QUEUES": " orders , orders.dlq,,orders "})
    assert settings == Settings(
        ENVIRONMENT["MANAGEMENT_URL"],
        ENVIRONMENT["MONITORING_SECRET_ARN"],
        "/",
        ("orders", "orders.dlq"),
        "RabbitMQLambda",
    )
    lacking = {key: value for key, value in ENVIRONMENT.items() if key not in {"QUEUES", "VIRTUAL_HOST"}}
    with pytest.raises(AdminError, match=r"^missing VIRTUAL_HOST, QUEUES: set them in the function's environment"):
        Settings.from_environment(lacking)
    with pytest.raises(AdminError, match="QUEUES names no queue"):
        Settings.from_environment({**ENVIRONMENT, "QUEUES": " , "})
    for namespace in ("AWS/AmazonMQ", "n" * 256):
        with pytest.raises(AdminError, match="is not a custom CloudWatch namespace"):
            Settings.from_environment({**ENVIRONMENT, "METRICS_NAMESPACE": namespace})


@pytest.mark.unit
def test_metric_values_from_a_queue() -> None:
    counts = {"messages_ready": 4, "messages_unacknowledged": 2, "consumers": 1}
    zero_rates = {"PublishRate": 0.0, "DeliverRate": 0.0}
    expected_counts = {"MessagesReady": 4, "MessagesUnacknowledged": 2, "Consumers": 1}
    # a queue nothing went through has no message_stats, or (RabbitMQ's empty object) []
    assert metric_values(counts) == {**expected_counts, **zero_rates}
    assert metric_values({**counts, "message_stats": []}) == {**expected_counts, **zero_rates}
    assert metric_values({**counts, "message_stats": {"publish": 9, "publish_details": {"rate": 1.6}}}) == {
        **expected_counts,
        "PublishRate": 1.6,
        "DeliverRate": 0.0,
    }
    # before the broker's first statistics of a new queue, the counts are absent: no metrics, never a made-up 0
    assert metric_values({"name": "orders", "type": "quorum"}) is None
    assert metric_values({**counts, "consumers": None}) is None


@pytest.mark.unit
def test_the_emf_document_is_the_contract_and_follows_the_specification() -> None:
    values = {"MessagesReady": 4, "MessagesUnacknowledged": 2, "Consumers": 1, "PublishRate": 1.5, "DeliverRate": 0.0}
    now = int(time.time() * 1000)
    document = emf_document("RabbitMQLambda", "/", "orders", values, now)
    assert_valid_emf(json.dumps(document))
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["VirtualHost", "Queue"]]
    assert directive["Namespace"] == "RabbitMQLambda"
    assert {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]} == CONTRACT_UNITS
    assert (document["_aws"]["Timestamp"], document["VirtualHost"], document["Queue"]) == (now, "/", "orders")
    assert values_of(document) == values


# --- the real broker and moto -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _cold_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test is a new execution environment: nothing cached from another test's secret."""
    monkeypatch.setattr(metrics, "_credentials", {})


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The secrets the function reads from Secrets Manager, one entry a call."""
    reads: list[str] = []
    original = SecretsManager.get_secret_string

    def counting(self: SecretsManager, secret_id: str) -> str:
        reads.append(secret_id)
        return original(self, secret_id)

    monkeypatch.setattr(SecretsManager, "get_secret_string", counting)
    return reads


def create_user(management: ManagementClient, user: User, vhost: str | None) -> None:
    """The user as the bootstrap defines it; with vhost None, without any permission entry."""
    management.put("users", user.name, body={"password": user.password, "tags": ",".join(user.tags)})
    if vhost is not None:
        granted = user.permissions
        management.put(
            "permissions",
            vhost,
            user.name,
            body={"configure": granted.configure, "write": granted.write, "read": granted.read},
        )


@pytest.fixture
def monitoring_user(management: ManagementClient) -> Iterator[User]:
    """The metrics function's user as rabbitmq_admin.users defines it: the `monitoring` tag,
    '^$' three times on vhost '/'."""
    user = monitoring(f"test-monitoring-{uuid.uuid4().hex[:12]}", generate_password())
    create_user(management, user, "/")
    yield user
    management.delete("users", user.name)


def store_secret(aws: Any, user: User, password: str | None = None) -> str:
    value = {"username": user.name, "password": password or user.password}
    arn: str = aws.create_secret(Name=f"{user.name}-{uuid.uuid4().hex[:6]}", SecretString=json.dumps(value))["ARN"]
    return arn


def has_statistics(management: ManagementClient, vhost: str, queue: str) -> bool:
    return "messages_ready" in (management.get("queues", vhost, queue) or {})


def configure(
    monkeypatch: pytest.MonkeyPatch, broker: LocalBroker, secret_arn: str, queues: list[str], vhost: str = "/"
) -> None:
    monkeypatch.setenv("MANAGEMENT_URL", broker.management_url)
    monkeypatch.setenv("MONITORING_SECRET_ARN", secret_arn)
    monkeypatch.setenv("VIRTUAL_HOST", vhost)
    monkeypatch.setenv("QUEUES", ",".join(queues))
    monkeypatch.setenv("METRICS_NAMESPACE", NAMESPACE)


@pytest.fixture
def environment(
    broker: LocalBroker, aws: Any, monitoring_user: User, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The function's environment for a bootstrapped work queue and its dead-letter queue; the
    monitoring secret's ARN."""
    arn = store_secret(aws, monitoring_user)
    configure(monkeypatch, broker, arn, [topology.queue, topology.dead_letter_queue])
    return arn


@pytest.fixture
def statistics(environment: str, topology: Topology, management: ManagementClient) -> str:
    """`environment`, once the broker has statistics for both queues: the first ones come a
    statistics interval or two (5 s each by default) after a declare, and until then the
    function publishes nothing for a queue."""
    queues = (topology.queue, topology.dead_letter_queue)
    wait_for(lambda: all(has_statistics(management, "/", queue) for queue in queues), timeout=30, interval=0.5)
    return environment


def invoke(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the function as the schedule does; (what it returned, the EMF documents it printed)."""
    capsys.readouterr()
    summary = lambda_handler(SCHEDULED_EVENT, None)
    json.dumps(summary)  # what Lambda returns must be JSON
    return summary, printed(capsys)


def printed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [assert_valid_emf(line) for line in capsys.readouterr().out.splitlines()]


def failure(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict[str, Any]]]:
    """Run the function expecting an AdminError; (its one line, the EMF documents printed first)."""
    capsys.readouterr()
    with pytest.raises(AdminError) as raised:
        lambda_handler(SCHEDULED_EVENT, None)
    message = str(raised.value)
    assert "\n" not in message
    return message, printed(capsys)


def rate(management: ManagementClient, queue: str, details: str) -> float:
    """A rate as the broker gives it right now: message_stats.<details>.rate, 0 when it has none."""
    stats = management.get("queues", "/", queue).get("message_stats")
    found = stats.get(details) if isinstance(stats, dict) else None
    return float(found["rate"]) if isinstance(found, dict) else 0.0


N, K = 7, 3  # messages published; of them, delivered to a consumer that does not ack


@pytest.mark.integration
def test_the_metrics_are_what_the_broker_holds(
    statistics: str,
    topology: Topology,
    connection: Any,
    channel: Any,
    management: ManagementClient,
    monitoring_user: User,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN N messages on the work queue, K of them delivered to a consumer that has not acked them
    publish(channel, topology.queue, (json.dumps(sample()).encode() for _ in range(N)))
    consuming = connection.channel()
    consuming.basic_qos(prefetch_count=K)
    delivered: list[int] = []
    consuming.basic_consume(topology.queue, lambda _ch, method, _p, _b: delivered.append(method.delivery_tag))
    wait_for(lambda: connection.process_data_events(time_limit=0.1) or len(delivered) == K)

    def broker_view() -> tuple[int, int, int]:
        connection.process_data_events(time_limit=0)
        queue = management.get("queues", "/", topology.queue)
        return queue.get("messages_ready"), queue.get("messages_unacknowledged"), queue.get("consumers")

    # AND the broker's statistics say so (they refresh every 5 s), as AMQP does
    wait_for(lambda: broker_view() == (N - K, K, 1), timeout=30, interval=0.5)
    declared = channel.queue_declare(topology.queue, passive=True).method
    assert (declared.message_count, declared.consumer_count) == (N - K, 1)
    before = [rate(management, topology.queue, key) for key in ("publish_details", "deliver_get_details")]
    # WHEN the schedule runs the function
    summary, documents = invoke(capsys)
    after = [rate(management, topology.queue, key) for key in ("publish_details", "deliver_get_details")]
    # THEN it printed one EMF document per queue, in the project's namespace, with the contract's shape
    assert [(d["VirtualHost"], d["Queue"]) for d in documents] == [
        ("/", topology.queue),
        ("/", topology.dead_letter_queue),
    ]
    for document in documents:
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == NAMESPACE
        assert directive["Dimensions"] == [["VirtualHost", "Queue"]]
        assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == CONTRACT_UNITS
    # AND the values are the broker's: N-K ready, K unacked, 1 consumer; its rates as it gave them
    work, dead_letters = (values_of(d) for d in documents)
    assert (work["MessagesReady"], work["MessagesUnacknowledged"], work["Consumers"]) == (N - K, K, 1)
    assert work["PublishRate"] in {before[0], after[0]}
    assert work["DeliverRate"] in {before[1], after[1]}
    # the dead-letter queue never held a message: the broker gives it no rates, so they are 0
    assert dead_letters == dict.fromkeys(CONTRACT_UNITS, 0)
    assert summary == {
        "namespace": NAMESPACE,
        "vhost": "/",
        "queues": {topology.queue: work, topology.dead_letter_queue: dead_letters},
    }
    # AND the monitoring user's password is nowhere in what it printed or logged
    assert monitoring_user.password not in capsys.readouterr().out + caplog.text + json.dumps(summary)


@pytest.mark.integration
def test_a_missing_queue_fails_after_the_others_are_published(
    statistics: str,
    broker: LocalBroker,
    topology: Topology,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = f"{topology.queue}-missing"
    monkeypatch.setenv("QUEUES", f"{topology.queue},{missing},{topology.dead_letter_queue}")
    message, documents = failure(capsys)
    # the queue after the missing one is published too, then the function fails: its Errors metric alarms
    assert [d["Queue"] for d in documents] == [topology.queue, topology.dead_letter_queue]
    assert message == (
        f"queue '{missing}' not found on vhost '/' of the broker at {broker.management_url}: run the bootstrap "
        f"(terraform apply) that declares the queues, or fix QUEUES; published the metrics of '{topology.queue}', "
        f"'{topology.dead_letter_queue}'"
    )
    assert f"queue metrics failed: {message}" in caplog.text


@pytest.mark.integration
def test_a_missing_vhost(
    environment: str,
    broker: LocalBroker,
    topology: Topology,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    vhost = f"test-no-vhost-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("VIRTUAL_HOST", vhost)
    message, documents = failure(capsys)
    assert documents == []
    assert message == (
        f"vhost '{vhost}' does not exist on the broker at {broker.management_url}, so no queue of QUEUES does: fix "
        "VIRTUAL_HOST, or run the bootstrap (terraform apply) that creates it"
    )


@pytest.mark.integration
def test_a_wrong_password_is_one_line_after_reading_the_secret_once_more(
    broker: LocalBroker,
    aws: Any,
    monitoring_user: User,
    topology: Topology,
    secret_reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = generate_password()
    arn = store_secret(aws, monitoring_user, password=wrong)
    configure(monkeypatch, broker, arn, [topology.queue])
    message, documents = failure(capsys)
    assert documents == []
    assert re.fullmatch(
        rf"the RabbitMQ management API at {re.escape(broker.management_url)} refused the credentials of user "
        rf"'{monitoring_user.name}' \(401 (Login failed|Not_Authorized)\): the monitoring secret {re.escape(arn)} "
        "must hold the monitoring user's name and current password",
        message,
    )
    # the secret was read, refused, read once more in case it had been rotated, and refused again
    assert secret_reads == [arn, arn]
    for password in (wrong, monitoring_user.password):
        assert password not in message + caplog.text


@pytest.mark.integration
def test_a_rotated_password_is_read_again_once(
    statistics: str,
    broker: LocalBroker,
    aws: Any,
    monitoring_user: User,
    topology: Topology,
    management: ManagementClient,
    secret_reads: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an execution environment that has read the secret once and runs every minute on it
    invoke(capsys)
    _, documents = invoke(capsys)
    assert (secret_reads, len(documents)) == ([statistics], 2)
    # WHEN rotation changes the user's password on the broker and then in the secret
    new_password = generate_password()
    create_user(management, monitoring(monitoring_user.name, new_password), "/")
    aws.put_secret_value(
        SecretId=statistics, SecretString=json.dumps({"username": monitoring_user.name, "password": new_password})
    )
    with pytest.raises(AdminError, match="refused the credentials"):  # the cached password is refused now
        ManagementClient(broker.management_url, monitoring_user.name, monitoring_user.password).get("overview")
    # THEN the next run is refused with the cached password, reads the secret again and publishes
    _, documents = invoke(capsys)
    assert [d["Queue"] for d in documents] == [topology.queue, topology.dead_letter_queue]
    assert secret_reads == [statistics, statistics]
    # AND the run after that uses the new cached value without reading the secret
    invoke(capsys)
    assert secret_reads == [statistics, statistics]


@pytest.mark.integration
def test_the_monitoring_user_reads_statistics_and_touches_no_message(
    environment: str,
    broker: LocalBroker,
    broker_url: str,
    topology: Topology,
    monitoring_user: User,
    channel: Any,
    management: ManagementClient,
) -> None:
    publish(channel, topology.queue, [json.dumps(sample()).encode()])
    # GIVEN the monitoring user's only permissions on '/': '^$', which matches no resource
    assert {
        key: value
        for key, value in management.get("permissions", "/", monitoring_user.name).items()
        if key in {"configure", "write", "read"}
    } == {"configure": "^$", "write": "^$", "read": "^$"}
    # THEN over AMQP it can neither consume, get, publish, declare, purge nor delete
    url = url_as(broker_url, monitoring_user)
    consume = refused(lambda ch: ch.basic_consume(topology.queue, lambda *_: None), url)
    assert f"access to queue '{topology.queue}' in vhost '/' refused for user '{monitoring_user.name}'" in consume
    refused(lambda ch: ch.basic_get(topology.queue), url)
    refused(lambda ch: ch.basic_get(topology.dead_letter_queue), url)
    publish_refusal = refused(lambda ch: ch.basic_publish("", topology.queue, b"{}", mandatory=True), url)
    assert "access to exchange 'amq.default' in vhost '/' refused" in publish_refusal
    refused(lambda ch: ch.basic_publish(topology.dead_letter_exchange, "", b"{}"), url)
    refused(lambda ch: ch.queue_declare(f"{topology.queue}-other", durable=True), url)
    refused(lambda ch: ch.queue_purge(topology.queue), url)
    refused(lambda ch: ch.queue_delete(topology.queue), url)
    assert channel.queue_declare(topology.queue, passive=True).method.message_count == 1  # nothing taken
    # AND through the management API it reads the queue's statistics, and administers nothing
    as_monitor = ManagementClient(broker.management_url, monitoring_user.name, monitoring_user.password)
    assert as_monitor.get("queues", "/", topology.queue)["name"] == topology.queue
    with pytest.raises(AdminError, match="Not administrator user"):
        as_monitor.get("users")
    with pytest.raises(AdminError, match=r"refused|403|401"):
        as_monitor.delete("queues", "/", topology.queue)
    assert management.get("queues", "/", topology.queue) is not None


@pytest.mark.integration
def test_without_any_permission_entry_the_monitoring_tag_sees_no_queue(
    broker: LocalBroker,
    aws: Any,
    topology: Topology,
    management: ManagementClient,
    secret_reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Why the monitoring user has '^$' permissions: the monitoring tag alone does not show a
    vhost's queues (RabbitMQ's management guide: objects of a vhost are listed only to users with
    permissions on it)."""
    # GIVEN a monitoring-tagged user with no permission entry on '/'
    user = monitoring(f"test-monitoring-{uuid.uuid4().hex[:12]}", generate_password())
    create_user(management, user, vhost=None)
    try:
        arn = store_secret(aws, user)
        configure(monkeypatch, broker, arn, [topology.queue])
        wait_for(lambda: has_statistics(management, "/", topology.queue), timeout=30, interval=0.5)
        # WHEN the function runs as it THEN the broker refuses the queue, and the line says what the user needs
        message, documents = failure(capsys)
        assert documents == []
        assert re.fullmatch(
            rf"the RabbitMQ management API at {re.escape(broker.management_url)} refused GET "
            rf"/api/queues/%2F/{re.escape(topology.queue)} to user '{user.name}' \(401 User not authorised to access "
            r"virtual host\): the monitoring user needs the monitoring tag and, on vhost '/', permissions configure "
            r"'\^\$', write '\^\$', read '\^\$' \(without any permission there the broker hides the vhost's queues "
            r"from it\)",
            message,
        )
        assert secret_reads == [arn]  # a refused read is no refused login: the secret is not read again
        # AND with '^$' three times, the least there is, it reads the queue
        create_user(management, user, "/")
        _, documents = invoke(capsys)
        assert [d["Queue"] for d in documents] == [topology.queue]
    finally:
        management.delete("users", user.name)


@pytest.mark.integration
def test_an_unreachable_broker_is_one_line_after_a_short_retry(
    environment: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A run every minute retries a broker that is not answering for RETRY_FOR seconds at most
    # (the same backoff from 0.1 s here instead of 1 s, so the test waits less).
    monkeypatch.setattr("rabbitmq_admin.management._FIRST_DELAY", 0.1)
    monkeypatch.setenv("MANAGEMENT_URL", "http://127.0.0.1:1")
    started = time.monotonic()
    message, documents = failure(capsys)
    assert documents == []
    assert message.startswith("cannot reach the RabbitMQ management API at http://127.0.0.1:1: connection refused")
    assert message.endswith(f"(retried for {metrics.RETRY_FOR:g} s)")
    assert metrics.RETRY_FOR <= time.monotonic() - started < metrics.RETRY_FOR + 5
