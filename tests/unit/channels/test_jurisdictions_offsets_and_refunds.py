"""Issue 9 items 5 and 7 at the adapters: BigCommerce refunds priced and taxed, Declined orders
not placed, taxes per jurisdiction and the placed time's UTC offset from each channel's own
payload, and region rules that match a state's code and name alike."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from intacct_sync.channels import bigcommerce, shopify, woocommerce
from intacct_sync.models.order import Order
from intacct_sync.posting.rules import evaluate
from intacct_sync.settings import DEFAULT_SETTINGS
from tests.fixtures.channels.sign import connection, load

D = Decimal


def bc_order(name: str = "order_fetch_us_coupon.json", **changes: Any) -> Order:
    bundle = json.loads(load("bigcommerce", name))
    bundle["order"].update(changes)
    return bigcommerce.parse_order(
        bundle["order"],
        bundle["products"],
        bundle["shipping_addresses"],
        connection=connection("bigcommerce"),
        taxes_json=bundle.get("taxes"),
    )


def test_bigcommerce_documented_quantity_refund_is_priced_from_its_line_with_its_tax() -> None:
    """`refund_fetch.json` is the docs' example: 1 x product 67 (DUST1, 12.00), requested_amount
    null, total_tax 0.99, total_amount 12.99."""
    refund = bigcommerce.parse_refund(
        json.loads(load("bigcommerce", "refund_fetch.json")), bc_order(), connection("bigcommerce")
    )
    (line,) = refund.lines
    assert (line.line_id, line.sku, line.quantity, line.amount, line.tax) == (
        "67",
        "DUST1",
        D(1),
        D("12.0000"),
        D("0.99"),
    )
    assert refund.amount == D("12.99")


def test_bigcommerce_refund_list_gives_refund_events_with_shipping() -> None:
    bundle = json.loads(load("bigcommerce", "order_fetch_us_coupon.json"))
    events = bigcommerce.order_events(
        bundle["order"], bundle["products"], bundle["shipping_addresses"], [], connection=connection("bigcommerce"),
        refunds_json=json.loads(load("bigcommerce", "refunds_fetch_order_218.json")),
    )  # fmt: skip
    (refund_event,) = [e for e in events if e.type == "refund"]
    refund = refund_event.payload
    assert refund.amount == D("37.69") and refund.shipping_amount == D("10.00")
    assert [(x.line_id, x.quantity, x.amount, x.tax) for x in refund.lines] == [("65", D(1), D("25.0000"), D("2.69"))]


def test_bigcommerce_refund_whose_payments_were_all_declined_is_no_refund() -> None:
    refunds = json.loads(load("bigcommerce", "refunds_fetch_order_218.json"))
    refunds["data"][0]["payments"][0]["is_declined"] = True
    assert bigcommerce.refunds_from(refunds, bc_order(), connection("bigcommerce")) == []


def test_bigcommerce_declined_and_incomplete_orders_are_not_placed_but_awaiting_payment_is() -> None:
    assert not bc_order(status_id=6, status="Declined").placed
    assert not bc_order(status_id=0, status="Incomplete").placed
    assert bc_order(status_id=7, status="Awaiting Payment").placed
    assert bc_order(status_id=11).placed


def test_each_channel_itemises_tax_per_jurisdiction() -> None:
    shop = shopify.order_from_json(
        json.loads(load("shopify", "orders_paid_ca_gst_pst_evening.json")), connection("shopify")
    )
    assert [(t.title, t.amount) for t in shop.tax_lines] == [("GST", D("19.90")), ("BC PST", D("27.16"))]
    woo = woocommerce.order_from_json(
        json.loads(load("woocommerce", "order_updated_bc_gst_pst_fee_evening.json")), connection("woocommerce")
    )
    assert [(t.title, t.code, t.amount) for t in woo.tax_lines] == [
        ("GST", "CA-GST-1", D("4.75")),  # tax_total + shipping_tax_total
        ("PST", "CA-BC-PST-2", D("5.95")),
    ]
    bc = bc_order("order_fetch_ca_state_name_taxes.json")
    assert [(t.title, t.amount) for t in bc.tax_lines] == [
        ("CA State Tax", D("4.8599")),
        ("Los Angeles County District Tax", D("0.6701")),
    ]


def test_each_channel_keeps_the_offset_the_order_was_placed_at() -> None:
    shop = shopify.order_from_json(
        json.loads(load("shopify", "orders_paid_ca_gst_pst_evening.json")), connection("shopify")
    )
    woo = woocommerce.order_from_json(
        json.loads(load("woocommerce", "order_updated_bc_gst_pst_fee_evening.json")), connection("woocommerce")
    )
    assert shop.utc_offset_minutes == woo.utc_offset_minutes == -240
    assert bc_order().utc_offset_minutes == 0
    assert bc_order(date_created="Fri, 31 May 2024 21:30:00 -0400").utc_offset_minutes == -240


def test_default_region_rule_matches_bigcommerce_state_names() -> None:
    california = bc_order("order_fetch_ca_state_name_taxes.json")
    assert california.shipping_address is not None and california.shipping_address.region == "California"
    assert evaluate(california, DEFAULT_SETTINGS.rules).order_dims.warehouse_id == "WH-WEST"
    texas = bc_order()
    assert evaluate(texas, DEFAULT_SETTINGS.rules).order_dims.warehouse_id == "WH-EAST"
