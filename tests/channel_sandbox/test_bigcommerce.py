"""BigCommerce: auth, v2 orders (204 when empty), v3 transactions/refunds, hooks, catalog,
inventory and absolute adjustments, the per-store quota."""

from __future__ import annotations

from local.channel_sandbox import ChannelSandbox

from .conftest import BC, BCClient

RATE_HEADERS = (
    "X-Rate-Limit-Requests-Left",
    "X-Rate-Limit-Requests-Quota",
    "X-Rate-Limit-Time-Reset-Ms",
    "X-Rate-Limit-Time-Window-Ms",
)


def test_auth_errors_v2_and_v3_shapes(cs: ChannelSandbox) -> None:
    anon = BCClient(cs, token="")
    r = anon.get("/v2/orders")
    assert r.status_code == 401
    assert r.json() == [{"status": 401, "message": "No valid credentials were found in this request"}]
    r = BCClient(cs, token="wrong").get("/v3/hooks")
    assert r.status_code == 401 and r.json()["status"] == 401 and "title" in r.json()
    ro = BCClient(cs, token="bc_sandbox_readonly_token_000000000002")
    assert ro.get("/v2/orders/218").status_code == 200
    r = ro.req("PUT", "/v2/orders/218", {"staff_notes": "x"})
    assert r.status_code == 403
    assert ro.req("PUT", "/v3/inventory/adjustments/absolute", {"items": []}).status_code == 403


def test_v2_orders_filters_sort_and_204(cs: ChannelSandbox, bc: BCClient) -> None:
    r = bc.get("/v2/orders", min_date_modified="Tue, 05 Mar 2019 21:41:02 +0000", sort="date_modified:asc")
    assert r.status_code == 200
    assert [o["id"] for o in r.json()] == [218, 219]  # inclusive
    r = bc.get("/v2/orders", min_date_modified="2019-03-05T21:41:03+00:00")
    assert [o["id"] for o in r.json()] == [219]
    r = bc.get("/v2/orders", min_date_modified="2030-01-01T00:00:00Z")
    assert r.status_code == 204 and r.content == b""
    assert bc.get("/v2/orders", sort="date_modified:desc").json()[0]["id"] == 219
    assert bc.get("/v2/orders", min_date_modified="garbage").status_code == 400
    first = bc.get("/v2/orders", limit=1, page=1).json()
    second = bc.get("/v2/orders", limit=1, page=2).json()
    assert [first[0]["id"], second[0]["id"]] == [218, 219]
    assert bc.get("/v2/orders", limit=1, page=3).status_code == 204
    cs.put_order("bigcommerce", BC, {"id": 300, "status_id": 0})
    assert 300 not in [o["id"] for o in bc.get("/v2/orders").json()]  # Incomplete hidden by default
    assert [o["id"] for o in bc.get("/v2/orders", status_id=0).json()] == [300]


def test_v2_order_and_subresources(bc: BCClient) -> None:
    order = bc.get("/v2/orders/218").json()
    assert order["date_modified"] == "Tue, 05 Mar 2019 21:41:02 +0000"
    assert order["products"]["url"].endswith("/stores/demostore/v2/orders/218/products")
    products = bc.get("/v2/orders/218/products").json()
    assert [p["sku"] for p in products] == ["TSHIRT-S", "TSHIRT-M", "MUG-01"]
    assert bc.get(order["shipping_addresses"]["resource"].replace("/orders", "/v2/orders")).json()[0]["id"] == 51
    assert bc.get("/v2/orders/218/coupons").status_code == 204
    r = bc.get("/v2/orders/1")
    assert r.status_code == 404 and r.json()[0]["status"] == 404


