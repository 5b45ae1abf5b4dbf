"""The business logic of the template's own tests, in place of the example's.

`rabbitmq_consumer.business_logic.process` is the example a user replaces; the template's tests
must hold whatever it does, so tests/conftest.py puts `process` below in its place for every test
outside tests/example (a test may install another one of its own). It keeps the contract every
`process` has: it accepts a JSON object, and refuses with `InvalidMessage` (dead-lettered, the
batch goes on) anything else, and a JSON object with a "reject" member, whose value is the reason.
"""

from __future__ import annotations

from rabbitmq_consumer.errors import InvalidMessage
from rabbitmq_consumer.messages import Message, json_type

REJECT = "reject"  # sample(reject="why"): a message this logic refuses, with "why" as the reason


def process(message: Message) -> None:
    payload = message.payload
    if not isinstance(payload, dict):
        raise InvalidMessage(f"expected a JSON object, got {json_type(payload)}")
    if REJECT in payload:
        raise InvalidMessage(str(payload[REJECT]))
