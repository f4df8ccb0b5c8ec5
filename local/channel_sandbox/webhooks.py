"""Outbound webhook deliveries, signed the way each channel signs them (for demos and e2e tests).

Shopify: the REST resource, unwrapped, `X-Shopify-*` headers, `X-Shopify-Hmac-Sha256` =
base64(HMAC-SHA256(client secret, body)). WooCommerce: the REST order, `X-WC-Webhook-*` headers,
signature with the webhook's secret. BigCommerce: the thin `{scope, store_id, data, hash,
created_at, producer}` body, the subscription's custom headers and Standard Webhooks
`webhook-id` / `webhook-timestamp` / `webhook-signature` (key = the client secret's bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from .common import now_utc
from .state import StoreState


@dataclass
class Delivery:
    url: str
    topic: str
    body: bytes
    headers: dict[str, str]
    status: int = 0  # 0 = no HTTP answer (connection error)
    error: str | None = None
    response: bytes = b""
    attempts: list[int] = field(default_factory=list)


def _b64_hmac(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def build(st: StoreState, topic: str, resource_id: int, api_version: str) -> tuple[bytes, dict[str, str]]:
    """The body and channel headers of one event (subscription-specific headers come later)."""
    rec = st.orders.get(int(resource_id))
    if st.channel == "shopify":
        if rec is None:
            raise KeyError(f"no Shopify order {resource_id}")
        if topic == "refunds/create":
            payload: Any = (rec.data.get("refunds") or [None])[-1]
        elif topic == "order_transactions/create":
            payload = rec.transactions[-1] if rec.transactions else None
        else:
            payload = rec.data if topic != "orders/delete" else {"id": rec.id}
        if payload is None:
            raise KeyError(f"order {resource_id} has nothing to send for {topic}")
        body = json.dumps(payload).encode()
        secret = str(st.config.get("client_secret") or "").encode()
        return body, {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": _b64_hmac(secret, body),
            "X-Shopify-Shop-Domain": st.key,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": now_utc().isoformat().replace("+00:00", "Z"),
        }
    if st.channel == "woocommerce":
        if topic == "order.deleted":
            body = json.dumps({"id": int(resource_id)}).encode()
        else:
            if rec is None:
                raise KeyError(f"no WooCommerce order {resource_id}")
            body = json.dumps(rec.data).encode()
        resource, _, event = topic.partition(".")
        return body, {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.0.0 Hookshot (WordPress/6.5.4)",
            "X-WC-Webhook-Source": str(st.config.get("site_url", f"https://{st.key}.example")).rstrip("/") + "/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
        }
    created = int(time.time())
    callback: dict[str, Any] = {
        "scope": topic,
        "store_id": str(st.config.get("store_id", "1001")),
        "data": {"type": "order", "id": int(resource_id)},
        "created_at": created,
        "producer": f"stores/{st.key}",
    }
    callback["hash"] = hashlib.sha1(json.dumps(callback, sort_keys=True).encode()).hexdigest()  # noqa: S324 - BC's own scheme
    body = json.dumps(callback).encode()
    msg_id = f"msg_{uuid.uuid4().hex}"
    secret = str(st.config.get("client_secret") or "").encode()
    signed = f"{msg_id}.{created}.".encode() + body
    return body, {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(created),
        "webhook-signature": "v1," + _b64_hmac(secret, signed),
    }


def targets(st: StoreState, topic: str) -> list[tuple[str, dict[str, str]]]:
    """(url, extra headers) of the store's active subscriptions to `topic`."""
    out: list[tuple[str, dict[str, str]]] = []
    for h in st.webhooks.values():
        if st.channel == "shopify" and h["topic"] == topic:
            # A delivery is serialised in its subscription's API version.
            version = h.get("api_version")
            out.append((h["address"], {"X-Shopify-API-Version": str(version)} if version else {}))
        elif st.channel == "woocommerce" and h["topic"] == topic and h.get("status") == "active":
            secret = str(h.get("secret") or "")
            out.append((h["delivery_url"], {"X-WC-Webhook-ID": str(h["id"]), "_secret": secret}))
        elif st.channel == "bigcommerce" and h.get("is_active"):
            scope = h["scope"]
            if scope == topic or (scope.endswith("/*") and topic.startswith(scope[:-1])):
                out.append((h["destination"], dict(h.get("headers") or {})))
    return out


def finish_headers(st: StoreState, body: bytes, base: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    headers = {**base, **{k: v for k, v in extra.items() if not k.startswith("_")}}
    if st.channel == "woocommerce":
        secret = extra.get("_secret") or str(st.config.get("webhook_secret") or "")
        headers["X-WC-Webhook-Signature"] = _b64_hmac(secret.encode(), body)
        hook_id = headers.setdefault("X-WC-Webhook-ID", "0")
        headers["X-WC-Webhook-Delivery-ID"] = hashlib.md5(f"{hook_id}{int(time.time())}".encode()).hexdigest()  # noqa: S324
    return headers


def post(delivery: Delivery, timeout: float = 5.0) -> Delivery:
    req = urllib.request.Request(delivery.url, data=delivery.body, headers=delivery.headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - dev tool, caller's URL
            delivery.status, delivery.response, delivery.error = resp.status, resp.read(), None
    except urllib.error.HTTPError as exc:
        delivery.status, delivery.response, delivery.error = exc.code, exc.read(), None
    except (urllib.error.URLError, OSError) as exc:
        delivery.status, delivery.error = 0, str(exc)
    delivery.attempts.append(delivery.status)
    return delivery


__all__ = ["Delivery", "build", "finish_headers", "post", "targets"]
