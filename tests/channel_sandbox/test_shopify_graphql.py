"""Shopify Admin GraphQL: cost and throttling, SKU lookup, inventorySetQuantities, webhooks,
order writeback, errors."""

from __future__ import annotations

from typing import Any

from local.channel_sandbox import ChannelSandbox

from .conftest import SHOP, ShopifyClient

EAST, WEST = "gid://shopify/Location/70000000001", "gid://shopify/Location/70000000002"
ITEM_S, ITEM_M, ITEM_MUG = (f"gid://shopify/InventoryItem/4600000000000{i}" for i in (1, 2, 3))

SET = """mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { reason referenceDocumentUri changes { name delta quantityAfterChange } }
    userErrors { code field message }
  }
}"""

VARIANTS = """query($q: String, $after: String) {
  productVariants(first: 2, query: $q, after: $after) {
    nodes { id sku inventoryItem { id tracked } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _set_input(rows: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "available",
        "reason": "correction",
        "referenceDocumentUri": "gid://intacct-sync/StockSync/1",
        "ignoreCompareQuantity": True,
        "quantities": rows,
        **extra,
    }


def test_every_response_carries_cost(shop: ShopifyClient) -> None:
    body = shop.gql("{ locations(first: 10) { nodes { id name isActive } } }")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 12  # 2 + 10 x 1
    assert cost["actualQueryCost"] == 4  # 2 + 2 locations
    ts = cost["throttleStatus"]
    assert ts["maximumAvailable"] == 2000.0 and ts["restoreRate"] == 100.0
    assert ts["currentlyAvailable"] == 2000 - 4
    assert [n["name"] for n in body["data"]["locations"]["nodes"]] == ["East Warehouse", "West Warehouse"]


def test_throttled_then_recovers(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    cs.freeze_clock()  # points restore only when the test moves the clock
    cs.configure("shopify", graphql_bucket_size=60, graphql_restore_rate=200.0)
    q = "{ productVariants(first: 20) { nodes { id sku } } }"  # requested 22
    first = shop.gql(q)
    assert "errors" not in first
    shop.gql(q)
    shop.gql(q)  # the bucket refunds the unused part; keep going until it is short
    seen_throttle = None
    for _ in range(10):
        body = shop.gql(q.replace("first: 20", "first: 55"))  # requested 57
        if "errors" in body:
            seen_throttle = body
            break
    assert seen_throttle is not None
    assert seen_throttle["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert seen_throttle["errors"][0]["message"] == "Throttled"
    status = seen_throttle["extensions"]["cost"]["throttleStatus"]
    assert status["currentlyAvailable"] < 57 and status["restoreRate"] == 200.0
    wait = (57 - status["currentlyAvailable"]) / 200.0
    cs.advance_clock(wait / 2)
    assert shop.gql(q.replace("first: 20", "first: 55"))["errors"][0]["extensions"]["code"] == "THROTTLED"
    cs.advance_clock(wait / 2 + 0.001)
    again = shop.gql(q.replace("first: 20", "first: 55"))
    assert "errors" not in again, again


def test_max_cost_and_page_size(shop: ShopifyClient) -> None:
    q = "{ productVariants(first: 250) { nodes { id inventoryItem { id inventoryLevels(first: 5) { nodes { id } } } } } }"
    body = shop.gql(q)
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert "data" not in body
    body = shop.gql("{ productVariants(first: 251) { nodes { id } } }")
    assert "250" in body["errors"][0]["message"]
    body = shop.gql("{ productVariants { nodes { id } } }")
    assert body["errors"][0]["message"] == "you must provide one of first or last"


def test_sku_lookup_with_or_and_paging(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    body = shop.gql(VARIANTS, {"q": "sku:TSHIRT-S OR sku:MUG-01 OR sku:NOPE"})
    nodes = body["data"]["productVariants"]["nodes"]
    assert [n["sku"] for n in nodes] == ["TSHIRT-S", "MUG-01"]
    assert nodes[0]["inventoryItem"]["id"] == ITEM_S
    cs.add_products("shopify", SHOP, [f"DUP-{i}" for i in range(3)] + ["TSHIRT-S"])
    dup = shop.gql(VARIANTS, {"q": "sku:TSHIRT-S"})["data"]["productVariants"]["nodes"]
    assert len(dup) == 2  # Shopify does not enforce unique SKUs
    skus: list[str] = []
    after = None
    while True:
        page = shop.gql(VARIANTS, {"after": after})["data"]["productVariants"]
        skus += [n["sku"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(skus) == 7 and len(set(skus)) == 6


def test_inventory_levels_through_items(shop: ShopifyClient) -> None:
    q = """query($id: ID!) { inventoryItem(id: $id) { sku
        inventoryLevels(first: 5) { nodes { location { id } quantities(names: ["available", "on_hand"]) { name quantity } } } } }"""
    levels = shop.gql(q, {"id": ITEM_S})["data"]["inventoryItem"]["inventoryLevels"]["nodes"]
    assert [(lv["location"]["id"], lv["quantities"][0]["quantity"]) for lv in levels] == [(EAST, 25), (WEST, 10)]


def test_inventory_set_quantities_applies_and_reports_changes(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    rows = [
        {"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 7},
        {"inventoryItemId": ITEM_M, "locationId": WEST, "quantity": 5},  # unchanged
    ]
    body = shop.gql(SET, {"input": _set_input(rows), "key": "k-1"})
    payload = body["data"]["inventorySetQuantities"]
    assert payload["userErrors"] == []
    changes = payload["inventoryAdjustmentGroup"]["changes"]
    assert {(c["name"], c["delta"], c["quantityAfterChange"]) for c in changes} == {
        ("available", -18, 7),
        ("on_hand", -18, 7),
    }
    inv = cs.inventory("shopify", SHOP)
    assert inv[("TSHIRT-S", 70000000001)] == 7 and inv[("TSHIRT-M", 70000000002)] == 5
    assert body["extensions"]["cost"]["requestedQueryCost"] == 10


def test_inventory_set_quantities_batch_limit(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    cs.add_products("shopify", SHOP, [f"BULK-{i:04d}" for i in range(251)], quantity=1, locations=[70000000001])
    ids = shop.gql(
        '{ productVariants(first: 250, query: "sku:BULK-*") { nodes { inventoryItem { id } } pageInfo { endCursor } } }'
    )["data"]["productVariants"]
    items = [n["inventoryItem"]["id"] for n in ids["nodes"]]
    last = shop.gql(
        'query($a: String) { productVariants(first: 5, after: $a, query: "sku:BULK-*") { nodes { inventoryItem { id } } } }',
        {"a": ids["pageInfo"]["endCursor"]},
    )["data"]["productVariants"]["nodes"]
    items += [n["inventoryItem"]["id"] for n in last]
    assert len(items) == 251
    rows = [{"inventoryItemId": i, "locationId": EAST, "quantity": 9} for i in items]
    ok = shop.gql(SET, {"input": _set_input(rows[:250]), "key": "b-250"})
    assert ok["data"]["inventorySetQuantities"]["userErrors"] == []
    too_many = shop.gql(SET, {"input": _set_input(rows), "key": "b-251"})
    err = too_many["errors"][0]
    assert err["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"
    assert "251" in err["message"] and "250" in err["message"]
    assert cs.inventory("shopify", SHOP)[("BULK-0250", 70000000001)] == 1  # nothing applied


def test_compare_quantity_and_user_errors_are_atomic(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    stale = {"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 1, "compareQuantity": 99}
    good = {"inventoryItemId": ITEM_M, "locationId": EAST, "quantity": 1, "compareQuantity": 30}
    inp = _set_input([good, stale])
    del inp["ignoreCompareQuantity"]
    body = shop.gql(SET, {"input": inp, "key": "c-1"})["data"]["inventorySetQuantities"]
    assert body["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in body["userErrors"]] == ["COMPARE_QUANTITY_STALE"]
    assert body["userErrors"][0]["field"] == ["input", "quantities", "1", "compareQuantity"]
    assert cs.inventory("shopify", SHOP)[("TSHIRT-M", 70000000001)] == 30
    no_compare = _set_input([{"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 1}])
    del no_compare["ignoreCompareQuantity"]
    body = shop.gql(SET, {"input": no_compare, "key": "c-2"})["data"]["inventorySetQuantities"]
    assert body["userErrors"][0]["code"] == "COMPARE_QUANTITY_REQUIRED"
    rows = [
        {"inventoryItemId": ITEM_MUG, "locationId": WEST, "quantity": 1},
        {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": EAST, "quantity": 1},
    ]
    body = shop.gql(SET, {"input": _set_input(rows, reason="because"), "key": "c-3"})["data"]["inventorySetQuantities"]
    assert {e["code"] for e in body["userErrors"]} == {
        "INVALID_REASON",
        "ITEM_NOT_STOCKED_AT_LOCATION",
        "INVALID_INVENTORY_ITEM",
    }


def test_idempotency_key_replays_and_rejects_mismatch(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    rows = [{"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 3}]
    first = shop.gql(SET, {"input": _set_input(rows), "key": "same"})
    cs.set_inventory("shopify", SHOP, "TSHIRT-S", 50, 70000000001)  # changed meanwhile
    replay = shop.gql(SET, {"input": _set_input(rows), "key": "same"})
    assert replay["data"] == first["data"]
    assert cs.inventory("shopify", SHOP)[("TSHIRT-S", 70000000001)] == 50  # not applied twice
    rows[0]["quantity"] = 4
    mismatch = shop.gql(SET, {"input": _set_input(rows), "key": "same"})
    assert mismatch["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"


def test_idempotent_directive_mandatory_from_2026_04(cs: ChannelSandbox) -> None:
    no_key = SET.replace(", $key: String!", "").replace(" @idempotent(key: $key)", "")
    rows = [{"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 3}]
    old = ShopifyClient(cs, version="2026-01").gql(no_key, {"input": _set_input(rows)})
    assert old["data"]["inventorySetQuantities"]["userErrors"] == []
    new = ShopifyClient(cs, version="2026-04").gql(no_key, {"input": _set_input(rows)})
    assert new["data"]["inventorySetQuantities"] is None
    assert new["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_REQUIRED"


def test_webhook_subscriptions(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    create = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
      webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
        webhookSubscription { id topic uri endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } }
        userErrors { field message } } }"""
    sub = {"callbackUrl": "https://hooks.example/gql", "format": "JSON"}
    made = shop.gql(create, {"topic": "ORDER_TRANSACTIONS_CREATE", "sub": sub})["data"]["webhookSubscriptionCreate"]
    assert made["userErrors"] == []
    assert made["webhookSubscription"]["endpoint"]["callbackUrl"] == "https://hooks.example/gql"
    assert cs.webhooks("shopify", SHOP)[0]["topic"] == "order_transactions/create"
    dup = shop.gql(create, {"topic": "ORDER_TRANSACTIONS_CREATE", "sub": sub})["data"]["webhookSubscriptionCreate"]
    assert dup["webhookSubscription"] is None
    assert dup["userErrors"][0]["message"] == "Address for this topic has already been taken"
    # the REST endpoint sees the same subscriptions
    assert len(shop.get("/webhooks.json").json()["webhooks"]) == 1
    bad = shop.gql(create, {"topic": "ORDERS_EXPLODE", "sub": sub})
    assert bad["data"]["webhookSubscriptionCreate"] is None and bad["errors"]
    listed = shop.gql(
        "{ webhookSubscriptions(first: 10, topics: [ORDER_TRANSACTIONS_CREATE]) { nodes { id topic } } }"
    )["data"]["webhookSubscriptions"]["nodes"]
    assert [n["id"] for n in listed] == [made["webhookSubscription"]["id"]]
    delete = "mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { message } } }"
    gone = shop.gql(delete, {"id": made["webhookSubscription"]["id"]})["data"]["webhookSubscriptionDelete"]
    assert gone["deletedWebhookSubscriptionId"] == made["webhookSubscription"]["id"]
    assert cs.webhooks("shopify", SHOP) == []


