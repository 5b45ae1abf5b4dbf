"""The event builder against AWS's sample: the local mapping must build what Lambda builds."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pika
import pytest

from rabbitmq_tools.lambda_event import (
    LOCAL_BROKER_ARN,
    build_event,
    build_record,
    encode_header_value,
    format_timestamp,
)
from support import load_event

pytestmark = pytest.mark.unit

SAMPLE_BODY = b'{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}'


def sample_properties() -> pika.BasicProperties:
    """The properties of the message in AWS's sample event."""
    return pika.BasicProperties(
        content_type="text/plain",
        headers={"header1": "value1", "header2": "value2", "numberInHeader": 10},
        delivery_mode=1,
        priority=34,
        expiration="60000",
        timestamp=2021,  # 12:33:41 AM, Jan 1, 1970
        user_id="AIDACKCEVSQ6C2EXAMPLE",
    )


def test_built_event_matches_aws_sample_field_by_field() -> None:
    # GIVEN AWS's sample event and the message it carries
    sample = load_event("aws_sample")
    sample_arn = sample["eventSourceArn"]
    # WHEN the same message is built into an event
    built = build_event(sample_arn, "pizzaQueue", "/", [build_record(SAMPLE_BODY, sample_properties(), False)])
    # THEN every key, value and value type agrees
    assert built.keys() == sample.keys()
    assert built["eventSource"] == sample["eventSource"] == "aws:rmq"
    assert built["eventSourceArn"] == sample_arn
    assert built["rmqMessagesByQueue"].keys() == sample["rmqMessagesByQueue"].keys() == {"pizzaQueue::/"}
    (built_record,) = built["rmqMessagesByQueue"]["pizzaQueue::/"]
    (sample_record,) = sample["rmqMessagesByQueue"]["pizzaQueue::/"]
    assert list(built_record) == list(sample_record)
    assert built_record["data"] == sample_record["data"]
    assert built_record["redelivered"] is sample_record["redelivered"] is False
    built_props, sample_props = built_record["basicProperties"], sample_record["basicProperties"]
    assert list(built_props) == list(sample_props)
    for name, expected in sample_props.items():
        if name == "bodySize":
            # AWS's sample says 80 for a 43-byte body; the builder reports the real size.
            assert built_props[name] == len(SAMPLE_BODY)
            assert type(built_props[name]) is type(expected)
        else:
            assert built_props[name] == expected, name
            assert type(built_props[name]) is type(expected), name


def test_event_is_plain_json() -> None:
    props = pika.BasicProperties(
        headers={"d": Decimal("1.5"), "t": datetime(2026, 1, 2, tzinfo=UTC), "nested": {"s": "x"}, "list": ["y", 1]}
    )
    event = build_event(LOCAL_BROKER_ARN, "q", "/", [build_record(b"\x00\xff", props, True)])
    assert json.loads(json.dumps(event)) == event


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("välue", {"bytes": list("välue".encode())}),
        (b"\x00\xff", {"bytes": [0, 255]}),
        (7, 7),
        (True, True),
        (None, None),
        (Decimal("2"), 2),
        (Decimal("2.5"), 2.5),
        (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), 1000),
        ({"a": "b"}, {"a": {"bytes": [98]}}),
        (["a", 1], [{"bytes": [97]}, 1]),
    ],
)
def test_header_values_are_encoded_as_the_poller_does(value: object, encoded: object) -> None:
    assert encode_header_value(value) == encoded


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0, "Jan 1, 1970, 12:00:00 AM"),
        (2021, "Jan 1, 1970, 12:33:41 AM"),
        (1_795_950_000, "Nov 29, 2026, 11:00:00 AM"),
        (1_795_960_861, "Nov 29, 2026, 2:01:01 PM"),
        (1_798_761_599, "Dec 31, 2026, 11:59:59 PM"),
    ],
)
def test_timestamp_format(epoch: int, text: str) -> None:
    assert format_timestamp(epoch) == text


def test_unset_properties_are_null() -> None:
    record = build_record(b"x", pika.BasicProperties(), False)
    props = record["basicProperties"]
    assert props["bodySize"] == 1
    assert all(value is None for name, value in props.items() if name != "bodySize")


def test_pika_long_header_becomes_a_plain_int() -> None:
    from pika.compat import long

    encoded = encode_header_value(long(3))
    assert type(encoded) is int
    assert encoded == 3
