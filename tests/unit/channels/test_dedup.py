"""Dedup keys: the same event always gets the same id; different events never share one."""

import json
from typing import Any

from intacct_sync.channels import bigcommerce, shopify, woocommerce
from tests.fixtures.channels.sign import (
    bigcommerce_headers,
    connection,
    load,
    shopify_headers,
    woocommerce_headers,
)


def _ids(events: list[Any]) -> list[str]:
    return [e.event_id for e in events]


# ---- Shopify


def _shopify(body: bytes, topic: str = "orders/updated", **headers: str) -> list[str]:
    return _ids(shopify.parse(shopify_headers(body, topic, **headers), body, connection("shopify")))


def test_shopify_redelivery_of_the_same_event_has_the_same_id() -> None:
    body = load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    assert _shopify(body) == _shopify(body)


def test_shopify_event_id_wins_over_the_per_subscription_webhook_id() -> None:
    body = load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    assert _shopify(body, webhook_id="delivery-a") == _shopify(body, webhook_id="delivery-b")


def test_shopify_different_events_have_different_ids() -> None:
    body = load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    assert _shopify(body, event_id="evt-1") != _shopify(body, event_id="evt-2")
    assert _shopify(body, "orders/paid") != _shopify(body, "orders/updated")


def test_shopify_without_event_headers_falls_back_to_order_state_version() -> None:
    body = load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    conn = connection("shopify")

    def parse(raw: bytes) -> list[str]:
        headers = shopify_headers(raw, "orders/updated")
        del headers["X-Shopify-Event-Id"], headers["X-Shopify-Webhook-Id"]
        return _ids(shopify.parse(headers, raw, conn))

    updated = body.replace(b'"updated_at": "2024-05-02T10:15:04-04:00"', b'"updated_at": "2024-05-03T08:00:00-04:00"')
    assert parse(body) == parse(body)
    assert parse(body) != parse(updated)


def test_shopify_refund_from_refunds_create_and_from_an_order_update_dedup_to_one() -> None:
    refund_body = load("shopify", "refunds_create.json")
    (from_topic,) = _shopify(refund_body, "refunds/create")
    order = json.loads(load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    order["refunds"] = [json.loads(refund_body)]
    from_order = _shopify(json.dumps(order).encode(), event_id="another-event")
    assert from_topic in from_order


# ---- WooCommerce


def _woo(raw: dict[str, Any] | bytes, topic: str = "order.updated", delivery_id: str = "d1") -> list[str]:
    body = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    headers = woocommerce_headers(body, topic, delivery_id=delivery_id)
    return _ids(woocommerce.parse(headers, body, connection("woocommerce")))


def test_woocommerce_same_state_delivered_twice_has_the_same_id_whatever_the_delivery_id() -> None:
    body = load("woocommerce", "order_updated_stripe_paid.json")
    assert _woo(body, delivery_id="aaa") == _woo(body, delivery_id="bbb")


def test_woocommerce_same_state_reserialised_has_the_same_id() -> None:
    body = load("woocommerce", "order_updated_stripe_paid.json")
    assert _woo(body) == _woo(json.loads(body))


def test_woocommerce_updated_order_has_a_different_id() -> None:
    raw = json.loads(load("woocommerce", "order_updated_stripe_paid.json"))
    before = _woo(raw)
    raw["date_modified_gmt"] = "2021-09-07T10:00:00"
    assert _woo(raw)[0] != before[0]


def test_woocommerce_two_changes_in_the_same_second_do_not_share_an_id() -> None:
    raw = json.loads(load("woocommerce", "order_updated_stripe_paid.json"))
    before = _woo(raw)
    raw["status"] = "completed"  # same date_modified_gmt, different state
    assert _woo(raw)[0] != before[0]


def test_woocommerce_payment_id_is_stable_across_later_order_updates() -> None:
    raw = json.loads(load("woocommerce", "order_updated_stripe_paid.json"))
    first = _woo(raw)
    raw["date_modified_gmt"] = "2021-09-08T10:00:00"
    raw["status"] = "completed"
    second = _woo(raw)
    assert first[1] == second[1] == "woocommerce:test-woocommerce:payment:897-paid"


def test_woocommerce_created_and_updated_topics_are_distinct_events() -> None:
    body = load("woocommerce", "order_updated_stripe_paid.json")
    assert _woo(body, "order.created")[0] != _woo(body, "order.updated")[0]


# ---- BigCommerce


def _bc(body: bytes, **kwargs: Any) -> list[str]:
    headers = bigcommerce_headers(body, **kwargs)
    return _ids(bigcommerce.parse(headers, body, connection("bigcommerce")))


def test_bigcommerce_retry_with_the_same_webhook_id_has_the_same_id() -> None:
    body = load("bigcommerce", "callback_store_order_updated.json")
    assert _bc(body, msg_id="msg_1", timestamp=1) == _bc(body, msg_id="msg_1", timestamp=2)


def test_bigcommerce_without_webhook_id_same_body_same_id_and_later_update_differs() -> None:
    conn = connection("bigcommerce")
    body = load("bigcommerce", "callback_store_order_updated.json")
    later = body.replace(b"1561479335", b"1561479999")  # same `hash`, later event
    assert _ids(bigcommerce.parse({}, body, conn)) == _ids(bigcommerce.parse({}, body, conn))
    assert _ids(bigcommerce.parse({}, body, conn)) != _ids(bigcommerce.parse({}, later, conn))


def test_bigcommerce_created_and_updated_sharing_a_hash_are_still_distinct() -> None:
    conn = connection("bigcommerce")
    created = load("bigcommerce", "callback_store_order_created.json")
    updated = load("bigcommerce", "callback_store_order_updated.json")
    assert json.loads(created)["hash"] == json.loads(updated)["hash"]
    assert _ids(bigcommerce.parse({}, created, conn)) != _ids(bigcommerce.parse({}, updated, conn))


def test_event_ids_are_bounded_for_sqs_fifo_even_with_long_connection_ids() -> None:
    conn = connection("woocommerce", id="c" * 64)
    body = load("woocommerce", "order_updated_eu_vat_coupon_partial_refund.json")
    events = woocommerce.parse(woocommerce_headers(body, "order.updated"), body, conn)
    assert all(len(e.event_id) <= 128 for e in events)


def test_woocommerce_reconcile_poll_of_an_already_delivered_state_has_the_same_ids() -> None:
    body = load("woocommerce", "order_updated_eu_vat_coupon_partial_refund.json")
    polled = woocommerce.order_events(json.loads(body), connection("woocommerce"))
    assert _ids(polled) == _woo(body)


def test_shopify_reconcile_poll_reads_the_same_order_as_the_webhook() -> None:
    body = load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    (event,) = shopify.parse(shopify_headers(body, "orders/paid"), body, connection("shopify"))
    assert shopify.order_from_json(json.loads(body), connection("shopify")) == event.payload  # type: ignore[union-attr]
