"""The field map, row by row (the connector guide's table), plus totals, updates, credit memos,
cancellations, payments and deterministic ids."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.errors import ConfigurationError, PermanentError
from intacct_sync.intacct.documents import SalesTransaction
from intacct_sync.models.order import Customer, Discount, Order, Payment, Refund, RefundLine, ShippingLine
from intacct_sync.posting.mapping import (
    cancellation_controlid,
    cancellation_credit_for,
    credit_controlid,
    credit_memo_for,
    customer_controlid,
    document_contacts,
    intacct_total,
    invoice_close_update,
    invoice_controlid,
    invoice_delete_controlid,
    invoice_for,
    invoice_update_controlid,
    invoice_update_for,
    payment_controlid,
    payment_for,
    price_for,
)
from intacct_sync.posting.rules import evaluate
from intacct_sync.settings import Settings
from tests.unit.posting.factories import WHEN, D, address, line, order, settings

S = settings()


def inv(o: Order | None = None, s: Settings = S, **kw: Any) -> SalesTransaction:
    return invoice_for(o or order(), s, customer_id=kw.pop("customer_id", "WEB-1"), **kw)


# --- header rows -----------------------------------------------------------------------------


def test_row_billed_to_is_the_matched_customer_unless_a_rule_sets_one() -> None:
    assert inv().customer_id == "WEB-1"
    s = settings(rules=[{"name": "b2b", "when": {}, "set": {"customer_id": "C-1002"}}])
    assert inv(s=s).customer_id == "C-1002"


def test_row_date_of_issue_is_the_order_date_in_the_configured_zone() -> None:
    assert inv().date_created == date(2024, 5, 2)  # 23:30 UTC
    assert inv(s=settings(invoice={"timezone": "Europe/Berlin"})).date_created == date(2024, 5, 3)
    placed = order(processed_at=datetime(2024, 5, 1, 12, tzinfo=UTC))
    assert inv(placed).date_created == date(2024, 5, 1)


def test_row_due_date_from_term_or_days() -> None:
    assert (inv().term_name, inv().date_due) == (None, date(2024, 5, 2))
    s = settings(invoice={"due_days": 14})
    assert inv(s=s).date_due == date(2024, 5, 16)
    s = settings(invoice={"term_name": "Net 30"})
    assert (inv(s=s).term_name, inv(s=s).date_due) == ("Net 30", None)


def test_row_invoice_number_is_the_order_number_with_prefix_or_intacct_numbering() -> None:
    assert inv().document_no == "1001"
    s = settings(
        invoice={"numbering": {"mode": "order_number", "prefix": "SHOP-", "prefix_by_connection": {"shop-1": "S1-"}}}
    )
    assert inv(s=s).document_no == "S1-1001"
    assert inv(order(connection_id="other"), s).document_no == "SHOP-1001"
    assert inv(s=settings(invoice={"numbering": {"mode": "intacct"}})).document_no is None
    long_number = inv(order(order_number="X" * 60)).document_no
    assert long_number is not None and len(long_number) == 45


def test_row_reference_is_the_order_number() -> None:
    assert inv(s=settings(invoice={"numbering": {"mode": "intacct"}})).reference_no == "1001"


def test_row_transaction_definition_is_configurable() -> None:
    assert inv().transaction_type == "Sales Invoice"
    assert inv(s=settings(invoice={"transaction_definition": "Web Invoice"})).transaction_type == "Web Invoice"


def test_row_note_is_the_customer_note() -> None:
    assert inv(order(note="  Please gift wrap ")).message == "Please gift wrap"
    assert inv(order(note="x")).message == "x"
    assert inv(order(note="x"), settings(invoice={"message_from_note": False})).message is None
    assert len(inv(order(note="y" * 5000)).message or "") == 1000


def test_row_bill_to_and_ship_to_are_the_orders_own_addresses_not_the_customers_contact() -> None:
    gift = order().model_copy(update={"shipping_address": address(name="Alice Norman", line1="1 Elm Road")})
    txn = inv(gift, contact_name="Bob Norman(CWEB-1)")
    found = document_contacts(gift, S)
    assert found.bill_to is not None and found.ship_to is not None
    assert (txn.bill_to, txn.ship_to) == (found.bill_to.contact_name, found.ship_to.contact_name)
    assert txn.bill_to != txn.ship_to and "Bob Norman(CWEB-1)" not in (txn.bill_to, txn.ship_to)
    assert found.ship_to.address is not None and found.ship_to.address.line1 == "1 Elm Road"


def test_row_customer_contact_only_without_any_address_or_by_setting() -> None:
    bare = order().model_copy(update={"billing_address": None, "shipping_address": None})
    assert inv(bare, contact_name="Bob Norman(CWEB-1)").bill_to == "Bob Norman(CWEB-1)"
    assert inv(bare).bill_to is None  # Intacct's defaults: the customer's own contacts
    by_customer = settings(invoice={"addresses": "customer"})
    assert inv(order(), by_customer, contact_name="Bob Norman(CWEB-1)").ship_to == "Bob Norman(CWEB-1)"


def test_row_currency_with_daily_rate() -> None:
    txn = inv(order(currency="EUR"))
    assert (txn.currency, txn.exchange_rate_type, txn.exchange_rate) == ("EUR", None, None)


def test_row_state_is_configurable() -> None:
    assert inv().state is None
    assert inv(s=settings(invoice={"state": "Draft"})).state == "Draft"


def test_header_shipping_method_only_when_mapped_to_a_ship_via() -> None:
    o = order(shipping=[ShippingLine(title="UPS Ground", code="ups", price=D(5))])
    assert inv(o).shipping_method is None
    assert inv(o, settings(invoice={"shipping_methods": {"ups ground": "UPS"}})).shipping_method == "UPS"


# --- line rows -------------------------------------------------------------------------------


def test_rows_item_qty_price_unit_and_dimensions() -> None:
    o = order([line("1", "TSHIRT-M", qty="3", price="19.99")])
    s = settings(
        rules=[
            {
                "name": "all",
                "when": {},
                "set": {"warehouse_id": "WH-EAST", "location_id": "100", "department_id": "SALES", "class_id": "WEB"},
            }
        ]
    )
    (first,) = inv(o, s).lines
    assert (first.item_id, first.quantity, first.price, first.unit) == ("TSHIRT-M", D(3), D("19.99"), "Each")
    assert (first.warehouse_id, first.location_id, first.department_id, first.class_id) == (
        "WH-EAST",
        "100",
        "SALES",
        "WEB",
    )
    assert first.memo == "Product 1"


def test_item_from_sku_rules_overrides_and_rules() -> None:
    s = settings(
        items={
            "sku_map": {"TS-BLK-M": "TSHIRT-M"},
            "sku_patterns": [{"pattern": "mug-*", "item_id": "MUG-01"}],
            "overrides": {"woocommerce": {"sku_map": {"TS-BLK-M": "TSHIRT-S"}}},
        },
        rules=[{"name": "gift", "when": {"sku": "GIFT-*"}, "set": {"item_id": "GIFTCARD"}}],
    )
    o = order([line("1", "TS-BLK-M"), line("2", "MUG-RED"), line("3", "GIFT-50"), line("4", "OTHER")])
    items = [x.item_id for x in inv(o, s).lines]
    assert items == ["TSHIRT-M", "MUG-01", "GIFTCARD", "OTHER"]
    assert inv(o, s).lines[0].memo == "Product 1 (SKU TS-BLK-M)"
    assert inv(order([line("1", "TS-BLK-M")], channel="woocommerce"), s).lines[0].item_id == "TSHIRT-S"


def test_line_without_sku_is_rejected_or_takes_the_fallback_item() -> None:
    o = order([line("1", None, name="Mystery box")])
    with pytest.raises(PermanentError) as exc:
        inv(o)
    assert "'Mystery box' of order 1001 has no SKU" in exc.value.message
    assert "no_sku" in (exc.value.fix or "")
    assert inv(o, settings(items={"no_sku": "fallback", "fallback_item_id": "MISC"})).lines[0].item_id == "MISC"


def test_fee_without_sku_takes_the_fee_item() -> None:
    o = order([line("1"), line("fee", None, kind="fee", name="Gift wrap", price="2.50")])
    txn = inv(o, settings(items={"fee_item_id": "WRAP"}))
    assert txn.lines[1].item_id == "WRAP" and txn.lines[1].unit is None


def test_unit_of_measure_by_sku_pattern_or_default() -> None:
    s = settings(units={"default": None, "by_sku": [{"pattern": "*-CASE", "unit": "Case"}]})
    o = order([line("1", "MUG-CASE"), line("2", "MUG-01")])
    assert [x.unit for x in inv(o, s).lines] == ["Case", None]


def test_row_discount_is_a_separate_line_per_discounted_line_with_its_dimensions() -> None:
    o = order([line("1", "TSHIRT-M", price="199.00", discount="5.00"), line("2", "MUG-01", price="12.50")])
    s = settings(
        rules=[{"name": "m", "when": {"sku": "TSHIRT-*"}, "set": {"location_id": "200", "warehouse_id": "WH-WEST"}}]
    )
    lines = inv(o, s).lines
    assert [(x.item_id, x.price) for x in lines] == [
        ("TSHIRT-M", D("199.00")),
        ("DISCOUNT", D("-5.00")),
        ("MUG-01", D("12.50")),
    ]
    assert lines[1].location_id == "200" and lines[1].warehouse_id is None
    assert lines[1].memo == "Discount on Product 1"


def test_order_level_unallocated_discount_is_one_line() -> None:
    o = order(
        [line(price="50.00")],
        discounts=[Discount(code="S2549JM0Y", amount=D(5), allocated=False), Discount(code="A", amount=D(1))],
    )
    lines = inv(o).lines
    assert [(x.item_id, x.price, x.memo) for x in lines[1:]] == [("DISCOUNT", D("-5.00"), "Order discount S2549JM0Y")]
    assert intacct_total(inv(o)) == o.total == D(45)


def test_row_shipping_is_a_line_carrying_the_method_and_its_discount() -> None:
    o = order(shipping=[ShippingLine(title="Standard Shipping", code="Standard", price=D("10.00"), discount=D("2.00"))])
    ship, disc = inv(o).lines[1:]
    assert (ship.item_id, ship.price, ship.item_desc, ship.memo) == (
        "SHIPPING",
        D("10.00"),
        "Standard Shipping",
        "Standard Shipping (Standard)",
    )
    assert (disc.item_id, disc.price) == ("DISCOUNT", D("-2.00"))


def test_row_tax_amount_is_the_tax_subtotal() -> None:
    o = order([line(price="100.00")], total_tax="8.25")
    (st,) = inv(o).subtotals
    assert (st.description, st.total) == ("Tax", D("8.25"))
    assert inv(order()).subtotals == []
    assert inv(o, settings(items={"tax_subtotal": "Sales Tax"})).subtotals[0].description == "Sales Tax"


def test_zero_quantity_removed_lines_are_left_out() -> None:
    o = order([line("1"), line("2", qty="0", price="10.00")])
    assert len(inv(o).lines) == 1


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(PermanentError, match="negative quantity"):
        inv(order([line("1", qty="-1")]))


# --- totals ----------------------------------------------------------------------------------


def test_tax_exclusive_total_equals_channel_total() -> None:
    o = order(
        [line("1", price="199.00", discount="5.00"), line("2", price="199.00", discount="5.00")],
        shipping=[ShippingLine(title="Standard", price=D(10))],
        total_tax="23.28",
    )
    assert intacct_total(inv(o)) == o.total == D("421.28")


def test_vat_inclusive_order_posts_net_prices_and_equals_channel_total() -> None:
    # EUR 19% VAT included: 2 x 29.99 (VAT 9.58), 15.00 - 1.50 (VAT 2.16), shipping 4.90 (VAT 0.78).
    o = order(
        [
            line("1", "SCARF", qty="2", price="29.99", tax="9.58"),
            line("2", "GLOVE", price="15.00", discount="1.50", tax="2.16"),
        ],
        shipping=[ShippingLine(title="DHL", price=D("4.90"), tax=D("0.78"))],
        total_tax="12.52",
        taxes_included=True,
        currency="EUR",
    )
    txn = inv(o)
    assert o.total == D("78.38")
    assert intacct_total(txn) == D("78.38")
    assert [(x.item_id, x.quantity, x.price) for x in txn.lines] == [
        ("SCARF", D(2), D("25.20")),
        ("GLOVE", D(1), D("12.60")),
        ("DISCOUNT", D(1), D("-1.26")),
        ("SHIPPING", D(1), D("4.12")),
    ]
    assert txn.subtotals[0].total == D("12.52")


def test_vat_inclusive_with_tax_only_at_order_level_spreads_it_over_lines() -> None:
    o = order(
        [line("1", price="119.00"), line("2", price="11.90")], total_tax="20.90", taxes_included=True, currency="GBP"
    )
    txn = inv(o)
    assert intacct_total(txn) == o.total == D("130.90")
    assert [x.price for x in txn.lines] == [D("100.00"), D("10.00")]


def test_jpy_zero_decimal_totals_and_prices() -> None:
    o = order(
        [line("1", "MATCHA", price="3300", tax="300"), line("2", "SENCHA", qty="2", price="1980", tax="360")],
        shipping=[ShippingLine(title="Yamato", price=D(800), tax=D(73))],
        total_tax="733",
        taxes_included=True,
        currency="JPY",
    )
    txn = inv(o)
    assert intacct_total(txn) == o.total == D(8060)
    assert [x.price for x in txn.lines] == [D(3000), D(1800), D(727)]
    assert txn.subtotals[0].total == D(733)


def test_jpy_line_whose_net_does_not_divide_gets_more_price_decimals() -> None:
    o = order([line("1", qty="3", price="1000", tax="272")], total_tax="272", taxes_included=True, currency="JPY")
    txn = inv(o)
    assert txn.lines[0].price == D("909.333")  # net 2728 / 3: 3 x 909.333 = 2727.999 -> 2728.00
    assert intacct_total(txn) == o.total == D(3000)


def test_price_for_uses_the_fewest_decimals_that_round_back() -> None:
    assert price_for(D("100.00"), D(3), "USD") == D("33.333")
    assert price_for(D("59.98"), D(2), "USD") == D("29.99")
    assert price_for(D("100"), D(7), "JPY") == D("14.286")  # 100.002 -> 100.00
    assert price_for(D("-5.00"), D(1), "USD") == D("-5.00")
    assert price_for(D("0.01"), D(50), "USD") == D("0.0002")


def test_sub_cent_channel_amounts_are_balanced_on_the_largest_line() -> None:
    # WooCommerce-style 4-decimal line amounts: parts round to 10.00 + 10.00 + 10.00, total 30.01.
    o = order(
        [line("1", price="10.0033"), line("2", price="10.0033"), line("3", price="10.0034", name="big")], total="30.01"
    )
    txn = inv(o)
    assert intacct_total(txn) == D("30.01")


def test_order_that_does_not_add_up_is_parked_or_adjusted() -> None:
    o = order([line(price="10.00")], total="15.00")
    with pytest.raises(PermanentError) as exc:
        inv(o)
    assert "add up to 10.00 but its total is 15.00" in exc.value.message
    s = settings(invoice={"total_mismatch": "adjust"}, items={"adjustment_item_id": "ADJ"})
    txn = inv(o, s)
    assert (txn.lines[-1].item_id, txn.lines[-1].price) == ("ADJ", D("5.00"))
    assert intacct_total(txn) == D(15)


def test_three_decimal_currency_whole_cents_post_and_sub_cents_are_refused() -> None:
    ok = order([line(price="1.230")], currency="KWD")
    assert intacct_total(inv(ok)) == D("1.23")
    bad = order([line(price="1.234")], currency="KWD")
    with pytest.raises(PermanentError, match="Intacct keeps 2 decimal places"):
        inv(bad)


def test_intacct_total_rounds_each_line_then_adds_subtotals() -> None:
    from intacct_sync.intacct.documents import SalesLine, SalesTransaction, Subtotal

    txn = SalesTransaction(
        "Sales Invoice",
        date(2024, 1, 1),
        "C",
        [SalesLine("A", D(3), price=D("0.333")), SalesLine("B", D(1), price=D("10"), discount_percent=D("15"))],
        subtotals=[Subtotal("Tax", D("1.005"))],
    )
    assert intacct_total(txn) == D("1.00") + D("8.50") + D("1.01")
    with pytest.raises(ValueError, match="no price"):
        intacct_total(SalesTransaction("Sales Invoice", date(2024, 1, 1), "C", [SalesLine("A", D(1))]))


# --- updates, cancellations ------------------------------------------------------------------


def test_update_replaces_changed_lines_adds_new_ones_and_zeroes_removed_ones() -> None:
    before = order([line("1", price="10.00"), line("2", "MUG-01", price="5.00")], total_tax="1.00")
    prev = inv(before)
    after = order([line("1", price="12.00")], total_tax="0")
    upd = invoice_update_for(after, prev, S, customer_id="WEB-1")
    assert set(upd.line_updates) == {1, 2}
    assert upd.line_updates[1].price == D("12.00")
    assert upd.line_updates[2].item_id == "MUG-01"  # old line 2 emptied (the API cannot delete it)
    assert (upd.line_updates[2].quantity, upd.line_updates[2].price) == (D(0), D(0))
    assert [x.item_id for x in upd.new_lines] == []
    assert [(s.description, s.total) for s in upd.subtotals] == [("Tax", D(0))]
    grown = order(
        [line("1", price="10.00"), line("2", "MUG-01", price="5.00"), line("3", "TSHIRT-S")], total_tax="1.00"
    )
    upd = invoice_update_for(grown, prev, S, customer_id="WEB-1")
    assert upd.line_updates == {} and [x.item_id for x in upd.new_lines] == ["TSHIRT-S"]


def test_update_without_previous_needs_the_line_count_and_replaces_every_line() -> None:
    o = order([line("1")])
    with pytest.raises(ValueError, match="line count"):
        invoice_update_for(o, None, S, customer_id="WEB-1")
    upd = invoice_update_for(o, None, S, customer_id="WEB-1", previous_line_count=2)
    assert set(upd.line_updates) == {1, 2} and upd.line_updates[2].quantity == 0
    assert [(s.description, s.total) for s in upd.subtotals] == [("Tax", D(0))]


def test_update_controlid_is_versioned_by_content() -> None:
    o = order()
    a = invoice_update_for(o, None, S, customer_id="WEB-1", previous_line_count=1)
    b = invoice_update_for(order([line(price="11.00")]), None, S, customer_id="WEB-1", previous_line_count=1)
    assert invoice_update_controlid(o, a) == invoice_update_controlid(o, a)
    assert invoice_update_controlid(o, a) != invoice_update_controlid(o, b)


def test_an_update_back_to_an_earlier_content_gets_a_new_controlid() -> None:
    o = order()
    a = invoice_update_for(o, None, S, customer_id="WEB-1", previous_line_count=1)
    # A (1st update) -> B (2nd) -> A again (3rd): the 3rd is a new operation, not a repeat of the 1st.
    assert invoice_update_controlid(o, a, 0) != invoice_update_controlid(o, a, 2)


def test_close_update_sets_state_closed() -> None:
    assert invoice_close_update().state == "Closed"


def test_cancellation_credit_mirrors_the_invoice() -> None:
    o = order(
        [line(price="20.00", discount="2.00")], total_tax="1.44", cancelled_at=datetime(2024, 5, 4, 10, tzinfo=UTC)
    )
    cm = cancellation_credit_for(o, S, customer_id="WEB-1")
    assert cm.transaction_type == "Sales Credit Memo" and cm.document_no == "CM-1001-CANCEL"
    assert cm.date_created == date(2024, 5, 4) and cm.reference_no == "1001"
    assert intacct_total(cm) == intacct_total(inv(o)) == o.total


# --- credit memos ----------------------------------------------------------------------------


def refund(**kw: Any) -> Refund:
    fields: dict[str, Any] = {
        "connection_id": "shop-1",
        "channel": "shopify",
        "refund_id": "509562969",
        "order_id": "450789469",
        "amount": D("21.00"),
        "currency": "USD",
        "processed_at": datetime(2024, 5, 10, 9, tzinfo=UTC),
    }
    fields.update(kw)
    return Refund(**fields)


def test_credit_memo_for_refunded_lines_shipping_and_tax() -> None:
    o = order(
        [line("1", "TSHIRT-M", qty="2", price="10.00")],
        shipping=[ShippingLine(title="UPS", price=D(5))],
        total_tax="1.60",
    )
    s = settings(rules=[{"name": "all", "when": {}, "set": {"warehouse_id": "WH-EAST", "location_id": "100"}}])
    r = refund(
        amount=D("15.80"),
        lines=(RefundLine(line_id="1", quantity=D(1), amount=D("10.00"), tax=D("0.80")),),
        shipping_amount=D(5),
    )
    cm = credit_memo_for(r, o, s, customer_id="WEB-1")
    assert (cm.transaction_type, cm.document_no, cm.reference_no) == ("Sales Credit Memo", "CM-1001-509562969", "1001")
    assert cm.date_created == date(2024, 5, 10)
    assert [(x.item_id, x.quantity, x.price, x.warehouse_id) for x in cm.lines] == [
        ("TSHIRT-M", D(1), D("10.00"), "WH-EAST"),
        ("SHIPPING", D(1), D("5.00"), None),
    ]
    assert cm.subtotals[0].total == D("0.80")
    assert intacct_total(cm) == r.amount


def test_amount_only_refund_is_one_adjustment_line() -> None:
    cm = credit_memo_for(refund(amount=D("7.5"), reason="goodwill"), order(), S, customer_id="WEB-1")
    assert [(x.item_id, x.price) for x in cm.lines] == [("DISCOUNT", D("7.50"))]
    assert cm.lines[0].memo == "Refund not itemised by the channel: goodwill" and cm.message == "goodwill"
    assert intacct_total(cm) == D("7.50")
    incomplete = refund(
        amount=D("3"), lines=(RefundLine(line_id="1", quantity=D(1), amount=D(10)),), detail_complete=False
    )
    assert [x.item_id for x in credit_memo_for(incomplete, order(), S, customer_id="WEB-1").lines] == ["DISCOUNT"]


def test_refund_remainder_not_itemised_becomes_an_adjustment_line() -> None:
    r = refund(amount=D("12.00"), lines=(RefundLine(line_id="1", quantity=D(1), amount=D("10.00")),))
    cm = credit_memo_for(r, order(), S, customer_id="WEB-1")
    assert [(x.item_id, x.price) for x in cm.lines] == [("TSHIRT-M", D("10.00")), ("DISCOUNT", D("2.00"))]
    assert intacct_total(cm) == D("12.00")


def test_amount_only_refund_without_adjustment_item_is_a_configuration_error() -> None:
    s = settings(items={"adjustment_item_id": None})
    with pytest.raises(ConfigurationError, match="adjustment"):
        credit_memo_for(refund(), order(), s, customer_id="WEB-1")


def test_vat_inclusive_refund_lines_post_net_of_tax() -> None:
    o = order([line("1", price="11.90", tax="1.90")], total_tax="1.90", taxes_included=True, currency="EUR")
    r = refund(
        amount=D("11.90"),
        currency="EUR",
        lines=(RefundLine(line_id="1", quantity=D(1), amount=D("11.90"), tax=D("1.90")),),
    )
    cm = credit_memo_for(r, o, S, customer_id="WEB-1")
    assert [x.price for x in cm.lines] == [D("10.00")] and cm.subtotals[0].total == D("1.90")
    assert intacct_total(cm) == D("11.90")


# --- payments --------------------------------------------------------------------------------


def pay(**kw: Any) -> Payment:
    fields: dict[str, Any] = {
        "connection_id": "shop-1",
        "channel": "shopify",
        "order_id": "450789469",
        "payment_id": "389404469",
        "kind": "capture",
        "amount": D("421.28"),
        "currency": "USD",
        "gateway": "bacs",
        "reference": "ch_1",
        "processed_at": datetime(2024, 5, 3, 1, tzinfo=UTC),
    }
    fields.update(kw)
    return Payment(**fields)


def test_payment_rows_amount_date_method_and_account() -> None:
    ar = payment_for(pay(), "WEB-1", S, record_key="3001", order_number="1001")
    assert (ar.customer_id, ar.payment_method, ar.financial_entity, ar.undeposited_account) == (
        "WEB-1",
        "EFT",
        "BOA",
        None,
    )
    assert ar.receipt_date == date(2024, 5, 3) and ar.currency == "USD"
    assert [(a.record_key, a.amount) for a in ar.applications] == [("3001", D("421.28"))]
    assert ar.document_number == "389404469"
    assert ar.description == "shopify payment 389404469 via bacs ref ch_1 for order 1001"
    other = payment_for(pay(gateway="stripe"), "WEB-1", S, record_key="3001")
    assert (other.payment_method, other.undeposited_account) == ("Credit Card", "1200")


def test_payment_date_in_the_merchants_zone_or_given() -> None:
    s = settings(invoice={"timezone": "America/New_York"})
    assert payment_for(pay(), "C", s, record_key="1").receipt_date == date(2024, 5, 2)
    assert payment_for(
        pay(processed_at=None), "C", S, record_key="1", received_on=date(2024, 6, 1)
    ).receipt_date == date(2024, 6, 1)
    with pytest.raises(ValueError, match="received_on"):
        payment_for(pay(processed_at=None), "C", S, record_key="1")


def test_long_payment_ids_are_shortened_but_stay_distinct() -> None:
    a = payment_for(pay(payment_id="a" * 40 + "1"), "C", S, record_key="1").document_number
    b = payment_for(pay(payment_id="a" * 40 + "2"), "C", S, record_key="1").document_number
    assert a is not None and b is not None and len(a) == 30 and a != b


# --- controlids ------------------------------------------------------------------------------


def test_controlids_are_stable_distinct_and_bounded() -> None:
    o = order()
    ids = {
        invoice_controlid(o),
        invoice_delete_controlid(o),
        cancellation_controlid(o),
        credit_controlid(refund()),
        payment_controlid(pay()),
        customer_controlid("WEB-1"),
    }
    assert len(ids) == 6
    assert invoice_controlid(o) == "so-shop-1-450789469" == invoice_controlid(order())
    assert invoice_controlid(order(connection_id="shop-2")) != invoice_controlid(o)
    weird = order(order_id="a b<" + "x" * 400)
    cid = invoice_controlid(weird)
    assert len(cid) <= 256 and " " not in cid and "<" not in cid
    assert cid != invoice_controlid(order(order_id="a_b_" + "x" * 400))


def test_rules_outcome_can_be_passed_in() -> None:
    o = order()
    s = settings(rules=[{"name": "c", "when": {}, "set": {"class_id": "WEB"}}])
    assert inv(o, s, outcome=evaluate(o, ())).lines[0].class_id is None
    assert inv(o, s).lines[0].class_id == "WEB"


def test_guest_customer_object_does_not_matter_to_the_invoice() -> None:
    assert inv(order(customer=Customer(is_guest=True))).customer_id == "WEB-1"


def test_when_is_fixed() -> None:
    assert WHEN.tzinfo is UTC and isinstance(Decimal(1), Decimal)
