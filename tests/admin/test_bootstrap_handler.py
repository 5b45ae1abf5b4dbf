"""The bootstrap's Lambda function end to end: its Secrets Manager wrapper (the runtime's boto3)
against moto's server, and `lambda_handler` against moto and the real broker's management API,
configured by its environment as Terraform configures it, whatever its event says."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pika
import pika.exceptions
import pytest
from botocore.stub import Stubber

from rabbitmq_admin import bootstrap_handler
from rabbitmq_admin.bootstrap_handler import TRIGGER, Settings
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.secrets_manager import SecretsManager, SecretsManagerError, SecretValueNotFound
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import MARKER_TAG, generate_password, holds_password
from rabbitmq_tools.broker import LocalBroker
from support import MOTO_REGION, wait_for
from support.admin_functions import ROLES, environment_for, invoke
from support.local_http import LocalServer, json_answer

REGION = MOTO_REGION


# --- Secrets Manager through boto3 ------------------------------------------------------------


@pytest.mark.unit
def test_secrets_manager_against_moto(aws: Any, request: pytest.FixtureRequest) -> None:
    client = SecretsManager.from_environment()
    arn = aws.create_secret(Name=f"no-value-{request.node.name}-{uuid.uuid4().hex[:6]}")["ARN"]
    # A secret without a value answers ResourceNotFoundException: its own exception type
    with pytest.raises(SecretValueNotFound, match="ResourceNotFoundException"):
        client.get_secret_string(arn)
    client.put_secret_string(arn, '{"a": 1}')
    assert client.get_secret_string(arn) == '{"a": 1}'
    assert aws.get_secret_value(SecretId=arn)["SecretString"] == '{"a": 1}'
    with pytest.raises(SecretValueNotFound):
        client.put_secret_string(f"{arn}-missing", "x")


@pytest.mark.unit
def test_versions_and_staging_labels_against_moto(aws: Any, request: pytest.FixtureRequest) -> None:
    # What the rotation function does, read back through boto3
    client = SecretsManager.from_environment()
    arn = aws.create_secret(Name=f"staged-{request.node.name}-{uuid.uuid4().hex[:6]}", SecretString='{"v": 1}')["ARN"]
    first = aws.get_secret_value(SecretId=arn)["VersionId"]
    token = str(uuid.uuid4())
    client.put_secret_string(arn, '{"v": 2}', token=token, stages=["AWSPENDING"])
    assert client.get_secret_string(arn, version_id=token, version_stage="AWSPENDING") == '{"v": 2}'
    assert client.get_secret_string(arn, version_stage="AWSCURRENT") == '{"v": 1}'
    assert client.describe_secret(arn)["VersionIdsToStages"] == {first: ["AWSCURRENT"], token: ["AWSPENDING"]}
    with pytest.raises(SecretsManagerError, match="InvalidRequestException"):  # that version is not AWSCURRENT
        client.get_secret_string(arn, version_id=token, version_stage="AWSCURRENT")
    client.update_secret_version_stage(arn, "AWSCURRENT", move_to=token, remove_from=first)
    client.update_secret_version_stage(arn, "AWSPENDING", remove_from=token)
    assert aws.describe_secret(SecretId=arn)["VersionIdsToStages"] == {first: ["AWSPREVIOUS"], token: ["AWSCURRENT"]}
    assert aws.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"] == '{"v": 2}'


@pytest.mark.unit
def test_the_endpoint_is_boto3s_own_service_specific_one(
    aws: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the variable for every service pointing nowhere, and Secrets Manager's at moto
    # (the moto_session fixture sets AWS_ENDPOINT_URL_SECRETS_MANAGER)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    arn = aws.create_secret(Name=f"endpoint-{uuid.uuid4().hex[:6]}", SecretString="{}")["ARN"]
    # WHEN the function's client reads the secret THEN it reaches moto: the service's variable wins
    client = SecretsManager.from_environment()
    assert client.get_secret_string(arn) == "{}"
    assert client.client.meta.endpoint_url == moto_endpoint


@pytest.mark.unit
def test_secrets_manager_faults_name_the_fix(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:x"
    # Access refused: the line names the action the role needs
    stubbed = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="a", aws_secret_access_key="b")
    with Stubber(stubbed) as stubber:
        stubber.add_client_error("get_secret_value", "AccessDeniedException", "not authorized", 400)
        with pytest.raises(SecretsManagerError) as refused:
            SecretsManager(lambda: stubbed).get_secret_string(arn)
    assert str(refused.value) == (
        f"GetSecretValue on secret {arn} was refused (AccessDeniedException): the function's role needs "
        "secretsmanager:GetSecretValue on it"
    )
    # No route to Secrets Manager, as in a VPC without an endpoint
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:1")
    with pytest.raises(AdminError) as unreachable:
        SecretsManager.from_environment().get_secret_string(arn)
    assert str(unreachable.value) == (
        "cannot reach Secrets Manager at http://127.0.0.1:1 (EndpointConnectionError): in a VPC the function needs a "
        "Secrets Manager endpoint or a NAT gateway"
    )
    # No region
    with pytest.raises(AdminError, match="no AWS region: set AWS_REGION"):
        SecretsManager.from_environment({}).get_secret_string(arn)


# --- lambda_handler: moto's Secrets Manager and the real broker ----------------------------


def secret_value(aws: Any, arn: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(aws.get_secret_value(SecretId=arn)["SecretString"])
    return value


def logs_in(broker_url: str, username: str, password: str) -> bool:
    params = pika.URLParameters(broker_url)
    params.credentials = pika.PlainCredentials(username, password)
    params.connection_attempts = 1
    try:
        with pika.BlockingConnection(params):
            return True
    except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
        return False


@pytest.mark.integration
def test_first_run_stores_passwords_and_makes_users_a_second_changes_nothing(
    broker: LocalBroker, broker_url: str, aws: Any, queue_name: str, channel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rabbitmq_admin")
    environment = environment_for(broker, aws, queue_name)
    arns = {role: environment[f"{role.upper()}_SECRET_ARN"] for role in ROLES}
    # WHEN Terraform invokes the function the first time
    first = invoke(environment)
    # THEN it generated and stored the three passwords, then made the topology and the users
    stored = {role: secret_value(aws, arn) for role, arn in arns.items()}
    for role, credentials in stored.items():
        assert credentials["username"] == f"{queue_name}-{role}"
        assert len(credentials["password"]) == 32
    assert first["changed"] is True
    assert first["changes"][:3] == [
        f"stored a generated password for user '{queue_name}-{role}' in secret {arns[role]}" for role in ROLES
    ]
    assert f"created monitoring user '{queue_name}-monitoring'" in first["changes"]
    assert f"created queue '{queue_name}' (quorum) on vhost '/'" in first["changes"]
    assert {key: first[key] for key in ("queue", "vhost", "users")} == {
        "queue": queue_name,
        "vhost": "/",
        "users": [f"{queue_name}-{role}" for role in ROLES],
    }
    # one log line per change, and never a password
    assert [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("rabbitmq_admin") and "change(s)" not in r.getMessage()
    ] == first["changes"]
    for credentials in stored.values():
        assert credentials["password"] not in caplog.text
        assert credentials["password"] not in json.dumps(first)
    versions = {role: aws.get_secret_value(SecretId=arn)["VersionId"] for role, arn in arns.items()}
    # WHEN it is invoked again THEN it reuses the passwords and changes nothing
    second = invoke(environment)
    assert (second["changed"], second["changes"]) == (False, [])
    assert {role: aws.get_secret_value(SecretId=arn)["VersionId"] for role, arn in arns.items()} == versions
    # AND the consumer's stored credentials consume from the queue
    channel.basic_publish("", queue_name, b'{"hello": 1}', pika.BasicProperties(message_id="m-1"))
    params = pika.URLParameters(broker_url)
    params.credentials = pika.PlainCredentials(stored["consumer"]["username"], stored["consumer"]["password"])
    received: list[str] = []

    def on_message(consuming: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        received.append(properties.message_id)
        consuming.basic_ack(method.delivery_tag)

    with pika.BlockingConnection(params) as connection:
        connection.channel().basic_consume(queue_name, on_message)
        wait_for(lambda: connection.process_data_events(time_limit=0.1) or received)
    assert received == ["m-1"]


@pytest.fixture
def secret_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every secret moto's Secrets Manager is asked for the value of, by anyone, in order."""
    from moto.secretsmanager.models import SecretsManagerBackend

    reads: list[str] = []
    original = SecretsManagerBackend.get_secret_value

    def recorded(self: Any, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        reads.append(secret_id)
        return original(self, secret_id, *args, **kwargs)

    monkeypatch.setattr(SecretsManagerBackend, "get_secret_value", recorded)
    return reads


@pytest.mark.integration
def test_the_event_cannot_redirect_the_bootstrap(
    broker: LocalBroker,
    aws: Any,
    queue_name: str,
    management: ManagementClient,
    secret_reads: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rabbitmq_admin")
    # GIVEN the function's environment, a server that records what reaches it, and another secret
    # holding other credentials (say, another broker's admin)
    environment = environment_for(broker, aws, queue_name)
    other = aws.create_secret(
        Name=f"{queue_name}-other", SecretString=json.dumps({"username": "someone", "password": "their-password"})
    )["ARN"]
    with LocalServer(lambda received, count: json_answer({})) as attacker:
        # WHEN someone who may invoke the function sends an event naming them, as the
        # configuration the function took from its event once did
        event = {
            "management_url": attacker.url,
            "admin_secret_arn": other,
            **{f"{role}_secret_arn": other for role in ROLES},
            **{f"{role}_username": f"someone-{role}" for role in ROLES},
            "queue": f"{queue_name}-other",
            "vhost": "/",
            "delivery_limit": 1,
            TRIGGER: "x",
        }
        result = invoke(environment, event)
    # THEN nothing reached that server, that secret was never read, and the bootstrap applied
    # what its environment says
    assert attacker.received == []
    assert other not in secret_reads
    assert environment["ADMIN_SECRET_ARN"] in secret_reads
    assert (result["queue"], result["users"]) == (queue_name, [f"{queue_name}-{role}" for role in ROLES])
    policy = management.get("policies", "/", Topology(queue_name, 3).policy_name)
    assert policy["definition"]["delivery-limit"] == 3
    assert management.get("queues", "/", f"{queue_name}-other") is None
    assert all(management.get("users", f"someone-{role}") is None for role in ROLES)
    # AND the log says the event was ignored, naming its keys and none of their values
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ignored the event")]
    assert line.startswith("ignored the event's 'management_url', 'admin_secret_arn', 'consumer_secret_arn', ")
    assert line.endswith(": the bootstrap reads its configuration from its environment")
    assert TRIGGER not in line
    assert attacker.url not in caplog.text
    assert other not in caplog.text


@pytest.mark.unit
@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"QUEUE_NAME": None, "ADMIN_SECRET_ARN": " "},
            "missing ADMIN_SECRET_ARN, QUEUE_NAME: set them in the function's environment, which Terraform sets "
            "(bootstrap.tf)",
        ),
        (
            {"DELIVERY_LIMIT": "many"},
            "DELIVERY_LIMIT is 'many', not a whole number: set it to one in the function's environment, which "
            "Terraform sets (bootstrap.tf)",
        ),
        ({"DELIVERY_LIMIT": "²"}, "DELIVERY_LIMIT is '²', not a whole number"),
        ({"DELIVERY_LIMIT": "0"}, "delivery limit must be a whole number of at least 1, got 0: fix the Terraform"),
        ({"QUEUE_NAME": "amq.orders"}, "queue name 'amq.orders' starts with 'amq.', which RabbitMQ reserves"),
        (
            {"CONSUMER_CONFIGURE_PERMISSION": "yes"},
            "CONSUMER_CONFIGURE_PERMISSION is 'yes', neither true nor false: set it to one of them in the function's "
            "environment",
        ),
    ],
    ids=["missing", "limit-word", "limit-superscript", "limit-zero", "reserved-queue", "configure-flag"],
)
def test_a_bad_environment_is_one_line(change: dict[str, str | None], error: str) -> None:
    environment: dict[str, str] = {
        "MANAGEMENT_URL": "https://b-1.mq.eu-west-1.amazonaws.com",
        "ADMIN_SECRET_ARN": "arn:admin",
        **{f"{role.upper()}_SECRET_ARN": f"arn:{role}" for role in ROLES},
        **{f"{role.upper()}_USERNAME": role for role in ROLES},
        "QUEUE_NAME": "orders",
        "VIRTUAL_HOST": "/",
        "DELIVERY_LIMIT": "20",
    }
    Settings.from_environment(environment)  # the unchanged environment is fine
    for name, value in change.items():
        if value is None:
            del environment[name]
        else:
            environment[name] = value
    with pytest.raises(AdminError) as failure:
        Settings.from_environment(environment)
    assert str(failure.value).startswith(error)
    assert "\n" not in str(failure.value)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            lambda e: {**e, "MANAGEMENT_URL": "http://127.0.0.1:1"},
            "cannot reach the RabbitMQ management API at http://127.0.0.1:1: connection refused; check the URL and "
            "that the broker runs its management plugin (rabbitmq-plugins enable rabbitmq_management) "
            "(retried for 0.3 s)",
        ),
        (lambda e: {**e, "CONSUMER_SECRET_ARN": e["CONSUMER_SECRET_ARN"] + "-gone"}, "ResourceNotFoundException"),
    ],
    ids=["unreachable", "no-such-secret"],
)
def test_faults_raise_one_line(
    broker: LocalBroker,
    aws: Any,
    queue_name: str,
    change: Callable[[dict[str, str]], dict[str, str]],
    error: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bootstrap_handler, "RETRY_FOR", 0.3)
    with pytest.raises(AdminError) as failure:
        invoke(change(environment_for(broker, aws, queue_name)))
    assert error in str(failure.value)
    assert "\n" not in str(failure.value)
    assert f"bootstrap failed: {failure.value}" in caplog.text


