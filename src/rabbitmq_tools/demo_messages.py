"""What `make demo` publishes, and what the example's business logic should do with each message.

Part of the example, with `rabbitmq_consumer/business_logic.py`, `orders.py` and
example-message.json: when you replace `process`, replace these too. The demo compares what
happened to each message with `dead_letter_reason` (None: processed) and says where they differ.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from rabbitmq_tools.project import EXAMPLE_MESSAGE

# The example's ordering key and lanes (docs/throughput.md): orders of one customer in order, those
# of different customers at the same time. The demo runs the handler so, as ordering_key and
# parallelism would in AWS.
ORDERING_KEY = "json:customerId"
PARALLELISM = 4


class DemoMessage(NamedTuple):
    label: str  # how the demo names it
    body: bytes  # published as application/json
    dead_letter_reason: str | None = None  # None: processed; else how the reason starts


def demo_messages() -> list[DemoMessage]:
    order = json.loads(EXAMPLE_MESSAGE.read_text())
    wrong_total = {**order, "orderId": "ord-bad-total", "total": "1.00"}
    return [
        DemoMessage(EXAMPLE_MESSAGE.name, EXAMPLE_MESSAGE.read_bytes()),
        DemoMessage(
            "an order whose total is wrong",
            json.dumps(wrong_total).encode(),
            dead_letter_reason="total: 1.00 does not equal the sum of the items, 34.90",
        ),
    ]
