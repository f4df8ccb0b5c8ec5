"""`models.checked.construct_checked`: builds only what validation would keep as it is; anything
else is left to validation (None), which refuses or cleans it as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.models.checked import construct_checked
from intacct_sync.models.events import OrderEvent
from intacct_sync.models.order import Address, Discount, OrderLine, OrderReference, TaxLine

LINE: dict[str, Any] = {
    "line_id": "466157049",
    "kind": "product",
    "sku": "SKU-1",
    "name": "Café crème, 250 g",
    "product_id": "632910392",
    "variant_id": None,
    "quantity": Decimal(2),
    "unit_price": Decimal("199.00"),
    "subtotal": Decimal("398.00"),
    "discount": Decimal("5.00"),
    "tax": Decimal("1E+2"),
    "taxable": True,
}


def test_values_validation_keeps_give_the_same_model() -> None:
    built = construct_checked(OrderLine, dict(LINE))
    validated = OrderLine.model_validate(LINE)
    assert built == validated
    assert built is not None and list(built.__dict__) == list(validated.__dict__)
    assert built.__pydantic_fields_set__ == validated.__pydantic_fields_set__
    assert built.model_dump_json() == validated.model_dump_json()


def test_defaults_fill_what_is_not_given() -> None:
    fields = {k: v for k, v in LINE.items() if k not in ("kind", "discount", "tax", "taxable")}
    built = construct_checked(OrderLine, fields)
    assert built == OrderLine.model_validate(fields)
    assert built is not None and built.__pydantic_fields_set__ == set(fields)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "bad\x00name"),  # free text validation cleans
        ("name", "lone \ud800"),
        ("sku", "x\uffff"),  # an id validation refuses
        ("line_id", 466157049),  # an int where a str goes: validation decides
        ("kind", "coupon"),  # not one of the Literal's values
        ("quantity", 2),  # int: validation converts
        ("quantity", 2.0),  # float: validation refuses
        ("subtotal", Decimal("1E+15")),  # out of range
        ("subtotal", Decimal("1.0000000000000")),  # 13 decimal places
        ("subtotal", Decimal("NaN")),
        ("discount", Decimal("Infinity")),
        ("taxable", 1),
        ("unknown", "x"),
    ],
)
def test_anything_validation_would_change_or_refuse_is_left_to_it(field: str, value: object) -> None:
    assert construct_checked(OrderLine, {**LINE, field: value}) is None


def test_a_missing_required_field_is_left_to_validation() -> None:
    assert construct_checked(OrderLine, {k: v for k, v in LINE.items() if k != "name"}) is None


def test_patterns_and_datetimes() -> None:
    assert construct_checked(Address, {"country_code": "GB"}) == Address(country_code="GB")
    for code in ("gb", "GBR", "GB\n", "G"):
        assert construct_checked(Address, {"country_code": code}) is None
    ref: dict[str, Any] = {"connection_id": "c", "channel": "bigcommerce", "order_id": "1", "scope": "s"}
    at = datetime(2024, 5, 2, 14, 15, tzinfo=UTC)
    assert construct_checked(OrderReference, {**ref, "created_at": at}) == OrderReference(**ref, created_at=at)
    local = at.astimezone(timezone(timedelta(hours=2)))
    assert construct_checked(OrderReference, {**ref, "created_at": local}) is None  # validation converts it
    assert construct_checked(OrderReference, {**ref, "created_at": at.replace(tzinfo=None)}) is None


def test_plain_decimals_and_nested_models() -> None:
    assert construct_checked(TaxLine, {"title": "GST", "rate": Decimal("0.05"), "amount": Decimal(1)}) is not None
    assert construct_checked(TaxLine, {"title": "GST", "rate": Decimal("NaN"), "amount": Decimal(1)}) is None
    discount = {"amount": Decimal(1), "kind": None}
    assert construct_checked(Discount, discount) == Discount.model_validate(discount)


def test_models_with_other_validators_are_always_validated() -> None:
    assert construct_checked(OrderEvent, {}) is None  # the envelope checks its payload
