"""The bootstrap function as the admin tests run it: configured by its environment, as Terraform
configures it, against moto's Secrets Manager and a real broker's management API."""

from __future__ import annotations

import json
import os
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

from rabbitmq_admin.bootstrap_handler import TRIGGER, lambda_handler
from rabbitmq_tools.broker import LocalBroker

ROLES = ("consumer", "publisher", "monitoring")


def environment_for(broker: LocalBroker, aws: Any, queue: str, admin_password: str | None = None) -> dict[str, str]:
    """The bootstrap function's environment, as Terraform sets it, for a queue on the broker:
    the admin's secret holds the admin's credentials, the users' secrets nothing yet."""
    parts = urlsplit(broker.url)
    admin = {"username": unquote(parts.username or ""), "password": admin_password or unquote(parts.password or "")}
    secrets = {
        role: aws.create_secret(
            Name=f"{queue}-{role}", **({"SecretString": json.dumps(admin)} if role == "admin" else {})
        )["ARN"]
        for role in ("admin", *ROLES)
    }
    return {
        "MANAGEMENT_URL": broker.management_url,
        "ADMIN_SECRET_ARN": secrets["admin"],
        **{f"{role.upper()}_SECRET_ARN": secrets[role] for role in ROLES},
        **{f"{role.upper()}_USERNAME": f"{queue}-{role}" for role in ROLES},
        "QUEUE_NAME": queue,
        "VIRTUAL_HOST": "/",
        "DELIVERY_LIMIT": "3",
        "CONSUMER_CONFIGURE_PERMISSION": "false",
    }


def invoke(environment: dict[str, str], event: Any = None) -> dict[str, Any]:
    """Run the function with that environment, as Terraform invokes it (the event holds a trigger
    value only, unless given)."""
    with mock.patch.dict(os.environ, environment):
        result: dict[str, Any] = lambda_handler(
            {TRIGGER: "code-and-environment-hash"} if event is None else event, None
        )
    json.dumps(result)  # what Lambda returns must be JSON
    return result
