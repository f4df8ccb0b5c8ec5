"""The rules engine: every condition matched and not matched (with the reason), precedence,
line-level SKU rules, stop, and validation at load."""

from __future__ import annotations

from typing import Any

import pytest

from intacct_sync.errors import ConfigurationError
from intacct_sync.models.order import ShippingLine
from intacct_sync.posting.rules import Rule, evaluate
from intacct_sync.settings import load_settings
from tests.unit.posting.factories import D, address, line, order


def rules(*specs: dict[str, Any]) -> tuple[Rule, ...]:
    return load_settings({"rules": list(specs)}).rules


def one(when: dict[str, Any], **kw: Any) -> tuple[bool, str]:
    outcome = evaluate(kw.pop("o", None) or order(**kw), rules({"name": "r", "when": when, "set": {"class_id": "WEB"}}))
    t = outcome.trace[0]
    return t.matched, t.reason


CASES: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]] = [
    # (condition, order kwargs matching, order kwargs not matching, expected words in the reason)
    ({"connection": ["shop-1"]}, {}, {"connection_id": "shop-2"}, "connection: order came through 'shop-2'"),
    ({"channel": "shopify"}, {}, {"channel": "woocommerce"}, "channel: order is from 'woocommerce'"),
    ({"shipping_country": ["us"]}, {}, {"shipping_address": address("DE", None)}, "shipping country is 'DE'"),
    ({"shipping_region": ["ky"]}, {}, {"shipping_address": address("US", "CA")}, "shipping region is 'CA'"),
    ({"tag": ["VIP"]}, {"tags": ("vip",)}, {"tags": ("retail",)}, "tag: order tags are [retail]"),
    (
        {"shipping_method": ["standard shipping"]},
        {"shipping": [ShippingLine(title="Standard Shipping", price=D(5))]},
        {"shipping": [ShippingLine(title="Express", code="exp", price=D(5))]},
        "shipping_method: order ships by [Express, exp]",
    ),
    ({"currency": ["usd"]}, {}, {"currency": "EUR"}, "currency: order is in EUR"),
    ({"order_total": {"min": "10.00", "max": "10.00"}}, {}, {"total": "10.01"}, "10.01 USD is above max 10.00"),
    ({"order_total": {"min": "10.00"}}, {}, {"total": "9.99"}, "9.99 USD is below min 10.00"),
]


@pytest.mark.parametrize(("when", "yes", "no", "why"), CASES, ids=[next(iter(c[0])) for c in CASES])
def test_each_condition_matches_or_says_why_not(
    when: dict[str, Any], yes: dict[str, Any], no: dict[str, Any], why: str
) -> None:
    matched, reason = one(when, **yes)
    assert matched, reason
    assert reason == "all conditions hold"
    matched, reason = one(when, **no)
    assert not matched
    assert why in reason


def test_sku_condition_matches_per_line_and_says_which_skus_failed() -> None:
    o = order([line("1", "TSHIRT-M"), line("2", "MUG-01")])
    out = evaluate(o, rules({"name": "shirts", "when": {"sku": ["tshirt-*"]}, "set": {"warehouse_id": "WH-WEST"}}))
    assert out.trace[0].matched and out.trace[0].lines == ("1",)
    assert out.line("1").warehouse_id == "WH-WEST"
    assert out.line("2").warehouse_id is None
    out = evaluate(o, rules({"name": "shirts", "when": {"sku": ["HAT-*"]}, "set": {"warehouse_id": "WH-WEST"}}))
    assert not out.trace[0].matched
    assert "no line's SKU [TSHIRT-M, MUG-01] matches [HAT-*]" in out.trace[0].reason


def test_shipping_country_falls_back_to_billing_without_shipping_address() -> None:
    matched, reason = one({"shipping_country": ["US"]}, shipping_address=None)
    assert matched
    matched, reason = one({"shipping_country": ["DE"]}, shipping_address=None)
    assert not matched and "billing (no shipping address) country is 'US'" in reason
    matched, reason = one({"shipping_country": ["DE"]}, shipping_address=None, billing_address=None)
    assert not matched and "has no" in reason


def test_all_conditions_must_hold_and_the_first_failure_is_reported() -> None:
    matched, reason = one({"channel": ["shopify"], "currency": ["EUR"]})
    assert not matched and reason.startswith("currency:")


def test_empty_when_matches_every_order() -> None:
    matched, reason = one({})
    assert matched and "matches every order" in reason


def test_first_matching_rule_wins_per_value_and_later_rules_fill_the_rest() -> None:
    out = evaluate(
        order(),
        rules(
            {"name": "us", "when": {"shipping_country": ["US"]}, "set": {"location_id": "100"}},
            {"name": "all", "when": {}, "set": {"location_id": "200", "department_id": "SALES"}},
        ),
    )
    assert (out.header.location_id, out.header.department_id) == ("100", "SALES")
    assert out.trace[1].applied == {"department_id": "SALES"}
    assert "location_id already set by an earlier rule" in out.trace[1].reason
    assert [t.name for t in out.applied] == ["us", "all"]


