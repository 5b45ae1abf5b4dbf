"""Bad input, and what the handler does with each.

The table: one event per row, run through the real handler with the business logic below; the
"Bad input" table of docs/error-handling.md is this table, and a test keeps the two in step.

The properties (Hypothesis): whatever JSON stands in any field of an `aws:rmq` event or record,
the handler processes the message, dead-letters it with a reason that names the field, or fails
the invocation (an event that is not a RabbitMQ event, or the very error business logic raised).
It never raises anything else, never masks a business-logic error, counts every message exactly
once, and leaves the event as it was. The runs are bounded for CI (a few seconds per property)
and keep no example database; under CI=true they are derandomized, so a CI run is repeatable.
Run more locally with HYPOTHESIS_EXAMPLES=5000.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.dead_letters import DeadLetter
from rabbitmq_consumer.decoding import InvalidEvent, split_queue_key
from rabbitmq_consumer.errors import InvalidMessage
from rabbitmq_consumer.messages import Message, MessageProperties
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import ROOT, event_of, logic, record, sample

pytestmark = [
    pytest.mark.unit,
    pytest.mark.fault_injection,
    # Powertools leaves out a metric dimension that is empty (a generated queue key's vhost)
    pytest.mark.filterwarnings("ignore:The dimension .* doesn't meet the requirements"),
]

BODY = json.dumps(sample("m-1")).encode()
BIG = json.dumps(sample("m-big", note="x" * 4_400_000)).encode()
BIG_REFUSED = json.dumps(sample("m-big-refused", reject="no such customer", note="x" * 3_000_000)).encode()
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000  # beyond the recursion limit of json.loads


# The table


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
    event = one(BODY, props(headers={"x": "placeholder"}))
    (records,) = event["rmqMessagesByQueue"].values()
    records[0]["basicProperties"]["headers"] = {"city": {"bytes": [77, -61, -68, 110, 99, 104, 101, 110]}}
    return event


def with_property(name: str, value: Any) -> dict[str, Any]:
    """A message whose basicProperties field `name` holds `value`, as some sample events have it."""
    event = one(BODY)
    (records,) = event["rmqMessagesByQueue"].values()
    records[0]["basicProperties"][name] = value
    return event


def with_queues(by_queue: Any) -> dict[str, Any]:
    return {"eventSource": "aws:rmq", "eventSourceArn": LOCAL_BROKER_ARN, "rmqMessagesByQueue": by_queue}


@dataclass(frozen=True)
class Case:
    input: str
    event: Callable[[], dict[str, Any]]
    outcome: str  # "processed: <what business logic got>", "dead-lettered: <reason>", "invocation fails: <error>"


# "processed", and the type of `message.payload` business logic got
PROCESSED = {
    kind: f"processed: business logic's `payload` is {name}"
    for kind, name in ((dict, "a dict"), (list, "a list"), (str, "a str"), (bytes, "bytes"))
}
DICT, LIST, STR, BYTES = PROCESSED.values()

CASES = [
    Case(
        "invalid base64 in `data`",
        lambda: one(BODY, data="not base64!"),
        "dead-lettered: message data is not valid base64",
    ),
    Case("base64 cut short (`eyJ`)", lambda: one(BODY, data="eyJ"), "dead-lettered: message data is not valid base64"),
    Case(
        "a record without `data`",
        lambda: event_of([{"basicProperties": {}, "redelivered": False}]),
        "dead-lettered: message record lacks the field 'data'",
    ),
    Case("a JSON object, content type application/json", lambda: one(BODY), DICT),
    Case(
        "invalid JSON, content type application/json",
        lambda: one(b'{"id": '),
        "dead-lettered: body is not valid JSON (application/json)",
    ),
    Case("a JSON array", lambda: one(b"[1, 2]"), LIST),
    Case(
        'a message business logic refuses (`raise InvalidMessage("no such customer")`)',
        lambda: one(json.dumps(sample("m-2", reject="no such customer")).encode()),
        "dead-lettered: no such customer",
    ),
    Case("an empty body, application/json", lambda: one(b""), "dead-lettered: body is not valid JSON"),
    Case("an empty body, no content type", lambda: one(b"", props(None)), BYTES),
    Case("a JSON object of 4.4 MB, near the 6 MB event cap", lambda: one(BIG), DICT),
    Case(
        "a message of 3 MB business logic refuses (in AWS: stored in S3, its pointer in SQS)",
        lambda: one(BIG_REFUSED),
        "dead-lettered: no such customer",
    ),
    Case(
        "JSON nested 100,000 deep",
        lambda: one(DEEP_JSON),
        "dead-lettered: body is not valid JSON (application/json): nested too deeply to decode",
    ),
    Case(
        "bytes that are not UTF-8 under a `+json` content type",
        lambda: one(b"\xff\xfe\x00", props("application/problem+json")),
        "dead-lettered: body is not valid JSON (application/problem+json)",
    ),
    Case(
        "text that is not UTF-8 (`text/plain`)",
        lambda: one(b"\xff", props("text/plain")),
        "dead-lettered: body is not valid utf-8 text",
    ),
    Case(
        "text that its charset cannot decode (`charset=idna`)",
        lambda: one(b"xn--", props("text/plain; charset=idna")),
        "dead-lettered: body is not valid idna text",
    ),
    Case(
        "a JSON object as `application/vnd.shop.order+json`",
        lambda: one(BODY, props("application/vnd.shop.order+json")),
        DICT,
    ),
    Case("a JSON object as `text/plain`", lambda: one(BODY, props("text/plain")), STR),
    Case("a JSON object as `application/octet-stream`", lambda: one(BODY, props("application/octet-stream")), BYTES),
    Case("a JSON object with no content type", lambda: one(BODY, props(None)), BYTES),
    Case(
        "an unknown charset",
        lambda: one(b"hi", props("text/plain; charset=klingon")),
        "dead-lettered: unknown charset 'klingon'",
    ),
    Case(
        "a Python codec that is no text charset (`charset=base64`)",
        lambda: one(b"hi", props("text/plain; charset=base64")),
        "dead-lettered: unknown charset 'base64'",
    ),
    Case(
        "a gzip content encoding",
        lambda: one(gzip.compress(BODY), props(content_encoding="gzip")),
        "dead-lettered: content encoding 'gzip' is not decoded by this function",
    ),
    Case(
        "odd header values (table, array, boolean, non-UTF-8 bytes)",
        lambda: one(BODY, props(headers=ODD_HEADERS)),
        DICT,
    ),
    Case("Java's signed bytes in a header", _java_bytes_header, DICT),
    Case(
        "a record that is not an object",
        lambda: event_of([["not", "a", "record"]]),  # type: ignore[list-item]
        "dead-lettered: message record is not an object: got array",
    ),
    Case(
        "`data` that is not a string",
        lambda: one(BODY, data=12),
        "dead-lettered: message data is not valid base64: expected a string, got number",
    ),
    Case(
        "`basicProperties` that is not an object",
        lambda: one(BODY, basicProperties="None"),
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
        DICT,
    ),
    Case('a timestamp not as Lambda formats it (`"None"`)', lambda: with_property("timestamp", "None"), DICT),
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
        "a queue key with an empty queue name (`::/`)",
        lambda: with_queues({"::/": []}),
        "invocation fails: queue key '::/' is not of the form '<queue>::<vhost>'",
    ),
    Case(
        "a queue key with an empty vhost (`orders::`)",
        lambda: with_queues({"orders::": []}),
        "invocation fails: queue key 'orders::' is not of the form '<queue>::<vhost>'",
    ),
    Case(
        "a queue's messages that are not a list",
        lambda: with_queues({"orders::/": {"0": {}}}),
        "invocation fails: rmqMessagesByQueue['orders::/'] is not a list of messages: got object",
    ),
]


def table_logic(message: Message) -> None:
    """The tests' business logic (support/logic.py) for a JSON object; anything else it takes,
    so that a row shows what business logic gets."""
    if isinstance(message.payload, dict):
        logic.process(message)


def outcome_of(event: dict[str, Any], dead_letter_file: Path) -> str:
    given: list[Message] = []

    def recording(message: Message) -> None:
        table_logic(message)
        given.append(message)

    with mock.patch.object(business_logic, "process", recording):
        try:
            summary = handler.lambda_handler(event, LocalLambdaContext("bad-inputs"))
        except Exception as exc:
            return f"invocation fails: {exc}"
    if summary["deadLettered"]:
        (letter,) = [json.loads(line) for line in dead_letter_file.read_text().splitlines()]
        return f"dead-lettered: {letter['reason']}"
    if not given:
        return "processed: nothing to do"
    (message,) = given
    return PROCESSED[type(message.payload)]


@pytest.mark.parametrize("case", CASES, ids=[case.input for case in CASES])
def test_bad_input(case: Case, dead_letter_file: Path) -> None:
    assert outcome_of(case.event(), dead_letter_file).startswith(case.outcome)


def test_odd_headers_are_decoded(dead_letter_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(business_logic, "process", lambda message: seen.append(message.properties.headers))
    handler.lambda_handler(one(BODY, props(headers=ODD_HEADERS)), LocalLambdaContext("bad-inputs"))
    handler.lambda_handler(_java_bytes_header(), LocalLambdaContext("bad-inputs"))
    assert dict(seen[0]) == {
        "table": {"tenant": "acme", "tier": 2},
        "array": ["a", 1, True],
        "flag": False,
        "latin1": b"caf\xe9",
    }
    assert dict(seen[1]) == {"city": "München"}


def test_error_handling_page_shows_this_table() -> None:
    page = (ROOT / "docs" / "error-handling.md").read_text().splitlines()
    start = page.index("| input | outcome |") + 2
    shown = page[start : page.index("", start)]
    rows = [f"| {case.input} | {case.outcome} |" for case in CASES]
    assert shown == rows, "docs/error-handling.md's bad-input table differs from this one; its rows:\n" + "\n".join(
        rows
    )


# The properties


BOUNDED = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "200")),
    deadline=None,  # CI machines vary; max_examples bounds the run
    database=None,  # no .hypothesis/ directory in the checkout
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PROPERTIES = (
    "contentType",
    "contentEncoding",
    "headers",
    "deliveryMode",
    "priority",
    "correlationId",
    "replyTo",
    "expiration",
    "messageId",
    "timestamp",
    "type",
    "userId",
    "appId",
    "clusterId",
    "bodySize",
)
INTEGER_PROPERTIES = {"deliveryMode", "priority", "bodySize"}
# Read by the handler itself, whatever business logic does.
HANDLER_READS = {"contentType", "contentEncoding", "headers"}
DELIVERY_LIMIT = 3

# Strings that sample events and odd producers put in fields.
ODD_STRINGS = st.sampled_from(
    [
        "",
        "None",
        "null",
        "aws:rmq",
        "application/json",
        "text/plain",
        "text/plain; charset=idna",
        "text/plain; charset=base64",
        "text/plain; charset=utf-16",
        "text/plain; charset=klingon",
        "application/x+json",
        "gzip",
        "identity",
        "Jan 1, 1970, 12:33:41 AM",
        "Feb 30, 2026, 1:00:00 PM",
        "orders::/",
        "::",
        "\ud800",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    ODD_STRINGS,
)
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    st.just(BODY), st.binary(max_size=40), st.just(DEEP_JSON), JSON.map(lambda v: json.dumps(v).encode())
)


def good_record(body: bytes = BODY, delivery_count: int | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {"tenant": "acme"}
    if delivery_count is not None:
        headers["x-delivery-count"] = delivery_count
    props = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        priority=1,
        message_id="m-1",
        correlation_id="c-1",
        timestamp=1_795_960_861,
        headers=headers,
    )
    return record(body, props)


@st.composite
def records(draw: st.DrawFn) -> Any:
    """A record with any of its fields (and any property) kept, replaced by any JSON, or gone."""
    if draw(st.integers(0, 14)) == 0:
        return draw(JSON)  # not a record at all
    count = draw(st.one_of(st.none(), st.integers(0, DELIVERY_LIMIT + 1)))
    rec = good_record(draw(BODIES), count)
    action = st.sampled_from(["keep", "keep", "keep", "keep", "replace", "delete"])
    for field in ("data", "basicProperties", "redelivered"):
        chosen = draw(action)
        if chosen == "replace":
            rec[field] = draw(JSON)
        elif chosen == "delete":
            del rec[field]
    props = rec.get("basicProperties")
    if isinstance(props, dict):
        for name in PROPERTIES:
            chosen = draw(action)
            if chosen == "replace":
                props[name] = draw(JSON)
            elif chosen == "delete":
                props.pop(name, None)
    if draw(st.booleans()):
        rec.update(draw(st.dictionaries(st.text(max_size=8), JSON, max_size=2)))
    return rec


QUEUE_KEYS = st.one_of(
    st.tuples(st.text(max_size=8), st.text(max_size=8)).map(lambda parts: f"{parts[0]}::{parts[1]}"),
    st.text(max_size=12),
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    """An aws:rmq event whose fields may hold anything, including the event itself."""
    if draw(st.integers(0, 19)) == 0:
        return draw(JSON)
    event: dict[str, Any] = {
        "eventSource": "aws:rmq",
        "eventSourceArn": LOCAL_BROKER_ARN,
        "rmqMessagesByQueue": draw(
            st.dictionaries(
                QUEUE_KEYS,
                st.one_of(st.lists(records(), max_size=4), JSON)
                if draw(st.integers(0, 9)) == 0
                else st.lists(records(), max_size=4),
                max_size=3,
            )
        ),
    }
    for field in ("eventSource", "eventSourceArn", "rmqMessagesByQueue"):
        chosen = draw(st.sampled_from(["keep"] * 12 + ["replace", "delete"]))
        if chosen == "replace":
            event[field] = draw(JSON)
        elif chosen == "delete":
            del event[field]
    return event


def is_rabbitmq_event(event: Any) -> bool:
    """What an event must be for its messages to be looked at."""
    if not isinstance(event, dict) or event.get("eventSource") != "aws:rmq":
        return False
    by_queue = event.get("rmqMessagesByQueue")
    if not isinstance(by_queue, dict):
        return False
    for key, records in by_queue.items():
        try:
            split_queue_key(key)
        except InvalidEvent:
            return False
        if not isinstance(records, list):
            return False
    return True


class RecordingSink:
    def __init__(self) -> None:
        self.sent: list[DeadLetter] = []

    def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        self.sent.extend(dead_letters)


class Logic:
    """Business logic for a run: the tests' own (support/logic.py), the same after reading every
    property, or one that always fails; it records what it processed and what it raised."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.processed = 0
        self.raised: list[BaseException] = []

    def __call__(self, message: Message) -> None:
        try:
            if self.kind == "fails":
                raise RuntimeError(f"injected failure {len(self.raised)}")
            if self.kind == "reads everything":
                message.properties.as_dict()
                message.properties.sent_at()
                dict(message.properties.headers)
            logic.process(message)
        except BaseException as exc:
            self.raised.append(exc)
            raise
        self.processed += 1


