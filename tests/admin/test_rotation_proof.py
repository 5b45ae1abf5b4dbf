"""The proof that credential rotation loses nothing, run locally.

The local event source mapping consumes and `ConfirmedPublisher` (send.py's) publishes a steady
numbered stream, both reading their credentials from their Secrets Manager secrets (moto) at
every connect, while moto's own RotateSecret rotates both secrets again and again through the
rotation function (`rabbitmq_admin.rotation_handler`, run in this process by a test-only hook on moto's
Lambda invoke). After each rotation the users' connections are closed through the management
API, as a real poller reconnects at moments nobody chooses. Every message must be confirmed and
consumed, no connect refused, and each replaced password must stop working exactly when the
alternating-users design says: one rotation after it stopped being current.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pika
import pika.exceptions
import pytest

from rabbitmq_admin import bootstrap, rotation
from rabbitmq_admin.management import ManagementClient
from rabbitmq_admin.topology import dead_letter_queue_name
from rabbitmq_admin.users import alternate
from rabbitmq_tools.broker import LocalBroker
from rabbitmq_tools.credentials import from_secret, refused_by_broker
from rabbitmq_tools.local_event_source_mapping import LocalEventSourceMapping, MappingSettings, Stats
from rabbitmq_tools.publisher import ConfirmedPublisher, PublishResult
from support import MOTO_REGION, RotationFunction, Worker, message_count
from support.admin_functions import environment_for, invoke

pytestmark = [pytest.mark.integration, pytest.mark.fault_injection]

REGION = MOTO_REGION
ROTATIONS = 6  # of each secret
MESSAGES = 4_000
RATE = 200.0  # messages a second: the stream lasts 20 s, the rotations spread over it
SCHEDULE = {"AutomaticallyAfterDays": 30}  # moto turns rotation on only with a schedule
ROTATED = ("consumer", "publisher")


@dataclass
class Deployment:
    """A queue bootstrapped by the real bootstrap function, its users' secrets in moto, and the
    rotation function registered in moto's Lambda."""

    environment: dict[str, str]  # the bootstrap function's
    secrets: Any  # a boto3 Secrets Manager client of moto
    function: RotationFunction  # registered in moto's Lambda, run in this process
    broker_url: str
    management: ManagementClient

    def secret(self, role: str) -> str:
        return self.environment[f"{role.upper()}_SECRET_ARN"]

    def value(self, role: str, stage: str = "AWSCURRENT") -> dict[str, str]:
        value: dict[str, str] = json.loads(
            self.secrets.get_secret_value(SecretId=self.secret(role), VersionStage=stage)["SecretString"]
        )
        return value

    def rotate(self, role: str) -> None:
        # Moto makes the AWSPENDING version and invokes createSecret, setSecret, testSecret and
        # finishSecret, as Secrets Manager does.
        self.secrets.rotate_secret(
            SecretId=self.secret(role), RotationLambdaARN=self.function.arn, RotationRules=SCHEDULE
        )

    def force_reconnects(self, role: str) -> None:
        """Close every connection of the role's two users. By user name: the management API lists
        a connection by its name only after a statistics interval (5 s), the per-user close acts
        on the broker's connection tracking at once."""
        name = self.environment[f"{role.upper()}_USERNAME"]
        for user in (name, alternate(name)):
            self.management.delete("connections", "username", user)

    def login(self, credentials: dict[str, str]) -> str:
        """'accepted' or 'refused': a real AMQP login with these credentials."""
        parameters = pika.URLParameters(self.broker_url)
        parameters.credentials = pika.PlainCredentials(credentials["username"], credentials["password"])
        parameters.connection_attempts = 1
        try:
            with pika.BlockingConnection(parameters):
                return "accepted"
        except pika.exceptions.AMQPConnectionError as exc:
            if refused_by_broker(exc) and "ACCESS_REFUSED" in str(exc):
                return "refused"
            raise


@pytest.fixture
def deployment(
    broker: LocalBroker,
    broker_url: str,
    management: ManagementClient,
    moto_session: boto3.session.Session,
    moto_endpoint: str,
    queue_name: str,
    rotation_function: RotationFunction,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployment]:
    secrets = moto_session.client("secretsmanager", endpoint_url=moto_endpoint)
    # The bootstrap function's environment: every role it knows, each with a secret it fills in.
    environment = {**environment_for(broker, secrets, queue_name), "DELIVERY_LIMIT": "20"}
    done = Deployment(environment, secrets, rotation_function, broker_url, management)
    monkeypatch.setenv("MANAGEMENT_URL", broker.management_url)
    monkeypatch.setenv("ADMIN_SECRET_ARN", environment["ADMIN_SECRET_ARN"])
    try:
        invoke(environment)
        yield done
    finally:
        # The queue_name fixture deletes the queue and the bootstrap's users; the clones are ours.
        for role in bootstrap.ROLES:
            for user in (f"{queue_name}-{role}", alternate(f"{queue_name}-{role}")):
                management.delete("users", user)


