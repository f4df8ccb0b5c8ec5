"""WooCommerce deliveries: state-derived paid/cancelled/refunded, the ping, abandoned checkouts."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from intacct_sync.channels import InvalidPayload, Ping, receive, woocommerce
from intacct_sync.models import (
    CancellationEvent,
    FinancialStatus,
    Order,
    OrderEvent,
    OrderReferenceEvent,
    OrderStatus,
    PaymentEvent,
    RefundEvent,
)
from tests.fixtures.channels.sign import connection, load, woocommerce_headers

CONN = connection("woocommerce")


def _parse(name: str, topic: str = "order.updated") -> list[object]:
    body = load("woocommerce", name)
    return woocommerce.parse(woocommerce_headers(body, topic), body, CONN)  # type: ignore[return-value]


def _order(name: str, topic: str = "order.updated") -> Order:
    event = _parse(name, topic)[0]
    assert isinstance(event, OrderEvent)
    return event.payload


ORDER_FIXTURES = [
    "order_created_guest_no_sku.json",
    "order_created_pending_not_placed.json",
    "order_updated_cancelled.json",
    "order_updated_eu_vat_coupon_partial_refund.json",
    "order_updated_stripe_paid.json",
]


@pytest.mark.parametrize("name", ORDER_FIXTURES)
def test_woocommerce_every_order_fixture_totals_reconcile_to_the_cent(name: str) -> None:
    check = _order(name).check_totals()
    assert check.ok, check
    assert check.tax_difference == 0


def test_woocommerce_guest_order_with_a_line_without_sku() -> None:
    order = _order("order_created_guest_no_sku.json", "order.created")
    assert order.customer.is_guest
    assert order.customer.email == "john.doe@example.com"
    assert [line.sku for line in order.lines] == [None, "Bar3"]
    assert order.lines[0].unit_price == Decimal("3.00")
    assert order.lines[0].quantity == Decimal(2)
    assert order.shipping_lines[0].title == "Flat Rate"
    assert order.gateway == "bacs"
    # *_gmt fields are naive UTC.
    assert order.created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)


def test_woocommerce_vat_order_is_tax_exclusive_in_the_api_and_reconciles() -> None:
    order = _order("order_updated_eu_vat_coupon_partial_refund.json")
    assert order.currency == "EUR"
    assert order.taxes_included is False
    assert [line.discount for line in order.lines] == [Decimal("3.36"), Decimal("2.10")]
    assert [(d.code, d.amount) for d in order.discounts] == [("sommer10", Decimal("5.46"))]
    assert order.total == order.check_totals().expected_total == Decimal("63.45")
    assert order.note == "Bitte beim Nachbarn abgeben"


def test_woocommerce_paid_order_yields_a_payment_derived_from_date_paid() -> None:
    events = _parse("order_updated_stripe_paid.json")
    assert [type(e) for e in events] == [OrderEvent, PaymentEvent]
    payment = events[1]
    assert isinstance(payment, PaymentEvent)
    assert payment.payload.payment_id == "897-paid"
    assert payment.payload.amount == Decimal("28.44")
    assert payment.payload.reference == "ch_3JWmBuLTUR9LBPfg1yeTj9DG"
    assert payment.payload.gateway == "stripe"
    assert payment.payload.processed_at == datetime(2021, 9, 6, 18, 5, 12, tzinfo=UTC)


def test_woocommerce_refund_is_derived_from_refunds_and_marks_partial_refund() -> None:
    events = _parse("order_updated_eu_vat_coupon_partial_refund.json")
    assert [type(e) for e in events] == [OrderEvent, PaymentEvent, RefundEvent]
    order_event, _, refund = events
    assert isinstance(order_event, OrderEvent) and isinstance(refund, RefundEvent)
    assert order_event.payload.financial_status is FinancialStatus.PARTIALLY_REFUNDED
    assert refund.payload.amount == Decimal("10.00")
    assert refund.payload.detail_complete is False
    assert refund.event_id == "woocommerce:test-woocommerce:refund:1210"


def test_woocommerce_pending_order_is_not_placed_and_has_no_payment() -> None:
    events = _parse("order_created_pending_not_placed.json", "order.created")
    assert [type(e) for e in events] == [OrderEvent]
    order = events[0].payload  # type: ignore[attr-defined]
    assert order.placed is False
    assert order.financial_status is FinancialStatus.PENDING


@pytest.mark.parametrize("status", ["failed", "checkout-draft"])
def test_woocommerce_failed_and_draft_checkouts_are_not_placed(status: str) -> None:
    raw = json.loads(load("woocommerce", "order_created_pending_not_placed.json"))
    raw["status"] = status
    body = json.dumps(raw).encode()
    event = woocommerce.parse(woocommerce_headers(body, "order.updated"), body, CONN)[0]
    assert isinstance(event, OrderEvent)
    assert event.payload.placed is False


def test_woocommerce_on_hold_bank_transfer_is_placed_though_unpaid() -> None:
    raw = json.loads(load("woocommerce", "order_created_pending_not_placed.json"))
    raw["status"] = "on-hold"
    body = json.dumps(raw).encode()
    event = woocommerce.parse(woocommerce_headers(body, "order.updated"), body, CONN)[0]
    assert isinstance(event, OrderEvent)
    assert event.payload.placed is True
    assert event.payload.status is OrderStatus.ON_HOLD


def test_woocommerce_placed_statuses_override() -> None:
    conn = connection("woocommerce", placed_statuses=["processing", "completed"])
    body = load("woocommerce", "order_updated_stripe_paid.json")
    event = woocommerce.parse(woocommerce_headers(body, "order.updated"), body, conn)[0]
    assert isinstance(event, OrderEvent) and event.payload.placed


def test_woocommerce_cancelled_status_yields_a_cancellation() -> None:
    events = _parse("order_updated_cancelled.json")
    assert [type(e) for e in events] == [OrderEvent, CancellationEvent]
    assert events[0].payload.financial_status is FinancialStatus.VOIDED  # type: ignore[attr-defined]


def test_woocommerce_deleted_order_is_a_cancellation() -> None:
    (event,) = _parse("order_deleted.json", "order.deleted")
    assert isinstance(event, CancellationEvent)
    assert event.payload.order_id == "727"
    assert event.payload.reason is not None and "deleted" in event.payload.reason


def test_woocommerce_ping_is_recognised_without_a_signature() -> None:
    body = load("woocommerce", "ping.txt")
    result = receive({"Content-Type": "application/x-www-form-urlencoded"}, body, CONN)
    assert result == Ping(channel="woocommerce", webhook_id="15")


@pytest.mark.parametrize("body", [b"webhook_id=", b"webhook_id=12&x=1", b"webhook_id=abc", b'{"webhook_id": 1}'])
def test_woocommerce_ping_lookalikes_are_not_pings(body: bytes) -> None:
    assert woocommerce.detect_ping({}, body) is None


def test_woocommerce_action_topic_with_order_id_is_a_reference() -> None:
    body = b'{"action": "woocommerce_order_status_completed", "arg": 727}'
    topic = "action.woocommerce_order_status_completed"
    (event,) = woocommerce.parse(woocommerce_headers(body, topic), body, CONN)
    assert isinstance(event, OrderReferenceEvent)
    assert event.payload.order_id == "727"


def test_woocommerce_product_topics_are_ignored() -> None:
    assert _parse("order_created_guest_no_sku.json", "product.updated") == []


def test_woocommerce_order_without_gmt_dates_is_invalid_and_names_the_field() -> None:
    raw = json.loads(load("woocommerce", "order_created_guest_no_sku.json"))
    del raw["date_created_gmt"]
    body = json.dumps(raw).encode()
    with pytest.raises(InvalidPayload, match=r"order\.date_created_gmt"):
        woocommerce.parse(woocommerce_headers(body, "order.created"), body, CONN)


def test_woocommerce_non_divisible_line_keeps_exact_subtotal() -> None:
    raw = json.loads(load("woocommerce", "order_created_guest_no_sku.json"))
    raw["line_items"][1].update({"quantity": 3, "subtotal": "10.00", "total": "10.00"})
    raw["total"] = "27.35"
    body = json.dumps(raw).encode()
    event = woocommerce.parse(woocommerce_headers(body, "order.created"), body, CONN)[0]
    assert isinstance(event, OrderEvent)
    line = event.payload.lines[1]
    assert line.unit_price == Decimal("3.333333")
    assert line.subtotal == Decimal("10.00")
    assert event.payload.check_totals().ok


def test_woocommerce_long_customer_note_and_refund_reason_are_cut_not_refused() -> None:
    raw = json.loads(load("woocommerce", "order_updated_eu_vat_coupon_partial_refund.json"))
    raw["customer_note"] = "n" * 9000
    for refund in raw.get("refunds", []):
        refund["reason"] = "r" * 9000
    body = json.dumps(raw).encode()
    events = woocommerce.parse(woocommerce_headers(body, "order.updated"), body, CONN)
    order = next(e.payload for e in events if isinstance(e.payload, Order))  # type: ignore[attr-defined]
    assert order.note == "n" * 3999 + "…"
