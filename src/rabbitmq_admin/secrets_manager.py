"""Secrets Manager through the runtime's boto3: GetSecretValue and PutSecretValue for the
bootstrap; DescribeSecret, versions and staging labels for the rotation function. A thin wrapper
that turns the SDK's errors into one-line `AdminError`s naming the fix.

Every Lambda Python runtime includes the SDK for Python (Boto3) (Lambda Developer Guide,
"Building Lambda functions with Python"), so the functions' package brings none. boto3 is
imported when the first request is made, not when the package is: the metrics function reads
its secret once per execution environment, and the laptop tools that use this package's
management client never need it.

Region and credentials come from the environment Lambda gives a function (AWS_REGION and the
execution role's keys). The endpoint is boto3's own choice, so AWS_ENDPOINT_URL_SECRETS_MANAGER
or AWS_ENDPOINT_URL override it ("Service-specific endpoints", AWS SDKs and Tools Reference
Guide; boto3 1.28.0 and later, July 2023): the tests point them at moto.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import AdminError
from .management import redacted

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

# Per request: connecting, and waiting for the answer. Two attempts at most (boto3's standard
# retry mode backs off between them): the metrics function runs every minute within 50 s.
CONNECT_TIMEOUT, READ_TIMEOUT, ATTEMPTS = 5.0, 10.0, 2


class SecretsManagerError(AdminError):
    """Secrets Manager refused a request; `code` is its error type, such as AccessDeniedException."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class SecretValueNotFound(SecretsManagerError):
    """ResourceNotFoundException: the version asked for (the current one by default) has no
    value, or the secret does not exist at all."""


class SecretsManager:
    def __init__(self, client: Callable[[], SecretsManagerClient]) -> None:
        """`client` makes the boto3 client, at the first request."""
        self._make_client = client

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SecretsManager:
        """The client of the function's region, with the credentials and endpoint boto3 finds."""

        def make() -> SecretsManagerClient:
            import boto3
            from botocore.config import Config

            # botocore reads AWS_DEFAULT_REGION; Lambda sets that and AWS_REGION, which is the one
            # its guide documents for the function's region.
            region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
            if not region:
                raise AdminError("no AWS region: set AWS_REGION (Lambda sets it for every function)")
            config = Config(
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
            )
            return boto3.client("secretsmanager", region_name=region, config=config)

        return cls(make)

    @cached_property
    def client(self) -> SecretsManagerClient:
        return self._make_client()

    def get_secret_string(
        self, secret_id: str, *, version_id: str | None = None, version_stage: str | None = None
    ) -> str:
        """The SecretString of a version: the current one unless a version or a staging label is
        given. Raises `SecretValueNotFound` when it has none."""
        request = {"SecretId": secret_id, "VersionId": version_id, "VersionStage": version_stage}
        response = self._call("GetSecretValue", secret_id, {key: value for key, value in request.items() if value})
        value = response.get("SecretString")
        if not isinstance(value, str):
            raise AdminError(f"secret {secret_id} holds binary data, not the JSON string the function expects")
        return value

    def put_secret_string(
        self, secret_id: str, value: str, *, token: str | None = None, stages: Sequence[str] = ()
    ) -> None:
        """A new version holding `value`, labelled AWSCURRENT unless `stages` are given. A rotation
        passes its ClientRequestToken, which becomes the version's id; without one boto3 makes
        the idempotency token."""
        request: dict[str, Any] = {"SecretId": secret_id, "SecretString": value}
        if token:
            request["ClientRequestToken"] = token
        if stages:
            request["VersionStages"] = list(stages)
        self._call("PutSecretValue", secret_id, request)

    def describe_secret(self, secret_id: str) -> dict[str, Any]:
        """The secret's metadata, `RotationEnabled` and `VersionIdsToStages` among it."""
        return self._call("DescribeSecret", secret_id, {"SecretId": secret_id})

    def update_secret_version_stage(
        self, secret_id: str, stage: str, *, move_to: str | None = None, remove_from: str | None = None
    ) -> None:
        """Attach a staging label to the version `move_to`, detach it from `remove_from`, or both."""
        request = {
            "SecretId": secret_id,
            "VersionStage": stage,
            "MoveToVersionId": move_to,
            "RemoveFromVersionId": remove_from,
        }
        self._call("UpdateSecretVersionStage", secret_id, {key: value for key, value in request.items() if value})

    def _call(self, operation: str, secret_id: str, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
        from botocore.exceptions import ConnectionError as NoConnection

        client = self.client
        try:
            response: dict[str, Any] = getattr(client, _snake(operation))(**request)
        except ClientError as exc:
            raise _refusal(operation, secret_id, exc) from None
        except NoCredentialsError:
            raise AdminError(
                "no AWS credentials: Lambda gives a function its execution role's; elsewhere set AWS_ACCESS_KEY_ID "
                "and AWS_SECRET_ACCESS_KEY or a profile"
            ) from None
        except (NoConnection, HTTPClientError) as exc:
            # Connection refused, no route, a timeout, a name that does not resolve: the network
            # path, which in a VPC needs an endpoint or a NAT gateway.
            raise AdminError(
                f"cannot reach Secrets Manager at {redacted(client.meta.endpoint_url)} ({type(exc).__name__}): in a "
                "VPC the function needs a Secrets Manager endpoint or a NAT gateway"
            ) from None
        return response


def _snake(operation: str) -> str:
    """boto3's method name of an API operation: GetSecretValue -> get_secret_value."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _refusal(operation: str, secret_id: str, error: Any) -> SecretsManagerError:
    details = error.response.get("Error", {})
    code, message = str(details.get("Code", "")), str(details.get("Message", ""))
    if code == "ResourceNotFoundException":
        return SecretValueNotFound(f"secret {secret_id}: {code}: {message}", code)
    if code == "AccessDeniedException":
        return SecretsManagerError(
            f"{operation} on secret {secret_id} was refused ({code}): the function's role needs "
            f"secretsmanager:{operation} on it",
            code,
        )
    return SecretsManagerError(f"{operation} on secret {secret_id} failed: {code}: {message}", code)


# --- the broker credentials a secret holds --------------------------------------------------


def read_credentials(secrets: SecretsManager, secret_id: str, role: str) -> tuple[str, str]:
    """(username, password) from the current value of a secret holding {"username", "password"}."""
    try:
        text = secrets.get_secret_string(secret_id)
    except SecretValueNotFound:
        raise AdminError(
            f"the {role} secret {secret_id} has no value: it must hold the broker's {role} "
            'credentials as {"username", "password"}'
        ) from None
    value = parse_credentials(text, secret_id)
    return value["username"], value["password"]


def parse_credentials(text: str, secret_id: str) -> dict[str, Any]:
    """A secret's JSON object, checked to hold a non-empty username and password (any other key is kept)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(value.get(key), str) and value[key] for key in ("username", "password")
    ):
        raise AdminError(
            f"secret {secret_id} does not hold JSON with a non-empty username and password: put "
            '{"username", "password"} into it'
        )
    return value
