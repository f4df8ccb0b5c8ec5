"""A refund's tax per jurisdiction (issue 9, "refunds reverse tax by jurisdiction"): what the
adapters read from real-format refunds, and how the credit memo splits a tax the refund covers
only in part."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from intacct_sync.channels import shopify, woocommerce
from intacct_sync.models.order import Order, TaxLine
from intacct_sync.posting.mapping import credit_memo_for
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, load_settings
from tests.fixtures.channels.sign import connection, load

JURISDICTIONS = {"GST": "GST", "BC PST": "PST", "CA-BC-PST-2": "PST"}


def settings() -> Settings:
    data = DEFAULT_SETTINGS.model_dump(mode="json")
    data["items"] = {**data["items"], "tax_subtotals": JURISDICTIONS}
    return load_settings(data)


def fixture(channel: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(load(channel, name))
    return data


def shopify_ca() -> Order:
    return shopify.order_from_json(fixture("shopify", "orders_paid_ca_gst_pst_evening.json"), connection("shopify"))


def woo_bc() -> Order:
    raw = fixture("woocommerce", "order_updated_bc_gst_pst_fee_evening.json")
    return woocommerce.order_from_json(raw, connection("woocommerce"))


def woo_refund(body: dict[str, Any]) -> Any:
    return woocommerce.refund_detail(body, connection("woocommerce"), order_id="902", currency="CAD")


def taxes(lines: tuple[TaxLine, ...]) -> list[tuple[str, str | None, Decimal]]:
    return [(t.title, t.code, t.amount) for t in lines]


def test_shopify_refund_line_carries_its_share_of_the_lines_jurisdictions() -> None:
    refund = shopify.refund_from_json(fixture("shopify", "refunds_create_line_gst_pst_ca.json"), connection("shopify"))
    assert taxes(refund.tax_lines) == [("GST", None, Decimal("9.70")), ("BC PST", None, Decimal("13.58"))]


def test_shopify_partial_quantity_refund_splits_its_total_tax_by_the_lines_tax_lines() -> None:
    body = fixture("shopify", "refunds_create_line_gst_pst_ca.json")
    item = body["refund_line_items"][0]
    item["line_item"]["quantity"] = 3  # the line's tax_lines are for 3 units; 1 is refunded
    for t in item["line_item"]["tax_lines"]:
        t["price_set"]["shop_money"]["amount"] = str(Decimal(t["price"]) * 3)
    refund = shopify.refund_from_json(body, connection("shopify"))
    assert taxes(refund.tax_lines) == [("GST", None, Decimal("9.70")), ("BC PST", None, Decimal("13.58"))]
    assert sum(t.amount for t in refund.tax_lines) == refund.lines[0].tax


def test_shopify_shipping_adjustment_names_no_jurisdiction() -> None:
    body = fixture("shopify", "refunds_create_shipping_refund_ca.json")
    assert shopify.refund_from_json(body, connection("shopify")).tax_lines == ()


def test_woocommerce_refund_taxes_are_summed_by_rate_and_named_by_its_tax_lines() -> None:
    refund = woo_refund(fixture("woocommerce", "api/refund_905_detail_gst_shipping.json"))
    assert taxes(refund.tax_lines) == [("GST", "CA-GST-1", Decimal("2.5")), ("PST", "CA-BC-PST-2", Decimal("2.8"))]


def test_woocommerce_rate_the_refund_does_not_name_is_left_to_the_orders_split() -> None:
    body = copy.deepcopy(fixture("woocommerce", "api/refund_905_detail_gst_shipping.json"))
    body["tax_lines"] = [t for t in body["tax_lines"] if t["rate_id"] == 11]  # PST unnamed
    refund = woo_refund(body)
    assert taxes(refund.tax_lines) == [("GST", "CA-GST-1", Decimal("2.5"))]
    memo = credit_memo_for(refund, woo_bc(), settings(), customer_id="C")
    # GST 2.50 its own; the unnamed 2.80 split 4.75 : 5.95 (1.24 GST, 1.56 PST)
    assert [(s.description, s.total) for s in memo.subtotals] == [("GST", Decimal("3.74")), ("PST", Decimal("1.56"))]


def test_refund_without_tax_lines_splits_like_the_order() -> None:
    body = fixture("woocommerce", "api/refund_905_detail_gst_shipping.json")
    refund = woo_refund(body).model_copy(update={"tax_lines": ()})
    memo = credit_memo_for(refund, woo_bc(), settings(), customer_id="C")
    assert [(s.description, s.total) for s in memo.subtotals] == [("GST", Decimal("2.35")), ("PST", Decimal("2.95"))]


def test_credit_memo_follows_the_refunds_own_jurisdictions_to_the_cent() -> None:
    refund = shopify.refund_from_json(fixture("shopify", "refunds_create_line_gst_pst_ca.json"), connection("shopify"))
    memo = credit_memo_for(refund, shopify_ca(), settings(), customer_id="C")
    assert [(s.description, s.total) for s in memo.subtotals] == [("GST", Decimal("9.70")), ("PST", Decimal("13.58"))]
