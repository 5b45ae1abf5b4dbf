"""A DynamoDB server for the idempotency store's tests: moto's, over HTTP, as strict as DynamoDB on
the batch limits the store relies on and able to throttle (support/strict_aws.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from rabbitmq_tools.local_dynamodb import create_table
from support import MOTO_REGION, strict_aws
from support.terraform_harness import moto_server


@pytest.fixture(scope="module")
def dynamodb_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def dynamodb(dynamodb_endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        region_name=MOTO_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def idempotency_table(dynamodb: Any) -> str:
    """A new table shaped as Terraform makes it (partition key `key`, string; on demand; TTL)."""
    name = f"idempotency-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, name)
    return name


@pytest.fixture
def throttle() -> Iterator[strict_aws.Throttle]:
    """The server's throttle (`calls` to throttle, `leave` keys or requests each), off afterwards."""
    yield strict_aws.DYNAMODB_THROTTLE
    strict_aws.DYNAMODB_THROTTLE.calls, strict_aws.DYNAMODB_THROTTLE.leave = 0, 1
