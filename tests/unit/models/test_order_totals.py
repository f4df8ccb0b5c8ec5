from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from intacct_sync.models import Customer, Discount, Order, OrderLine, ShippingLine, quantize_money

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def _order(**overrides: object) -> Order:
    fields: dict[str, object] = {
        "connection_id": "c1",
        "channel": "shopify",
        "order_id": "1",
        "order_number": "1001",
        "created_at": NOW,
        "updated_at": NOW,
        "currency": "USD",
        "customer": Customer(is_guest=True),
        "lines": (
            OrderLine(
                line_id="1",
                name="Widget",
                quantity=Decimal(3),
                unit_price=Decimal("9.99"),
                subtotal=Decimal("29.97"),
                discount=Decimal("2.00"),
                tax=Decimal("1.68"),
            ),
        ),
        "shipping_lines": (ShippingLine(title="Ground", price=Decimal("5.00")),),
        "discounts": (Discount(code="SAVE2", amount=Decimal("2.00")),),
        "taxes_included": False,
        "subtotal": Decimal("27.97"),
        "total_tax": Decimal("1.68"),
        "total_shipping": Decimal("5.00"),
        "total_discount": Decimal("2.00"),
        "total": Decimal("34.65"),
        "financial_status": "paid",
        "status": "open",
        "placed": True,
    }
    return Order(**{**fields, **overrides})


def test_tax_exclusive_order_adds_tax_on_top_and_matches_to_the_cent() -> None:
    check = _order().check_totals()
    assert check.ok
    assert check.expected_total == Decimal("34.65")


def test_totals_mismatch_is_exposed_not_raised() -> None:
    check = _order(total=Decimal("34.66")).check_totals()
    assert not check.ok
    assert check.difference == Decimal("0.01")


def test_unallocated_order_discount_is_subtracted_once_and_allocated_ones_not_again() -> None:
    order = _order(
        discounts=(
            Discount(code="SAVE2", amount=Decimal("2.00")),
            Discount(kind="coupon", amount=Decimal("4.65"), allocated=False),
        ),
        total=Decimal("30.00"),
    )
    assert order.check_totals().ok


def test_tax_inclusive_order_does_not_add_tax_again() -> None:
    order = _order(taxes_included=True, total=Decimal("32.97"))
    assert order.check_totals().ok


def test_zero_decimal_currency_compares_in_whole_yen() -> None:
    order = _order(
        currency="JPY",
        lines=(
            OrderLine(line_id="1", name="Tea", quantity=Decimal(1), unit_price=Decimal(1000), subtotal=Decimal(1000)),
        ),
        shipping_lines=(),
        discounts=(),
        taxes_included=False,
        total_tax=Decimal("100.4"),
        total=Decimal(1100),
    )
    check = order.check_totals()
    assert check.ok
    assert str(check.expected_total) == "1100"


def test_order_rejects_float_money() -> None:
    with pytest.raises(ValidationError, match="never float"):
        _order(total=34.65)


def test_order_rejects_naive_datetimes_and_normalises_offsets_to_utc() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        _order(created_at=datetime(2024, 6, 1))
    order = _order(created_at=datetime(2024, 6, 1, 9, tzinfo=timezone(timedelta(hours=9))))
    assert order.created_at == datetime(2024, 6, 1, 0, tzinfo=UTC)
    assert order.created_at.tzinfo is UTC


def test_order_rejects_bad_currency_and_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        _order(currency="usd")
    with pytest.raises(ValidationError):
        _order(surprise="x")


def test_order_is_immutable() -> None:
    order = _order()
    with pytest.raises(ValidationError):
        order.total = Decimal(0)  # type: ignore[misc]


_cents = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)


@given(
    prices=st.lists(st.tuples(st.integers(1, 20), _cents, _cents), min_size=1, max_size=30),
    shipping=_cents,
    tax=_cents,
    included=st.booleans(),
    currency=st.sampled_from(["USD", "EUR", "JPY", "KWD"]),
)
def test_any_order_built_from_its_parts_reconciles_to_the_cent(
    prices: list[tuple[int, Decimal, Decimal]], shipping: Decimal, tax: Decimal, included: bool, currency: str
) -> None:
    lines = tuple(
        OrderLine(
            line_id=str(i),
            name="x",
            quantity=Decimal(qty),
            unit_price=price,
            subtotal=price * qty,
            discount=min(discount, price * qty),
        )
        for i, (qty, price, discount) in enumerate(prices)
    )
    raw_total = sum(line.net for line in lines) + shipping + (0 if included else tax)
    order = _order(
        currency=currency,
        lines=lines,
        shipping_lines=(ShippingLine(title="s", price=shipping),),
        discounts=(),
        taxes_included=included,
        total_tax=tax,
        total=quantize_money(raw_total, currency),
    )
    assert order.check_totals().ok