@contextmanager
def handler_with(logic: Logic, sink: RecordingSink) -> Iterator[io.StringIO]:
    """The real handler, with this logic and sink, the last-delivery guard at DELIVERY_LIMIT,
    and its logs kept in a buffer."""
    stream = io.StringIO()
    registered = handler.logger.registered_handler
    previous = registered.setStream(stream)  # type: ignore[attr-defined]
    config = dataclasses.replace(handler.config, delivery_limit=DELIVERY_LIMIT)
    try:
        with (
            mock.patch.object(business_logic, "process", logic),
            mock.patch.object(handler, "sink", return_value=sink),
            mock.patch.object(handler, "config", config),
            mock.patch("sys.stdout", io.StringIO()),  # the EMF documents
        ):
            yield stream
    finally:
        registered.setStream(previous)  # type: ignore[attr-defined]


def run(event: Any, logic: Logic, sink: RecordingSink) -> tuple[dict[str, Any] | None, BaseException | None]:
    with handler_with(logic, sink):
        original = copy.deepcopy(event)
        try:
            summary = handler.lambda_handler(event, LocalLambdaContext("malformed"))
        except Exception as exc:
            assert event == original, "the handler modified the event"
            return None, exc
        assert event == original, "the handler modified the event"
        return summary, None


MASKING = ("AttributeError", "object has no attribute", "is not subscriptable", "not iterable", "RecursionError")


