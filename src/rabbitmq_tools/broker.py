"""Reach a RabbitMQ broker: connection parameters from a URL (TLS always verified), and
a broker for the local demo and the tests.

`local_broker()` finds one in order: the `RABBITMQ_URL` environment variable (its management
API at `RABBITMQ_MANAGEMENT_URL`, else port 15672 of the same host); else a throwaway RabbitMQ
with its management plugin in Docker, started with Testcontainers (the optional `docker`
extra); else a clear error saying how to provide one.

No message here shows a password: `redact` takes it out of every URL a message quotes.
"""

from __future__ import annotations

import ast
import os
import re
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pika
import pika.exceptions
from pika.adapters.utils.connection_workflow import AMQPConnectorSocketConnectError

from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient

# The engine version Amazon MQ deploys by default (variables.tf), with the management plugin
# that the bootstrap talks to; $RABBITMQ_IMAGE picks another (CI also runs the tests on a
# RabbitMQ 4 image).
RABBITMQ_IMAGE = "rabbitmq:3.13-management"
MANAGEMENT_PORT = 15672
MANAGEMENT_STARTUP_SECONDS = 60  # the plugin answers some seconds after AMQP does
# Amazon MQ for RabbitMQ runs the consistent-hash exchange plugin, which shards need, and the shovel
# plugin, which drains a shard queue a smaller shard count retires; the image ships both disabled,
# so a container gets them enabled as the broker it stands in for has them.
CONTAINER_PLUGINS = ("rabbitmq_consistent_hash_exchange", "rabbitmq_shovel")

_NO_BROKER = (
    "no RabbitMQ broker: set RABBITMQ_URL (for example "
    "RABBITMQ_URL=amqp://guest:guest@localhost:5672/ for a local rabbitmq-server)"
)

# pika reads these URL query options with ast.literal_eval (pika/connection.py, URLParameters
# _set_url_client_properties and _set_url_tcp_options; ssl_options too, which is refused here), so a
# value that is not a Python literal raises SyntaxError, ValueError or TypeError, whatever its cause.
LITERAL_QUERY_OPTIONS = ("client_properties", "tcp_options")

# user:password@ in a URL, with or without its scheme: the password runs to the last @ of the
# word, as urllib reads it (a password may hold an unquoted @ or /); "scheme://user@" has none.
_USERINFO = re.compile(r"(?P<user>(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^\s:/@'\"=(\[]*):(?P<password>(?!//)\S*)@")


def redact(text: str) -> str:
    """`text` with the password of every URL in it (user:password@host) replaced by ***: for
    every message that quotes a URL, or an error that may."""
    return _USERINFO.sub(lambda match: f"{match['user']}:***@", text)


class BrokerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalBroker:
    """A broker to run the pattern on: `url` is amqp://admin:password@host:port/vhost, whose user
    is the admin the bootstrap works as; `management_url` is its management API."""

    url: str
    management_url: str

    def management_client(self) -> ManagementClient:
        parts = urlsplit(self.url)
        return ManagementClient(
            self.management_url,
            unquote(parts.username or ""),
            unquote(parts.password or ""),
            credentials_hint="the user and password of RABBITMQ_URL must be an administrator's",
        )


def management_url_for(url: str) -> str:
    """$RABBITMQ_MANAGEMENT_URL, else the management plugin's port on the broker's host."""
    host = urlsplit(url).hostname or "localhost"
    return (
        os.environ.get("RABBITMQ_MANAGEMENT_URL") or f"http://{f'[{host}]' if ':' in host else host}:{MANAGEMENT_PORT}"
    )


def rabbitmq_url() -> str | None:
    """$RABBITMQ_URL if set, checked as `connection_parameters` checks a URL; ValueError, its
    password left out, if pika could not use it."""
    url = os.environ.get("RABBITMQ_URL")
    if not url:
        return None
    try:
        connection_parameters(url)
    except ValueError as exc:
        raise ValueError(
            f"RABBITMQ_URL={redact(url)!r}: {exc}; for example RABBITMQ_URL=amqp://guest:guest@localhost:5672/"
        ) from None
    return url


