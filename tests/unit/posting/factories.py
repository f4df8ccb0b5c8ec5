"""Canonical orders for the posting tests, built field by field (amounts as Decimal strings)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from intacct_sync.models.order import (
    Address,
    Customer,
    Discount,
    FinancialStatus,
    Order,
    OrderLine,
    OrderStatus,
    ShippingLine,
)
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, load_settings

D = Decimal
WHEN = datetime(2024, 5, 2, 23, 30, tzinfo=UTC)


def line(
    line_id: str = "1", sku: str | None = "TSHIRT-M", qty: str = "1", price: str = "10.00", **kw: Any
) -> OrderLine:
    fields: dict[str, Any] = {
        "line_id": line_id,
        "sku": sku,
        "name": kw.pop("name", f"Product {line_id}"),
        "quantity": D(qty),
        "unit_price": D(price),
        "subtotal": D(qty) * D(price),
    }
    fields.update(
        {k: D(v) if isinstance(v, str) and k in ("discount", "tax", "subtotal") else v for k, v in kw.items()}
    )
    return OrderLine(**fields)


def address(country: str | None = "US", region: str | None = "KY", **kw: Any) -> Address:
    base: dict[str, Any] = {
        "name": "Bob Norman",
        "line1": "Chestnut Street 92",
        "city": "Louisville",
        "region": region,
        "postal_code": "40202",
        "country_code": country,
        "phone": "555-625-1199",
    }
    base.update(kw)
    return Address(**base)


def order(
    lines: list[OrderLine] | None = None,
    *,
    shipping: list[ShippingLine] | None = None,
    discounts: list[Discount] | None = None,
    total_tax: str = "0",
    taxes_included: bool = False,
    currency: str = "USD",
    total: str | None = None,
    **kw: Any,
) -> Order:
    """An order whose total is computed from its parts unless given."""
    lines = lines if lines is not None else [line()]
    shipping = shipping or []
    discounts = discounts or []
    net = sum((x.net for x in lines), D(0))
    ship = sum((s.net for s in shipping), D(0))
    unalloc = sum((d.amount for d in discounts if not d.allocated), D(0))
    tax = D(total_tax)
    computed = net + ship - unalloc + (D(0) if taxes_included else tax)
    fields: dict[str, Any] = {
        "connection_id": "shop-1",
        "channel": "shopify",
        "order_id": "450789469",
        "order_number": "1001",
        "created_at": WHEN,
        "updated_at": WHEN,
        "currency": currency,
        "customer": Customer(
            customer_id="207119551",
            email="bob.norman@mail.example.com",
            first_name="Bob",
            last_name="Norman",
            phone="555-625-1199",
            is_guest=False,
        ),
        "billing_address": address(),
        "shipping_address": address(),
        "lines": tuple(lines),
        "shipping_lines": tuple(shipping),
        "discounts": tuple(discounts),
        "taxes_included": taxes_included,
        "subtotal": net,
        "total_tax": tax,
        "total_shipping": ship,
        "total_discount": sum((x.discount for x in lines), D(0)) + unalloc,
        "total": D(total) if total is not None else computed,
        "financial_status": FinancialStatus.PAID,
        "status": OrderStatus.OPEN,
        "placed": True,
        "gateway": "shopify_payments",
    }
    fields.update(kw)
    return Order(**fields)


def settings(**sections: Any) -> Settings:
    """DEFAULT_SETTINGS with whole sections or keys replaced: settings(items={"no_sku": ...})."""
    data = DEFAULT_SETTINGS.model_dump(mode="json")
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return load_settings(data)
