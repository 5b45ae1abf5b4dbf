"""The real handler, for fault-injection runs in a separate process, with business logic of its own.

The business logic appends the "id" of every message it processed (a `sample()` body) to
$PROCESSED_FILE before the handler returns, so before the runner acks the batch: a message is in
that file at least once if it was ever acked. On request it also injects two faults: a pause in
every invocation ($PAUSE_SECONDS) so that a kill lands mid-batch, a crash of the whole process
on one message ($CRASH_ON_ID), as an out-of-memory kill or a timeout would end it, and a transient
failure at a random message of a share of the invocations ($FAIL_RATE, 0 to 1), which fails the batch.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.errors import RetryableError
from rabbitmq_consumer.messages import Message

_processed: list[str] = []
_random = random.Random(os.getpid())
_fail_at: list[int | None] = [None]  # the position in this invocation's batch that fails, if any


def _recording(message: Message) -> None:
    message_id = str(message.payload["id"])
    if message_id == os.environ.get("CRASH_ON_ID"):
        os._exit(137)  # no cleanup, no ack: like the kernel's OOM killer
    if len(_processed) == _fail_at[0]:
        raise RetryableError("injected: downstream unavailable")
    _processed.append(message_id)


business_logic.process = _recording


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    _processed.clear()
    (records,) = event["rmqMessagesByQueue"].values()
    failing = _random.random() < float(os.environ.get("FAIL_RATE", "0"))
    _fail_at[0] = _random.randrange(len(records)) if failing else None
    time.sleep(float(os.environ.get("PAUSE_SECONDS", "0")))
    result = handler.lambda_handler(event, context)
    with Path(os.environ["PROCESSED_FILE"]).open("a") as file:
        file.write("".join(f"{message_id}\n" for message_id in _processed))
        file.flush()
        os.fsync(file.fileno())
    return result
