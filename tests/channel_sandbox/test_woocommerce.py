"""WooCommerce REST v3: auth, order listing and dates, refunds, notes, writeback, webhooks,
products/variations and the batch limit."""

from __future__ import annotations

import requests

from local.channel_sandbox import ChannelSandbox

from .conftest import WOO, WooClient


def test_auth_errors(cs: ChannelSandbox) -> None:
    r = WooClient(cs, auth=("", "")).get("/orders")
    assert r.status_code == 401
    assert r.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    r = WooClient(cs, auth=("ck_nope", "cs_nope")).get("/orders")
    assert (r.status_code, r.json()["message"]) == (401, "Consumer key is invalid.")
    cred = cs.credentials("woocommerce", WOO)
    r = WooClient(cs, auth=(cred["consumer_key"], "cs_wrong")).get("/orders")
    assert (r.status_code, r.json()["code"]) == (401, "woocommerce_rest_authentication_error")
    assert r.json()["message"] == "Consumer secret is invalid."
    # query-string credentials work too
    url = cs.api_base_url("woocommerce", WOO) + "/wp-json/wc/v3/orders"
    r = requests.get(
        url, params={"consumer_key": cred["consumer_key"], "consumer_secret": cred["consumer_secret"]}, timeout=5
    )
    assert r.status_code == 200
    ro = WooClient(cs, auth=("ck_sandbox_readonly_000000000000000000002", "cs_sandbox_readonly_000000000000000000002"))
    assert ro.get("/orders").status_code == 200
    r = ro.req("PUT", "/orders/727", {"status": "completed"})
    assert r.status_code == 401 and "write permissions" in r.json()["message"]
    r = WooClient(cs).get("/nope")
    assert r.status_code == 404 and r.json()["code"] == "rest_no_route"


def test_order_listing_pages_and_headers(woo: WooClient) -> None:
    r = woo.get("/orders", per_page=3, orderby="modified", order="asc")
    assert r.status_code == 200
    assert r.headers["X-WP-Total"] == "4" and r.headers["X-WP-TotalPages"] == "2"
    assert [o["id"] for o in r.json()] == [727, 728, 897]
    assert 'rel="next"' in r.headers["Link"]
    r2 = woo.get("/orders", per_page=3, page=2, orderby="modified", order="asc")
    assert [o["id"] for o in r2.json()] == [1204]
    assert 'rel="prev"' in r2.headers["Link"]
    assert woo.get("/orders", per_page=3, page=3).json() == []
    default = [o["id"] for o in woo.get("/orders").json()]
    assert default == [1204, 897, 728, 727]  # orderby=date, order=desc


def test_per_page_over_100_is_400(woo: WooClient) -> None:
    r = woo.get("/orders", per_page=101)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["params"]["per_page"] == "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert woo.get("/orders", orderby="nonsense").status_code == 400


def test_modified_after_is_exclusive_and_honours_dates_are_gmt(woo: WooClient) -> None:
    # 897: date_modified_gmt 2021-09-06T18:05:12 (site is UTC-3, so local 15:05:12)
    ids = [o["id"] for o in woo.get("/orders", modified_after="2021-09-06T18:05:12", dates_are_gmt="true").json()]
    assert 897 not in ids and 1204 in ids
    ids = [o["id"] for o in woo.get("/orders", modified_after="2021-09-06T18:05:11", dates_are_gmt="true").json()]
    assert 897 in ids
    # without dates_are_gmt the value is site-local time: 18:05:11 local == 21:05:11 GMT, after 897
    ids = [o["id"] for o in woo.get("/orders", modified_after="2021-09-06T18:05:11").json()]
    assert 897 not in ids
    assert woo.get("/orders", modified_after="not a date").status_code == 400


def test_status_filter_and_single_order(woo: WooClient) -> None:
    assert [o["id"] for o in woo.get("/orders", status="pending").json()] == [728]
    assert {o["id"] for o in woo.get("/orders", status="processing,completed").json()} == {727, 897, 1204}
    r = woo.get("/orders/897")
    assert r.status_code == 200 and r.json()["line_items"][0]["sku"] == "MUG-01"
    r = woo.get("/orders/5")
    assert r.status_code == 404 and r.json()["code"] == "woocommerce_rest_shop_order_invalid_id"


def test_refunds(woo: WooClient, cs: ChannelSandbox) -> None:
    refunds = woo.get("/orders/1204/refunds").json()
    assert refunds[0]["id"] == 1210 and refunds[0]["amount"] == "10.00"
    assert woo.get("/orders/897/refunds").json() == []
    cs.add_refund("woocommerce", WOO, 897, {"amount": "5.00", "reason": "dent"})
    order = woo.get("/orders/897").json()
    assert order["refunds"][-1]["total"] == "-5.00"


def test_order_writeback_meta_note_set_paid(cs: ChannelSandbox, woo: WooClient) -> None:
    before = woo.get("/orders/728").json()
    r = woo.req(
        "PUT",
        "/orders/728",
        {"meta_data": [{"key": "_intacct_invoice", "value": "INV-1"}], "set_paid": True},
    )
    assert r.status_code == 200
    after = r.json()
    assert {"key": "_intacct_invoice", "value": "INV-1"}.items() <= after["meta_data"][-1].items()
    assert after["status"] == "processing" and after["date_paid_gmt"]
    assert after["date_modified_gmt"] > before["date_modified_gmt"]
    r = woo.req("PUT", "/orders/728", {"meta_data": [{"key": "_intacct_invoice", "value": "INV-2"}]})
    assert [m["value"] for m in r.json()["meta_data"] if m["key"] == "_intacct_invoice"] == ["INV-2"]
    note = woo.req("POST", "/orders/728/notes", {"note": "Invoiced in Intacct as INV-2"})
    assert note.status_code == 201 and note.json()["customer_note"] is False
    assert woo.get("/orders/728/notes").json()[0]["note"] == "Invoiced in Intacct as INV-2"
    assert woo.req("POST", "/orders/728/notes", {}).status_code == 400
    assert woo.req("PUT", "/orders/728", {"status": "shipped"}).status_code == 400


