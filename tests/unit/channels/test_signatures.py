"""Signature checks: valid deliveries pass, everything else is a 401, never a pass."""

import base64
import hashlib
import hmac

import pytest

from intacct_sync.channels import (
    InvalidSignature,
    WebhookSecretMissing,
    bigcommerce,
    receive,
    shopify,
    woocommerce,
)
from intacct_sync.channels.signatures import verify_hmac
from tests.fixtures.channels.sign import (
    BIGCOMMERCE_AUTH_HEADER,
    BIGCOMMERCE_TEST_SECRET,
    FIXED_NOW,
    bigcommerce_headers,
    connection,
    load,
    shopify_headers,
    standard_webhooks_signature,
    woocommerce_headers,
)

SHOPIFY_BODY = load("shopify", "orders_paid_us_tax_exclusive_discount.json")
WOO_BODY = load("woocommerce", "order_created_guest_no_sku.json")
BC_BODY = load("bigcommerce", "callback_store_order_created.json")


def test_shopify_valid_base64_signature_is_accepted() -> None:
    shopify.verify_signature(shopify_headers(SHOPIFY_BODY, "orders/paid"), SHOPIFY_BODY, connection("shopify"))


def test_shopify_header_names_are_case_insensitive_as_http_api_v2_lowercases_them() -> None:
    headers = {k.lower(): v for k, v in shopify_headers(SHOPIFY_BODY, "orders/paid").items()}
    shopify.verify_signature(headers, SHOPIFY_BODY, connection("shopify"))


def test_woocommerce_valid_base64_signature_is_accepted() -> None:
    woocommerce.verify_signature(woocommerce_headers(WOO_BODY, "order.created"), WOO_BODY, connection("woocommerce"))


def test_hex_digest_channels_are_supported_by_the_same_check() -> None:
    digest = hmac.new(b"k", b"body", hashlib.sha256).hexdigest()
    verify_hmac(b"body", digest.upper(), [b"k"], encoding="hex", header_name="X-Sig")
    with pytest.raises(InvalidSignature):
        # A base64 digest is not accepted where hex is expected.
        b64 = base64.b64encode(hmac.new(b"k", b"body", hashlib.sha256).digest()).decode()
        verify_hmac(b"body", b64, [b"k"], encoding="hex", header_name="X-Sig")


def test_shopify_wrong_secret_is_rejected() -> None:
    headers = shopify_headers(SHOPIFY_BODY, "orders/paid", secret="not-the-secret")
    with pytest.raises(InvalidSignature, match="does not match"):
        shopify.verify_signature(headers, SHOPIFY_BODY, connection("shopify"))


def test_tampered_body_is_rejected() -> None:
    headers = shopify_headers(SHOPIFY_BODY, "orders/paid")
    tampered = SHOPIFY_BODY.replace(b'"421.28"', b'"0.01"', 1)
    with pytest.raises(InvalidSignature):
        shopify.verify_signature(headers, tampered, connection("shopify"))


def test_reserialised_json_is_rejected_because_the_hmac_covers_raw_bytes() -> None:
    import json

    headers = shopify_headers(SHOPIFY_BODY, "orders/paid")
    reserialised = json.dumps(json.loads(SHOPIFY_BODY)).encode()
    with pytest.raises(InvalidSignature):
        shopify.verify_signature(headers, reserialised, connection("shopify"))


@pytest.mark.parametrize("value", [None, "", "   ", "not base64 at all", "x" * 5000])
def test_missing_empty_or_malformed_signature_header_is_rejected(value: str | None) -> None:
    headers = shopify_headers(SHOPIFY_BODY, "orders/paid")
    del headers["X-Shopify-Hmac-Sha256"]
    if value is not None:
        headers["X-Shopify-Hmac-Sha256"] = value
    with pytest.raises(InvalidSignature):
        shopify.verify_signature(headers, SHOPIFY_BODY, connection("shopify"))


@pytest.mark.parametrize("secret", [None, ""])
def test_missing_or_empty_secret_fails_closed(secret: str | None) -> None:
    # Even a header computed with the empty key must not pass.
    headers = shopify_headers(SHOPIFY_BODY, "orders/paid", secret="")
    with pytest.raises(WebhookSecretMissing) as caught:
        shopify.verify_signature(headers, SHOPIFY_BODY, connection("shopify", webhook_secret=secret))
    assert caught.value.fix is not None
    assert isinstance(caught.value, InvalidSignature)


def test_previous_secret_is_accepted_during_a_rotation() -> None:
    headers = shopify_headers(SHOPIFY_BODY, "orders/paid", secret="old-secret")
    conn = connection("shopify", webhook_secret="new-secret", previous_webhook_secret="old-secret")
    shopify.verify_signature(headers, SHOPIFY_BODY, conn)


