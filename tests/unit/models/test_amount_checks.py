"""The amount checks made cheap for the webhook's hot path still say exactly what the slow ones said:
bounds by exponent (written places, trailing zeros included), one check per model naming the field,
and the adapters' straight-from-JSON sums equal to the node-by-node ones, errors included."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from intacct_sync.channels import InvalidPayload, receive
from intacct_sync.channels.base import Node
from intacct_sync.models.money import decimal_places, in_bounds, to_decimal
from intacct_sync.models.order import OrderLine, TaxLine
from tests.fixtures.channels import sign


def _reference_in_bounds(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return value.is_finite() and abs(value) < Decimal(10) ** 15 and isinstance(exponent, int) and exponent >= -12


DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(
        lambda digits, exponent, negative: Decimal((int(negative), tuple(digits), exponent)),
        st.lists(st.integers(0, 9), min_size=1, max_size=30),
        st.integers(-40, 25),
        st.booleans(),
    ),
)


@given(DECIMALS)
def test_the_fast_bounds_check_is_the_exponent_check(value: Decimal) -> None:
    assert in_bounds(value) == _reference_in_bounds(value)
    if value.is_finite():
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)
        assert decimal_places(value) == max(0, -exponent)


@given(DECIMALS)
def test_a_model_keeps_exactly_the_amounts_in_bounds(value: Decimal) -> None:
    """The models' inline copy of the bounds check (`Frozen._check_inputs`) is the check."""
    line = {"line_id": "1", "name": "x", "quantity": Decimal(1), "unit_price": Decimal(1), "subtotal": value}
    if _reference_in_bounds(value):
        assert str(OrderLine.model_validate(line).subtotal) == str(value)
    else:
        with pytest.raises(ValidationError) as caught:
            OrderLine.model_validate(line)
        assert caught.value.errors()[0]["ctx"]["field"] == "subtotal"


@given(DECIMALS.filter(lambda d: d.is_finite()), st.sampled_from(["{}", "+{}", " {} "]))
def test_text_is_read_in_bounds_exactly_as_the_exponent_check_says(value: Decimal, form: str) -> None:
    """`to_decimal`'s fast path for plain-notation text (places counted in the text) agrees with
    the exponent check, for text in plain and in scientific notation."""
    for text in {form.format(value), form.format(format(value, "f"))}:
        if len(text.strip()) > 64 or text.startswith("+-"):
            continue
        if _reference_in_bounds(Decimal(text)):
            assert str(to_decimal(text)) == str(Decimal(text.strip()))
        else:
            with pytest.raises(ValueError, match="out of range"):
                to_decimal(text)


@given(st.integers(-(10**16), 10**16) | st.sampled_from([10**15 - 1, 10**15, -(10**15) + 1, -(10**15), 0]))
def test_an_integer_is_in_bounds_below_ten_to_the_fifteen(value: int) -> None:
    if _reference_in_bounds(Decimal(value)):
        assert to_decimal(value) == value
    else:
        with pytest.raises(ValueError, match="out of range"):
            to_decimal(value)


@pytest.mark.parametrize("text", ["1.0000000000000", "0E-13", "1E+15", "-1000000000000000.1", "1e-13"])
def test_places_and_magnitude_are_read_as_written(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        to_decimal(text)


@pytest.mark.parametrize("text", ["1.000000000000", "0E+20", "-999999999999999.999999999999", "1E+3", "-0.00"])
def test_values_at_the_bounds_are_kept_exactly_as_written(text: str) -> None:
    assert str(to_decimal(text)) == str(Decimal(text))


def test_a_model_checks_each_amount_once_and_names_the_field() -> None:
    line = {"line_id": "1", "name": "x", "quantity": Decimal(1), "unit_price": Decimal("1.00"), "subtotal": Decimal(1)}
    assert OrderLine.model_validate(line).unit_price == Decimal("1.00")
    for bad, message in ((Decimal("1.0000000000001"), "out of range"), (1.5, "never float"), ("abc", "not a decimal")):
        with pytest.raises(ValidationError, match=message) as caught:
            OrderLine.model_validate(line | {"subtotal": bad})
        assert caught.value.errors()[0]["ctx"]["field"] == "subtotal"
    assert TaxLine.model_validate_json('{"title": "VAT", "amount": "2.50"}').amount == Decimal("2.50")


def test_sums_straight_from_json_equal_the_node_by_node_sums() -> None:
    node = Node({"tax_lines": [{"price": "1.10"}, {"price": 2}, {"price": "-0.00"}]}, "order")
    assert str(node.total("tax_lines", "price")) == str(Decimal(0) + Decimal("1.10") + Decimal(2) + Decimal("-0.00"))
    assert Node({}, "order").total("tax_lines", "price") == 0
    for bad, path in (
        ({"tax_lines": [{"price": "1"}, {"price": "x"}]}, "order.tax_lines[1].price"),
        ({"tax_lines": [{"price": 1.5}, {"price": None}]}, "order.tax_lines[1].price"),
        ({"tax_lines": [{"price": "1"}, "x"]}, "order.tax_lines[1]"),
        ({"tax_lines": {"price": "1"}}, "order.tax_lines"),
    ):
        with pytest.raises(InvalidPayload) as caught:
            Node(bad, "order").total("tax_lines", "price")
        assert caught.value.path == path


def test_a_shopify_line_amount_out_of_range_is_400_naming_the_body_field() -> None:
    body = json.loads(sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    body["line_items"][1]["discount_allocations"][0]["amount"] = "1e20"
    raw = json.dumps(body).encode()
    with pytest.raises(InvalidPayload) as caught:
        receive(sign.shopify_headers(raw, "orders/paid"), raw, sign.connection("shopify"))
    assert caught.value.path == "order.line_items[1].discount_allocations[0].amount"
