"""Shopify REST Admin API: auth, order listing and cursor paging, order sub-resources, webhooks,
the REST leaky bucket."""

from __future__ import annotations

import re

import requests

from local.channel_sandbox import ChannelSandbox

from .conftest import SHOP, ShopifyClient

US, JPY, CANCELLED = 450789469, 5820094660683, 820982911946154508


def _next(resp: requests.Response, rel: str = "next") -> str | None:
    for part in resp.headers.get("Link", "").split(","):
        m = re.search(r'<([^>]+)>; rel="(\w+)"', part)
        if m and m.group(2) == rel:
            return m.group(1)
    return None


def test_missing_or_wrong_token_is_401(cs: ChannelSandbox) -> None:
    for token in ("", "shpat_wrong"):
        r = ShopifyClient(cs, token=token).get("/orders.json")
        assert r.status_code == 401
        assert r.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}


def test_missing_scope_is_403_and_unknown_shop_404(cs: ChannelSandbox) -> None:
    ro = ShopifyClient(cs, token="shpat_sandbox_readonly_000000000002")
    assert ro.get("/orders.json").status_code == 200
    r = ro.put(f"/orders/{US}.json", {"order": {"id": US, "tags": "x"}})
    assert r.status_code == 403
    assert "write_orders" in r.json()["errors"]
    r = requests.get(cs.base_url + "/shopify/nope.myshopify.com/admin/api/2025-10/orders.json", timeout=5)
    assert r.status_code == 404


def test_default_status_is_open(shop: ShopifyClient) -> None:
    ids = [o["id"] for o in shop.get("/orders.json").json()["orders"]]
    assert CANCELLED not in ids
    assert set(ids) == {US, JPY}
    ids = [o["id"] for o in shop.get("/orders.json", status="any").json()["orders"]]
    assert set(ids) == {US, JPY, CANCELLED}
    assert [o["id"] for o in shop.get("/orders.json", status="cancelled").json()["orders"]] == [CANCELLED]


def test_updated_at_min_is_inclusive_and_accepts_offsets(shop: ShopifyClient) -> None:
    # US order updated_at 2024-05-02T10:15:04-04:00 == 14:15:04Z
    r = shop.get("/orders.json", status="any", updated_at_min="2024-05-02T14:15:04Z")
    ids = {o["id"] for o in r.json()["orders"]}
    assert US in ids
    assert CANCELLED not in ids  # 2019
    r = shop.get("/orders.json", status="any", updated_at_min="2024-05-02T10:15:05-04:00")
    assert US not in {o["id"] for o in r.json()["orders"]}
    assert shop.get("/orders.json", updated_at_min="yesterday").status_code == 400


