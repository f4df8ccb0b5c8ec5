"""Issue 9 item 6 on real-format Shopify payloads (tests/fixtures/channels/shopify): what the
adapter reads and what the field map makes of it. The posters' side is in
tests/integration/test_test_orders_cash_change_gift_cards_tips_duties.py."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels import shopify
from intacct_sync.errors import ConfigurationError
from intacct_sync.ledger import LedgerEntry
from intacct_sync.models.events import PaymentEvent
from intacct_sync.models.order import Order
from intacct_sync.posting import mapping
from intacct_sync.posting.cash_change import net_cash_sale
from intacct_sync.settings import DEFAULT_SETTINGS, load_settings
from tests.fixtures.channels.sign import connection, load, shopify_headers

CONN = connection("shopify")


def order(name: str, **edit: Any) -> Order:
    body = json.loads(load("shopify", name))
    body.update(edit)
    return shopify.order_from_json(body, CONN)


def items(o: Order, settings: Any = DEFAULT_SETTINGS) -> list[tuple[str, Decimal]]:
    txn = mapping.invoice_for(o, settings, customer_id="C-1")
    return [(line.item_id, line.price or Decimal(0)) for line in txn.lines]


# --- test orders -------------------------------------------------------------------------------


def test_shopify_test_order_payment_and_refund_carry_their_test_flag() -> None:
    assert order("orders_paid_test_bogus.json").test
    payment = shopify.payment_from_transaction(
        json.loads(load("shopify", "order_transactions_create_sale_test.json")), CONN
    )
    assert payment is not None and payment.test
    refund = shopify.refund_from_json(json.loads(load("shopify", "refunds_create_test.json")), CONN)
    assert refund.test


def test_test_orders_default_to_skip_and_accept_only_skip_or_post() -> None:
    assert DEFAULT_SETTINGS.test_orders == "skip" and load_settings({}).test_orders == "skip"
    assert load_settings({"test_orders": "post"}).test_orders == "post"
    with pytest.raises(ConfigurationError, match="test_orders"):
        load_settings({"test_orders": "yes"})


# --- POS cash change ---------------------------------------------------------------------------


def test_shopify_change_transaction_is_read_as_change_not_dropped() -> None:
    raw = load("shopify", "order_transactions_create_pos_cash_change.json")
    [event] = shopify.parse(shopify_headers(raw, "order_transactions/create"), raw, CONN)
    assert isinstance(event, PaymentEvent)
    assert (event.payload.kind, event.payload.amount, event.payload.gateway) == ("change", Decimal("8.72"), "cash")


def _sale(amount: str) -> PaymentEvent:
    raw = load("shopify", "order_transactions_create_pos_cash_sale.json")
    [event] = shopify.parse(shopify_headers(raw, "order_transactions/create"), raw, CONN)
    assert isinstance(event, PaymentEvent)
    return event.model_copy(update={"payload": event.payload.model_copy(update={"amount": Decimal(amount)})})


def test_a_cash_sale_is_netted_by_change_already_recorded_or_capped_at_what_is_due() -> None:
    entry = LedgerEntry(connection_id="test-shopify", order_id="450789490", channel="shopify", currency="USD")
    entry.document_key, entry.invoice_total = "Sales Invoice-1049", Decimal("421.28")
    assert net_cash_sale(entry, _sale("430.00")) == Decimal("421.28")  # change still to come
    assert net_cash_sale(entry, _sale("421.28")) is None  # exact: posted as it is
    entry.cash_change = {"389404491": Decimal("8.72")}
    assert net_cash_sale(entry, _sale("430.00")) == Decimal("421.28")
    entry.cash_change = {"389404491": Decimal("8.72"), "389404490": Decimal("-8.72")}  # a redelivery
    assert net_cash_sale(entry, _sale("430.00")) == Decimal("421.28")


def test_cash_gateways_are_configurable() -> None:
    assert DEFAULT_SETTINGS.payments.is_cash("Cash") and not DEFAULT_SETTINGS.payments.is_cash("shopify_payments")
    assert load_settings({"payments": {"cash_gateways": ["till"]}}).payments.is_cash("till")


# --- gift cards --------------------------------------------------------------------------------


def test_a_gift_card_sold_goes_to_the_gift_card_item_not_its_sku() -> None:
    o = order("orders_paid_gift_card_sold_redeemed.json")
    assert [line.kind for line in o.lines] == ["product", "product", "gift_card"]
    assert ("GIFTCARD", Decimal("50.00")) in items(o)
    assert not any(item == "GC-50" for item, _ in items(o))
    over = load_settings({"items": {"overrides": {"shopify": {"gift_card_item_id": "GC-LIAB"}}}})
    assert ("GC-LIAB", Decimal("50.00")) in items(o, over)


def test_a_gift_card_redemption_comes_off_the_gift_card_liability_not_cash() -> None:
    body = json.loads(load("shopify", "order_transactions_create_gift_card_redemption.json"))
    payment = shopify.payment_from_transaction(body, CONN)
    assert payment is not None
    for settings in (DEFAULT_SETTINGS, load_settings({})):
        ar = mapping.payment_for(payment, "C-1", settings, record_key="7", received_on=date(2024, 5, 2))
        assert (ar.payment_method, ar.undeposited_account) == ("Cash", "2150")
    # an explicit gateway entry still wins
    mine = load_settings(
        {"payments": {"gateways": {"gift_card": {"payment_method": "EFT", "undeposited_account": "2160"}}}}
    )
    assert mine.payments.for_gateway("gift_card").undeposited_account == "2160"


# --- tips and duties ---------------------------------------------------------------------------


def test_tips_and_duties_are_lines_of_their_own_and_the_order_adds_up() -> None:
    o = order("orders_paid_tip_and_duties.json")
    assert o.check_totals().ok
    extra = [(line.kind, line.subtotal) for line in o.lines if line.kind in ("tip", "duty")]
    assert extra == [("tip", Decimal("5.00")), ("duty", Decimal("12.50"))]
    posted = items(o)
    assert ("TIPS", Decimal("5.00")) in posted and ("DUTIES", Decimal("12.50")) in posted


def test_a_tip_line_item_is_the_tip_not_a_second_one() -> None:
    body = json.loads(load("shopify", "orders_paid_tip_and_duties.json"))
    tip = {**body["line_items"][1], "id": 518995099, "product_id": None, "variant_id": None, "sku": None}
    tip.update(title="Tip", name="Tip", price="5.00", quantity=1, taxable=False, tax_lines=[], discount_allocations=[])
    body["line_items"].append(tip)
    o = shopify.order_from_json(body, CONN)
    assert [line.line_id for line in o.lines if line.kind == "tip"] == ["518995099"]
    assert o.check_totals().ok


def test_duties_only_stated_at_order_level_become_one_line() -> None:
    body = json.loads(load("shopify", "orders_paid_tip_and_duties.json"))
    body["line_items"][0]["duties"] = []
    o = shopify.order_from_json(body, CONN)
    assert [(line.line_id, line.subtotal) for line in o.lines if line.kind == "duty"] == [("duties", Decimal("12.50"))]
    assert o.check_totals().ok