def test_woocommerce_signature_from_another_webhook_secret_is_rejected() -> None:
    headers = woocommerce_headers(WOO_BODY, "order.created", secret="other")
    with pytest.raises(InvalidSignature):
        woocommerce.verify_signature(headers, WOO_BODY, connection("woocommerce"))


# ---- BigCommerce: Standard Webhooks and/or the shared header


def test_bigcommerce_standard_webhooks_and_shared_header_valid() -> None:
    bigcommerce.verify_signature(bigcommerce_headers(BC_BODY), BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


@pytest.mark.parametrize("skew", [-301, 301, -(10**6)])
def test_bigcommerce_timestamp_outside_tolerance_is_rejected(skew: int) -> None:
    headers = bigcommerce_headers(BC_BODY, timestamp=FIXED_NOW + skew)
    with pytest.raises(InvalidSignature, match="window"):
        bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


def test_bigcommerce_timestamp_within_tolerance_is_accepted() -> None:
    headers = bigcommerce_headers(BC_BODY, timestamp=FIXED_NOW - 299)
    bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


def test_bigcommerce_signed_timestamp_cannot_be_swapped() -> None:
    headers = bigcommerce_headers(BC_BODY, timestamp=FIXED_NOW - 3600)
    headers["webhook-timestamp"] = str(FIXED_NOW)
    with pytest.raises(InvalidSignature, match="does not match"):
        bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_bigcommerce_missing_standard_webhooks_header_is_rejected(header: str) -> None:
    headers = bigcommerce_headers(BC_BODY)
    del headers[header]
    with pytest.raises(InvalidSignature, match=header):
        bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


def test_bigcommerce_any_of_several_v1_signatures_may_match() -> None:
    headers = bigcommerce_headers(BC_BODY)
    headers["webhook-signature"] = "v1,AAAA v1a,xyz " + headers["webhook-signature"]
    bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


def test_bigcommerce_whsec_secret_is_base64_decoded() -> None:
    key = b"\x01\x02raw-key-bytes"
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = bigcommerce_headers(BC_BODY, auth_value=None)
    headers["webhook-signature"] = standard_webhooks_signature(key, headers["webhook-id"], FIXED_NOW, BC_BODY)
    conn = connection("bigcommerce", webhook_secret=secret, webhook_auth_header=None, webhook_auth_value=None)
    bigcommerce.verify_signature(headers, BC_BODY, conn, now=FIXED_NOW)


def test_bigcommerce_shared_header_alone_when_no_signing_secret_is_configured() -> None:
    conn = connection("bigcommerce", webhook_secret=None)
    headers = {BIGCOMMERCE_AUTH_HEADER.lower(): bigcommerce_headers(BC_BODY)[BIGCOMMERCE_AUTH_HEADER]}
    bigcommerce.verify_signature(headers, BC_BODY, conn, now=FIXED_NOW)
    with pytest.raises(InvalidSignature):
        bigcommerce.verify_signature({BIGCOMMERCE_AUTH_HEADER: "wrong"}, BC_BODY, conn, now=FIXED_NOW)
    with pytest.raises(InvalidSignature, match="missing"):
        bigcommerce.verify_signature({}, BC_BODY, conn, now=FIXED_NOW)


def test_bigcommerce_every_configured_check_is_required() -> None:
    # Valid Standard Webhooks signature, wrong shared header: still rejected.
    headers = bigcommerce_headers(BC_BODY, auth_value="wrong")
    with pytest.raises(InvalidSignature):
        bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)
    # Valid shared header, no signature: rejected while webhook_secret is configured.
    headers = {BIGCOMMERCE_AUTH_HEADER: bigcommerce_headers(BC_BODY)[BIGCOMMERCE_AUTH_HEADER]}
    with pytest.raises(InvalidSignature):
        bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


def test_bigcommerce_with_nothing_configured_fails_closed() -> None:
    conn = connection("bigcommerce", webhook_secret=None, webhook_auth_header=None, webhook_auth_value=None)
    with pytest.raises(WebhookSecretMissing):
        bigcommerce.verify_signature(bigcommerce_headers(BC_BODY), BC_BODY, conn, now=FIXED_NOW)


def test_bigcommerce_wrong_client_secret_is_rejected() -> None:
    headers = bigcommerce_headers(BC_BODY, secret=BIGCOMMERCE_TEST_SECRET + "x")
    with pytest.raises(InvalidSignature):
        bigcommerce.verify_signature(headers, BC_BODY, connection("bigcommerce"), now=FIXED_NOW)


def test_receive_checks_the_signature_before_parsing() -> None:
    headers = shopify_headers(b"{not json", "orders/paid", secret="wrong")
    with pytest.raises(InvalidSignature):
        receive(headers, b"{not json", connection("shopify"))
