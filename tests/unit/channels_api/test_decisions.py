"""Pure decisions of the channel HTTP layer: rate limits, retries, paging headers, URLs, redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from intacct_sync.channels.api import bigcommerce, shopify
from intacct_sync.channels.api.errors import (
    ChannelAuthError,
    ChannelNotFound,
    ChannelRateLimited,
    ChannelRequestError,
    ChannelTransientError,
)
from intacct_sync.channels.api.http import (
    CallContext,
    Pacer,
    RateLimitRules,
    channel_message,
    error_for_status,
    fill_path,
    graphql_throttled,
    graphql_wait,
    link_next_params,
    parse_retry_after,
    quota_pause,
    quoted,
    rate_limited_delay,
    redact,
    total_pages,
)

BC = bigcommerce.SPEC.rules
SHOPIFY = shopify.SPEC.rules
CTX = CallContext("bigcommerce", "bc-1", "GET", "/stores/{store}/v2/orders", "check access_token", ("tok-secret",))


# --- Retry-After and quota headers -------------------------------------------------------------


def test_retry_after_in_seconds_including_shopify_decimal_form() -> None:
    assert parse_retry_after("2.0") == 2.0
    assert parse_retry_after(" 7 ") == 7.0


def test_retry_after_as_http_date_is_seconds_from_now() -> None:
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 01 May 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-1", "inf", "nan"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_bigcommerce_pauses_for_the_reset_when_the_quota_is_nearly_used() -> None:
    headers = {"X-Rate-Limit-Requests-Left": "2", "X-Rate-Limit-Time-Reset-Ms": "1500"}
    assert quota_pause(headers, BC) == 1.5


def test_bigcommerce_does_not_pause_while_quota_is_left() -> None:
    headers = {"x-rate-limit-requests-left": "40", "x-rate-limit-time-reset-ms": "1500"}
    assert quota_pause(headers, BC) == 0.0


def test_shopify_rest_bucket_nearly_full_waits_for_it_to_leak() -> None:
    # 39/40 used, reserve 2, leak 2/s: wait until 3 slots are free -> (3 - 1) / 2 = 1 s
    assert quota_pause({"X-Shopify-Shop-Api-Call-Limit": "39/40"}, SHOPIFY) == 1.0
    assert quota_pause({"X-Shopify-Shop-Api-Call-Limit": "10/40"}, SHOPIFY) == 0.0
    assert quota_pause({"X-Shopify-Shop-Api-Call-Limit": "garbage"}, SHOPIFY) == 0.0


def test_a_429_waits_retry_after_first_then_the_bigcommerce_reset() -> None:
    assert rate_limited_delay({"Retry-After": "3", "X-Rate-Limit-Time-Reset-Ms": "9000"}, BC) == 3.0
    assert rate_limited_delay({"X-Rate-Limit-Time-Reset-Ms": "9000"}, BC) == 9.0
    # BigCommerce: a 429 without these headers is platform load -> backoff decides
    assert rate_limited_delay({}, BC) is None


def test_rules_without_headers_never_pause() -> None:
    assert quota_pause({"X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "5000"}, RateLimitRules()) == 0


# --- Shopify GraphQL cost --------------------------------------------------------------------


def _cost(requested: int, available: int, restore: int = 100) -> dict[str, object]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": None,
            "throttleStatus": {"maximumAvailable": 2000, "currentlyAvailable": available, "restoreRate": restore},
        }
    }


def test_graphql_throttled_answer_is_recognised_and_waits_until_the_bucket_refills() -> None:
    body = {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}], "extensions": _cost(500, 100)}
    assert graphql_throttled(body)
    assert graphql_wait(body) == 4.0  # (500 - 100) / 100


def test_graphql_success_paces_only_when_the_bucket_cannot_pay_the_next_query() -> None:
    ok = {"data": {}, "extensions": _cost(50, 1900)}
    assert not graphql_throttled(ok)
    assert graphql_wait(ok) == 0.0
    assert graphql_wait({"data": {}, "extensions": _cost(50, 20)}, planned_cost=220) == 2.0
    assert graphql_wait({"data": {}}) == 0.0  # no cost reported: no pacing


def test_graphql_cost_numbers_may_be_decimals() -> None:
    body = {
        "extensions": {
            "cost": {
                "requestedQueryCost": Decimal(10),
                "throttleStatus": {"currentlyAvailable": Decimal("5.5"), "restoreRate": Decimal(50)},
            }
        }
    }
    assert graphql_wait(body) == pytest.approx(0.09)


# --- Paging headers ----------------------------------------------------------------------------


def test_shopify_link_header_next_cursor() -> None:
    link = (
        '<https://shop.myshopify.com/admin/api/2025-10/orders.json?limit=250&page_info=prev1>; rel="previous", '
        '<https://shop.myshopify.com/admin/api/2025-10/orders.json?limit=250&page_info=abc%3D>; rel="next"'
    )
    assert link_next_params(link) == {"limit": "250", "page_info": "abc="}


def test_shopify_last_page_has_no_next_link() -> None:
    assert link_next_params('<https://s/admin/api/x/orders.json?page_info=p>; rel="previous"') is None
    assert link_next_params(None) is None
    assert link_next_params("garbage") is None


def test_woocommerce_total_pages_header() -> None:
    assert total_pages({"X-WP-TotalPages": "3"}) == 3
    assert total_pages({"x-wp-totalpages": " 12 "}) == 12
    assert total_pages({"X-WP-TotalPages": "many"}) is None
    assert total_pages({}) is None


# --- Error classification (what is retried, what is permanent) --------------------------------


def _err(
    status: int, *, idempotent: bool = True, data: object = None, headers: dict[str, str] | None = None
) -> Exception | None:
    return error_for_status(status, headers or {}, data, CTX, idempotent=idempotent, rules=BC)


def test_success_is_no_error() -> None:
    assert _err(200) is None
    assert _err(204) is None


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_configuration_errors_with_the_fix(status: int) -> None:
    err = _err(status)
    assert isinstance(err, ChannelAuthError)
    assert err.fix == "check access_token"
    assert str(status) in err.message


def test_429_is_retryable_rate_limit_with_the_reset_delay() -> None:
    err = _err(429, idempotent=False, headers={"X-Rate-Limit-Time-Reset-Ms": "2500"})
    assert isinstance(err, ChannelRateLimited)
    assert err.retryable  # a 429 was not processed: safe to resend even a POST
    assert err.retry_after_s == 2.5


def test_5xx_is_retried_only_for_idempotent_requests() -> None:
    get = _err(503)
    post = _err(502, idempotent=False)
    assert isinstance(get, ChannelTransientError) and get.retryable
    assert isinstance(post, ChannelTransientError) and not post.retryable
    assert "outcome unknown" in post.message


def test_404_is_not_found_and_says_what_to_check() -> None:
    err = _err(404)
    assert isinstance(err, ChannelNotFound)
    assert "store" in (err.fix or "")


def test_redirect_is_refused_and_names_only_the_host() -> None:
    err = _err(301, headers={"Location": "https://www.shop.example/wp-json/wc/v3/orders?consumer_key=ck_1"})
    assert isinstance(err, ChannelRequestError)
    assert "www.shop.example" in err.message
    assert "ck_1" not in str(err)


def test_other_4xx_quote_the_channel_redacted() -> None:
    err = _err(422, data={"errors": {"address": ["for this topic has already been taken"]}, "token": "x"})
    assert isinstance(err, ChannelRequestError)
    assert "already been taken" in err.message
    leaking = _err(400, data={"message": "bad token tok-secret in request"})
    assert leaking is not None
    assert "tok-secret" not in str(leaking)
    assert "***" in str(leaking)


def test_channel_messages_of_each_channel_shape() -> None:
    assert channel_message({"errors": "Not Found"}) == "Not Found"
    assert channel_message({"code": "rest_invalid_param", "message": "Invalid parameter(s): orderby"}) == (
        "rest_invalid_param; Invalid parameter(s): orderby"
    )
    assert channel_message([{"status": 400, "message": "bad date"}]) == "bad date"
    assert channel_message("<html>") is None


# --- Redaction, paths ---------------------------------------------------------------------------


def test_redaction_replaces_every_secret_longest_first() -> None:
    assert redact("a shpat_123456 b shpat_123456789", ["shpat_123456", "shpat_123456789", None, "ab"]) == "a *** b ***"


def test_quoted_messages_are_one_short_line() -> None:
    text = quoted("line1\nline2 " + "x" * 1000, [])
    assert "\n" not in text
    assert len(text) <= 300


def test_path_values_are_one_encoded_segment() -> None:
    assert fill_path("/v2/orders/{order_id}", {"order_id": "12/../x?y"}) == "/v2/orders/12%2F..%2Fx%3Fy"
    with pytest.raises(KeyError):
        fill_path("/v2/orders/{order_id}", {})


def test_pacer_holds_per_store_until_the_time_passes() -> None:
    now = [100.0]
    pacer = Pacer(clock=lambda: now[0])
    pacer.hold("bigcommerce:a", 2.0)
    pacer.hold("bigcommerce:a", 1.0)  # a shorter hold never shortens a longer one
    assert pacer.wait_s("bigcommerce:a") == 2.0
    assert pacer.wait_s("bigcommerce:b") == 0.0
    now[0] += timedelta(seconds=2.5).total_seconds()
    assert pacer.wait_s("bigcommerce:a") == 0.0
