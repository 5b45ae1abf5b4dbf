"""scripts/verify.py: the AWS side against moto (extended by strict_aws to accept an Amazon MQ
event source), the broker side against the real RabbitMQ. Lambda's part is played by the local
event source mapping running the real handler: its log lines go to the function's log group and
its dead letters to the SQS queue through the real SqsSink, so a change of either format breaks
these tests. The metrics and rotation functions run for real too, in this process, when moto's
Lambda invokes them: the metrics function counts the queue's consumers through the broker's
management API, and the rotation function rotates the consumer's secret on the broker."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote, urlsplit

import boto3
import pika
import pika.exceptions
import pytest
from moto import mock_aws

from rabbitmq_admin import metrics_handler, rotation_handler
from rabbitmq_admin.errors import AdminError
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import alternate
from rabbitmq_consumer import handler
from rabbitmq_consumer.dead_letters import SqsSink
from rabbitmq_tools import send, verify
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.broker import LocalBroker
from rabbitmq_tools.credentials import from_secret
from rabbitmq_tools.local_event_source_mapping import (
    LocalEventSourceMapping,
    MappingSettings,
    MappingStopped,
)
from rabbitmq_tools.project import EXAMPLE_MESSAGE
from support import drain, wait_for
from support.strict_aws import extend_moto

REGION = "eu-west-1"
NAME = "verify-test"
GROUP = f"/aws/lambda/{NAME}-consumer"
ALARMS = {
    f"{NAME}-consumer-errors": f"Lambda function {NAME}-consumer failed an invocation.",
    f"{NAME}-dead-letters-not-empty": "SQS queue verify-test-dead-letters holds messages the handler rejected.",
    f"{NAME}-broker-dlq-not-empty": "Queue orders.dlq holds messages past the delivery limit.",
    f"{NAME}-queue-backlog": "Queue orders has held more than 1000 ready messages for 15 minutes.",
    f"{NAME}-poller-stopped": "Queue orders has had ready messages while the function was not invoked.",
}
FAST = ["--poll-interval", "0.05"]
DRILL_TIMEOUT = ["--timeout", "30"]
NOWHERE = "amqp://guest:guest@127.0.0.1:1/"  # nothing listens there
METRICS_HANDLER = "rabbitmq_admin.metrics_handler.lambda_handler"
ROTATION_HANDLER = "rabbitmq_admin.rotation_handler.lambda_handler"
EMPTY_ZIP = b"PK\x05\x06" + bytes(18)  # the functions' code runs here


@dataclass
class Deployment:
    outputs: dict[str, Any]
    path: Path  # the outputs, as `terraform output -json` writes them
    log_level: str  # the function's POWERTOOLS_LOG_LEVEL
    status: dict[str, Any] = field(default_factory=dict)  # GetEventSourceMapping fields moto cannot know
    setup: BrokerSetup | None = None  # the queue and users on the local broker, when there is one
    # Run after each rotation of a secret finished (Lambda's poller reconnecting at that moment).
    after_rotation: Callable[[str], None] | None = None

    @property
    def args(self) -> list[str]:
        return ["--outputs", str(self.path), *FAST]

    def secret_value(self, role: str, stage: str = "AWSCURRENT") -> dict[str, str]:
        value: dict[str, str] = json.loads(
            boto3.client("secretsmanager", region_name=REGION).get_secret_value(
                SecretId=self.outputs[f"{role}_secret_arn"], VersionStage=stage
            )["SecretString"]
        )
        return value


@pytest.fixture
def mapping_status(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What Lambda's poller would report (State, StateTransitionReason, LastProcessingResult):
    moto has no poller, so the tests set them here."""
    from moto.awslambda.models import EventSourceMapping

    status: dict[str, Any] = {"LastProcessingResult": "No records processed"}
    original = EventSourceMapping.get_configuration

    def get_configuration(self: Any) -> dict[str, Any]:
        return {**original(self), **status}

    monkeypatch.setattr(EventSourceMapping, "get_configuration", get_configuration)
    return status


def run_functions_here(monkeypatch: pytest.MonkeyPatch, deployments: list[Deployment]) -> None:
    """Moto's Lambda runs the metrics and the rotation function in this process, with the
    environment the function was created with: a function that raises answers 200 with
    FunctionError and its errorMessage (Lambda API Reference, Invoke). A failed rotation step stops
    the rotation, as it stops Secrets Manager's (moto's loop would go on): the step raises to it.
    Other functions stay strict_aws's recorded invocations."""
    from moto.awslambda import models as lambda_models
    from moto.core.exceptions import JsonRESTError

    recorded = lambda_models.LambdaBackend.invoke
    handlers = {METRICS_HANDLER: metrics_handler.lambda_handler, ROTATION_HANDLER: rotation_handler.lambda_handler}

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> Any:
        function = self.get_function(function_name, qualifier)
        run = handlers.get(function.handler)
        if run is None:
            return recorded(self, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body or "{}")
        with mock.patch.dict(os.environ, function.environment_vars):
            try:
                result = run(event, None)
            except AdminError as exc:
                if function.handler == ROTATION_HANDLER:
                    raise JsonRESTError("RotationFailed", f"{event['Step']}: {exc}") from None
                response_headers["x-amz-function-error"] = "Unhandled"
                payload = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__}).encode()
            else:
                payload = json.dumps(result).encode()
        if function.handler == ROTATION_HANDLER and event.get("Step") == "finishSecret":
            for deployment in deployments:
                if deployment.after_rotation is not None:
                    deployment.after_rotation(event["SecretId"])
        response_headers["Content-Length"] = str(len(payload))
        return payload

    monkeypatch.setattr(lambda_models.LambdaBackend, "invoke", invoke)


