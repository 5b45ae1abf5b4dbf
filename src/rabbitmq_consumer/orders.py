"""The example domain: an `OrderPlaced` event, shaped like example-message.json, validated
into an immutable `Order`. Replace it along with `business_logic.process`.

Validation is hand-written rather than done with a schema library: it keeps the Lambda
package free of dependencies and its cold start short. NamedTuples, like `Message`, are
cheap to create.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from .errors import InvalidMessage

EVENT_TYPE = "OrderPlaced"
_CENTS = Decimal("0.01")


class OrderItem(NamedTuple):
    sku: str
    name: str | None
    quantity: int
    unit_price: Decimal


class Address(NamedTuple):
    name: str
    line1: str
    city: str
    postal_code: str
    country: str


class Order(NamedTuple):
    order_id: str
    customer_id: str
    placed_at: datetime
    currency: str
    items: tuple[OrderItem, ...]
    total: Decimal
    shipping_address: Address


def parse_order(payload: Any) -> Order:
    """Validate an `OrderPlaced` payload; raise `InvalidMessage` naming the first bad field."""
    if not isinstance(payload, dict):
        raise InvalidMessage(
            f"expected an {EVENT_TYPE} JSON object, got {type(payload).__name__}: publish it "
            "with content type application/json"
        )
    if payload.get("eventType") != EVENT_TYPE:
        raise InvalidMessage(f"eventType: expected {EVENT_TYPE!r}, got {payload.get('eventType')!r}")
    items_value = payload.get("items")
    if not isinstance(items_value, list) or not items_value:
        raise InvalidMessage("items: expected a non-empty list")
    items = tuple(_item(value, index) for index, value in enumerate(items_value))
    total = _money(payload, "total")
    expected = sum((item.unit_price * item.quantity for item in items), Decimal(0))
    if total != expected:
        raise InvalidMessage(f"total: {total} does not equal the sum of the items, {expected}")
    currency = _text(payload, "currency")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise InvalidMessage(f"currency: expected an ISO 4217 code such as 'EUR', got {currency!r}")
    return Order(
        order_id=_text(payload, "orderId"),
        customer_id=_text(payload, "customerId"),
        placed_at=_timestamp(payload, "placedAt"),
        currency=currency,
        items=items,
        total=total,
        shipping_address=_address(payload.get("shippingAddress")),
    )


def _item(value: Any, index: int) -> OrderItem:
    if not isinstance(value, dict):
        raise InvalidMessage(f"items[{index}]: expected an object")
    quantity = value.get("quantity")
    if type(quantity) is not int or quantity < 1:
        raise InvalidMessage(f"items[{index}].quantity: expected a positive integer, got {quantity!r}")
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidMessage(f"items[{index}].name: expected a string")
    return OrderItem(
        sku=_text(value, "sku", f"items[{index}]."),
        name=name,
        quantity=quantity,
        unit_price=_money(value, "unitPrice", f"items[{index}]."),
    )


def _address(value: Any) -> Address:
    if not isinstance(value, dict):
        raise InvalidMessage("shippingAddress: expected an object")
    country = _text(value, "country", "shippingAddress.")
    if len(country) != 2 or not country.isalpha():
        raise InvalidMessage(f"shippingAddress.country: expected an ISO 3166 code such as 'GB', got {country!r}")
    return Address(
        name=_text(value, "name", "shippingAddress."),
        line1=_text(value, "line1", "shippingAddress."),
        city=_text(value, "city", "shippingAddress."),
        postal_code=_text(value, "postalCode", "shippingAddress."),
        country=country,
    )


def _text(obj: dict[str, Any], field: str, where: str = "") -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidMessage(f"{where}{field}: expected a non-empty string, got {value!r}")
    return value


def _money(obj: dict[str, Any], field: str, where: str = "") -> Decimal:
    # Money travels as a decimal string ("12.50"): a JSON number would pass through float.
    value = obj.get(field)
    try:
        amount = Decimal(value) if isinstance(value, str) else None
        valid = amount is not None and amount >= 0 and amount == amount.quantize(_CENTS)
    except InvalidOperation:  # "abc", NaN, or too many digits to quantize
        valid = False
    if not valid:
        raise InvalidMessage(f"{where}{field}: expected a decimal string such as '12.50', got {value!r}")
    assert amount is not None
    return amount


def _timestamp(obj: dict[str, Any], field: str) -> datetime:
    value = _text(obj, field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidMessage(f"{field}: expected an ISO 8601 timestamp with a time zone, got {value!r}")
    return parsed