@pytest.mark.integration
def test_a_wrong_admin_password_in_the_secret(broker: LocalBroker, aws: Any, queue_name: str) -> None:
    environment = environment_for(broker, aws, queue_name, admin_password="not-the-password")
    with pytest.raises(AdminError) as failure:
        invoke(environment)
    admin = unquote(urlsplit(broker.url).username or "")
    assert re.fullmatch(
        rf"the RabbitMQ management API at {re.escape(broker.management_url)} refused the credentials of user "
        rf"'{admin}' \(401 (Login failed|Not_Authorized)\): the admin secret "
        rf"{re.escape(environment['ADMIN_SECRET_ARN'])} must hold the broker admin's user name and current password",
        str(failure.value),
    )


@pytest.mark.integration
def test_an_admin_secret_without_a_value(broker: LocalBroker, aws: Any, queue_name: str) -> None:
    environment = environment_for(broker, aws, queue_name)
    environment["ADMIN_SECRET_ARN"] = aws.create_secret(Name=f"{queue_name}-empty-admin")["ARN"]
    with pytest.raises(AdminError, match=r"the admin secret .* has no value: it must hold the broker's admin"):
        invoke(environment)


@pytest.mark.integration
def test_the_consumer_gets_configure_on_its_queue_only_when_asked(
    broker: LocalBroker, aws: Any, queue_name: str, management: ManagementClient
) -> None:
    environment = environment_for(broker, aws, queue_name)
    invoke(environment)
    name, pattern = f"{queue_name}-consumer", Topology(queue_name, 1).queue_pattern

    def configure() -> str:
        return str(management.get("permissions", "/", name)["configure"])

    assert configure() == "^$"
    changes = invoke({**environment, "CONSUMER_CONFIGURE_PERMISSION": "true"})["changes"]
    assert changes == [
        f"set the permissions of consumer user '{name}' on vhost '/': configure {pattern}, write ^$, read {pattern}"
    ]
    assert configure() == pattern
    invoke({**environment, "CONSUMER_CONFIGURE_PERMISSION": "false"})
    assert configure() == "^$"


