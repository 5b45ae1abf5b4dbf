"""The local event source mapping driving the real handler on a real broker."""

from __future__ import annotations

import base64
import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pytest
from pika.exceptions import (
    ConnectionClosedByBroker,
    ProbableAccessDeniedError,
    ProbableAuthenticationError,
    StreamLostError,
)

from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import User, generate_password
from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.messages import Message
from rabbitmq_tools.bootstrap import BrokerSetup, write_credentials
from rabbitmq_tools.credentials import refused_by_broker
from rabbitmq_tools.local_event_source_mapping import (
    LocalEventSourceMapping,
    MappingSettings,
    MappingStopped,
    Stats,
    load_handler,
    main,
)
from support import Worker, drain, json_properties, message_count, publish, runner_process, sample, url_via, wait_for
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


class Recorder:
    """Wraps a handler and keeps every event it was invoked with."""

    def __init__(self, inner: Callable[[dict[str, Any], Any], Any] = handler.lambda_handler) -> None:
        self.inner = inner
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.times.append(time.monotonic())
        return self.inner(event, context)

    def records(self, index: int) -> list[dict[str, Any]]:
        (records,) = self.events[index]["rmqMessagesByQueue"].values()
        return list(records)

    def sizes(self) -> list[int]:
        return [len(self.records(i)) for i in range(len(self.events))]