def test_webhooks(cs: ChannelSandbox, woo: WooClient) -> None:
    body = {
        "name": "Intacct sync",
        "topic": "order.updated",
        "delivery_url": "https://hooks.example/woo",
        "secret": "s3cret",
        "status": "active",
    }
    r = woo.req("POST", "/webhooks", body)
    assert r.status_code == 201
    hook = r.json()
    assert (hook["resource"], hook["event"], hook["status"]) == ("order", "updated", "active")
    assert "secret" not in hook
    assert cs.webhooks("woocommerce", WOO)[0]["secret"] == "s3cret"
    listed = woo.get("/webhooks")
    assert listed.headers["X-WP-Total"] == "1" and listed.json()[0]["id"] == hook["id"]
    bad = woo.req("POST", "/webhooks", {**body, "topic": "order.paid"})
    assert bad.status_code == 400 and bad.json()["code"] == "woocommerce_rest_webhook_invalid_topic"
    r = woo.req("DELETE", f"/webhooks/{hook['id']}")
    assert r.status_code == 501 and r.json()["code"] == "woocommerce_rest_trash_not_supported"
    r = woo.req("DELETE", f"/webhooks/{hook['id']}", force="true")
    assert r.status_code == 200 and r.json()["id"] == hook["id"]
    assert woo.get(f"/webhooks/{hook['id']}").status_code == 404


def test_products_by_sku_include_variations(woo: WooClient) -> None:
    r = woo.get("/products", sku="TSHIRT-S,MUG-01")
    items = {p["sku"]: p for p in r.json()}
    assert items["TSHIRT-S"]["type"] == "variation" and items["TSHIRT-S"]["parent_id"] == 1001
    assert items["MUG-01"]["type"] == "simple" and items["MUG-01"]["stock_quantity"] == 40
    crawl = woo.get("/products", per_page=100).json()
    assert {p["id"]: p["type"] for p in crawl} == {1001: "variable", 1004: "simple"}
    variations = woo.get("/products/1001/variations").json()
    assert [(v["id"], v["sku"], v["stock_quantity"]) for v in variations] == [
        (1002, "TSHIRT-S", 35),
        (1003, "TSHIRT-M", 35),
    ]


def test_batch_limit_is_100_then_413(cs: ChannelSandbox, woo: WooClient) -> None:
    ids = cs.add_products("woocommerce", WOO, [f"W-{i:03d}" for i in range(101)], quantity=1)
    ok = woo.req(
        "POST", "/products/batch", {"update": [{"id": i, "stock_quantity": 7, "manage_stock": True} for i in ids[:100]]}
    )
    assert ok.status_code == 200 and len(ok.json()["update"]) == 100
    assert all(p["stock_quantity"] == 7 for p in ok.json()["update"])
    too_many = woo.req("POST", "/products/batch", {"update": [{"id": i, "stock_quantity": 8} for i in ids]})
    assert too_many.status_code == 413
    assert too_many.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 100 items for this request.",
        "data": {"status": 413},
    }
    assert cs.inventory("woocommerce", WOO)[("W-100", None)] == 1
    cs.configure("woocommerce", batch_limit=150)
    assert (
        woo.req("POST", "/products/batch", {"update": [{"id": i, "stock_quantity": 8} for i in ids]}).status_code == 200
    )


def test_batch_item_errors_and_variation_batch(cs: ChannelSandbox, woo: WooClient) -> None:
    r = woo.req(
        "POST",
        "/products/batch",
        {
            "update": [
                {"id": 1004, "stock_quantity": 3},
                {"id": 1002, "stock_quantity": 3},
                {"id": 999999, "stock_quantity": 1},
            ]
        },
    )
    upd = r.json()["update"]
    assert upd[0]["stock_quantity"] == 3
    assert upd[1]["error"]["code"] == "woocommerce_rest_product_invalid_id"  # a variation id on /products
    assert upd[2]["error"]["code"] == "woocommerce_rest_product_invalid_id"
    r = woo.req(
        "POST",
        "/products/1001/variations/batch",
        {"update": [{"id": 1002, "stock_quantity": 11}, {"id": 1004, "stock_quantity": 1}]},
    )
    upd = r.json()["update"]
    assert upd[0]["stock_quantity"] == 11 and "error" in upd[1]
    inv = cs.inventory("woocommerce", WOO)
    assert inv[("TSHIRT-S", None)] == 11 and inv[("MUG-01", None)] == 3
    # stock_quantity is ignored unless the product manages stock
    woo.req("PUT", "/products/1004", {"manage_stock": False})
    woo.req("PUT", "/products/1004", {"stock_quantity": 99})
    assert cs.inventory("woocommerce", WOO)[("MUG-01", None)] == 3
    assert woo.req("PUT", "/products/1004", {"manage_stock": True, "stock_quantity": 99}).json()["stock_quantity"] == 99
