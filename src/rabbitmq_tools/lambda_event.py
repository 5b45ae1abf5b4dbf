"""Build `aws:rmq` events exactly as Lambda's RabbitMQ poller does.

The one place events are built: the local event source mapping, the tests and the
benchmarks all use it, and a test compares its output field by field with AWS's sample.

Header values follow what AWS documents: strings become `{"bytes": [...]}` (UTF-8 bytes as
ints) and numbers stay numbers. AWS does not document the rest; like the Java poller's JSON
encoder (Jackson) would, booleans stay booleans, decimals become numbers, tables and arrays
are encoded element by element, and a timestamp becomes epoch milliseconds.
"""

from __future__ import annotations

from base64 import b64encode
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pika

EVENT_SOURCE = "aws:rmq"
# eventSourceArn of events built here: a syntactically valid Amazon MQ broker ARN.
LOCAL_BROKER_ARN = "arn:aws:mq:local:000000000000:broker:local:b-00000000-0000-0000-0000-000000000000"

# Lambda's cap on an event's size; a single larger message is dropped by Lambda.
MAX_EVENT_BYTES = 6 * 1024 * 1024

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def build_event(broker_arn: str, queue: str, vhost: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """An event holding `records` (from `build_record`) of one queue, as one mapping sends it."""
    return {
        "eventSource": EVENT_SOURCE,
        "eventSourceArn": broker_arn,
        "rmqMessagesByQueue": {f"{queue}::{vhost}": records},
    }


def build_record(body: bytes, properties: pika.BasicProperties, redelivered: bool) -> dict[str, Any]:
    """One message of an event, from what a pika consumer receives."""
    headers = properties.headers
    return {
        "basicProperties": {
            "contentType": properties.content_type,
            "contentEncoding": properties.content_encoding,
            "headers": None if headers is None else {name: encode_header_value(v) for name, v in headers.items()},
            "deliveryMode": properties.delivery_mode,
            "priority": properties.priority,
            "correlationId": properties.correlation_id,
            "replyTo": properties.reply_to,
            "expiration": properties.expiration,
            "messageId": properties.message_id,
            "timestamp": None if properties.timestamp is None else format_timestamp(properties.timestamp),
            "type": properties.type,
            "userId": properties.user_id,
            "appId": properties.app_id,
            "clusterId": properties.cluster_id,
            "bodySize": len(body),
        },
        "redelivered": bool(redelivered),
        "data": b64encode(body).decode("ascii"),
    }


def encode_header_value(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # pika decodes 64-bit ints to an int subclass; JSON has plain numbers
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return {"bytes": list(value.encode())}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": list(value)}
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {name: encode_header_value(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_header_value(item) for item in value]
    raise TypeError(f"cannot encode an AMQP header value of type {type(value).__name__}")


def format_timestamp(epoch_seconds: int) -> str:
    """Lambda's format for the AMQP timestamp: "Jan 1, 1970, 12:33:41 AM" (UTC)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    hour = moment.hour % 12 or 12
    meridiem = "AM" if moment.hour < 12 else "PM"
    return (
        f"{_MONTHS[moment.month - 1]} {moment.day}, {moment.year}, "
        f"{hour}:{moment.minute:02d}:{moment.second:02d} {meridiem}"
    )
