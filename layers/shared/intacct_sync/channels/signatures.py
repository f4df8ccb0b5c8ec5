"""Webhook authentication: HMAC-SHA256 over the exact raw bytes, compared in constant time.

Every function fails closed: a missing or empty secret, a missing or empty header, an
unparsable header, a stale timestamp all raise `InvalidSignature` (never return False).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Literal

from intacct_sync.channels.errors import InvalidSignature, WebhookSecretMissing

DigestEncoding = Literal["base64", "hex"]

STANDARD_WEBHOOKS_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_MAX_SIGNATURE_HEADER = 4096
_MAX_WEBHOOK_ID = 256


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def encode_digest(digest: bytes, encoding: DigestEncoding) -> str:
    return base64.b64encode(digest).decode("ascii") if encoding == "base64" else digest.hex()


def _usable_keys(keys: Iterable[bytes]) -> list[bytes]:
    usable = [key for key in keys if key]
    if not usable:
        raise WebhookSecretMissing(
            "no webhook secret is configured for this connection",
            fix="set webhook_secret in the connection's secret (the channel's signing secret; for a Shopify app "
            "made in the Dev Dashboard, client_secret serves too)",
        )
    return usable


def verify_hmac(
    raw_body: bytes,
    header_value: str | None,
    keys: Iterable[bytes],
    *,
    encoding: DigestEncoding,
    header_name: str,
) -> None:
    """Check `header_value` == encode(HMAC-SHA256(key, raw_body)) for one of `keys`.

    Several keys allow a secret rotation. Raises InvalidSignature (or WebhookSecretMissing).
    """
    usable = _usable_keys(keys)
    provided = (header_value or "").strip()
    if not provided:
        raise InvalidSignature(f"missing {header_name} header")
    if len(provided) > _MAX_SIGNATURE_HEADER:
        raise InvalidSignature(f"malformed {header_name} header")
    if encoding == "hex":
        provided = provided.lower()
    provided_bytes = provided.encode("utf-8", "replace")
    matched = False
    for key in usable:
        expected = encode_digest(hmac_sha256(key, raw_body), encoding).encode("ascii")
        # No early exit: the time taken does not depend on which key matched.
        matched |= hmac.compare_digest(expected, provided_bytes)
    if not matched:
        raise InvalidSignature(f"{header_name} does not match the body")


def standard_webhooks_key(secret: str) -> bytes:
    """HMAC key from a Standard Webhooks secret: 'whsec_<base64>' is decoded, anything else
    (BigCommerce's app client secret) is used as its raw UTF-8 bytes."""
    if secret.startswith(STANDARD_WEBHOOKS_SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(STANDARD_WEBHOOKS_SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookSecretMissing(
                "webhook_secret starts with 'whsec_' but the rest is not base64",
                fix="paste the signing secret exactly as the channel shows it",
            ) from None
    return secret.encode("utf-8")


def verify_standard_webhooks(
    headers: Mapping[str, str],
    raw_body: bytes,
    keys: Iterable[bytes],
    *,
    now: float,
    tolerance_seconds: int,
) -> None:
    """Verify a Standard Webhooks delivery (webhook-id, webhook-timestamp, webhook-signature).

    Signed content is "{id}.{timestamp}.{raw body}"; the signature header is a space-separated
    list of "v1,<base64>" entries, any of which may match. The timestamp must be within
    `tolerance_seconds` of `now` in either direction (replay protection).
    `headers` must answer lower-case names.
    """
    usable = _usable_keys(keys)
    msg_id = headers.get("webhook-id", "").strip()
    timestamp = headers.get("webhook-timestamp", "").strip()
    signature = headers.get("webhook-signature", "").strip()
    for name, value in (
        ("webhook-id", msg_id),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", signature),
    ):
        if not value:
            raise InvalidSignature(f"missing {name} header")
    if len(msg_id) > _MAX_WEBHOOK_ID or len(signature) > _MAX_SIGNATURE_HEADER:
        raise InvalidSignature("malformed Standard Webhooks headers")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature("malformed webhook-timestamp header")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise InvalidSignature(
            "webhook-timestamp is outside the accepted window",
            fix="check the clock, or raise signature_tolerance_seconds on the connection",
        )
    candidates = [part[3:].encode("utf-8", "replace") for part in signature.split() if part.startswith("v1,")]
    if not candidates:
        raise InvalidSignature("webhook-signature has no v1 signature")
    signed = f"{msg_id}.{timestamp}.".encode() + raw_body
    matched = False
    for key in usable:
        expected = base64.b64encode(hmac_sha256(key, signed))
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature("webhook-signature does not match the body")


def verify_shared_header(headers: Mapping[str, str], name: str, expected: str) -> None:
    """Check a shared-secret header set on the subscription (BigCommerce custom `headers`)."""
    if not expected:
        raise WebhookSecretMissing(
            "webhook_auth_value is empty", fix="set webhook_auth_value in the connection's secret"
        )
    provided = headers.get(name.lower(), "")
    if not provided:
        raise InvalidSignature(f"missing {name} header")
    if not hmac.compare_digest(provided.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise InvalidSignature(f"{name} header does not match")
