"""The bootstrap's Lambda entry point: `rabbitmq_admin.bootstrap_handler.lambda_handler`.

Terraform invokes it (aws_lambda_invocation) once the broker exists and before it creates the
event source mapping. Everything it applies comes from its own environment, which Terraform sets
(`config`); the invocation's event is ignored, whatever it holds. Were it read, whoever may invoke
the function could have the admin password sent to a URL of their choice, have any secret the
role can read copied, or lower the delivery limit.

    MANAGEMENT_URL          the broker's console URL, https://b-....mq.<region>.amazonaws.com
    ADMIN_SECRET_ARN        {"username", "password"} of the admin user, read only
    CONSUMER_SECRET_ARN     the mapping's BASIC_AUTH       CONSUMER_USERNAME
    PUBLISHER_SECRET_ARN    send.py's credentials          PUBLISHER_USERNAME
    MONITORING_SECRET_ARN   the metrics function's         MONITORING_USERNAME
    QUEUE_NAME, VIRTUAL_HOST, DELIVERY_LIMIT
    CONSUMER_CONFIGURE_PERMISSION   "true" grants the consumer configure on its queue too
                                    (default "false")

A user's secret without a value gets a generated password, stored as {"username", "password"}
before any user has it; a stored password is kept, so a second run changes nothing. A secret
that names `<username>_clone` (or, for a `..._clone` username, the name without it) has been
rotated (`rotation`): it is kept as it is, and that user is the one made or corrected. Writing
the configured name back would change `<username>`'s password under whoever still holds the
previous version, the very moment alternating users avoid.

A secret that names another user (the user name changed in Terraform) is renamed in an order
that never lets it name a user the broker lacks: the new user is made with the secret's password,
its tags and permissions, and proved on the broker; then the secret names it; then the former
user and its `_clone`, if ours, are deleted. A run that fails half-way leaves the secret naming
a user that exists with that password, and the next run picks up where it stopped: it finds
the former user in the secret's AWSPREVIOUS version once the secret names the new one.

It returns what changed (JSON). On a fault it raises `AdminError`, whose message is one line
naming the cause and the fix: Lambda reports a FunctionError, and `terraform apply` stops before
the mapping is created. Passwords are never logged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .bootstrap import adopt, apply, prove, retire
from .config import flag, required, whole_number
from .errors import AdminError
from .management import ManagementClient
from .secrets_manager import SecretsManager, SecretValueNotFound, parse_credentials, read_credentials
from .topology import Topology
from .users import User, alternate, consumer, generate_password, monitoring, publisher

logger = logging.getLogger("rabbitmq_admin")
logger.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and above only

ROLES = ("consumer", "publisher", "monitoring")
# The one key Terraform's invocation sends (bootstrap.tf): a value that changes whenever the
# function or its environment does, so that the bootstrap runs again. Ignored like the rest.
TRIGGER = "trigger"
# How long the bootstrap retries a broker that is not answering yet (`ManagementClient`): a new
# broker's name, connections and load balancer may lag a few minutes behind its RUNNING state.
# With one more request's timeout (30 s) it ends within the function's timeout (300 s).
RETRY_FOR = 240.0


@dataclass(frozen=True)
class Settings:
    """The function's environment, checked."""

    management_url: str
    admin_secret_arn: str
    secret_arns: dict[str, str]  # by role
    usernames: dict[str, str]  # by role
    topology: Topology
    consumer_configure: bool

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        arns = {role: f"{role.upper()}_SECRET_ARN" for role in ROLES}
        names = {role: f"{role.upper()}_USERNAME" for role in ROLES}
        values = required(
            environ,
            [
                "MANAGEMENT_URL",
                "ADMIN_SECRET_ARN",
                *arns.values(),
                *names.values(),
                "QUEUE_NAME",
                "VIRTUAL_HOST",
                "DELIVERY_LIMIT",
            ],
        )
        try:
            # The queue's and the vhost's names are exact: not stripped.
            topology = Topology(values["QUEUE_NAME"], whole_number(environ, "DELIVERY_LIMIT"), values["VIRTUAL_HOST"])
        except ValueError as exc:
            raise AdminError(f"{exc}: fix the Terraform variables") from None
        return cls(
            management_url=values["MANAGEMENT_URL"].strip(),
            admin_secret_arn=values["ADMIN_SECRET_ARN"].strip(),
            secret_arns={role: values[name].strip() for role, name in arns.items()},
            usernames={role: values[name].strip() for role, name in names.items()},
            topology=topology,
            consumer_configure=flag(environ, "CONSUMER_CONFIGURE_PERMISSION"),
        )

    def user(self, role: str, name: str, password: str) -> User:
        """The role's user of that name and password, with the role's tags and permissions."""
        if role == "consumer":
            return consumer(name, password, self.topology, configure=self.consumer_configure)
        return publisher(name, password) if role == "publisher" else monitoring(name, password)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    ignore(event)
    try:
        return bootstrap(Settings.from_environment(), SecretsManager.from_environment())
    except AdminError as exc:
        logger.error("bootstrap failed: %s", exc)
        raise


