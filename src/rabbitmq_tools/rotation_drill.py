"""The rotation drill of verify.py (`--rotation-drill`): rotate the consumer's secret twice, then
try the credentials it held before.

AWS does not document when Lambda's poller reads a rotated BASIC_AUTH secret again. The rotation
function (rabbitmq_admin.rotation) alternates two users, so after one rotation the user the
secret named before keeps its password, and after the second that password is gone from the
broker: the drill rotates twice, so the credentials the poller started with are then refused,
and verify.py shows whether the mapping still consumes.

RotateSecret without RotationLambdaARN and RotationRules "starts a rotation with the values
already stored in the secret", asynchronously; while AWSPENDING is on a version AWSCURRENT is
not on, the next RotateSecret fails ("assumes that a previous rotation request is still in
progress") (Secrets Manager API Reference, RotateSecret, as the AWS CLI reference quotes it:
https://docs.aws.amazon.com/goto/cli2/secretsmanager-2017-10-17/RotateSecret). So a rotation is
finished when its version is AWSCURRENT and no other version holds AWSPENDING.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from rabbitmq_tools.broker import CREDENTIALS, UNREACHABLE, VHOST, explain_connection_error
from rabbitmq_tools.credentials import refused_by_broker, with_credentials

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
ROTATIONS = 2  # the second one takes the first user's password off the broker
LOGIN_TIMEOUT = 15.0  # seconds, for the connect and the handshake of the login attempt

REFUSED, ACCEPTED = "refused", "accepted"


@dataclass(frozen=True)
class Rotation:
    version: str  # the version RotateSecret started, AWSCURRENT once finished
    username: str  # the user AWSCURRENT names after it
    seconds: float  # from RotateSecret to finished


class RotationUnfinished(Exception):
    """A rotation that did not finish in time: args are the one-line cause and the version."""

    def __init__(self, message: str, version: str) -> None:
        super().__init__(message)
        self.version = version


def current_credentials(secrets: Any, secret_id: str) -> tuple[str, str]:
    """(username, password) of the secret's AWSCURRENT version; ValueError if it holds no such JSON."""
    value = secrets.get_secret_value(SecretId=secret_id, VersionStage=CURRENT).get("SecretString")
    try:
        parsed = json.loads(value or "")
        username, password = parsed["username"], parsed["password"]
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"secret {secret_id} does not hold JSON with a username and a password") from None
    if not isinstance(username, str) or not isinstance(password, str):
        raise ValueError(f"secret {secret_id} does not hold JSON with a username and a password")
    return username, password


def finished(versions: Mapping[str, list[str]], version: str) -> bool:
    """Whether the rotation that made `version` is over: it is AWSCURRENT and no other version
    is AWSPENDING (the rotation function takes AWSPENDING off or leaves it with AWSCURRENT)."""
    if CURRENT not in versions.get(version, []):
        return False
    return not any(PENDING in stages and CURRENT not in stages for stages in versions.values())


def rotate(
    secrets: Any, secret_id: str, *, timeout: float, interval: float, sleep: Callable[[float], None] = time.sleep
) -> Rotation:
    """Start one rotation with the secret's own rotation function and wait until it finished;
    RotationUnfinished after `timeout` seconds."""
    started = time.monotonic()
    version: str = secrets.rotate_secret(SecretId=secret_id, RotateImmediately=True)["VersionId"]
    deadline = started + timeout
    while True:
        versions: dict[str, list[str]] = secrets.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {}
        if finished(versions, version):
            username, _ = current_credentials(secrets, secret_id)
            return Rotation(version, username, time.monotonic() - started)
        now = time.monotonic()
        if now >= deadline:
            stages = ", ".join(versions.get(version) or ["without a label"])
            raise RotationUnfinished(
                f"the rotation of secret {secret_id} that RotateSecret started as version {version} did not finish "
                f"within {timeout:.0f} s (that version is {stages})",
                version,
            )
        sleep(max(0.0, min(interval, deadline - now)))


def login(parameters: pika.ConnectionParameters, username: str, password: str) -> tuple[str, str]:
    """Try an AMQP login as `username`: (REFUSED, why) when the broker refuses the user name and
    password (403 ACCESS_REFUSED), (ACCEPTED, why) when it takes them (a vhost refused after the
    login is still a password that works), else (UNREACHABLE, why): a broker this machine cannot
    reach, such as a private one."""
    attempt = with_credentials(parameters, lambda: (username, password))
    attempt.connection_attempts, attempt.retry_delay = 1, 0
    attempt.socket_timeout = attempt.stack_timeout = LOGIN_TIMEOUT
    try:
        with pika.BlockingConnection(attempt):
            return ACCEPTED, f"logged in as {username!r}"
    except (pika.exceptions.AMQPError, OSError) as exc:
        kind, message = explain_connection_error(exc, attempt)
        if kind in {CREDENTIALS, VHOST} and refused_by_broker(exc):
            return (REFUSED, message) if kind == CREDENTIALS else (ACCEPTED, message)
        return UNREACHABLE, message
