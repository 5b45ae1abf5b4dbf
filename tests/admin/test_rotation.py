"""The rotation function (`rabbitmq_admin.rotation`) against moto's Secrets Manager and the real
broker. Rotations run through moto's own RotateSecret, which makes the AWSPENDING version and
invokes the function's steps through moto's Lambda, so every label and version is moto's; the
function runs in this process, as the Lambda would, against moto's server and the broker's
management API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
import pytest
from botocore.exceptions import ClientError

from rabbitmq_admin import rotation, rotation_handler
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.users import MARKER_TAG, alternate, generate_password
from rabbitmq_tools.broker import LocalBroker
from support import RotationFunction
from support.admin_functions import ROLES, environment_for, invoke

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
SCHEDULE = {"AutomaticallyAfterDays": 30}


@dataclass
class Deployment:
    """A bootstrapped queue whose secrets live in moto, and the rotation function's environment."""

    environment: dict[str, str]  # the bootstrap function's
    aws: Any
    function: RotationFunction
    broker_url: str
    management: ManagementClient

    def secret(self, role: str) -> str:
        return self.environment[f"{role.upper()}_SECRET_ARN"]

    def rotate(self, role: str, immediately: bool = True) -> None:
        self.aws.rotate_secret(
            SecretId=self.secret(role),
            RotationLambdaARN=self.function.arn,
            RotationRules=SCHEDULE,
            RotateImmediately=immediately,
        )

    def fails(self, role: str, immediately: bool = True) -> str:
        """The message of the step that failed a rotation, without the line's end every step
        failure has: how to clear the AWSPENDING label it may leave."""
        with pytest.raises(ClientError) as failed:
            self.rotate(role, immediately)
        assert failed.value.response["Error"]["Code"] == "RotationFailed"
        message: str = failed.value.response["Error"]["Message"]
        assert "\n" not in message
        event = self.function.invocations[-1]
        token = event["ClientRequestToken"]
        cleanup = (
            f"; then, if AWSPENDING is still on version {token}, take it off (aws secretsmanager "
            f"update-secret-version-stage --secret-id {event['SecretId']} --version-stage AWSPENDING "
            f"--remove-from-version-id {token}) before the next RotateSecret"
        )
        assert message.endswith(cleanup)
        return message.removesuffix(cleanup)

    def clear_pending(self, role: str) -> None:
        """What a failed rotation's message says to do before the next RotateSecret, which AWS
        refuses while AWSPENDING is on a version AWSCURRENT is not on (moto does not)."""
        for version, stages in self.labels(role).items():
            if PENDING in stages and CURRENT not in stages:
                self.aws.update_secret_version_stage(
                    SecretId=self.secret(role), VersionStage=PENDING, RemoveFromVersionId=version
                )

    def start(self, role: str) -> str:
        """A rotation whose steps the test runs itself: the token of its AWSPENDING version."""
        self.function.run = False
        self.rotate(role)
        self.function.run = True
        token: str = self.function.invocations[-1]["ClientRequestToken"]
        return token

    def step(self, role: str, token: str, step: str) -> None:
        rotation_handler.lambda_handler(
            {"SecretId": self.secret(role), "ClientRequestToken": token, "Step": step}, None
        )

    def labels(self, role: str) -> dict[str, list[str]]:
        versions: dict[str, list[str]] = self.aws.describe_secret(SecretId=self.secret(role))["VersionIdsToStages"]
        return {version: sorted(stages) for version, stages in versions.items() if stages}

    def current_version(self, role: str) -> str:
        return next(version for version, stages in self.labels(role).items() if CURRENT in stages)

    def value(self, role: str, stage: str = CURRENT) -> dict[str, Any]:
        # Always by label: moto's default version is not where AWSCURRENT is while a test runs steps itself.
        value: dict[str, Any] = json.loads(
            self.aws.get_secret_value(SecretId=self.secret(role), VersionStage=stage)["SecretString"]
        )
        return value

    def user(self, name: str) -> dict[str, Any] | None:
        user: dict[str, Any] | None = self.management.get("users", name)
        return user

    def access(self, name: str) -> dict[str, Any]:
        user = self.user(name) or {}
        return {
            "tags": user.get("tags"),
            "permissions": sorted(
                (p["vhost"], p["configure"], p["write"], p["read"])
                for p in self.management.get("users", name, "permissions") or []
            ),
            "topic permissions": sorted(
                (p["vhost"], p["exchange"], p["write"], p["read"])
                for p in self.management.get("users", name, "topic-permissions") or []
            ),
        }

    def logs_in(self, credentials: dict[str, Any]) -> bool:
        """Whether the broker accepts these credentials on a real AMQP connection."""
        params = pika.URLParameters(self.broker_url)
        params.credentials = pika.PlainCredentials(credentials["username"], credentials["password"])
        params.connection_attempts = 1
        try:
            with pika.BlockingConnection(params):
                return True
        except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
            return False