# --- renaming a user -----------------------------------------------------------------------------


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """What the bootstrap does to users and secrets, in order: ("put", user), ("delete", user),
    ("secret", arn, the user name it now holds)."""
    done: list[tuple[str, ...]] = []
    put, delete, store = ManagementClient.put, ManagementClient.delete, SecretsManager.put_secret_string

    def recorded_put(self: ManagementClient, *path: str, body: dict[str, Any]) -> None:
        put(self, *path, body=body)
        if path[0] == "users":
            done.append(("put", path[1]))

    def recorded_delete(self: ManagementClient, *path: str) -> None:
        delete(self, *path)
        if path[0] == "users":
            done.append(("delete", path[1]))

    def recorded_store(self: SecretsManager, secret_id: str, value: str, **kwargs: Any) -> None:
        store(self, secret_id, value, **kwargs)
        done.append(("secret", secret_id, json.loads(value)["username"]))

    monkeypatch.setattr(ManagementClient, "put", recorded_put)
    monkeypatch.setattr(ManagementClient, "delete", recorded_delete)
    monkeypatch.setattr(SecretsManager, "put_secret_string", recorded_store)
    return done


@pytest.fixture
def renamed(broker: LocalBroker, aws: Any, queue_name: str, management: ManagementClient) -> Iterator[dict[str, str]]:
    """A bootstrapped deployment's environment, its publisher user then renamed `<queue>-sender`
    (deleted afterwards)."""
    environment = environment_for(broker, aws, queue_name)
    invoke(environment)
    yield {**environment, "PUBLISHER_USERNAME": f"{queue_name}-sender"}
    management.delete("users", f"{queue_name}-sender")