@BOUNDED
@given(event=events(), kind=st.sampled_from(["objects", "reads everything", "fails"]))
def test_any_event_is_processed_dead_lettered_or_fails_cleanly(event: Any, kind: str) -> None:
    logic, sink = Logic(kind), RecordingSink()
    summary, error = run(event, logic, sink)
    if not is_rabbitmq_event(event):
        # an event-level fault: the invocation fails before any message is looked at
        assert isinstance(error, InvalidEvent), error
        assert (logic.processed, logic.raised, sink.sent) == (0, [], [])
        return
    if error is not None:
        # the invocation failed with the very exception business logic raised, nothing else
        assert logic.raised, f"the handler raised {error!r} on its own"
        assert error is logic.raised[-1], f"{logic.raised[-1]!r} was masked by {error!r}"
        assert not isinstance(error, InvalidMessage)
        return
    assert summary is not None
    records = [rec for recs in event["rmqMessagesByQueue"].values() for rec in recs]
    # every message counted exactly once, as processed or dead-lettered
    assert summary["messages"] == len(records)
    assert summary["processed"] == logic.processed
    assert summary["deadLettered"] == len(sink.sent) == len(records) - logic.processed
    letters = [id(letter.record) for letter in sink.sent]
    assert len(set(letters)) == len(letters)
    assert set(letters) <= {id(rec) for rec in records}
    for letter in sink.sent:
        assert not any(word in letter.reason for word in MASKING), letter.reason
        json.loads(letter.to_json())  # storable as it is


