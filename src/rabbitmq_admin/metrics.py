"""The queue metrics: what the queue-metrics function (`metrics_handler`) does every minute.

Amazon MQ vends no per-queue CloudWatch metrics for RabbitMQ 4.x brokers, so an EventBridge
schedule runs this function every minute. It reads each queue of QUEUES (the work queue and the
broker dead-letter queue) from the RabbitMQ management HTTP API and prints one CloudWatch
embedded metric format (EMF) document per queue on stdout. Lambda sends stdout to CloudWatch Logs,
which turns the documents into metrics: the function needs no cloudwatch:PutMetricData permission
and, for a private broker, no monitoring VPC endpoint.

EMF: "Specification: Embedded metric format", Amazon CloudWatch User Guide,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
(on Lambda, "writing JSON to standard out in the embedded metric format is sufficient"; each
document is one JSON object with no other data on its line; `_aws.Timestamp` is in milliseconds).

Metrics per queue, with the dimensions VirtualHost and Queue: MessagesReady,
MessagesUnacknowledged, Consumers (Count), PublishRate, DeliverRate (Count/Second; 0 when the
broker has no rate for the queue). A queue that does not exist makes the function fail after the
other queues' metrics are printed, so the function's Errors metric alarms. Every failure is an
`AdminError` whose one line names the cause and the fix. Passwords are never logged.

Why the monitoring user needs '^$' permissions: the management API shows a vhost's queues only to
a user who has some permissions on that vhost, whatever its tags ("All users can only list objects
within a particular virtual host if they have any permissions for that virtual host", RabbitMQ's
management plugin guide, https://www.rabbitmq.com/docs/management#permissions). Without them,
GET /api/queues/<vhost>/<queue> answers 401 "User not authorised to access virtual host" (seen on
RabbitMQ 3.10; 4.x authorises that resource the same way: rabbit_mgmt_wm_queue's
is_authorized is rabbit_mgmt_util:is_authorized_vhost). '^$' matches no queue or exchange
name, so the user still cannot consume, get, publish, declare or purge.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard

from .errors import AdminError
from .management import ManagementClient, reason_of
from .secrets_manager import SecretsManager, read_credentials

if TYPE_CHECKING:
    from .metrics_handler import Settings

logger = logging.getLogger(__name__)

DIMENSIONS = ("VirtualHost", "Queue")
# Metric name -> (CloudWatch unit, the queue's field in the management API)
COUNTS = {
    "MessagesReady": ("Count", "messages_ready"),
    "MessagesUnacknowledged": ("Count", "messages_unacknowledged"),
    "Consumers": ("Count", "consumers"),
}
# Metric name -> (CloudWatch unit, the rate's object under the queue's message_stats)
RATES = {
    "PublishRate": ("Count/Second", "publish_details"),
    "DeliverRate": ("Count/Second", "deliver_get_details"),
}
# Per request, and for retrying a broker that is not answering (`ManagementClient`), all
# requests together: a run every minute ends within the function's timeout (50 s).
TIMEOUT, RETRY_FOR = 10.0, 7.0

# The monitoring user's credentials by secret ARN, read once per execution environment, not
# every minute (each GetSecretValue is billed and is one more round trip). A refused login reads
# the secret once more, since rotation may have changed the password.
_credentials: dict[str, tuple[str, str]] = {}


class LoginRefused(AdminError):
    """The management API refused the user name and password themselves (HTTP 401 at login)."""


class MonitoringClient(ManagementClient):
    """The management client as the monitoring user: a refused login is a `LoginRefused` (the
    caller reads the secret again), and a refused read names what the monitoring user lacks."""

    def __init__(self, settings: Settings, username: str, password: str) -> None:
        super().__init__(
            settings.management_url,
            username,
            password,
            timeout=TIMEOUT,
            retry_for=RETRY_FOR,
            credentials_hint=f"the monitoring secret {settings.secret_arn} must hold the monitoring user's name and "
            "current password",
        )
        self.vhost = settings.vhost

    def _refusal(self, method: str, resource: str, error: urllib.error.HTTPError) -> AdminError:
        if error.code not in {401, 403}:
            return super()._refusal(method, resource, error)
        reason = reason_of(error)
        # "Login failed" on RabbitMQ 3.x, "Not_Authorized" on 4.x; any other 401 or 403 is a
        # signed-in user refused a resource.
        if error.code == 401 and reason.lower() in {"", "login failed", "not_authorized"}:
            return LoginRefused(
                f"the RabbitMQ management API at {self.url} refused the credentials of user {self.username!r} "
                f"(401 {reason or error.reason}): {self.credentials_hint}"
            )
        return AdminError(
            f"the RabbitMQ management API at {self.url} refused {method} {resource} to user {self.username!r} "
            f"({error.code} {reason or error.reason}): the monitoring user needs the monitoring tag and, on vhost "
            f"{self.vhost!r}, permissions configure '^$', write '^$', read '^$' (without any permission there the "
            "broker hides the vhost's queues from it)"
        )


def publish(settings: Settings, secrets: SecretsManager, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Print one EMF document per queue; return the values published, by queue. A queue without
    statistics yet (just declared, or its leader moving) gets no document this time: its
    metrics are missing data, which the alarms treat as breaching if it lasts."""
    reader = _Reader(settings, secrets)
    published: dict[str, dict[str, float] | None] = {}
    missing: list[str] = []
    for queue in settings.queues:
        stats = reader.queue(queue)
        if stats is None:
            missing.append(queue)
            continue
        values = metric_values(stats)
        published[queue] = values
        if values is None:
            logger.warning("queue %r on vhost %r has no statistics yet: no metrics this time", queue, settings.vhost)
            continue
        document = emf_document(settings.namespace, settings.vhost, queue, values, int(clock() * 1000))
        # One line, nothing around it: CloudWatch Logs extracts only a whole-line JSON object.
        print(json.dumps(document, separators=(",", ":")), flush=True)
    if missing:
        raise AdminError(reader.missing(missing, [queue for queue, values in published.items() if values]))
    return {"namespace": settings.namespace, "vhost": settings.vhost, "queues": published}


