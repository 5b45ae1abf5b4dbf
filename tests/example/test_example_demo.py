"""`make demo` on the example: example-message.json processed, the order with a wrong total
dead-lettered, as rabbitmq_tools/demo_messages.py expects."""

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
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("1. bootstrapped through the management API: orders-demo-")
    assert "messages 2 | batches 1 | failures 0 | dead-lettered 1" in out
    assert "with the Lambda handler as orders-demo-" in out
    assert ", on 4 lane(s) by json:customerId; its logs:" in out  # the example's lanes
    assert '"orderId":"ord-2026-11-000123"' in out  # the example's per-message DEBUG line
    assert out.split("5. each message, what was expected and what happened:\n")[1].splitlines()[:6] == [
        "   demo-1 example-message.json",
        "      expected processed",
        "      happened processed",
        "   demo-2 an order whose total is wrong",
        "      expected dead-lettered: total: 1.00 does not equal the sum of the items, 34.90",
        "      happened dead-lettered: total: 1.00 does not equal the sum of the items, 34.90",
    ]
    assert out.rstrip().endswith("demo succeeded: each of the 2 messages went where expected")
    # and it deleted what it bootstrapped, and its temporary folder
    queue = out.split(": ", 1)[1].split(" ", 1)[0]
    management = broker.management_client()
    assert management.get("queues", "/", queue) is None
    assert management.get("users", f"{queue}-consumer") is None
    assert list(tmp_path.iterdir()) == []