def wrong_value(name: str) -> st.SearchStrategy[Any]:
    """Any JSON value a property must not hold (null is always fine)."""
    if name == "headers":
        return JSON.filter(lambda value: value is not None and not isinstance(value, dict))
    if name in INTEGER_PROPERTIES:
        return JSON.filter(lambda value: value is not None and (type(value) is not int))
    if name == "timestamp":  # a string, but not as Lambda formats it, is wrong too
        return JSON.filter(lambda value: value is not None and not _lambda_timestamp(value))
    return JSON.filter(lambda value: value is not None and not isinstance(value, str))


def _lambda_timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        MessageProperties({"timestamp": value}).sent_at()
    except InvalidMessage:
        return False
    return True


@st.composite
def one_wrong_property(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(PROPERTIES))
    return name, draw(wrong_value(name))


@BOUNDED
@given(wrong=one_wrong_property(), kind=st.sampled_from(["objects", "reads everything"]))
def test_a_property_of_the_wrong_type_is_named_in_the_reason(wrong: tuple[str, Any], kind: str) -> None:
    name, value = wrong
    rec = good_record()
    rec["basicProperties"][name] = value
    logic, sink = Logic(kind), RecordingSink()
    summary, error = run({"eventSource": "aws:rmq", "rmqMessagesByQueue": {"orders::/": [rec]}}, logic, sink)
    assert error is None
    assert summary is not None
    if kind == "objects" and name not in HANDLER_READS:
        assert summary["processed"] == 1  # nobody reads it: the message goes through
        return
    (letter,) = sink.sent
    assert f"basicProperties.{name}" in letter.reason


