"""The rotation of the users' secrets, one step per invocation of the Secrets Manager rotation
function (`rotation_handler`).

Amazon MQ has no API to change a RabbitMQ user's password, and changing one in place leaves a
moment when the broker and the secret disagree: a mapping whose poller reconnects then fails
to authenticate and may be disabled (EVENT_SOURCE_AUTHN_ERROR). So each secret alternates
between two broker users, `<name>` and `<name>_clone`, as AWS's alternating-users strategy does
(Secrets Manager User Guide, "Lambda function rotation strategies",
https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html). A rotation
gives the user the secret does not name a new password and the current user's tags and
permissions, then makes it current. The user it replaces keeps its password, so connections
open with it and a poller that still holds it keep working; its password changes one rotation
later, when it is the other user again.

Secrets Manager invokes the function once per step, with {"SecretId", "ClientRequestToken",
"Step"} ("How rotation works",
https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html). The checks
and the steps follow AWS's rotation function templates (aws-samples/aws-secrets-manager-rotation-
lambdas: SecretsManagerRotationTemplate and the *RotationMultiUser functions):

- createSecret: unless the token's AWSPENDING version has a value, store the current value with
  the other user's name and a new password there.
- setSecret: as the admin, give the pending user its password, the current user's tags (the
  marker among them, `users.MARKER_TAG`) and exactly the current user's permissions on every
  vhost. The current user is never changed, nor is a pending user without the marker: that is
  someone else's account (the bootstrap adopts the `_clone` users made before the marker).
- testSecret: prove on the broker that the pending user has the pending password and the
  current user's tags and permissions. RotateSecret with RotateImmediately=false runs this step
  alone, on an AWSPENDING version that is not a new one (RotateSecret API Reference,
  "RotateImmediately"): a copy of the current value passes, and so does a version without a
  value, once the configuration (the broker, the admin secret, the current user) is proved.
- finishSecret: move AWSCURRENT to the token's version (Secrets Manager labels the one it
  leaves AWSPREVIOUS) and take AWSPENDING off it.

Each step may run more than once and does nothing the second time. setSecret and testSecret
refuse the admin secret: an administrator's password is changed by hand (docs/security.md).
The function's configuration: `rotation_handler`. Passwords are never logged; a fault raises
`AdminError`, one line naming the cause and the fix, and for a failed step how to clear the
AWSPENDING label it may leave behind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from .bootstrap import admin_client
from .config import required
from .errors import AdminError
from .management import ManagementClient
from .secrets_manager import SecretsManager, SecretValueNotFound, parse_credentials
from .users import ADMINISTRATOR_TAG, MARKER_TAG, alternate, generate_password, holds_password, tags_of

logger = logging.getLogger(__name__)

CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
_PERMISSION_KEYS = ("configure", "write", "read")
_TOPIC_PERMISSION_KEYS = ("exchange", "write", "read")
# How long a step retries a broker that is not answering (`ManagementClient`): with one more
# request's timeout (30 s) a step ends within the function's timeout (60 s).
RETRY_FOR = 20.0


def rotate(event: Mapping[str, Any], secrets: SecretsManager, environ: Mapping[str, str]) -> None:
    """Run one step of a rotation, after the checks of AWS's templates."""
    secret_id, token, step = (event.get(key) for key in ("SecretId", "ClientRequestToken", "Step"))
    if not isinstance(secret_id, str) or not secret_id or not isinstance(token, str) or not token:
        raise AdminError("the event lacks SecretId or ClientRequestToken: only Secrets Manager invokes this function")
    if step not in STEPS:
        raise AdminError(f"unknown rotation step {step!r}: Secrets Manager sends one of {', '.join(STEPS)}")
    metadata = secrets.describe_secret(secret_id)
    if not metadata.get("RotationEnabled"):
        raise AdminError(
            f"secret {secret_id} does not have rotation turned on: turn it on (RotateSecret, or Terraform's "
            "aws_secretsmanager_secret_rotation) before invoking the rotation function"
        )
    versions: dict[str, list[str]] = metadata.get("VersionIdsToStages") or {}
    if token not in versions:
        raise AdminError(
            f"secret {secret_id} has no version {token}: invoke the function with the token of a rotation that "
            "Secrets Manager started"
        )
    if CURRENT in versions[token]:
        logger.info("%s: version %s of secret %s is already AWSCURRENT: nothing to do", step, token, secret_id)
        return
    if PENDING not in versions[token]:
        raise AdminError(
            f"version {token} of secret {secret_id} is not AWSPENDING, so no rotation is under way with it: start "
            "one with RotateSecret"
        )
    try:
        if step == "createSecret":
            create_secret(secrets, secret_id, token)
        elif step == "finishSecret":
            finish_secret(secrets, secret_id, token, versions)
        else:
            names = required(environ, ["MANAGEMENT_URL", "ADMIN_SECRET_ARN"])
            client = admin_client(
                secrets, names["MANAGEMENT_URL"].strip(), names["ADMIN_SECRET_ARN"].strip(), retry_for=RETRY_FOR
            )
            step_function = set_secret if step == "setSecret" else test_secret
            step_function(secrets, client, secret_id, token)
    except AdminError as exc:
        # RotateSecret refuses to start while AWSPENDING is on a version AWSCURRENT is not on
        # (API Reference, CancelRotateSecret), and a failed rotation may leave it there.
        raise AdminError(
            f"{exc}; then, if AWSPENDING is still on version {token}, take it off (aws secretsmanager "
            f"update-secret-version-stage --secret-id {secret_id} --version-stage AWSPENDING --remove-from-version-id "
            f"{token}) before the next RotateSecret"
        ) from None


