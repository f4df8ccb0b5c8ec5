"""BigCommerce: ID-only callbacks become references; the follow-up fetch becomes an Order."""

import json
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels import InvalidPayload, bigcommerce
from intacct_sync.models import (
    CancellationEvent,
    FinancialStatus,
    OrderEvent,
    OrderReferenceEvent,
    PaymentEvent,
)
from tests.fixtures.channels.sign import bigcommerce_headers, connection, load

CONN = connection("bigcommerce")
CALLBACKS = [
    "callback_store_order_created.json",
    "callback_store_order_updated.json",
    "callback_store_order_statusUpdated.json",
    "callback_store_order_refund_created.json",
    "callback_store_order_archived.json",
    "callback_store_order_transaction_created.json",
]


def _fetch() -> dict[str, Any]:
    return json.loads(load("bigcommerce", "order_fetch_us_coupon.json"))  # type: ignore[no-any-return]


def _events(bundle: dict[str, Any]) -> list[object]:
    return bigcommerce.order_events(  # type: ignore[return-value]
        bundle["order"],
        bundle["products"],
        bundle["shipping_addresses"],
        bundle["transactions"],
        connection=CONN,
    )


@pytest.mark.parametrize("name", CALLBACKS)
def test_bigcommerce_callback_is_an_order_reference_to_fetch_later(name: str) -> None:
    body = load("bigcommerce", name)
    (event,) = bigcommerce.parse(bigcommerce_headers(body), body, CONN)
    assert isinstance(event, OrderReferenceEvent)
    assert event.payload.order_id == "250"
    assert event.topic == event.payload.scope == json.loads(body)["scope"]
    assert event.group_id == "test-bigcommerce:250"


def test_bigcommerce_callback_details_are_carried() -> None:
    body = load("bigcommerce", "callback_store_order_statusUpdated.json")
    (event,) = bigcommerce.parse(bigcommerce_headers(body), body, CONN)
    assert isinstance(event, OrderReferenceEvent)
    assert (event.payload.previous_status_id, event.payload.new_status_id) == (0, 11)
    body = load("bigcommerce", "callback_store_order_refund_created.json")
    (event,) = bigcommerce.parse(bigcommerce_headers(body), body, CONN)
    assert isinstance(event, OrderReferenceEvent)
    assert event.payload.refund_id == "3"


def test_bigcommerce_non_order_scopes_are_ignored() -> None:
    body = b'{"scope": "store/product/updated", "data": {"type": "product", "id": 1}}'
    assert bigcommerce.parse({}, body, CONN) == []


def test_bigcommerce_callback_without_data_is_invalid() -> None:
    with pytest.raises(InvalidPayload, match=r"callback\.data"):
        bigcommerce.parse({}, b'{"scope": "store/order/created"}', CONN)


def test_bigcommerce_follow_up_fetch_becomes_an_order_that_reconciles() -> None:
    events = _events(_fetch())
    assert [type(e) for e in events] == [OrderEvent, PaymentEvent]
    order_event = events[0]
    assert isinstance(order_event, OrderEvent)
    order = order_event.payload
    assert order.check_totals().ok
    assert order.total == Decimal("72.5300")
    assert [line.sku for line in order.lines] == ["S-ORAN", "DUST1"], "bundled children are skipped"
    assert [(d.code, d.amount, d.allocated) for d in order.discounts] == [("S2549JM0Y", Decimal("5.0000"), False)]
    assert order.shipping_lines[0].title == "Flat Rate"
    assert order.financial_status is FinancialStatus.PAID
    assert order.placed
    assert order.note == "Leave in backyard"
    assert order.billing_address is not None and order.billing_address.country_code == "US"


def test_bigcommerce_only_successful_captures_and_purchases_are_payments() -> None:
    events = _events(_fetch())
    payment = events[1]
    assert isinstance(payment, PaymentEvent)
    assert (payment.payload.payment_id, payment.payload.kind) == ("32", "capture")
    assert payment.payload.amount == Decimal("72.53")
    bundle = _fetch()
    bundle["transactions"]["data"][1]["status"] = "error"
    assert [type(e) for e in _events(bundle)] == [OrderEvent]


def test_bigcommerce_incomplete_order_is_not_placed() -> None:
    bundle = _fetch()
    bundle["order"].update({"status_id": 0, "status": "Incomplete"})
    event = _events(bundle)[0]
    assert isinstance(event, OrderEvent)
    assert event.payload.placed is False


def test_bigcommerce_cancelled_order_yields_a_cancellation() -> None:
    bundle = _fetch()
    bundle["order"].update({"status_id": 5, "status": "Cancelled"})
    assert CancellationEvent in [type(e) for e in _events(bundle)]


def test_bigcommerce_tax_inclusive_store_uses_inc_tax_amounts() -> None:
    bundle = _fetch()
    bundle["order"]["is_tax_inclusive_pricing"] = True
    # inc-tax: 53.71 + 12.99 + 10.83 - 5.00 = 72.53
    order = bigcommerce.parse_order(bundle["order"], bundle["products"], bundle["shipping_addresses"], connection=CONN)
    assert order.taxes_included
    assert order.check_totals().ok


def test_bigcommerce_refund_fetch() -> None:
    bundle = _fetch()
    order = bigcommerce.parse_order(bundle["order"], bundle["products"], bundle["shipping_addresses"], connection=CONN)
    refund = bigcommerce.parse_refund(json.loads(load("bigcommerce", "refund_fetch.json")), order, CONN)
    assert (refund.refund_id, refund.amount) == ("12", Decimal("12.99"))
    assert [(line.line_id, line.sku) for line in refund.lines] == [("67", "DUST1")]


def test_bigcommerce_products_error_body_is_rejected_not_read_as_no_lines() -> None:
    bundle = _fetch()
    with pytest.raises(InvalidPayload, match="products"):
        bigcommerce.parse_order(bundle["order"], {"status": 404}, [], connection=CONN)
