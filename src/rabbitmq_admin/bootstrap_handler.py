"""The bootstrap's Lambda entry point: `rabbitmq_admin.bootstrap_handler.lambda_handler`.

Terraform invokes it (aws_lambda_invocation) once the broker exists and before it creates the
event source mapping, with everything it applies in the event:

    {"management_url": "https://b-....mq.<region>.amazonaws.com",   the broker's console URL
     "admin_secret_arn": "...",      {"username", "password"} of the admin user, read only
     "consumer_secret_arn": "...",   the mapping's BASIC_AUTH; written here
     "publisher_secret_arn": "...",  send.py's credentials; written here
     "consumer_username": "...", "publisher_username": "...",
     "queue": "orders", "vhost": "/", "delivery_limit": 20}

A consumer or publisher secret without a value gets a generated password, stored as
{"username", "password"} before the user is made; a stored password is kept, so a second run
changes nothing. It returns what changed (JSON). On a fault it raises `AdminError`, whose
message is one line naming the cause and the fix: Lambda reports a FunctionError, and
`terraform apply` stops before the mapping is created. Passwords are never logged.
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
from .secrets_manager import SecretsManager, SecretValueNotFound
from .topology import Topology
from .users import consumer, generate_password, publisher

logger = logging.getLogger("rabbitmq_admin")
logger.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and above only


@dataclass(frozen=True)
class Request:
    """The invocation's event, checked."""

    management_url: str
    admin_secret_arn: str
    consumer_secret_arn: str
    publisher_secret_arn: str
    consumer_username: str
    publisher_username: str
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
    admin_user, admin_password = read_credentials(secrets, request.admin_secret_arn, "admin")
    client = ManagementClient(
        request.management_url,
        admin_user,
        admin_password,
        credentials_hint=f"the admin secret {request.admin_secret_arn} must hold the broker admin's user name "
        "and current password",
    )
    changes: list[str] = []

    def changed(line: str) -> None:
        logger.info(line)
        changes.append(line)

    users = [
        consumer(
            request.consumer_username,
            password(secrets, request.consumer_secret_arn, request.consumer_username, changed),
            topology,
        ),
        publisher(
            request.publisher_username,
            password(secrets, request.publisher_secret_arn, request.publisher_username, changed),
        ),
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


def read_credentials(secrets: SecretsManager, secret_arn: str, role: str) -> tuple[str, str]:
    """(username, password) from a secret holding {"username", "password"}."""
    try:
        text = secrets.get_secret_string(secret_arn)
    except SecretValueNotFound:
        raise AdminError(
            f"the {role} secret {secret_arn} has no value: it must hold the broker's {role} "
            'credentials as {"username", "password"}'
        ) from None
    return parse_credentials(text, secret_arn)


def parse_credentials(text: str, secret_arn: str) -> tuple[str, str]:
    try:
        value = json.loads(text)
        username, password_ = value["username"], value["password"]
    except (ValueError, TypeError, KeyError):
        username = password_ = None
    if not isinstance(username, str) or not isinstance(password_, str) or not username or not password_:
        raise AdminError(
            f"secret {secret_arn} does not hold JSON with a non-empty username and password: put "
            '{"username", "password"} into it'
        )
    return username, password_


def password(secrets: SecretsManager, secret_arn: str, username: str, changed: Callable[[str], None]) -> str:
    """The user's password from its secret; a new one, stored there first, when the secret has none."""
    try:
        stored: tuple[str, str] | None = parse_credentials(secrets.get_secret_string(secret_arn), secret_arn)
    except SecretValueNotFound:
        stored = None
    if stored is not None and stored[0] == username:
        return stored[1]
    # Stored before the user is made: a run that fails later leaves a password that the next
    # run finds and applies, never a user whose password is nowhere.
    value = stored[1] if stored is not None else generate_password()
    secrets.put_secret_string(secret_arn, json.dumps({"username": username, "password": value}))
    what = "a generated password" if stored is None else f"user name {username!r} (was {stored[0]!r})"
    changed(f"stored {what} for user {username!r} in secret {secret_arn}")
    return value
