"""A minimal AWS Secrets Manager client, standard library only: GetSecretValue and PutSecretValue
for the bootstrap; DescribeSecret, versions and staging labels for the rotation function.

Requests use Secrets Manager's JSON 1.1 protocol (POST / with `X-Amz-Target:
secretsmanager.<Operation>`, Secrets Manager API Reference) and are signed with AWS Signature
Version 4, written out as the IAM User Guide's "Create a signed AWS API request" describes it:
a canonical request, a string to sign, a signing key derived from the secret key through the
date, region, service and "aws4_request", and the Authorization header.

Credentials and region come from the environment Lambda gives a function (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION). The endpoint is
https://secretsmanager.<region>.amazonaws.com unless AWS_ENDPOINT_URL_SECRETS_MANAGER or
AWS_ENDPOINT_URL is set, the variables the AWS SDKs honour ("Service-specific endpoints" in the
AWS SDKs and Tools Reference Guide): the tests point them at moto.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import AdminError
from .management import is_local_host

SERVICE = "secretsmanager"
TIMEOUT = 30.0


class SecretsManagerError(AdminError):
    """Secrets Manager refused a request; `code` is its error type, such as AccessDeniedException."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class SecretValueNotFound(SecretsManagerError):
    """ResourceNotFoundException: the version asked for (the current one by default) has no
    value, or the secret does not exist at all."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never show the keys
        return f"Credentials(access_key_id={self.access_key_id!r})"


class SecretsManager:
    def __init__(self, region: str, credentials: Credentials, endpoint: str | None = None) -> None:
        self.region = region
        self.credentials = credentials
        self.endpoint = (endpoint or f"https://{SERVICE}.{region}.amazonaws.com").rstrip("/")
        parts = urlsplit(self.endpoint)
        if parts.scheme != "https" and not (
            parts.scheme == "http" and parts.hostname and is_local_host(parts.hostname)
        ):
            raise AdminError(f"the Secrets Manager endpoint {self.endpoint!r} must be an https:// URL")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> SecretsManager:
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
        if not region:
            raise AdminError("no AWS region: set AWS_REGION (Lambda sets it for every function)")
        if not key or not secret:
            raise AdminError(
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them from the "
                "function's execution role)"
            )
        endpoint = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL")
        return cls(region, Credentials(key, secret, environ.get("AWS_SESSION_TOKEN") or None), endpoint)

    def get_secret_string(
        self, secret_id: str, *, version_id: str | None = None, version_stage: str | None = None
    ) -> str:
        """The SecretString of a version: the current one unless a version or a staging label is
        given. Raises `SecretValueNotFound` when it has none."""
        request = {"SecretId": secret_id, "VersionId": version_id, "VersionStage": version_stage}
        response = self._call("GetSecretValue", {key: value for key, value in request.items() if value})
        value = response.get("SecretString")
        if not isinstance(value, str):
            raise AdminError(f"secret {secret_id} holds binary data, not the JSON string the function expects")
        return value

    def put_secret_string(
        self, secret_id: str, value: str, *, token: str | None = None, stages: Sequence[str] = ()
    ) -> None:
        """A new version holding `value`, labelled AWSCURRENT unless `stages` are given. A raw HTTP
        request must bring its own idempotency token (API Reference, PutSecretValue); a rotation
        passes its ClientRequestToken, which becomes the version's id."""
        body: dict[str, Any] = {
            "SecretId": secret_id,
            "SecretString": value,
            "ClientRequestToken": token or str(uuid.uuid4()),
        }
        if stages:
            body["VersionStages"] = list(stages)
        self._call("PutSecretValue", body)

    def describe_secret(self, secret_id: str) -> dict[str, Any]:
        """The secret's metadata, `RotationEnabled` and `VersionIdsToStages` among it."""
        return self._call("DescribeSecret", {"SecretId": secret_id})

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
        self._call("UpdateSecretVersionStage", {key: value for key, value in request.items() if value})

    # --- the protocol -----------------------------------------------------------------------

    def _call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body).encode()
        headers = self.signed_headers(operation, payload, datetime.datetime.now(datetime.UTC))
        request = urllib.request.Request(self.endpoint + "/", data=payload, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            raise _refusal(operation, body["SecretId"], exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminError(
                f"cannot reach Secrets Manager at {self.endpoint} ({reason}): in a VPC the function needs a "
                "Secrets Manager endpoint or a NAT gateway"
            ) from None

    def signed_headers(self, operation: str, payload: bytes, now: datetime.datetime) -> dict[str, str]:
        """The request's headers, Authorization included (Signature Version 4)."""
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        date = amz_date[:8]
        headers = {
            "content-type": "application/x-amz-json-1.1",
            "host": urlsplit(self.endpoint).netloc,
            "x-amz-date": amz_date,
            "x-amz-target": f"{SERVICE}.{operation}",
        }
        if self.credentials.session_token:
            headers["x-amz-security-token"] = self.credentials.session_token
        names = sorted(headers)
        signed_names = ";".join(names)
        canonical_request = "\n".join(
            [
                "POST",
                "/",
                "",  # no query string
                *(f"{name}:{headers[name].strip()}" for name in names),
                "",  # the canonical headers end with a newline
                signed_names,
                hashlib.sha256(payload).hexdigest(),
            ]
        )
        scope = f"{date}/{self.region}/{SERVICE}/aws4_request"
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
        )
        key = f"AWS4{self.credentials.secret_access_key}".encode()
        for part in (date, self.region, SERVICE, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key_id}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return headers


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


def _refusal(operation: str, secret_id: str, error: urllib.error.HTTPError) -> SecretsManagerError:
    try:
        body = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        body = {}
    # The error type comes as "ResourceNotFoundException" or with a namespace before a '#'.
    code = str(body.get("__type") or error.headers.get("x-amzn-ErrorType") or error.code).split("#")[-1].split(":")[0]
    message = body.get("message") or body.get("Message") or error.reason
    if code == "ResourceNotFoundException":
        return SecretValueNotFound(f"secret {secret_id}: {code}: {message}", code)
    if code == "AccessDeniedException":
        action = f"secretsmanager:{operation}"
        return SecretsManagerError(
            f"{operation} on secret {secret_id} was refused ({code}): the function's role needs {action} on it", code
        )
    return SecretsManagerError(f"{operation} on secret {secret_id} failed: {code}: {message}", code)
