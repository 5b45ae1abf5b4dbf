"""The bootstrap's Lambda entry point: `rabbitmq_admin.bootstrap_handler.lambda_handler`.

Terraform invokes it (aws_lambda_invocation) once the broker exists and before it creates the
event source mapping, with everything it applies in the event:

    {"management_url": "https://b-....mq.<region>.amazonaws.com",   the broker's console URL
     "admin_secret_arn": "...",       {"username", "password"} of the admin user, read only
     "consumer_secret_arn": "...",    the mapping's BASIC_AUTH
     "publisher_secret_arn": "...",   send.py's credentials
     "monitoring_secret_arn": "...",  the metrics function's credentials
     "consumer_username": "...", "publisher_username": "...", "monitoring_username": "...",
     "queue": "orders", "vhost": "/", "delivery_limit": 20}

A user's secret without a value gets a generated password, stored as {"username", "password"}
before the user is made; a stored password is kept, so a second run changes nothing. A secret
that names `<username>_clone` (or, for a `..._clone` username, the name without it) has been
rotated (`rotation`): it is kept as it is, and that user is the one made or corrected. Writing
the configured name back would change `<username>`'s password under whoever still holds the
previous version, the very moment alternating users avoid. It returns what changed (JSON).
On a fault it raises `AdminError`, whose message is one line naming the cause and the fix:
Lambda reports a FunctionError, and `terraform apply` stops before the mapping is created.
Passwords are never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from .bootstrap import apply
from .errors import AdminError
from .management import ManagementClient
from .secrets_manager import SecretsManager, SecretValueNotFound, parse_credentials, read_credentials
from .topology import Topology
from .users import alternate, consumer, generate_password, monitoring, publisher

logger = logging.getLogger("rabbitmq_admin")
logger.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and above only


@dataclass(frozen=True)
class Request:
    """The invocation's event, checked."""

    management_url: str
    admin_secret_arn: str
    consumer_secret_arn: str
    publisher_secret_arn: str
    monitoring_secret_arn: str
    consumer_username: str
    publisher_username: str
    monitoring_username: str
    queue: str
    vhost: str
    delivery_limit: int

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        names = [field.name for field in fields(cls)]
        missing = [name for name in names if event.get(name) in (None, "")]
        if missing:
            raise AdminError(f"the event lacks {', '.join(missing)}: invoke the function with {', '.join(names)}")
        values = {name: event[name] for name in names}
        limit = values["delivery_limit"]
        if isinstance(limit, str) and limit.isdigit():
            values["delivery_limit"] = int(limit)
        wrong = [name for name in names if not isinstance(values[name], int if name == "delivery_limit" else str)]
        if wrong or isinstance(values["delivery_limit"], bool):
            raise AdminError(f"the event's {', '.join(wrong) or 'delivery_limit'} has the wrong type")
        return cls(**values)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return bootstrap(Request.from_event(event), SecretsManager.from_environment())
    except AdminError as exc:
        logger.error("bootstrap failed: %s", exc)
        raise


def bootstrap(request: Request, secrets: SecretsManager) -> dict[str, Any]:
    try:
        topology = Topology(request.queue, request.delivery_limit, request.vhost)
    except ValueError as exc:
        raise AdminError(f"{exc}: fix the Terraform variables") from None
    client = admin_client(secrets, request.management_url, request.admin_secret_arn)
    changes: list[str] = []

    def changed(line: str) -> None:
        logger.info(line)
        changes.append(line)

    consumer_credentials = credentials(secrets, request.consumer_secret_arn, request.consumer_username, changed)
    publisher_credentials = credentials(secrets, request.publisher_secret_arn, request.publisher_username, changed)
    monitoring_credentials = credentials(secrets, request.monitoring_secret_arn, request.monitoring_username, changed)
    users = [
        consumer(*consumer_credentials, topology),
        publisher(*publisher_credentials),
        monitoring(*monitoring_credentials),
    ]
    changes += apply(client, topology, users)
    logger.info("queue %r on vhost %r: %d change(s)", topology.queue, topology.vhost, len(changes))
    return {
        "changed": bool(changes),
        "changes": changes,
        "vhost": topology.vhost,
        "queue": topology.queue,
        "dead_letter_queue": topology.dead_letter_queue,
        "policy": topology.policy_name,
        "users": [user.name for user in users],
    }


def admin_client(secrets: SecretsManager, management_url: str, admin_secret_arn: str) -> ManagementClient:
    """The management API as the broker's admin, whose credentials the admin secret holds."""
    admin_user, admin_password = read_credentials(secrets, admin_secret_arn, "admin")
    return ManagementClient(
        management_url,
        admin_user,
        admin_password,
        credentials_hint=f"the admin secret {admin_secret_arn} must hold the broker admin's user name and current "
        "password",
    )


def credentials(
    secrets: SecretsManager, secret_arn: str, username: str, changed: Callable[[str], None]
) -> tuple[str, str]:
    """(username, password) from the user's secret; a new password, stored there first, when the
    secret has none."""
    try:
        stored: dict[str, Any] | None = parse_credentials(secrets.get_secret_string(secret_arn), secret_arn)
    except SecretValueNotFound:
        stored = None
    if stored is not None and stored["username"] in (username, alternate(username)):
        return stored["username"], stored["password"]
    # Stored before the user is made: a run that fails later leaves a password that the next
    # run finds and applies, never a user whose password is nowhere.
    value = stored["password"] if stored is not None else generate_password()
    secrets.put_secret_string(secret_arn, json.dumps({"username": username, "password": value}))
    what = "a generated password" if stored is None else f"user name {username!r} (was {stored['username']!r})"
    changed(f"stored {what} for user {username!r} in secret {secret_arn}")
    return username, value
