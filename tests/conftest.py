from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pika
import pytest
from moto.server import ThreadedMotoServer

from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import Topology
from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.dead_letters import JsonLinesSink
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.broker import BrokerUnavailable, LocalBroker, local_broker
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import MOTO_REGION, TESTS, RotationFunction, logic


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """The command-line runner sets variables for the handler; keep them out of other tests. And
    boto3's default session, which the product's clients use, caches the credentials it first
    found: each test starts without one, as each command and each Lambda environment does."""
    with mock.patch.dict(os.environ):
        yield
    boto3.DEFAULT_SESSION = None


@pytest.fixture(autouse=True)
def _template_business_logic(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside tests/example, the handler runs the tests' own business logic (support/logic.py), not
    the example's: the template's tests hold whatever `business_logic.process` does (.ci/run
    proves it with another `process`). A handler in another process installs it itself."""
    if not request.node.path.is_relative_to(TESTS / "example"):
        monkeypatch.setattr(business_logic, "process", logic.process)


@pytest.fixture(scope="session")
def broker() -> Iterator[LocalBroker]:
    """RABBITMQ_URL (and its management API), else a Testcontainers RabbitMQ; no broker is a
    failure, never a skip."""
    try:
        with local_broker() as found:
            yield found
    except BrokerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def broker_url(broker: LocalBroker) -> str:
    """The broker's URL, as its admin user."""
    return broker.url


@pytest.fixture(scope="session")
def management(broker: LocalBroker) -> ManagementClient:
    """The broker's management API, as its admin user."""
    return broker.management_client()


@pytest.fixture
def broker_address(broker_url: str) -> tuple[str, int]:
    parts = urlsplit(broker_url)
    return parts.hostname or "localhost", parts.port or 5672


@pytest.fixture
def connection(broker_url: str) -> Iterator[Any]:
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    yield conn
    if conn.is_open:
        conn.close()


@pytest.fixture
def channel(connection: Any) -> Any:
    ch = connection.channel()
    ch.confirm_delivery()
    return ch


@pytest.fixture
def queue_name(management: ManagementClient) -> Iterator[str]:
    """A unique queue name; the queue and whatever the bootstrap made for it on vhost '/' are
    deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    BrokerSetup.new(Topology(name, 1), f"{name}-consumer", f"{name}-publisher").remove(management)


@pytest.fixture
def bootstrap(management: ManagementClient, queue_name: str) -> Iterator[Callable[..., BrokerSetup]]:
    """Bootstrap through the management API, as `terraform apply` does: `bootstrap(delivery_limit=3,
    vhost="/", queue=queue_name, shards=1, shard_key=None)` gives the topology (sharded: the hash
    exchange and its shard queues, hashing `shard_key`) and the consumer's and publisher's
    credentials. Everything it made is deleted afterwards, vhosts it created too."""
    made: list[BrokerSetup] = []
    vhosts: list[str] = []

    def make(
        delivery_limit: int = 3,
        vhost: str = "/",
        queue: str | None = None,
        shards: int = 1,
        shard_key: str | None = None,
    ) -> BrokerSetup:
        name = queue or queue_name
        if management.get("vhosts", vhost) is None:
            vhosts.append(vhost)
        topology = Topology(name, delivery_limit, vhost, shards, shard_key)
        setup = BrokerSetup.new(topology, f"{name}-consumer", f"{name}-publisher")
        made.append(setup)
        setup.apply(management)
        return setup

    yield make
    for setup in made:
        setup.remove(management)
    for vhost in vhosts:
        management.delete("vhosts", vhost)


@pytest.fixture
def broker_setup(bootstrap: Callable[..., BrokerSetup]) -> BrokerSetup:
    """A bootstrapped queue (delivery limit 3) on vhost '/', with its consumer and publisher."""
    return bootstrap()


@pytest.fixture
def topology(broker_setup: BrokerSetup) -> Topology:
    return broker_setup.topology


@pytest.fixture
def lambda_context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="test-rabbitmq-consumer")


@pytest.fixture
def dead_letter_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the handler's dead-letter sink at a fresh JSON-lines file."""
    path = tmp_path / "dead-letters.jsonl"
    monkeypatch.setattr(handler, "sink", lambda: JsonLinesSink(path))
    return path


# Figures the fault-injection tests measured, shown at the end of the run.
_FIGURES: list[str] = []


@pytest.fixture
def report_figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record what a test measured (processed, dead-lettered, duplicates, lost, ...)."""

    def report(**figures: int) -> None:
        line = f"{request.node.name}: " + ", ".join(
            f"{name.replace('_', ' ')} {value:,}" for name, value in figures.items()
        )
        _FIGURES.append(line)
        print(line)

    return report


TIERS = ("unit", "integration", "terraform")  # `make unit` runs the first: no broker, no Terraform


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is in exactly one tier, so `-m unit` never reaches for a broker or Terraform."""
    wrong = [item.nodeid for item in items if sum(item.get_closest_marker(tier) is not None for tier in TIERS) != 1]
    if wrong:
        raise pytest.UsageError(f"tests must carry exactly one of the markers {', '.join(TIERS)}: {wrong[:5]}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server for the rabbitmq_admin functions' Secrets Manager (and the Lambda and IAM
    that the rotation tests register the rotation function in)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_session(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> boto3.session.Session:
    """The environment the rabbitmq_admin functions read in Lambda (region, credentials, the
    Secrets Manager endpoint), pointed at moto, and a boto3 session with the same credentials:
    one of its own, since boto3's default one would keep them for later tests."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", MOTO_REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_endpoint)
    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=MOTO_REGION)


@pytest.fixture
def aws(moto_session: boto3.session.Session, moto_endpoint: str) -> Any:
    """A Secrets Manager client of the moto server (test_send.py and test_large_dead_letters.py
    have an `aws` of their own, for moto's in-process mock)."""
    return moto_session.client("secretsmanager", endpoint_url=moto_endpoint)


@pytest.fixture
def rotation_function(
    moto_session: boto3.session.Session,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> RotationFunction:
    """A function in moto's Lambda whose invocations run `rotation_handler.lambda_handler` here. A failing
    step stops the rotation, as it stops Secrets Manager's (moto would go on to the next step), and
    RotateSecret answers RotationFailed with the step's message: a code of this double's own, since
    AWS's RotateSecret only starts the rotation, asynchronously (API Reference, RotateSecret)."""
    from moto.awslambda import models as lambda_models
    from moto.core.exceptions import JsonRESTError

    from rabbitmq_admin import rotation_handler
    from rabbitmq_admin.errors import AdminError

    iam = moto_session.client("iam", endpoint_url=moto_endpoint)
    name = f"rotation-{abs(hash(request.node.nodeid))}"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arn = moto_session.client("lambda", endpoint_url=moto_endpoint).create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="rabbitmq_admin.rotation_handler.lambda_handler",
        Code={"ZipFile": b"PK\x05\x06" + bytes(18)},  # an empty zip: the code runs here
    )["FunctionArn"]
    function = RotationFunction(arn)

    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        event = json.loads(body)
        function.invocations.append(event)
        if function.run:
            try:
                rotation_handler.lambda_handler(event, None)
            except AdminError as exc:
                raise JsonRESTError("RotationFailed", f"{event['Step']}: {exc}") from None
        return b"null"

    monkeypatch.setattr(lambda_models.LambdaBackend, "invoke", invoke)
    return function
