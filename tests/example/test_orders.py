"""The example business logic: example-message.json is valid; each kind of bad order is not."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from rabbitmq_consumer.errors import InvalidMessage
from rabbitmq_consumer.orders import parse_order
from support import EXAMPLE_ORDER, order

pytestmark = pytest.mark.unit


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
