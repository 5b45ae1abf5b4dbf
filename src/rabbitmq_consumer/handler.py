"""Lambda entry point: `rabbitmq_consumer.handler.lambda_handler`.

Thin on purpose: it wires Powertools and the dead-letter sink to the batch policy in
`batch.py`, which hands each message to `business_logic.process`.

No Tracer: creating one loads the X-Ray SDK and patches botocore, several times the cold
start of everything else here. Lambda's active tracing still records each invocation.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import business_logic
from .batch import BatchResult, Idempotency, process_batch
from .config import dead_letter_sink, load_config
from .dead_letters import DeadLetterSink
from .idempotency import DynamoDBStore

# Stop starting messages this long before the function's timeout (at most a tenth of the time an
# invocation has), so what is done is recorded and dead-lettered instead of killed halfway.
TIMEOUT_MARGIN_SECONDS = 5.0

config = load_config()
logger = Logger(service=config.service_name)
metrics = Metrics(namespace=config.metrics_namespace, service=config.service_name)


@cache
def sink() -> DeadLetterSink:
    """Created on first use, so an SQS client (and boto3) is only loaded when needed."""
    return dead_letter_sink(config)


@cache
def idempotency() -> Idempotency | None:
    """The idempotency store, when IDEMPOTENCY_TABLE is set; its client is made on first use."""
    settings = config.idempotency
    if settings is None:
        return None
    return Idempotency(DynamoDBStore(settings.table, settings.ttl_seconds), settings.key, settings.fail_open)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    remaining = context.get_remaining_time_in_millis() / 1000
    result = process_batch(
        event,
        business_logic.process,
        sink(),
        logger,
        config.delivery_limit,
        ordering=config.ordering,
        idempotency=idempotency(),
        deadline=time.monotonic() + remaining - min(TIMEOUT_MARGIN_SECONDS, remaining / 10),
    )
    publish_metrics(result)
    summary = result.summary()
    logger.info("batch processed", extra=summary)
    return summary


def publish_metrics(result: BatchResult) -> None:
    """One EMF document per queue, with the queue and vhost as dimensions."""
    for counts in result.queues.values():
        metrics.add_dimension(name="Queue", value=counts.queue)
        metrics.add_dimension(name="VirtualHost", value=counts.vhost)
        metrics.add_metric(name="BatchSize", unit=MetricUnit.Count, value=counts.messages)
        metrics.add_metric(name="Processed", unit=MetricUnit.Count, value=counts.processed)
        metrics.add_metric(name="DeadLettered", unit=MetricUnit.Count, value=counts.dead_lettered)
        if config.idempotency is not None:
            metrics.add_metric(name="SkippedDuplicates", unit=MetricUnit.Count, value=counts.skipped)
            metrics.add_metric(name="NoIdempotencyKey", unit=MetricUnit.Count, value=counts.without_key)
        metrics.flush_metrics()
