"""Fixtures for the channel sandbox tests: one sandbox per session, reset before each test.

Requests are made with `requests` directly; the product's channel clients are deliberately not used.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from local.channel_sandbox import ChannelSandbox

SHOP = "demo.myshopify.com"
WOO = "demo-woo"
BC = "demostore"
VERSION = "2025-10"


class ShopifyClient:
    def __init__(self, cs: ChannelSandbox, token: str | None = None, version: str = VERSION) -> None:
        self.base = cs.api_base_url("shopify", SHOP) + f"/admin/api/{version}"
        self.token = token if token is not None else cs.credentials("shopify", SHOP)["access_token"]
        self.version = version

    def headers(self) -> dict[str, str]:
        return {"X-Shopify-Access-Token": self.token} if self.token else {}

    def get(self, path: str, **params: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        return requests.get(url, params=params or None, headers=self.headers(), timeout=10)

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.base + path, json=body, headers=self.headers(), timeout=10)

    def put(self, path: str, body: Any) -> requests.Response:
        return requests.put(self.base + path, json=body, headers=self.headers(), timeout=10)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base + path, headers=self.headers(), timeout=10)

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.post("/graphql.json", {"query": query, "variables": variables or {}})
        assert r.status_code == 200, r.text
        return r.json()


class WooClient:
    def __init__(self, cs: ChannelSandbox, auth: tuple[str, str] | None = None) -> None:
        self.base = cs.api_base_url("woocommerce", WOO) + "/wp-json/wc/v3"
        cred = cs.credentials("woocommerce", WOO)
        self.auth = auth if auth is not None else (cred["consumer_key"], cred["consumer_secret"])

    def req(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        return requests.request(
            method, self.base + path, json=body, params=params or None, auth=self.auth or None, timeout=10
        )

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.req("GET", path, **params)


class BCClient:
    def __init__(self, cs: ChannelSandbox, token: str | None = None) -> None:
        self.base = cs.api_base_url("bigcommerce", BC) + f"/stores/{BC}"
        self.token = token if token is not None else cs.credentials("bigcommerce", BC)["access_token"]

    def req(self, method: str, path: str, body: Any = None, **params: Any) -> requests.Response:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-Auth-Token"] = self.token
        return requests.request(method, self.base + path, json=body, params=params or None, headers=headers, timeout=10)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.req("GET", path, **params)


@pytest.fixture
def shop(cs: ChannelSandbox) -> ShopifyClient:
    return ShopifyClient(cs)


@pytest.fixture
def woo(cs: ChannelSandbox) -> WooClient:
    return WooClient(cs)


@pytest.fixture
def bc(cs: ChannelSandbox) -> BCClient:
    return BCClient(cs)
