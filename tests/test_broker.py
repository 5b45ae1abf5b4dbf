"""How the demo, the tests and the benchmarks find a broker, and what they say when they cannot."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest
import testcontainers.community.rabbitmq

from rabbitmq_tools import broker
from rabbitmq_tools.broker import RABBITMQ_IMAGE, BrokerUnavailable, local_broker, rabbitmq_image

pytestmark = pytest.mark.unit


def container_failing_with(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Docker answers, but starting the container fails with `error` (no Docker engine needed:
    the real RabbitMqContainer connects to one as it is made)."""

    class Failing:
        def __init__(self, image: str) -> None:
            self.image = image

        def with_exposed_ports(self, *ports: int) -> Any:
            return self

        def start(self) -> Any:
            raise error

        def stop(self) -> None:
            pass

    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    monkeypatch.setattr(broker, "docker_available", lambda: True)
    monkeypatch.setattr(testcontainers.community.rabbitmq, "RabbitMqContainer", Failing)


def test_a_rabbitmq_url_without_a_scheme_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "guest:guest@localhost:5672")
    with pytest.raises(BrokerUnavailable, match=r"no amqp:// or amqps:// scheme.*RABBITMQ_URL=amqp://") as caught:
        local_broker().__enter__()
    assert "\n" not in str(caught.value)


def test_the_image_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITMQ_IMAGE", raising=False)
    assert rabbitmq_image() == RABBITMQ_IMAGE == "rabbitmq:3.13-management"
    monkeypatch.setenv("RABBITMQ_IMAGE", "rabbitmq:4.0-management")
    assert rabbitmq_image() == "rabbitmq:4.0-management"


def test_an_image_docker_cannot_pull_is_one_line_naming_the_image_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # Docker answers, but the registry is out of reach (offline laptop, corporate proxy)
    monkeypatch.setenv("RABBITMQ_IMAGE", "rabbitmq:3.13-management")
    container_failing_with(
        monkeypatch,
        docker.errors.ImageNotFound(
            '404 Client Error: Not Found ("pull access denied for rabbitmq, repository does not exist")\nmore'
        ),
    )
    with pytest.raises(BrokerUnavailable) as caught:
        local_broker().__enter__()
    message = str(caught.value)
    assert "\n" not in message
    assert "cannot pull the RabbitMQ image 'rabbitmq:3.13-management'" in message
    assert "docker pull rabbitmq:3.13-management" in message
    assert "RABBITMQ_IMAGE" in message
    assert "RABBITMQ_URL" in message


def test_a_ryuk_image_docker_cannot_pull_names_ryuk_and_its_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    container_failing_with(
        monkeypatch,
        docker.errors.APIError(
            "500 Server Error for http+docker://localhost/v1.41/images/create?tag=0.8.1&fromImage=testcontainers%2Fryuk:"
            ' Internal Server Error ("Get "https://registry-1.docker.io/v2/": dial tcp: no such host")',
            explanation='Get "https://registry-1.docker.io/v2/": dial tcp: no such host',
        ),
    )
    with pytest.raises(BrokerUnavailable) as caught:
        local_broker().__enter__()
    message = str(caught.value)
    assert message.startswith("Docker cannot pull 'testcontainers/ryuk:0.8.1', Testcontainers' Ryuk container (Get ")
    assert "TESTCONTAINERS_RYUK_DISABLED=true" in message