@pytest.mark.integration
def test_a_renamed_user_is_made_and_proved_before_its_secret_names_it_then_the_former_one_goes(
    renamed: dict[str, str],
    aws: Any,
    broker_url: str,
    queue_name: str,
    management: ManagementClient,
    steps: list[tuple[str, ...]],
) -> None:
    arn, old, new = renamed["PUBLISHER_SECRET_ARN"], f"{queue_name}-publisher", f"{queue_name}-sender"
    before = secret_value(aws, arn)
    # WHEN the bootstrap runs with the new name
    changes = invoke(renamed)["changes"]
    # THEN it made the new user, then wrote its name into the secret, then deleted the former user
    assert steps == [("put", new), ("secret", arn, new), ("delete", old)]
    assert changes == [
        f"created publisher user '{new}'",
        f"set the permissions of publisher user '{new}' on vhost '/': configure ^$, write ^amq\\.default$, read ^$",
        f"stored user name '{new}' (was '{old}') in secret {arn}",
        f"deleted user '{old}', a former publisher user name",
    ]
    # AND the secret names the new user with the same password, which logs in; the former is gone
    assert secret_value(aws, arn) == {"username": new, "password": before["password"]}
    assert logs_in(broker_url, new, before["password"])
    assert management.get("users", old) is None
    assert MARKER_TAG in management.get("users", new)["tags"]
    # AND a run after that changes nothing
    assert invoke(renamed)["changes"] == []


