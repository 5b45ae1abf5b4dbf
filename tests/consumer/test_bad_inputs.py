"""Bad inputs and what the handler does with each; the table in docs/error-handling.md is this
table, and the last test keeps the two in step."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import pytest

from rabbitmq_consumer import handler
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import ROOT, event_of, order, record

pytestmark = [pytest.mark.fault_injection, pytest.mark.unit]

ORDER = json.dumps(order("ord-1")).encode()
BIG_ORDER = json.dumps(order("ord-big", note="x" * 4_400_000)).encode()
BIG_POISON = json.dumps(order("ord-big-poison", total="0.01", note="x" * 3_000_000)).encode()


def props(content_type: str | None = "application/json", **kwargs: Any) -> pika.BasicProperties:
    return pika.BasicProperties(content_type=content_type, message_id="m-1", **kwargs)


def one(body: bytes, properties: pika.BasicProperties | None = None, **changes: Any) -> dict[str, Any]:
    return event_of([{**record(body, properties or props()), **changes}])


ODD_HEADERS = {
    "table": {"tenant": "acme", "tier": 2},
    "array": ["a", 1, True],
    "flag": False,
    "latin1": b"caf\xe9",
}


def _java_bytes_header() -> dict[str, Any]:
    event = one(ORDER, props(headers={"x": "placeholder"}))
    (records,) = event["rmqMessagesByQueue"].values()
    records[0]["basicProperties"]["headers"] = {"city": {"bytes": [77, -61, -68, 110, 99, 104, 101, 110]}}
    return event


def with_property(name: str, value: Any) -> dict[str, Any]:
    """An order whose basicProperties field `name` holds `value`, as some sample events have it."""
    event = one(ORDER)
    (records,) = event["rmqMessagesByQueue"].values()
    records[0]["basicProperties"][name] = value
    return event


def with_queues(by_queue: Any) -> dict[str, Any]:
    return {"eventSource": "aws:rmq", "eventSourceArn": LOCAL_BROKER_ARN, "rmqMessagesByQueue": by_queue}


@dataclass(frozen=True)
class Case:
    input: str
    event: Callable[[], dict[str, Any]]
    outcome: str  # "processed", "dead-lettered: <reason>", "invocation fails: <error>"


CASES = [
    Case(
        "invalid base64 in `data`",
        lambda: one(ORDER, data="not base64!"),
        "dead-lettered: message data is not valid base64",
    ),
    Case(
        "a record without `data`",
        lambda: event_of([{"basicProperties": {}, "redelivered": False}]),
        "dead-lettered: message record lacks the field 'data'",
    ),
    Case(
        "invalid JSON, content type application/json",
        lambda: one(b'{"orderId": '),
        "dead-lettered: body is not valid JSON (application/json)",
    ),
    Case(
        "valid JSON of the wrong shape",
        lambda: one(b'{"hello": "world"}'),
        "dead-lettered: eventType: expected 'OrderPlaced', got None",
    ),
    Case("a JSON array", lambda: one(b"[1, 2]"), "dead-lettered: expected an OrderPlaced JSON object, got list"),
    Case(
        "an order with a wrong total",
        lambda: one(json.dumps(order("ord-2", total="1.00")).encode()),
        "dead-lettered: total: 1.00 does not equal the sum of the items",
    ),
    Case("an empty body, application/json", lambda: one(b""), "dead-lettered: body is not valid JSON"),
    Case(
        "an empty body, no content type",
        lambda: one(b"", props(None)),
        "dead-lettered: expected an OrderPlaced JSON object, got bytes",
    ),
    Case("an order of 4.4 MB, near the 6 MB event cap", lambda: one(BIG_ORDER), "processed"),
    Case(
        "an order of 3 MB with a wrong total (in AWS: stored in S3, its pointer in SQS)",
        lambda: one(BIG_POISON),
        "dead-lettered: total: 0.01 does not equal the sum of the items",
    ),
    Case(
        "JSON nested 100,000 deep",
        lambda: one(b"[" * 100_000 + b"]" * 100_000),
        "dead-lettered: body is not valid JSON (application/json): nested too deeply to decode",
    ),
    Case(
        "text that its charset cannot decode (`charset=idna`)",
        lambda: one(b"xn--", props("text/plain; charset=idna")),
        "dead-lettered: body is not valid idna text",
    ),
    Case(
        "an order as `application/vnd.shop.order+json`",
        lambda: one(ORDER, props("application/vnd.shop.order+json")),
        "processed",
    ),
    Case(
        "an order as `text/plain`",
        lambda: one(ORDER, props("text/plain")),
        "dead-lettered: expected an OrderPlaced JSON object, got str",
    ),
    Case(
        "an order as `application/octet-stream`",
        lambda: one(ORDER, props("application/octet-stream")),
        "dead-lettered: expected an OrderPlaced JSON object, got bytes",
    ),
    Case(
        "an order with no content type",
        lambda: one(ORDER, props(None)),
        "dead-lettered: expected an OrderPlaced JSON object, got bytes",
    ),
    Case(
        "an unknown charset",
        lambda: one(b"hi", props("text/plain; charset=klingon")),
        "dead-lettered: unknown charset 'klingon'",
    ),
    Case(
        "a gzip content encoding",
        lambda: one(gzip.compress(ORDER), props(content_encoding="gzip")),
        "dead-lettered: content encoding 'gzip' is not decoded by this function",
    ),
    Case(
        "odd header values (table, array, boolean, non-UTF-8 bytes)",
        lambda: one(ORDER, props(headers=ODD_HEADERS)),
        "processed",
    ),
    Case("Java's signed bytes in a header", _java_bytes_header, "processed"),
    Case(
        "a record that is not an object",
        lambda: event_of([["not", "a", "record"]]),  # type: ignore[list-item]
        "dead-lettered: message record is not an object: got array",
    ),
    Case(
        "`data` that is not a string",
        lambda: one(ORDER, data=12),
        "dead-lettered: message data is not valid base64: expected a string, got number",
    ),
    Case(
        "`basicProperties` that is not an object",
        lambda: one(ORDER, basicProperties="None"),
        "dead-lettered: message record's basicProperties is not an object: got string",
    ),
    Case(
        '`headers` that is not an object (`"None"`)',
        lambda: with_property("headers", "None"),
        "dead-lettered: basicProperties.headers: expected an object or null, got string",
    ),
    Case(
        "a content type that is not a string",
        lambda: with_property("contentType", ["application/json"]),
        "dead-lettered: basicProperties.contentType: expected a string or null, got array",
    ),
    Case(
        "a content encoding that is not a string",
        lambda: with_property("contentEncoding", 0),
        "dead-lettered: basicProperties.contentEncoding: expected a string or null, got number",
    ),
    Case(
        'another property of the wrong type (`priority: "high"`), which the handler does not read',
        lambda: with_property("priority", "high"),
        "processed",
    ),
    Case(
        'a timestamp not as Lambda formats it (`"None"`)',
        lambda: with_property("timestamp", "None"),
        "processed",
    ),
    Case(
        "an event with no messages",
        lambda: {"eventSource": "aws:rmq", "rmqMessagesByQueue": {}},
        "processed: nothing to do",
    ),
    Case(
        "an event from another source (`aws:sqs`)",
        lambda: {"eventSource": "aws:sqs", "Records": []},
        "invocation fails: unsupported event source 'aws:sqs'",
    ),
    Case(
        "an `aws:rmq` event without `rmqMessagesByQueue`",
        lambda: {"eventSource": "aws:rmq"},
        "invocation fails: the aws:rmq event has no rmqMessagesByQueue object",
    ),
    Case(
        "an event that is not a JSON object",
        lambda: ["aws:rmq"],  # type: ignore[return-value,arg-type]
        "invocation fails: unsupported event source None",
    ),
    Case(
        "a queue key without `::`",
        lambda: with_queues({"orders": []}),
        "invocation fails: queue key 'orders' is not of the form '<queue>::<vhost>'",
    ),
    Case(
        "a queue's messages that are not a list",
        lambda: with_queues({"orders::/": {"0": {}}}),
        "invocation fails: rmqMessagesByQueue['orders::/'] is not a list of messages: got object",
    ),
]


def outcome_of(event: dict[str, Any], dead_letter_file: Path) -> str:
    try:
        summary = handler.lambda_handler(event, LocalLambdaContext("bad-inputs"))
    except Exception as exc:
        return f"invocation fails: {exc}"
    if summary["deadLettered"]:
        (letter,) = [json.loads(line) for line in dead_letter_file.read_text().splitlines()]
        return f"dead-lettered: {letter['reason']}"
    return "processed" if summary["processed"] else "processed: nothing to do"


@pytest.mark.parametrize("case", CASES, ids=[case.input for case in CASES])
def test_bad_input(case: Case, dead_letter_file: Path) -> None:
    assert outcome_of(case.event(), dead_letter_file).startswith(case.outcome)


def test_odd_headers_are_decoded(dead_letter_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(
        "rabbitmq_consumer.business_logic.process", lambda message: seen.append(message.properties.headers)
    )
    handler.lambda_handler(one(ORDER, props(headers=ODD_HEADERS)), LocalLambdaContext("bad-inputs"))
    handler.lambda_handler(_java_bytes_header(), LocalLambdaContext("bad-inputs"))
    assert dict(seen[0]) == {
        "table": {"tenant": "acme", "tier": 2},
        "array": ["a", 1, True],
        "flag": False,
        "latin1": b"caf\xe9",
    }
    assert dict(seen[1]) == {"city": "München"}


def table_rows() -> list[str]:
    return [f"| {case.input} | {case.outcome} |" for case in CASES]


def test_error_handling_page_shows_this_table() -> None:
    page = (ROOT / "docs" / "error-handling.md").read_text()
    missing = [row for row in table_rows() if row not in page]
    assert missing == [], "docs/error-handling.md lacks rows of the bad-input table:\n" + "\n".join(missing)
