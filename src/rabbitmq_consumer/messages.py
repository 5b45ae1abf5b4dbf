"""The typed, immutable message that business logic receives.

Business logic sees queue, vhost, body and properties; it never sees base64 or the layout
of the `aws:rmq` event (see `decoding.py` for how one becomes the other).

Both types are built for a hot path of up to 10,000 messages an invocation: `Message` is a
NamedTuple (typed and immutable, several times cheaper to create than a frozen dataclass),
and `MessageProperties` reads each property from Lambda's record only when asked, decoding
the headers once on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

_TIMESTAMP_FORMAT = "%b %d, %Y, %I:%M:%S %p"
_NO_HEADERS: Mapping[str, Any] = MappingProxyType({})


class MessageProperties:
    """AMQP basic properties, named in snake_case; an unset property is None. Read-only."""

    __slots__ = ("_headers", "_raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw  # Lambda's camelCase `basicProperties`
        self._headers: Mapping[str, Any] | None = None

    @property
    def headers(self) -> Mapping[str, Any]:
        """Header values decoded: strings as str, numbers as numbers (see `decode_headers`)."""
        if self._headers is None:
            self._headers = decode_headers(self._raw.get("headers"))
        return self._headers

    @property
    def content_type(self) -> str | None:
        return self._raw.get("contentType")

    @property
    def content_encoding(self) -> str | None:
        return self._raw.get("contentEncoding")

    @property
    def delivery_mode(self) -> int | None:
        return self._raw.get("deliveryMode")

    @property
    def priority(self) -> int | None:
        return self._raw.get("priority")

    @property
    def correlation_id(self) -> str | None:
        return self._raw.get("correlationId")

    @property
    def reply_to(self) -> str | None:
        return self._raw.get("replyTo")

    @property
    def expiration(self) -> str | None:
        return self._raw.get("expiration")

    @property
    def message_id(self) -> str | None:
        return self._raw.get("messageId")

    @property
    def timestamp(self) -> str | None:
        """As Lambda formats it, e.g. "Jan 1, 1970, 12:33:41 AM"; `sent_at()` parses it."""
        return self._raw.get("timestamp")

    @property
    def type(self) -> str | None:
        return self._raw.get("type")

    @property
    def user_id(self) -> str | None:
        return self._raw.get("userId")

    @property
    def app_id(self) -> str | None:
        return self._raw.get("appId")

    @property
    def cluster_id(self) -> str | None:
        return self._raw.get("clusterId")

    @property
    def body_size(self) -> int | None:
        return self._raw.get("bodySize")

    def sent_at(self) -> datetime | None:
        """The AMQP timestamp as an aware UTC datetime (seconds resolution).

        Parsed only when asked for: strptime costs more than decoding a message. Newer Java
        runtimes, like Lambda's poller, may put a narrow no-break space before AM/PM.
        """
        if self.timestamp is None:
            return None
        text = self.timestamp.replace("\u202f", " ")
        return datetime.strptime(text, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)

    def as_dict(self) -> dict[str, Any]:
        """Every property by its snake_case name, headers decoded."""
        return {name: getattr(self, name) for name in _NAMES}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessageProperties) and self.as_dict() == other.as_dict()

    __hash__ = None  # type: ignore[assignment]  # headers are a mapping: not hashable

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.as_dict().items() if value)
        return f"MessageProperties({fields})"


_NAMES = tuple(name for name, value in vars(MessageProperties).items() if isinstance(value, property))


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
    else (numbers, booleans, null) passes through unchanged."""
    if not headers:
        return _NO_HEADERS
    return MappingProxyType({name: _decode_header_value(value) for name, value in headers.items()})


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
