"""Shopify connections of Dev Dashboard apps (client ID + secret) and of legacy apps (static
token): validation with the key and the fix, API versions and Shopify's support window, the
stock-push input per version, the token cache, and webhooks verified with the client secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.port import StockRow, StockWriteOptions
from intacct_sync.channels.api.shopify import (
    DEFAULT_API_VERSION,
    IssuedToken,
    ShopifyClient,
    TokenCache,
    api_version_released,
    api_version_support,
    latest_api_version,
    recommended_api_version,
    set_quantities_input,
)
from intacct_sync.channels.errors import InvalidSignature, WebhookSecretMissing
from intacct_sync.channels.shopify import ShopifyAdapter
from intacct_sync.connections import parse_connection
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection

CLIENT_ID = "5f0c1a2b3c4d5e6f708192a3b4c5d6e7"
CLIENT_SECRET = "shpss_unit_client_secret_0000000001"
WEBHOOK_SECRET = "a-long-enough-signing-secret-123"
TOKEN = "shpat_legacy_static_token_000000001"
TODAY = date(2026, 12, 4)


def _secret(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"channel": "shopify", "store": "example.myshopify.com", "webhook_secret": WEBHOOK_SECRET}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _refused(**overrides: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_connection("shop-1", _secret(**overrides), source="Secret 'x'")
    return caught.value


# --- the two forms ------------------------------------------------------------------------------


def test_a_legacy_static_token_is_still_accepted() -> None:
    conn = parse_connection("shop-1", _secret(access_token=TOKEN), source="s")
    assert conn.shopify_auth == "access_token"
    assert conn.api_version is None  # the client's current default applies


def test_a_dev_dashboard_app_is_a_client_id_and_secret() -> None:
    conn = parse_connection("shop-1", _secret(client_id=CLIENT_ID, client_secret=CLIENT_SECRET), source="s")
    assert conn.shopify_auth == "client_credentials"
    assert CLIENT_SECRET not in repr(conn) and CLIENT_SECRET not in conn.model_dump_json()


def test_webhook_secret_may_be_left_out_when_the_client_secret_is_there() -> None:
    conn = parse_connection(
        "shop-1", _secret(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, webhook_secret=None), source="s"
    )
    assert [s.get_secret_value() for s in conn.signing_secrets] == [CLIENT_SECRET]


@pytest.mark.parametrize(
    ("overrides", "problem", "fix_words"),
    [
        ({"client_id": CLIENT_ID}, "'client_id' is set without 'client_secret'", ["client_secret", "Dev Dashboard"]),
        (
            {"client_secret": CLIENT_SECRET},
            "'client_secret' is set without 'client_id'",
            ["client_id", "Dev Dashboard", "Settings"],
        ),
        (
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "access_token": TOKEN},
            "'access_token' and 'client_id'/'client_secret' are both set",
            ["remove 'access_token'", "legacy custom app"],
        ),
        (
            {"client_id": CLIENT_ID, "client_secret": "shpss_short"},
            "'client_secret' is shorter than 16 characters",
            ["Client secret", "at least 16"],
        ),
        (
            {"client_id": CLIENT_ID, "client_secret": f" {CLIENT_SECRET}\n"},
            "'client_secret' has spaces or a line break around it",
            ["exactly"],
        ),
        ({"client_id": " ", "client_secret": CLIENT_SECRET}, "'client_id' is blank", ["Client ID"]),
        ({"access_token": f"{TOKEN} "}, "'access_token' has spaces or a line break around it", ["shpat_"]),
    ],
)
def test_unusable_api_credentials_are_refused_naming_the_key_and_the_fix(
    overrides: dict[str, Any], problem: str, fix_words: list[str]
) -> None:
    err = _refused(**overrides)
    assert problem in err.message
    assert err.fix is not None
    for word in fix_words:
        assert word in err.fix
    assert "README 'Channel setup'" in err.fix
    for value in (CLIENT_SECRET, TOKEN):
        assert value not in str(err)


@pytest.mark.parametrize("bad", ["2026-11", "26-10", "2026-1", "latest", "2026-10 ", "unstable", "2026/10"])
def test_api_version_must_be_a_quarterly_version(bad: str) -> None:
    err = _refused(access_token=TOKEN, api_version=bad)
    assert "'api_version'" in err.message
    assert "YYYY-MM with MM one of 01, 04, 07 or 10" in err.message


@pytest.mark.parametrize("good", ["2025-10", "2026-01", "2026-04", "2026-07", "2026-10", "2027-01"])
def test_every_quarterly_version_is_accepted(good: str) -> None:
    assert parse_connection("s", _secret(access_token=TOKEN, api_version=good), source="s").api_version == good


@pytest.mark.parametrize(
    ("channel", "store", "key", "value"),
    [
        ("woocommerce", "https://shop.example", "api_version", "2026-10"),
        ("bigcommerce", "abc123", "client_secret", CLIENT_SECRET),
        ("bigcommerce", "abc123", "client_id", CLIENT_ID),
    ],
)
def test_shopify_keys_are_refused_on_other_channels(channel: str, store: str, key: str, value: str) -> None:
    err = _refused(channel=channel, store=store, **{key: value})
    assert key in err.message and "only used by Shopify connections" in err.message
    assert CLIENT_SECRET not in str(err)


def test_the_client_refuses_a_connection_with_no_api_credentials_naming_both_forms() -> None:
    conn = Connection.model_validate(_secret(id="shop-1"))
    with pytest.raises(ConfigurationError) as caught:
        client_for(conn)
    assert "no Admin API credentials" in caught.value.message
    fix = caught.value.fix or ""
    assert "'client_id' and 'client_secret'" in fix and "Dev Dashboard" in fix and "'access_token'" in fix


def test_the_client_refuses_half_a_key_pair_built_without_parse_connection() -> None:
    conn = Connection.model_validate(_secret(id="shop-1", client_secret=CLIENT_SECRET))
    with pytest.raises(ConfigurationError) as caught:
        client_for(conn)
    assert "'client_secret' is set without 'client_id'" in caught.value.message
    assert CLIENT_SECRET not in str(caught.value)


# --- API versions ----------------------------------------------------------------------------------


def test_the_api_version_is_the_connection_s_else_the_current_default() -> None:
    conn = Connection.model_validate(_secret(id="shop-1", access_token=TOKEN))
    assert DEFAULT_API_VERSION == "2026-10"
    assert ShopifyClient(conn).api_version == "2026-10"
    assert ShopifyClient(conn.model_copy(update={"api_version": "2026-04"})).api_version == "2026-04"
    assert ShopifyClient(conn, api_version="2026-07").api_version == "2026-07"
    with pytest.raises(ConfigurationError, match="not a Shopify Admin API version"):
        ShopifyClient(conn, api_version="2026-08")


@pytest.mark.parametrize(
    ("version", "today", "status"),
    [
        ("2025-10", TODAY, "unsupported"),  # released 2025-10-01, more than 12 months ago
        ("2025-10", date(2026, 10, 1), "supported"),  # exactly 12 months: still in the window
        ("2025-10", date(2026, 10, 2), "unsupported"),
        ("2026-01", TODAY, "supported"),
        ("2026-10", TODAY, "supported"),
        ("2027-01", TODAY, "unreleased"),
        ("2027-01", date(2027, 1, 1), "supported"),
    ],
)
def test_support_window_is_twelve_months_from_release(version: str, today: date, status: str) -> None:
    support = api_version_support(version, today)
    assert support.status == status
    assert support.supported_until == date(api_version_released(version).year + 1, int(version[5:]), 1)


def test_the_version_to_recommend() -> None:
    assert latest_api_version(TODAY) == "2026-10"
    assert latest_api_version(date(2027, 3, 31)) == "2027-01"
    assert recommended_api_version(TODAY) == DEFAULT_API_VERSION
    # Once the default itself has aged out, the newest released version is named.
    assert recommended_api_version(date(2027, 11, 15)) == "2027-10"


# --- stock push input per version ------------------------------------------------------------------


ROWS = [StockRow("TSHIRT-S", "gid://shopify/Location/1", 7, "gid://shopify/InventoryItem/2")]


def test_from_2026_01_rows_carry_change_from_quantity_null_and_no_ignore_flag() -> None:
    for version in ("2026-01", "2026-04", "2026-10"):
        payload = set_quantities_input(ROWS, StockWriteOptions(run_id="r1"), version)
        assert "ignoreCompareQuantity" not in payload
        assert payload["quantities"] == [
            {
                "inventoryItemId": "gid://shopify/InventoryItem/2",
                "locationId": "gid://shopify/Location/1",
                "quantity": 7,
                "changeFromQuantity": None,
            }
        ]


def test_before_2026_01_the_ignore_flag_is_used() -> None:
    payload = set_quantities_input(ROWS, StockWriteOptions(run_id="r1"), "2025-10")
    assert payload["ignoreCompareQuantity"] is True
    assert "changeFromQuantity" not in payload["quantities"][0]


# --- the token cache -------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _issuer(cache: TokenCache, expires_in: float = 86399) -> tuple[list[str], Any]:
    issued: list[str] = []

    def obtain() -> IssuedToken:
        token = f"tok-{len(issued) + 1}"
        issued.append(token)
        return IssuedToken(token, "read_orders", expires_in, cache.valid_until(expires_in))

    return issued, obtain


def test_a_token_is_reused_until_five_minutes_before_it_expires() -> None:
    clock = Clock()
    cache = TokenCache(clock=clock)
    issued, obtain = _issuer(cache)
    assert cache.get("k", obtain, wait_s=1).access_token == "tok-1"
    clock.now += 86399 - 301
    assert cache.get("k", obtain, wait_s=1).access_token == "tok-1"
    clock.now += 2  # inside the 5-minute margin
    assert cache.get("k", obtain, wait_s=1).access_token == "tok-2"
    assert issued == ["tok-1", "tok-2"]


def test_a_short_lived_token_keeps_a_tenth_of_its_life_as_margin() -> None:
    clock = Clock()
    cache = TokenCache(clock=clock)
    _, obtain = _issuer(cache, expires_in=60)
    token = cache.get("k", obtain, wait_s=1)
    assert token.valid_until == clock.now + 54


def test_forget_drops_only_the_token_that_was_refused() -> None:
    cache = TokenCache(clock=Clock())
    issued, obtain = _issuer(cache)
    cache.get("k", obtain, wait_s=1)
    cache.forget("k", "tok-0")  # an older token, already replaced
    assert cache.get("k", obtain, wait_s=1).access_token == "tok-1"
    cache.forget("k", "tok-1")
    assert cache.get("k", obtain, wait_s=1).access_token == "tok-2"
    assert len(issued) == 2


def test_concurrent_requests_of_one_connection_obtain_one_token() -> None:
    cache = TokenCache()
    calls: list[int] = []
    arrived = threading.Condition()
    callers = 0

    def obtain() -> IssuedToken:
        calls.append(1)
        # The request stays out until every worker has come to the cache (no sleep to race).
        with arrived:
            assert arrived.wait_for(lambda: callers == 8, timeout=30), "a worker never came"
        return IssuedToken("tok", "", 86399, cache.valid_until(86399))

    seen: list[str] = []

    def worker() -> None:
        nonlocal callers
        with arrived:
            callers += 1
            arrived.notify_all()
        seen.append(cache.get("k", obtain, wait_s=60).access_token)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1]
    assert seen == ["tok"] * 8


def test_tokens_are_kept_per_key_and_the_cache_is_bounded() -> None:
    cache = TokenCache(clock=Clock(), max_entries=3)
    for i in range(5):
        _, obtain = _issuer(cache)
        cache.get(f"k{i}", obtain, wait_s=1)
    assert cache.size() == 3
    assert "tok" not in repr(cache.peek("k4"))  # the repr never shows the token


def test_the_cache_key_changes_with_the_client_secret_but_never_holds_it() -> None:
    conn = Connection.model_validate(_secret(id="shop-1", client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    rotated = conn.model_copy(update={"client_secret": conn.client_secret.__class__(CLIENT_SECRET + "-new")})
    first, second = ShopifyClient(conn), ShopifyClient(rotated)
    assert first._credentials is not None and second._credentials is not None
    assert first._credentials.key != second._credentials.key
    assert CLIENT_SECRET not in first._credentials.key
    assert CLIENT_SECRET not in repr(first._credentials) and CLIENT_SECRET not in repr(first.http)


# --- webhooks of a Dev Dashboard app ------------------------------------------------------------------


def _signed(secret: str, body: bytes) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/paid"}


BODY = b'{"id": 1}'


def test_without_webhook_secret_deliveries_are_verified_with_the_client_secret() -> None:
    conn = Connection.model_validate(
        _secret(id="shop-1", webhook_secret=None, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    )
    ShopifyAdapter().verify_signature(_signed(CLIENT_SECRET, BODY), BODY, conn)
    with pytest.raises(InvalidSignature):
        ShopifyAdapter().verify_signature(_signed(WEBHOOK_SECRET, BODY), BODY, conn)


def test_a_webhook_secret_when_given_is_the_key_and_the_client_secret_is_not() -> None:
    conn = Connection.model_validate(_secret(id="shop-1", client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    ShopifyAdapter().verify_signature(_signed(WEBHOOK_SECRET, BODY), BODY, conn)
    with pytest.raises(InvalidSignature):
        ShopifyAdapter().verify_signature(_signed(CLIENT_SECRET, BODY), BODY, conn)


def test_a_client_secret_rotation_accepts_the_previous_one_too() -> None:
    old = "shpss_previous_client_secret_000001"
    conn = Connection.model_validate(
        _secret(
            id="shop-1",
            webhook_secret=None,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            previous_webhook_secret=old,
        )
    )
    ShopifyAdapter().verify_signature(_signed(old, BODY), BODY, conn)
    ShopifyAdapter().verify_signature(_signed(CLIENT_SECRET, BODY), BODY, conn)


def test_with_no_key_at_all_verification_still_fails_closed() -> None:
    conn = Connection.model_validate(_secret(id="shop-1", webhook_secret=None, access_token=TOKEN))
    with pytest.raises(WebhookSecretMissing) as caught:
        ShopifyAdapter().verify_signature(_signed(CLIENT_SECRET, BODY), BODY, conn)
    assert "client_secret" in (caught.value.fix or "")


def test_the_model_rejects_unknown_keys_near_the_new_ones() -> None:
    with pytest.raises(ValidationError, match="client_secrett"):
        Connection.model_validate(_secret(id="shop-1", client_secrett=CLIENT_SECRET))
