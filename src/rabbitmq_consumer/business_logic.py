"""Your business logic: the one function to replace.

`process` is called once per message, in order. It must be idempotent: delivery is at
least once, and a failed invocation delivers the whole batch again (use `orderId`, or the
AMQP message id, as the idempotency key). Its contract:

- return normally: the message is done;
- raise `InvalidMessage("reason")`: the message can never succeed; it is dead-lettered
  with the reason and the rest of the batch carries on;
- raise `RetryableError` (or anything else): the invocation fails and Lambda delivers the
  whole batch again, until the broker's delivery limit moves a message that keeps failing
  to the broker's dead-letter queue.
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