@BOUNDED
@given(wrong=one_wrong_property())
def test_the_last_delivery_guard_is_not_masked_by_a_malformed_property(wrong: tuple[str, Any]) -> None:
    # GIVEN a message on its last delivery, a property of the wrong type, and business logic
    # that fails every time
    name, value = wrong
    rec = good_record(delivery_count=DELIVERY_LIMIT)
    rec["basicProperties"][name] = value
    logic, sink = Logic("fails"), RecordingSink()
    # WHEN the handler runs
    summary, error = run({"eventSource": "aws:rmq", "rmqMessagesByQueue": {"orders::/": [rec]}}, logic, sink)
    # THEN it dead-letters the message with business logic's error, or, if the handler could
    # not even decode it, with the field: never an AttributeError, never a failed batch
    assert error is None
    assert summary is not None
    (letter,) = sink.sent
    if name in HANDLER_READS:
        assert f"basicProperties.{name}" in letter.reason
    else:
        assert "failed on its last delivery (4 of 4): RuntimeError: injected failure 0" in letter.reason


# A record field, what a reason names when the field holds a value of the wrong type, and
# the type it must have (any value will do for redelivered: only `true` means redelivered).
RECORD_FIELDS: dict[str, tuple[str, type | None]] = {
    "data": ("message data", str),
    "basicProperties": ("basicProperties", dict),
    "redelivered": ("", None),
}