@pytest.fixture
def deployment(
    broker: LocalBroker,
    broker_url: str,
    management: ManagementClient,
    aws: Any,
    rotation_function: RotationFunction,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Deployment:
    """The bootstrap's three users and secrets (the queue_name fixture deletes the users and their
    `_clone`s afterwards), and the rotation function's environment pointed at them."""
    environment = environment_for(broker, aws, queue_name)
    invoke(environment)
    monkeypatch.setenv("MANAGEMENT_URL", broker.management_url)
    monkeypatch.setenv("ADMIN_SECRET_ARN", environment["ADMIN_SECRET_ARN"])
    return Deployment(environment, aws, rotation_function, broker_url, management)


# --- whole rotations ---------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("role", ROLES)
def test_rotations_alternate_users_and_a_password_lasts_one_rotation_more(deployment: Deployment, role: str) -> None:
    # GIVEN the secret the bootstrap stored, naming <name>
    first = deployment.value(role)
    name = first["username"]
    original_access = deployment.access(name)
    # WHEN Secrets Manager rotates it
    deployment.rotate(role)
    # THEN the four steps ran, and AWSCURRENT names <name>_clone with a new password
    assert deployment.function.steps == list(rotation.STEPS)
    second = deployment.value(role)
    assert second["username"] == f"{name}_clone"
    assert second["password"] != first["password"]
    assert sorted(deployment.labels(role).values()) == [[CURRENT], [PREVIOUS]]  # no AWSPENDING left
    assert deployment.value(role, PREVIOUS) == first
    # AND the clone has exactly the user's tags and permissions, and both log in
    assert deployment.access(f"{name}_clone") == original_access
    assert deployment.logs_in(second)
    assert deployment.logs_in(first)
    # WHEN it rotates again
    deployment.rotate(role)
    # THEN <name> is current again with a third password, <name>_clone keeps the second, and the
    # first password, replaced one rotation after it stopped being current, fails a real login
    third = deployment.value(role)
    assert third["username"] == name
    assert len({first["password"], second["password"], third["password"]}) == 3
    assert deployment.value(role, PREVIOUS) == second
    assert deployment.logs_in(third)
    assert deployment.logs_in(second)
    assert not deployment.logs_in(first)
    assert deployment.access(name) == original_access
    # AND the bootstrap, run again, keeps the rotated secret and changes nothing
    versions = deployment.labels(role)
    assert invoke(deployment.environment)["changes"] == []
    assert deployment.labels(role) == versions


@pytest.mark.integration
def test_the_rotated_consumer_consumes(deployment: Deployment, channel: Any) -> None:
    deployment.rotate("consumer")
    queue = deployment.environment["QUEUE_NAME"]
    channel.basic_publish("", queue, b"{}", mandatory=True)
    params = pika.URLParameters(deployment.broker_url)
    current = deployment.value("consumer")
    params.credentials = pika.PlainCredentials(current["username"], current["password"])
    with pika.BlockingConnection(params) as connection:
        method, _, body = connection.channel().basic_get(queue, auto_ack=True)
    assert (method is not None, body) == (True, b"{}")


# --- each step again, and the checks of AWS's templates -----------------------------------------


@pytest.mark.integration
def test_every_step_run_twice_changes_nothing_the_second_time(deployment: Deployment) -> None:
    token = deployment.start("consumer")
    name = deployment.value("consumer")["username"]
    clone = f"{name}_clone"

    def state() -> tuple[Any, ...]:
        """The secret's labels and values, the clone user as the broker holds it (a password set
        again would have a new salt, so a new hash) and its access."""
        secret = deployment.secret("consumer")
        values = {
            version: deployment.aws.get_secret_value(SecretId=secret, VersionId=version)["SecretString"]
            for version in deployment.labels("consumer")
        }
        return deployment.labels("consumer"), values, deployment.user(clone), deployment.access(clone)

    for step in rotation.STEPS:
        deployment.step("consumer", token, step)
        after_first = state()
        deployment.step("consumer", token, step)
        assert state() == after_first, step
    assert deployment.labels("consumer")[token] == [CURRENT]
    assert deployment.value("consumer")["username"] == clone


@pytest.mark.integration
def test_a_failed_set_secret_leaves_the_current_credentials_working(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, version = deployment.value("consumer"), deployment.current_version("consumer")

    def fail(client: Any, source: str, target: str) -> None:
        raise AdminError("the management API went away")

    # GIVEN a setSecret that fails after it set the clone's password, before its permissions
    with monkeypatch.context() as patch:
        patch.setattr(rotation, "_copy_permissions", fail)
        # WHEN Secrets Manager rotates THEN the rotation stops at setSecret
        assert deployment.fails("consumer") == "setSecret: the management API went away"
    assert deployment.function.steps == ["createSecret", "setSecret"]
    # AND AWSCURRENT is where it was, and its credentials still log in
    assert (deployment.current_version("consumer"), deployment.value("consumer")) == (version, before)
    assert deployment.logs_in(before)
    # WHEN the cause is gone and the rotation starts again THEN it completes
    deployment.clear_pending("consumer")
    deployment.rotate("consumer")
    assert deployment.value("consumer")["username"] == f"{before['username']}_clone"
    assert deployment.access(f"{before['username']}_clone") == deployment.access(before["username"])
    assert deployment.logs_in(deployment.value("consumer"))
    assert deployment.logs_in(before)


@pytest.mark.integration
@pytest.mark.parametrize("tags", ["management", ""], ids=["tagged", "untagged"])
def test_a_clone_name_someone_else_uses_is_refused(deployment: Deployment, tags: str) -> None:
    # GIVEN someone's user with the name of the publisher's alternate, tagged or not (the
    # publisher has no tag of RabbitMQ's own), without the marker of the users we make
    before = deployment.value("publisher")
    clone = f"{before['username']}_clone"
    deployment.management.put("users", clone, body={"password": generate_password(), "tags": tags})
    someone = deployment.user(clone)
    # WHEN the publisher's secret rotates THEN setSecret refuses to touch that user
    assert deployment.fails("publisher") == (
        f"setSecret: user '{clone}' exists without the tag '{MARKER_TAG}' of the users the bootstrap and the "
        f"rotation make, so it is not '{before['username']}''s alternate but someone else's: delete or rename that "
        "user (or, if a rotation made it before that tag existed, run the bootstrap, terraform apply, which adopts it)"
    )
    assert deployment.user(clone) == someone
    assert deployment.value("publisher") == before
    assert deployment.logs_in(before)


@pytest.mark.integration
def test_the_admin_secret_is_refused(deployment: Deployment) -> None:
    admin = deployment.value("admin")
    clone = alternate(admin["username"])
    assert deployment.user(clone) is None
    try:
        # WHEN someone turns rotation on for the admin secret, with or without a rotation at once
        for immediately in (False, True):
            message = deployment.fails("admin", immediately)
            # THEN the step that reaches the broker refuses, naming the manual procedure
            step, secret = (deployment.function.invocations[-1][key] for key in ("Step", "SecretId"))
            assert step == ("setSecret" if immediately else "testSecret")
            assert message == (
                f"{step}: secret {secret} holds the credentials of '{admin['username']}', an administrator: the "
                "rotation function rotates only the consumer, publisher and monitoring secrets; change the admin "
                "password by hand as docs/security.md says, and turn rotation off for this secret"
            )
            deployment.clear_pending("admin")
        # AND the admin's password is untouched, and no clone of it exists
        assert deployment.logs_in(admin)
        assert deployment.user(clone) is None
        assert deployment.value("admin") == admin
    finally:
        deployment.management.delete("users", clone)


@pytest.mark.integration
@pytest.mark.parametrize("created_with_value", [False, True], ids=["bootstrap-secret", "created-with-value"])
def test_rotate_immediately_false_runs_test_secret_alone_and_it_passes(
    deployment: Deployment, created_with_value: bool
) -> None:
    # GIVEN RotateImmediately=false: Secrets Manager tests the configuration by running testSecret
    # alone on an AWSPENDING version (RotateSecret API Reference, "RotateImmediately"). Moto fills
    # that version with the value the secret was created with: nothing for a secret the bootstrap
    # filled, the current value for one created with it, so both cases pass here.
    before = deployment.value("monitoring")
    if created_with_value:
        name = f"{deployment.environment['QUEUE_NAME']}-monitoring-copy"
        deployment.environment["MONITORING_SECRET_ARN"] = deployment.aws.create_secret(
            Name=name, SecretString=json.dumps(before)
        )["ARN"]
    user = deployment.user(before["username"])
    deployment.rotate("monitoring", immediately=False)
    try:
        pending = json.loads(
            deployment.aws.get_secret_value(SecretId=deployment.secret("monitoring"), VersionStage=PENDING)[
                "SecretString"
            ]
        )
    except ClientError:
        pending = None
    assert pending == (before if created_with_value else None)
    # THEN testSecret passes, and neither the secret's current value nor the broker changed
    assert deployment.function.steps == ["testSecret"]
    assert deployment.value("monitoring") == before
    assert deployment.user(before["username"]) == user
    assert deployment.user(f"{before['username']}_clone") is None
    # AND a rotation later works
    deployment.rotate("monitoring")
    assert deployment.value("monitoring")["username"] == f"{before['username']}_clone"


@pytest.mark.integration
def test_set_secret_never_changes_the_current_users_password(deployment: Deployment) -> None:
    # GIVEN an AWSPENDING version that names the current user with another password
    token = deployment.start("consumer")
    current = deployment.value("consumer")
    deployment.aws.put_secret_value(
        SecretId=deployment.secret("consumer"),
        ClientRequestToken=token,
        SecretString=json.dumps({**current, "password": generate_password()}),
        VersionStages=[PENDING],
    )
    user = deployment.user(current["username"])
    # WHEN setSecret runs THEN it refuses and the user keeps its password
    with pytest.raises(AdminError) as refused:
        deployment.step("consumer", token, "setSecret")
    assert str(refused.value).startswith(
        f"version {token} of secret {deployment.secret('consumer')} gives '{current['username']}', the user AWSCURRENT "
        "names, another password, and the rotation never changes the current user's password: that version cannot "
        "complete a rotation; then, if AWSPENDING is still on version"
    )
    assert deployment.user(current["username"]) == user
    # AND testSecret finds the pending password is not the broker's
    with pytest.raises(AdminError, match=f"user '{current['username']}' does not have the password of version {token}"):
        deployment.step("consumer", token, "testSecret")


@pytest.mark.integration
def test_set_secret_copies_exactly_the_current_users_permissions(deployment: Deployment) -> None:
    # GIVEN a consumer that someone also gave permissions on another vhost and topic permissions,
    # and a clone left with permissions on a vhost the consumer no longer has
    management, name = deployment.management, deployment.value("consumer")["username"]
    clone = f"{name}_clone"
    extra, stale = (f"{deployment.environment['QUEUE_NAME']}-{what}" for what in ("extra", "stale"))
    try:
        for vhost in (extra, stale):
            management.put("vhosts", vhost, body={})
        management.put("permissions", extra, name, body={"configure": "^$", "write": "^$", "read": "^x$"})
        management.put("topic-permissions", "/", name, body={"exchange": "amq.topic", "write": "^a$", "read": "^b$"})
        management.put("users", clone, body={"password": generate_password(), "tags": MARKER_TAG})
        management.put("permissions", stale, clone, body={"configure": ".*", "write": ".*", "read": ".*"})
        token = deployment.start("consumer")
        # WHEN createSecret and setSecret run THEN the clone has exactly the consumer's access
        deployment.step("consumer", token, "createSecret")
        deployment.step("consumer", token, "setSecret")
        assert deployment.access(clone) == deployment.access(name)
        assert {p["vhost"] for p in management.get("users", clone, "permissions")} == {"/", extra}
        # AND testSecret notices a difference, should anything change the clone before it runs
        management.delete("topic-permissions", "/", clone)
        with pytest.raises(AdminError, match=f"user '{clone}' has tags and permissions .* not those of '{name}'"):
            deployment.step("consumer", token, "testSecret")
        deployment.step("consumer", token, "setSecret")
        deployment.step("consumer", token, "testSecret")
    finally:
        for vhost in (extra, stale):
            management.delete("vhosts", vhost)
        management.delete("topic-permissions", "/", name)


# --- refusals before any step -------------------------------------------------------------------


@pytest.mark.unit
def test_the_checks_of_aws_templates(
    aws: Any,
    rotation_function: RotationFunction,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MANAGEMENT_URL", "ADMIN_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    value = json.dumps({"username": "orders-consumer", "password": generate_password()})
    secret = aws.create_secret(Name=f"checks-{abs(hash(request.node.nodeid))}", SecretString=value)["ARN"]
    current = aws.get_secret_value(SecretId=secret)["VersionId"]

    def step(token: str, name: str = "createSecret", **event: Any) -> str:
        with pytest.raises(AdminError) as refused:
            rotation_handler.lambda_handler(
                {"SecretId": secret, "ClientRequestToken": token, "Step": name, **event}, None
            )
        assert "\n" not in str(refused.value)
        return str(refused.value)

    assert step("t" * 32, SecretId="").startswith("the event lacks SecretId or ClientRequestToken")
    assert step("t" * 32, "rotateSecret").startswith("unknown rotation step 'rotateSecret': Secrets Manager sends one")
    # rotation is not on for the secret
    assert step(current).startswith(f"secret {secret} does not have rotation turned on")
    rotation_function.run = False
    token = aws.rotate_secret(SecretId=secret, RotationLambdaARN=rotation_function.arn, RotationRules=SCHEDULE)[
        "VersionId"
    ]
    # a token that is no version of the secret, or a version no rotation is under way with
    assert step("u" * 32).startswith(f"secret {secret} has no version {'u' * 32}")
    other = aws.put_secret_value(SecretId=secret, SecretString=value, ClientRequestToken="o" * 32, VersionStages=["X"])
    assert step(other["VersionId"]) == (
        f"version {'o' * 32} of secret {secret} is not AWSPENDING, so no rotation is under way with it: start one "
        "with RotateSecret"
    )
    # setSecret and testSecret need the broker
    assert step(token, "setSecret").startswith(
        "missing MANAGEMENT_URL, ADMIN_SECRET_ARN: set them in the function's environment, which Terraform sets"
    )
    # a version that is already AWSCURRENT: nothing to do, whatever the step
    for name in rotation.STEPS:
        rotation_handler.lambda_handler({"SecretId": secret, "ClientRequestToken": current, "Step": name}, None)
    # createSecret needs no broker: it stores the alternate user with a new password
    rotation_handler.lambda_handler({"SecretId": secret, "ClientRequestToken": token, "Step": "createSecret"}, None)
    pending = json.loads(aws.get_secret_value(SecretId=secret, VersionId=token, VersionStage=PENDING)["SecretString"])
    assert pending["username"] == "orders-consumer_clone"
    assert len(pending["password"]) == 32
    assert pending["password"] != json.loads(value)["password"]


# --- users made before the marker, and a rotated role renamed ------------------------------------


def unmark(management: ManagementClient, name: str) -> None:
    """Take the marker off a user, its password hash kept: a user as the bootstrap or the
    rotation made it before the marker existed."""
    user = management.get("users", name)
    tags = [tag for tag in user["tags"] if tag != MARKER_TAG]
    body = {key: user[key] for key in ("password_hash", "hashing_algorithm")}
    management.put("users", name, body={**body, "tags": ",".join(tags)})


@pytest.mark.integration
@pytest.mark.parametrize("role", ["consumer", "monitoring"])
def test_users_made_before_the_marker_are_adopted_and_rotate_on(deployment: Deployment, role: str) -> None:
    # GIVEN a rotated secret, its two users as an earlier version made them: without the marker
    deployment.rotate(role)
    current, previous = deployment.value(role), deployment.value(role, PREVIOUS)
    for name in (current["username"], previous["username"]):
        unmark(deployment.management, name)
    # WHEN the bootstrap of this version runs (terraform apply runs it when its code changes)
    changes = invoke(deployment.environment)["changes"]
    # THEN it adopts both: the current user holds the current password, its alternate the previous one
    assert changes == [
        f"adopted {role} user '{name}', made before the '{MARKER_TAG}' tag: tagged it"
        for name in (current["username"], previous["username"])
    ]
    for credentials in (current, previous):
        assert MARKER_TAG in deployment.access(credentials["username"])["tags"]
        assert deployment.logs_in(credentials)  # passwords unchanged
    # AND the next rotation goes on (its setSecret refuses an unmarked alternate), and the bootstrap
    # changes nothing after it
    deployment.rotate(role)
    assert deployment.value(role)["username"] == previous["username"]
    assert deployment.logs_in(deployment.value(role))
    assert invoke(deployment.environment)["changes"] == []


@pytest.mark.integration
def test_a_rotated_role_renamed_loses_both_former_users(deployment: Deployment) -> None:
    # GIVEN a consumer secret rotated to the consumer's `_clone`
    deployment.rotate("consumer")
    current = deployment.value("consumer")
    name = alternate(current["username"])
    new = f"{deployment.environment['QUEUE_NAME']}-reader"
    try:
        # WHEN the consumer's user name changes
        changes = invoke({**deployment.environment, "CONSUMER_USERNAME": new})["changes"]
        # THEN the new user holds the secret's password, the secret names it, and both former users are gone
        assert changes[-3:] == [
            f"stored user name '{new}' (was '{current['username']}') in secret {deployment.secret('consumer')}",
            f"deleted user '{name}', a former consumer user name",
            f"deleted user '{name}_clone', a former consumer user name",
        ]
        assert deployment.value("consumer") == {**current, "username": new}
        assert deployment.logs_in(deployment.value("consumer"))
        assert (deployment.user(name), deployment.user(f"{name}_clone")) == (None, None)
        # AND the renamed user rotates as any other
        deployment.rotate("consumer")
        assert deployment.value("consumer")["username"] == f"{new}_clone"
    finally:
        for user in (new, f"{new}_clone"):
            deployment.management.delete("users", user)
