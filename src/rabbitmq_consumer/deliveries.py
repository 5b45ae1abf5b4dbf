"""Whether a message is on its last delivery before the queue's delivery limit.

A quorum queue moves a message to its dead-letter exchange once the count of its deliveries
that the broker counts as failed exceeds the delivery limit. The broker says how many there were
in headers of the delivery (absent while the count is 0):

| engine        | `x-delivery-count` counts, and the limit counts       | `x-acquired-count`          |
|---------------|-------------------------------------------------------|-----------------------------|
| 3.13, 4.0-4.2 | every return (reject, nack, a closed channel)          | not sent                    |
| 4.3 and later | failed deliveries: `basic.reject`, not `basic.nack`     | every delivery, reconnects  |

(RabbitMQ "Negative Acknowledgements" for 4.3, https://www.rabbitmq.com/docs/4.3/nack; the quorum
queue guide for 4.3, rabbitmq/rabbitmq-website#2508: "Starting with RabbitMQ 4.3, the delivery
limit is based on delivery-count rather than acquired-count"; rabbitmq/rabbitmq-server#15387.)

So the guard reads `x-delivery-count`: this delivery is the last when the count already equals
the limit, and a failure now makes the broker move the message, with no reason, to its
dead-letter queue. `x-acquired-count` also grows when a poller reconnects and its unacked batch
returns, so it says nothing about failures; it only backs the guard against a loop the broker
does not count at all (RabbitMQ 4.3 with a poller that returns failed batches with
`basic.nack`, which AWS does not document either way): a message acquired
`ACQUISITIONS_PER_DELIVERY` times the limit is treated as on its last delivery too.

Both are read from the record's headers as Lambda delivered them, not through the decoded
headers: the guard runs while a business-logic error is being handled, and on records that were
never decoded, and must not raise in its place whatever the record holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .reasons import log_id

DELIVERY_COUNT = "x-delivery-count"
ACQUIRED_COUNT = "x-acquired-count"
ACQUISITIONS_PER_DELIVERY = 5


def headers_of(record: Any) -> Mapping[str, Any]:
    """The headers of a record as Lambda delivered them; empty when there are none, or the record
    is malformed."""
    properties = record.get("basicProperties") if isinstance(record, Mapping) else None
    headers = properties.get("headers") if isinstance(properties, Mapping) else None
    return headers if isinstance(headers, Mapping) else {}


def _count(headers: Mapping[str, Any], name: str) -> int:
    value = headers.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def last_delivery(record: Any, delivery_limit: int | None) -> str | None:
    """None unless this is the record's last delivery; then which one, for a reason such as
    "failed on its last delivery (21 of 21)"."""
    if delivery_limit is None:
        return None
    headers = headers_of(record)
    count = _count(headers, DELIVERY_COUNT)
    if count >= delivery_limit:
        return f"{count + 1} of {delivery_limit + 1}"
    acquired = _count(headers, ACQUIRED_COUNT)
    if acquired >= ACQUISITIONS_PER_DELIVERY * delivery_limit:
        return f"acquired {acquired} times, {ACQUISITIONS_PER_DELIVERY} times the delivery limit of {delivery_limit}"
    return None


def delivery_headers(record: Any) -> dict[str, Any]:
    """What a failure's log line tells about the message's past deliveries: the broker's two
    counting headers as delivered (absent: None) and the redelivered flag. A deliberately
    failing message's lines show which of them grows with each return, and so how Lambda's
    poller returns a failed batch (docs/error-handling.md)."""
    headers = headers_of(record)
    return {
        "deliveryCount": log_id(headers.get(DELIVERY_COUNT)),
        "acquiredCount": log_id(headers.get(ACQUIRED_COUNT)),
        "redelivered": record.get("redelivered") is True if isinstance(record, Mapping) else None,
    }
