"""A connection: one store on one channel, as stored in its own Secrets Manager secret.

Secrets are `SecretStr`: they print as '**********' in repr, str, logs and JSON dumps, and
validation errors never echo input values. Call `.get_secret_value()` only where the secret is used.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints, model_validator

from intacct_sync.models.order import Channel, Frozen

ConnectionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]


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
