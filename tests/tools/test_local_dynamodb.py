"""scripts/local_dynamodb.py: a DynamoDB server with the idempotency table, which the handler's
store reaches through the local mapping's settings (AWS_ENDPOINT_URL_DYNAMODB)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from rabbitmq_consumer.idempotency import DynamoDBStore
from rabbitmq_tools import local_dynamodb
from rabbitmq_tools.local_event_source_mapping import set_idempotency_environment

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[str]:
    port, stop = free_port(), threading.Event()
    runner = threading.Thread(target=local_dynamodb.main, args=(["--port", str(port), "--table", "done"], stop))
    runner.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    deadline = time.monotonic() + 30
    while not _has_table(client, "done"):
        assert time.monotonic() < deadline, "the server did not come up with its table"
        time.sleep(0.1)
    yield endpoint
    stop.set()
    runner.join(timeout=10)


def _has_table(client: Any, name: str) -> bool:
    try:
        return name in client.list_tables()["TableNames"]
    except Exception:  # not listening yet
        return False


def test_the_table_is_shaped_as_terraform_makes_it(server: str) -> None:
    client = boto3.client(
        "dynamodb", endpoint_url=server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    table = client.describe_table(TableName="done")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "key", "AttributeType": "S"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName="done")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")
    local_dynamodb.create_table(client, "done")  # again: nothing to do


def test_the_handlers_store_reaches_it_with_the_local_mappings_settings(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an environment without AWS settings, as on a laptop
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # WHEN the local mapping sets the handler's store to the local server
    set_idempotency_environment("done", server)
    # THEN the store, with the client it makes itself as in Lambda, records and reads there
    assert os.environ["IDEMPOTENCY_TABLE"] == "done"
    store = DynamoDBStore("done", 3600)
    store.record(["m-1"])
    assert store.completed(["m-1", "m-2"]) == {"m-1"}


def test_a_taken_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert local_dynamodb.main(["--port", str(taken.getsockname()[1])]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot listen on 127.0.0.1:")
    assert err.endswith("choose another --port\n")
    assert err.count("\n") == 1
