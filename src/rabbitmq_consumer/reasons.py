"""Reasons and log fields that can carry payload content, bounded.

A reason quotes what was wrong ("quantity: expected a positive integer, got '...'"): whatever
a producer put into a field can end up in it, and a reason is logged at WARNING and stored with
the dead letter beside the whole record. So every such text is cut to `MAX_REASON_CHARACTERS`
(and an id, which AMQP bounds to 255 bytes but a malformed event does not, to `MAX_ID_CHARACTERS`),
saying how much was left out.
"""

from __future__ import annotations

import traceback
from typing import Any

MAX_REASON_CHARACTERS = 1000
MAX_ID_CHARACTERS = 256


def bounded(text: str, limit: int = MAX_REASON_CHARACTERS) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def describe(error: BaseException) -> str:
    """str(error), bounded, or its type's name if even str() fails: a reason must never raise."""
    try:
        text = str(error)
    except Exception:
        return f"<{type(error).__name__} that cannot be shown>"
    return bounded(text)


def log_id(value: Any) -> Any:
    """A message or correlation id for a log line, as delivered: a long string cut, a number or
    null as it is, anything else (a malformed event's object or list) by its type's name only."""
    if isinstance(value, str):
        return bounded(value, MAX_ID_CHARACTERS)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return f"<{type(value).__name__}>"


MAX_TRACEBACK_CHARACTERS = 8000


def error_fields(error: BaseException) -> dict[str, str]:
    """A failure's `exception_name` and `exception` (its traceback, bounded) for a log line: the
    fields Powertools fills from `exc_info`, which would quote the error's text in full."""
    try:
        text = "".join(traceback.format_exception(error))
    except Exception:
        text = describe(error)
    return {"exception_name": type(error).__name__, "exception": bounded(text, MAX_TRACEBACK_CHARACTERS)}
