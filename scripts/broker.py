"""Find a RabbitMQ broker for the local demo and the tests.

In order: the `RABBITMQ_URL` environment variable; else a throwaway RabbitMQ in Docker,
started with Testcontainers; else a clear error saying how to provide one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

# The engine version Amazon MQ deploys by default (variables.tf).
RABBITMQ_IMAGE = "rabbitmq:3.13"


class BrokerUnavailable(RuntimeError):
    pass


@contextmanager
def rabbitmq_url() -> Iterator[str]:
    """Yield an amqp:// URL of a running broker; a container is removed on exit."""
    url = os.environ.get("RABBITMQ_URL")
    if url:
        yield url
        return
    if not docker_available():
        raise BrokerUnavailable(
            "no RabbitMQ broker: set RABBITMQ_URL (for example "
            "RABBITMQ_URL=amqp://guest:guest@localhost:5672/ for a local rabbitmq-server), "
            "or start a Docker engine so Testcontainers can run one"
        )
    from testcontainers.community.rabbitmq import RabbitMqContainer

    with RabbitMqContainer(RABBITMQ_IMAGE) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        yield f"amqp://{quote(container.username)}:{quote(container.password)}@{host}:{port}/%2F"


def docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no SDK, no socket, no daemon: all mean "no Docker here"
        return False
    return True
