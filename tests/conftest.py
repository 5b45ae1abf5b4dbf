from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pika
import pytest

from rabbitmq_consumer import handler
from rabbitmq_consumer.dead_letters import JsonLinesSink
from rabbitmq_tools.broker import BrokerUnavailable, rabbitmq_url
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from rabbitmq_tools.topology import Topology, declare_topology, delete_topology, topology_for


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The command-line runner sets variables for the handler; keep them out of other tests."""
    with mock.patch.dict(os.environ):
        yield


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """RABBITMQ_URL, else a Testcontainers RabbitMQ; no broker is a failure, never a skip."""
    try:
        with rabbitmq_url() as url:
            yield url
    except BrokerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def broker_address(broker_url: str) -> tuple[str, int]:
    parts = urlsplit(broker_url)
    return parts.hostname or "localhost", parts.port or 5672


@pytest.fixture
def connection(broker_url: str) -> Iterator[Any]:
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    yield conn
    if conn.is_open:
        conn.close()


@pytest.fixture
def channel(connection: Any) -> Any:
    ch = connection.channel()
    ch.confirm_delivery()
    return ch


@pytest.fixture
def queue_name(connection: Any) -> Iterator[str]:
    """A unique queue name; the queue and its dead-letter topology are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    if connection.is_open:
        delete_topology(connection.channel(), topology_for(name))


@pytest.fixture
def topology(channel: Any, queue_name: str) -> Topology:
    return declare_topology(channel, queue_name, delivery_limit=3)


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test-rabbitmq-consumer")


@pytest.fixture
def dead_letter_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the handler's dead-letter sink at a fresh JSON-lines file."""
    path = tmp_path / "dead-letters.jsonl"
    monkeypatch.setattr(handler, "sink", lambda: JsonLinesSink(path))
    return path


# Figures the fault-injection tests measured, shown at the end of the run.
_FIGURES: list[str] = []


@pytest.fixture
def report_figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record what a test measured (processed, dead-lettered, duplicates, lost, ...)."""

    def report(**figures: int) -> None:
        line = f"{request.node.name}: " + ", ".join(
            f"{name.replace('_', ' ')} {value:,}" for name, value in figures.items()
        )
        _FIGURES.append(line)
        print(line)

    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
