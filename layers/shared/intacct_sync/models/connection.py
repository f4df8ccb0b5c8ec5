"""A connection: one store on one channel, as stored in its own Secrets Manager secret.

Secrets are `SecretStr`: they print as '**********' in repr, str, logs and JSON dumps, and
validation errors never echo input values. Call `.get_secret_value()` only where the secret is used.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints, model_validator

from intacct_sync.models.order import Channel, Frozen

ConnectionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]

MIN_WEBHOOK_SECRET_CHARS = 16
"""Shortest webhook signing secret a stored connection may carry. Real ones are much longer
(Shopify 'shpss_...' app client secrets, WooCommerce's generated webhook secrets, BigCommerce client
secrets and Standard Webhooks 'whsec_' keys run to dozens of characters): a shorter value is a
placeholder or a truncated paste, and as an HMAC key it would be guessable."""

SIGNING_SECRET_FIELDS = ("webhook_secret", "previous_webhook_secret")


class Connection(Frozen):
    id: ConnectionId
    """The `{connection_id}` of the webhook URL."""
    channel: Channel
    store: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    """Shopify shop domain (xxx.myshopify.com), WooCommerce site URL, BigCommerce store hash."""

    webhook_secret: SecretStr | None = None
    """Shopify app client secret / WooCommerce webhook secret / BigCommerce app client secret
    (raw, or a Standard Webhooks 'whsec_<base64>' key). Verification fails closed without it,
    except BigCommerce when only the shared header is configured."""
    previous_webhook_secret: SecretStr | None = None
    """Also accepted during a rotation (Shopify signs with the old secret for up to 1 h)."""
    webhook_auth_header: str | None = None
    """BigCommerce: name of the custom header set on the hook subscription (e.g. X-Webhook-Token)."""
    webhook_auth_value: SecretStr | None = None
    """BigCommerce: the value that header must carry."""
    signature_tolerance_seconds: Annotated[int, Field(ge=1, le=3600)] = 300
    """Standard Webhooks timestamp tolerance (replay window), either direction."""

    api_key: SecretStr | None = None
    """WooCommerce consumer key / BigCommerce client id."""
    api_secret: SecretStr | None = None
    """WooCommerce consumer secret."""
    access_token: SecretStr | None = None
    """Shopify Admin API access token / BigCommerce X-Auth-Token."""
    api_base_url: str | None = None
    """Overrides where the channel API is called (a channel sandbox in tests, a proxy)."""
    placed_statuses: frozenset[str] | None = None
    """Override of which channel statuses count as placed: WooCommerce status slugs, BigCommerce
    status names or ids, Shopify financial statuses. None = the channel's default (DESIGN §1)."""

    @model_validator(mode="after")
    def _auth_header_pair(self) -> Connection:
        if (self.webhook_auth_header is None) != (self.webhook_auth_value is None):
            raise ValueError("webhook_auth_header and webhook_auth_value must be set together")
        if self.webhook_auth_header is not None and self.channel != "bigcommerce":
            raise ValueError("webhook_auth_header is only used by BigCommerce connections")
        return self


def signing_secret_problems(connection: Connection) -> list[str]:
    """What is wrong with the connection's webhook signing secrets, one line per key; never the value.

    Not a model validator: the signature checks themselves fail closed on a missing or empty key
    (and are tested that way), while this is the stricter bar for secrets as stored by an operator,
    applied where a stored connection is read (`connections.parse_connection`)."""
    problems: list[str] = []
    for name in SIGNING_SECRET_FIELDS:
        secret: SecretStr | None = getattr(connection, name)
        if secret is None:
            continue
        value = secret.get_secret_value()
        if not value.strip():
            problems.append(f"'{name}' is blank")
        elif value != value.strip():
            # The channel signs with the secret exactly; a pasted space or line break would turn
            # every delivery into a 401 that looks like a forgery.
            problems.append(f"'{name}' has spaces or a line break around it")
        elif len(value) < MIN_WEBHOOK_SECRET_CHARS:
            problems.append(f"'{name}' is shorter than {MIN_WEBHOOK_SECRET_CHARS} characters")
    return problems
