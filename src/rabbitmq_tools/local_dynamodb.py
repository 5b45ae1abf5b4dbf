"""A DynamoDB server on this machine for the handler's idempotency store in local mode.

It runs moto's DynamoDB over HTTP (the `local` extra: pip install -e '.[local]') and creates the
table as Terraform's idempotency.tf does: partition key `key` (string), on demand, TTL on
`expiresAt`. The handler then runs its own DynamoDB code against it, the local event source
mapping pointing boto3 there (AWS_ENDPOINT_URL_DYNAMODB):

    python scripts/local_dynamodb.py --port 8000 --table idempotency
    python scripts/local_event_source_mapping.py --queue orders --credentials .local/credentials.json \\
        --idempotency-table idempotency --dynamodb-endpoint http://127.0.0.1:8000

Moto keeps the table in memory: it is gone when the command stops. DynamoDB Local, AWS's own
emulator, is a download from AWS rather than a registry package, so it is not used here; moto
serves every call the handler makes (BatchGetItem, BatchWriteItem) and the ones this command
makes, where dynalite (npm) has no TTL (docs/idempotency.md, Local mode).
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

from rabbitmq_consumer.idempotency import EXPIRES_ATTRIBUTE, KEY_ATTRIBUTE

DEFAULT_PORT = 8000
DEFAULT_TABLE = "idempotency"


def create_table(client: Any, table: str) -> None:
    """The table as idempotency.tf makes it; nothing to do when it exists."""
    if table in client.list_tables()["TableNames"]:
        return
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_ATTRIBUTE}
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run a DynamoDB server (moto's) on this machine with the idempotency table, until interrupted. "
        "Exit codes: 0 stopped by Ctrl-C, 1 error."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    parser.add_argument(
        "--table", default=DEFAULT_TABLE, help=f"the idempotency table to create (default {DEFAULT_TABLE})"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None) -> int:
    """`stop` ends the server as Ctrl-C does (for tests)."""
    args = parse_args(argv)
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("error: moto's server is not installed: pip install -e '.[local]'", file=sys.stderr)
        return 1
    try:  # moto's server thread would die on a taken port and leave start() waiting for ever
        with socket.socket() as probe:
            probe.bind((args.host, args.port))
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port} ({exc.strerror}): choose another --port", file=sys.stderr
        )
        return 1
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    endpoint = f"http://{args.host}:{server.get_host_and_port()[1]}"
    try:
        client = boto3.client(  # moto checks no signature: any credentials and region will do
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        create_table(client, args.table)
        print(f"DynamoDB on {endpoint} with table {args.table}; stop with Ctrl-C. The local mapping's options:")
        print(f"  --idempotency-table {args.table} --dynamodb-endpoint {endpoint}", flush=True)
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
