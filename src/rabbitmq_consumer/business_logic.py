"""Your business logic: the one function to replace.

The `process` below is the example's (it validates an order with `orders.py`); the example also
holds example-message.json, rabbitmq_tools/demo_messages.py (what `make demo` publishes and
expects) and tests/example. The template around it holds whatever `process` does: its tests run
business logic of their own.

The handler calls `process(message)` once per message, with a `Message` (messages.py): queue,
vhost, body, `payload` decoded by content type (JSON, text or bytes) and properties. The contract:

- return normally: the message is done, and acknowledged with its batch;
- raise `InvalidMessage("reason")`: the message can never succeed; it is dead-lettered (SQS,
  with the reason) and the rest of the batch carries on;
- raise `RetryableError`, or let any other exception propagate: the invocation fails and Lambda
  delivers the whole batch again, except that a message on its last delivery before the queue's
  delivery limit is dead-lettered with the error instead (docs/error-handling.md).

So it must be idempotent: delivery is at least once, and a failed invocation delivers the whole
batch again, messages already done included (key your writes by `orderId`, or the AMQP message
id; or let the handler skip completed messages: IDEMPOTENCY_TABLE, config.py). With PARALLELISM
above 1 it runs on several threads at once, one message per key at a time: make it thread-safe
(docs/throughput.md). Log per message at DEBUG only, as the handler does (it logs one line per
batch): a batch holds up to 10,000 messages, and CloudWatch Logs bills by the gigabyte ingested.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from .config import load_config
from .messages import Message
from .orders import parse_order

# A child of the handler's logger: same JSON format and Lambda context, same service name.
logger = Logger(service=load_config().service_name, child=True)


def process(message: Message) -> None:
    order = parse_order(message.payload)
    # A real service would now store the order, keyed by order_id so a redelivery is a no-op.
    logger.debug("order accepted", extra={"orderId": order.order_id, "total": str(order.total)})
