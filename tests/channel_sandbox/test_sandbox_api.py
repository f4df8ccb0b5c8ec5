"""The Python API: orders, catalog generation, faults, limits, request log, reset, admin endpoint."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import requests

from local.channel_sandbox import ChannelFault, ChannelSandbox

from .conftest import BC, SHOP, WOO, BCClient, ShopifyClient, WooClient


def test_put_order_sets_modified_unless_given(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    oid = cs.put_order("shopify", SHOP, {"name": "#NEW", "financial_status": "pending", "line_items": []})
    order = cs.order("shopify", SHOP, oid)
    assert order["admin_graphql_api_id"] == f"gid://shopify/Order/{oid}"
    assert order["updated_at"].endswith("-04:00")  # shop time zone
    listed = shop.get("/orders.json", updated_at_min=order["updated_at"]).json()["orders"]
    assert [o["id"] for o in listed] == [oid]
    kept = cs.put_order("shopify", SHOP, {**order, "updated_at": "2020-01-01T00:00:00-04:00"})
    assert cs.order("shopify", SHOP, kept)["updated_at"] == "2020-01-01T00:00:00-04:00"
    cs.put_order("shopify", SHOP, cs.order("shopify", SHOP, kept), touch=True)
    assert cs.order("shopify", SHOP, kept)["updated_at"] > "2020"
    wid = cs.put_order("woocommerce", WOO, {"status": "processing", "line_items": []})
    w = cs.order("woocommerce", WOO, wid)
    assert w["date_modified_gmt"] and w["date_modified"] != w["date_modified_gmt"]  # site is UTC-3
    bid = cs.put_order(
        "bigcommerce",
        BC,
        {"status_id": 11, "products": [{"id": 1, "sku": "MUG-01", "quantity": 1}], "shipping_addresses": []},
    )
    assert cs.order("bigcommerce", BC, bid)["date_modified"].endswith("+0000")
    assert BCClient(cs).get(f"/v2/orders/{bid}/products").json()[0]["order_id"] == bid
    assert {o["id"] for o in cs.orders("bigcommerce", BC)} == {218, 219, bid}


def test_add_products_50k_is_fast(cs: ChannelSandbox) -> None:
    skus = [f"SKU-{i:05d}" for i in range(50_000)]
    for channel, store in (("shopify", SHOP), ("woocommerce", WOO), ("bigcommerce", BC)):
        t0 = time.perf_counter()
        ids = cs.add_products(channel, store, skus, quantity=3)
        elapsed = time.perf_counter() - t0
        assert len(ids) == 50_000
        # A guard against quadratic work only (≈0.3 s here): wall-clock speed is not the test.
        assert elapsed < 30, f"{channel}: {elapsed:.2f}s"
    inv = cs.inventory("shopify", SHOP)
    assert inv[("SKU-49999", 70000000001)] == 3 and inv[("SKU-49999", 70000000002)] == 3
    assert cs.inventory("woocommerce", WOO)[("SKU-00000", None)] == 3
    # the channels serve them with paging
    page = WooClient(cs).get("/products", per_page=100, page=500)
    assert page.headers["X-WP-Total"] == "50002" and len(page.json()) == 100
    found = BCClient(cs).get("/v3/catalog/variants", sku="SKU-31337").json()["data"]
    assert found[0]["sku"] == "SKU-31337"
    q = '{ productVariants(first: 1, query: "sku:SKU-31337") { nodes { sku inventoryItem { id } } } }'
    assert ShopifyClient(cs).gql(q)["data"]["productVariants"]["nodes"][0]["sku"] == "SKU-31337"


@pytest.mark.parametrize(
    ("channel", "path"),
    [("shopify", "/orders.json"), ("woocommerce", "/orders"), ("bigcommerce", "/v2/orders")],
)
def test_rate_limit_fault_per_channel(cs: ChannelSandbox, channel: str, path: str) -> None:
    cs.inject(ChannelFault(channel, kind="rate_limit", retry_after=2, times=1))
    client = {"shopify": ShopifyClient, "woocommerce": WooClient, "bigcommerce": BCClient}[channel](cs)
    r = client.get(path)
    assert r.status_code == 429
    if channel == "bigcommerce":
        assert "X-Rate-Limit-Time-Reset-Ms" in r.headers
    else:
        assert float(r.headers["Retry-After"]) == 2
    assert client.get(path).status_code in (200, 204)
    assert cs.requests[-2].fault == "rate_limit"


def test_http_error_fault_matches_path_and_counts(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    cs.inject(ChannelFault("shopify", kind="http_error", status=503, times=2, path_contains="/transactions"))
    assert shop.get("/orders.json").status_code == 200
    assert shop.get("/orders/450789469/transactions.json").status_code == 503
    assert shop.get("/orders/450789469/transactions.json").status_code == 503
    assert shop.get("/orders/450789469/transactions.json").status_code == 200
    assert cs.faults == []


def test_throttle_fault_and_forever(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    cs.inject(ChannelFault("shopify", kind="throttle", times=None))
    for _ in range(2):
        body = shop.gql("{ shop { name } }")
        assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert shop.get("/orders.json").status_code == 200  # throttle faults only hit graphql.json
    cs.clear_faults()
    assert shop.gql("{ shop { name } }")["data"]["shop"]["name"] == "Demo Shop"
    with pytest.raises(ValueError, match="throttle"):
        ChannelFault("woocommerce", kind="throttle")
    with pytest.raises(ValueError, match="unknown fault kind"):
        ChannelFault("shopify", kind="explode")


def test_disconnect_and_delay_faults(cs: ChannelSandbox, woo: WooClient) -> None:
    cs.inject(ChannelFault("woocommerce", kind="disconnect"))
    with pytest.raises(requests.ConnectionError):
        woo.get("/orders")
    cs.inject(ChannelFault("woocommerce", kind="delay", delay_s=0.3))
    t0 = time.perf_counter()
    assert woo.get("/orders").status_code == 200
    assert time.perf_counter() - t0 >= 0.3


def test_a_hold_keeps_requests_in_flight_together(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    cs.freeze_clock()
    cs.configure("shopify", rest_bucket_size=2, rest_leak_rate=1.0)
    hold = cs.hold_until(3, channel="shopify", path_contains="/orders.json", timeout_s=30)
    assert shop.get("/locations.json").status_code == 200  # not matched: neither counted nor held
    assert hold.arrived == 0
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        status = shop.get("/orders.json").status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hold.reached and not hold.timed_out
    assert sorted(statuses) == [200, 429, 429]  # one call left in the bucket of two, whatever the order
    assert cs.wait_for_requests(4) and len(cs.requests) == 4


def test_a_hold_that_is_never_reached_lets_go_at_its_timeout(cs: ChannelSandbox, woo: WooClient) -> None:
    hold = cs.hold_until(2, channel="woocommerce", timeout_s=0.2)
    assert woo.get("/orders").status_code == 200  # held alone, then let go
    assert hold.done and hold.timed_out and not hold.reached
    with pytest.raises(ValueError, match="arrivals"):
        cs.hold_until(0)
    with pytest.raises(ValueError, match="unknown channel"):
        cs.hold_until(1, channel="etsy")


def test_hold_and_clock_admin_endpoints(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    base = cs.base_url
    r = requests.post(base + "/_sandbox/hold", json={"arrivals": 2, "channel": "shopify"}, timeout=5)
    assert r.status_code == 200 and r.json()["arrivals"] == 2 and r.json()["done"] is False
    assert requests.get(base + "/_sandbox/hold", timeout=5).json()[0]["channel"] == "shopify"
    assert requests.delete(base + "/_sandbox/hold", timeout=5).status_code == 200
    assert cs.holds[0].done
    assert shop.get("/orders.json").status_code == 200  # released: nothing waits
    assert requests.post(base + "/_sandbox/hold", json={"count": 2}, timeout=5).status_code == 400
    frozen = requests.post(base + "/_sandbox/clock", json={"freeze": True}, timeout=5).json()["now"]
    assert cs.clock() == frozen
    moved = requests.post(base + "/_sandbox/clock", json={"advance": 5}, timeout=5).json()["now"]
    assert moved == frozen + 5 == cs.clock()
    running = cs.freeze_clock(False)
    assert running >= moved  # runs on from where it stood, never back
    cs.reset()
    assert cs.holds == [] and cs.clock() == pytest.approx(time.time(), abs=5)


def test_request_log(cs: ChannelSandbox, shop: ShopifyClient, bc: BCClient) -> None:
    cs.clear_requests()
    shop.get("/orders.json", status="any")
    bc.req("PUT", "/v3/inventory/adjustments/absolute", {"items": [{"location_id": 1, "sku": "MUG-01", "quantity": 2}]})
    shop.gql("{ locations(first: 5) { nodes { id } } }")
    recs = cs.requests
    assert [(r.channel, r.store, r.method, r.path, r.status) for r in recs] == [
        ("shopify", SHOP, "GET", "/admin/api/2025-10/orders.json", 200),
        ("bigcommerce", BC, "PUT", "/v3/inventory/adjustments/absolute", 200),
        ("shopify", SHOP, "POST", "/admin/api/2025-10/graphql.json", 200),
    ]
    assert recs[0].query == {"status": "any"}
    assert recs[1].body["items"][0]["sku"] == "MUG-01"
    assert recs[2].operations == ("locations",)
    assert cs.stock_writes("bigcommerce", BC)[0]["via"] == "v3:adjustments/absolute"
    cs.clear_requests()
    assert cs.requests == []


def test_reset_configure_and_state_endpoint(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    shop.post("/webhooks.json", {"webhook": {"topic": "orders/create", "address": "https://h.example/x"}})
    cs.configure("bigcommerce", quota=1)
    with pytest.raises(ValueError, match="unknown bigcommerce limit"):
        cs.configure("bigcommerce", burst=1)
    state = requests.get(cs.base_url + "/_sandbox/state", timeout=5).json()
    stores = {(s["channel"], s["store"]): s for s in state["stores"]}
    assert stores[("shopify", SHOP)]["webhooks"][0]["topic"] == "orders/create"
    assert stores[("woocommerce", WOO)]["credentials"]["consumer_key"].startswith("ck_")
    assert state["limits"]["bigcommerce"]["quota"] == 1
    cs.reset()
    assert cs.webhooks("shopify", SHOP) == []
    assert cs.limits("bigcommerce")["quota"] == 150
    assert cs.credentials("bigcommerce", BC)["access_token"] == "bc_sandbox_demo_token_000000000000001"
    custom = {"woocommerce": {"tiny": {"keys": [{"consumer_key": "ck", "consumer_secret": "cs"}]}}}
    cs.reset(seed=custom)
    assert cs.orders("woocommerce", "tiny") == []
    with pytest.raises(KeyError):
        cs.orders("shopify", SHOP)


def test_cli_serve_prints_base_url_and_credentials() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.channel_sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        assert lines[0].startswith("Channel sandbox listening on http://127.0.0.1:")
        base = lines[0].split()[-1]
        assert requests.get(base + "/_sandbox/state", timeout=5).status_code == 200
        assert any("demo.myshopify.com" in line for line in lines)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
