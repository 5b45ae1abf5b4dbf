"""Broker credentials read again at every (re)connect, as Lambda's poller reads the mapping's
BASIC_AUTH secret: a client that survives a password rotation must not hold on to the password
it started with.

A provider is any callable returning (username, password); it raises `CredentialsUnavailable`
(a ValueError, one line naming the cause and the fix) when it cannot. Two are here: a
credentials file written by scripts/bootstrap.py, and a Secrets Manager secret holding
{"username", "password"}, the bootstrap's and the rotation function's format.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pika
import pika.exceptions

from rabbitmq_tools.bootstrap import read_credentials
from rabbitmq_tools.broker import error_chain

CredentialsProvider = Callable[[], tuple[str, str]]

# The broker's own refusal during the handshake: 403 ACCESS_REFUSED (the login) or 530
# NOT_ALLOWED (the vhost), as pika keeps it in the text of the error it raises.
_BROKER_REFUSAL = re.compile(r"ConnectionClosedByBroker: \((403|530)\)")


class CredentialsUnavailable(ValueError):
    """The provider could not give a user name and password; the message says why and what to do."""


def from_file(path: str, role: str) -> CredentialsProvider:
    """The `role`'s credentials from a file of scripts/bootstrap.py, read on every call."""

    def read() -> tuple[str, str]:
        try:
            return read_credentials(path, role)
        except ValueError as exc:
            raise CredentialsUnavailable(str(exc)) from None

    return read


def from_secret(secret_id: str, region: str | None = None, client: Any = None) -> CredentialsProvider:
    """The AWSCURRENT value of a Secrets Manager secret, read on every call. `client` is a boto3
    Secrets Manager client (made once here otherwise: making one costs more than a read)."""
    import boto3
    import botocore.exceptions

    client = client or boto3.client("secretsmanager", region_name=region)
    where = f" in {region}" if region else ""

    def read() -> tuple[str, str]:
        try:
            # AWSCURRENT by name: what Lambda's poller reads, and during a rotation the one
            # version that is always valid on the broker.
            value = client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
        except botocore.exceptions.NoCredentialsError:
            raise CredentialsUnavailable(
                "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE"
            ) from None
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ResourceNotFoundException":
                raise CredentialsUnavailable(
                    f"secret {secret_id} not found{where}: the Terraform outputs are stale, run terraform apply"
                ) from None
            raise CredentialsUnavailable(
                f"cannot read secret {secret_id}: {error.get('Code')}: {error.get('Message')}"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise CredentialsUnavailable(f"cannot reach Secrets Manager{where}: {exc}") from None
        except KeyError:
            raise CredentialsUnavailable(f"secret {secret_id} holds binary data, not a JSON string") from None
        return parse_secret(value, secret_id)

    return read


def parse_secret(value: str, secret_id: str) -> tuple[str, str]:
    """(username, password) of a secret's JSON string {"username", "password"}."""
    try:
        secret = json.loads(value)
        username, password = secret["username"], secret["password"]
    except (ValueError, TypeError, KeyError):
        raise CredentialsUnavailable(
            f"secret {secret_id} is not JSON with a username and a password, as the bootstrap writes it"
        ) from None
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise CredentialsUnavailable(f"secret {secret_id} has an empty or non-string username or password")
    return username, password


def with_credentials(
    parameters: pika.ConnectionParameters, provider: CredentialsProvider | None
) -> pika.ConnectionParameters:
    """`parameters` for one connection: a copy with the provider's current credentials, or
    `parameters` themselves when there is no provider (the URL's user)."""
    if provider is None:
        return parameters
    username, password = provider()
    fresh = copy.copy(parameters)
    fresh.credentials = pika.PlainCredentials(username, password)
    return fresh


def refused_by_broker(error: BaseException) -> bool:
    """Whether the broker itself refused the user's login or its access to the vhost. pika raises
    the same ProbableAuthenticationError or ProbableAccessDeniedError for a connection merely
    dropped during the handshake (a network cut), which a reconnect may cure; only the broker's
    reply, kept in the error's text, tells a refusal apart."""
    for current in error_chain(error):
        if isinstance(current, pika.exceptions.AuthenticationError):  # no mechanism the broker accepts
            return True
        if isinstance(
            current, (pika.exceptions.ProbableAuthenticationError, pika.exceptions.ProbableAccessDeniedError)
        ) and _BROKER_REFUSAL.search(str(current)):
            return True
    return False
