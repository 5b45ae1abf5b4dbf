"""The README's local demo command against the broker, with messages and business logic of the
tests' own (tests/example/test_demo.py runs it on the example's)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
import pytest

from rabbitmq_admin.management import ManagementClient
from rabbitmq_consumer import business_logic
from rabbitmq_consumer.messages import Message
from rabbitmq_tools import demo
from rabbitmq_tools.broker import LocalBroker
from rabbitmq_tools.demo_messages import DemoMessage
from support import ROOT, sample
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_demo_says_what_it_expected_against_what_happened(
    broker: LocalBroker,
    management: ManagementClient,
    dead_letter_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN demo messages of the tests' own business logic (support/logic.py): one it processes,
    # one it refuses, and one expected refused that it processes
    monkeypatch.setattr(
        demo,
        "demo_messages",
        lambda: [
            DemoMessage("a JSON object", json.dumps(sample()).encode()),
            DemoMessage("a refused one", json.dumps(sample(reject="no such customer")).encode(), "no such customer"),
            DemoMessage("one expected refused", json.dumps(sample()).encode(), "no such customer"),
        ],
    )
    queue = f"orders-demo-{uuid.uuid4().hex[:8]}"
    # WHEN the demo runs
    code = demo.run_demo(broker, queue, dead_letter_file)
    # THEN it shows, for each message, what it expected and what happened, and fails on the third
    out = capsys.readouterr().out
    assert code == 1
    assert out.split("5. each message, what was expected and what happened:\n")[1].splitlines()[:9] == [
        "   demo-1 a JSON object",
        "      expected processed",
        "      happened processed",
        "   demo-2 a refused one",
        "      expected dead-lettered: no such customer",
        "      happened dead-lettered: no such customer",
        "   demo-3 one expected refused",
        "      expected dead-lettered: no such customer",
        "      happened processed   <- not as expected",
    ]
    assert out.rstrip().endswith(
        "demo failed: demo-3 did not go where expected. If you changed business_logic.process, change what the "
        "demo publishes and expects with it: src/rabbitmq_tools/demo_messages.py"
    )
    # AND it deleted what it bootstrapped
    assert management.get("queues", "/", queue) is None
    assert management.get("policies", "/", f"{queue}.dead-lettering") is None
    assert management.get("users", f"{queue}-consumer") is None


def test_messages_left_on_the_broker_are_named_where_they_are(
    broker: LocalBroker, dead_letter_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN business logic that fails every invocation, and a delivery limit below the handler's
    # guard: the broker moves the message to its dead-letter queue before the guard acts
    monkeypatch.setattr(demo, "DEFAULT_DELIVERY_LIMIT", 2)
    monkeypatch.setattr(demo, "IDLE_TIMEOUT", 2.0)  # the message never comes back: stop waiting soon
    monkeypatch.setattr(demo, "demo_messages", lambda: [DemoMessage("a JSON object", json.dumps(sample()).encode())])

    def down(message: Message) -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(business_logic, "process", down)
    queue = f"orders-demo-{uuid.uuid4().hex[:8]}"
    # WHEN the demo runs THEN it says where the message is
    assert demo.run_demo(broker, queue, dead_letter_file) == 1
    assert (
        f"      happened in {queue}.dlq, past the delivery limit: every invocation failed (see the logs)   "
        "<- not as expected"
    ) in capsys.readouterr().out


def test_demo_without_a_broker_says_how_to_get_one() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: no RabbitMQ broker: set RABBITMQ_URL (for example "
        "RABBITMQ_URL=amqp://guest:guest@localhost:5672/ for a local rabbitmq-server), "
        "or start a Docker engine so Testcontainers can run one"
    )


def run_demo_script(url: str, management_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env={"PATH": "/usr/bin:/bin", "RABBITMQ_URL": url, "RABBITMQ_MANAGEMENT_URL": management_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_with_an_unreachable_management_api_fails_in_one_line(broker: LocalBroker) -> None:
    """The bootstrap's error, and no warning about a clean-up: it created nothing."""
    result = run_demo_script(broker.url, "http://127.0.0.1:9")
    assert result.returncode == 1
    (error,) = result.stderr.strip().splitlines()
    assert error.startswith("error: cannot reach the RabbitMQ management API at http://127.0.0.1:9: connection refused")


def test_demo_after_a_refused_login_says_so_in_one_line(broker: LocalBroker) -> None:
    # GIVEN a RABBITMQ_URL whose password the broker refuses
    parts = urlsplit(broker.url)
    url = urlunsplit((parts.scheme, f"{parts.username}:Wrong-h4-pw@{parts.hostname}:{parts.port}", parts.path, "", ""))
    # WHEN the demo runs THEN it says so in one line, warns about nothing (nothing was made), shows no password
    result = run_demo_script(url, broker.management_url)
    assert result.returncode == 1
    (error,) = result.stderr.strip().splitlines()
    assert error.startswith(f"error: the RabbitMQ management API at {broker.management_url} refused the credentials")
    assert "Wrong-h4-pw" not in result.stdout + result.stderr


def test_a_clean_up_that_fails_names_what_the_demo_left(
    broker: LocalBroker,
    management: ManagementClient,
    queue_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a demo whose broker goes out of reach once the bootstrap made the queue and the users
    host, port = urlsplit(broker.management_url).hostname or "localhost", urlsplit(broker.management_url).port or 80
    proxy = TcpProxy((host, port))

    def lost(*_args: Any, **_kwargs: Any) -> Any:
        proxy.close()
        raise pika.exceptions.AMQPConnectionError("the network is gone")

    monkeypatch.setattr(pika, "BlockingConnection", lost)  # as the demo's publisher connects
    # WHEN it fails and cannot clean up
    with proxy:
        code = demo.run_demo(
            LocalBroker(broker.url, f"http://127.0.0.1:{proxy.port}"), queue_name, tmp_path / "dead-letters.jsonl"
        )
    # THEN one warning names what it created, which is indeed left on the broker
    assert code == 1
    error, warning = capsys.readouterr().err.strip().splitlines()
    assert error.startswith("error: ")
    assert warning.startswith("warning: could not delete what the demo created, which is left on the broker (")
    assert f"created queue '{queue_name}' (quorum) on vhost '/'" in warning
    assert f"consumer user '{queue_name}-consumer'" in warning
    assert management.get("queues", "/", queue_name) is not None  # (the queue_name fixture deletes it)
