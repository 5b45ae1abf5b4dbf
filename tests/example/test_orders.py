"""The example business logic: example-message.json is valid; each kind of bad order is not, and
the handler, running the example's `process`, dead-letters it with the reason."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pika
import pytest

from rabbitmq_consumer import handler
from rabbitmq_consumer.errors import InvalidMessage
from rabbitmq_consumer.orders import parse_order
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext
from support import ROOT, event_of, load_event, record

pytestmark = pytest.mark.unit

EXAMPLE_ORDER: dict[str, Any] = json.loads((ROOT / "example-message.json").read_text())


def order(order_id: str = "ord-1", **changes: Any) -> dict[str, Any]:
    """A valid order like example-message.json."""
    return {**copy.deepcopy(EXAMPLE_ORDER), "orderId": order_id, **changes}


def test_example_message_is_a_valid_order() -> None:
    parsed = parse_order(EXAMPLE_ORDER)
    assert parsed.order_id == "ord-2026-11-000123"
    assert parsed.placed_at == datetime(2026, 11, 29, 9, 15, tzinfo=UTC)
    assert parsed.total == Decimal("34.90")
    assert [(item.sku, item.quantity, item.unit_price) for item in parsed.items] == [
        ("BOOK-0451", 2, Decimal("12.50")),
        ("MUG-0007", 1, Decimal("9.90")),
    ]
    assert parsed.shipping_address.country == "GB"


def with_item(**changes: Any) -> dict[str, Any]:
    value = order()
    value["items"] = [{**value["items"][0], **changes}, value["items"][1]]
    return value


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("a string", "expected an OrderPlaced JSON object, got str"),
        (b"bytes", "got bytes: publish it with content type application/json"),
        (order(eventType="OrderCancelled"), "eventType: expected 'OrderPlaced'"),
        (order(orderId=""), "orderId: expected a non-empty string"),
        ({k: v for k, v in order().items() if k != "customerId"}, "customerId: expected a non-empty string"),
        (order(placedAt="yesterday"), "placedAt: expected an ISO 8601 timestamp"),
        (order(placedAt="2026-11-29T09:15:00"), "placedAt: expected an ISO 8601 timestamp with a time zone"),
        (order(currency="eur"), "currency: expected an ISO 4217 code"),
        (order(items=[]), "items: expected a non-empty list"),
        (order(items="none"), "items: expected a non-empty list"),
        (order(items=["x"]), r"items\[0\]: expected an object"),
        (with_item(quantity=0), r"items\[0\].quantity: expected a positive integer"),
        (with_item(quantity=True), r"items\[0\].quantity: expected a positive integer"),
        (with_item(quantity=1.5), r"items\[0\].quantity: expected a positive integer"),
        (with_item(sku=None), r"items\[0\].sku: expected a non-empty string"),
        (with_item(name=5), r"items\[0\].name: expected a string"),
        (with_item(unitPrice=12.5), r"items\[0\].unitPrice: expected a decimal string"),
        (with_item(unitPrice="12.505"), r"items\[0\].unitPrice: expected a decimal string"),
        (with_item(unitPrice="-1.00"), r"items\[0\].unitPrice: expected a decimal string"),
        (with_item(unitPrice="NaN"), r"items\[0\].unitPrice: expected a decimal string"),
        (with_item(unitPrice="1e999999"), r"items\[0\].unitPrice: expected a decimal string"),
        (order(total="35.00"), "total: 35.00 does not equal the sum of the items, 34.90"),
        (order(shippingAddress=None), "shippingAddress: expected an object"),
        (order(shippingAddress={**EXAMPLE_ORDER["shippingAddress"], "country": "GBR"}), "country: expected an ISO"),
        (order(shippingAddress={**EXAMPLE_ORDER["shippingAddress"], "city": " "}), "city: expected a non-empty"),
    ],
)
def test_invalid_orders(payload: Any, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        parse_order(payload)


def test_the_handler_processes_orders_and_dead_letters_a_bad_one(
    dead_letter_file: Path, lambda_context: LocalLambdaContext
) -> None:
    # GIVEN two valid orders and one whose total is wrong, as JSON
    orders = [order("ord-1"), order("ord-bad", total="0.00"), order("ord-2")]
    records = [
        record(
            json.dumps(value).encode(),
            pika.BasicProperties(content_type="application/json", message_id=value["orderId"]),
        )
        for value in orders
    ]
    # WHEN the handler runs the example's business logic on them
    summary = handler.lambda_handler(event_of(records), lambda_context)
    # THEN the bad one is dead-lettered with the reason, the others processed
    assert (summary["processed"], summary["deadLettered"]) == (2, 1)
    (letter,) = [json.loads(line) for line in dead_letter_file.read_text().splitlines()]
    assert letter["record"]["basicProperties"]["messageId"] == "ord-bad"
    assert letter["reason"] == "total: 0.00 does not equal the sum of the items, 34.90"


def test_aws_sample_is_dead_lettered_as_not_an_order(
    dead_letter_file: Path, lambda_context: LocalLambdaContext
) -> None:
    # AWS's sample carries a text/plain body: the example business logic wants JSON orders.
    summary = handler.lambda_handler(load_event("aws_sample"), lambda_context)
    assert summary["deadLettered"] == 1
    assert "publish it with content type application/json" in dead_letter_file.read_text()
