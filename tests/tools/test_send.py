"""scripts/send.py against the real broker: the happy paths, and every fault provoked for real
(wrong password, nothing listening, an untrusted certificate, missing queues, nacks,
unroutable messages, connections cut by a proxy, Ctrl-C), each with its exit code and message; and
the ordering key's header, on one queue or through the shards' exchange."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import boto3
import pika
import pika.exceptions
import pytest
from moto import mock_aws

from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_admin.users import generate_password
from rabbitmq_tools import publisher, send
from rabbitmq_tools.bootstrap import BrokerSetup, write_credentials
from rabbitmq_tools.project import EXAMPLE_MESSAGE
from rabbitmq_tools.publisher import ConfirmedPublisher, PublishResult, UnpublishableMessage
from support import ROOT, Worker, drain, message_count, url_as, url_via, wait_for
from support.tcp_proxy import TcpProxy
from support.tls import self_signed_certificate, server_context

pytestmark = pytest.mark.integration

REGION = "eu-west-1"


@pytest.fixture
def tls_proxy(broker_address: tuple[str, int], tmp_path: Path) -> Iterator[tuple[TcpProxy, Path]]:
    """A TLS endpoint in front of the broker, with a certificate no system CA trusts."""
    cert, key = self_signed_certificate(tmp_path)
    with TcpProxy(broker_address, tls=server_context(cert, key)) as proxy:
        yield proxy, cert


def run_send(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = send.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def ids_on(channel: Any, queue: str) -> list[str]:
    return [props.message_id for props, _ in drain(channel, queue)]


# --- publishing ---------------------------------------------------------------------------


def test_publishes_example_message_once(
    broker_url: str, channel: Any, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_send(["--url", broker_url, "--queue", topology.queue], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"sent 1 message to queue '{topology.queue}' on vhost '/': message id ")
    ((props, body),) = drain(channel, topology.queue)
    assert body == (ROOT / "example-message.json").read_bytes()
    assert (props.content_type, props.delivery_mode, props.app_id) == ("application/json", 2, "send.py")
    assert props.message_id in out


def test_publishes_many_with_unique_ids(
    broker_url: str, channel: Any, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_send(["--url", broker_url, "--queue", topology.queue, "--count", "2000", "--json"], capsys)
    summary = json.loads(out)
    assert code == 0
    assert (summary["count"], summary["sent"], summary["confirmed"], summary["nacked"]) == (2000, 2000, 2000, 0)
    assert summary["messages_per_second"] > 0
    ids = ids_on(channel, topology.queue)
    assert len(ids) == len(set(ids)) == 2000
    assert summary["first_message_id"] in ids


def test_file_stdin_headers_content_type_and_rate(
    broker_url: str,
    channel: Any,
    topology: Topology,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello")))
    started = time.monotonic()
    code, _, _ = run_send(
        [
            "--url",
            broker_url,
            "--queue",
            topology.queue,
            "--file",
            "-",
            "--content-type",
            "text/plain",
            "--header",
            "tenant=acme",
            "--header",
            "attempt=3",
            "--count",
            "5",
            "--rate",
            "10",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0
    assert time.monotonic() - started >= 0.35  # 5 messages at 10/s
    messages = drain(channel, topology.queue)
    assert [body for _, body in messages] == [b"hello"] * 5
    assert all((props.headers["tenant"], props.headers["attempt"]) == ("acme", 3) for props, _ in messages)
    assert all(props.content_type == "text/plain" for props, _ in messages)


def test_credentials_from_the_environment(
    broker_url: str,
    channel: Any,
    topology: Topology,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = urlsplit(broker_url)
    monkeypatch.setenv("RABBITMQ_USERNAME", parts.username or "")
    monkeypatch.setenv("RABBITMQ_PASSWORD", "not-the-password")
    url_without_credentials = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))
    code, _, err = run_send(["--url", url_without_credentials, "--queue", topology.queue], capsys)
    assert code == send.REFUSED
    assert "refused the credentials" in err
    monkeypatch.setenv("RABBITMQ_PASSWORD", parts.password or "")
    assert run_send(["--url", url_without_credentials, "--queue", topology.queue], capsys)[0] == 0
    assert message_count(channel, topology.queue) == 1


def test_tls_with_a_trusted_ca_file(
    broker_url: str,
    channel: Any,
    topology: Topology,
    tls_proxy: tuple[TcpProxy, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    proxy, cert = tls_proxy
    url = url_via(broker_url, proxy.port, scheme="amqps")
    code, _, err = run_send(["--url", url, "--queue", topology.queue, "--ca-file", str(cert)], capsys)
    assert (code, err) == (0, "")
    assert message_count(channel, topology.queue) == 1


# --- the deployed path: Terraform outputs and Secrets Manager (moto) ------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def write_outputs(path: Path, **values: Any) -> Path:
    path.write_text(
        json.dumps({name: {"sensitive": False, "type": "string", "value": v} for name, v in values.items()})
    )
    return path


def deployed_outputs(tmp_path: Path, endpoint: str, secret_arn: str, queue: str, **overrides: Any) -> Path:
    values = {
        "region": REGION,
        "amqps_endpoint": endpoint,
        "publisher_secret_arn": secret_arn,
        "queue_name": queue,
        "virtual_host": "/",
        "max_message_size": 134217728,
        "function_name": "rabbitmq-consumer",
        **overrides,
    }
    return write_outputs(tmp_path / "outputs.json", **{k: v for k, v in values.items() if v is not None})


def test_default_path_reads_outputs_and_the_publishers_secret(
    channel: Any,
    broker_setup: BrokerSetup,
    tls_proxy: tuple[TcpProxy, Path],
    aws: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN Terraform outputs naming a TLS endpoint and the secret the bootstrap wrote for the publisher
    proxy, cert = tls_proxy
    publisher, queue = broker_setup.publisher, broker_setup.topology.queue
    secret = aws.create_secret(
        Name="publisher-credentials",
        SecretString=json.dumps({"username": publisher.name, "password": publisher.password}),
    )
    outputs = deployed_outputs(tmp_path, f"amqps://localhost:{proxy.port}", secret["ARN"], queue)
    # WHEN send.py runs with only the outputs (and the test CA)
    code, out, err = run_send(["--outputs", str(outputs), "--ca-file", str(cert)], capsys)
    # THEN the message is on the deployed queue, over TLS, published as the publisher
    assert (code, err) == (0, "")
    assert f"queue '{queue}' on vhost '/'" in out
    ((properties, _),) = drain(channel, queue)
    assert properties.app_id == "send.py"
    assert proxy.connections >= 2  # the check that the queues exist, then the publisher


@pytest.mark.parametrize(
    ("secret_string", "error"),
    [
        (json.dumps({"username": "admin"}), "is not JSON with a username and a password"),
        ("not json", "is not JSON with a username and a password"),
        (json.dumps({"username": "", "password": "x"}), "has an empty or non-string username or password"),
    ],
)
def test_malformed_secret(
    aws: Any, tmp_path: Path, secret_string: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = aws.create_secret(Name="bad", SecretString=secret_string)
    outputs = deployed_outputs(tmp_path, "amqps://localhost:1", secret["ARN"], "orders")
    code, _, err = run_send(["--outputs", str(outputs)], capsys)
    assert code == send.AWS
    assert error in err


@pytest.mark.parametrize(("extra", "code"), [(1, send.USAGE), (0, send.UNREACHABLE)])
def test_body_over_the_deployed_brokers_max_message_size_is_refused(
    aws: Any, tmp_path: Path, extra: int, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a deployed RabbitMQ 4.x broker (512 KiB bodies at most) and a body one byte over, or exactly at, it
    limit = 512 * 1024
    secret = aws.create_secret(Name="creds", SecretString=json.dumps({"username": "u", "password": "p"}))
    outputs = deployed_outputs(tmp_path, "amqps://localhost:1", secret["ARN"], "orders", max_message_size=limit)
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"pad": "x" * (limit + extra - 11)}))
    assert body.stat().st_size == limit + extra
    # WHEN send.py is asked to publish it
    result, _, err = run_send(["--outputs", str(outputs), "--file", str(body)], capsys)
    # THEN over the limit it stops before connecting, with one line naming the limit and the fix;
    # at the limit it goes on (and here meets the unreachable endpoint)
    assert result == code
    if extra:
        assert err.count("\n") == 1
        assert f"is over the {limit:,}-byte max_message_size of the deployed broker" in err
        assert "raise the limit with a broker configuration" in err


def test_secret_not_found_means_stale_outputs(aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:gone-AbCdEf"
    outputs = deployed_outputs(tmp_path, "amqps://localhost:1", arn, "orders")
    code, _, err = run_send(["--outputs", str(outputs)], capsys)
    assert code == send.AWS
    assert (
        err.strip()
        == f"error: secret {arn} not found in {REGION}: the Terraform outputs are stale, run terraform apply"
    )


def test_no_aws_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:x"
    code, _, err = run_send(["--outputs", str(deployed_outputs(tmp_path, "amqps://h:1", arn, "orders"))], capsys)
    assert code == send.AWS
    assert err.strip() == "error: no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{}", "there are no Terraform outputs: run terraform apply first"),
        ("not json", "is not Terraform's JSON output format"),
        (json.dumps({"region": {"value": "eu-west-1"}}), "the Terraform outputs lack amqps_endpoint, "),
    ],
)
def test_missing_or_stale_outputs(tmp_path: Path, content: str, error: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(content)
    code, _, err = run_send(["--outputs", str(path)], capsys)
    assert code == send.OUTPUTS
    assert error in err
    assert len(err.strip().splitlines()) == 1


def test_outputs_file_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_send(["--outputs", str(tmp_path / "nope.json")], capsys)
    assert code == send.OUTPUTS
    assert "cannot read Terraform outputs from" in err


def test_terraform_output_without_state(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No --outputs: send.py runs `terraform output -json` in the repository root, whose state
    # (if any) is not ours; point it at an empty directory instead.
    monkeypatch.setattr(send, "ROOT", tmp_path)
    code, _, err = run_send([], capsys)
    assert code == send.OUTPUTS
    assert err.startswith(
        (
            "error: there are no Terraform outputs",
            "error: `terraform output -json` failed",
            "error: terraform is not installed",
        )
    )


# --- bad input ------------------------------------------------------------------------------


def test_invalid_json_is_refused_unless_allowed(
    broker_url: str, channel: Any, topology: Topology, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, _, err = run_send(["--url", broker_url, "--queue", topology.queue, "--file", str(bad)], capsys)
    assert code == send.USAGE
    assert "the body is not valid JSON" in err
    assert "--allow-invalid" in err
    code, _, _ = run_send(
        ["--url", broker_url, "--queue", topology.queue, "--file", str(bad), "--allow-invalid"], capsys
    )
    assert code == 0
    assert message_count(channel, topology.queue) == 1


def test_body_too_large_for_a_lambda_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 4_800_000)
    code, _, err = run_send(["--url", "amqp://localhost:1/", "--file", str(big), "--content-type", "x/y"], capsys)
    assert code == send.USAGE
    assert "a 4,800,000-byte body makes a 6,400," in err
    assert "over the 6,291,456-byte limit (Lambda would drop it)" in err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--header", "novalue"], "--header 'novalue' is not KEY=VALUE"),
        (["--file", "/nonexistent/message.json"], "cannot read the message file /nonexistent/message.json"),
        (["--url", "http://localhost/"], "broker URL must start with amqp:// or amqps://"),
        (["--url", "localhost:5672"], "broker URL must start with amqp:// or amqps://, it has no scheme"),
        (["--url", "amqps://h/?ssl_options=%7B%7D"], "ssl_options in the broker URL are not accepted"),
        # pika reads these two with ast.literal_eval: a SyntaxError, a TypeError, a ValueError
        (["--url", "amqp://h/?tcp_options=%7Bbad"], "tcp_options in the broker URL is not a Python literal"),
        (["--url", "amqp://h/?tcp_options=%7B%5B%5D:1%7D"], "tcp_options in the broker URL is not a Python literal"),
        (["--url", "amqp://h/?client_properties=os.name"], "client_properties in the broker URL is not a Python"),
        (["--url", "amqp://h/?tcp_options=5"], "pika cannot use the broker URL: tcp_options must be a dict or None"),
        (["--url", "amqp://h/?heartbeat=often"], "pika cannot use the broker URL: Invalid heartbeat value 'often'"),
        (["--url", "amqp://h/?nope=1"], "pika cannot use the broker URL: Unknown URL parameter: 'nope'"),
        (["--url", "amqp://guest@h/"], "the broker URL has a user name but no password"),
        (["--url", "amqp://h:http/"], "the broker URL's port is not a number from 0 to 65535"),
        (["--header", f"{'k' * 256}=v"], "is over AMQP's 255 bytes: use a shorter name"),
        (["--header", f"x={2**63}"], f"--header x: {2**63} is beyond AMQP's signed 64-bit integers"),
        (["--header", f"x={-(2**63) - 1}"], "is beyond AMQP's signed 64-bit integers (-9223372036854775808 to "),
        (["--header", "x=caf\udce9"], "--header x=caf\\xe9 is not UTF-8 text"),
        (["--header", f"x={'9' * 5000}"], f"--header x: {'9' * 19}... is beyond AMQP's signed 64-bit integers"),
    ],
)
def test_bad_input(args: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    # --quiet: an error is printed all the same
    code, out, err = run_send(["--url", "amqp://localhost:1/", "--quiet", *args], capsys)
    assert code == send.USAGE
    assert error in err
    assert (err.count("\n"), out) == (1, "")


def test_a_password_with_an_unquoted_slash_is_not_quoted_as_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    # urllib reads amqp://guest:Pw/x@h/ as host "guest" and port "Pw", and its error quotes the port
    code, _, err = run_send(["--url", "amqp://guest:Pw/x@h/"], capsys)
    assert code == send.USAGE
    assert "Pw" not in err
    assert "in a password, write / ? # @ and : as %2F %3F %23 %40 and %3A" in err


def test_header_values(capsys: pytest.CaptureFixture[str]) -> None:
    # numbers are ASCII digits with an optional minus: anything else, even what str.isdigit() or
    # int() accept, stays a string
    pairs = [
        "a=--5",
        "b=²",
        "c=-5",
        "d=007",
        "e= 7",
        "f=1_000",
        "g=٣",
        f"max={2**63 - 1}",
        f"min={-(2**63)}",
        "h=",
        f"z={'0' * 30}1",
    ]
    assert send.parse_headers(pairs) == {
        "a": "--5",
        "b": "²",
        "c": -5,
        "d": 7,
        "e": " 7",
        "f": "1_000",
        "g": "٣",
        "max": 2**63 - 1,
        "min": -(2**63),
        "h": "",
        "z": 1,
    }


def test_headers_that_look_like_numbers_are_published_as_strings(
    broker_url: str, channel: Any, topology: Topology, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--url", broker_url, "--queue", topology.queue, "--header", "x=--5", "--header", "y=²"]
    args += ["--header", f"z={-(2**63)}"]
    code, _, err = run_send(args, capsys)
    assert (code, err) == (0, "")
    ((props, _),) = drain(channel, topology.queue)
    assert (props.headers["x"], props.headers["y"], props.headers["z"]) == ("--5", "²", -(2**63))


def test_a_message_pika_cannot_encode_stops_the_run_and_is_not_counted_done(
    broker_url: str, channel: Any, topology: Topology
) -> None:
    # GIVEN a message with a header integer beyond AMQP's 64 bits (send.py refuses it earlier)
    sender = ConfirmedPublisher(pika.URLParameters(broker_url), topology.queue)
    good = pika.BasicProperties(message_id="good")
    bad = pika.BasicProperties(message_id="bad", headers={"n": 2**64})
    # WHEN it is published THEN the run stops, naming the message and the cause, with it unconfirmed
    with pytest.raises(
        UnpublishableMessage, match=r"pika cannot encode message bad: error\('int too large to convert'\)"
    ) as raised:
        sender.publish(3, lambda i: (b"{}", bad if i == 1 else good))
    assert raised.value.result.confirmed < 3
    assert "bad" not in ids_on(channel, topology.queue)


@pytest.mark.parametrize("args", [["--count", "0"], ["--rate", "-1"], ["--window", "0"], ["--nope"]])
def test_bad_options(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        send.main(args)
    assert exit_info.value.code == send.USAGE


def test_help_documents_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        send.main(["--help"])
    out = capsys.readouterr().out
    for code, meaning in send.EXIT_CODES.items():
        assert f"{code:>3}  {meaning}" in out


def test_reference_page_lists_the_exit_codes_send_uses() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", (ROOT / "docs" / "send.md").read_text(), re.M)
    documented = {int(code): meaning.replace("`", "") for code, meaning in rows}
    assert documented == {code: meaning.replace("`", "") for code, meaning in send.EXIT_CODES.items()}


# --- the broker refuses ---------------------------------------------------------------------


def test_wrong_password(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    parts = urlsplit(broker_url)
    url = urlunsplit((parts.scheme, f"{parts.username}:wrong@{parts.hostname}:{parts.port}", parts.path, "", ""))
    code, _, err = run_send(["--url", url], capsys)
    assert code == send.REFUSED
    assert err.strip() == (
        f"error: RabbitMQ at {parts.hostname}:{parts.port} refused the credentials of user "
        f"'{parts.username}': check the user name and password"
    )


def test_nothing_listening(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_send(["--url", "amqp://guest:guest@127.0.0.1:1/"], capsys)
    assert code == send.UNREACHABLE
    assert err.strip() == (
        "error: cannot connect to RabbitMQ at 127.0.0.1:1: connection refused; is the broker running, the port right?"
    )


def test_unknown_host(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_send(["--url", "amqps://guest:guest@broker.invalid:5671/"], capsys)
    assert code == send.UNREACHABLE
    assert "cannot resolve the host name 'broker.invalid'" in err


def test_untrusted_certificate(
    broker_url: str, tls_proxy: tuple[TcpProxy, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    proxy, _ = tls_proxy
    code, _, err = run_send(["--url", url_via(broker_url, proxy.port, scheme="amqps")], capsys)
    assert code == send.UNREACHABLE
    assert err.startswith(f"error: TLS certificate verification failed for RabbitMQ at localhost:{proxy.port} (")
    assert "pass --ca-file (verification cannot be turned off)" in err
    assert proxy.connections == 0  # nothing got through


def test_a_missing_queue_is_the_bootstraps_to_create(
    broker_url: str, channel: Any, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN no queue: send.py declares none
    code, _, err = run_send(["--url", broker_url, "--queue", queue_name], capsys)
    assert code == send.QUEUE
    assert err.strip() == (
        f"error: queue '{queue_name}' does not exist on vhost '/' on the broker: terraform apply runs the bootstrap "
        "that creates it; locally run scripts/bootstrap.py, or check --queue and --vhost"
    )
    # WHEN any RabbitMQ's queue has no <queue>.dlq THEN --url publishes to it all the same
    channel.queue_declare(queue_name, durable=True)
    code, _, err = run_send(["--url", broker_url, "--queue", queue_name], capsys)
    assert (code, err) == (0, "")
    assert message_count(channel, queue_name) == 1


def test_the_deployments_dead_letter_queue_must_exist(
    broker_url: str, channel: Any, queue_name: str, aws: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Terraform outputs naming a queue whose dead-letter queue is missing
    parts = urlsplit(broker_url)
    secret = aws.create_secret(
        Name="publisher-credentials",
        SecretString=json.dumps({"username": unquote(parts.username or ""), "password": unquote(parts.password or "")}),
    )
    outputs = deployed_outputs(tmp_path, f"amqp://{parts.hostname}:{parts.port}", secret["ARN"], queue_name)
    channel.queue_declare(queue_name, durable=True)
    # WHEN send.py publishes to the deployment THEN it stops: the deployment's topology is broken
    code, _, err = run_send(["--outputs", str(outputs)], capsys)
    assert code == send.QUEUE
    assert err.strip() == (
        f"error: the deployment's dead-letter queue '{queue_name}.dlq', where the broker moves a message past its "
        "delivery limit, does not exist on vhost '/' on the broker: terraform apply runs the bootstrap that creates "
        "it; locally run scripts/bootstrap.py, or check --queue and --vhost"
    )
    assert message_count(channel, queue_name) == 0


def test_credentials_from_a_bootstrap_file(
    broker_url: str, channel: Any, broker_setup: BrokerSetup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the credentials file scripts/bootstrap.py writes, and a URL without credentials
    credentials = tmp_path / "credentials.json"
    write_credentials(str(credentials), "http://localhost:15672", broker_setup)
    parts = urlsplit(broker_url)
    url = urlunsplit((parts.scheme, f"{parts.hostname}:{parts.port}", parts.path, "", ""))
    # WHEN send.py publishes with it THEN it publishes as the publisher
    queue = broker_setup.topology.queue
    code, _, err = run_send(["--url", url, "--credentials", str(credentials), "--queue", queue], capsys)
    assert (code, err) == (0, "")
    assert message_count(channel, queue) == 1
    code, _, err = run_send(["--url", url, "--credentials", str(tmp_path / "none.json"), "--queue", queue], capsys)
    assert code == send.USAGE
    assert "cannot read the credentials file" in err


def test_nacks(broker_url: str, connection: Any, queue_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a queue that holds 5 messages and refuses more
    connection.channel().queue_declare(
        queue_name, durable=True, arguments={"x-max-length": 5, "x-overflow": "reject-publish"}
    )
    connection.channel().queue_declare(f"{queue_name}.dlq", durable=True)
    code, out, err = run_send(["--url", broker_url, "--queue", queue_name, "--count", "12"], capsys)
    assert code == send.NOT_CONFIRMED
    assert "confirmed 5 | nacked 7 | unroutable 0" in out
    assert err.startswith("error: the broker nacked 7 message(s) (first ")
    assert "the queue is probably full (x-max-length with reject-publish)" in err


def test_unroutable_when_the_queue_disappears(
    broker_url: str, connection: Any, channel: Any, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a queue deleted while send.py is publishing to it
    channel.queue_declare(queue_name, durable=True)
    channel.queue_declare(f"{queue_name}.dlq", durable=True)

    def delete_soon() -> None:
        time.sleep(0.5)
        with pika.BlockingConnection(pika.URLParameters(broker_url)) as other:
            other.channel().queue_delete(queue_name)

    deleter = threading.Thread(target=delete_soon)
    deleter.start()
    code, out, err = run_send(["--url", broker_url, "--queue", queue_name, "--count", "300", "--rate", "200"], capsys)
    deleter.join()
    # THEN the messages published after the deletion are reported unroutable
    assert code == send.NOT_CONFIRMED
    summary = out.split("|")
    confirmed = int(summary[1].split()[-1].replace(",", ""))
    unroutable = int(summary[3].split()[-1].replace(",", ""))
    assert confirmed > 0
    assert unroutable > 0
    assert confirmed + unroutable == 300
    assert f"message(s) returned unroutable: no queue '{queue_name}' on vhost '/' took them" in err


# --- connections cut mid-run, and Ctrl-C --------------------------------------------------------


def test_connection_cuts_are_survived_and_nothing_is_lost(
    broker_url: str,
    broker_address: tuple[str, int],
    channel: Any,
    topology: Topology,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN send.py publishing 5,000 messages through a proxy that cuts every connection 3 times
    with TcpProxy(broker_address) as proxy:
        stop = threading.Event()

        def cut_repeatedly() -> None:
            # From the publisher's connection on: the check that the queues exist comes first,
            # and a cut in its handshake would end send.py before it publishes.
            while proxy.connections < 2 and not stop.is_set():
                time.sleep(0.01)
            while proxy.cuts < 3 and not stop.is_set():
                time.sleep(0.3)
                proxy.cut()

        cutter = threading.Thread(target=cut_repeatedly)
        cutter.start()
        try:
            args = [
                "--url",
                url_via(broker_url, proxy.port),
                "--queue",
                topology.queue,
                "--count",
                "5000",
                "--rate",
                "4000",
                "--json",
            ]
            code, out, err = run_send(args, capsys)
        finally:
            stop.set()
            cutter.join()
    summary = json.loads(out)
    # THEN it reconnected, re-sent what was unconfirmed, and every message is on the queue
    assert (code, err) == (0, "")
    assert proxy.cuts == 3
    assert summary["confirmed"] == 5000
    assert summary["resent"] > 0
    ids = ids_on(channel, topology.queue)
    expected = {f"{summary['first_message_id'][:-6]}{index:06d}" for index in range(5000)}
    assert set(ids) == expected
    print(
        f"proxy test: {len(ids)} messages on the queue for 5,000 ids; re-sent {summary['resent']}, "
        f"duplicates {len(ids) - len(set(ids))}"
    )


def test_ctrl_c_reports_what_was_confirmed(broker_url: str, connection: Any, channel: Any, topology: Topology) -> None:
    runner = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "send.py"),
            "--url",
            broker_url,
            "--queue",
            topology.queue,
            "--count",
            "100000",
            "--rate",
            "500",
        ],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: message_count_or_zero(connection, topology.queue) > 100, timeout=20)
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=20)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == send.INTERRUPTED
    confirmed = int(err.strip().split("interrupted: ")[1].split(" of ")[0].replace(",", ""))
    assert confirmed > 100
    assert err.strip().endswith(f"{confirmed:,} of 100,000 messages confirmed")
    assert message_count(channel, topology.queue) >= confirmed


def message_count_or_zero(connection: Any, queue: str) -> int:
    """The queue's depth; 0 while it does not exist (a fresh channel each time: a failed
    passive declare closes the channel)."""
    try:
        return message_count(connection.channel(), queue)
    except pika.exceptions.ChannelClosedByBroker:
        return 0


def test_progress_line_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    result = PublishResult(20_000, sent=12_000, confirmed=11_500)
    progress = send.Progress(20_000)
    progress(result)
    progress.finish()
    err = capsys.readouterr().err
    assert err.startswith("\rsent 12,000/20,000 | confirmed 11,500 | ")
    assert err.endswith(" msg/s\n")


# --- reconnects with fresh credentials, a rate through reconnects, and Ctrl-C at a bad moment ----


def test_a_rate_limited_run_goes_on_after_reconnects(
    broker_url: str, broker_address: tuple[str, int], channel: Any, topology: Topology
) -> None:
    # GIVEN a publisher at 20 messages a second through a proxy (its rate timer is pending
    # nearly all the time, on the I/O loop of the connection about to be cut)
    with TcpProxy(broker_address) as proxy:
        sender = ConfirmedPublisher(pika.URLParameters(url_via(broker_url, proxy.port)), topology.queue, rate=20)
        runner = Worker(lambda: sender.publish(60, lambda i: (b"{}", pika.BasicProperties(message_id=str(i)))))
        runner.start()
        # WHEN the network cuts its connection three times
        for cut in range(3):
            time.sleep(0.4)
            proxy.cut()
            assert proxy.cuts == cut + 1
        runner.join(20)
    # THEN it went on at its rate after each reconnect, to the last message
    assert not runner.is_alive(), "the publisher stalled after a reconnect"
    assert runner.error is None
    result: PublishResult = runner.result
    assert (result.confirmed, result.reconnects) == (60, 3)
    assert set(ids_on(channel, topology.queue)) == {str(i) for i in range(60)}


# Ctrl-C at the worst moment: inside pika's transport.write(), after the frame is buffered and
# before the socket's writer is registered. A KeyboardInterrupt raised there leaves the frames
# unsent for ever, so the goodbye to the broker waited for ever (send.py ignored Ctrl-C).
CTRL_C_INSIDE_A_WRITE = """
import atexit, signal, sys, time
from pika.adapters.utils import io_services_utils
from rabbitmq_tools import send