@contextmanager
def local_broker() -> Iterator[LocalBroker]:
    """Yield a running broker; a container is removed on exit."""
    try:
        url = rabbitmq_url()
    except ValueError as exc:
        raise BrokerUnavailable(str(exc)) from None
    if url:
        yield LocalBroker(url, management_url_for(url))
        return
    try:
        from testcontainers.community.rabbitmq import RabbitMqContainer
    except ImportError:
        raise BrokerUnavailable(
            f"{_NO_BROKER}, or install Testcontainers (pip install -e '.[docker]' in the checkout) and start a "
            "Docker engine so that it can run one"
        ) from None
    if not docker_available():
        raise BrokerUnavailable(f"{_NO_BROKER}, or start a Docker engine so Testcontainers can run one")
    image = rabbitmq_image()
    container = RabbitMqContainer(image).with_exposed_ports(MANAGEMENT_PORT)
    try:
        container.start()
    except Exception as exc:
        with suppress(Exception):
            container.stop()  # whatever was created (Ryuk may be disabled)
        raise BrokerUnavailable(_cannot_start(image, exc)) from None
    try:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(container.port)
        broker = LocalBroker(
            f"amqp://{quote(container.username)}:{quote(container.password)}@{host}:{port}/%2F",
            f"http://{host}:{container.get_exposed_port(MANAGEMENT_PORT)}",
        )
        wait_for_management(broker)
        enable_plugins(container)
        yield broker
    finally:
        container.stop()


def rabbitmq_image() -> str:
    """The image Testcontainers runs: $RABBITMQ_IMAGE, else the default engine's."""
    return os.environ.get("RABBITMQ_IMAGE") or RABBITMQ_IMAGE


def _cannot_start(image: str, error: BaseException) -> str:
    """One line for a container that did not start; an image Docker cannot pull (offline, a proxy,
    a private registry) is the usual cause, and has a fix."""
    import docker.errors

    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if isinstance(error, docker.errors.APIError) and (
        isinstance(error, docker.errors.ImageNotFound) or "images/create" in str(error) or "pull" in str(error).lower()
    ):
        cause = str(error.explanation or first).strip().splitlines()[0]
        pulled = _pulled_image(error)
        if pulled and "ryuk" in pulled:
            # Testcontainers' reaper (Ryuk) is pulled before the broker's image
            return (
                f"Docker cannot pull {pulled!r}, Testcontainers' Ryuk container ({cause}): set "
                f"TESTCONTAINERS_RYUK_DISABLED=true, or pull it (docker pull {pulled}) where the registry is reachable"
            )
        return (
            f"Docker cannot pull the RabbitMQ image {image!r} ({cause}): pull it where the registry is reachable "
            f"(docker pull {image}, or through your proxy), set RABBITMQ_IMAGE to an image Docker has (docker "
            "images), or set RABBITMQ_URL to a running broker"
        )
    return f"Testcontainers could not start the RabbitMQ image {image!r}: {first}"


def wait_for_management(broker: LocalBroker) -> None:
    client = broker.management_client()
    deadline = time.monotonic() + MANAGEMENT_STARTUP_SECONDS
    while True:
        try:
            client.get("overview")
            return
        except AdminError as exc:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"the broker's management API did not answer: {exc}") from None
            time.sleep(1)


def enable_plugins(container: Any) -> None:
    """Enable CONTAINER_PLUGINS on the running container's node (no restart needed)."""
    result = container.exec(["rabbitmq-plugins", "enable", *CONTAINER_PLUGINS])
    if result.exit_code != 0:
        output = result.output.decode(errors="replace").strip().splitlines()
        raise BrokerUnavailable(
            f"the RabbitMQ container could not enable {', '.join(CONTAINER_PLUGINS)}: "
            f"{output[-1] if output else f'exit code {result.exit_code}'}; set RABBITMQ_IMAGE to an image that has it"
        )


def _pulled_image(error: BaseException) -> str | None:
    """The image a failed `POST /images/create` (a pull) asked for, from its URL."""
    match = re.search(r"images/create\?(\S+)", str(error))
    if not match:
        return None
    query = parse_qs(match.group(1).rstrip(":"))
    name = query.get("fromImage", [""])[0]
    tag = query.get("tag", [""])[0]
    return f"{name}:{tag}" if name and tag else name or None


def docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no SDK, no socket, no daemon: all mean "no Docker here"
        return False
    return True


