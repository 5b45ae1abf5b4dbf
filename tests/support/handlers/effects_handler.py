"""The real handler with its idempotency store, for the fault-injection suite's count of effects,
in a process of its own that the suite kills.

An effect is business logic completing for a message: the tests' own logic (tests/support/
logic.py, which refuses the suite's poison) runs, then "<pid> <message id>" is appended to
$EFFECTS_FILE at once, unbuffered, so a process killed a moment later has left every effect it
made. It takes $WORK_SECONDS per message, as logic that does I/O does, so that a kill lands mid-batch.
In a share $FAIL_RATE of invocations business logic fails transiently at a random message before
its effect. The handler is rabbitmq_consumer.handler as deployed, its store set by the
local mapping's --idempotency-table and --dynamodb-endpoint; the number of messages each
successful invocation skipped as completed before is appended to $SKIPPED_FILE.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.errors import RetryableError
from rabbitmq_consumer.messages import Message
from rabbitmq_tools.local_event_source_mapping import load_handler

# tests/support/logic.py by its file (this module runs where the tests' package is not importable).
_logic = cast(Callable[[Message], None], load_handler(f"{Path(__file__).resolve().parents[1] / 'logic'}.process"))
_effects = os.open(os.environ["EFFECTS_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
_random = random.Random()
_fail_rate = float(os.environ.get("FAIL_RATE", "0"))
_work_seconds = float(os.environ.get("WORK_SECONDS", "0"))
_invocation = {"fail_at": -1, "position": 0}  # where this invocation fails (-1: nowhere), and how far it got


def _process(message: Message) -> None:
    if _invocation["position"] == _invocation["fail_at"]:
        raise RetryableError("injected: downstream unavailable")
    _invocation["position"] += 1
    _logic(message)
    time.sleep(_work_seconds)
    os.write(_effects, f"{os.getpid()} {message.message_id}\n".encode())


business_logic.process = _process


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    (records,) = event["rmqMessagesByQueue"].values()
    failing = _random.random() < _fail_rate
    _invocation.update(fail_at=_random.randrange(len(records)) if failing else -1, position=0)
    result = handler.lambda_handler(event, context)
    with Path(os.environ["SKIPPED_FILE"]).open("a") as file:
        file.write(f"{result['skipped']}\n")
    return result
