"""Write events/: API Gateway v2 webhook events for every channel fixture (plain and base64
bodies, signed with the documented test secrets), plus the scheduled events.

Usage: `.venv/bin/python -m local.make_events` (`make events`). BigCommerce's Standard Webhooks
signature carries a timestamp checked within the connection's tolerance (5 minutes by default), so
regenerate right before `sam local invoke` of a BigCommerce event.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from tests.fixtures.channels import sign

EVENTS = Path(__file__).resolve().parent.parent / "events"
CONNECTIONS = Path(__file__).resolve().parent / "config" / "connections"

SHOPIFY_TOPICS = {
    "order_transactions_create_authorization.json": "order_transactions/create",
    "order_transactions_create_capture.json": "order_transactions/create",
    "orders_cancelled_test_notification.json": "orders/cancelled",
    "orders_create_guest_no_sku_hkd.json": "orders/create",
    "orders_create_jpy_bank_transfer.json": "orders/create",
    "orders_paid_eu_vat_inclusive.json": "orders/paid",
    "orders_paid_us_tax_exclusive_discount.json": "orders/paid",
    "refunds_create.json": "refunds/create",
}
WOO_TOPICS = {
    "order_created_guest_no_sku.json": "order.created",
    "order_created_pending_not_placed.json": "order.created",
    "order_deleted.json": "order.deleted",
    "order_updated_cancelled.json": "order.updated",
    "order_updated_eu_vat_coupon_partial_refund.json": "order.updated",
    "order_updated_stripe_paid.json": "order.updated",
}
BC_CALLBACKS = sorted(p.name for p in (sign.FIXTURES / "bigcommerce").glob("callback_*.json"))

CONNECTION_IDS = {
    "shopify": "shopify-demo",
    "woocommerce": "woocommerce-demo",
    "bigcommerce": "bigcommerce-demo",
}


def connection_secret(channel: str) -> dict[str, Any]:
    """The connection secret JSON (the demo's stores; secrets are the public test values)."""
    conn = sign.connection(channel, id=CONNECTION_IDS[channel])
    data = json.loads(conn.model_dump_json(exclude_none=True))
    for key in ("webhook_secret", "webhook_auth_value"):
        if getattr(conn, key) is not None:
            data[key] = getattr(conn, key).get_secret_value()
    return data


def apigw_event(connection_id: str, headers: dict[str, str], body: bytes, *, b64: bool) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event as API Gateway delivers it (header names lower-cased)."""
    now = int(time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{connection_id}",
        "rawPath": f"/webhooks/{connection_id}",
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()} | {"content-length": str(len(body))},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "api-id",
            "http": {
                "method": "POST",
                "path": f"/webhooks/{connection_id}",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": headers.get("User-Agent", "channel"),
            },
            "requestId": f"req-{connection_id}-{now}",
            "routeKey": "POST /webhooks/{connection_id}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": now,
        },
        "pathParameters": {"connection_id": connection_id},
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


def webhook_events() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def add(channel: str, name: str, headers: dict[str, str], body: bytes) -> None:
        stem = name.removesuffix(".json").removesuffix(".txt")
        cid = CONNECTION_IDS[channel]
        out[f"webhook/{channel}/{stem}.json"] = apigw_event(cid, headers, body, b64=False)
        out[f"webhook/{channel}/{stem}.base64.json"] = apigw_event(cid, headers, body, b64=True)

    for name, topic in SHOPIFY_TOPICS.items():
        body = sign.load("shopify", name)
        add("shopify", name, sign.shopify_headers(body, topic, event_id=f"evt-{name}"), body)
    for name, topic in WOO_TOPICS.items():
        body = sign.load("woocommerce", name)
        add("woocommerce", name, sign.woocommerce_headers(body, topic), body)
    ping = sign.load("woocommerce", "ping.txt")
    add("woocommerce", "ping.txt", {"Content-Type": "application/x-www-form-urlencoded"}, ping)
    for name in BC_CALLBACKS:
        body = sign.load("bigcommerce", name)
        add(
            "bigcommerce",
            name,
            sign.bigcommerce_headers(body, timestamp=int(time.time()), msg_id=f"msg_{name}"),
            body,
        )
    forged = sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    add(
        "shopify",
        "forged_wrong_secret",
        sign.shopify_headers(forged, "orders/paid", secret="not-the-secret"),  # noqa: S106 - a forgery on purpose
        forged,
    )
    return out


def scheduled_event(name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:events:eu-west-1:123456789012:rule/{name}"],
        "detail": {},
    }


def main() -> None:
    files = webhook_events()
    for name in ("reconcile", "stock-push", "writeback"):
        files[f"schedule/{name}.json"] = scheduled_event(f"intacct-sync-{name}")
    for rel, event in files.items():
        path = EVENTS / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(event, indent=2, ensure_ascii=False) + "\n")
    CONNECTIONS.mkdir(parents=True, exist_ok=True)
    for channel, cid in CONNECTION_IDS.items():
        (CONNECTIONS / f"{cid}.json").write_text(json.dumps(connection_secret(channel), indent=2) + "\n")
    print(f"wrote {len(files)} events under {EVENTS} and {len(CONNECTION_IDS)} connections under {CONNECTIONS}")


if __name__ == "__main__":
    main()
