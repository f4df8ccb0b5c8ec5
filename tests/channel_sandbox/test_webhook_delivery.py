"""Outbound webhook deliveries: bodies, headers and signatures checked by an independent receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.channel_sandbox import ChannelSandbox

from .conftest import BC, SHOP, WOO, ShopifyClient, WooClient


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True
    got: list[tuple[dict[str, str], bytes]]
    answer: int


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(self.server.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    srv = _Receiver(("127.0.0.1", 0), _Handler)
    srv.got, srv.answer = [], 200
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Receiver, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def _b64_hmac(key: bytes, msg: bytes) -> str:
    return base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def test_shopify_delivery_to_subscriptions(cs: ChannelSandbox, receiver: _Receiver) -> None:
    cs.configure("shopify", require_https=False)
    shop = ShopifyClient(cs)
    url = _url(receiver, "/webhooks/shop")
    assert shop.post("/webhooks.json", {"webhook": {"topic": "orders/paid", "address": url}}).status_code == 201
    [d] = cs.deliver_webhook("shopify", SHOP, "orders/paid", 450789469)
    assert d.status == 200
    headers, body = receiver.got[0]
    secret = cs.credentials("shopify", SHOP)["client_secret"].encode()
    assert headers["x-shopify-hmac-sha256"] == _b64_hmac(secret, body)
    assert headers["x-shopify-topic"] == "orders/paid" and headers["x-shopify-shop-domain"] == SHOP
    assert json.loads(body)["id"] == 450789469  # not wrapped in {"order": ...}
    again = cs.redeliver(d)
    assert again.attempts == [200, 200]
    assert receiver.got[1] == receiver.got[0]  # a retry is byte-identical, same webhook id
    assert cs.deliver_webhook("shopify", SHOP, "orders/create", 450789469) == []  # no subscription


def test_woocommerce_delivery_uses_the_hook_secret(cs: ChannelSandbox, receiver: _Receiver) -> None:
    url = _url(receiver, "/webhooks/woo")
    hook = (
        WooClient(cs)
        .req("POST", "/webhooks", {"topic": "order.updated", "delivery_url": url, "secret": "hook-secret"})
        .json()
    )
    [d] = cs.deliver_webhook("woocommerce", WOO, "order.updated", 897)
    assert d.status == 200
    headers, body = receiver.got[0]
    assert headers["x-wc-webhook-signature"] == _b64_hmac(b"hook-secret", body)
    assert headers["x-wc-webhook-id"] == str(hook["id"])
    assert headers["x-wc-webhook-topic"] == "order.updated" and headers["x-wc-webhook-resource"] == "order"
    assert json.loads(body)["date_modified_gmt"] == cs.order("woocommerce", WOO, 897)["date_modified_gmt"]


def test_bigcommerce_delivery_standard_webhooks(cs: ChannelSandbox, receiver: _Receiver) -> None:
    receiver.answer = 503
    url = _url(receiver, "/webhooks/bc")
    [d] = cs.deliver_webhook("bigcommerce", BC, "store/order/created", 218, url, headers={"X-Webhook-Token": "t"})
    assert d.status == 503
    headers, body = receiver.got[0]
    event = json.loads(body)
    assert event["data"] == {"type": "order", "id": 218} and event["scope"] == "store/order/created"
    assert event["producer"] == f"stores/{BC}" and len(event["hash"]) == 40
    secret = cs.credentials("bigcommerce", BC)["client_secret"].encode()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    assert headers["webhook-signature"] == "v1," + _b64_hmac(secret, signed)
    assert headers["x-webhook-token"] == "t"
    assert cs.deliver_webhook("shopify", SHOP, "orders/paid", 450789469, "http://127.0.0.1:9/")[0].status == 0
