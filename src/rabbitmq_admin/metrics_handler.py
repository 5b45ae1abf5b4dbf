"""The queue-metrics Lambda function's entry point: `rabbitmq_admin.metrics_handler.lambda_handler`.

An EventBridge schedule runs it every minute (Terraform's monitoring.tf); `metrics.publish`
prints the queues' metrics. Its configuration is its environment, never the event:

    MANAGEMENT_URL          the broker's console URL (https://b-....mq.<region>.amazonaws.com),
                            or http://127.0.0.1:15672 for a local broker
    MONITORING_SECRET_ARN   {"username", "password"} of a user tagged `monitoring` whose only
                            permissions are configure, write and read '^$' on VIRTUAL_HOST
    VIRTUAL_HOST            the queues' vhost, such as "/"
    QUEUES                  comma-separated queue names, such as "orders,orders.dlq"
    METRICS_NAMESPACE       the CloudWatch namespace of the metrics
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import required
from .errors import AdminError
from .metrics import publish
from .secrets_manager import SecretsManager

logger = logging.getLogger("rabbitmq_admin")
logger.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and above only

ENVIRONMENT = ("MANAGEMENT_URL", "MONITORING_SECRET_ARN", "VIRTUAL_HOST", "QUEUES", "METRICS_NAMESPACE")


@dataclass(frozen=True)
class Settings:
    """The function's environment, checked."""

    management_url: str
    secret_arn: str
    vhost: str
    queues: tuple[str, ...]
    namespace: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        required(environ, ENVIRONMENT)
        queues = tuple(dict.fromkeys(name.strip() for name in environ["QUEUES"].split(",") if name.strip()))
        if not queues:
            raise AdminError("QUEUES names no queue: give comma-separated queue names, such as orders,orders.dlq")
        namespace = environ["METRICS_NAMESPACE"].strip()
        # The spec's schema bounds a namespace to 1-255 characters; "AWS/" is AWS's own prefix.
        if len(namespace) > 255 or namespace.startswith("AWS/"):
            raise AdminError(
                f"METRICS_NAMESPACE {namespace!r} is not a custom CloudWatch namespace: use at most 255 characters, "
                "not starting with AWS/"
            )
        return cls(
            management_url=environ["MANAGEMENT_URL"].strip(),
            secret_arn=environ["MONITORING_SECRET_ARN"].strip(),
            vhost=environ["VIRTUAL_HOST"],  # not stripped: a vhost's name is exact
            queues=queues,
            namespace=namespace,
        )


def lambda_handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The EventBridge schedule's event carries nothing the function needs: it is ignored."""
    try:
        return publish(Settings.from_environment(), SecretsManager.from_environment())
    except AdminError as exc:
        logger.error("queue metrics failed: %s", exc)
        raise
