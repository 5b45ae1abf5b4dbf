"""Keys read from a message: the ordering key of the parallel lanes and the idempotency key.

A key is configured as text, checked once when the function starts:

| setting         | the key                                                           |
|-----------------|-------------------------------------------------------------------|
| `message-id`    | the AMQP message id (`basicProperties.messageId`)                 |
| `header:<name>` | the AMQP header `<name>` (a string or an integer)                 |
| `json:<path>`   | the field at `<path>` of a JSON object body, dots between names   |

A message without the key (no such header, a body that is not an object, a value that is not a
string or an integer) has none: `read` returns None and the caller decides what that means.
Reading never raises: it runs on every message, whatever the message holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .messages import Message

SOURCES = ("message-id", "header:<name>", "json:<path>")
# DynamoDB's partition key holds at most 2,048 bytes of UTF-8 (a longer one fails every call that
# carries it): a key over 1,024 bytes, or one that is not UTF-8 at all, is no key.
MAX_KEY_BYTES = 1024


@dataclass(frozen=True)
class KeySetting:
    """A parsed key setting; `read(message)` gives the key as a string, or None."""

    text: str
    read: Callable[[Message], str | None]

    def __str__(self) -> str:
        return self.text


def parse_key(text: str, what: str) -> KeySetting:
    """The setting `text` of the key `what` (for the error), or ValueError naming the choices."""
    source, _, name = text.partition(":")
    if text == "message-id":
        return KeySetting(text, _message_id)
    if source == "header" and name:
        return KeySetting(text, lambda message: _key(_header(message, name)))
    if source == "json" and name and all(name.split(".")):
        path = tuple(name.split("."))
        return KeySetting(text, lambda message: _key(_field(message.payload, path)))
    raise ValueError(f"{what} {text!r} is not one of {', '.join(SOURCES)} (e.g. header:customer-id or json:orderId)")


def _message_id(message: Message) -> str | None:
    return _key(message.properties.raw.get("messageId"))


def _header(message: Message, name: str) -> Any:
    try:
        return message.properties.headers.get(name)
    except Exception:  # headers of the wrong shape: decoding.decode_record let only a mapping through
        return None


def _field(payload: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        if not isinstance(payload, Mapping):
            return None
        payload = payload.get(name)
    return payload


def _key(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, which a JSON body may hold
        return None
    return text if 0 < size <= MAX_KEY_BYTES else None
