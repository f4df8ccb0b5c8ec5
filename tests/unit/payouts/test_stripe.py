"""The Stripe payout source's pure parts: minor units to Decimal exactly, the API address rule,
and the connection keys' validation (values never echoed)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection
from intacct_sync.payouts.stripe import API_BASE, base_url, exponent, from_minor
from intacct_sync.settings import PayoutSettings

WOO = {"id": "woo-1", "channel": "woocommerce", "store": "https://shop.example"}


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (605_30, "usd", Decimal("605.30")),
        (-1_500, "USD", Decimal("-15.00")),
        (5_579, "jpy", Decimal(5579)),
        (12_345, "KRW", Decimal(12345)),
        (1_234, "kwd", Decimal("1.234")),
        (1, "eur", Decimal("0.01")),
        (0, "jpy", Decimal(0)),
    ],
)
def test_minor_units_become_exact_decimals(value: int, currency: str, expected: Decimal) -> None:
    got = from_minor(value, currency)
    assert got == expected and str(got) == str(expected)


def test_exponents_follow_stripes_currency_classes() -> None:
    assert [exponent(c) for c in ("jpy", "VND", "xof", "bhd", "TND", "usd", "isk")] == [0, 0, 0, 3, 3, 2, 2]


@pytest.mark.parametrize("value", [1.5, "100", None, True, Decimal(1)])
def test_an_amount_that_is_not_an_integer_is_refused(value: object) -> None:
    with pytest.raises(ChannelRequestError, match="not an integer"):
        from_minor(value, "usd")


def test_the_api_address_is_stripes_unless_overridden_by_https_or_localhost() -> None:
    key = {"stripe_secret_key": "rk_live_abcdefghijklmnop"}
    assert base_url(Connection.model_validate(WOO | key)) == API_BASE
    local = Connection.model_validate(WOO | key | {"stripe_api_base_url": "http://127.0.0.1:8090/stripe/x/y/"})
    assert base_url(local) == "http://127.0.0.1:8090/stripe/x/y"
    proxy = Connection.model_validate(WOO | key | {"stripe_api_base_url": "https://proxy.internal/stripe"})
    assert base_url(proxy) == "https://proxy.internal/stripe"
    clear = Connection.model_validate(WOO | key | {"stripe_api_base_url": "http://proxy.internal"})
    with pytest.raises(ConfigurationError, match="plain http") as caught:
        base_url(clear)
    assert "stripe_api_base_url" in (caught.value.fix or "")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"stripe_secret_key": "pk_live_publishable_key_123"}, "secret key (sk_...) or restricted key (rk_...)"),
        ({"stripe_api_base_url": "http://127.0.0.1:1"}, "without stripe_secret_key"),
    ],
)
def test_unusable_stripe_keys_are_refused_without_echoing_them(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Connection.model_validate(WOO | extra)
    assert message in str(caught.value) and "pk_live_publishable_key_123" not in str(caught.value)


def test_a_shopify_connection_reads_shopify_payments_not_stripe() -> None:
    shop = {"id": "s", "channel": "shopify", "store": "a.myshopify.com", "stripe_secret_key": "sk_test_x"}
    with pytest.raises(ValidationError, match="only used by WooCommerce and BigCommerce"):
        Connection.model_validate(shop)


def test_the_key_is_never_shown_by_the_connection() -> None:
    c = Connection.model_validate(WOO | {"stripe_secret_key": "sk_live_secret_value_42"})
    assert "sk_live_secret_value_42" not in repr(c) and "sk_live_secret_value_42" not in str(c.model_dump())


@pytest.mark.parametrize("pattern", ["Order (\\d+) of (\\d+)", "Order \\d+", "Order ((\\d+)"])
def test_a_description_pattern_needs_exactly_one_group(pattern: str) -> None:
    with pytest.raises(ValidationError, match="stripe_order_description_pattern"):
        PayoutSettings(stripe_order_description_pattern=pattern)
    assert PayoutSettings(stripe_order_description_pattern="Order #?(\\d+)").stripe_order_description_pattern