def rotate_as_aws_does(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """RotateSecret without RotationLambdaARN and RotationRules "starts a rotation with the values
    already stored in the secret", and "starts the asynchronous process of rotating" it (Secrets
    Manager API Reference, RotateSecret): moto forgets the secret's rotation function then and sets
    the new, empty version AWSCURRENT, and it runs the steps before it answers. Here the stored
    function runs the steps in a thread after RotateSecret answered; a failed step leaves AWSPENDING
    on the new version, as AWS does. Returns the threads, for the fixture to join."""
    from moto.secretsmanager.exceptions import InvalidRequestException, SecretNotFoundException
    from moto.secretsmanager.models import SecretsManagerBackend

    configure = SecretsManagerBackend.rotate_secret
    threads: list[threading.Thread] = []

    def rotate_secret(
        self: Any,
        secret_id: str,
        client_request_token: str | None = None,
        rotation_lambda_arn: str | None = None,
        rotation_rules: dict[str, Any] | None = None,
        rotate_immediately: bool = True,
    ) -> str:
        if rotation_lambda_arn or rotation_rules or not rotate_immediately:
            return str(
                configure(
                    self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules, rotate_immediately
                )
            )
        if not self._is_valid_identifier(secret_id):
            raise SecretNotFoundException()
        secret = self.secrets[secret_id]
        if not secret.rotation_lambda_arn:
            raise InvalidRequestException("No Lambda rotation function ARN is associated with this secret.")
        stages = [version["version_stages"] for version in secret.versions.values()]
        if any("AWSPENDING" in labels and "AWSCURRENT" not in labels for labels in stages):
            raise InvalidRequestException("Previous rotation request is still in progress.")
        token = client_request_token or str(uuid.uuid4())

        def steps() -> None:
            with contextlib.suppress(Exception):  # a failed step: AWSPENDING stays, as on AWS
                configure(self, secret_id, token, secret.rotation_lambda_arn, None, True)

        thread = threading.Thread(target=steps, daemon=True)
        threads.append(thread)
        thread.start()
        return str(json.dumps({"ARN": secret.arn, "Name": secret.name, "VersionId": token}))

    monkeypatch.setattr(SecretsManagerBackend, "rotate_secret", rotate_secret)
    return threads


@pytest.fixture
def deploy(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mapping_status: dict[str, Any],
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., Deployment]]:
    """`deploy(queue, log_level, setup=None, rotation=False)`: what terraform apply creates, in moto,
    and its outputs file. With `setup` (a queue bootstrapped on the local broker) the users' secrets
    hold its users' credentials and the metrics function reads the broker's management API; with
    `rotation` the consumer's secret rotates through the rotation function."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    extend_moto(monkeypatch)
    deployments: list[Deployment] = []
    run_functions_here(monkeypatch, deployments)
    rotations = rotate_as_aws_does(monkeypatch)

    def create(
        queue: str = "orders", log_level: str = "DEBUG", setup: BrokerSetup | None = None, rotation: bool = False
    ) -> Deployment:
        management_url, admin = "http://127.0.0.1:1", {"username": "admin", "password": "Stand-in_password.1234"}
        if setup is not None:
            # The admin functions read their secrets from moto's server (their boto3 honours
            # AWS_ENDPOINT_URL_SECRETS_MANAGER); it shares this process's moto backends.
            request.getfixturevalue("moto_session")
            broker: LocalBroker = request.getfixturevalue("broker")
            parts = urlsplit(broker.url)
            management_url = broker.management_url
            admin = {"username": unquote(parts.username or ""), "password": unquote(parts.password or "")}

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

        password = "Stand-in_password.1234"
        mq_broker = client("mq").create_broker(
            BrokerName=f"{NAME}-broker",
            EngineType="RABBITMQ",
            EngineVersion="3.13",
            HostInstanceType="mq.m7g.medium",
            DeploymentMode="SINGLE_INSTANCE",
            PubliclyAccessible=True,
            AutoMinorVersionUpgrade=True,
            Users=[{"Username": "admin", "Password": password}],
        )
        instance = client("mq").describe_broker(BrokerId=mq_broker["BrokerId"])["BrokerInstances"][0]
        secret = client("secretsmanager").create_secret(Name=f"{NAME}-broker", SecretString=json.dumps(admin))
        # what the bootstrap writes: the mapping's user, send.py's and the metrics function's
        roles = ("consumer", "publisher", "monitoring")
        users = {role: (role, password) for role in roles}
        if setup is not None:
            users = {role: (user.name, user.password) for role, user in zip(roles, setup.users, strict=True)}
        user_secrets = {
            role: client("secretsmanager").create_secret(
                Name=f"{NAME}-broker-{role}", SecretString=json.dumps({"username": name, "password": secret_password})
            )["ARN"]
            for role, (name, secret_password) in users.items()
        }
        dead_letters = client("sqs").create_queue(QueueName=f"{NAME}-dead-letters")["QueueUrl"]
        role = client("iam").create_role(
            RoleName=f"{NAME}-consumer",
            AssumeRolePolicyDocument=json.dumps(
                {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}]}
            ),
        )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("rabbitmq_consumer/__init__.py", "")
        client("lambda").create_function(
            FunctionName=f"{NAME}-consumer",
            Runtime="python3.13",
            Role=role,
            Handler="rabbitmq_consumer.handler.lambda_handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": {"POWERTOOLS_LOG_LEVEL": log_level, "DEAD_LETTER_QUEUE_URL": dead_letters}},
        )
        # One mapping per consumed queue: the queue's, or one per shard queue of a sharded setup.
        consumed = setup.topology.queues if setup is not None else (queue,)
        rotation_function = create_admin_functions(
            consumed, queue, role, management_url, secret["ARN"], user_secrets, rotation=rotation
        )
        mappings = {
            consumed_queue: client("lambda").create_event_source_mapping(
                EventSourceArn=mq_broker["BrokerArn"],
                FunctionName=f"{NAME}-consumer",
                Queues=[consumed_queue],
                SourceAccessConfigurations=[
                    {"Type": "BASIC_AUTH", "URI": user_secrets["consumer"]},
                    {"Type": "VIRTUAL_HOST", "URI": "/"},
                ],
            )["UUID"]
            for consumed_queue in consumed
        }
        client("logs").create_log_group(logGroupName=GROUP)
        for name, description in ALARMS.items():
            client("cloudwatch").put_metric_alarm(
                AlarmName=name,
                AlarmDescription=description,
                Namespace="AWS/Lambda",
                MetricName="Errors",
                Statistic="Sum",
                Period=300,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
        outputs = {
            "region": REGION,
            "broker_id": mq_broker["BrokerId"],
            "broker_arn": mq_broker["BrokerArn"],
            "broker_name": f"{NAME}-broker",
            "amqps_endpoint": instance["Endpoints"][0],
            "console_url": instance["ConsoleURL"],
            "credentials_secret_arn": secret["ARN"],
            "consumer_secret_arn": user_secrets["consumer"],
            "publisher_secret_arn": user_secrets["publisher"],
            "monitoring_secret_arn": user_secrets["monitoring"],
            "queue_name": queue,
            "virtual_host": "/",
            "delivery_limit": 20,
            "max_message_size": 134217728,
            "function_name": f"{NAME}-consumer",
            "log_group_name": GROUP,
            "dead_letter_queue_url": dead_letters,
            "event_source_mapping_uuids": mappings,
            "consumed_queues": list(consumed),
            "publish_exchange": setup.topology.exchange if setup is not None else "",
            "ordering_key": (setup.topology.shard_key if setup is not None else None) or "none",
            "alarm_topic_arn": None,
            "alarm_names": list(ALARMS),
            "metrics_function_name": f"{NAME}-metrics",
            "rotation_function_name": rotation_function,
        }
        deployment = Deployment(
            outputs, write_outputs(tmp_path / "outputs.json", outputs), log_level, mapping_status, setup
        )
        deployments.append(deployment)
        return deployment

    with mock_aws():
        yield create
        for thread in rotations:
            thread.join(30)


def create_admin_functions(
    consumed: tuple[str, ...],
    queue: str,
    role: str,
    management_url: str,
    admin_secret: str,
    user_secrets: dict[str, str],
    rotation: bool,
) -> str | None:
    """The metrics function and, with `rotation`, the rotation function with the consumer's secret
    rotating through it; returns the rotation function's name."""
    functions, secrets = boto3.client("lambda", region_name=REGION), boto3.client("secretsmanager", region_name=REGION)
    functions.create_function(
        FunctionName=f"{NAME}-metrics",
        Runtime="python3.13",
        Role=role,
        Handler=METRICS_HANDLER,
        Code={"ZipFile": EMPTY_ZIP},
        Environment={
            "Variables": {
                "MANAGEMENT_URL": management_url,
                "MONITORING_SECRET_ARN": user_secrets["monitoring"],
                "VIRTUAL_HOST": "/",
                "QUEUES": ",".join([*consumed, f"{queue}.dlq"]),
                "METRICS_NAMESPACE": NAME,
            }
        },
    )
    if not rotation:
        return None
    function = functions.create_function(
        FunctionName=f"{NAME}-rotation",
        Runtime="python3.13",
        Role=role,
        Handler=ROTATION_HANDLER,
        Code={"ZipFile": EMPTY_ZIP},
        Environment={"Variables": {"MANAGEMENT_URL": management_url, "ADMIN_SECRET_ARN": admin_secret}},
    )
    # What aws_secretsmanager_secret_rotation sets: the function and a schedule, no rotation during
    # the apply (moto then tests the configuration with testSecret and leaves a copy of the current
    # value as AWSPENDING, which is taken off here).
    arn = user_secrets["consumer"]
    secrets.rotate_secret(
        SecretId=arn,
        RotationLambdaARN=function["FunctionArn"],
        RotationRules={"AutomaticallyAfterDays": 30},
        RotateImmediately=False,
    )
    for version, stages in secrets.describe_secret(SecretId=arn)["VersionIdsToStages"].items():
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            secrets.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=version)
    return str(function["FunctionName"])


