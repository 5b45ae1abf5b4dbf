"""The broker bootstrap, from a laptop: the same code (`rabbitmq_admin`) that `terraform apply`
runs as a Lambda function, applied to any broker's management API.

It declares the queue topology and its policy, and the consumer, publisher and monitoring
users with their permissions, idempotently. The admin password comes from
RABBITMQ_ADMIN_PASSWORD or a file; the users' passwords from RABBITMQ_CONSUMER_PASSWORD,
RABBITMQ_PUBLISHER_PASSWORD and RABBITMQ_MONITORING_PASSWORD, else from the credentials file of
an earlier run, else newly generated, and they are written to that file (mode 0600), which
send.py and the local event source mapping read with --credentials.

    python scripts/bootstrap.py --management-url http://127.0.0.1:15672 --admin-user guest \\
        --queue orders --credentials-out .local/credentials.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rabbitmq_admin.bootstrap import apply
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import User, alternate, consumer, generate_password, monitoring, publisher
from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT
from rabbitmq_tools.broker import management_url_for

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
            publisher(publisher_name, passwords.get("publisher") or generate_password()),
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
        """Delete what the bootstrap made: the queues and their messages, the exchange, the
        policy, the users and the `_clone` users rotation made. For the demo, the tests and the
        benchmarks; a vhost stays."""
        topology = self.topology
        client.delete("queues", topology.vhost, topology.queue)
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
        "Exit codes: 0 done, 1 the broker or its API refused (one line on stderr), 2 bad arguments.",
        epilog="environment: RABBITMQ_ADMIN_PASSWORD (the admin's password), RABBITMQ_CONSUMER_PASSWORD, "
        "RABBITMQ_PUBLISHER_PASSWORD and RABBITMQ_MONITORING_PASSWORD (the users' passwords, else those of "
        "--credentials-out, else generated), "
        "RABBITMQ_MANAGEMENT_URL and RABBITMQ_URL (where the management API is).",
    )
    parser.add_argument(
        "--management-url",
        default=os.environ.get("RABBITMQ_MANAGEMENT_URL")
        or (management_url_for(os.environ["RABBITMQ_URL"]) if os.environ.get("RABBITMQ_URL") else None),
        help="the management API, https://... (http:// for a local broker); default $RABBITMQ_MANAGEMENT_URL, "
        "else port 15672 of $RABBITMQ_URL's host",
    )
    parser.add_argument("--admin-user", required=True, help="an administrator of the broker")
    parser.add_argument(
        "--admin-password-file", help="a file holding the admin's password (default: $RABBITMQ_ADMIN_PASSWORD)"
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
    parser.add_argument("--consumer-user", help="the consumer's user name (default <queue>-consumer)")
    parser.add_argument("--publisher-user", help="the publisher's user name (default <queue>-publisher)")
    parser.add_argument(
        "--monitoring-user", help="the monitoring user's name, for queue metrics (default <queue>-monitoring)"
    )
    parser.add_argument(
        "--credentials-out",
        metavar="FILE",
        help="JSON file for the users' credentials (mode 0600); its passwords are kept on the next run",
    )
    args = parser.parse_args(argv)
    if not args.management_url:
        parser.error("no management API: pass --management-url, or set RABBITMQ_MANAGEMENT_URL or RABBITMQ_URL")
    if args.delivery_limit < 1:
        parser.error(f"--delivery-limit must be at least 1, got {args.delivery_limit}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = {
        "consumer": args.consumer_user or f"{args.queue}-consumer",
        "publisher": args.publisher_user or f"{args.queue}-publisher",
        "monitoring": args.monitoring_user or f"{args.queue}-monitoring",
    }
    try:
        admin_password = _admin_password(args.admin_password_file)
        passwords = _user_passwords(names, args.credentials_out)
        topology = Topology(args.queue, args.delivery_limit, args.vhost)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        client = ManagementClient(
            args.management_url,
            args.admin_user,
            admin_password,
            ca_file=args.ca_file,
            credentials_hint="check --admin-user and the admin password (RABBITMQ_ADMIN_PASSWORD)",
        )
        setup = BrokerSetup.new(topology, names["consumer"], names["publisher"], passwords, names["monitoring"])
        with _print_changes():
            changes = setup.apply(client)
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.credentials_out:
        write_credentials(args.credentials_out, args.management_url, setup)
        print(f"wrote the consumer's, the publisher's and the monitoring user's credentials to {args.credentials_out}")
    if not changes:
        print(f"nothing to change: queue {topology.queue!r} on vhost {topology.vhost!r} and its users are as wanted")
    return 0


def _admin_password(path: str | None) -> str:
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read the admin password file {path}: {exc.strerror}") from None
    password = os.environ.get("RABBITMQ_ADMIN_PASSWORD")
    if not password:
        raise ValueError("no admin password: set RABBITMQ_ADMIN_PASSWORD or pass --admin-password-file")
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
    content: dict[str, Any] = {
        "management_url": management_url,
        "vhost": setup.topology.vhost,
        "queue": setup.topology.queue,
        **{user.role: {"username": user.name, "password": user.password} for user in setup.users},
    }
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(file, 0o600)  # an existing file keeps its mode through os.open
    with os.fdopen(descriptor, "w") as out:
        json.dump(content, out, indent=2)
        out.write("\n")


@contextmanager
def _print_changes() -> Iterator[None]:
    """Print each change as the bootstrap makes it, on stdout, so a run that fails half-way
    still shows what it did."""
    logger = logging.getLogger("rabbitmq_admin")
    handler = logging.StreamHandler(sys.stdout)
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