@BOUNDED
@given(field=st.sampled_from(sorted(RECORD_FIELDS)), value=JSON, delete=st.booleans())
def test_a_record_field_of_the_wrong_type_is_named_in_the_reason(field: str, value: Any, delete: bool) -> None:
    rec = good_record()
    if delete:
        del rec[field]
    else:
        rec[field] = value
    logic, sink = Logic("objects"), RecordingSink()
    summary, error = run({"eventSource": "aws:rmq", "rmqMessagesByQueue": {"orders::/": [rec]}}, logic, sink)
    assert error is None
    assert summary is not None
    named, expected = RECORD_FIELDS[field]
    if delete:
        (letter,) = sink.sent
        assert f"lacks the field '{field}'" in letter.reason
    elif expected is not None and not isinstance(value, expected):
        (letter,) = sink.sent
        assert named in letter.reason
    else:  # a value of the right type: decoded, then processed or refused like any other
        assert summary["messages"] == 1


@BOUNDED
@given(value=JSON)
def test_a_record_that_is_not_an_object_is_dead_lettered(value: Any) -> None:
    logic, sink = Logic("objects"), RecordingSink()
    summary, error = run({"eventSource": "aws:rmq", "rmqMessagesByQueue": {"orders::/": [value]}}, logic, sink)
    assert error is None
    assert summary is not None
    (letter,) = sink.sent
    if isinstance(value, dict):
        assert "message record lacks the field" in letter.reason
    else:
        assert letter.reason.startswith("message record is not an object")


def test_a_jdk8_timestamp_is_read_and_a_wrong_one_names_the_field() -> None:
    assert MessageProperties({"timestamp": "Jan 1, 1970 12:33:41 AM"}).sent_at() == datetime(
        1970, 1, 1, 0, 33, 41, tzinfo=UTC
    )
    with pytest.raises(InvalidMessage, match=r"basicProperties.timestamp: 'None' is not a timestamp"):
        MessageProperties({"timestamp": "None"}).sent_at()
    assert "raw=" in repr(MessageProperties({"priority": "high"}))
