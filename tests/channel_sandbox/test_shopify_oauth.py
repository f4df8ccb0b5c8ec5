"""Shopify's client credentials grant (`POST /admin/oauth/access_token`) in the sandbox: form or
JSON bodies, the seeded Dev Dashboard apps, tokens that expire on the sandbox clock, legacy
static tokens still working; and inventorySetQuantities' input rules per API version."""

from __future__ import annotations

from typing import Any

import requests

from local.channel_sandbox import ChannelSandbox

from .conftest import SHOP, ShopifyClient

INVALID = "[API] Invalid API key or access token (unrecognized login or wrong password)"
EAST = "gid://shopify/Location/70000000001"
ITEM_S = "gid://shopify/InventoryItem/46000000000001"


def _app(cs: ChannelSandbox, index: int = 0) -> dict[str, Any]:
    app: dict[str, Any] = cs.credentials("shopify", SHOP)["apps"][index]
    return app


def _grant(cs: ChannelSandbox, *, as_json: bool = False, **params: str) -> requests.Response:
    url = cs.api_base_url("shopify", SHOP) + "/admin/oauth/access_token"
    if as_json:
        return requests.post(url, json=params, timeout=10)
    return requests.post(url, data=params, timeout=10)


def _token(cs: ChannelSandbox, index: int = 0, *, as_json: bool = False) -> str:
    app = _app(cs, index)
    r = _grant(
        cs,
        as_json=as_json,
        grant_type="client_credentials",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def test_form_and_json_bodies_both_get_a_24_hour_token(cs: ChannelSandbox) -> None:
    app = _app(cs)
    for as_json in (False, True):
        r = _grant(
            cs,
            as_json=as_json,
            grant_type="client_credentials",
            client_id=app["client_id"],
            client_secret=app["client_secret"],
        )
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"access_token", "scope", "expires_in"}
        assert body["expires_in"] == 86399
        assert body["scope"].split(",") == app["scopes"]
        assert "X-Shopify-Shop-Api-Call-Limit" not in r.headers
    records = [r for r in cs.requests if r.path == "/admin/oauth/access_token"]
    assert [r.notes["encoding"] for r in records] == ["form", "json"]
    # The request log never keeps the client secret.
    assert all(r.notes["params"]["client_secret"] == "***" for r in records)
    assert records[1].body["client_secret"] == "***"
    assert app["client_secret"] not in repr(cs.requests)


def test_an_issued_token_calls_the_api_with_the_app_s_scopes(cs: ChannelSandbox) -> None:
    shop = ShopifyClient(cs, token=_token(cs), version="2026-10")
    assert shop.get("/orders.json", status="any").status_code == 200
    assert shop.gql("{ locations(first: 5) { nodes { id } } }")["data"]["locations"]["nodes"]
    readonly = ShopifyClient(cs, token=_token(cs, 1), version="2026-10")
    assert readonly.get("/orders.json").status_code == 200
    denied = readonly.gql("{ locations(first: 5) { nodes { id } } }")
    assert denied["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"


def test_tokens_expire_on_the_sandbox_clock(cs: ChannelSandbox) -> None:
    cs.freeze_clock()  # only advance_clock moves it: a slow machine cannot add the missing second
    shop = ShopifyClient(cs, token=_token(cs))
    assert shop.get("/orders.json").status_code == 200
    cs.advance_clock(86398)
    assert shop.get("/orders.json").status_code == 200
    cs.advance_clock(2)
    r = shop.get("/orders.json")
    assert r.status_code == 401
    assert r.json() == {"errors": INVALID}
    assert cs.issued_tokens(SHOP)[0]["expired"] is True
    # A new token works; the legacy static token never expires.
    assert ShopifyClient(cs, token=_token(cs)).get("/orders.json").status_code == 200
    assert ShopifyClient(cs).get("/orders.json").status_code == 200


def test_tests_can_expire_tokens_early_and_shorten_their_life(cs: ChannelSandbox) -> None:
    shop = ShopifyClient(cs, token=_token(cs))
    assert cs.expire_tokens("shopify", SHOP) == 1
    assert shop.get("/orders.json").status_code == 401
    cs.configure("shopify", token_expires_in=60)
    r = _grant(
        cs, grant_type="client_credentials", client_id=_app(cs)["client_id"], client_secret=_app(cs)["client_secret"]
    )
    assert r.json()["expires_in"] == 60
    # The same over the admin HTTP endpoints.
    again = ShopifyClient(cs, token=r.json()["access_token"])
    assert requests.post(cs.base_url + "/_sandbox/tokens/expire", json={"store": SHOP}, timeout=5).json() == {
        "expired": 1
    }
    assert again.get("/orders.json").status_code == 401
    now = requests.post(cs.base_url + "/_sandbox/clock", json={"advance": 10}, timeout=5).json()["now"]
    assert now >= cs.clock() - 1


def test_unknown_and_expired_tokens_get_the_same_401(cs: ChannelSandbox) -> None:
    r = ShopifyClient(cs, token="shpat_never_issued_0000000000000000").get("/orders.json")
    assert (r.status_code, r.json()) == (401, {"errors": INVALID})


def test_refusals(cs: ChannelSandbox) -> None:
    app, absent = _app(cs), _app(cs, 2)
    cases = [
        ({"client_id": app["client_id"], "client_secret": app["client_secret"]}, 400, "invalid_request"),
        (
            {"grant_type": "authorization_code", "client_id": app["client_id"], "client_secret": "x"},
            400,
            "unsupported_grant_type",
        ),
        ({"grant_type": "client_credentials", "client_id": app["client_id"]}, 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "client_id": app["client_id"], "client_secret": "wrong-secret"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "nope", "client_secret": app["client_secret"]},
            401,
            "invalid_client",
        ),
        (
            {
                "grant_type": "client_credentials",
                "client_id": absent["client_id"],
                "client_secret": absent["client_secret"],
            },
            400,
            "app_not_installed",
        ),
    ]
    for params, status, code in cases:
        r = _grant(cs, **params)
        assert (r.status_code, r.json()["error"]) == (status, code), params
        assert r.json()["error_description"]
    assert requests.get(cs.api_base_url("shopify", SHOP) + "/admin/oauth/access_token", timeout=5).status_code == 405
    assert cs.issued_tokens(SHOP) == []