def ignore(event: Any) -> None:
    """Say that the event was ignored, naming its keys (not their values, which anyone may set)."""
    if isinstance(event, Mapping):
        others = [repr(str(key)[:40]) for key in event if key != TRIGGER]
        if others:
            listed = ", ".join(others[:10]) + (f" and {len(others) - 10} more" if len(others) > 10 else "")
            logger.info("ignored the event's %s: the bootstrap reads its configuration from its environment", listed)
    elif event is not None:
        logger.info("ignored the event (%s): the bootstrap reads its configuration from its environment", type(event))


def bootstrap(settings: Settings, secrets: SecretsManager) -> dict[str, Any]:
    topology = settings.topology
    client = admin_client(secrets, settings.management_url, settings.admin_secret_arn, retry_for=RETRY_FOR)
    changes: list[str] = []

    def changed(line: str) -> None:
        logger.info(line)
        changes.append(line)

    arns, configured = settings.secret_arns, settings.usernames
    current = {role: stored_credentials(secrets, arns[role], configured[role], changed) for role in ROLES}
    previous = {role: previous_credentials(secrets, arns[role]) for role in ROLES}
    # The user each secret names, or will name: a rotated secret's user is kept.
    pairs = {role: (configured[role], alternate(configured[role])) for role in ROLES}
    users = {
        role: settings.user(
            role, value["username"] if value["username"] in pairs[role] else configured[role], value["password"]
        )
        for role, value in current.items()
    }
    changes += apply(client, topology, list(users.values()))
    keep = {name for user in users.values() for name in (user.name, alternate(user.name))}
    for role, user in users.items():
        value, before = current[role], previous[role]
        if value["username"] != user.name:
            # Renamed: the new user is on the broker with the secret's password (apply), proved
            # there before the secret names it; only then does the former user go.
            prove(client, user)
            secrets.put_secret_string(arns[role], json.dumps({**value, "username": user.name}))
            changed(f"stored user name {user.name!r} (was {value['username']!r}) in secret {arns[role]}")
        passwords = [value["password"], *([before["password"]] if before else [])]
        if before and before["username"] == alternate(user.name):
            adopt(client, settings.user(role, before["username"], before["password"]), changed)
        former = {
            name
            for found in (value, before)
            if found and found["username"] not in (user.name, alternate(user.name))
            for name in (found["username"], alternate(found["username"]))
        }
        retire(client, user, sorted(former - keep), passwords, changed)
    logger.info("queue %r on vhost %r: %d change(s)", topology.queue, topology.vhost, len(changes))
    return {
        "changed": bool(changes),
        "changes": changes,
        "vhost": topology.vhost,
        "queue": topology.queue,
        "dead_letter_queue": topology.dead_letter_queue,
        "policy": topology.policy_name,
        "users": [user.name for user in users.values()],
    }


def admin_client(
    secrets: SecretsManager, management_url: str, admin_secret_arn: str, retry_for: float
) -> ManagementClient:
    """The management API as the broker's admin, whose credentials the admin secret holds."""
    admin_user, admin_password = read_credentials(secrets, admin_secret_arn, "admin")
    return ManagementClient(
        management_url,
        admin_user,
        admin_password,
        retry_for=retry_for,
        credentials_hint=f"the admin secret {admin_secret_arn} must hold the broker admin's user name and current "
        "password",
    )


def stored_credentials(
    secrets: SecretsManager, secret_arn: str, username: str, changed: Callable[[str], None]
) -> dict[str, Any]:
    """The value of the user's secret ({"username", "password"} and any other key), or, when it
    has none, a generated password for `username`, stored there first."""
    try:
        return parse_credentials(secrets.get_secret_string(secret_arn), secret_arn)
    except SecretValueNotFound:
        pass
    # Stored before any user has it: a run that fails later leaves a password that the next run
    # finds and gives the user, never a user whose password is nowhere. Nothing reads the secret
    # before the bootstrap has made its user: Terraform creates the mapping after the bootstrap.
    value = {"username": username, "password": generate_password()}
    secrets.put_secret_string(secret_arn, json.dumps(value))
    changed(f"stored a generated password for user {username!r} in secret {secret_arn}")
    return value


def previous_credentials(secrets: SecretsManager, secret_arn: str) -> dict[str, Any] | None:
    """The secret's AWSPREVIOUS value, if it has one that holds credentials: after a rotation the
    `_clone` alternate's, after a renaming the former user's."""
    try:
        text = secrets.get_secret_string(secret_arn, version_stage="AWSPREVIOUS")
    except SecretValueNotFound:
        return None
    try:
        return parse_credentials(text, secret_arn)
    except AdminError:  # not credentials: no user to find from it
        return None
