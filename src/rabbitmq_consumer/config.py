"""The function's configuration, read from environment variables in one place.

| variable                        | meaning                                             |
|---------------------------------|-----------------------------------------------------|
| `POWERTOOLS_SERVICE_NAME`       | service name on logs and metrics                    |
| `POWERTOOLS_METRICS_NAMESPACE`  | CloudWatch namespace of the metrics                 |
| `DEAD_LETTER_QUEUE_URL`         | SQS queue for rejected messages (set in AWS)        |
| `DEAD_LETTER_FILE`              | JSON-lines file for rejected messages (local mode)  |
| `DEAD_LETTER_BUCKET`            | S3 bucket for dead letters too large for SQS        |
| `DELIVERY_LIMIT`                | the queue's `x-delivery-limit` (default 20)         |
| `ORDERING_KEY`                  | the key of the parallel lanes: `none` (default),    |
|                                 | `message-id`, `header:<name>` or `json:<path>`      |
| `PARALLELISM`                   | lanes run at once, 1 (default) to 64                |
| `IDEMPOTENCY_TABLE`             | DynamoDB table of completion records (unset: off)   |
| `IDEMPOTENCY_KEY`               | `message-id` (default), `header:<name>` or          |
|                                 | `json:<path>`: what names a message once            |
| `IDEMPOTENCY_TTL_SECONDS`       | how long a completion is remembered (default 7 days) |
| `IDEMPOTENCY_FAIL_OPEN`         | `true`: process without the check when the table    |
|                                 | cannot be read (default `false`: the batch fails)   |

Exactly one dead-letter destination must be set. With `DEAD_LETTER_QUEUE_URL`, a dead letter
over 256 KiB goes to `DEAD_LETTER_BUCKET` (under `dead-letters/`) with a pointer in SQS; with
no bucket, one over SQS's 1 MiB fails the invocation. A file takes any size and ignores the
bucket. `PARALLELISM` above 1 needs an `ORDERING_KEY` (`message-id` where order does not
matter): messages of one key run one after another in delivery order, those of different keys
at the same time, so business logic must be thread-safe (docs/throughput.md). Powertools reads
its own variables too (`POWERTOOLS_LOG_LEVEL`, ...); the defaults below only make an unset one
harmless.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .batch import SEQUENTIAL, Ordering
from .dead_letters import DeadLetterSink, JsonLinesSink, SqsSink
from .keys import KeySetting, parse_key
from .lanes import MAX_PARALLELISM

DEFAULT_SERVICE_NAME = "rabbitmq-consumer"
DEFAULT_METRICS_NAMESPACE = "RabbitMQConsumer"
# The work queue's x-delivery-limit: RabbitMQ 4's default for quorum queues, used when the
# topology is declared (rabbitmq_admin.topology) and by the handler's last-delivery guard.
DEFAULT_DELIVERY_LIMIT = 20
# A completion is remembered this long: batch retries come within minutes and publisher re-sends
# within seconds; a week covers an outage over a weekend.
DEFAULT_IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class IdempotencySettings:
    table: str
    key: KeySetting
    ttl_seconds: int = DEFAULT_IDEMPOTENCY_TTL_SECONDS
    fail_open: bool = False


@dataclass(frozen=True)
class Config:
    service_name: str
    metrics_namespace: str
    dead_letter_queue_url: str | None
    dead_letter_file: Path | None
    delivery_limit: int
    dead_letter_bucket: str | None = None
    ordering: Ordering = SEQUENTIAL
    idempotency: IdempotencySettings | None = None


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    file = environ.get("DEAD_LETTER_FILE") or None
    limit = environ.get("DELIVERY_LIMIT") or str(DEFAULT_DELIVERY_LIMIT)
    if not limit.isdigit() or int(limit) < 1:
        raise ConfigError(f"DELIVERY_LIMIT must be a positive integer (the queue's x-delivery-limit), got {limit!r}")
    return Config(
        ordering=_ordering(environ),
        idempotency=_idempotency(environ),
        service_name=environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        metrics_namespace=environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE,
        dead_letter_queue_url=environ.get("DEAD_LETTER_QUEUE_URL") or None,
        dead_letter_file=Path(file) if file else None,
        delivery_limit=int(limit),
        dead_letter_bucket=environ.get("DEAD_LETTER_BUCKET") or None,
    )


def _ordering(environ: Mapping[str, str]) -> Ordering:
    text = environ.get("ORDERING_KEY") or "none"
    parallelism = environ.get("PARALLELISM") or "1"
    if not parallelism.isdigit() or not 1 <= int(parallelism) <= MAX_PARALLELISM:
        raise ConfigError(f"PARALLELISM must be a whole number from 1 to {MAX_PARALLELISM}, got {parallelism!r}")
    if text == "none":
        if int(parallelism) > 1:
            raise ConfigError(
                f"PARALLELISM {parallelism} needs an ORDERING_KEY to split batches into lanes: set ORDERING_KEY to "
                "header:<name> or json:<path> (messages of one key keep their order), or message-id (no order)"
            )
        return SEQUENTIAL
    try:
        return Ordering(parse_key(text, "ORDERING_KEY"), int(parallelism))
    except ValueError as exc:
        raise ConfigError(f"{exc}, or none") from None


def _idempotency(environ: Mapping[str, str]) -> IdempotencySettings | None:
    table = environ.get("IDEMPOTENCY_TABLE") or None
    if table is None:
        return None
    ttl = environ.get("IDEMPOTENCY_TTL_SECONDS") or str(DEFAULT_IDEMPOTENCY_TTL_SECONDS)
    if not ttl.isdigit() or int(ttl) < 60:
        raise ConfigError(f"IDEMPOTENCY_TTL_SECONDS must be a whole number of seconds, at least 60, got {ttl!r}")
    fail_open = (environ.get("IDEMPOTENCY_FAIL_OPEN") or "false").lower()
    if fail_open not in ("true", "false"):
        raise ConfigError(f"IDEMPOTENCY_FAIL_OPEN must be true or false, got {fail_open!r}")
    try:
        key = parse_key(environ.get("IDEMPOTENCY_KEY") or "message-id", "IDEMPOTENCY_KEY")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return IdempotencySettings(table, key, int(ttl), fail_open == "true")


def dead_letter_sink(config: Config) -> DeadLetterSink:
    if config.dead_letter_queue_url and config.dead_letter_file:
        raise ConfigError(
            "both DEAD_LETTER_QUEUE_URL and DEAD_LETTER_FILE are set: set only one dead-letter destination"
        )
    if config.dead_letter_queue_url:
        return SqsSink(config.dead_letter_queue_url, bucket=config.dead_letter_bucket)
    if config.dead_letter_file:
        return JsonLinesSink(config.dead_letter_file)
    raise ConfigError(
        "no dead-letter destination: set DEAD_LETTER_QUEUE_URL (an SQS queue URL) in AWS, "
        "or DEAD_LETTER_FILE (a JSON-lines path) in local mode"
    )
