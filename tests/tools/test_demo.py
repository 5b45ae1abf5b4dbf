"""The README's local demo command, end to end against the broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
import pytest

from rabbitmq_admin.management import ManagementClient
from rabbitmq_tools import demo
from rabbitmq_tools.broker import LocalBroker
from support import ROOT
from support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_demo_processes_the_example_and_dead_letters_the_bad_order(broker: LocalBroker, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env={
            "PATH": "/usr/bin:/bin",
            "RABBITMQ_URL": broker.url,
            "RABBITMQ_MANAGEMENT_URL": broker.management_url,
            "TMPDIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("1. bootstrapped through the management API: orders-demo-")
    assert "messages 2 | batches 1 | failures 0 | dead-lettered 1" in out
    assert "dead letter: ord-bad-total: total: 1.00 does not equal the sum of the items, 34.90" in out
    assert '"orderId":"ord-2026-11-000123"' in out  # the per-message DEBUG line of the accepted order
    assert out.rstrip().endswith("demo succeeded: 1 order processed, 1 dead-lettered")
    # and it deleted what it bootstrapped
    queue = out.split(": ", 1)[1].split(" ", 1)[0]
    management = broker.management_client()
    assert management.get("queues", "/", queue) is None
    assert management.get("policies", "/", f"{queue}.dead-lettering") is None
    assert management.get("users", f"{queue}-consumer") is None
    assert list(tmp_path.iterdir()) == []  # nor does it leave its temporary folder


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