def test_order_level_values_become_line_defaults_and_sku_rules_override_when_listed_first() -> None:
    o = order([line("1", "TSHIRT-M"), line("2", "MUG-01")])
    out = evaluate(
        o,
        rules(
            {"name": "mugs", "when": {"sku": "MUG-*"}, "set": {"warehouse_id": "WH-WEST", "item_id": "MUG-01"}},
            {"name": "default", "when": {}, "set": {"warehouse_id": "WH-EAST", "location_id": "100"}},
        ),
    )
    assert out.line("2").warehouse_id == "WH-WEST" and out.line("2").item_id == "MUG-01"
    assert out.line("2").location_id == "100"
    assert out.line("1").warehouse_id == "WH-EAST" and out.line("1").item_id is None
    assert out.header.warehouse_id == "WH-EAST"


def test_stop_ends_evaluation_and_the_trace_says_so() -> None:
    out = evaluate(
        order(),
        rules(
            {"name": "first", "when": {}, "set": {"class_id": "WEB"}, "stop": True},
            {"name": "second", "when": {}, "set": {"department_id": "SALES"}},
        ),
    )
    assert out.header.department_id is None
    assert out.trace[1].skipped and "rule 0 'first' has stop" in out.trace[1].reason


def test_stop_on_a_sku_rule_keeps_later_sku_rules_off_its_lines() -> None:
    o = order([line("1", "TSHIRT-M"), line("2", "TSHIRT-S")])
    out = evaluate(
        o,
        rules(
            {"name": "medium", "when": {"sku": "TSHIRT-M"}, "set": {"class_id": "WEB"}, "stop": True},
            {"name": "shirts", "when": {"sku": "TSHIRT-*"}, "set": {"class_id": "RETAIL", "department_id": "ECOM"}},
        ),
    )
    assert out.line("1").class_id == "WEB" and out.line("1").department_id is None
    assert out.line("2").class_id == "RETAIL"


def test_rule_can_set_the_customer() -> None:
    out = evaluate(order(), rules({"name": "b2b", "when": {"tag": "wholesale"}, "set": {"customer_id": "C-1002"}}))
    assert out.header.customer_id is None
    out = evaluate(
        order(tags=("Wholesale",)),
        rules({"name": "b2b", "when": {"tag": "wholesale"}, "set": {"customer_id": "C-1002"}}),
    )
    assert out.header.customer_id == "C-1002"


def test_no_rules_gives_empty_values() -> None:
    out = evaluate(order(), ())
    assert out.trace == () and out.header.location_id is None and out.line("1").item_id is None


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"name": "x", "when": {"colour": "red"}, "set": {"class_id": "WEB"}}, "rules[0] 'x'.when.colour: unknown key"),
        ({"name": "x", "when": {}, "set": {}}, "rules[0] 'x': `set` is empty"),
        ({"name": "x", "when": {"sku": ["A["]}, "set": {"class_id": "WEB"}}, "rules[0] 'x'.when.sku[0]: pattern 'A['"),
        ({"name": "x", "when": {"sku": [""]}, "set": {"class_id": "WEB"}}, "is empty"),
        (
            {"name": "x", "when": {"order_total": {"min": 5, "max": 1}}, "set": {"class_id": "WEB"}},
            "min 5 is greater than max 1",
        ),
        ({"name": "x", "when": {"order_total": {}}, "set": {"class_id": "WEB"}}, "order_total needs min, max or both"),
        ({"name": "x", "when": {"shipping_country": ["USA"]}, "set": {"class_id": "WEB"}}, "shipping_country[0]"),
        ({"name": "x", "when": {"sku": "A*"}, "set": {"customer_id": "C"}}, "customer_id is an order-level value"),
        ({"name": "x", "when": {"channel": "etsy"}, "set": {"class_id": "WEB"}}, "when.channel[0]"),
        ({"when": {}, "set": {"class_id": "WEB"}}, "rules[0].name: required"),
        ({"name": "x", "when": {}, "set": {"colour": "WEB"}}, "rules[0] 'x'.set.colour: unknown key"),
    ],
)
def test_rules_are_validated_at_load_naming_index_and_name(rule: dict[str, Any], words: str) -> None:
    ok = {"name": "fine", "when": {}, "set": {"class_id": "WEB"}}
    with pytest.raises(ConfigurationError) as exc:
        load_settings({"rules": [rule, ok]})
    assert words in str(exc.value)
    with pytest.raises(ConfigurationError) as exc:
        load_settings({"rules": [ok, rule]})
    assert words.replace("rules[0]", "rules[1]") in str(exc.value)
