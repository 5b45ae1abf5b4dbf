"""scripts/verify.py: the AWS side against moto (extended by strict_aws to accept an Amazon MQ
event source), the broker side against the real RabbitMQ. Lambda's part is played by the local
event source mapping running the real handler: its log lines go to the function's log group and
its dead letters to the SQS queue through the real SqsSink, so a change of either format breaks
these tests."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pika
import pytest
from moto import mock_aws
from strict_aws import extend_moto

from rabbitmq_admin.topology import Topology
from rabbitmq_consumer import handler
from rabbitmq_consumer.dead_letters import SqsSink
from rabbitmq_tools import send, verify
from rabbitmq_tools.local_event_source_mapping import LocalEventSourceMapping, MappingSettings
from rabbitmq_tools.project import EXAMPLE_MESSAGE
from support import drain

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


@dataclass
class Deployment:
    outputs: dict[str, Any]
    path: Path  # the outputs, as `terraform output -json` writes them
    log_level: str  # the function's POWERTOOLS_LOG_LEVEL
    status: dict[str, Any] = field(default_factory=dict)  # GetEventSourceMapping fields moto cannot know

    @property
    def args(self) -> list[str]:
        return ["--outputs", str(self.path), *FAST]


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


@pytest.fixture
def deploy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mapping_status: dict[str, Any]
) -> Iterator[Callable[..., Deployment]]:
    """`deploy(queue, log_level)`: what terraform apply creates, in moto, and its outputs file."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    extend_moto(monkeypatch)

    def create(queue: str = "orders", log_level: str = "DEBUG") -> Deployment:
        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

        password = "Stand-in_password.1234"
        broker = client("mq").create_broker(
            BrokerName=f"{NAME}-broker",
            EngineType="RABBITMQ",
            EngineVersion="3.13",
            HostInstanceType="mq.m7g.medium",
            DeploymentMode="SINGLE_INSTANCE",
            PubliclyAccessible=True,
            AutoMinorVersionUpgrade=True,
            Users=[{"Username": "admin", "Password": password}],
        )
        instance = client("mq").describe_broker(BrokerId=broker["BrokerId"])["BrokerInstances"][0]
        secret = client("secretsmanager").create_secret(
            Name=f"{NAME}-broker", SecretString=json.dumps({"username": "admin", "password": password})
        )
        # what the bootstrap writes: the mapping's user and send.py's
        user_secrets = {
            role: client("secretsmanager").create_secret(
                Name=f"{NAME}-broker-{role}", SecretString=json.dumps({"username": role, "password": password})
            )["ARN"]
            for role in ("consumer", "publisher")
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
        mapping = client("lambda").create_event_source_mapping(
            EventSourceArn=broker["BrokerArn"],
            FunctionName=f"{NAME}-consumer",
            Queues=[queue],
            SourceAccessConfigurations=[
                {"Type": "BASIC_AUTH", "URI": user_secrets["consumer"]},
                {"Type": "VIRTUAL_HOST", "URI": "/"},
            ],
        )
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
            "broker_id": broker["BrokerId"],
            "broker_arn": broker["BrokerArn"],
            "broker_name": f"{NAME}-broker",
            "amqps_endpoint": instance["Endpoints"][0],
            "console_url": instance["ConsoleURL"],
            "credentials_secret_arn": secret["ARN"],
            "consumer_secret_arn": user_secrets["consumer"],
            "publisher_secret_arn": user_secrets["publisher"],
            "queue_name": queue,
            "virtual_host": "/",
            "delivery_limit": 20,
            "max_message_size": 134217728,
            "function_name": f"{NAME}-consumer",
            "log_group_name": GROUP,
            "dead_letter_queue_url": dead_letters,
            "event_source_mapping_uuid": mapping["UUID"],
            "alarm_topic_arn": None,
            "alarm_names": list(ALARMS),
        }
        return Deployment(outputs, write_outputs(tmp_path / "outputs.json", outputs), log_level, mapping_status)

    with mock_aws():
        yield create


