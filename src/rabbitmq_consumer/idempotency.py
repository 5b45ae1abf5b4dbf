"""Batch-level idempotency: which messages of a batch were completed before, in one read, and
their completion recorded in bulk as they finish.

A RabbitMQ mapping delivers at least once and retries the whole batch when the invocation
fails, so the messages of a failed batch that had completed run again. With a store, the batch
policy reads the idempotency key of every message first (`completed`: BatchGetItem, 100 keys a
call, strongly consistent) and skips the ones already done; each message that completes is
recorded (`Completions`, BatchWriteItem, 25 items a call), and what is pending is always
written before the invocation ends, successfully or not. A retried batch therefore skips every
message that had completed.

The one remaining window: the function dies (out of memory, a crash of the runtime) after
business logic completed a message and before its record was written. The retry then runs that
message again. `Completions` writes the records as soon as 25 are pending, so only the messages
completed and not yet written can run twice that way: in one lane at most 25 per batch (the 24
pending and the one just completed, or the 25 of a write under way); with parallel lanes, each
lane's thread may be writing 25 while the others complete: at most 24 + 25 x parallelism
(tests/consumer/test_fault_injection.py counts them). The batch policy stops taking new messages
shortly before the function's timeout and writes what is pending, so a timeout is not such a
death. Effects that must never repeat, even then, need their own guard inside business logic (a
conditional write keyed on the same key).

Records are items `{key: <idempotency key>, expiresAt: <epoch seconds>}` of a table whose
partition key is `key` (string), deleted by DynamoDB's TTL on `expiresAt` some time after they
expire; an expired item still present is treated as absent. The table is the deployment's own
(Terraform's `idempotency` settings); one key means one message across all its queues.

DynamoDB's limits, which the requests here keep to (DynamoDB developer guide, "Service,
account, and table quotas", and the API reference of each call): BatchGetItem takes at most 100
keys and returns `UnprocessedKeys` when it reads past 16 MB or is throttled; BatchWriteItem takes
at most 25 put or delete requests, no two on one item, and returns `UnprocessedItems`; neither
takes duplicate keys in one request. Unprocessed keys and items are retried with exponential
backoff and jitter, as the API reference recommends, up to `MAX_ATTEMPTS` calls.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .errors import RetryableError

if TYPE_CHECKING:  # boto3 costs ~110 ms to import: only the DynamoDB store loads it, on first use
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_GET_KEYS = 100
MAX_WRITE_ITEMS = 25
MAX_ATTEMPTS = 8  # calls per chunk: 0.05 s doubling, with jitter, about 6 s in all at worst
KEY_ATTRIBUTE = "key"
EXPIRES_ATTRIBUTE = "expiresAt"

logger = logging.getLogger(__name__)


class IdempotencyStoreError(RetryableError):
    """The store could not be read or written; the invocation fails so the batch is retried."""


class IdempotencyStore(Protocol):
    def completed(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` were completed before (each key at most once in `keys`)."""

    def record(self, keys: Sequence[str]) -> None:
        """Record `keys` as completed (each at most once), or raise `IdempotencyStoreError`."""


class DynamoDBStore:
    """The store in a DynamoDB table (see the module docstring)."""

    def __init__(
        self,
        table: str,
        ttl_seconds: int,
        client: DynamoDBClient | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds
        self._client = client
        self._clock = clock
        self._sleep = sleep
        self.calls = 0  # requests made, for the batch summary and the benchmarks

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # Short timeouts and few retries of its own (the store retries unprocessed items):
            # a stalled table fails the invocation within seconds, not botocore's 60 s a try,
            # which would run past the margin the handler keeps before the function's timeout.
            config = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "max_attempts": 2})
            self._client = boto3.client("dynamodb", config=config)
        return self._client

    def completed(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        now = self._clock()
        for chunk in _chunks(keys, MAX_GET_KEYS):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{KEY_ATTRIBUTE: {"S": key}} for key in chunk],
                    "ConsistentRead": True,  # a record written by the failed invocation must be seen
                    "ProjectionExpression": "#k, #e",
                    "ExpressionAttributeNames": {"#k": KEY_ATTRIBUTE, "#e": EXPIRES_ATTRIBUTE},
                }
            }
            for attempt in range(MAX_ATTEMPTS):
                response = self._call("read", self.client.batch_get_item, RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    if float(item.get(EXPIRES_ATTRIBUTE, {}).get("N", "inf")) > now:
                        found.add(item[KEY_ATTRIBUTE]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._backoff(attempt)
            else:
                unread = len(request.get(self.table, {}).get("Keys", []))
                raise IdempotencyStoreError(
                    f"DynamoDB table {self.table} left {unread} key(s) unread after {MAX_ATTEMPTS} attempts "
                    "(throttled): the invocation fails and the batch is retried; raise the table's capacity if it lasts"
                )
        return found

    def record(self, keys: Sequence[str]) -> None:
        expires = str(int(self._clock()) + self.ttl_seconds)
        for chunk in _chunks(keys, MAX_WRITE_ITEMS):
            request: dict[str, Any] = {
                self.table: [
                    {"PutRequest": {"Item": {KEY_ATTRIBUTE: {"S": key}, EXPIRES_ATTRIBUTE: {"N": expires}}}}
                    for key in chunk
                ]
            }
            for attempt in range(MAX_ATTEMPTS):
                response = self._call("write", self.client.batch_write_item, RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                self._backoff(attempt)
            else:
                unwritten = len(request.get(self.table, []))
                raise IdempotencyStoreError(
                    f"DynamoDB table {self.table} left {unwritten} completion record(s) unwritten after {MAX_ATTEMPTS} "
                    "attempts (throttled): the invocation fails, and those messages run again with the retry"
                )

    def _call(self, what: str, method: Callable[..., Any], **request: Any) -> Any:
        self.calls += 1
        try:
            return method(**request)
        except Exception as exc:  # botocore's errors share no useful base class
            raise IdempotencyStoreError(
                f"cannot {what} the idempotency records in DynamoDB table {self.table}: {_one_line(exc)}"
            ) from exc

    def _backoff(self, attempt: int) -> None:
        self._sleep(random.uniform(0, 0.05 * 2**attempt))  # full jitter


class Completions:
    """Completion records pending, written `MAX_WRITE_ITEMS` at a time as messages finish, on
    whichever lane thread completes them, and whatever is left by `flush`."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.recorded = 0

    def add(self, key: str) -> None:
        with self.lock:
            self.pending.append(key)
            if len(self.pending) < MAX_WRITE_ITEMS:
                return
            chunk, self.pending = self.pending, []
        self._write(chunk)

    def flush(self) -> None:
        with self.lock:
            chunk, self.pending = self.pending, []
        if chunk:
            self._write(chunk)

    def _write(self, chunk: list[str]) -> None:
        try:
            self.store.record(chunk)
        except Exception:
            with self.lock:  # kept for the final flush: a later write may succeed
                self.pending[:0] = chunk
            raise
        with self.lock:
            self.recorded += len(chunk)


def _chunks(keys: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    return (keys[start : start + size] for start in range(0, len(keys), size))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:500]
