"""Ids that would change a channel API path ('.', '..', '/', '%2e', '?', '#', '', whitespace) never
reach one: the API clients refuse to build a URL from them (defence in depth behind the adapters'
400), so the channel sandbox sees no request at all, and valid ids reach exactly the order's path."""

from __future__ import annotations

import pytest

from intacct_sync.channels.api import ChannelClient, client_for
from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.http import Pacer, UnsafePathValue, fill_path
from intacct_sync.channels.api.port import WritebackOptions
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Backoff, Deadline
from local.channel_sandbox import ChannelSandbox

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
HOSTILE = [".", "..", "/", "%2e", "%2e%2e", "?", "#", "", " ", "\t", "1/..", "../1", "1?x=1", "-1", "0", "1 2"]
CHANNELS = ["shopify", "woocommerce", "bigcommerce"]


def client(channels: ChannelSandbox, channel: str) -> ChannelClient:
    conn = Connection.model_validate(channels.connection_secret(channel, STORES[channel], f"{channel}-ids"))
    return client_for(
        conn, backoff=Backoff(base_s=0.01, cap_s=0.05, max_attempts=2), sleep=lambda s: None, pacer=Pacer()
    )


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_request_is_sent_for_a_hostile_order_id(channels: ChannelSandbox, channel: str) -> None:
    api = client(channels, channel)
    channels.clear_requests()
    for bad in HOSTILE:
        for what in ("fetch", "write", "paid"):
            with pytest.raises(ChannelRequestError) as info:
                if what == "fetch":
                    api.fetch_order_events(bad, deadline=Deadline.after(10))
                elif what == "write":
                    api.write_document_number(bad, "INV-1", options=WritebackOptions(), deadline=Deadline.after(10))
                else:
                    api.mark_paid(bad, options=WritebackOptions(), deadline=Deadline.after(10))
            assert "order id" in info.value.message, info.value.message
    assert [r.path for r in channels.requests if r.channel == channel] == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_valid_order_id_reaches_only_that_orders_path(channels: ChannelSandbox, channel: str) -> None:
    api = client(channels, channel)
    order_id = str(channels.orders(channel, STORES[channel])[0]["id"]) if channel != "bigcommerce" else None
    if order_id is None:
        order = channels.orders(channel, STORES[channel])[0]
        order_id = str(order["order"]["id"] if "order" in order else order["id"])
    channels.clear_requests()
    api.fetch_order_events(order_id, deadline=Deadline.after(30))
    paths = {r.path for r in channels.requests if r.channel == channel}
    assert paths, "the order was fetched"
    assert all(f"/orders/{order_id}" in p for p in paths if "/orders" in p), paths
    assert not any(p.rstrip("/").endswith(("/v2", "/v3", "/wc/v3", "/admin/api")) for p in paths), paths


def test_a_shopify_gid_is_fetched_by_its_number(channels: ChannelSandbox) -> None:
    api = client(channels, "shopify")
    order_id = str(channels.orders("shopify", STORES["shopify"])[0]["id"])
    channels.clear_requests()
    events = api.fetch_order_events(f"gid://shopify/Order/{order_id}", deadline=Deadline.after(30))
    assert order_id in {e.order_id for e in events}
    assert any(r.path.endswith(f"/orders/{order_id}.json") for r in channels.requests)


@pytest.mark.parametrize("bad", ["", ".", "..", " ", "1 2", "\x00", "a\n"])
def test_the_http_layer_refuses_to_fill_a_path_with_a_dot_segment_or_blank(bad: str) -> None:
    with pytest.raises(UnsafePathValue):
        fill_path("/stores/{store}/v2/orders/{order_id}", {"store": "abc123", "order_id": bad})
    assert fill_path("/v2/orders/{order_id}", {"order_id": "1/../x?y#z"}) == "/v2/orders/1%2F..%2Fx%3Fy%23z"
