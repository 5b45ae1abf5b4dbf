"""The broker bootstrap, from a laptop: the same code (`rabbitmq_admin`) that `terraform apply`
runs as a Lambda function, applied to any broker's management API.

It declares the queue topology and its policy, and the consumer, publisher and monitoring
users with their permissions, idempotently. The admin is --admin-user, with its password from
a file or RABBITMQ_ADMIN_PASSWORD; without them, the user and password of RABBITMQ_URL, whose
host also gives the management API (port 15672) unless --management-url or
RABBITMQ_MANAGEMENT_URL say otherwise. The users' passwords come from RABBITMQ_CONSUMER_PASSWORD,
RABBITMQ_PUBLISHER_PASSWORD and RABBITMQ_MONITORING_PASSWORD, else from the credentials file of
an earlier run, else newly generated; they are written to that file (mode 0600) before any
user is changed on the broker, so a generated password is never lost. send.py and the local
event source mapping read the file with --credentials.

    RABBITMQ_URL=amqp://guest:guest@localhost:5672/ python scripts/bootstrap.py --queue orders \\
        --credentials-out .local/credentials.json
    python scripts/bootstrap.py --management-url https://b-1234.mq.eu-west-1.on.aws --admin-user admin \\
        --admin-password-file admin.txt --queue orders --credentials-out .local/credentials.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from rabbitmq_admin import shards
from rabbitmq_admin.bootstrap import apply
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import MAX_SHARDS, Topology
from rabbitmq_admin.users import User, alternate, consumer, generate_password, monitoring, publisher
from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT
from rabbitmq_tools.broker import management_url_for, rabbitmq_url, redact

ROLES = ("consumer", "publisher", "monitoring")


@dataclass(frozen=True)
class BrokerSetup:
    """What the bootstrap applies to a broker: the topology and the three users, passwords included."""

    topology: Topology
    consumer: User
    publisher: User
    monitoring: User

    @classmethod
    def new(
        cls,
        topology: Topology,
        consumer_name: str,
        publisher_name: str,
        passwords: dict[str, str] | None = None,
        monitoring_name: str | None = None,
    ) -> BrokerSetup:
        """The users' passwords by role; a role without one gets a generated password. The
        monitoring user is <queue>-monitoring unless named."""
        passwords = passwords or {}
        return cls(
            topology,
            consumer(consumer_name, passwords.get("consumer") or generate_password(), topology),
            publisher(publisher_name, passwords.get("publisher") or generate_password(), topology.exchange),
            monitoring(
                monitoring_name or f"{topology.queue}-monitoring", passwords.get("monitoring") or generate_password()
            ),
        )

    @property
    def users(self) -> list[User]:
        return [self.consumer, self.publisher, self.monitoring]

    def apply(self, client: ManagementClient) -> list[str]:
        """Apply it (rabbitmq_admin.bootstrap.apply); return the changes."""
        return apply(client, self.topology, self.users)

    def remove(self, client: ManagementClient) -> None:
        """Delete what the bootstrap made: the queues and their messages, the exchanges, the
        policy, the users and the `_clone` users rotation made. For the demo, the tests and the
        benchmarks; a vhost stays."""
        topology = self.topology
        shards.remove(client, topology)  # the work queue or the shard queues, their shovels, the exchange
        client.delete("queues", topology.vhost, topology.dead_letter_queue)
        client.delete("exchanges", topology.vhost, topology.dead_letter_exchange)
        client.delete("policies", topology.vhost, topology.policy_name)
        for user in self.users:
            client.delete("users", user.name)
            client.delete("users", alternate(user.name))


def read_credentials(path: str, role: str) -> tuple[str, str]:
    """(username, password) of a role from a credentials file this command wrote. Raises ValueError."""
    try:
        entry = json.loads(Path(path).read_text())[role]
        username, password = entry["username"], entry["password"]
    except OSError as exc:
        raise ValueError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    except (ValueError, TypeError, KeyError):
        raise ValueError(
            f"{path} holds no {role} credentials: write it with scripts/bootstrap.py --credentials-out"
        ) from None
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValueError(f"{path} holds no {role} credentials: write it with scripts/bootstrap.py --credentials-out")
    return username, password


# --- the command ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Apply the queue topology (quorum queue, dead-letter exchange and queue, the policy with the "
        "delivery limit) and the least-privilege consumer, publisher and monitoring users to a RabbitMQ broker, "
        "through its management API, idempotently: what terraform apply runs as a Lambda function, for any broker. "
        "Exit codes: 0 done, 1 the broker or its API refused (one line on stderr), 2 bad arguments, or a "
        "credentials file that cannot be written (checked before any user changes).",
        epilog="environment: RABBITMQ_URL (amqp://user:password@host:5672/: its host's port 15672 is the management "
        "API, its user and password the admin's, unless given otherwise), RABBITMQ_MANAGEMENT_URL, "
        "RABBITMQ_ADMIN_PASSWORD (the admin's password), RABBITMQ_CONSUMER_PASSWORD, RABBITMQ_PUBLISHER_PASSWORD "
        "and RABBITMQ_MONITORING_PASSWORD (the users' passwords, else those of --credentials-out, else generated).",
    )
    parser.add_argument(
        "--management-url",
        help="the management API, https://... (http:// for a local broker); default $RABBITMQ_MANAGEMENT_URL, "
        "else port 15672 of $RABBITMQ_URL's host",
    )
    parser.add_argument("--admin-user", help="an administrator of the broker (default: $RABBITMQ_URL's user)")
    parser.add_argument(
        "--admin-password-file",
        help="a file holding the admin's password (default: $RABBITMQ_ADMIN_PASSWORD, else $RABBITMQ_URL's password "
        "when the admin is its user)",
    )
    parser.add_argument("--ca-file", help="CA certificate(s) to trust for https, for a private CA")
    parser.add_argument("--queue", default="orders", help="the work queue (default %(default)s)")
    parser.add_argument("--vhost", default="/", help="the virtual host, created if missing (default %(default)s)")
    parser.add_argument(
        "--delivery-limit",
        type=int,
        default=DEFAULT_DELIVERY_LIMIT,
        help="deliveries before a message moves to <queue>.dlq (default %(default)s)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=1,
        help=f"queues behind a consistent-hash exchange, 1 to {MAX_SHARDS} (default 1: the queue alone); above 1 "
        "needs --ordering-key (docs/sharding.md)",
    )
    parser.add_argument(
        "--ordering-key",
        help="what the exchange hashes with --shards above 1: header:<name> (e.g. header:customer-id) or message-id",
    )
    parser.add_argument("--consumer-user", help="the consumer's user name (default <queue>-consumer)")
    parser.add_argument("--publisher-user", help="the publisher's user name (default <queue>-publisher)")
    parser.add_argument(
        "--monitoring-user", help="the monitoring user's name, for queue metrics (default <queue>-monitoring)"
    )
    parser.add_argument(
        "--credentials-out",
        metavar="FILE",
        help="JSON file for the users' credentials (mode 0600), written before any user changes; its passwords "
        "are kept on the next run",
    )
    args = parser.parse_args(argv)
    if args.delivery_limit < 1:
        parser.error(f"--delivery-limit must be at least 1, got {args.delivery_limit}")
    return args


@dataclass(frozen=True)
class Admin:
    """Where the management API is and who works on it, from the options, else the environment."""

    management_url: str
    user: str
    password: str

    @classmethod
    def of(cls, args: argparse.Namespace) -> Admin:
        """Raises ValueError (one line, no password) when something is missing or RABBITMQ_URL is unusable."""
        management_url = args.management_url or os.environ.get("RABBITMQ_MANAGEMENT_URL")
        password_given = args.admin_password_file or os.environ.get("RABBITMQ_ADMIN_PASSWORD")
        # RABBITMQ_URL is read only for what the options do not give
        url = None if management_url and args.admin_user and password_given else rabbitmq_url()
        parts = urlsplit(url or "")
        management_url = management_url or (management_url_for(url) if url else "")
        if not management_url:
            raise ValueError("no management API: pass --management-url, or set RABBITMQ_MANAGEMENT_URL or RABBITMQ_URL")
        url_user = unquote(parts.username or "")
        user = args.admin_user or url_user
        if not user:
            raise ValueError("no admin user: pass --admin-user, or set RABBITMQ_URL=amqp://user:password@host:5672/")
        # The URL's password is its user's: it stands in for the admin's only when the admin is that user.
        url_password = unquote(parts.password or "") if user == url_user else ""
        return cls(management_url, user, _admin_password(args.admin_password_file, url_password))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = {
        "consumer": args.consumer_user or f"{args.queue}-consumer",
        "publisher": args.publisher_user or f"{args.queue}-publisher",
        "monitoring": args.monitoring_user or f"{args.queue}-monitoring",
    }
    try:
        admin = Admin.of(args)
        passwords = _user_passwords(names, args.credentials_out)
        topology = Topology(args.queue, args.delivery_limit, args.vhost, args.shards, args.ordering_key)
        setup = BrokerSetup.new(topology, names["consumer"], names["publisher"], passwords, names["monitoring"])
        if args.credentials_out:
            # Before the broker has them: a generated password must not exist only on the broker.
            write_credentials(args.credentials_out, admin.management_url, setup)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        client = ManagementClient(
            admin.management_url,
            admin.user,
            admin.password,
            ca_file=args.ca_file,
            credentials_hint="check --admin-user and the admin password (RABBITMQ_ADMIN_PASSWORD, or RABBITMQ_URL's)",
        )
        with reporting_changes(print):  # on stdout
            changes = setup.apply(client)
    except AdminError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    if args.credentials_out:
        print(f"wrote the consumer's, the publisher's and the monitoring user's credentials to {args.credentials_out}")
    if not changes:
        print(f"nothing to change: queue {topology.queue!r} on vhost {topology.vhost!r} and its users are as wanted")
    return 0


def _admin_password(path: str | None, url_password: str) -> str:
    """The file's, else $RABBITMQ_ADMIN_PASSWORD, else the RABBITMQ_URL's (when its user is the admin)."""
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the admin password file {path}: {exc.strerror}") from None
    password = os.environ.get("RABBITMQ_ADMIN_PASSWORD") or url_password
    if not password:
        raise ValueError(
            "no admin password: set RABBITMQ_ADMIN_PASSWORD, pass --admin-password-file, or give the admin's "
            "password in RABBITMQ_URL"
        )
    return password


def _user_passwords(names: dict[str, str], credentials_file: str | None) -> dict[str, str]:
    """Each role's password: from the environment, else from the file of an earlier run (same
    user name), else none (a new one is generated); a generated one must have a file to go to."""
    passwords: dict[str, str] = {}
    for role in ROLES:
        given = os.environ.get(f"RABBITMQ_{role.upper()}_PASSWORD")
        if given:
            passwords[role] = given
        elif credentials_file and Path(credentials_file).exists():
            try:
                username, password = read_credentials(credentials_file, role)
            except ValueError:
                if role != "monitoring":
                    raise
                username = password = ""  # a file from before the monitoring user: it gets a new password
            if username == names[role]:
                passwords[role] = password
        if role not in passwords and not credentials_file:
            raise ValueError(
                f"no password for the {role}: pass --credentials-out FILE to keep a generated one, or set "
                f"RABBITMQ_{role.upper()}_PASSWORD"
            )
    return passwords


def write_credentials(path: str, management_url: str, setup: BrokerSetup) -> None:
    """Write the users' credentials (mode 0600) beside `path`, then rename it over: a failed write
    leaves the earlier file whole. Raises ValueError (one line) when it cannot be written."""
    content: dict[str, Any] = {
        "management_url": management_url,
        "vhost": setup.topology.vhost,
        "queue": setup.topology.queue,
        "queues": list(setup.topology.queues),  # the consumed ones, each for a poller of the local mapping
        "exchange": setup.topology.exchange,  # where send.py publishes: "" (the default exchange) when unsharded
        **{user.role: {"username": user.name, "password": user.password} for user in setup.users},
    }
    file = Path(path)
    temporary: str | None = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".tmp")  # mode 0600
        with os.fdopen(handle, "w") as out:
            json.dump(content, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, file)
    except OSError as exc:
        if temporary:
            Path(temporary).unlink(missing_ok=True)
        raise ValueError(
            f"cannot write the credentials file {path} ({exc.strerror or exc}): choose a --credentials-out that can "
            "be written; no user was changed on the broker"
        ) from None


class _Reporter(logging.Handler):
    def __init__(self, report: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        self.report(record.getMessage())


@contextmanager
def reporting_changes(report: Callable[[str], None]) -> Iterator[None]:
    """Hand each change the bootstrap (rabbitmq_admin) makes to `report` as it is made, so a run
    that fails half-way still tells what it did."""
    logger = logging.getLogger("rabbitmq_admin")
    handler = _Reporter(report)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


if __name__ == "__main__":
    raise SystemExit(main())