def test_v3_transactions_and_refunds(bc: BCClient) -> None:
    txns = bc.get("/v3/orders/218/transactions").json()
    assert [t["event"] for t in txns["data"]] == ["authorization", "capture"]
    assert txns["meta"]["pagination"]["total"] == 2
    refunds = bc.get("/v3/orders/218/payment_actions/refunds").json()
    assert refunds["data"][0]["id"] == 12
    assert bc.get("/v3/orders/payment_actions/refunds/12").json()["data"]["order_id"] == 218
    assert bc.get("/v3/orders/219/transactions").json()["data"] == []
    assert bc.get("/v3/orders/1/transactions").status_code == 404


def test_v2_order_writeback(cs: ChannelSandbox, bc: BCClient) -> None:
    r = bc.req("PUT", "/v2/orders/219", {"staff_notes": "Intacct invoice INV-7", "status_id": 11})
    assert r.status_code == 200
    body = r.json()
    assert body["staff_notes"] == "Intacct invoice INV-7" and body["status"] == "Awaiting Fulfillment"
    assert body["date_modified"] != "Wed, 06 Mar 2019 10:05:00 +0000"
    assert bc.req("PUT", "/v2/orders/219", {"status_id": 99}).status_code == 400
    assert bc.req("PUT", "/v2/orders/219", {"total_inc_tax": "1.00"}).status_code == 400
    assert cs.order("bigcommerce", BC, 219)["staff_notes"] == "Intacct invoice INV-7"


def test_hooks(cs: ChannelSandbox, bc: BCClient) -> None:
    body = {
        "scope": "store/order/created",
        "destination": "https://hooks.example/bc",
        "is_active": True,
        "headers": {"X-Webhook-Token": "t"},
    }
    r = bc.req("POST", "/v3/hooks", body)
    assert r.status_code == 200
    hook = r.json()["data"]
    assert hook["headers"] == {"X-Webhook-Token": "t"} and hook["store_hash"] == BC
    assert bc.req("POST", "/v3/hooks", body).status_code == 422
    r = bc.req("POST", "/v3/hooks", {**body, "destination": "http://hooks.example/bc"})
    assert r.status_code == 422 and "destination" in r.json()["errors"]
    assert bc.req("POST", "/v3/hooks", {**body, "scope": "store/order/paid"}).status_code == 422
    listed = bc.get("/v3/hooks").json()
    assert [h["id"] for h in listed["data"]] == [hook["id"]]
    assert listed["meta"]["pagination"]["total"] == 1
    assert bc.req("DELETE", f"/v3/hooks/{hook['id']}").json()["data"]["id"] == hook["id"]
    assert bc.get(f"/v3/hooks/{hook['id']}").status_code == 404
    assert cs.webhooks("bigcommerce", BC) == []


def test_catalog_and_inventory_reads(bc: BCClient) -> None:
    v = bc.get("/v3/catalog/variants", sku="TSHIRT-M").json()["data"]
    assert [(x["id"], x["product_id"], x["inventory_level"]) for x in v] == [(202, 111, 26)]
    products = bc.get("/v3/catalog/products", include="variants").json()["data"]
    assert {p["id"]: p["inventory_tracking"] for p in products} == {111: "variant", 112: "product"}
    locs = bc.get("/v3/inventory/locations").json()["data"]
    assert [(loc["id"], loc["code"]) for loc in locs] == [(1, "BC-LOCATION-1"), (2, "WEST")]
    items = bc.get("/v3/inventory/items", **{"sku:in": "TSHIRT-S,MUG-01"}).json()["data"]
    got = {
        i["identity"]["sku"]: {loc["location_id"]: loc["available_to_sell"] for loc in i["locations"]} for i in items
    }
    assert got == {"TSHIRT-S": {1: 20, 2: 5}, "MUG-01": {1: 40, 2: 0}}
    at = bc.get("/v3/inventory/locations/2/items", **{"sku:in": "TSHIRT-M"}).json()["data"]
    assert at[0]["available_to_sell"] == 4


