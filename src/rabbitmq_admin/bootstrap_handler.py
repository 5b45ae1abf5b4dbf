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
                            (both or neither: without them, no monitoring user)
    QUEUE_NAME, VIRTUAL_HOST, DELIVERY_LIMIT
    SHARD_COUNT             queues behind a consistent-hash exchange (default 1: the work queue
                            alone); above 1 the exchange hashes ORDERING_KEY, header:<name> or
                            message-id (the consumer's ORDERING_KEY; docs/sharding.md)
    CONSUMER_CONFIGURE_PERMISSION   "true" grants the consumer configure on its queue too
                                    (default "false")

It runs `bootstrap.bootstrap`, which says what it does with the users' secrets, and returns
what changed (JSON). On a fault it raises `AdminError`, whose message is one line
naming the cause and the fix: Lambda reports a FunctionError, and `terraform apply` stops before
the mapping is created. Passwords are never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .bootstrap import ROLES, bootstrap
from .config import flag, required, whole_number
from .errors import AdminError
from .secrets_manager import SecretsManager
from .topology import Topology
from .users import User, consumer, monitoring, publisher

logger = logging.getLogger("rabbitmq_admin")
logger.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and above only

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
    secret_arns: dict[str, str]  # by role: the roles configured, in ROLES' order
    usernames: dict[str, str]  # by role
    topology: Topology
    consumer_configure: bool

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        # The monitoring user comes with the metrics function (Terraform's enable_monitoring).
        roles = [role for role in ROLES if role != "monitoring" or environ.get("MONITORING_SECRET_ARN", "").strip()]
        arns = {role: f"{role.upper()}_SECRET_ARN" for role in roles}
        names = {role: f"{role.upper()}_USERNAME" for role in roles}
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
        shards = whole_number(environ, "SHARD_COUNT") if environ.get("SHARD_COUNT", "").strip() else 1
        try:
            # The queue's and the vhost's names are exact: not stripped.
            topology = Topology(
                values["QUEUE_NAME"],
                whole_number(environ, "DELIVERY_LIMIT"),
                values["VIRTUAL_HOST"],
                shards=shards,
                shard_key=environ.get("ORDERING_KEY", "").strip() or None,
            )
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
        if role == "publisher":
            return publisher(name, password, self.topology.exchange)
        return monitoring(name, password)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    ignore(event)
    try:
        return bootstrap(Settings.from_environment(), SecretsManager.from_environment(), retry_for=RETRY_FOR)
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
