"""The typed, immutable message that business logic receives.

Business logic sees queue, vhost, body and properties; it never sees base64 or the layout
of the `aws:rmq` event (see `decoding.py` for how one becomes the other).

Both types are built for a hot path of up to 10,000 messages an invocation: `Message` is a
NamedTuple (typed and immutable, several times cheaper to create than a frozen dataclass),
and `MessageProperties` reads each property from Lambda's record only when asked, decoding
the headers once on first use.

A property of the wrong JSON type (a sample event's string where an integer belongs, say) is
reported when it is read: the accessor raises `InvalidMessage` naming the field, so business
logic that reads it dead-letters the message with that reason instead of failing on an
AttributeError later. `decoding.decode_record` checks the three properties the handler reads
itself (content type, content encoding, headers) before business logic runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from .errors import InvalidMessage

# Lambda's poller formats the AMQP timestamp with Java's medium date format: JDK 9+ puts a
# comma after the year ("Jan 1, 1970, 12:33:41 AM"), JDK 8 did not.
_TIMESTAMP_FORMATS = ("%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p")
_NO_HEADERS: Mapping[str, Any] = MappingProxyType({})
_T = TypeVar("_T")


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for a reason that says what was found."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


_EXPECTED = {str: "a string", int: "an integer", dict: "an object"}


def wrong_type(field: str, expected: type, value: Any) -> InvalidMessage:
    return InvalidMessage(f"basicProperties.{field}: expected {_EXPECTED[expected]} or null, got {json_type(value)}")


def _typed(raw: Mapping[str, Any], field: str, expected: type[_T]) -> _T | None:
    value = raw.get(field)
    if value is None or type(value) is expected:  # the common case, first
        return value
    if isinstance(value, expected) and not isinstance(value, bool):  # a str or int subclass
        return value
    raise wrong_type(field, expected, value)


class MessageProperties:
    """AMQP basic properties, named in snake_case; an unset property is None. Read-only."""

    __slots__ = ("_headers", "_raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw  # Lambda's camelCase `basicProperties`
        self._headers: Mapping[str, Any] | None = None

    @property
    def raw(self) -> Mapping[str, Any]:
        """Lambda's `basicProperties` as delivered: camelCase names, values unchecked."""
        return self._raw

    @property
    def headers(self) -> Mapping[str, Any]:
        """Header values decoded: strings as str, numbers as numbers (see `decode_headers`)."""
        if self._headers is None:
            self._headers = decode_headers(self._raw.get("headers"))
        return self._headers

    @property
    def content_type(self) -> str | None:
        return _typed(self._raw, "contentType", str)

    @property
    def content_encoding(self) -> str | None:
        return _typed(self._raw, "contentEncoding", str)

    @property
    def delivery_mode(self) -> int | None:
        return _typed(self._raw, "deliveryMode", int)

    @property
    def priority(self) -> int | None:
        return _typed(self._raw, "priority", int)

    @property
    def correlation_id(self) -> str | None:
        return _typed(self._raw, "correlationId", str)

    @property
    def reply_to(self) -> str | None:
        return _typed(self._raw, "replyTo", str)

    @property
    def expiration(self) -> str | None:
        return _typed(self._raw, "expiration", str)

    @property
    def message_id(self) -> str | None:
        return _typed(self._raw, "messageId", str)

    @property
    def timestamp(self) -> str | None:
        """As Lambda formats it, e.g. "Jan 1, 1970, 12:33:41 AM"; `sent_at()` parses it."""
        return _typed(self._raw, "timestamp", str)

    @property
    def type(self) -> str | None:
        return _typed(self._raw, "type", str)

    @property
    def user_id(self) -> str | None:
        return _typed(self._raw, "userId", str)

    @property
    def app_id(self) -> str | None:
        return _typed(self._raw, "appId", str)

    @property
    def cluster_id(self) -> str | None:
        return _typed(self._raw, "clusterId", str)

    @property
    def body_size(self) -> int | None:
        return _typed(self._raw, "bodySize", int)

    def sent_at(self) -> datetime | None:
        """The AMQP timestamp as an aware UTC datetime (seconds resolution).

        Parsed only when asked for: strptime costs more than decoding a message. Newer Java
        runtimes, like Lambda's poller, may put a narrow no-break space before AM/PM. A
        timestamp in no format Lambda uses raises `InvalidMessage` naming the field.
        """
        timestamp = self.timestamp
        if timestamp is None:
            return None
        text = timestamp.replace("\u202f", " ")
        for pattern in _TIMESTAMP_FORMATS:
            try:
                return datetime.strptime(text, pattern).replace(tzinfo=UTC)
            except ValueError:
                continue
        raise InvalidMessage(
            f"basicProperties.timestamp: {timestamp[:100]!r} is not a timestamp as Lambda formats it "
            "(such as 'Jan 1, 1970, 12:33:41 AM')"
        )

    def as_dict(self) -> dict[str, Any]:
        """Every property by its snake_case name, headers decoded; `InvalidMessage` if one is
        of the wrong type."""
        return {name: getattr(self, name) for name in _NAMES}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageProperties):
            return False
        try:
            return self.as_dict() == other.as_dict()
        except InvalidMessage:  # a property of the wrong type: compare what Lambda delivered
            return self._raw == other._raw

    __hash__ = None  # type: ignore[assignment]  # headers are a mapping: not hashable

    def __repr__(self) -> str:
        try:
            fields = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items() if value)
        except InvalidMessage:  # a repr never raises: show what Lambda delivered
            return f"MessageProperties(raw={self._raw!r})"
        return f"MessageProperties({fields})"


_NAMES = tuple(name for name, value in vars(MessageProperties).items() if isinstance(value, property) and name != "raw")


class Message(NamedTuple):
    """One RabbitMQ message from a Lambda batch.

    `payload` is the body decoded by its content type: a JSON value for `application/json`
    and `*/*+json`, a str for `text/*` (in the charset the content type names, UTF-8 by
    default), and the raw bytes for any other content type or none at all.
    """

    queue: str
    vhost: str
    body: bytes
    payload: Any
    properties: MessageProperties
    redelivered: bool

    @property
    def message_id(self) -> str | None:
        return self.properties.message_id

    @property
    def correlation_id(self) -> str | None:
        return self.properties.correlation_id


def decode_headers(headers: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Decode AMQP headers as Lambda encodes them: `{"bytes": [...]}` becomes a str (bytes
    if it is not UTF-8), nested tables and arrays are decoded the same way, and anything
    else (numbers, booleans, null) passes through unchanged. Headers that are not an object
    raise `InvalidMessage`."""
    if headers is None:
        return _NO_HEADERS
    if not isinstance(headers, Mapping):
        raise wrong_type("headers", dict, headers)
    if not headers:
        return _NO_HEADERS
    try:
        return MappingProxyType({name: _decode_header_value(value) for name, value in headers.items()})
    except RecursionError:
        raise InvalidMessage("basicProperties.headers: nested too deeply to decode") from None


def _decode_header_value(value: Any) -> Any:
    if isinstance(value, dict):
        raw = value.get("bytes")
        if isinstance(raw, list) and len(value) == 1:
            try:
                data = bytes(raw)
            except ValueError:
                # The poller is Java, whose bytes are signed: accept -128..-1 for 128..255.
                if not all(type(b) is int and -128 <= b < 256 for b in raw):
                    return value
                data = bytes(b & 0xFF for b in raw)
            except TypeError:
                return value  # not a byte list after all: pass through unchanged
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        return {name: _decode_header_value(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_decode_header_value(item) for item in value]
    return value