def write_outputs(path: Path, outputs: dict[str, Any]) -> Path:
    path.write_text(json.dumps({name: {"sensitive": False, "value": value} for name, value in outputs.items()}))
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    """verify.main: exit code, report {check: (ok|FAILED|skipped, detail)}, stderr."""
    code = verify.main(args)
    out, err = capsys.readouterr()
    report = {
        line[8:21].strip(): (line[:8].strip(), line[21:])
        for line in out.splitlines()
        if line.startswith(("ok ", "FAILED ", "skipped "))  # the functions' EMF documents share stdout
    }
    return code, report, err


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ")


# --- the broker side: Lambda's part played locally ------------------------------------------


@dataclass
class Invocations:
    records: list[dict[str, Any]] = field(default_factory=list)  # every record the function received
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture
def simulated_lambda(broker_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Invocations]]:
    """`start(deployment, queue, rereads=True)`: the local event source mapping, in a thread, invokes
    the real handler on the queue's messages as the consumer user; what the handler logs goes to the
    log group, its dead letters to the SQS queue (the real SqsSink) and the mapping reports
    LastProcessingResult OK. With `rereads` it reads the consumer's secret at every connect; without,
    it keeps the credentials it started with. A refused login stops it as Lambda stops a mapping:
    State Disabled with the reason."""
    threads: list[tuple[threading.Thread, Invocations]] = []
    stream = io.StringIO()  # one for every start: each shard's mapping runs the one handler
    monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)

    def start(deployment: Deployment, queue: str, rereads: bool = True) -> Invocations:
        outputs = deployment.outputs
        logs, sqs = boto3.client("logs", region_name=REGION), boto3.client("sqs", region_name=REGION)
        monkeypatch.setattr(handler, "sink", lambda: SqsSink(outputs["dead_letter_queue_url"], sqs))
        previous_level = handler.logger.log_level
        handler.logger.setLevel(deployment.log_level)
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):  # a start per shard queue
            logs.create_log_stream(logGroupName=GROUP, logStreamName="2026/11/29/[$LATEST]local")
        invocations = Invocations()

        def invoke(event: dict[str, Any], context: Any) -> Any:
            for records in event["rmqMessagesByQueue"].values():
                invocations.records.extend(records)
            try:
                result = handler.lambda_handler(event, context)
            finally:
                lines, now = stream.getvalue().splitlines(), int(time.time() * 1000)
                stream.seek(0)
                stream.truncate()
                logs.put_log_events(
                    logGroupName=GROUP,
                    logStreamName="2026/11/29/[$LATEST]local",
                    logEvents=[{"timestamp": now, "message": line} for line in lines],
                )
            deployment.status["LastProcessingResult"] = "OK"
            return result

        settings = MappingSettings(
            queue, batching_window=0.05, broker_arn=outputs["broker_arn"], function_name=outputs["function_name"]
        )
        secret = from_secret(outputs["consumer_secret_arn"], client=boto3.client("secretsmanager", region_name=REGION))
        parameters = pika.URLParameters(broker_url)  # the admin's URL: the consumer's credentials replace it
        if rereads:
            mapping = LocalEventSourceMapping(parameters, settings, invoke, credentials=secret)
        else:
            parameters.credentials = pika.PlainCredentials(*secret())
            mapping = LocalEventSourceMapping(parameters, settings, invoke)

        def consume() -> None:
            try:
                mapping.run(max_messages=2, idle_timeout=15)
            except MappingStopped as stopped:
                deployment.status.update(State="Disabled", StateTransitionReason=stopped.state_reason)
            except BaseException as exc:  # reported by the fixture, in the test's thread
                invocations.errors.append(exc)
            finally:
                handler.logger.setLevel(previous_level)

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        threads.append((thread, invocations))
        return invocations

    yield start
    for thread, invocations in threads:
        thread.join(30)
        assert not thread.is_alive()
        assert not invocations.errors


