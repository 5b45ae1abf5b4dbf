"""Helpers shared by the tests: sample messages, events and publishing.

The template's tests know nothing of the example's orders: their message bodies are `sample()`
JSON objects, and their business logic is `support.logic.process` (tests/conftest.py installs
it), so they hold whatever `rabbitmq_consumer.business_logic.process` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pika
import pika.exceptions
import pytest

from rabbitmq_admin.users import User
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, build_event, build_record

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
EVENTS = TESTS / "events"
HANDLERS = TESTS / "support" / "handlers"  # handler modules the local mapping's command loads by file

# The region of the moto server the rabbitmq_admin tests use (conftest.moto_session).
MOTO_REGION = "eu-west-1"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def sample(sample_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A message body: a JSON object with a unique "id" unless one is given, and `fields`."""
    return {"id": sample_id or f"msg-{uuid.uuid4()}", **fields}


def json_properties(message_id: str | None = None, **kwargs: Any) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type="application/json", delivery_mode=2, message_id=message_id or str(uuid.uuid4()), **kwargs
    )


def record(body: bytes, properties: pika.BasicProperties | None = None, redelivered: bool = False) -> dict[str, Any]:
    return build_record(body, properties or json_properties(), redelivered)


def event_of(records: list[dict[str, Any]], queue: str = "orders", vhost: str = "/") -> dict[str, Any]:
    return build_event(LOCAL_BROKER_ARN, queue, vhost, records)


def sample_event(count: int, queue: str = "orders", vhost: str = "/") -> dict[str, Any]:
    return event_of([record(json.dumps(sample()).encode()) for _ in range(count)], queue, vhost)


def publish(
    channel: Any, queue: str, bodies: Iterable[bytes], properties: Callable[[int], pika.BasicProperties] | None = None
) -> list[str]:
    """Publish with confirms (the channel must be in confirm mode); return the message ids."""
    ids = []
    for index, body in enumerate(bodies):
        props = properties(index) if properties else json_properties()
        channel.basic_publish("", queue, body, props, mandatory=True)
        ids.append(props.message_id)
    return ids


def drain(channel: Any, queue: str) -> list[tuple[Any, bytes]]:
    """Take every message off a queue (auto-ack): [(properties, body)]."""
    messages: list[tuple[Any, bytes]] = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return messages
        messages.append((properties, body))


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until `condition()` is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def message_count(channel: Any, queue: str) -> int:
    count: int = channel.queue_declare(queue, passive=True).method.message_count
    return count


def runner_process(
    broker_url: str, queue: str, handler: str, env: dict[str, str], args: list[str]
) -> subprocess.Popen[str]:
    """The local event source mapping's command line in its own process (the installed
    project's), running `handler`, the module.function of a module in tests/support/handlers/:
    the mapping loads that module from its file."""
    module, _, function = handler.rpartition(".")
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "local_event_source_mapping.py"),
            "--queue",
            queue,
            "--url",
            broker_url,
            "--handler",
            f"{HANDLERS / module}.{function}",
            *args,
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def url_via(broker_url: str, port: int, scheme: str = "amqp", password: str | None = None) -> str:
    """The broker URL, pointed at localhost:port (a proxy), optionally with another password."""
    parts = urlsplit(broker_url)
    netloc = f"{parts.username}:{password or parts.password}@localhost:{port}"
    return urlunsplit((scheme, netloc, parts.path, "", ""))


def url_as(broker_url: str, user: User, vhost: str = "/") -> str:
    """The broker URL with a bootstrapped user's credentials instead of the admin's, on `vhost`."""
    parts = urlsplit(broker_url)
    netloc = f"{quote(user.name, safe='')}:{quote(user.password, safe='')}@{parts.hostname}:{parts.port or 5672}"
    return urlunsplit((parts.scheme, netloc, "/" + quote(vhost, safe=""), "", ""))


class Worker(threading.Thread):
    """Runs `target` in a thread and keeps its result or exception for the test."""

    def __init__(self, target: Callable[[], Any], name: str | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self._call = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as exc:
            self.error = exc


@dataclass
class RotationFunction:
    """The rotation Lambda as moto knows it; `invocations` are the steps moto invoked, in order.
    With `run` false an invocation is only recorded, so a test can run the steps itself."""

    arn: str
    invocations: list[dict[str, Any]] = field(default_factory=list)
    run: bool = True

    @property
    def steps(self) -> list[str]:
        return [invocation["Step"] for invocation in self.invocations]


ACCESS_REFUSED = 403  # AMQP reply code


def refused(operation: Callable[[Any], Any], url: str) -> str:
    """Run `operation` on a fresh channel as the URL's user; return the broker's refusal."""
    with pika.BlockingConnection(pika.URLParameters(url)) as connection:
        channel = connection.channel()
        channel.confirm_delivery()  # a refused publish then fails at once
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as closed:
            operation(channel)
    assert closed.value.reply_code == ACCESS_REFUSED, closed.value
    reply_text: str = closed.value.reply_text
    assert reply_text.startswith("ACCESS_REFUSED")
    return reply_text