def write_outputs(path: Path, outputs: dict[str, Any]) -> Path:
    path.write_text(json.dumps({name: {"sensitive": False, "value": value} for name, value in outputs.items()}))
    return path


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]], str]:
    """verify.main: exit code, report {check: (ok|FAILED, detail)}, stderr."""
    code = verify.main(args)
    out, err = capsys.readouterr()
    report = {
        line[8:21].strip(): (line[:8].strip(), line[21:])
        for line in out.splitlines()
        if line.startswith(("ok ", "FAILED "))  # the handler's EMF documents share stdout
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
    """`start(deployment, queue)`: the local event source mapping, in a thread, invokes the real
    handler on the queue's messages; what the handler logs goes to the log group, its dead letters
    to the SQS queue (the real SqsSink) and the mapping reports LastProcessingResult OK."""
    threads: list[tuple[threading.Thread, Invocations]] = []

    def start(deployment: Deployment, queue: str) -> Invocations:
        outputs = deployment.outputs
        logs, sqs = boto3.client("logs", region_name=REGION), boto3.client("sqs", region_name=REGION)
        monkeypatch.setattr(handler, "sink", lambda: SqsSink(outputs["dead_letter_queue_url"], sqs))
        stream = io.StringIO()
        monkeypatch.setattr(handler.logger.registered_handler, "stream", stream)
        previous_level = handler.logger.log_level
        handler.logger.setLevel(deployment.log_level)
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
        mapping = LocalEventSourceMapping(pika.URLParameters(broker_url), settings, invoke)

        def consume() -> None:
            try:
                mapping.run(max_messages=2, idle_timeout=15)
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
    topology: Topology,
    log_level: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment whose mapping consumes a fresh queue, and an older dead letter in SQS
    deployment = deploy(queue=topology.queue, log_level=log_level)
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
    assert list(report) == ["mapping", "publish", "function", "dead letter", "processing", "alarms"]
    assert {status for status, _ in report.values()} == {"ok"}
    valid, poison = marker_in(report["publish"][1], "ok"), marker_in(report["publish"][1], "poison")
    # AND the function received both messages under their markers: the example order and a poison
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
    topology: Topology,
    channel: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a deployment whose function never runs
    deployment = deploy(queue=topology.queue)
    # WHEN verify.py waits a short time
    code, report, err = run(
        [*deployment.args, "--url", broker_url, "--queue", topology.queue, "--timeout", "0.3"],
        capsys,
    )
    # THEN the log and dead-letter checks fail, each with its cause and fix on stderr
    assert code == verify.CHECK_FAILED
    assert (report["function"][0], report["dead letter"][0]) == ("FAILED", "FAILED")
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


# --- states only --------------------------------------------------------------------------------


@pytest.mark.unit
def test_skip_publish_reads_the_states(deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]) -> None:
    deployment = deploy()
    deployment.status["LastProcessingResult"] = "OK"
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert (code, err) == (0, "")
    assert report == {
        "mapping": ("ok", "Enabled, consuming queue orders"),
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
            "the mapping may not reach the broker: the function's role needs mq:DescribeBroker",
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
    uuid = deployment.outputs["event_source_mapping_uuid"]
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


@pytest.mark.unit
def test_a_problem_in_the_last_processing_result(
    deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = deploy()
    deployment.status["LastProcessingResult"] = "PROBLEM: Connection error."
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["processing"] == ("FAILED", "LastProcessingResult PROBLEM: Connection error.")
    assert err.startswith("error: Lambda reports a problem with the mapping (PROBLEM: Connection error.)")


@pytest.mark.unit
def test_an_alarm_in_alarm_is_named(deploy: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]) -> None:
    deployment = deploy()
    firing = f"{NAME}-consumer-errors"
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName=firing, StateValue="ALARM", StateReason="Threshold Crossed: 1 datapoint [2.0] > 0.0"
    )
    code, report, err = run([*deployment.args, "--skip-publish"], capsys)
    assert code == verify.CHECK_FAILED
    assert report["alarms"] == ("FAILED", f"in ALARM: {firing}")
    assert err.splitlines() == [f"error: alarm {firing} is in ALARM: {ALARMS[firing]}"]


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
    assert err.startswith("error: terraform is not installed")
    # a configuration never applied: terraform output succeeds with {}
    bin_dir = fake_terraform(tmp_path / "bin", "", code=0)
    (bin_dir / "terraform").write_text("#!/bin/sh\necho '{}'\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    code, _, err = run(FAST, capsys)
    assert code == send.OUTPUTS
    assert err.strip() == (
        f"error: there are no Terraform outputs: run terraform apply first ({tmp_path} has no Terraform state, or a "
        "state without outputs), or use --url for another broker"
    )


@pytest.mark.unit
def test_outputs_older_than_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = dict.fromkeys(send.OUTPUT_NAMES, "x")
    code, _, err = run(["--outputs", str(write_outputs(tmp_path / "outputs.json", outputs))], capsys)
    assert code == send.OUTPUTS
    assert_no_traceback(err)
    assert err.startswith(
        "error: the Terraform outputs lack function_name, log_group_name, dead_letter_queue_url, "
        "event_source_mapping_uuid, alarm_names, consumer_secret_arn: they are stale"
    )


@pytest.mark.unit
def test_no_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs: dict[str, Any] = dict.fromkeys((*send.OUTPUT_NAMES, *verify.OUTPUT_NAMES), "x")
    uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    outputs.update(region=REGION, event_source_mapping_uuid=uuid, alarm_names=[])
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