def connection_parameters(
    url: str, username: str | None = None, password: str | None = None, ca_file: str | None = None
) -> pika.URLParameters:
    """Parameters for `amqp[s]://user:password@host:port/vhost` (user and password may be
    URL-quoted, or given separately). amqps always verifies the broker's certificate and
    host name, against the system's CAs or `ca_file`: the URL cannot turn that off. A URL pika
    cannot use is a ValueError of one line, which never shows the URL's password."""
    parts = urlsplit(url)
    if "://" not in url or parts.scheme not in {"amqp", "amqps"}:
        scheme = f"got {redact(url.split('://', maxsplit=1)[0])!r}" if "://" in url else "it has no scheme"
        raise ValueError(f"broker URL must start with amqp:// or amqps://, {scheme}")
    query = parse_qs(parts.query)
    if "ssl_options" in query:
        raise ValueError("ssl_options in the broker URL are not accepted: certificates are always verified")
    for name in LITERAL_QUERY_OPTIONS:
        for value in query.get(name, []):
            try:
                ast.literal_eval(value)
            except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as exc:
                reason = exc.msg if isinstance(exc, SyntaxError) else type(exc).__name__
                raise ValueError(
                    f"{name} in the broker URL is not a Python literal, which is how pika reads it ({reason}): give "
                    f"a URL-quoted dict such as {name}=%7B%7D, or leave it out"
                ) from None
    try:
        parts.port  # noqa: B018 (urllib checks the port when it is read)
    except ValueError:
        # urllib's message quotes the port, which is a piece of the password when the password
        # holds an unquoted / ? or #
        raise ValueError(
            "the broker URL's port is not a number from 0 to 65535; in a password, write / ? # @ and : as "
            "%2F %3F %23 %40 and %3A"
        ) from None
    if parts.username is not None and parts.password is None:
        raise ValueError("the broker URL has a user name but no password: amqp[s]://user:password@host:port/vhost")
    try:
        parameters = pika.URLParameters(url)
    except (ValueError, TypeError) as exc:  # pika's checks of the query options
        raise ValueError(f"pika cannot use the broker URL: {redact(str(exc))}") from None
    if username is not None or password is not None:
        if username is None or password is None:
            raise ValueError("give both a user name and a password, or neither")
        parameters.credentials = pika.PlainCredentials(username, password)
    if parts.scheme == "amqps":
        context = ssl.create_default_context(cafile=ca_file)  # CERT_REQUIRED and host name checks
        parameters.ssl_options = pika.SSLOptions(context, server_hostname=parameters.host)
    elif ca_file:
        raise ValueError("a CA file only applies to amqps:// URLs")
    return parameters


# What went wrong when connecting, for the caller to turn into an exit code.
UNREACHABLE, TLS, CREDENTIALS, VHOST, LOST = "unreachable", "tls", "credentials", "vhost", "lost"


def explain_connection_error(error: BaseException, parameters: pika.ConnectionParameters) -> tuple[str, str]:
    """(kind, one-line message naming the cause and the fix) for a failed or lost connection.
    pika wraps the root cause in one or more layers; look through them."""
    where = f"RabbitMQ at {parameters.host}:{parameters.port}"
    user = getattr(parameters.credentials, "username", "?")
    causes = list(error_chain(error))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TLS, (
                f"TLS certificate verification failed for {where} ({cause.verify_message}): the broker's "
                "certificate is not trusted by this machine; for a private CA pass --ca-file (verification "
                "cannot be turned off)"
            )
        if isinstance(cause, ssl.SSLError):
            return TLS, f"TLS handshake with {where} failed ({cause.reason}): is it a TLS (amqps, 5671) port?"
        if isinstance(cause, pika.exceptions.ProbableAccessDeniedError):
            return VHOST, (
                f"{where} refused user {user!r} access to vhost {parameters.virtual_host!r}: check the vhost "
                "name and the user's permissions"
            )
        if isinstance(cause, (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)):
            return CREDENTIALS, f"{where} refused the credentials of user {user!r}: check the user name and password"
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            return (
                UNREACHABLE,
                f"cannot resolve the host name {parameters.host!r}: check the URL or the Terraform outputs",
            )
        if isinstance(cause, ConnectionRefusedError):
            return UNREACHABLE, f"cannot connect to {where}: connection refused; is the broker running, the port right?"
    for cause in causes:
        if isinstance(cause, (TimeoutError, AMQPConnectorSocketConnectError)):
            return UNREACHABLE, f"cannot connect to {where}: {cause!r}; check the host, port and network access"
        if isinstance(cause, (pika.exceptions.StreamLostError, pika.exceptions.ConnectionClosedByBroker)):
            return LOST, f"{where} closed the connection: {cause}"
    return UNREACHABLE, redact(f"cannot connect to {where}: {error!r}")


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every error it carries (arguments, causes, contexts, groups), each once."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [arg for arg in current.args if isinstance(arg, BaseException)]
        nested += getattr(current, "exceptions", None) or []
        nested += [e for e in (getattr(current, "exception", None), current.__cause__, current.__context__) if e]
        stack.extend(reversed(nested))