def test_reset_forgets_issued_tokens_and_the_clock(cs: ChannelSandbox) -> None:
    token = _token(cs)
    cs.advance_clock(100)
    cs.reset()
    assert cs.issued_tokens(SHOP) == []
    assert ShopifyClient(cs, token=token).get("/orders.json").status_code == 401


def test_connection_secret_for_a_dev_dashboard_app(cs: ChannelSandbox) -> None:
    secret = cs.connection_secret("shopify", SHOP, "shop-cc", auth="client_credentials")
    assert "access_token" not in secret
    assert secret["client_id"] == _app(cs)["client_id"]
    assert secret["client_secret"] == secret["webhook_secret"]  # Shopify signs with the app's client secret


# --- inventorySetQuantities input by version ------------------------------------------------------

SET = """mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"""


def _set(cs: ChannelSandbox, version: str, key: str, row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    inp = {"name": "available", "reason": "correction", "quantities": [row], **extra}
    return ShopifyClient(cs, version=version).gql(SET, {"input": inp, "key": key})


def test_change_from_quantity_rules_per_version(cs: ChannelSandbox) -> None:
    row: dict[str, Any] = {"inventoryItemId": ITEM_S, "locationId": EAST, "quantity": 5}
    # 2025-10 does not know changeFromQuantity; ignoreCompareQuantity is the way.
    old = _set(cs, "2025-10", "v1", {**row, "changeFromQuantity": None})
    assert old["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"
    assert "changeFromQuantity" in old["errors"][0]["message"]
    assert (
        _set(cs, "2025-10", "v2", row, ignoreCompareQuantity=True)["data"]["inventorySetQuantities"]["userErrors"] == []
    )
    # From 2026-04 each row must give it (null skips the check) ...
    missing = _set(cs, "2026-04", "v3", row, ignoreCompareQuantity=True)
    assert missing["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"
    assert "changeFromQuantity" in missing["errors"][0]["message"]
    ok = _set(cs, "2026-04", "v4", {**row, "changeFromQuantity": None})
    assert ok["data"]["inventorySetQuantities"]["userErrors"] == []
    stale = _set(cs, "2026-10", "v5", {**row, "quantity": 6, "changeFromQuantity": 99})
    errors = stale["data"]["inventorySetQuantities"]["userErrors"]
    assert [e["code"] for e in errors] == ["CHANGE_FROM_QUANTITY_STALE"]
    assert errors[0]["field"] == ["input", "quantities", "0", "changeFromQuantity"]
    # ... and by 2026-10 ignoreCompareQuantity and compareQuantity are gone.
    gone = _set(cs, "2026-10", "v6", {**row, "changeFromQuantity": None}, ignoreCompareQuantity=True)
    assert "Field is not defined on InventorySetQuantitiesInput" in gone["errors"][0]["message"]
    gone = _set(cs, "2026-07", "v7", {**row, "changeFromQuantity": None, "compareQuantity": 5})
    assert "Field is not defined on InventoryQuantityInput" in gone["errors"][0]["message"]
    assert cs.inventory("shopify", SHOP)[("TSHIRT-S", 70000000001)] == 5
