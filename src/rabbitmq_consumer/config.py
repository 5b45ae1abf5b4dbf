"""The function's configuration, read from environment variables in one place.

| variable                        | meaning                                             |
|---------------------------------|-----------------------------------------------------|
| `POWERTOOLS_SERVICE_NAME`       | service name on logs and metrics                    |
| `POWERTOOLS_METRICS_NAMESPACE`  | CloudWatch namespace of the metrics                 |
| `DEAD_LETTER_QUEUE_URL`         | SQS queue for rejected messages (set in AWS)        |
| `DEAD_LETTER_FILE`              | JSON-lines file for rejected messages (local mode)  |
| `DEAD_LETTER_BUCKET`            | S3 bucket for dead letters too large for SQS        |
| `DELIVERY_LIMIT`                | the queue's `x-delivery-limit` (default 20)         |

Exactly one dead-letter destination must be set. With `DEAD_LETTER_QUEUE_URL`, a dead letter
over 256 KiB goes to `DEAD_LETTER_BUCKET` (under `dead-letters/`) with a pointer in SQS; with
no bucket, one over SQS's 1 MiB fails the invocation. A file takes any size and ignores the
bucket. Powertools reads its own variables too (`POWERTOOLS_LOG_LEVEL`, ...); the defaults
below only make an unset one harmless.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .dead_letters import DeadLetterSink, JsonLinesSink, SqsSink

DEFAULT_SERVICE_NAME = "rabbitmq-consumer"
DEFAULT_METRICS_NAMESPACE = "RabbitMQConsumer"
# The work queue's x-delivery-limit: RabbitMQ 4's default for quorum queues, used when the
# topology is declared (rabbitmq_tools.topology) and by the handler's last-delivery guard.
DEFAULT_DELIVERY_LIMIT = 20


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Config:
    service_name: str
    metrics_namespace: str
    dead_letter_queue_url: str | None
    dead_letter_file: Path | None
    delivery_limit: int
    dead_letter_bucket: str | None = None


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    file = environ.get("DEAD_LETTER_FILE") or None
    limit = environ.get("DELIVERY_LIMIT") or str(DEFAULT_DELIVERY_LIMIT)
    if not limit.isdigit() or int(limit) < 1:
        raise ConfigError(f"DELIVERY_LIMIT must be a positive integer (the queue's x-delivery-limit), got {limit!r}")
    return Config(
        service_name=environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        metrics_namespace=environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE,
        dead_letter_queue_url=environ.get("DEAD_LETTER_QUEUE_URL") or None,
        dead_letter_file=Path(file) if file else None,
        delivery_limit=int(limit),
        dead_letter_bucket=environ.get("DEAD_LETTER_BUCKET") or None,
    )


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