transport = io_services_utils._AsyncPlaintextTransport
original = transport.write
writes = 0

def write(self, data):
    global writes
    writes += 1
    if writes < 500 or self.get_write_buffer_size():  # from the 500th write, when the buffer is empty
        return original(self, data)
    transport.write = original
    self._buffer_tx_data(data)
    pressed = time.monotonic()
    atexit.register(lambda: print(f"exited {time.monotonic() - pressed:.3f} s after Ctrl-C"))
    signal.raise_signal(signal.SIGINT)
    self._nbio.set_writer(self._sock.fileno(), self._on_socket_writable)

transport.write = write
raise SystemExit(send.main(sys.argv[1:]))
"""


def test_ctrl_c_inside_pikas_write_still_stops_send(broker_url: str, channel: Any, topology: Topology) -> None:
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CTRL_C_INSIDE_A_WRITE,
            "--url",
            broker_url,
            "--queue",
            topology.queue,
            "--count",
            "100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = runner.communicate(timeout=30)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == send.INTERRUPTED, err
    assert re.fullmatch(r"\ninterrupted: [\d,]+ of 100,000 messages confirmed\n", err)
    # at the loop's next safe point, not after the goodbye's time limit (a goodbye that never ends)
    assert float(out.split()[1]) < publisher.CLOSE_TIMEOUT - 1


def test_a_long_send_reads_the_publishers_secret_again_on_reconnect(
    broker_url: str,
    broker_address: tuple[str, int],
    channel: Any,
    broker_setup: BrokerSetup,
    management: ManagementClient,
    aws: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN send.py publishing a long run to the deployed queue, as the publisher of its secret
    first, queue = broker_setup.publisher, broker_setup.topology.queue
    second = dataclasses.replace(first, name=f"{first.name}_clone", password=generate_password())
    management.put("users", second.name, body={"password": second.password, "tags": ""})
    management.put("permissions", "/", second.name, body=dataclasses.asdict(second.permissions))
    secret = aws.create_secret(
        Name="publisher-credentials", SecretString=json.dumps({"username": first.name, "password": first.password})
    )

    def rotate_then_cut() -> None:
        wait_for(lambda: message_count_or_zero(channel.connection, queue) > 300, timeout=20)
        # WHEN the secret moves to another user, the first user's password changes (a rotation, one
        # step further), and the network cuts the connection
        aws.put_secret_value(
            SecretId=secret["ARN"], SecretString=json.dumps({"username": second.name, "password": second.password})
        )
        management.put("users", first.name, body={"password": generate_password(), "tags": ""})
        proxy.cut()

    try:
        with TcpProxy(broker_address) as proxy:
            outputs = deployed_outputs(tmp_path, f"amqp://localhost:{proxy.port}", secret["ARN"], queue)
            rotation = Worker(rotate_then_cut)
            rotation.start()
            code, out, err = run_send(
                ["--outputs", str(outputs), "--count", "2000", "--rate", "1000", "--json"], capsys
            )
            rotation.join(20)
    finally:
        management.delete("users", second.name)
    # THEN it reconnected as the secret's new user (the old password would be refused: exit 6)
    assert rotation.error is None
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["confirmed"] == 2000
    assert proxy.cuts == 1


@pytest.mark.parametrize(
    ("cause", "code", "message"),
    [
        (
            pika.exceptions.ConnectionClosedByBroker(403, "ACCESS_REFUSED - Login was refused"),
            send.REFUSED,
            "RabbitMQ at h:5672 refused the credentials of user 'u': check the user name and password",
        ),
        (
            pika.exceptions.StreamLostError("Transport indicated EOF"),
            send.UNREACHABLE,
            "RabbitMQ at h:5672 closed the connection during the handshake without refusing it: check the network "
            "path to the broker (a proxy, a firewall) and try again",
        ),
    ],
)
def test_only_the_brokers_refusal_is_reported_as_one(cause: BaseException, code: int, message: str) -> None:
    # pika raises ProbableAuthenticationError for both, with the text of what it saw
    failure = send.connection_failure(
        pika.exceptions.ProbableAuthenticationError(repr(cause)), pika.URLParameters("amqp://u:p@h:5672/")
    )
    assert (failure.code, str(failure)) == (code, message)


# --- the ordering key and shards -----------------------------------------------------------------
# Sharded, send.py publishes to the consistent-hash exchange, each key's messages to one shard queue,
# after checking the exchange and every shard queue exist; the key header comes from --key,
# --spread-keys or the message itself (the example: its customerId); and, unsharded, a header:<name>
# key is set too, so the function's lanes see it (docs/sharding.md).

KEY = "customer-id"
EXAMPLE_CUSTOMER = json.loads(EXAMPLE_MESSAGE.read_text())["customerId"]


@pytest.fixture
def sharded(bootstrap: Callable[..., BrokerSetup]) -> Callable[..., BrokerSetup]:
    """`sharded(shards, key)`: the bootstrap's topology of that many shards hashing `key` (conftest's
    bootstrap, which removes it afterwards)."""
    return lambda shards=3, key=f"header:{KEY}": bootstrap(shards=shards, shard_key=key)


def on_each_queue(broker_url: str, setup: BrokerSetup) -> dict[str, list[pika.BasicProperties]]:
    """Every message on each consumed queue (taken off), read as the consumer."""
    with pika.BlockingConnection(pika.URLParameters(url_as(broker_url, setup.consumer))) as connection:
        channel = connection.channel()
        return {queue: [props for props, _ in drain(channel, queue)] for queue in setup.topology.queues}


def sharded_args(broker_url: str, setup: BrokerSetup, *extra: str) -> list[str]:
    return [
        "--url",
        url_as(broker_url, setup.publisher),
        "--queue",
        setup.topology.queue,
        "--shards",
        str(setup.topology.shards),
        "--ordering-key",
        setup.topology.shard_key or "none",
        *extra,
    ]


def test_spread_keys_go_to_the_shards_each_key_to_one(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN three shards hashing the header customer-id
    setup = sharded(3)
    # WHEN send.py publishes 60 messages over 12 keys, as the publisher (who may write to the exchange only)
    code, out, err = run_send(sharded_args(broker_url, setup, "--count", "60", "--spread-keys", "12"), capsys)
    # THEN every message is confirmed and on a shard, each key's messages all on one shard, in order
    assert (code, err) == (0, "")
    assert f"exchange {setup.topology.queue!r} (3 shard queues) on vhost '/': sent 60 | confirmed 60" in out
    found = on_each_queue(broker_url, setup)
    assert sum(len(messages) for messages in found.values()) == 60
    homes: dict[str, set[str]] = {}
    for queue, messages in found.items():
        for props in messages:
            homes.setdefault(props.headers[KEY], set()).add(queue)
    assert sorted(homes) == sorted(f"key-{index}" for index in range(12))
    assert all(len(queues) == 1 for queues in homes.values()), homes
    for messages in found.values():
        ids = [props.message_id for props in messages]
        assert ids == sorted(ids)  # one poller reads a shard in publishing order
    assert sum(1 for messages in found.values() if messages) >= 2


def test_the_key_comes_from_the_message_by_default(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(2)
    code, _, err = run_send(sharded_args(broker_url, setup, "--count", "3"), capsys)  # example-message.json
    assert (code, err) == (0, "")
    (messages,) = [messages for messages in on_each_queue(broker_url, setup).values() if messages]
    assert [props.headers[KEY] for props in messages] == [EXAMPLE_CUSTOMER] * 3


def test_a_given_key_and_a_header_given_by_hand(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(2)
    code, _, err = run_send(sharded_args(broker_url, setup, "--key", "cus-1"), capsys)
    assert (code, err) == (0, "")
    code, _, err = run_send(sharded_args(broker_url, setup, "--header", f"{KEY}=cus-2"), capsys)
    assert (code, err) == (0, "")
    keys = sorted(props.headers[KEY] for messages in on_each_queue(broker_url, setup).values() for props in messages)
    assert keys == ["cus-1", "cus-2"]


def test_a_message_without_its_key_is_refused_before_publishing(
    broker_url: str, sharded: Callable[..., BrokerSetup], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(2)
    body = tmp_path / "no-customer.json"
    body.write_text('{"orderId": "ord-1"}')
    code, _, err = run_send(sharded_args(broker_url, setup, "--file", str(body)), capsys)
    assert code == send.USAGE
    assert err == (
        f"error: the message has no 'customerId' (a string or a whole number) for its ordering key, the header "
        f"'{KEY}': give --key VALUE, --key-field PATH (the field that holds it), or --spread-keys N for a load test\n"
    )
    assert sum(len(messages) for messages in on_each_queue(broker_url, setup).values()) == 0


def test_message_id_shards_need_no_header(
    broker_url: str, sharded: Callable[..., BrokerSetup], capsys: pytest.CaptureFixture[str]
) -> None:
    setup = sharded(3, "message-id")
    code, _, err = run_send(sharded_args(broker_url, setup, "--count", "30"), capsys)
    assert (code, err) == (0, "")
    found = on_each_queue(broker_url, setup)
    assert sum(len(messages) for messages in found.values()) == 30
    assert all(messages for messages in found.values())  # unique ids spread over every shard
    assert not [props for messages in found.values() for props in messages if KEY in (props.headers or {})]


@pytest.mark.parametrize("missing", ["exchange", "shard"])
def test_a_missing_exchange_or_shard_queue_is_the_bootstraps_to_create(
    broker_url: str,
    management: ManagementClient,
    sharded: Callable[..., BrokerSetup],
    missing: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup = sharded(3)
    queue = setup.topology.queue
    if missing == "exchange":
        management.delete("exchanges", "/", queue)
        error = (
            f"error: exchange {queue!r}, which sends each message to a shard queue, does not exist on vhost '/': "
            "terraform apply runs the bootstrap that creates it; locally run scripts/bootstrap.py --shards N, or "
            "check --shards and --queue\n"
        )
    else:
        management.delete("queues", "/", f"{queue}.shard-2")
        error = (
            f"error: queue '{queue}.shard-2' does not exist on vhost '/' on the broker: terraform apply runs the "
            "bootstrap that creates it; locally run scripts/bootstrap.py, or check --queue and --vhost\n"
        )
    code, _, err = run_send(sharded_args(broker_url, setup, "--spread-keys", "3"), capsys)
    assert (code, err) == (send.QUEUE, error)


def test_shards_need_a_key_the_exchange_hashes(broker_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_send(["--url", broker_url, "--shards", "3", "--ordering-key", "json:customerId"], capsys)
    assert code == send.USAGE
    assert err == (
        "error: 3 shards need an ordering key the exchange can hash, header:<name> or message-id (header:customer-id "
        "keeps each customer's messages in order; message-id keeps no order), got 'json:customerId': check --queue, "
        "--shards and --ordering-key\n"
    )


@pytest.mark.parametrize("shards", ["0", "11"])
def test_a_shard_count_out_of_range_is_refused(
    broker_url: str, capsys: pytest.CaptureFixture[str], shards: str
) -> None:
    code, _, err = run_send(["--url", broker_url, "--shards", shards, "--ordering-key", "message-id"], capsys)
    assert code == send.USAGE
    assert err == (
        f"error: the shard count must be a whole number from 1 to 10, got {shards}: check --queue, --shards and "
        "--ordering-key\n"
    )


@pytest.mark.parametrize("shards", [1, 3])
def test_the_deployments_outputs_say_where_to_publish_and_which_header_holds_the_key(
    broker_url: str,
    sharded: Callable[..., BrokerSetup],
    aws: Any,
    shards: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The Terraform outputs name the consumed queues, the exchange and the ordering key. Unsharded with a
    header key, the header is set too, for the function's lanes."""
    setup = sharded(shards)
    topology, publisher = setup.topology, setup.publisher
    secret = aws.create_secret(
        Name=f"publisher-{topology.queue}",
        SecretString=json.dumps({"username": publisher.name, "password": publisher.password}),
    )["ARN"]
    parts = urlsplit(broker_url)
    outputs = deployed_outputs(
        tmp_path,
        f"amqp://{parts.hostname}:{parts.port}",
        secret,
        topology.queue,
        consumed_queues=list(topology.queues),
        publish_exchange=topology.exchange,
        ordering_key=f"header:{KEY}",
    )
    code, out, err = run_send(["--outputs", str(outputs), "--key", "cus-9"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith(f"sent 1 message to {'exchange' if shards > 1 else 'queue'} {topology.queue!r}")
    found = on_each_queue(broker_url, setup)
    assert [props.headers[KEY] for messages in found.values() for props in messages] == ["cus-9"]