class _Reader:
    """Reads queues as the monitoring user, reading its secret again once after a refused login."""

    def __init__(self, settings: Settings, secrets: SecretsManager) -> None:
        self.settings = settings
        self.secrets = secrets
        self.reread = False
        self.client = self._client(fresh=False)

    def queue(self, name: str) -> Any:
        """The queue's JSON from the management API, or None when it does not exist."""
        try:
            return self.client.get("queues", self.settings.vhost, name)
        except LoginRefused:
            if self.reread:
                raise
            self.reread = True
            self.client = self._client(fresh=True)
            return self.client.get("queues", self.settings.vhost, name)

    def missing(self, queues: list[str], published: list[str]) -> str:
        """The line for queues the broker does not hold: a missing vhost, or missing queues."""
        settings = self.settings
        what = f"queue{'s' if len(queues) > 1 else ''} {', '.join(repr(queue) for queue in queues)}"
        try:
            # The monitoring tag lists every vhost; GET /api/vhosts/<name> would need an administrator.
            vhosts = {vhost.get("name") for vhost in self.client.get("vhosts") or [] if isinstance(vhost, dict)}
        except AdminError:
            vhosts = {settings.vhost}  # cannot tell: name the queues
        if settings.vhost not in vhosts:
            return (
                f"vhost {settings.vhost!r} does not exist on the broker at {settings.management_url}, so no queue of "
                "QUEUES does: fix VIRTUAL_HOST, or run the bootstrap (terraform apply) that creates it"
            )
        return (
            f"{what} not found on vhost {settings.vhost!r} of the broker at {settings.management_url}: run the "
            "bootstrap (terraform apply) that declares the queues, or fix QUEUES; published the metrics of "
            f"{', '.join(repr(queue) for queue in published) or 'no queue'}"
        )

    def _client(self, fresh: bool) -> MonitoringClient:
        arn = self.settings.secret_arn
        if fresh or arn not in _credentials:
            _credentials[arn] = read_credentials(self.secrets, arn, "monitoring")
        username, password = _credentials[arn]
        return MonitoringClient(self.settings, username, password)


def metric_values(queue: Mapping[str, Any]) -> dict[str, float] | None:
    """The metrics of a queue's JSON from the management API; None when the broker has no
    statistics for it yet (the counts are absent until the first statistics interval, 5 s by
    default, after the queue is declared)."""
    values: dict[str, float] = {}
    for name, (_, field) in COUNTS.items():
        value = queue.get(field)
        if not _is_number(value):
            return None
        values[name] = value
    # A queue nothing was published to or delivered from has no message_stats, or no rate in
    # them: its rate is 0. RabbitMQ encodes an empty object as [], hence the isinstance checks.
    stats = queue.get("message_stats")
    stats = stats if isinstance(stats, dict) else {}
    for name, (_, field) in RATES.items():
        details = stats.get(field)
        rate = details.get("rate") if isinstance(details, dict) else None
        values[name] = rate if _is_number(rate) else 0.0
    return values


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def emf_document(
    namespace: str, vhost: str, queue: str, values: Mapping[str, float], timestamp_ms: int
) -> dict[str, Any]:
    """An EMF document: the `_aws` metadata, the dimensions and the metrics as root members."""
    units = {name: unit for name, (unit, _) in (COUNTS | RATES).items()}
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(DIMENSIONS)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                }
            ],
        },
        "VirtualHost": vhost,
        "Queue": queue,
        **{name: values[name] for name in units},
    }