def test_order_writeback_tags_metafields_mark_paid(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    oid = "gid://shopify/Order/5820094660683"
    before = cs.order("shopify", SHOP, 5820094660683)["updated_at"]
    tags = shop.gql(
        'mutation($id: ID!) { tagsAdd(id: $id, tags: ["INV-000123"]) { node { id } userErrors { message } } }',
        {"id": oid},
    )
    assert tags["data"]["tagsAdd"]["userErrors"] == []
    mf = shop.gql(
        """mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) {
            metafields { key value } userErrors { code field message } } }""",
        {
            "m": [
                {
                    "ownerId": oid,
                    "namespace": "intacct",
                    "key": "invoice",
                    "type": "single_line_text_field",
                    "value": "INV-000123",
                }
            ]
        },
    )
    assert mf["data"]["metafieldsSet"]["metafields"] == [{"key": "invoice", "value": "INV-000123"}]
    paid = shop.gql(
        """mutation($id: ID!) { orderMarkAsPaid(input: {id: $id}) {
            order { displayFinancialStatus tags metafield(namespace: "intacct", key: "invoice") { value } }
            userErrors { field message } } }""",
        {"id": oid},
    )["data"]["orderMarkAsPaid"]
    assert paid["userErrors"] == []
    assert paid["order"] == {
        "displayFinancialStatus": "PAID",
        "tags": ["INV-000123"],
        "metafield": {"value": "INV-000123"},
    }
    order = cs.order("shopify", SHOP, 5820094660683)
    assert order["financial_status"] == "paid" and order["updated_at"] >= before
    assert any(t["kind"] == "sale" and t["gateway"] == "manual" for t in order["transactions"])
    again = shop.gql("mutation($id: ID!) { orderMarkAsPaid(input: {id: $id}) { userErrors { message } } }", {"id": oid})
    assert again["data"]["orderMarkAsPaid"]["userErrors"][0]["message"] == "Order cannot be marked as paid."


def test_access_denied_parse_and_field_errors(cs: ChannelSandbox) -> None:
    ro = ShopifyClient(cs, token="shpat_sandbox_readonly_000000000002")
    rows = [{"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 3}]
    body = ro.gql(SET, {"input": _set_input(rows), "key": "x"})
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert body["data"] == {"inventorySetQuantities": None}
    shop = ShopifyClient(cs)
    assert shop.gql("{ shop { name ")["errors"][0]["message"].startswith("Parse error")
    bad = shop.gql("{ productVariants(first: 1) { nodes { id skuu } } }")["errors"][0]
    assert bad["extensions"] == {"code": "undefinedField", "typeName": "ProductVariant", "fieldName": "skuu"}
    missing = shop.gql(SET, {"key": "x"})["errors"][0]
    assert missing["extensions"]["code"] == "INVALID_VARIABLE"
    r = ShopifyClient(cs, token="nope").post("/graphql.json", {"query": "{ shop { name } }"})
    assert r.status_code == 401