def create_secret(secrets: SecretsManager, secret_id: str, token: str) -> None:
    current = _current(secrets, secret_id)
    try:
        secrets.get_secret_string(secret_id, version_id=token, version_stage=PENDING)
    except SecretValueNotFound:
        username = alternate(current["username"])
        # Any other key the secret holds (a host, a port) stays as it is.
        pending = {**current, "username": username, "password": generate_password()}
        secrets.put_secret_string(secret_id, json.dumps(pending), token=token, stages=[PENDING])
        logger.info(
            "createSecret: stored user %r with a new password as version %s of secret %s", username, token, secret_id
        )
        return
    logger.info("createSecret: version %s of secret %s already has a value", token, secret_id)


def set_secret(secrets: SecretsManager, client: ManagementClient, secret_id: str, token: str) -> None:
    current, pending = _current(secrets, secret_id), _pending(secrets, secret_id, token)
    if pending is None:
        raise AdminError(f"version {token} of secret {secret_id} has no value: createSecret did not run or failed")
    name, new_name = current["username"], pending["username"]
    current_user = _current_user(client, secret_id, current)
    if new_name == name:
        if pending["password"] != current["password"]:
            # Whoever uses the current credentials would be locked out until they read the new ones.
            raise AdminError(
                f"version {token} of secret {secret_id} gives {name!r}, the user AWSCURRENT names, another password, "
                "and the rotation never changes the current user's password: that version cannot complete a rotation"
            )
        logger.info(
            "setSecret: version %s of secret %s holds the current credentials: nothing to set", token, secret_id
        )
        return
    if new_name != alternate(name):
        raise AdminError(
            f"version {token} of secret {secret_id} names user {new_name!r}, not {alternate(name)!r}, the alternate "
            f"of the current user {name!r}: that version cannot complete a rotation"
        )
    tags = tags_of(current_user)
    existing = client.get("users", new_name)
    if existing is not None and MARKER_TAG not in tags_of(existing):
        raise AdminError(
            f"user {new_name!r} exists without the tag {MARKER_TAG!r} of the users the bootstrap and the rotation "
            f"make, so it is not {name!r}'s alternate but someone else's: delete or rename that user (or, if a "
            "rotation made it before that tag existed, run the bootstrap, terraform apply, which adopts it)"
        )
    if existing is None or tags_of(existing) != tags or not holds_password(existing, pending["password"]):
        client.put("users", new_name, body={"password": pending["password"], "tags": ",".join(tags)})
        logger.info(
            "setSecret: %s user %r with the password of version %s",
            "created" if existing is None else "updated",
            new_name,
            token,
        )
    _copy_permissions(client, name, new_name)


def test_secret(secrets: SecretsManager, client: ManagementClient, secret_id: str, token: str) -> None:
    current, pending = _current(secrets, secret_id), _pending(secrets, secret_id, token)
    _current_user(client, secret_id, current)
    if pending is None:
        # setSecret refuses such a version, so only a RotateImmediately=false test gets here.
        logger.info("testSecret: version %s of secret %s has no value: the configuration works", token, secret_id)
        return
    name, new_name = current["username"], pending["username"]
    user = client.get("users", new_name)
    if user is None or not holds_password(user, pending["password"]):
        raise AdminError(
            f"user {new_name!r} does not have the password of version {token} of secret {secret_id} on the broker: "
            "setSecret did not run or failed"
        )
    if new_name != name:
        wanted, found = _access(client, name), _access(client, new_name)
        if found != wanted:
            raise AdminError(
                f"user {new_name!r} has tags and permissions {found}, not those of {name!r} {wanted}: setSecret did "
                "not run to its end"
            )
    logger.info("testSecret: user %r has the password of version %s of secret %s", new_name, token, secret_id)