def test_absolute_adjustments(cs: ChannelSandbox, bc: BCClient) -> None:
    body = {
        "reason": "ERP stock sync",
        "items": [
            {"location_id": 1, "sku": "TSHIRT-S", "quantity": 17},
            {"location_id": 2, "variant_id": 202, "quantity": 3},
            {"location_id": 1, "product_id": 112, "quantity": 9},
        ],
    }
    r = bc.req("PUT", "/v3/inventory/adjustments/absolute", body)
    assert r.status_code == 200 and r.json()["transaction_id"]
    inv = cs.inventory("bigcommerce", BC)
    assert (inv[("TSHIRT-S", 1)], inv[("TSHIRT-M", 2)], inv[("MUG-01", 1)]) == (17, 3, 9)
    unknown = bc.req(
        "PUT",
        "/v3/inventory/adjustments/absolute",
        {
            "items": [
                {"location_id": 1, "sku": "TSHIRT-S", "quantity": 1},
                {"location_id": 1, "sku": "NOPE", "quantity": 1},
            ]
        },
    )
    assert unknown.status_code == 422 and "NOPE" in unknown.json()["title"]
    assert cs.inventory("bigcommerce", BC)[("TSHIRT-S", 1)] == 17  # all or nothing
    by_product_variant = bc.req(
        "PUT", "/v3/inventory/adjustments/absolute", {"items": [{"location_id": 1, "variant_id": 203, "quantity": 1}]}
    )
    assert by_product_variant.status_code == 422
    assert by_product_variant.json()["title"] == (
        "[Item with variant_id 203 is tracked by product, please update stock by product id]"
    )
    two_ids = bc.req(
        "PUT",
        "/v3/inventory/adjustments/absolute",
        {"items": [{"location_id": 1, "sku": "MUG-01", "variant_id": 203, "quantity": 1}]},
    )
    assert two_ids.status_code == 422
    assert (
        bc.req(
            "PUT", "/v3/inventory/adjustments/absolute", {"items": [{"location_id": 9, "sku": "MUG-01", "quantity": 1}]}
        ).status_code
        == 422
    )


def test_absolute_adjustment_limit_2000(cs: ChannelSandbox, bc: BCClient) -> None:
    skus = [f"BC-{i:04d}" for i in range(2001)]
    cs.add_products("bigcommerce", BC, skus, quantity=0, locations=[1])
    items = [{"location_id": 1, "sku": s, "quantity": 5} for s in skus]
    ok = bc.req("PUT", "/v3/inventory/adjustments/absolute", {"items": items[:2000]})
    assert ok.status_code == 200
    over = bc.req("PUT", "/v3/inventory/adjustments/absolute", {"items": items})
    assert over.status_code == 422 and "2000" in over.json()["errors"]["items"]
    inv = cs.inventory("bigcommerce", BC)
    assert inv[("BC-1999", 1)] == 5 and inv[("BC-2000", 1)] == 0


def test_quota_headers_and_429(cs: ChannelSandbox, bc: BCClient) -> None:
    cs.freeze_clock()  # the window rolls only when the test moves the clock
    cs.configure("bigcommerce", quota=4, window_ms=400)
    r = bc.get("/v2/orders/218")
    assert all(h in r.headers for h in RATE_HEADERS)
    assert r.headers["X-Rate-Limit-Requests-Quota"] == "4" and r.headers["X-Rate-Limit-Requests-Left"] == "3"
    assert r.headers["X-Rate-Limit-Time-Window-Ms"] == "400"
    for left in ("2", "1", "0"):
        assert bc.get("/v2/orders/218").headers["X-Rate-Limit-Requests-Left"] == left
    limited = bc.get("/v2/orders/218")
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Requests-Left"] == "0"
    reset_ms = int(limited.headers["X-Rate-Limit-Time-Reset-Ms"])
    assert reset_ms == 400
    cs.advance_clock((reset_ms - 1) / 1000)
    assert bc.get("/v2/orders/218").status_code == 429
    cs.advance_clock(0.001)  # waiting exactly the advertised reset is enough
    assert bc.get("/v2/orders/218").status_code == 200