@pytest.fixture
def poller(
    broker_url: str, management: ManagementClient, broker_setup: BrokerSetup
) -> Iterator[Callable[[Deployment], None]]:
    """`hold(deployment)`: a consumer on the deployment's queue as its consumer user, as Lambda's
    poller holds one while it waits for messages, until the test ends (before the users go: hence
    broker_setup); it returns once the broker's statistics (every 5 s) count it."""
    connections: list[Any] = []

    def hold(deployment: Deployment) -> None:
        assert deployment.setup is not None
        parameters = pika.URLParameters(broker_url)
        user = deployment.setup.consumer
        parameters.credentials = pika.PlainCredentials(user.name, user.password)
        connection = pika.BlockingConnection(parameters)
        connections.append(connection)
        for queue in deployment.setup.topology.queues:  # a poller for each shard queue
            connection.channel().basic_consume(queue, lambda *_: None)
        for queue in deployment.setup.topology.queues:
            counted(management, queue, 1)

    yield hold
    for connection in connections:
        if connection.is_open:
            connection.close()


def counted(management: ManagementClient, queue: str, consumers: int) -> None:
    """Wait until the broker's statistics (every 5 s) count `consumers` on the queue."""
    wait_for(lambda: (management.get("queues", "/", queue) or {}).get("consumers") == consumers, timeout=15)


def marker_in(detail: str, kind: str) -> str:
    markers: list[str] = re.findall(rf"verify-[0-9a-f]{{12}}-{kind}", detail)
    (marker,) = markers
    return marker


