"""The management API client (rabbitmq_admin.management) against local HTTP servers: it follows
no redirect (one would carry the admin's credentials to wherever it points), shows no password
written into a URL, retries a broker that is not answering yet for the time it is given and
never a refusal."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_admin import management
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient, redacted
from support.local_http import Answer, LocalServer, json_answer, redirect
from support.tls import self_signed_certificate, server_context

pytestmark = pytest.mark.unit

OVERVIEW = {"rabbitmq_version": "3.13.7"}


def always(answer: Answer) -> Any:
    return lambda received, count: answer


def refused_line(call: Any) -> str:
    with pytest.raises(AdminError) as failure:
        call()
    message = str(failure.value)
    assert "\n" not in message
    return message


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same backoff, from 0.1 s instead of 1 s: the tests wait less, the logic is the same."""
    monkeypatch.setattr(management, "_FIRST_DELAY", 0.1)


# --- no redirect is followed ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"], ids=["other-port", "other-host"])
def test_a_redirect_elsewhere_is_refused_and_nothing_reaches_its_target(status: int, host: str) -> None:
    with (
        LocalServer(always(json_answer(OVERVIEW))) as target,
        LocalServer(always(redirect(f"http://{host}:{target.port}/api/overview", status))) as broker,
    ):
        client = ManagementClient(broker.url, "admin", "the-admin-password")
        message = refused_line(lambda: client.get("overview"))
    assert message == (
        f"the RabbitMQ management API at {broker.url} answered GET /api/overview with {status}, a redirect to "
        f"http://{host}:{target.port}/api/overview, which the client does not follow (it would send the credentials "
        "there): use the URL of the management API itself, the broker's console URL"
    )
    assert [r.path for r in broker.received] == ["/api/overview"]
    assert target.received == []  # neither the request nor the Authorization header went there


def test_a_redirect_from_https_to_plain_http_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    with (
        LocalServer(always(json_answer(OVERVIEW))) as target,
        LocalServer(always(redirect(f"{target.url}/api/overview")), tls=server_context(cert, key)) as broker,
    ):
        client = ManagementClient(f"https://localhost:{broker.port}", "admin", "the-admin-password", ca_file=str(cert))
        message = refused_line(lambda: client.get("overview"))
    assert f"answered GET /api/overview with 302, a redirect to {target.url}/api/overview, which" in message
    assert len(broker.received) == 1
    assert broker.received[0].headers["Authorization"].startswith("Basic ")  # what a redirect would carry on
    assert target.received == []


def test_a_redirect_shows_no_credentials_it_names() -> None:
    with LocalServer(always(redirect("https://someone:their-password@example.com/api"))) as broker:
        message = refused_line(lambda: ManagementClient(broker.url, "admin", "secret").get("overview"))
    assert "a redirect to https://***@example.com/api, which" in message
    assert "their-password" not in message


# --- no password in a message ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "start"),
    [
        ("https://admin:hunter2-pass@b-1.mq.eu-west-1.amazonaws.com", "management URL 'https://***@b-1.mq"),
        ("ftp://admin:hunter2-pass@broker", "management URL 'ftp://***@broker' is not an https:// URL"),
        ("http://admin:hunter2-pass@broker.example.com", "management URL 'http://***@broker.example.com'"),
    ],
)
def test_credentials_in_the_url_are_refused_and_never_shown(url: str, start: str) -> None:
    message = refused_line(lambda: ManagementClient(url, "admin", "password"))
    assert message.startswith(start)
    assert "hunter2-pass" not in message
    assert "admin:" not in message


def test_redacted() -> None:
    assert redacted("https://u:p@host:443/path?q=1") == "https://***@host:443/path?q=1"
    assert redacted("https://token@host") == "https://***@host"
    assert redacted("https://host/a@b") == "https://host/a@b"  # an @ in the path is no user information
    assert redacted("http://127.0.0.1:15672") == "http://127.0.0.1:15672"


# --- retries: a broker that is not answering yet, never a refusal ---------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_port_that_starts_listening_later_is_retried_until_it_answers() -> None:
    # GIVEN a management API whose port starts listening 1.5 s after the first request
    port = free_port()
    servers: list[LocalServer] = []
    starter = threading.Timer(1.5, lambda: servers.append(LocalServer(always(json_answer(OVERVIEW)), port).__enter__()))
    client = ManagementClient(f"http://127.0.0.1:{port}", "admin", "password", retry_for=20)
    started = time.monotonic()
    starter.start()
    try:
        # WHEN the client calls it THEN it retries the refused connections and gets the answer
        assert client.get("overview") == OVERVIEW
        assert 1.4 < time.monotonic() - started < 10
    finally:
        starter.join()
        for server in servers:
            server.__exit__(None, None, None)


def test_an_unresolvable_host_fails_in_one_line_after_the_retry_time() -> None:
    client = ManagementClient("https://no-such-broker.invalid", "admin", "password", retry_for=1.5)
    started = time.monotonic()
    message = refused_line(lambda: client.get("overview"))
    elapsed = time.monotonic() - started
    assert message == (
        "cannot resolve the host name of the RabbitMQ management API at https://no-such-broker.invalid: check the "
        "management URL (retried for 1.5 s)"
    )
    assert 1.4 < elapsed < 5


def test_a_busy_load_balancer_is_retried() -> None:
    answers = {1: Answer(503, {"error": "busy"}), 2: Answer(502)}
    with LocalServer(lambda received, count: answers.get(count, json_answer(OVERVIEW))) as broker:
        assert ManagementClient(broker.url, "admin", "password", retry_for=10).get("overview") == OVERVIEW
    assert len(broker.received) == 3


def test_the_retry_time_is_for_all_requests_together() -> None:
    with LocalServer(always(Answer(503))) as broker:
        client = ManagementClient(broker.url, "admin", "password", retry_for=0.5)
        message = refused_line(lambda: client.get("overview"))
        assert message.endswith(
            "with 503 Service Unavailable: the broker or its load balancer is not ready; run again once the broker is "
            "running (retried for 0.5 s)"
        )
        first = len(broker.received)
        started = time.monotonic()
        refused_line(lambda: client.get("overview"))  # the time is spent: one attempt, no wait
        assert time.monotonic() - started < 0.5
        assert len(broker.received) == first + 1


@pytest.mark.parametrize(
    "answer",
    [
        Answer(401, {"error": "not_authorised", "reason": "Login failed"}),
        Answer(403, {"error": "access_refused"}),
        Answer(400, {"error": "bad_request", "reason": "no"}),
        Answer(500, {"error": "internal"}),
    ],
    ids=["wrong-password", "forbidden", "bad-request", "server-error"],
)
def test_a_refusal_is_never_retried(answer: Answer) -> None:
    with LocalServer(always(answer)) as broker:
        started = time.monotonic()
        refused_line(lambda: ManagementClient(broker.url, "admin", "password", retry_for=60).get("overview"))
        assert time.monotonic() - started < 1
    assert len(broker.received) == 1


def test_without_a_retry_time_nothing_is_retried() -> None:
    # The laptop tools' default: a person runs the command again.
    started = time.monotonic()
    message = refused_line(lambda: ManagementClient("http://127.0.0.1:1", "guest", "guest").get("overview"))
    assert message.startswith("cannot reach the RabbitMQ management API at http://127.0.0.1:1: connection refused;")
    assert "retried" not in message
    assert time.monotonic() - started < 1
