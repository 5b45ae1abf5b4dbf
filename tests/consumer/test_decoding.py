"""From the aws:rmq event to typed messages: shapes, headers and bodies (bad input: test_bad_inputs.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pika
import pytest

from rabbitmq_consumer.decoding import decode_body, decode_record, queue_batches, split_queue_key
from rabbitmq_consumer.messages import Message, decode_headers
from support import event_of, load_event, record, sample_event

pytestmark = pytest.mark.unit


def decode_all(event: dict[str, Any]) -> list[Message]:
    return [decode_record(queue, vhost, rec) for queue, vhost, records in queue_batches(event) for rec in records]


def test_aws_sample_event() -> None:
    (message,) = decode_all(load_event("aws_sample"))
    assert message.queue == "pizzaQueue"
    assert message.vhost == "/"
    assert message.body == b'{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}'
    assert message.payload == '{"timeout":0,"data":"CZrmf0Gw8Ov4bqLQxD4E"}'  # text/plain stays text
    assert message.redelivered is False
    props = message.properties
    assert props.content_type == "text/plain"
    assert props.headers == {"header1": "value1", "header2": "value2", "numberInHeader": 10}
    assert props.delivery_mode == 1
    assert props.priority == 34
    assert props.expiration == "60000"
    assert props.user_id == "AIDACKCEVSQ6C2EXAMPLE"
    assert props.body_size == 80
    assert props.message_id is None
    assert props.correlation_id is None
    assert props.timestamp == "Jan 1, 1970, 12:33:41 AM"
    assert props.sent_at() == datetime(1970, 1, 1, 0, 33, 41, tzinfo=UTC)


def test_all_properties_in_snake_case() -> None:
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers={"h": "v"},
        delivery_mode=2,
        priority=5,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="1000",
        message_id="msg-1",
        timestamp=1_795_960_861,
        type="OrderPlaced",
        user_id="guest",
        app_id="shop",
        cluster_id="c1",
    )
    (message,) = decode_all(event_of([record(b"{}", props, redelivered=True)]))
    assert message.properties.as_dict() == {
        "headers": {"h": "v"},
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "delivery_mode": 2,
        "priority": 5,
        "correlation_id": "corr-1",
        "reply_to": "replies",
        "expiration": "1000",
        "message_id": "msg-1",
        "timestamp": "Nov 29, 2026, 2:01:01 PM",
        "type": "OrderPlaced",
        "user_id": "guest",
        "app_id": "shop",
        "cluster_id": "c1",
        "body_size": 2,
    }
    assert message.redelivered is True
    assert message.message_id == "msg-1"
    assert message.correlation_id == "corr-1"
    assert message.properties.sent_at() == datetime(2026, 11, 29, 14, 1, 1, tzinfo=UTC)


def test_message_is_immutable() -> None:
    (message,) = decode_all(sample_event(1))
    with pytest.raises(AttributeError):
        message.body = b"changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        message.properties.message_id = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        message.properties.headers["new"] = 1  # type: ignore[index]


def test_several_queues_and_vhosts() -> None:
    event = sample_event(2, "orders", "/")
    event["rmqMessagesByQueue"].update(sample_event(3, "refunds", "shop-prod")["rmqMessagesByQueue"])
    event["rmqMessagesByQueue"].update(sample_event(1, "audit::v2", "/")["rmqMessagesByQueue"])
    messages = decode_all(event)
    assert [(m.queue, m.vhost) for m in messages] == [("orders", "/")] * 2 + [("refunds", "shop-prod")] * 3 + [
        ("audit::v2", "/")
    ]


@pytest.mark.parametrize(
    ("key", "queue", "vhost"),
    [("orders::/", "orders", "/"), ("orders::prod", "orders", "prod"), ("a::b::/", "a::b", "/")],
)
def test_split_queue_key(key: str, queue: str, vhost: str) -> None:
    assert split_queue_key(key) == (queue, vhost)


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ({"s": {"bytes": [118, 97, 108]}}, {"s": "val"}),
        ({"utf8": {"bytes": list("größe".encode())}}, {"utf8": "größe"}),
        ({"java_signed": {"bytes": [103, 114, -61, -74]}}, {"java_signed": "grö"}),
        ({"binary": {"bytes": [0, 255, 254]}}, {"binary": b"\x00\xff\xfe"}),
        ({"int": 10, "float": 1.5, "neg": -3}, {"int": 10, "float": 1.5, "neg": -3}),
        ({"t": True, "f": False, "n": None}, {"t": True, "f": False, "n": None}),
        ({"table": {"inner": {"bytes": [120]}, "n": 1}}, {"table": {"inner": "x", "n": 1}}),
        ({"array": [{"bytes": [121]}, 2, [{"bytes": [122]}]]}, {"array": ["y", 2, ["z"]]}),
        ({"plain_string": "already text"}, {"plain_string": "already text"}),
        ({"not_bytes": {"bytes": "abc"}}, {"not_bytes": {"bytes": "abc"}}),
        ({"out_of_range": {"bytes": [300]}}, {"out_of_range": {"bytes": [300]}}),
        ({"two_keys": {"bytes": [97], "x": 1}}, {"two_keys": {"bytes": [97], "x": 1}}),
        (None, {}),
        ({}, {}),
    ],
)
def test_header_decoding(raw: dict[str, Any] | None, decoded: dict[str, Any]) -> None:
    assert dict(decode_headers(raw)) == decoded


@pytest.mark.parametrize(
    ("body", "content_type", "payload"),
    [
        (b'{"a": 1}', "application/json", {"a": 1}),
        (b'{"a": 1}', "application/json; charset=utf-8", {"a": 1}),
        (b'{"a": 1}', "Application/JSON", {"a": 1}),
        (b'{"a": 1}', "application/vnd.shop.order+json", {"a": 1}),
        (b"[1, 2]", "application/json", [1, 2]),
        (b"hello", "text/plain", "hello"),
        ("grüße".encode(), "text/plain; charset=utf-8", "grüße"),
        ("grüße".encode("latin-1"), 'text/plain; charset="iso-8859-1"', "grüße"),
        (b"<a/>", "text/xml", "<a/>"),
        (b'{"a": 1}', None, b'{"a": 1}'),
        (b"\x00\x01\xff", "application/octet-stream", b"\x00\x01\xff"),
        (b"\x89PNG", "image/png", b"\x89PNG"),
        (b"", None, b""),
    ],
)
def test_body_decoding_by_content_type(body: bytes, content_type: str | None, payload: Any) -> None:
    assert decode_body(body, content_type, None) == payload
    props = pika.BasicProperties(content_type=content_type)
    (message,) = decode_all(event_of([record(body, props)]))
    assert message.body == body
    assert message.payload == payload


def test_empty_batch() -> None:
    assert decode_all({"eventSource": "aws:rmq", "rmqMessagesByQueue": {}}) == []
    assert decode_all(event_of([])) == []


def test_ten_thousand_messages() -> None:
    event = sample_event(10_000)
    messages = decode_all(event)
    assert len(messages) == 10_000
    assert len({m.payload["id"] for m in messages}) == 10_000
    assert all(json.loads(m.body) == m.payload for m in messages)
