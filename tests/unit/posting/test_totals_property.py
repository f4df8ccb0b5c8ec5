"""Property: for any consistent order, the invoice total Intacct computes equals the channel's
total to the minor unit (tax-exclusive and VAT-inclusive, 0/2/3-decimal currencies, per-line and
order discounts, shipping, quantities 1-50, sub-cent channel amounts)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intacct_sync.errors import PermanentError
from intacct_sync.models.money import minor_units, quantize_money
from intacct_sync.models.order import Discount, Order, ShippingLine
from intacct_sync.posting.mapping import PRICE_DECIMALS_MAX, cancellation_credit_for, intacct_total, invoice_for
from tests.unit.posting.factories import line, order
from tests.unit.posting.factories import settings as make_settings

SETTINGS = make_settings(
    items={"no_sku": "fallback", "fallback_item_id": "MISC"},
    rules=[{"name": "all", "when": {}, "set": {"warehouse_id": "WH-EAST", "location_id": "100"}}],
)
RATES = [Decimal(0), Decimal("0.05"), Decimal("0.1"), Decimal("0.19"), Decimal("0.2")]


def _q(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    currency = draw(st.sampled_from(["USD", "EUR", "GBP", "JPY", "KWD", "BHD"]))
    places = minor_units(currency)
    # Some channels state amounts more precisely than the currency (WooCommerce: 4+ decimals).
    price_places = places + draw(st.sampled_from([0, 0, 0, 2]))
    inclusive = draw(st.booleans())
    rate = draw(st.sampled_from(RATES))

    def money(max_units: int) -> Decimal:
        return Decimal(draw(st.integers(0, max_units))).scaleb(-price_places)

    def tax_of(net: Decimal) -> Decimal:
        share = net * rate / (1 + rate) if inclusive else net * rate
        return _q(share, places)

    lines = []
    for i in range(draw(st.integers(1, 6))):
        qty = Decimal(draw(st.integers(1, 50)))
        price = money(5_000 * 10**price_places)
        subtotal = qty * price
        discount = (
            _q(subtotal * Decimal(draw(st.integers(0, 100))) / 100, price_places) if draw(st.booleans()) else Decimal(0)
        )
        lines.append(
            line(str(i), f"SKU-{i}", qty=str(qty), price=str(price), discount=discount, tax=tax_of(subtotal - discount))
        )
    shipping = []
    for _ in range(draw(st.integers(0, 2))):
        price = money(100 * 10**price_places)
        discount = price if draw(st.integers(0, 4)) == 0 else Decimal(0)
        shipping.append(ShippingLine(title="Ship", price=price, discount=discount, tax=tax_of(price - discount)))
    lines_net = sum((x.net for x in lines), Decimal(0))
    discounts = []
    if draw(st.booleans()) and lines_net > 0:
        discounts.append(
            Discount(
                code="ORDER", amount=_q(lines_net * Decimal(draw(st.integers(1, 30))) / 100, places), allocated=False
            )
        )
    part_taxes = sum((x.tax for x in lines), Decimal(0)) + sum((s.tax for s in shipping), Decimal(0))
    # Some channels report (part of) the tax only at order level.
    extra = (
        _q(lines_net * Decimal(draw(st.integers(0, 10))) / 100, places) if draw(st.integers(0, 3)) == 0 else Decimal(0)
    )
    if draw(st.integers(0, 3)) == 0:
        lines = [x.model_copy(update={"tax": Decimal(0)}) for x in lines]
    return order(
        lines,
        shipping=shipping,
        discounts=discounts,
        total_tax=str(part_taxes + extra),
        taxes_included=inclusive,
        currency=currency,
    )


def _cents_only(o: Order) -> bool:
    exact = quantize_money(o.total, o.currency)
    return _q(exact, 2) == exact


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders())
def test_intacct_total_equals_channel_total_to_the_minor_unit(o: Order) -> None:
    expected = quantize_money(o.total, o.currency)
    if minor_units(o.currency) > 2 and not _cents_only(o):
        with pytest.raises(PermanentError, match="decimal places"):
            invoice_for(o, SETTINGS, customer_id="WEB-1")
        return
    txn = invoice_for(o, SETTINGS, customer_id="WEB-1")
    assert intacct_total(txn) == expected
    for x in txn.lines:
        assert x.price is not None
        exponent = x.price.as_tuple().exponent
        assert isinstance(exponent, int) and -exponent <= PRICE_DECIMALS_MAX
        if x.item_id == "DISCOUNT":
            assert x.price <= 0
    tax = [s.total for s in txn.subtotals if s.description == "Tax"]
    assert sum(tax, Decimal(0)) == _q(quantize_money(o.total_tax, o.currency), min(2, minor_units(o.currency)))
    # A cancellation credits exactly what was invoiced.
    assert intacct_total(cancellation_credit_for(o, SETTINGS, customer_id="WEB-1")) == expected