class Stream:
    """The mapping consuming as the consumer (its handler counts message ids) and the publisher
    publishing a numbered stream as the publisher, each in its thread, each reading its
    credentials from its secret at every connect."""

    def __init__(self, deployment: Deployment, secrets: Callable[[], Any]) -> None:
        queue = deployment.environment["QUEUE_NAME"]
        self.run_id = uuid.uuid4().hex[:8]
        self.consumed: Counter[str] = Counter()
        self.progress = PublishResult(MESSAGES)
        # The URL's user is the admin's; both clients connect as the user their secret names instead.
        parameters = pika.URLParameters(deployment.broker_url)
        self.mapping = LocalEventSourceMapping(
            parameters,
            MappingSettings(queue, batch_size=50, batching_window=0.05),
            self._count,
            credentials=from_secret(deployment.secret("consumer"), client=secrets()),
        )
        self.publisher = ConfirmedPublisher(
            parameters,
            queue,
            window=100,
            rate=RATE,
            on_progress=self._keep,
            credentials=from_secret(deployment.secret("publisher"), client=secrets()),
        )
        self.publishing = Worker(lambda: self.publisher.publish(MESSAGES, self._message), name="publisher")
        # Until no message came for 3 s: the publisher is done and the queue drained.
        self.consuming = Worker(lambda: self.mapping.run(idle_timeout=3), name="mapping")

    @property
    def ids(self) -> set[str]:
        return {self._id(index) for index in range(MESSAGES)}

    def start(self) -> None:
        self.publishing.start()
        self.consuming.start()

    def wait_until_confirmed(self, count: int) -> None:
        while self.progress.confirmed < count and self.publishing.is_alive():
            time.sleep(0.05)
        assert self.publishing.is_alive(), f"the stream ended before {count} were confirmed: raise MESSAGES"

    def finish(self) -> tuple[PublishResult, Stats]:
        for worker in (self.publishing, self.consuming):
            worker.join(60)
            assert not worker.is_alive(), f"the {worker.name} did not finish"
            assert worker.error is None, f"the {worker.name} failed: {worker.error!r}"
        result: PublishResult = self.publishing.result
        return result, self.mapping.stats

    def _id(self, index: int) -> str:
        return f"{self.run_id}-{index:06d}"

    def _message(self, index: int) -> tuple[bytes, pika.BasicProperties]:
        body = json.dumps({"index": index}).encode()
        return body, pika.BasicProperties(delivery_mode=2, message_id=self._id(index))

    def _count(self, event: dict[str, Any], context: Any) -> None:
        for records in event["rmqMessagesByQueue"].values():
            self.consumed.update(record["basicProperties"]["messageId"] for record in records)

    def _keep(self, result: PublishResult) -> None:
        self.progress = result


def test_rotations_under_a_steady_stream_lose_nothing(
    deployment: Deployment,
    moto_endpoint: str,
    moto_session: boto3.session.Session,
    channel: Any,
    report_figures: Callable[..., None],
) -> None:
    # GIVEN the mapping consuming and the publisher publishing, as their users
    stream = Stream(deployment, lambda: moto_session.client("secretsmanager", endpoint_url=moto_endpoint))
    stream.start()
    # WHEN each secret is rotated ROTATIONS times, spread over the stream, and after each
    # rotation the role's connections are closed, so the client reconnects with what it reads
    before: dict[str, list[dict[str, str]]] = {role: [] for role in ROTATED}  # AWSCURRENT before rotation k
    refusals = 0
    order = [role for _ in range(ROTATIONS) for role in ROTATED]
    for turn, role in enumerate(order, start=1):
        stream.wait_until_confirmed(turn * MESSAGES // (len(order) + 1))
        before[role].append(deployment.value(role))
        deployment.rotate(role)
        k = len(before[role])
        current, previous = deployment.value(role), deployment.value(role, "AWSPREVIOUS")
        # THEN the two labelled versions log in, and the replaced password stops exactly one
        # rotation after it stopped being current: after rotation k, the one current before k-1
        assert previous == before[role][-1]
        assert current["username"] == alternate(previous["username"])
        assert (deployment.login(current), deployment.login(previous)) == ("accepted", "accepted")
        if k >= 2:
            assert deployment.login(before[role][k - 2]) == "refused", f"{role}: rotation {k}"
            refusals += 1
        deployment.force_reconnects(role)
    result, stats = stream.finish()
    consumed = stream.consumed
    lost = stream.ids - set(consumed)
    report_figures(
        published=result.count,
        confirmed=result.confirmed,
        consumed_ids=len(set(consumed) & stream.ids),
        duplicates=sum(consumed.values()) - len(consumed),
        lost=len(lost),
        authentication_failures=stats.authentication_failures,
        reconnects=stats.reconnects + result.reconnects,
        rotations=len(order),
        replaced_passwords_refused=refusals,
    )
    # THEN every message was confirmed and consumed at least once, and no connect was refused
    assert (result.confirmed, result.nacked, result.unroutable) == (MESSAGES, 0, 0)
    assert lost == set()
    assert set(consumed) == stream.ids
    assert stats.authentication_failures == 0
    # AND each forced close made its client reconnect; every rotation ran its four steps
    assert stats.reconnects >= ROTATIONS
    assert result.reconnects >= ROTATIONS
    assert deployment.function.steps == list(rotation.STEPS) * len(order)
    assert refusals == len(ROTATED) * (ROTATIONS - 1)
    queue = deployment.environment["QUEUE_NAME"]
    assert message_count(channel, queue) == 0
    assert message_count(channel, dead_letter_queue_name(queue)) == 0
