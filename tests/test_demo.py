"""The README's local demo command, end to end against the broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rabbitmq_tools.broker import LocalBroker
from support import ROOT

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


def test_demo_with_an_unreachable_management_api_fails_in_one_line(broker: LocalBroker) -> None:
    """The bootstrap's error, then one warning for the clean-up that cannot run either: no traceback."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env={"PATH": "/usr/bin:/bin", "RABBITMQ_URL": broker.url, "RABBITMQ_MANAGEMENT_URL": "http://127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    error, warning = result.stderr.strip().splitlines()
    assert error.startswith("error: cannot reach the RabbitMQ management API at http://127.0.0.1:9: connection refused")
    assert warning.startswith("warning: could not delete queue orders-demo-")
    assert "Traceback" not in result.stderr