def finish_secret(secrets: SecretsManager, secret_id: str, token: str, versions: Mapping[str, list[str]]) -> None:
    current_version = next((version for version, stages in versions.items() if CURRENT in stages), None)
    secrets.update_secret_version_stage(secret_id, CURRENT, move_to=token, remove_from=current_version)
    # As the newer generic template does: a finished rotation leaves no AWSPENDING behind.
    secrets.update_secret_version_stage(secret_id, PENDING, remove_from=token)
    logger.info("finishSecret: version %s of secret %s is AWSCURRENT", token, secret_id)


# --- the secret's versions and the broker's users -------------------------------------------


def _current(secrets: SecretsManager, secret_id: str) -> dict[str, Any]:
    try:
        return parse_credentials(secrets.get_secret_string(secret_id, version_stage=CURRENT), secret_id)
    except SecretValueNotFound:
        raise AdminError(
            f"secret {secret_id} has no current value: run the bootstrap (terraform apply), which stores it"
        ) from None


def _pending(secrets: SecretsManager, secret_id: str, token: str) -> dict[str, Any] | None:
    try:
        text = secrets.get_secret_string(secret_id, version_id=token, version_stage=PENDING)
    except SecretValueNotFound:
        return None
    return parse_credentials(text, secret_id)


def _current_user(client: ManagementClient, secret_id: str, current: dict[str, Any]) -> dict[str, Any]:
    """The user AWSCURRENT names, proved to exist with the current password and not to be an
    administrator: rotation starts only from a working, least-privilege user."""
    name = current["username"]
    user: dict[str, Any] | None = client.get("users", name)
    if user is None:
        raise AdminError(
            f"user {name!r}, whom secret {secret_id} names, does not exist on the broker: run the bootstrap "
            "(terraform apply), which makes it"
        )
    if ADMINISTRATOR_TAG in tags_of(user):
        raise AdminError(
            f"secret {secret_id} holds the credentials of {name!r}, an administrator: the rotation function rotates "
            "only the consumer, publisher and monitoring secrets; change the admin password by hand as "
            "docs/security.md says, and turn rotation off for this secret"
        )
    if not holds_password(user, current["password"]):
        raise AdminError(
            f"the current password in secret {secret_id} is not user {name!r}'s on the broker: run the bootstrap "
            "(terraform apply), which sets it"
        )
    return user


def _access(client: ManagementClient, name: str) -> dict[str, Any]:
    """A user's tags, permissions and topic permissions, by vhost, comparable between two users."""
    user = client.get("users", name) or {}
    return {
        "tags": list(tags_of(user)),
        "permissions": _permissions(client, name),
        "topic permissions": _topic_permissions(client, name),
    }


def _permissions(client: ManagementClient, name: str) -> dict[str, dict[str, str]]:
    entries = client.get("users", name, "permissions") or []
    return {entry["vhost"]: {key: entry[key] for key in _PERMISSION_KEYS} for entry in entries}


def _topic_permissions(client: ManagementClient, name: str) -> dict[str, list[dict[str, str]]]:
    by_vhost: dict[str, list[dict[str, str]]] = {}
    for entry in client.get("users", name, "topic-permissions") or []:
        by_vhost.setdefault(entry["vhost"], []).append({key: entry[key] for key in _TOPIC_PERMISSION_KEYS})
    return {vhost: sorted(entries, key=lambda entry: entry["exchange"]) for vhost, entries in by_vhost.items()}


def _copy_permissions(client: ManagementClient, source: str, target: str) -> None:
    """Give `target` exactly `source`'s permissions and topic permissions, vhost by vhost."""
    wanted, found = _permissions(client, source), _permissions(client, target)
    for vhost, permissions in wanted.items():
        if found.get(vhost) != permissions:
            client.put("permissions", vhost, target, body=permissions)
            logger.info("setSecret: gave user %r the permissions of %r on vhost %r", target, source, vhost)
    for vhost in found.keys() - wanted.keys():
        client.delete("permissions", vhost, target)
        logger.info("setSecret: removed user %r's permissions on vhost %r, where %r has none", target, vhost, source)
    wanted_topics, found_topics = _topic_permissions(client, source), _topic_permissions(client, target)
    for vhost in wanted_topics.keys() | found_topics.keys():
        if wanted_topics.get(vhost) != found_topics.get(vhost):
            # The API deletes all of a user's topic permissions on a vhost at once.
            client.delete("topic-permissions", vhost, target)
            for entry in wanted_topics.get(vhost, []):
                client.put("topic-permissions", vhost, target, body=entry)
            logger.info("setSecret: gave user %r the topic permissions of %r on vhost %r", target, source, vhost)
