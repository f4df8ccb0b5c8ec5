"""Shopify deliveries (real-format payloads) become canonical events."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from intacct_sync.channels import InvalidPayload, shopify
from intacct_sync.models import (
    CancellationEvent,
    FinancialStatus,
    Order,
    OrderEvent,
    OrderStatus,
    PaymentEvent,
    RefundEvent,
)
from tests.fixtures.channels.sign import connection, load, shopify_headers

CONN = connection("shopify")


def _parse(name: str, topic: str, **header_overrides: str) -> list[object]:
    body = load("shopify", name)
    return shopify.parse(shopify_headers(body, topic, **header_overrides), body, CONN)  # type: ignore[return-value]


def _order(name: str, topic: str = "orders/create") -> Order:
    event = _parse(name, topic)[0]
    assert isinstance(event, OrderEvent)
    return event.payload


ORDER_FIXTURES = [
    ("orders_paid_us_tax_exclusive_discount.json", "orders/paid"),
    ("orders_paid_eu_vat_inclusive.json", "orders/paid"),
    ("orders_create_jpy_bank_transfer.json", "orders/create"),
    ("orders_create_guest_no_sku_hkd.json", "orders/create"),
    ("orders_cancelled_test_notification.json", "orders/cancelled"),
]


@pytest.mark.parametrize(("name", "topic"), ORDER_FIXTURES)
def test_shopify_every_order_fixture_totals_reconcile_to_the_cent(name: str, topic: str) -> None:
    check = _order(name, topic).check_totals()
    assert check.ok, check
    assert check.tax_difference == 0


def test_shopify_tax_exclusive_us_order_with_discount_code_and_shipping() -> None:
    order = _order("orders_paid_us_tax_exclusive_discount.json", "orders/paid")
    assert order.order_id == "450789469"
    assert order.order_number == "1001"
    assert order.currency == "USD"
    assert order.taxes_included is False
    assert [line.sku for line in order.lines] == ["IPOD2008GREEN", "IPOD2008RED"]
    assert [line.discount for line in order.lines] == [Decimal("5.00"), Decimal("5.00")]
    assert [line.tax for line in order.lines] == [Decimal("11.64"), Decimal("11.64")]
    assert order.shipping_lines[0].title == "Standard Shipping"
    assert order.shipping_lines[0].price == Decimal("10.00")
    assert [(d.code, d.amount, d.allocated) for d in order.discounts] == [("TENOFF", Decimal("10.00"), True)]
    assert (order.subtotal, order.total_tax, order.total) == (
        Decimal("388.00"),
        Decimal("23.28"),
        Decimal("421.28"),
    )
    assert order.financial_status is FinancialStatus.PAID
    assert order.gateway == "shopify_payments"
    assert order.tags == ("wholesale", "vip")
    assert order.billing_address is not None
    assert (order.billing_address.region, order.billing_address.country_code) == ("KY", "US")
    assert order.customer.email == "bob.norman@mail.example.com"
    assert order.customer.customer_id == "207119551"
    assert order.created_at == datetime(2024, 5, 2, 14, 14, 51, tzinfo=UTC)


def test_shopify_tax_inclusive_order_total_matches_to_the_cent() -> None:
    order = _order("orders_paid_eu_vat_inclusive.json", "orders/paid")
    assert order.taxes_included is True
    assert order.currency == "EUR"
    assert order.order_number == "DE1042"
    check = order.check_totals()
    assert check.tax_added == 0
    assert check.expected_total == Decimal("78.38") == order.total
    assert order.total_tax == Decimal("12.52")
    assert order.customer.company == "Schmidt & Söhne GmbH"


def test_shopify_zero_decimal_currency_order_in_whole_yen() -> None:
    order = _order("orders_create_jpy_bank_transfer.json")
    assert order.currency == "JPY"
    assert order.total == Decimal(8060)
    assert str(order.check_totals().expected_total) == "8060"
    assert order.financial_status is FinancialStatus.PENDING
    assert order.placed, "unpaid bank-transfer orders are invoiced too (DESIGN §1)"


def test_shopify_guest_order_without_customer_or_skus() -> None:
    order = _order("orders_create_guest_no_sku_hkd.json")
    assert order.customer.is_guest
    assert order.customer.customer_id is None
    assert order.customer.email is None
    assert order.billing_address is None
    assert [line.sku for line in order.lines] == [None, None]
    assert [line.discount for line in order.lines] == [Decimal("19.10"), Decimal("15.00")]
    assert sum(d.amount for d in order.discounts) == order.total_discount == Decimal("34.10")


def test_shopify_cancelled_order_yields_order_and_cancellation() -> None:
    events = _parse("orders_cancelled_test_notification.json", "orders/cancelled")
    assert [type(e) for e in events] == [OrderEvent, CancellationEvent]
    order_event, cancellation = events
    assert isinstance(order_event, OrderEvent) and isinstance(cancellation, CancellationEvent)
    assert order_event.payload.status is OrderStatus.CANCELLED
    assert order_event.payload.financial_status is FinancialStatus.VOIDED
    assert cancellation.payload.reason == "customer"
    assert cancellation.payload.cancelled_at == datetime(2019, 6, 4, 17, 53, 6, tzinfo=UTC)
    assert order_event.payload.test is True


def test_shopify_refund_with_lines_and_transaction() -> None:
    (event,) = _parse("refunds_create.json", "refunds/create")
    assert isinstance(event, RefundEvent)
    refund = event.payload
    assert (refund.refund_id, refund.order_id) == ("509562969", "450789469")
    assert refund.amount == Decimal("209.00")
    assert refund.currency == "USD"
    assert [(line.line_id, line.sku, line.quantity) for line in refund.lines] == [
        ("703073504", "IPOD2008BLACK", Decimal(1)),
        ("466157049", "IPOD2008GREEN", Decimal(1)),
    ]
    assert refund.reason == "it broke during shipping"
    assert event.event_id == "shopify:test-shopify:refund:509562969"


def test_shopify_successful_capture_is_a_payment() -> None:
    (event,) = _parse("order_transactions_create_capture.json", "order_transactions/create")
    assert isinstance(event, PaymentEvent)
    payment = event.payload
    assert (payment.payment_id, payment.order_id, payment.kind) == ("389404470", "450789469", "capture")
    assert payment.amount == Decimal("421.28")
    assert payment.gateway == "bogus"


def test_shopify_authorization_is_not_a_payment() -> None:
    assert _parse("order_transactions_create_authorization.json", "order_transactions/create") == []


def test_shopify_unhandled_topic_is_accepted_and_ignored() -> None:
    assert _parse("orders_create_jpy_bank_transfer.json", "products/update") == []


def test_shopify_orders_delete_is_a_cancellation() -> None:
    body = b'{"id": 450789469}'
    (event,) = shopify.parse(shopify_headers(body, "orders/delete"), body, CONN)
    assert isinstance(event, CancellationEvent)
    assert event.payload.order_id == "450789469"


def test_shopify_missing_topic_header_is_invalid() -> None:
    body = load("shopify", "refunds_create.json")
    headers = shopify_headers(body, "refunds/create")
    del headers["X-Shopify-Topic"]
    with pytest.raises(InvalidPayload, match=r"(?i)x-shopify-topic"):
        shopify.parse(headers, body, CONN)


def test_shopify_bad_field_is_named_by_its_path() -> None:
    body = load("shopify", "orders_paid_us_tax_exclusive_discount.json").replace(
        b'"price": "199.00"', b'"price": "abc"', 1
    )
    with pytest.raises(InvalidPayload, match=r"order\.line_items\[0\]\.price"):
        shopify.parse(shopify_headers(body, "orders/paid"), body, CONN)


def test_shopify_placed_statuses_override_applies_to_financial_status() -> None:
    conn = connection("shopify", placed_statuses=["paid"])
    body = load("shopify", "orders_create_jpy_bank_transfer.json")
    event = shopify.parse(shopify_headers(body, "orders/create"), body, conn)[0]
    assert isinstance(event, OrderEvent)
    assert event.payload.placed is False


def test_shopify_a_note_longer_than_4000_characters_is_cut_not_refused() -> None:
    # A shopper's long note must not keep the order (and its payment) out of the books.
    raw = json.loads(load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    raw["note"] = "  " + "Leave at the back door. " * 1000 + "  "  # 24,000 characters
    body = json.dumps(raw).encode()
    order = shopify.parse(shopify_headers(body, "orders/paid"), body, CONN)[0].payload  # type: ignore[union-attr]
    assert order.note is not None and len(order.note) == 4000
    assert order.note.startswith("Leave at the back door.") and order.note.endswith("…")
    raw["note"] = "x" * 4000  # at the limit: kept whole
    body = json.dumps(raw).encode()
    assert shopify.parse(shopify_headers(body, "orders/paid"), body, CONN)[0].payload.note == "x" * 4000  # type: ignore[union-attr]