def dead_letter_bodies(deployment: Deployment) -> list[str]:
    response = boto3.client("sqs", region_name=REGION).receive_message(
        QueueUrl=deployment.outputs["dead_letter_queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [message["Body"] for message in response.get("Messages", [])]


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("log_level", ["DEBUG", "INFO"])
def test_a_working_deployment_passes_every_check(
    deploy: Callable[..., Deployment],
    simulated_lambda: Callable[..., Invocations],
    broker_url: str,
    broker_setup: BrokerSetup,
    topology: Topology,
    log_level: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment whose mapping consumes a fresh queue, and an older dead letter in SQS
    deployment = deploy(queue=topology.queue, log_level=log_level, setup=broker_setup)
    older = json.dumps({"reason": "an older dead letter", "record": {"basicProperties": {"messageId": "older"}}})
    boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=deployment.outputs["dead_letter_queue_url"], MessageBody=older
    )
    invocations = simulated_lambda(deployment, topology.queue)
    # WHEN verify.py publishes to the local broker and checks the (moto) AWS side
    code, report, err = run(
        [*deployment.args, "--url", broker_url, "--queue", topology.queue, "--timeout", "20"],
        capsys,
    )
    # THEN every check passes, one line each
    assert (code, err) == (0, "")
    assert list(report) == ["mapping", "consumers", "publish", "function", "dead letter", "processing", "alarms"]
    assert {status for status, _ in report.values()} == {"ok"}
    # AND the metrics function counted the poller's consumer on the queue
    assert report["consumers"][1] == f"1 consumer(s) on queue {topology.queue!r}: Lambda's poller holds one"
    valid, poison = marker_in(report["publish"][1], "ok"), marker_in(report["publish"][1], "poison")
    # AND the function received both messages under their markers: example-message.json and a poison
    received = {record["basicProperties"]["messageId"]: record for record in invocations.records}
    assert sorted(received) == sorted([valid, poison])
    assert base64.b64decode(received[valid]["data"]) == EXAMPLE_MESSAGE.read_bytes()
    assert received[poison]["basicProperties"]["contentType"] == "application/json"
    # AND the log check matched the handler's own line: the marker at DEBUG, the batch summary at INFO
    if log_level == "DEBUG":
        assert report["function"][1].startswith(f"logged 'message processed' for {valid}, ")
    else:
        assert f"'batch processed' with 1 processed on {topology.queue}::/" in report["function"][1]
    assert report["dead letter"][1].startswith(f"{poison} dead-lettered to SQS (body is not valid JSON")
    assert report["processing"][1] == "LastProcessingResult OK"
    # AND only the poison's dead letter was deleted
    assert dead_letter_bodies(deployment) == [older]


@pytest.mark.integration
def test_no_log_line_within_the_timeout(
    deploy: Callable[..., Deployment],
    broker_url: str,
    broker_setup: BrokerSetup,
    topology: Topology,
    channel: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment whose function never runs
    deployment = deploy(queue=topology.queue, setup=broker_setup)
    # WHEN verify.py waits a short time
    code, report, err = run(
        [*deployment.args, "--url", broker_url, "--queue", topology.queue, "--timeout", "0.3"],
        capsys,
    )
    # THEN the consumer, log and dead-letter checks fail, each with its cause and fix on stderr
    assert code == verify.CHECK_FAILED
    assert [report[name][0] for name in ("consumers", "function", "dead letter")] == ["FAILED"] * 3
    valid = marker_in(report["publish"][1], "ok")
    assert report["function"][1] == f"no log line for {valid} within 0 s"
    assert (
        "error: the function did not log the marked message: check the mapping state and the function's errors "
        f"with aws logs tail {GROUP} --since 15m --region {REGION}"
    ) in err.splitlines()
    assert "did not reach the dead-letter queue" in err
    # AND both marked messages are on the queue, as published
    messages = {properties.message_id: (properties, body) for properties, body in drain(channel, topology.queue)}
    assert sorted(messages) == sorted([valid, marker_in(report["publish"][1], "poison")])
    assert messages[valid][1] == EXAMPLE_MESSAGE.read_bytes()


# --- shards: a mapping per shard queue -----------------------------------------------------------


@pytest.fixture
def sharded_setup(management: ManagementClient, queue_name: str) -> BrokerSetup:
    """Three shards of queue_name behind the exchange, hashing the header customer-id (queue_name's fixture
    deletes them, the exchange and the users afterwards)."""
    topology = Topology(queue_name, 3, "/", 3, "header:customer-id")
    setup = BrokerSetup.new(topology, f"{queue_name}-consumer", f"{queue_name}-publisher")
    setup.apply(management)
    return setup


@pytest.mark.integration
def test_a_sharded_deployment_passes_every_check(
    sharded_setup: BrokerSetup,  # first: its users outlast the local mappings, which stop before it goes
    deploy: Callable[..., Deployment],
    simulated_lambda: Callable[..., Invocations],
    broker_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment of three shard queues, a mapping each (Lambda's part played by one local mapping each)
    topology = sharded_setup.topology
    deployment = deploy(queue=topology.queue, log_level="INFO", setup=sharded_setup)
    runs = [simulated_lambda(deployment, queue) for queue in topology.queues]
    # WHEN verify.py checks it, the shards and the key taken from the outputs
    code, report, err = run([*deployment.args, "--url", broker_url, "--timeout", "20"], capsys)
    # THEN every check passes: each mapping, a consumer on each shard queue, the marked messages through
    # the exchange to one shard (they carry the example's key), processed and dead-lettered there
    assert (code, err) == (0, "")
    assert {status for status, _ in report.values()} == {"ok"}
    assert report["mapping"][1] == f"all 3 Enabled, consuming queues {', '.join(topology.queues)}"
    assert report["consumers"][1] == "at least 1 consumer(s) on each of 3 queues: a poller each"
    assert report["publish"][1].startswith(f"confirmed on exchange {topology.queue!r}, vhost '/': ")
    (shard,) = [queue for queue, invocations in zip(topology.queues, runs, strict=True) if invocations.records]
    assert f"'batch processed' with 1 processed on {shard}::/" in report["function"][1]
    received = [record for invocations in runs for record in invocations.records]
    assert len(received) == 2
    customer = json.loads(EXAMPLE_MESSAGE.read_text())["customerId"]
    assert {bytes(record["basicProperties"]["headers"]["customer-id"]["bytes"]).decode() for record in received} == {
        customer
    }


@pytest.mark.integration
def test_a_shard_without_a_poller_fails_the_consumers_check(
    deploy: Callable[..., Deployment],
    broker_url: str,
    management: ManagementClient,
    sharded_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN pollers on shards 0 and 1 only
    topology, user = sharded_setup.topology, sharded_setup.consumer
    deployment = deploy(queue=topology.queue, setup=sharded_setup)
    parameters = pika.URLParameters(broker_url)
    parameters.credentials = pika.PlainCredentials(user.name, user.password)
    with pika.BlockingConnection(parameters) as connection:
        for queue in topology.queues[:2]:
            connection.channel().basic_consume(queue, lambda *_: None)
            counted(management, queue, 1)
        # WHEN verify.py reads the states
        code, report, err = run([*deployment.args, "--skip-publish", "--timeout", "1"], capsys)
    # THEN the consumers check names the shard queue without one
    assert code == verify.CHECK_FAILED
    assert report["mapping"] == ("ok", f"all 3 Enabled, consuming queues {', '.join(topology.queues)}")
    assert report["consumers"] == (
        "FAILED",
        f"no consumer on queue {topology.queues[2]!r} for 1 s while the mapping is Enabled",
    )
    assert err.startswith(f"error: Lambda's poller holds no consumer on queue {topology.queues[2]!r} although")


# --- states only --------------------------------------------------------------------------------


@pytest.mark.integration
def test_skip_publish_reads_the_states(
    deploy: Callable[..., Deployment],
    poller: Callable[[Deployment], None],
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup)
    poller(deployment)
    deployment.status["LastProcessingResult"] = "OK"
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert (code, err) == (0, "")
    assert report == {
        "mapping": ("ok", f"Enabled, consuming queue {queue}"),
        "consumers": ("ok", f"1 consumer(s) on queue {queue!r}: Lambda's poller holds one"),
        "processing": ("ok", "LastProcessingResult OK"),
        "alarms": ("ok", "5 alarms, none in ALARM"),
    }


@pytest.mark.unit
@pytest.mark.parametrize(
    ("reason", "fix"),
    [
        (
            "EVENT_SOURCE_AUTHN_ERROR",
            "the mapping cannot sign in to the broker: check that the consumer's secret {secret} holds",
        ),
        (
            "EVENT_SOURCE_AUTHZ_ERROR",
            "Lambda lacks a permission to access the broker: the function's role needs mq:DescribeBroker",
        ),
        ("ESM_CONFIG_NOT_VALID", "the event source mapping's configuration is not valid: compare its queue"),
        ("FUNCTION_CONFIG_NOT_VALID", "the function's configuration is not valid: check its state, role and layer"),
    ],
)
def test_a_mapping_lambda_stopped_names_the_cause_and_the_fix(
    deploy: Callable[..., Deployment], reason: str, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a mapping Lambda disabled for one of its documented reasons
    deployment = deploy()
    deployment.status.update(State="Disabled", StateTransitionReason=reason)
    # WHEN verify.py runs, with a broker URL nothing listens on
    code, report, err = run([*deployment.args, "--url", "amqp://guest:guest@127.0.0.1:1/"], capsys)
    # THEN the mapping check fails with the fix, and nothing was published (that would fail to connect)
    assert code == verify.CHECK_FAILED
    assert report["mapping"] == ("FAILED", f"Disabled, StateTransitionReason {reason}")
    assert "publish" not in report
    (line,) = err.splitlines()
    assert line.startswith("error: " + fix.format(secret=deployment.outputs["consumer_secret_arn"]))
    (uuid,) = deployment.outputs["event_source_mapping_uuids"].values()
    assert line.endswith(
        f"({reason}); then enable the mapping again: aws lambda update-event-source-mapping --uuid {uuid} "
        f"--enabled --region {REGION}"
    )


@pytest.mark.unit
def test_a_mapping_disabled_by_its_user(deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]) -> None:
    deployment = deploy()
    deployment.status.update(State="Disabled", StateTransitionReason="USER_INITIATED")
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["mapping"] == ("FAILED", "Disabled, StateTransitionReason USER_INITIATED")
    assert "set event_source_mapping_enabled = true and run terraform apply" in err


@pytest.mark.unit
def test_a_mapping_still_being_created(deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]) -> None:
    deployment = deploy()
    deployment.status.update(State="Creating", StateTransitionReason="USER_INITIATED")
    code, report, err = run([*deployment.args, "--timeout", "0.2"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["mapping"][0] == "FAILED"
    assert "the event source mapping is Creating: wait until it is Enabled" in err


@pytest.mark.integration
def test_a_problem_in_the_last_processing_result(
    deploy: Callable[..., Deployment],
    poller: Callable[[Deployment], None],
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployment = deploy(broker_setup.topology.queue, setup=broker_setup)
    poller(deployment)
    deployment.status["LastProcessingResult"] = "PROBLEM: Connection error."
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["processing"] == ("FAILED", "LastProcessingResult PROBLEM: Connection error.")
    assert err.startswith("error: Lambda reports a problem with the mapping (PROBLEM: Connection error.)")


@pytest.mark.integration
def test_an_alarm_in_alarm_is_named(
    deploy: Callable[..., Deployment],
    poller: Callable[[Deployment], None],
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployment = deploy(broker_setup.topology.queue, setup=broker_setup)
    poller(deployment)
    firing = f"{NAME}-consumer-errors"
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName=firing, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [2.0] > 0.0"
    )
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["alarms"] == ("FAILED", f"in ALARM: {firing}")
    assert err.splitlines() == [f"error: alarm {firing} is in ALARM: {ALARMS[firing]}"]


@pytest.mark.unit
def test_an_authorization_error_names_the_permission_variable(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a mapping Lambda stopped with EVENT_SOURCE_AUTHZ_ERROR ("Lambda does not have the
    # required permissions to access the event source", and no more)
    deployment = deploy()
    deployment.status.update(State="Disabled", StateTransitionReason="EVENT_SOURCE_AUTHZ_ERROR")
    code, _, err = run([*deployment.args, "--skip-publish"], capsys)
    # THEN the fix names the role's permissions and, beyond them, the variable that grants the
    # consumer user configure on its queue
    assert code == verify.CHECK_FAILED
    (line,) = err.splitlines()
    assert "the function's role needs mq:DescribeBroker" in line
    assert (
        "Lambda's poller may need more than read on the queue, which AWS does not document: set "
        "consumer_configure_permission = true and run terraform apply"
    ) in line


@pytest.mark.integration
def test_an_access_refusal_in_the_last_processing_result_names_the_permission_variable(
    deploy: Callable[..., Deployment],
    poller: Callable[[Deployment], None],
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an Enabled mapping whose poller reports a refusal (Lambda's texts for Amazon MQ are not
    # documented: this one quotes RabbitMQ's reply to a queue.declare without configure)
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup)
    poller(deployment)
    result = f"PROBLEM: ACCESS_REFUSED - access to queue '{queue}' in vhost '/' refused for user 'consumer'"
    deployment.status["LastProcessingResult"] = result
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["processing"] == ("FAILED", f"LastProcessingResult {result}")
    assert err.splitlines() == [
        f"error: Lambda reports an access refusal ({result}): if the function's role has its permissions "
        f"(main.tf; terraform apply restores them), Lambda's poller may need more than read on queue {queue!r}, "
        "which AWS does not document: set consumer_configure_permission = true and run terraform apply (the "
        "bootstrap then grants the consumer user configure on its queue)"
    ]


# --- the poller's consumer ----------------------------------------------------------------------


@pytest.mark.integration
def test_no_consumer_while_the_mapping_is_enabled_names_the_alarm_variable(
    deploy: Callable[..., Deployment],
    management: ManagementClient,
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an Enabled mapping, and a queue the broker counts no consumer on
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup)
    counted(management, queue, 0)
    # WHEN verify.py looks for a short while
    code, report, err = run([*deployment.args, "--skip-publish", "--timeout", "1"], capsys)
    # THEN the consumer check fails, naming what it means for the poller-stopped alarm
    assert code == verify.CHECK_FAILED
    assert report["consumers"] == (
        "FAILED",
        f"no consumer on queue {queue!r} for 1 s while the mapping is Enabled",
    )
    assert err.splitlines() == [
        f"error: Lambda's poller holds no consumer on queue {queue!r} although the mapping is Enabled: unless "
        "LastProcessingResult (the processing check) reports a problem, it reads the queue without one, which AWS "
        "does not document and the poller-stopped alarm assumes it does not, so that alarm would fire for ever: set "
        "create_poller_stopped_alarm = false, run terraform apply, and report this behaviour"
    ]


@pytest.mark.integration
def test_no_consumer_without_the_poller_stopped_alarm_passes(
    deploy: Callable[..., Deployment],
    management: ManagementClient,
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment made with create_poller_stopped_alarm = false
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup)
    outputs = {**deployment.outputs, "alarm_names": [n for n in ALARMS if not n.endswith("-poller-stopped")]}
    write_outputs(deployment.path, outputs)
    counted(management, queue, 0)
    code, report, err = run([*deployment.args, "--skip-publish", "--timeout", "1"], capsys)
    # THEN no consumer is what that setting is for
    assert (code, err) == (0, "")
    assert report["consumers"] == (
        "ok",
        f"no consumer on queue {queue!r} for 1 s while the mapping is Enabled; the poller-stopped alarm is off, as "
        "it must be then",
    )


@pytest.mark.integration
def test_a_failing_metrics_function_is_named_with_its_error(
    deploy: Callable[..., Deployment], broker_setup: BrokerSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a monitoring secret whose password the broker refuses
    deployment = deploy(broker_setup.topology.queue, setup=broker_setup)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=deployment.outputs["monitoring_secret_arn"],
        SecretString=json.dumps({"username": broker_setup.monitoring.name, "password": "Not-the-password.1"}),
    )
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    # THEN the consumer check fails with the function's own one-line error and where its log is
    assert code == verify.CHECK_FAILED
    assert report["consumers"] == ("FAILED", f"the metrics function {NAME}-metrics failed")
    (line,) = err.splitlines()
    assert line.startswith(f"error: the metrics function {NAME}-metrics failed (")
    assert f"refused the credentials of user {broker_setup.monitoring.name!r}" in line
    assert line.endswith(f"): read its log with aws logs tail /aws/lambda/{NAME}-metrics --since 15m --region {REGION}")
    assert "Not-the-password" not in err


# --- the rotation drill ---------------------------------------------------------------------------


def reconnects(management: ManagementClient, setup: BrokerSetup) -> Callable[[str], None]:
    """After each rotation, the consumer's connections are closed: Lambda's poller reconnects at
    moments nobody chooses, and right after a rotation is the one that tells whether it reads the
    secret again."""

    def close(_secret: str) -> None:
        for user in (setup.consumer.name, alternate(setup.consumer.name)):
            management.delete("connections", "username", user)

    return close


def verify_lines(err: str) -> list[str]:
    """verify.py's stderr, without the lines of the local mapping that plays Lambda's poller."""
    return [line for line in err.splitlines() if not line.startswith("connection lost (")]


def login_refused(broker_url: str, username: str, password: str) -> bool:
    parameters = pika.URLParameters(broker_url)
    parameters.credentials = pika.PlainCredentials(username, password)
    parameters.connection_attempts = 1
    try:
        with pika.BlockingConnection(parameters):
            return False
    except pika.exceptions.ProbableAuthenticationError:
        return True


@pytest.mark.integration
def test_the_rotation_drill_with_a_poller_that_reads_the_secret_again(
    deploy: Callable[..., Deployment],
    simulated_lambda: Callable[..., Invocations],
    management: ManagementClient,
    broker_url: str,
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment that rotates the consumer's secret, and a poller that reads the secret at
    # every connect and reconnects after each rotation
    queue, user = broker_setup.topology.queue, broker_setup.consumer
    deployment = deploy(queue, setup=broker_setup, rotation=True)
    deployment.after_rotation = reconnects(management, broker_setup)
    before = deployment.secret_value("consumer")
    simulated_lambda(deployment, queue)
    # WHEN verify.py runs the drill
    code, report, err = run(
        [
            *deployment.args,
            "--rotation-drill",
            "--drill-wait",
            "0",
            "--url",
            broker_url,
            "--queue",
            queue,
            *DRILL_TIMEOUT,
        ],
        capsys,
    )
    # THEN every check passes, and the report says the drill ran
    assert (code, verify_lines(err)) == (0, [])
    assert list(report) == [
        "mapping", "rotation", "consumers", "publish", "function", "dead letter", "old password", "processing",
        "alarms",
    ]  # fmt: skip
    assert {status for status, _ in report.values()} == {"ok"}
    assert re.fullmatch(
        rf"drill ran: rotated the consumer's secret 2 times \({user.name} -> {user.name}_clone -> {user.name}; "
        r"\d+ s, \d+ s\), waited 0 s; the mapping is still Enabled",
        report["rotation"][1],
    ), report["rotation"][1]
    assert report["function"][1].endswith(", after the rotation drill")
    assert report["old password"][1] == f"the broker refuses user {user.name!r} with its pre-drill password"
    # AND the secret names the same user with a new password, and the old one is refused indeed
    after = deployment.secret_value("consumer")
    assert after["username"] == before["username"] == user.name
    assert after["password"] != before["password"]
    assert login_refused(broker_url, user.name, before["password"])
    assert "AWSPENDING" not in str(
        boto3.client("secretsmanager", region_name=REGION).describe_secret(
            SecretId=deployment.outputs["consumer_secret_arn"]
        )
    )


@pytest.mark.integration
def test_the_rotation_drill_with_a_poller_that_keeps_its_password(
    deploy: Callable[..., Deployment],
    simulated_lambda: Callable[..., Invocations],
    management: ManagementClient,
    broker_url: str,
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a poller that keeps the credentials it started with, and reconnects after each rotation
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup, rotation=True)
    deployment.after_rotation = reconnects(management, broker_setup)
    simulated_lambda(deployment, queue, rereads=False)
    # WHEN verify.py runs the drill and waits a little
    code, report, err = run(
        [
            *deployment.args,
            "--rotation-drill",
            "--drill-wait",
            "3",
            "--url",
            broker_url,
            "--queue",
            queue,
            *DRILL_TIMEOUT,
        ],
        capsys,
    )
    # THEN the drill fails: the mapping stopped on the second rotation, the fix turns rotation off;
    # nothing is published to a stopped mapping
    assert code == verify.CHECK_FAILED
    assert report["rotation"][0] == "FAILED"
    assert report["rotation"][1].endswith("; the mapping is Disabled now")
    assert "publish" not in report
    assert "consumers" not in report
    assert report["old password"][0] == "ok"
    (uuid,) = deployment.outputs["event_source_mapping_uuids"].values()
    assert verify_lines(err) == [
        "error: the mapping is Disabled (EVENT_SOURCE_AUTHN_ERROR) after the rotation drill: Lambda's poller did not "
        "take up the rotated secret, which credential rotation relies on (AWS does not document when it reads the "
        "secret again): turn rotation off (credential_rotation_days = null), run terraform apply, and report this "
        f"behaviour; then enable the mapping again: aws lambda update-event-source-mapping --uuid {uuid} --enabled "
        f"--region {REGION}"
    ]


@pytest.mark.integration
def test_a_rotation_that_does_not_finish(
    deploy: Callable[..., Deployment],
    poller: Callable[[Deployment], None],
    broker_url: str,
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a rotation function whose admin secret the broker refuses: setSecret fails
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup, rotation=True)
    poller(deployment)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    admin = json.loads(secrets.get_secret_value(SecretId=deployment.outputs["credentials_secret_arn"])["SecretString"])
    secrets.put_secret_value(
        SecretId=deployment.outputs["credentials_secret_arn"],
        SecretString=json.dumps({**admin, "password": "Not-the-password.1"}),
    )
    before = deployment.secret_value("consumer")
    code, report, err = run(
        [*deployment.args, "--rotation-drill", "--skip-publish", "--url", broker_url, "--timeout", "2"], capsys
    )
    # THEN the drill reports the unfinished rotation and how to clear its AWSPENDING label
    assert code == verify.CHECK_FAILED
    assert report["rotation"] == ("FAILED", "drill ran: rotation 1 of 2 did not finish within 2 s")
    assert "old password" not in report
    (line,) = err.splitlines()
    arn = deployment.outputs["consumer_secret_arn"]
    pending = [
        version
        for version, stages in secrets.describe_secret(SecretId=arn)["VersionIdsToStages"].items()
        if stages == ["AWSPENDING"]
    ]
    assert len(pending) == 1
    assert line.startswith(
        f"error: the rotation of secret {arn} that RotateSecret started as version {pending[0]} did not finish "
        "within 2 s (that version is AWSPENDING): the rotation function's log names the failed step "
        f"(aws logs tail /aws/lambda/{NAME}-rotation --since 15m --region {REGION})"
    )
    assert line.endswith(
        f"(aws secretsmanager update-secret-version-stage --secret-id {arn} --version-stage AWSPENDING "
        f"--remove-from-version-id {pending[0]} --region {REGION}) and run the drill again"
    )
    # AND the secret's current credentials are those of before
    assert deployment.secret_value("consumer") == before


@pytest.mark.integration
def test_the_rotation_drill_where_the_broker_is_out_of_reach(
    deploy: Callable[..., Deployment],
    poller: Callable[[Deployment], None],
    broker_setup: BrokerSetup,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a broker this machine cannot reach over AMQP (a private one), whose poller holds its consumer
    queue = broker_setup.topology.queue
    deployment = deploy(queue, setup=broker_setup, rotation=True)
    poller(deployment)
    # WHEN verify.py runs the drill without publishing
    code, report, err = run(
        [*deployment.args, "--rotation-drill", "--skip-publish", "--drill-wait", "0", "--url", NOWHERE, *DRILL_TIMEOUT],
        capsys,
    )
    # THEN the drill ran, says what it did not check, and skips only the old password's login
    assert (code, err) == (0, "")
    assert list(report) == ["mapping", "rotation", "consumers", "old password", "processing", "alarms"]
    assert report["rotation"][1].endswith(
        "the mapping is still Enabled; with --skip-publish, that messages still flow is not checked"
    )
    status, detail = report["old password"]
    assert status == "skipped"
    assert detail.startswith("not checked: the broker at 127.0.0.1:1 is not reachable from here (")
    assert detail.endswith(
        "a private broker answers inside its VPC only: run verify.py --rotation-drill there to check it"
    )


@pytest.mark.unit
def test_the_rotation_drill_needs_rotation(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()  # credential_rotation_days = null: rotation_function_name is null
    code, _, err = run([*deployment.args, "--rotation-drill"], capsys)
    assert code == send.USAGE
    assert_no_traceback(err)
    assert "set credential_rotation_days and run terraform apply, or drop --rotation-drill" in err


@pytest.mark.unit
def test_json_report(deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]) -> None:
    deployment = deploy()
    deployment.status.update(State="Disabled", StateTransitionReason="EVENT_SOURCE_AUTHN_ERROR")
    assert verify.main([*deployment.args, "--skip-publish", "--json"]) == verify.CHECK_FAILED
    out, _ = capsys.readouterr()
    report = json.loads(out)
    assert report["ok"] is False
    assert [(check["name"], check["ok"]) for check in report["checks"]] == [
        ("mapping", False),
        ("processing", True),
        ("alarms", True),
    ]


# --- what stops the run ---------------------------------------------------------------------


@pytest.mark.unit
def test_no_terraform_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No --outputs: `terraform output -json` runs in the repository root, whose state (if any) is
    # not ours; an empty directory stands for a configuration never applied.
    monkeypatch.setattr(send, "ROOT", tmp_path)
    code, _, err = run(FAST, capsys)
    assert code == send.OUTPUTS
    assert_no_traceback(err)
    assert err.startswith(
        (
            "error: there are no Terraform outputs: run terraform apply first",
            "error: terraform is not installed",
        )
    )


def fake_terraform(bin_dir: Path, stderr: str, code: int = 1) -> Path:
    """A `terraform` on PATH that records its arguments and fails with `stderr`, coloured
    unless it was given -no-color, as Terraform does."""
    bin_dir.mkdir()
    (bin_dir / "stderr").write_text(stderr)
    script = bin_dir / "terraform"
    script.write_text(
        f"""#!/bin/sh
echo "$@" > {bin_dir}/args
case " $* " in *" -no-color "*) cat {bin_dir}/stderr >&2 ;; *) printf '\\033[31m' >&2; cat {bin_dir}/stderr >&2 ;; esac
exit {code}
"""
    )
    script.chmod(0o755)
    return bin_dir


CLI_WARNING = (
    "There are some problems with the CLI configuration:\n\u2577\n\u2502 Warning: Unable to open CLI configuration "
    "file\n\u2575\n\n"
)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("stderr", "reason"),
    [
        (
            CLI_WARNING
            + "\u2577\n\u2502 Error: Unsupported state file format\n\u2502\n\u2502 The state file could not be "
            "parsed as JSON\n\u2575\n",
            "Error: Unsupported state file format",
        ),
        ('Error: Backend initialization required, please run "terraform init"\n', "Error: Backend initialization"),
        ("something else went wrong\nsecond line\n", "something else went wrong"),
    ],
)
def test_a_failing_terraform_output_says_its_real_cause(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], stderr: str, reason: str
) -> None:
    # send.py, replay.py and verify.py share read_outputs: Terraform's own error, uncoloured,
    # not a guess ("run terraform init") that is wrong for most failures
    bin_dir = fake_terraform(tmp_path / "bin", stderr)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(send, "ROOT", tmp_path)
    code, _, err = run(FAST, capsys)
    assert code == send.OUTPUTS
    assert (bin_dir / "args").read_text().split() == ["output", "-json", "-no-color"]
    assert err.startswith(f"error: `terraform output -json` failed in {tmp_path}: {reason}"), err
    assert "\x1b" not in err
    assert len(err.strip().splitlines()) == 1
    assert "Warning" not in err


@pytest.mark.unit
def test_terraform_missing_or_without_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(send, "ROOT", tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no terraform
    code, _, err = run(FAST, capsys)
    assert code == send.OUTPUTS
    # verify.py checks the deployment whatever broker it publishes to: --url is no way out
    assert err == "error: terraform is not installed: install it or pass --outputs FILE\n"
    # a configuration never applied: terraform output succeeds with {}
    bin_dir = fake_terraform(tmp_path / "bin", "", code=0)
    (bin_dir / "terraform").write_text("#!/bin/sh\necho '{}'\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    code, _, err = run(FAST, capsys)
    assert code == send.OUTPUTS
    assert err.strip() == (
        f"error: there are no Terraform outputs: run terraform apply first ({tmp_path} has no Terraform state, or a "
        "state without outputs)"
    )


@pytest.mark.unit
def test_outputs_older_than_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = dict.fromkeys(send.OUTPUT_NAMES, "x")
    code, _, err = run(["--outputs", str(write_outputs(tmp_path / "outputs.json", outputs))], capsys)
    assert code == send.OUTPUTS
    assert_no_traceback(err)
    assert err.startswith(
        "error: the Terraform outputs lack function_name, log_group_name, dead_letter_queue_url, "
        "event_source_mapping_uuids, alarm_names, consumer_secret_arn, metrics_function_name: they are stale"
    )


@pytest.mark.unit
def test_no_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs: dict[str, Any] = dict.fromkeys((*send.OUTPUT_NAMES, *verify.OUTPUT_NAMES), "x")
    uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    outputs.update(region=REGION, event_source_mapping_uuids={"orders": uuid}, alarm_names=[])
    path = write_outputs(tmp_path / "outputs.json", outputs)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, _, err = run(["--outputs", str(path), "--skip-publish"], capsys)
    assert code == send.AWS
    assert err == "error: no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE\n"


@pytest.mark.unit
def test_a_queue_the_mapping_does_not_consume(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()
    code, _, err = run([*deployment.args, "--url", "amqp://guest:guest@127.0.0.1:1/", "--queue", "other"], capsys)
    assert code == send.USAGE
    assert_no_traceback(err)
    assert "the event source mapping consumes orders, not 'other'" in err


@pytest.mark.unit
def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        verify.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "    0  every check passed" in out
    assert f"    {verify.CHECK_FAILED}  a check failed" in out
    assert "--skip-publish" in out
    assert "--rotation-drill" in out