def test_cursor_paging_walks_every_order_once(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    for i in range(7):
        cs.put_order("shopify", SHOP, {"name": f"#T{i}", "financial_status": "paid", "line_items": []})
    seen: list[int] = []
    r = shop.get("/orders.json", status="any", limit=3, order="updated_at asc")
    pages = 0
    while True:
        assert r.status_code == 200
        batch = [o["id"] for o in r.json()["orders"]]
        assert len(batch) <= 3
        seen += batch
        pages += 1
        url = _next(r)
        if url is None:
            break
        assert "page_info=" in url and "status" not in url
        r = shop.get(url)
    assert pages == 4
    assert len(seen) == len(set(seen)) == 10
    back = _next(r, "previous")
    assert back is not None
    assert [o["id"] for o in shop.get(back).json()["orders"]] == seen[-4:-1]


def test_page_info_rejects_other_filters(shop: ShopifyClient) -> None:
    r = shop.get("/orders.json", status="any", limit=1)
    url = _next(r)
    assert url is not None
    bad = url + "&status=any"
    r2 = shop.get(bad)
    assert r2.status_code == 400
    assert "page_info" in r2.json()["errors"]
    assert shop.get("/orders.json", page_info="garbage").status_code == 400


def test_limit_is_capped_at_250(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    for i in range(255):
        cs.put_order("shopify", SHOP, {"name": f"#B{i}", "line_items": []})
    r = shop.get("/orders.json", limit=400)
    assert len(r.json()["orders"]) == 250
    assert _next(r) is not None


def test_single_order_and_subresources(shop: ShopifyClient) -> None:
    r = shop.get(f"/orders/{US}.json")
    assert r.status_code == 200
    order = r.json()["order"]
    assert order["id"] == US and order["line_items"][0]["sku"] == "TSHIRT-S"
    assert shop.get("/orders/1.json").status_code == 404
    assert shop.get("/orders/1.json").json() == {"errors": "Not Found"}
    txns = shop.get(f"/orders/{US}/transactions.json").json()["transactions"]
    assert {t["kind"] for t in txns} == {"authorization", "capture"}
    refunds = shop.get(f"/orders/{US}/refunds.json").json()["refunds"]
    assert len(refunds) == 1 and refunds[0]["order_id"] == US
    fields = shop.get(f"/orders/{US}.json", fields="id,name").json()["order"]
    assert fields == {"id": US, "name": "#1001"}
    assert shop.get("/orders/count.json", status="any").json() == {"count": 3}


def test_order_update_bumps_updated_at(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    before = shop.get(f"/orders/{US}.json").json()["order"]["updated_at"]
    r = shop.put(f"/orders/{US}.json", {"order": {"id": US, "tags": "vip, INV-1"}})
    assert r.status_code == 200
    after = r.json()["order"]
    assert after["tags"] == "vip, INV-1" and after["updated_at"] > before
    assert cs.order("shopify", SHOP, US)["tags"] == "vip, INV-1"


def test_webhook_create_list_duplicate_delete(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    body = {"webhook": {"topic": "orders/create", "address": "https://hooks.example/shop", "format": "json"}}
    r = shop.post("/webhooks.json", body)
    assert r.status_code == 201
    hook = r.json()["webhook"]
    assert hook["topic"] == "orders/create" and hook["api_version"] == "2025-10"
    dup = shop.post("/webhooks.json", body)
    assert dup.status_code == 422
    assert dup.json() == {"errors": {"address": ["for this topic has already been taken"]}}
    other = shop.post("/webhooks.json", {"webhook": {**body["webhook"], "topic": "orders/paid"}})
    assert other.status_code == 201
    listed = shop.get("/webhooks.json").json()["webhooks"]
    assert {h["topic"] for h in listed} == {"orders/create", "orders/paid"}
    assert [h["id"] for h in shop.get("/webhooks.json", topic="orders/paid").json()["webhooks"]] == [
        other.json()["webhook"]["id"]
    ]
    assert shop.delete(f"/webhooks/{hook['id']}.json").status_code == 200
    assert shop.delete(f"/webhooks/{hook['id']}.json").status_code == 404
    assert [h["topic"] for h in cs.webhooks("shopify", SHOP)] == ["orders/paid"]


def test_webhook_validation(shop: ShopifyClient) -> None:
    r = shop.post("/webhooks.json", {"webhook": {"topic": "orders/nope", "address": "https://x.example"}})
    assert r.status_code == 422 and "topic" in r.json()["errors"]
    r = shop.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": "http://x.example"}})
    assert r.status_code == 422 and "address" in r.json()["errors"]
    assert shop.post("/webhooks.json", {"topic": "orders/create"}).status_code == 400


def test_rest_bucket_429_with_retry_after(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    cs.freeze_clock()  # the bucket leaks only when the test moves the clock: no race with a slow machine
    cs.configure("shopify", rest_bucket_size=3, rest_leak_rate=10.0)
    statuses = []
    for _ in range(5):
        r = shop.get("/orders.json")
        statuses.append(r.status_code)
        if r.status_code == 200:
            assert re.fullmatch(r"\d+/3", r.headers["X-Shopify-Shop-Api-Call-Limit"])
    assert statuses == [200, 200, 200, 429, 429]
    limited = shop.get("/orders.json")
    assert limited.status_code == 429 and float(limited.headers["Retry-After"]) > 0
    cs.advance_clock(0.25)  # 2.5 calls leak out
    assert [shop.get("/orders.json").status_code for _ in range(3)] == [200, 200, 429]


def test_locations_and_legacy_inventory_set(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    locs = shop.get("/locations.json").json()["locations"]
    assert [loc["name"] for loc in locs] == ["East Warehouse", "West Warehouse"]
    r = shop.post(
        "/inventory_levels/set.json",
        {"location_id": locs[1]["id"], "inventory_item_id": 46000000000001, "available": 3},
    )
    assert r.status_code == 200 and r.json()["inventory_level"]["available"] == 3
    assert cs.inventory("shopify", SHOP)[("TSHIRT-S", locs[1]["id"])] == 3
    r = shop.post(
        "/inventory_levels/set.json",
        {"location_id": locs[1]["id"], "inventory_item_id": 46000000000003, "available": 3},
    )
    assert r.status_code == 422  # MUG-01 is not stocked at West
