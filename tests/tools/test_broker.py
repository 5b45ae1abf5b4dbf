"""How the demo, the tests and the benchmarks find a broker, and what they say when they cannot."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import docker.errors
import pytest
import testcontainers.community.rabbitmq

from rabbitmq_tools import bootstrap, broker, demo, local_event_source_mapping, replay, send
from rabbitmq_tools.broker import RABBITMQ_IMAGE, BrokerUnavailable, local_broker, rabbitmq_image
from support import record


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


@pytest.mark.unit
def test_a_rabbitmq_url_without_a_scheme_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_URL", "guest:s3cret@localhost:5672")
    with pytest.raises(BrokerUnavailable) as caught:
        local_broker().__enter__()
    assert str(caught.value) == (
        "RABBITMQ_URL='guest:***@localhost:5672': broker URL must start with amqp:// or amqps://, it has no scheme; "
        "for example RABBITMQ_URL=amqp://guest:guest@localhost:5672/"
    )


@pytest.mark.unit
def test_a_container_without_the_plugins_shards_need_is_one_clear_line() -> None:
    """Shards need the consistent-hash exchange and the shovel plugin, which Amazon MQ runs: a container
    whose image lacks one is refused as no broker, not left to fail a test later."""

    class Exec:
        exit_code = 2
        output = (
            b"Enabling plugins on node rabbit@x:\nError:\n{:plugins_not_found,[:rabbitmq_consistent_hash_exchange]}\n"
        )

    class Container:
        def exec(self, command: list[str]) -> Exec:
            assert command == ["rabbitmq-plugins", "enable", "rabbitmq_consistent_hash_exchange", "rabbitmq_shovel"]
            return Exec()

    with pytest.raises(BrokerUnavailable) as caught:
        broker.enable_plugins(Container())
    assert str(caught.value) == (
        "the RabbitMQ container could not enable rabbitmq_consistent_hash_exchange, rabbitmq_shovel: "
        "{:plugins_not_found,[:rabbitmq_consistent_hash_exchange]}; set RABBITMQ_IMAGE to an image that has it"
    )


@pytest.mark.unit
def test_the_image_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RABBITMQ_IMAGE", raising=False)
    assert rabbitmq_image() == RABBITMQ_IMAGE == "rabbitmq:3.13-management"
    monkeypatch.setenv("RABBITMQ_IMAGE", "rabbitmq:4.0-management")
    assert rabbitmq_image() == "rabbitmq:4.0-management"


@pytest.mark.unit
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


@pytest.mark.unit
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


# --- no command prints a password -------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("amqp://guest:s3cret@localhost:5672/", "amqp://guest:***@localhost:5672/"),
        ("RABBITMQ_URL='guest:s3cret@localhost:5672' is", "RABBITMQ_URL='guest:***@localhost:5672' is"),
        ("at http://admin:p%40ss@h:15672: refused", "at http://admin:***@h:15672: refused"),
        ("amqps://u:p@ss/w:rd@h/vhost and amqp://v:q@h2/", "amqps://u:***@h/vhost and amqp://v:***@h2/"),
        ("amqp://u:p@[::1]:5672/", "amqp://u:***@[::1]:5672/"),
        (
            "amqp://guest@localhost/ amqp://localhost:5672/ s3://b/k",
            "amqp://guest@localhost/ amqp://localhost:5672/ s3://b/k",
        ),
    ],
)
def test_redact_takes_the_password_out_of_every_url(text: str, redacted: str) -> None:
    assert broker.redact(text) == redacted


PASSWORD = "Pw-h4-7qz%2Fx"  # URL-quoted: the password is Pw-h4-7qz/x


def refused_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}/"


# (command, arguments, environment); "{refused}" is the test broker's URL with a password it refuses
FAILING_RUNS: list[tuple[str, list[str], dict[str, str]]] = [
    ("send", ["--url", f"http://guest:{PASSWORD}@127.0.0.1:5672/"], {}),
    ("send", ["--url", f"guest:{PASSWORD}@127.0.0.1:5672"], {}),
    ("send", ["--url", f"amqp://guest:{PASSWORD}@127.0.0.1:5672/?tcp_options=%7Bbad"], {}),
    ("send", ["--url", f"amqp://guest:{PASSWORD}@127.0.0.1:5672/?nope=1"], {}),
    ("send", ["--url", f"amqp://guest:{PASSWORD}@127.0.0.1:1/"], {}),
    ("send", ["--url", "{refused}"], {}),
    ("replay", ["--url", f"guest:{PASSWORD}@127.0.0.1:5672"], {}),
    ("replay", ["--url", "{refused}"], {}),
    ("bootstrap", [], {"RABBITMQ_URL": f"guest:{PASSWORD}@127.0.0.1:5672"}),
    ("bootstrap", [], {"RABBITMQ_URL": "{refused}"}),
    (
        "bootstrap",
        ["--management-url", f"http://guest:{PASSWORD}@127.0.0.1:9", "--admin-user", "guest"],
        {"RABBITMQ_ADMIN_PASSWORD": "x"},
    ),
    ("demo", [], {"RABBITMQ_URL": f"guest:{PASSWORD}@127.0.0.1:5672"}),
    ("demo", [], {"RABBITMQ_URL": f"amqp://guest:{PASSWORD}@127.0.0.1:5672/?tcp_options=%7Bbad"}),
    ("demo", [], {"RABBITMQ_URL": "{refused}"}),
    ("local mapping", ["--queue", "q", "--url", f"http://guest:{PASSWORD}@127.0.0.1:5672/"], {}),
    ("local mapping", ["--queue", "q", "--max-messages", "1"], {"RABBITMQ_URL": "{refused}"}),
]


@pytest.mark.integration
@pytest.mark.parametrize(("command", "args", "environment"), FAILING_RUNS)
def test_no_command_prints_a_password(
    command: str,
    args: list[str],
    environment: dict[str, str],
    broker_url: str,
    management: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    refused = refused_url(broker_url)
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    monkeypatch.delenv("RABBITMQ_ADMIN_PASSWORD", raising=False)
    if command in {"bootstrap", "demo"}:
        # the management API of the test broker, whatever RABBITMQ_URL's host is
        monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", management.url)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.replace("{refused}", refused))
    args = [arg.replace("{refused}", refused) for arg in args]
    dead_letters = tmp_path / "dead-letters.jsonl"
    dead_letters.write_text(json.dumps({"reason": "r", "record": record(b"{}")}) + "\n")
    main: Callable[[], int] = {
        "send": lambda: send.main(args),
        "replay": lambda: replay.main(["--file", str(dead_letters), *args]),
        "bootstrap": lambda: bootstrap.main([*args, "--queue", "q", "--credentials-out", str(tmp_path / "c.json")]),
        "demo": lambda: demo.main(args),
        "local mapping": lambda: local_event_source_mapping.main(args),
    }[command]
    code: int | str | None
    try:
        code = main()
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert code not in (0, None)
    assert err.strip()
    for shown in (PASSWORD, unquote(PASSWORD), "Pw-h4"):
        assert shown not in out + err