@pytest.mark.integration
@pytest.mark.parametrize("failing", ["secret", "delete"])
def test_a_rename_that_fails_half_way_leaves_a_secret_whose_user_exists(
    renamed: dict[str, str],
    aws: Any,
    broker_url: str,
    queue_name: str,
    management: ManagementClient,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    arn, old, new = renamed["PUBLISHER_SECRET_ARN"], f"{queue_name}-publisher", f"{queue_name}-sender"
    password = secret_value(aws, arn)["password"]
    # GIVEN a run that fails when it writes the secret, or when it deletes the former user
    with monkeypatch.context() as patch:
        if failing == "secret":
            patch.setattr(SecretsManager, "put_secret_string", fail("Secrets Manager went away"))
        else:
            patch.setattr(ManagementClient, "delete", fail("the management API went away"))
        with pytest.raises(AdminError, match="went away"):
            invoke(renamed)
    # THEN the secret names a user that exists on the broker with the secret's password
    value = secret_value(aws, arn)
    assert value == {"username": old if failing == "secret" else new, "password": password}
    assert holds_password(management.get("users", value["username"]), password)
    assert logs_in(broker_url, value["username"], password)
    # WHEN the next run has nothing in its way THEN it completes the renaming
    changes = invoke(renamed)["changes"]
    assert changes[-1] == f"deleted user '{old}', a former publisher user name"
    assert secret_value(aws, arn) == {"username": new, "password": password}
    assert management.get("users", old) is None
    assert logs_in(broker_url, new, password)
    assert invoke(renamed)["changes"] == []


def fail(message: str) -> Callable[..., None]:
    def failing(*args: Any, **kwargs: Any) -> None:
        raise AdminError(message)

    return failing


@pytest.mark.integration
def test_a_former_name_someone_else_took_is_left_alone(
    renamed: dict[str, str],
    queue_name: str,
    management: ManagementClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = f"{queue_name}-publisher"
    invoke(renamed)
    # GIVEN someone's user with the publisher's former name, which the secret's AWSPREVIOUS names
    management.put("users", old, body={"password": generate_password(), "tags": ""})
    someone = management.get("users", old)
    try:
        # WHEN the bootstrap runs again THEN that user stays as it is, with a warning
        assert invoke(renamed)["changes"] == []
        assert management.get("users", old) == someone
        assert f"left user '{old}', a former publisher user name: it is not one this bootstrap made" in caplog.text
    finally:
        management.delete("users", old)


@pytest.mark.integration
def test_a_rotated_secret_is_kept_and_its_user_made(
    broker: LocalBroker, broker_url: str, aws: Any, queue_name: str, management: ManagementClient
) -> None:
    # GIVEN a deployment whose consumer secret a rotation moved to the consumer's `_clone` user,
    # a user the broker lacks (a broker restored from an older definition, say)
    environment = environment_for(broker, aws, queue_name)
    invoke(environment)
    original = management.get("users", f"{queue_name}-consumer")
    rotated = {"username": f"{queue_name}-consumer_clone", "password": generate_password()}
    secret = environment["CONSUMER_SECRET_ARN"]
    version = aws.put_secret_value(SecretId=secret, SecretString=json.dumps(rotated))["VersionId"]
    # WHEN the bootstrap runs again
    changes = invoke(environment)["changes"]
    # THEN it kept the secret as it is and made that user, with the consumer's permissions
    assert aws.get_secret_value(SecretId=secret)["VersionId"] == version
    assert changes == [
        f"created consumer user '{queue_name}-consumer_clone'",
        f"set the permissions of consumer user '{queue_name}-consumer_clone' on vhost '/': configure ^$, write ^$, "
        f"read {Topology(queue_name, 1).queue_pattern}",
    ]
    assert management.get("users", f"{queue_name}-consumer") == original  # the other user untouched
    assert logs_in(broker_url, rotated["username"], rotated["password"])
    # AND a third run changes nothing
    assert invoke(environment)["changes"] == []
