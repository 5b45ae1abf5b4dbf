"""Turn the `aws:rmq` event Lambda delivers into typed `Message`s.

This runs once per message on the hot path, so it does only what every message needs: one
base64 decode and one body decode. Properties and headers are read when business logic
asks for them (see `MessageProperties`).

Whatever JSON value stands in a field, a record either decodes or raises `InvalidMessage`
with a reason that names the field; an event that is not an Amazon MQ for RabbitMQ event at
all raises `InvalidEvent`. Nothing else escapes (tests/consumer/test_bad_inputs.py checks it
with generated events).
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import InvalidMessage
from .messages import Message, MessageProperties, json_type, wrong_type

EVENT_SOURCE = "aws:rmq"
JSON = "application/json"
# Content encodings that leave the bytes as they are. Others (gzip, ...) are not undone here.
_IDENTITY_ENCODINGS = frozenset({"", "identity", "utf-8", "utf8", "7bit", "8bit", "binary"})

Record = Mapping[str, Any]


class InvalidEvent(ValueError):
    """The event is not an Amazon MQ for RabbitMQ event: the function is wired to the wrong
    source. No message in it can be trusted, so the invocation fails."""


def queue_batches(event: Mapping[str, Any]) -> Iterator[tuple[str, str, list[Record]]]:
    """Yield (queue, vhost, records) for each `"queue::vhost"` key of the event."""
    source = event.get("eventSource") if isinstance(event, Mapping) else None
    if source != EVENT_SOURCE:
        shown = source[:100] if isinstance(source, str) else None if source is None else json_type(source)
        raise InvalidEvent(
            f"unsupported event source {shown!r}: this function consumes Amazon MQ for "
            f"RabbitMQ events ({EVENT_SOURCE!r}); attach it to a RabbitMQ event source mapping"
        )
    by_queue = event.get("rmqMessagesByQueue")
    if not isinstance(by_queue, Mapping):
        raise InvalidEvent("the aws:rmq event has no rmqMessagesByQueue object")
    for key, records in by_queue.items():
        if not isinstance(key, str):
            raise InvalidEvent(f"rmqMessagesByQueue has a key that is not a string: {json_type(key)}")
        queue, vhost = split_queue_key(key)
        if not isinstance(records, list):
            raise InvalidEvent(f"rmqMessagesByQueue[{key[:200]!r}] is not a list of messages: got {json_type(records)}")
        yield queue, vhost, records


def split_queue_key(key: str) -> tuple[str, str]:
    """Split Lambda's `"<queue>::<vhost>"` key. Vhost names rarely hold "::", queue names
    sometimes do, so the split is on the last one."""
    queue, separator, vhost = key.rpartition("::")
    if not separator or not queue or not vhost:
        raise InvalidEvent(f"queue key {key[:200]!r} is not of the form '<queue>::<vhost>'")
    return queue, vhost


def decode_record(queue: str, vhost: str, record: Record) -> Message:
    """Decode one message record; raise `InvalidMessage` with the reason if it cannot be."""
    if type(record) is not dict and not isinstance(record, Mapping):  # the exact check first: it is cheaper
        raise InvalidMessage(f"message record is not an object: got {json_type(record)}")
    try:
        data = record["data"]
        props = record["basicProperties"]
        redelivered = record["redelivered"]
    except KeyError as exc:
        raise InvalidMessage(f"message record lacks the field {exc}") from None
    if type(props) is not dict and not isinstance(props, Mapping):
        raise InvalidMessage(f"message record's basicProperties is not an object: got {json_type(props)}")
    if type(data) is not str:
        raise InvalidMessage(f"message data is not valid base64: expected a string, got {json_type(data)}")
    # Strict base64: a stray character is an error, not silently skipped. The lenient decoder
    # plus a length check is as strict (each skipped character shortens the result) and
    # cheaper than strict_mode=True.
    try:
        body = binascii.a2b_base64(data)
        valid = len(data) % 4 == 0 and len(body) == len(data) // 4 * 3 - data[-2:].count("=")
    except (binascii.Error, ValueError) as exc:
        raise InvalidMessage(f"message data is not valid base64: {exc}") from None
    if not valid:
        raise InvalidMessage("message data is not valid base64: it has characters outside the base64 alphabet")
    content_type = props.get("contentType")
    content_encoding = props.get("contentEncoding")
    headers = props.get("headers")
    # The three properties the handler reads itself are checked here; the others when read.
    if headers is not None and type(headers) is not dict and not isinstance(headers, Mapping):
        raise wrong_type("headers", dict, headers)
    if content_type == JSON and content_encoding is None:  # the common case, inlined
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise _not_json(content_type, exc) from None
        except RecursionError:
            raise _too_deep(content_type) from None
    else:
        payload = decode_body(body, content_type, content_encoding)
    # tuple.__new__ skips the NamedTuple's keyword handling: a third of its cost, 10,000 times.
    return _new_message(Message, (queue, vhost, body, payload, MessageProperties(props), redelivered is True))


_new_message = tuple.__new__


def decode_body(body: bytes, content_type: str | None, content_encoding: str | None) -> Any:
    """Decode a body by its content type (see `Message.payload` for the rules)."""
    if content_type is None:
        return body
    if not isinstance(content_type, str):  # a sample event's number or list
        raise wrong_type("contentType", str, content_type)
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    is_json = media == JSON or media.endswith("+json")
    if not is_json and not media.startswith("text/"):
        return body
    if content_encoding is not None and not isinstance(content_encoding, str):
        raise wrong_type("contentEncoding", str, content_encoding)
    if content_encoding is not None and content_encoding.lower() not in _IDENTITY_ENCODINGS:
        raise InvalidMessage(
            f"content encoding {content_encoding!r} is not decoded by this function: publish "
            f"{media} bodies unencoded, or decode them in business_logic"
        )
    if is_json:
        try:
            return json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise _not_json(content_type, exc) from None
        except RecursionError:
            raise _too_deep(content_type) from None
    charset = _charset(params) or "utf-8"
    try:
        return body.decode(charset)
    except LookupError:  # no such codec, or a bytes-to-bytes one such as base64
        raise InvalidMessage(f"unknown charset {charset!r} in content type {content_type!r}") from None
    except ValueError as exc:  # UnicodeDecodeError, and the UnicodeError of codecs such as idna
        raise InvalidMessage(f"body is not valid {charset} text: {exc}") from None


def _not_json(content_type: str, exc: ValueError) -> InvalidMessage:
    return InvalidMessage(f"body is not valid JSON ({content_type}): {exc}")


def _too_deep(content_type: str) -> InvalidMessage:
    return InvalidMessage(f"body is not valid JSON ({content_type}): nested too deeply to decode")


def _charset(params: str) -> str | None:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None
