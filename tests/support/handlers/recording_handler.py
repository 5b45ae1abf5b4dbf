"""The real handler, for fault-injection runs in a separate process.

It appends the order id of every message its business logic processed to $PROCESSED_FILE
before it returns, so before the runner acks the batch: a message is in that file at least
once if it was ever acked. On request it also injects two faults: a pause in every
invocation ($PAUSE_SECONDS) so that a kill lands mid-batch, and a crash of the whole process
on one order ($CRASH_ON_ORDER), as an out-of-memory kill or a timeout would end it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.messages import Message

_process = business_logic.process
_processed: list[str] = []


def _recording(message: Message) -> None:
    order_id = message.payload["orderId"] if isinstance(message.payload, dict) else None
    if order_id is not None and order_id == os.environ.get("CRASH_ON_ORDER"):
        os._exit(137)  # no cleanup, no ack: like the kernel's OOM killer
    _process(message)
    _processed.append(str(order_id))


business_logic.process = _recording


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    _processed.clear()
    time.sleep(float(os.environ.get("PAUSE_SECONDS", "0")))
    result = handler.lambda_handler(event, context)
    with Path(os.environ["PROCESSED_FILE"]).open("a") as file:
        file.write("".join(f"{order_id}\n" for order_id in _processed))
        file.flush()
        os.fsync(file.fileno())
    return result
