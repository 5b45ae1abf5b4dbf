"""The bootstrap's Lambda function end to end: its Secrets Manager client (hand-written Signature
Version 4) against moto's server, and `lambda_handler` against moto and the real broker's
management API, as Terraform invokes it."""

from __future__ import annotations

import datetime
import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

import pika
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from rabbitmq_admin.bootstrap_handler import lambda_handler
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.secrets_manager import Credentials, SecretsManager, SecretsManagerError, SecretValueNotFound
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import generate_password
from rabbitmq_tools.broker import LocalBroker
from support import MOTO_REGION, wait_for

REGION = MOTO_REGION


@pytest.mark.unit
@pytest.mark.parametrize("session_token", [None, "a-session-token"])
def test_the_signature_is_the_one_botocore_computes(session_token: str | None) -> None:
    # GIVEN a request botocore signs (the AWS SDK for Python's own Signature Version 4)
    payload = json.dumps({"SecretId": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"}).encode()
    request = AWSRequest(
        method="POST",
        url=f"https://secretsmanager.{REGION}.amazonaws.com/",
        data=payload,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "secretsmanager.GetSecretValue"},
    )
    SigV4Auth(
        BotocoreCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token),
        "secretsmanager",
        REGION,
    ).add_auth(request)
    signed_at = datetime.datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    # WHEN ours signs the same request at the same time
    client = SecretsManager(
        REGION, Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", session_token)
    )
    headers = client.signed_headers("GetSecretValue", payload, signed_at)
    # THEN the Authorization headers are the same, byte for byte
    assert headers["authorization"] == request.headers["Authorization"]
    assert headers.get("x-amz-security-token") == session_token