@pytest.fixture
def processed_ids(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the messages business logic accepted, in order."""
    seen: list[str] = []
    original = business_logic.process

    def recording(message: Message) -> None:
        original(message)
        seen.append(message.payload["id"])

    monkeypatch.setattr(business_logic, "process", recording)
    return seen


def run(broker_url: str, queue: str, handler_: Callable[..., Any], **kwargs: Any) -> Stats:
    settings = MappingSettings(
        queue, batch_size=kwargs.pop("batch_size", 100), batching_window=kwargs.pop("batching_window", 0.2)
    )
    mapping = LocalEventSourceMapping(pika.URLParameters(broker_url), settings, handler_)
    kwargs.setdefault("idle_timeout", 3)
    return mapping.run(**kwargs)


def publish_samples(channel: Any, queue: str, count: int) -> list[str]:
    bodies = [sample() for _ in range(count)]
    publish(channel, queue, (json.dumps(b).encode() for b in bodies), lambda i: json_properties(bodies[i]["id"]))
    return [b["id"] for b in bodies]


def test_every_message_is_processed_once(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path, processed_ids: list[str]
) -> None:
    # GIVEN 250 messages on the queue
    ids = publish_samples(channel, topology.queue, 250)
    recorder = Recorder()
    # WHEN the mapping runs with batches of 100
    stats = run(broker_url, topology.queue, recorder, max_messages=250)
    # THEN each message was processed exactly once, in 3 invocations, and the queue is empty
    assert processed_ids == ids
    assert recorder.sizes() == [100, 100, 50]
    assert (stats.messages, stats.batches, stats.failures, stats.dead_lettered) == (250, 3, 0, 0)
    assert message_count(channel, topology.queue) == 0
    assert not dead_letter_file.exists()


def test_events_are_built_like_lambdas(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path
) -> None:
    body = json.dumps(sample()).encode()
    props = pika.BasicProperties(
        content_type="application/json",
        headers={"tenant": "acme", "n": 3},
        message_id="m-1",
        timestamp=1_795_960_861,
        priority=1,
        delivery_mode=2,
    )
    channel.basic_publish("", topology.queue, body, props)
    recorder = Recorder()
    run(broker_url, topology.queue, recorder, max_messages=1)
    event = recorder.events[0]
    assert event["eventSource"] == "aws:rmq"
    assert event["eventSourceArn"].startswith("arn:aws:mq:")
    assert list(event["rmqMessagesByQueue"]) == [f"{topology.queue}::/"]
    (record,) = recorder.records(0)
    assert record["redelivered"] is False
    assert base64.b64decode(record["data"]) == body
    basic = record["basicProperties"]
    assert basic["headers"]["tenant"] == {"bytes": list(b"acme")}
    assert basic["headers"]["n"] == 3
    assert basic["timestamp"] == "Nov 29, 2026, 2:01:01 PM"
    assert (basic["messageId"], basic["priority"], basic["deliveryMode"]) == ("m-1", 1, 2)
    assert (basic["contentType"], basic["bodySize"]) == ("application/json", len(body))


def test_batch_size_splits_batches(broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path) -> None:
    publish_samples(channel, topology.queue, 25)
    recorder = Recorder()
    run(broker_url, topology.queue, recorder, batch_size=10, max_messages=25)
    assert recorder.sizes() == [10, 10, 5]


def test_batching_window_waits_for_more_messages(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path
) -> None:
    # GIVEN one message now, and two more published 0.5 s later from another connection
    publish_samples(channel, topology.queue, 1)

    def publish_late() -> None:
        time.sleep(0.5)
        with pika.BlockingConnection(pika.URLParameters(broker_url)) as late:
            late_channel = late.channel()
            late_channel.confirm_delivery()
            publish_samples(late_channel, topology.queue, 2)

    publisher = threading.Thread(target=publish_late)
    recorder = Recorder()
    started = time.monotonic()
    publisher.start()
    # WHEN the mapping runs with a 1.5 s batching window
    run(broker_url, topology.queue, recorder, batching_window=1.5, idle_timeout=1)
    publisher.join()
    # THEN all three came in one invocation, sent when the window closed
    assert recorder.sizes() == [3]
    assert 1.5 <= recorder.times[0] - started < 3


def test_failed_invocation_redelivers_the_whole_batch(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path
) -> None:
    ids = publish_samples(channel, topology.queue, 5)
    failures = 0

    def fail_once(event: dict[str, Any], context: Any) -> Any:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("downstream unavailable")
        return handler.lambda_handler(event, context)

    recorder = Recorder(fail_once)
    stats = run(broker_url, topology.queue, recorder, max_messages=5)
    first, second = recorder.records(0), recorder.records(1)
    assert [r["basicProperties"]["messageId"] for r in first] == ids
    assert [r["redelivered"] for r in first] == [False] * 5
    assert sorted(r["basicProperties"]["messageId"] for r in second) == sorted(ids)
    assert [r["redelivered"] for r in second] == [True] * 5
    assert (stats.messages, stats.batches, stats.failures) == (5, 2, 1)
    assert message_count(channel, topology.queue) == 0


def test_poison_messages_go_to_the_sink_and_the_batch_is_processed(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path, processed_ids: list[str]
) -> None:
    ids = publish_samples(channel, topology.queue, 3)
    channel.basic_publish("", topology.queue, b"{not json", json_properties("bad-json"))
    channel.basic_publish(
        "", topology.queue, json.dumps(sample(reject="no such customer")).encode(), json_properties("refused")
    )
    ids += publish_samples(channel, topology.queue, 2)
    stats = run(broker_url, topology.queue, Recorder(), max_messages=7)
    assert processed_ids == ids
    letters = [json.loads(line) for line in dead_letter_file.read_text().splitlines()]
    assert [letter["record"]["basicProperties"]["messageId"] for letter in letters] == ["bad-json", "refused"]
    assert base64.b64decode(letters[0]["record"]["data"]) == b"{not json"
    assert (stats.messages, stats.failures, stats.dead_lettered) == (7, 0, 2)
    assert message_count(channel, topology.queue) == 0


def test_message_that_always_crashes_ends_in_the_brokers_dead_letter_queue(
    broker_url: str, channel: Any, topology: Topology
) -> None:
    # GIVEN a handler that crashes on every invocation (no handler-side guard at all)
    (message_id,) = publish(channel, topology.queue, [json.dumps(sample()).encode()])

    def crash(event: dict[str, Any], context: Any) -> Any:
        raise MemoryError("the function ran out of memory")

    # WHEN the mapping runs until the queue is idle
    stats = run(broker_url, topology.queue, crash, idle_timeout=1.5)
    # THEN the broker gave up after the delivery limit and moved the message, intact, to its DLQ
    assert stats.failures == topology.delivery_limit + 1
    assert stats.messages == 0
    ((properties, _),) = drain(channel, topology.dead_letter_queue)
    assert properties.message_id == message_id
    assert properties.headers["x-first-death-reason"] == "delivery_limit"


def test_last_delivery_guard_isolates_a_crashing_message(
    broker_url: str,
    channel: Any,
    topology: Topology,
    dead_letter_file: Path,
    processed_ids: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the real handler, told the queue's delivery limit, and business logic that
    # crashes on one message of a batch every time
    monkeypatch.setattr(handler, "config", dataclasses.replace(handler.config, delivery_limit=topology.delivery_limit))
    ids = publish_samples(channel, topology.queue, 6)
    crasher = ids[2]
    recording = business_logic.process

    def crash_on_one(message: Message) -> None:
        if message.payload["id"] == crasher:
            raise RuntimeError("a bug this message triggers")
        recording(message)

    monkeypatch.setattr(business_logic, "process", crash_on_one)
    # WHEN the mapping runs until the queue is idle
    stats = run(broker_url, topology.queue, Recorder(), idle_timeout=1.5)
    # THEN the batch failed until the crasher's last delivery, where the handler dead-lettered it
    assert stats.failures == topology.delivery_limit
    (letter,) = [json.loads(line) for line in dead_letter_file.read_text().splitlines()]
    assert letter["record"]["basicProperties"]["messageId"] == crasher
    assert letter["reason"].startswith(
        "failed on its last delivery (4 of 4): RuntimeError: a bug this message triggers"
    )
    # AND every other message was processed (the two before the crasher once per attempt)
    assert set(processed_ids) == set(ids) - {crasher}
    assert message_count(channel, topology.queue) == 0
    assert message_count(channel, topology.dead_letter_queue) == 0


def test_events_stay_under_6_mb(broker_url: str, channel: Any, topology: Topology) -> None:
    # 1.5 MB bodies are 2 MB in base64: three fit in a 6 MB event, not four
    body = b"x" * 1_500_000
    publish(channel, topology.queue, [body] * 4)
    recorder = Recorder(lambda event, context: None)
    run(broker_url, topology.queue, recorder, max_messages=4)
    assert recorder.sizes() == [3, 1]
    assert all(len(json.dumps(event)) <= 6 * 1024 * 1024 for event in recorder.events)


def test_message_too_large_for_any_event_goes_to_the_dead_letter_queue(
    broker_url: str, channel: Any, topology: Topology
) -> None:
    (big_id, small_id) = publish(channel, topology.queue, [b"x" * 5_000_000, b"{}"])
    recorder = Recorder(lambda event, context: None)
    stats = run(broker_url, topology.queue, recorder, max_messages=1)
    assert [r["basicProperties"]["messageId"] for r in recorder.records(0)] == [small_id]
    assert stats.oversized == 1
    ((properties, _),) = wait_for(lambda: drain(channel, topology.dead_letter_queue))
    assert properties.message_id == big_id


def test_max_messages_leaves_the_rest_on_the_queue(
    broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path
) -> None:
    publish_samples(channel, topology.queue, 30)
    stats = run(broker_url, topology.queue, Recorder(), max_messages=12, batch_size=5)
    assert stats.messages == 12
    wait_for(lambda: message_count(channel, topology.queue) == 18)
    redelivered = [
        props for props, _ in drain(channel, topology.queue) if props.headers and props.headers.get("x-delivery-count")
    ]
    assert redelivered == []


def start_runner(broker_url: str, queue: str, tmp_path: Path) -> subprocess.Popen[str]:
    """The command-line runner with a handler that signals it started, then sleeps."""
    return runner_process(
        broker_url,
        queue,
        "slow_handler.lambda_handler",
        {"SLOW_HANDLER_MARKER": str(tmp_path / "started"), "DEAD_LETTER_FILE": str(tmp_path / "dead.jsonl")},
        ["--batch-size", "20", "--delivery-limit", "3"],
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_stopping_the_runner_mid_batch_loses_nothing(
    broker_url: str, channel: Any, topology: Topology, tmp_path: Path, stop: signal.Signals
) -> None:
    # GIVEN 50 messages and a runner whose handler is in the middle of a batch of 20
    ids = publish_samples(channel, topology.queue, 50)
    runner = start_runner(broker_url, topology.queue, tmp_path)
    try:
        wait_for((tmp_path / "started").exists, timeout=20)
        # WHEN it is interrupted (Ctrl-C) or killed
        runner.send_signal(stop)
        _, stderr = runner.communicate(timeout=20)
    finally:
        if runner.poll() is None:
            runner.kill()
    # THEN every message is back on the queue, none acked
    assert runner.returncode == (130 if stop == signal.SIGINT else -signal.SIGKILL)
    if stop == signal.SIGINT:
        assert "interrupted: unacked messages returned to the queue" in stderr
    wait_for(lambda: message_count(channel, topology.queue) == 50)
    assert sorted(props.message_id for props, _ in drain(channel, topology.queue)) == sorted(ids)


def test_command_line_runs_until_max_messages_as_the_consumer(
    broker_url: str,
    channel: Any,
    broker_setup: BrokerSetup,
    dead_letter_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the credentials file of scripts/bootstrap.py, and a URL without credentials
    topology = broker_setup.topology
    credentials = tmp_path / "credentials.json"
    write_credentials(str(credentials), "http://localhost:15672", broker_setup)
    parts = urlsplit(broker_url)
    url = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))
    publish_samples(channel, topology.queue, 3)
    args = ["--queue", topology.queue, "--url", url, "--credentials", str(credentials), "--max-messages", "3"]
    code = main([*args, "--delivery-limit", "3", "--idle-timeout", "5"])
    assert code == 0
    assert "done: messages 3 | batches 1 | failures 0" in capsys.readouterr().err
    assert message_count(channel, topology.queue) == 0


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5672}"))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (lambda url: ["--batch-size", "0"], "error: batch size must be 1 to 10,000, got 0"),
        (lambda url: ["--batch-size", "10001"], "error: batch size must be 1 to 10,000"),
        (lambda url: ["--batching-window", "301"], "error: batching window must be 0 to 300 seconds"),
        (lambda url: ["--url", "amqp://guest:guest@127.0.0.1:1/"], "error: cannot connect to RabbitMQ at 127.0.0.1:1"),
        (lambda url: ["--url", with_password(url, "wrong")], "error: RabbitMQ at "),
        (lambda url: ["--url", ""], "error: no broker URL: pass --url"),
        (lambda url: ["--handler", "no_such_module.handler"], "error: cannot load the handler 'no_such_module"),
        (lambda url: ["--handler", "/no/such/file.handler"], "error: cannot load the handler '/no/such/file"),
        (lambda url: ["--handler", "rabbitmq_consumer.handler.nope"], "error: cannot load the handler"),
        (
            lambda url: [],
            "error: the broker closed the channel: 404 NOT_FOUND - no queue 'never-declared' in vhost '/': the "
            "bootstrap creates the queue (scripts/bootstrap.py locally, terraform apply in AWS)",
        ),
        (lambda url: ["--credentials", "/no/such/file.json"], "error: cannot read the credentials file"),
        (lambda url: ["--shards", "11"], "error: --shards must be 1 to 10 (Terraform's shard_count), got 11"),
        (lambda url: ["--shards", "0"], "error: --shards must be 1 to 10 (Terraform's shard_count), got 0"),
    ],
)
def test_command_line_errors(
    broker_url: str,
    args: Callable[[str], list[str]],
    error: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    code = main(["--queue", "never-declared", "--url", broker_url, "--idle-timeout", "1", *args(broker_url)])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith(error)
    assert len(err.splitlines()) == 1


def test_a_handler_is_loaded_from_its_file_when_given_as_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lambda's dir/module.function, relative to the current directory (Lambda's task root) or absolute
    names = [f"handler_{uuid.uuid4().hex}" for _ in range(2)]
    (tmp_path / "handlers").mkdir()
    for name in names:
        (tmp_path / "handlers" / f"{name}.py").write_text("def lambda_handler(event, context):\n    return event\n")
    monkeypatch.chdir(tmp_path)
    try:
        assert load_handler(f"handlers/{names[0]}.lambda_handler")({"a": 1}, None) == {"a": 1}
        assert load_handler(f"{tmp_path}/handlers/{names[1]}.lambda_handler")({"b": 2}, None) == {"b": 2}
        with pytest.raises(ImportError, match="already imported"):  # never shadows an imported module
            load_handler(f"handlers/{names[0]}.lambda_handler")
    finally:
        for name in names:
            sys.modules.pop(name, None)
    assert load_handler("rabbitmq_consumer.handler.lambda_handler") is handler.lambda_handler


def test_the_rate_excludes_idle_time(broker_url: str, channel: Any, topology: Topology, dead_letter_file: Path) -> None:
    # GIVEN 50 messages, and a mapping that stops after 1.5 s without a message
    publish_samples(channel, topology.queue, 50)
    stats = run(broker_url, topology.queue, Recorder(), idle_timeout=1.5)
    # THEN the wait at the end counts as idle, and msg/s is over the busy time alone
    assert stats.messages == 50
    assert stats.idle >= 1.5
    assert stats.busy <= stats.elapsed - 1.5
    assert stats.rate == 50 / stats.busy
    assert stats.rate > 50 / stats.elapsed * 1.5


# --- reconnects, fresh credentials, and refused ones ------------------------------------------


@pytest.fixture
def second_consumer(broker_setup: BrokerSetup, management: ManagementClient) -> Iterator[User]:
    """Another user with the consumer's permissions, as a rotation's alternate user is."""
    first = broker_setup.consumer
    user = dataclasses.replace(first, name=f"{first.name}_clone", password=generate_password())
    management.put("users", user.name, body={"password": user.password, "tags": ""})
    permissions = dataclasses.asdict(user.permissions)
    management.put("permissions", broker_setup.topology.vhost, user.name, body=permissions)
    yield user
    management.delete("users", user.name)


def url_without_user(broker_url: str) -> str:
    parts = urlsplit(broker_url)
    return urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))


def test_a_lost_connection_is_made_again_with_the_credentials_read_anew(
    broker_url: str,
    channel: Any,
    broker_setup: BrokerSetup,
    second_consumer: User,
    management: ManagementClient,
    dead_letter_file: Path,
    processed_ids: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the command-line mapping consuming as the consumer of a credentials file
    topology, first = broker_setup.topology, broker_setup.consumer
    credentials = tmp_path / "credentials.json"
    write_credentials(str(credentials), "http://localhost:15672", broker_setup)
    ids = publish_samples(channel, topology.queue, 40)
    args = ["--queue", topology.queue, "--url", url_without_user(broker_url), "--credentials", str(credentials)]
    runner = Worker(lambda: main([*args, "--delivery-limit", "3", "--idle-timeout", "3", "--batch-size", "10"]))
    runner.start()
    wait_for(lambda: len(processed_ids) >= 10)
    # WHEN the file names another user, the first user's password changes (a rotation, one
    # step further) and the broker closes the mapping's connection
    rotated = dataclasses.replace(broker_setup, consumer=second_consumer)
    write_credentials(str(credentials), "http://localhost:15672", rotated)
    management.put("users", first.name, body={"password": generate_password(), "tags": ""})
    management.delete("connections", "username", first.name)
    ids += publish_samples(channel, topology.queue, 40)
    runner.join(60)
    # THEN it reconnected as the file's new user and processed every message
    assert runner.result == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "connection lost (RabbitMQ at " in err
    assert "reconnecting in 0.25 s with fresh credentials" in err
    assert "| reconnects 1 |" in err
    assert set(processed_ids) == set(ids)
    assert message_count(channel, topology.queue) == 0


def test_a_network_cut_is_survived_and_nothing_is_lost(
    broker_url: str,
    broker_address: tuple[str, int],
    channel: Any,
    topology: Topology,
    dead_letter_file: Path,
    processed_ids: list[str],
) -> None:
    # GIVEN 300 messages and a mapping consuming through a proxy, with slow invocations
    ids = publish_samples(channel, topology.queue, 300)

    def slow(event: dict[str, Any], context: Any) -> Any:
        time.sleep(0.05)
        return handler.lambda_handler(event, context)

    with TcpProxy(broker_address) as proxy:
        settings = MappingSettings(topology.queue, batch_size=20, batching_window=0.05)
        mapping = LocalEventSourceMapping(pika.URLParameters(url_via(broker_url, proxy.port)), settings, slow)
        runner = Worker(lambda: mapping.run(idle_timeout=2))
        runner.start()
        # WHEN the network cuts the connection twice mid-run
        for processed in (100, 200):
            wait_for(lambda: len(processed_ids) >= processed)  # noqa: B023 (called at once)
            proxy.cut()
        runner.join(60)
    # THEN it reconnected each time, the unacked batches came back, and every message was processed
    assert runner.error is None
    assert (mapping.stats.reconnects, mapping.stats.authentication_failures) == (2, 0)
    assert set(processed_ids) == set(ids)
    assert message_count(channel, topology.queue) == 0


def test_a_refused_password_on_reconnect_stops_the_mapping(
    broker_url: str,
    channel: Any,
    broker_setup: BrokerSetup,
    management: ManagementClient,
    dead_letter_file: Path,
    processed_ids: list[str],
) -> None:
    # GIVEN a mapping consuming as the consumer, its credentials from a provider
    topology, consumer = broker_setup.topology, broker_setup.consumer
    ids = publish_samples(channel, topology.queue, 30)
    password = [consumer.password]
    settings = MappingSettings(topology.queue, batch_size=10, batching_window=0.05)
    parameters = pika.URLParameters(url_without_user(broker_url))
    mapping = LocalEventSourceMapping(
        parameters, settings, Recorder(), credentials=lambda: (consumer.name, password[0])
    )
    runner = Worker(lambda: mapping.run(idle_timeout=30))
    runner.start()
    wait_for(lambda: len(processed_ids) >= 10)
    # WHEN the provider's password stops being the user's and the connection is lost
    password[0] = "not-the-password"
    management.delete("connections", "username", consumer.name)
    runner.join(30)
    # THEN the mapping stops on the refusal, as Lambda's stops on EVENT_SOURCE_AUTHN_ERROR, once,
    # with one line naming the cause and the fix; what it had not acked is back on the queue
    assert isinstance(runner.error, MappingStopped)
    assert runner.error.state_reason == "EVENT_SOURCE_AUTHN_ERROR"
    message = str(runner.error)
    assert "\n" not in message
    assert message.startswith(f"RabbitMQ at {parameters.host}:{parameters.port} refused the credentials of user ")
    assert message.endswith(
        "the mapping stopped, as Lambda's stops on EVENT_SOURCE_AUTHN_ERROR: put the user's current password in "
        "the credentials file or secret, then start it again"
    )
    assert (mapping.stats.authentication_failures, mapping.stats.reconnects) == (1, 0)
    wait_for(lambda: message_count(channel, topology.queue) == len(ids) - len(set(processed_ids)))


def test_a_broker_gone_for_good_stops_the_mapping_after_the_reconnect_attempts(
    broker_url: str, broker_address: tuple[str, int], channel: Any, topology: Topology, dead_letter_file: Path
) -> None:
    # GIVEN a mapping consuming through a proxy, allowed 2 reconnect attempts
    publish_samples(channel, topology.queue, 5)
    with TcpProxy(broker_address) as proxy:
        settings = MappingSettings(topology.queue, batch_size=5, batching_window=0.05)
        mapping = LocalEventSourceMapping(
            pika.URLParameters(url_via(broker_url, proxy.port)), settings, Recorder(), reconnect_attempts=2
        )
        runner = Worker(lambda: mapping.run(idle_timeout=30))
        runner.start()
        wait_for(lambda: mapping.stats.messages == 5)
        # WHEN the connection is cut and the broker stays out of reach
        proxy.target = ("127.0.0.1", 1)  # the proxy still accepts, then finds nothing behind it
        started = time.monotonic()
        proxy.cut()
        runner.join(30)
    # THEN it gives up after the attempts (0.25 s, then 0.5 s, apart), naming the last failure
    assert isinstance(runner.error, MappingStopped)
    assert str(runner.error).startswith("could not reconnect after 2 attempts: ")
    assert f"localhost:{proxy.port}" in str(runner.error)
    assert 0.7 <= time.monotonic() - started < 10
    assert mapping.stats.reconnects == 0


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        # what pika raises for the broker's own refusals (it keeps only the text of the close)
        (ProbableAuthenticationError(repr(ConnectionClosedByBroker(403, "ACCESS_REFUSED - Login was refused"))), True),
        (ProbableAccessDeniedError(repr(ConnectionClosedByBroker(530, "NOT_ALLOWED - vhost x not found"))), True),
        # and for a connection cut during the handshake: the same types, no refusal
        (ProbableAuthenticationError(repr(StreamLostError("Transport indicated EOF"))), False),
        (ProbableAccessDeniedError(repr(StreamLostError("Transport indicated EOF"))), False),
        (ConnectionClosedByBroker(320, "CONNECTION_FORCED - Closed via management plugin"), False),
    ],
)
def test_only_the_brokers_own_refusal_counts_as_one(error: BaseException, refused: bool) -> None:
    assert refused_by_broker(error) is refused


def test_the_command_runs_the_handler_on_lanes(
    broker_url: str, channel: Any, topology: Topology, tmp_path: Path
) -> None:
    # GIVEN 40 messages of 4 customers, and the command line with the handler on 4 lanes by customer
    bodies = [sample(customer=f"c{index % 4}") for index in range(40)]
    publish(
        channel,
        topology.queue,
        (json.dumps(body).encode() for body in bodies),
        lambda i: json_properties(bodies[i]["id"], headers={"customer-id": bodies[i]["customer"]}),
    )
    processed = tmp_path / "processed.txt"
    env = {"PROCESSED_FILE": str(processed), "DEAD_LETTER_FILE": str(tmp_path / "dead.jsonl")}
    lanes = ["--ordering-key", "header:customer-id", "--parallelism", "4", "--max-messages", "40"]
    runner = runner_process(broker_url, topology.queue, "recording_handler.lambda_handler", env, lanes)
    _, err = runner.communicate(timeout=60)
    # THEN it consumed them all, through the same handler and lanes as in Lambda
    assert runner.returncode == 0, err
    assert sorted(processed.read_text().split()) == sorted(body["id"] for body in bodies)
    # AND a parallelism the handler refuses stops it in one line, before it consumes anything
    runner = runner_process(broker_url, topology.queue, "recording_handler.lambda_handler", env, ["--parallelism", "4"])
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 1
    assert err.strip() == (
        "error: the handler's configuration: PARALLELISM 4 needs an ORDERING_KEY to split batches into lanes: set "
        "ORDERING_KEY to header:<name> or json:<path> (messages of one key keep their order), or message-id (no order)"
    )
