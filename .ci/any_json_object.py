"""Business logic that is not the example's: `.ci/run` copies this file over
src/rabbitmq_consumer/business_logic.py, runs the template's tests, and restores the file, to
prove that the template's tests hold whatever a user's `process` does.

It accepts any JSON object and dead-letters anything else, the least a real `process` does.
"""

from __future__ import annotations

from .errors import InvalidMessage
from .messages import Message, json_type


def process(message: Message) -> None:
    if not isinstance(message.payload, dict):
        raise InvalidMessage(f"expected a JSON object, got {json_type(message.payload)}")