@pytest.mark.unit
def test_credentials_and_endpoint_from_the_environment() -> None:
    environ = {"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert SecretsManager.from_environment(environ).endpoint == "https://secretsmanager.eu-west-1.amazonaws.com"
    assert SecretsManager.from_environment({**environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}).endpoint == (
        "http://127.0.0.1:5000"
    )
    specific = {
        **environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:2",
    }
    assert SecretsManager.from_environment(specific).endpoint == "http://127.0.0.1:2"
    with pytest.raises(AdminError, match="no AWS credentials"):
        SecretsManager.from_environment({"AWS_REGION": "eu-west-1"})
    with pytest.raises(AdminError, match="must be an https:// URL"):
        SecretsManager.from_environment({**environ, "AWS_ENDPOINT_URL": "http://secretsmanager.example.com"})
    assert "b" not in repr(Credentials("a", "b"))


@pytest.mark.unit
def test_secrets_manager_against_moto(aws: Any, request: pytest.FixtureRequest) -> None:
    client = SecretsManager.from_environment()
    arn = aws.create_secret(Name=f"no-value-{request.node.name}-{id(client)}")["ARN"]
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
    arn = aws.create_secret(Name=f"staged-{request.node.name}-{id(client)}", SecretString='{"v": 1}')["ARN"]
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


# --- lambda_handler: moto's Secrets Manager and the real broker ----------------------------


ROLES = ("consumer", "publisher", "monitoring")


def event_for(broker: LocalBroker, aws: Any, queue: str, admin_password: str | None = None) -> dict[str, Any]:
    parts = urlsplit(broker.url)
    admin = {"username": unquote(parts.username or ""), "password": admin_password or unquote(parts.password or "")}
    secrets = {
        role: aws.create_secret(
            Name=f"{queue}-{role}", **({"SecretString": json.dumps(admin)} if role == "admin" else {})
        )["ARN"]
        for role in ("admin", *ROLES)
    }
    return {
        "management_url": broker.management_url,
        "admin_secret_arn": secrets["admin"],
        **{f"{role}_secret_arn": secrets[role] for role in ROLES},
        **{f"{role}_username": f"{queue}-{role}" for role in ROLES},
        "queue": queue,
        "vhost": "/",
        "delivery_limit": 3,
    }


@pytest.mark.integration
def test_first_run_stores_passwords_and_makes_users_a_second_changes_nothing(
    broker: LocalBroker, broker_url: str, aws: Any, queue_name: str, channel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rabbitmq_admin")
    event = event_for(broker, aws, queue_name)
    # WHEN Terraform invokes the function the first time
    first = lambda_handler(event, None)
    json.dumps(first)  # what Lambda returns must be JSON
    # THEN it generated and stored the three passwords, then made the topology and the users
    stored = {
        role: json.loads(aws.get_secret_value(SecretId=event[f"{role}_secret_arn"])["SecretString"]) for role in ROLES
    }
    for role, credentials in stored.items():
        assert credentials["username"] == f"{queue_name}-{role}"
        assert len(credentials["password"]) == 32
    assert first["changed"] is True
    assert first["changes"][:3] == [
        f"stored a generated password for user '{queue_name}-{role}' in secret {event[f'{role}_secret_arn']}"
        for role in ROLES
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
    versions = {role: aws.get_secret_value(SecretId=event[f"{role}_secret_arn"])["VersionId"] for role in stored}
    # WHEN it is invoked again THEN it reuses the passwords and changes nothing
    second = lambda_handler(event, None)
    assert (second["changed"], second["changes"]) == (False, [])
    assert {
        role: aws.get_secret_value(SecretId=event[f"{role}_secret_arn"])["VersionId"] for role in stored
    } == versions
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


@pytest.mark.integration
def test_a_renamed_user_keeps_its_password(broker: LocalBroker, aws: Any, queue_name: str, management: Any) -> None:
    event = event_for(broker, aws, queue_name)
    lambda_handler(event, None)
    before = json.loads(aws.get_secret_value(SecretId=event["publisher_secret_arn"])["SecretString"])
    renamed = {**event, "publisher_username": f"{queue_name}-publisher-2"}
    try:
        changes = lambda_handler(renamed, None)["changes"]
        assert changes[0] == (
            f"stored user name '{queue_name}-publisher-2' (was '{queue_name}-publisher') for user "
            f"'{queue_name}-publisher-2' in secret {event['publisher_secret_arn']}"
        )
        after = json.loads(aws.get_secret_value(SecretId=event["publisher_secret_arn"])["SecretString"])
        assert after == {"username": f"{queue_name}-publisher-2", "password": before["password"]}
    finally:
        management.delete("users", f"{queue_name}-publisher-2")


@pytest.mark.integration
def test_a_rotated_secret_is_kept_and_its_user_made(
    broker: LocalBroker, broker_url: str, aws: Any, queue_name: str, management: Any
) -> None:
    # GIVEN a deployment whose consumer secret a rotation moved to the consumer's `_clone` user,
    # a user the broker lacks (a broker restored from an older definition, say)
    event = event_for(broker, aws, queue_name)
    lambda_handler(event, None)
    original = management.get("users", f"{queue_name}-consumer")
    rotated = {"username": f"{queue_name}-consumer_clone", "password": generate_password()}
    secret = event["consumer_secret_arn"]
    version = aws.put_secret_value(SecretId=secret, SecretString=json.dumps(rotated))["VersionId"]
    # WHEN the bootstrap runs again
    changes = lambda_handler(event, None)["changes"]
    # THEN it kept the secret as it is and made that user, with the consumer's permissions
    assert aws.get_secret_value(SecretId=secret)["VersionId"] == version
    assert changes == [
        f"created consumer user '{queue_name}-consumer_clone'",
        f"set the permissions of consumer user '{queue_name}-consumer_clone' on vhost '/': configure ^$, write ^$, "
        f"read {Topology(queue_name, 1).queue_pattern}",
    ]
    assert management.get("users", f"{queue_name}-consumer") == original  # the other user untouched
    params = pika.URLParameters(broker_url)
    params.credentials = pika.PlainCredentials(rotated["username"], rotated["password"])
    with pika.BlockingConnection(params) as connection:
        assert connection.channel().queue_declare(queue_name, passive=True).method.message_count == 0
    # AND a third run changes nothing
    assert lambda_handler(event, None)["changes"] == []


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda e: {k: v for k, v in e.items() if k != "queue"}, "the event lacks queue: invoke the function with "),
        (lambda e: {**e, "delivery_limit": "many"}, "the event's delivery_limit has the wrong type"),
        (lambda e: {**e, "delivery_limit": 0}, "delivery limit must be a whole number of at least 1"),
        (lambda e: {**e, "management_url": "http://127.0.0.1:1"}, "cannot reach the RabbitMQ management API"),
        (lambda e: {**e, "consumer_secret_arn": e["consumer_secret_arn"] + "-gone"}, "ResourceNotFoundException"),
    ],
    ids=["missing-key", "limit-type", "limit-value", "unreachable", "no-such-secret"],
)
def test_faults_raise_one_line(
    broker: LocalBroker, aws: Any, queue_name: str, change: Any, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    event = change(event_for(broker, aws, queue_name))
    with pytest.raises(AdminError) as failure:
        lambda_handler(event, None)
    assert error in str(failure.value)
    assert "\n" not in str(failure.value)
    assert f"bootstrap failed: {failure.value}" in caplog.text


@pytest.mark.integration
def test_a_wrong_admin_password_in_the_secret(broker: LocalBroker, aws: Any, queue_name: str) -> None:
    event = event_for(broker, aws, queue_name, admin_password="not-the-password")
    with pytest.raises(AdminError) as failure:
        lambda_handler(event, None)
    admin = unquote(urlsplit(broker.url).username or "")
    assert re.fullmatch(
        rf"the RabbitMQ management API at {re.escape(broker.management_url)} refused the credentials of user "
        rf"'{admin}' \(401 (Login failed|Not_Authorized)\): the admin secret {re.escape(event['admin_secret_arn'])} "
        "must hold the broker admin's user name and current password",
        str(failure.value),
    )


@pytest.mark.integration
def test_an_admin_secret_without_a_value(broker: LocalBroker, aws: Any, queue_name: str) -> None:
    event = event_for(broker, aws, queue_name)
    event["admin_secret_arn"] = aws.create_secret(Name=f"{queue_name}-empty-admin")["ARN"]
    with pytest.raises(AdminError, match=r"the admin secret .* has no value: it must hold the broker's admin"):
        lambda_handler(event, None)
