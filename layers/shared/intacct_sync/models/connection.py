"""A connection: one store on one channel, as stored in its own Secrets Manager secret.

Secrets are `SecretStr`: they print as '**********' in repr, str, logs and JSON dumps, and
validation errors never echo input values. Call `.get_secret_value()` only where the secret is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

from intacct_sync.models.order import Channel, Frozen

ConnectionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]

MIN_WEBHOOK_SECRET_CHARS = 16
"""Shortest webhook signing secret a stored connection may carry. Real ones are much longer
(Shopify 'shpss_...' app client secrets, WooCommerce's generated webhook secrets, BigCommerce client
secrets and Standard Webhooks 'whsec_' keys run to dozens of characters): a shorter value is a
placeholder or a truncated paste, and as an HMAC key it would be guessable."""

SIGNING_SECRET_FIELDS = ("webhook_secret", "previous_webhook_secret")

SHOPIFY_API_VERSION: Final = re.compile(r"^(\d{4})-(01|04|07|10)$")
"""A Shopify Admin API version: quarterly, YYYY-01/04/07/10 (channels.md 1.x)."""
SHOPIFY_ONLY_FIELDS: Final = ("client_id", "client_secret", "api_version")
DEV_DASHBOARD_SETTINGS: Final = "Shopify Dev Dashboard > Apps > (the app) > Settings"


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
    """Shopify Admin API access token of a legacy custom app (shpat_...) / BigCommerce X-Auth-Token."""
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    """Shopify app made in the Dev Dashboard (since 2026): its Client ID. With `client_secret`, the
    Admin API token is obtained with the client credentials grant (24 h tokens) instead of
    `access_token`."""
    client_secret: SecretStr | None = None
    """Shopify Dev Dashboard app: its Client secret (shpss_...). Shopify signs the app's webhooks
    with it too, so it verifies them when `webhook_secret` is absent."""
    api_version: str | None = None
    """Shopify Admin API version (YYYY-MM, MM one of 01/04/07/10) for every REST and GraphQL call;
    None = the client's current default (`channels.api.shopify.DEFAULT_API_VERSION`)."""
    api_base_url: str | None = None
    """Overrides where the channel API is called (a channel sandbox in tests, a proxy)."""
    placed_statuses: frozenset[str] | None = None
    """Override of which channel statuses count as placed: WooCommerce status slugs, BigCommerce
    status names or ids, Shopify financial statuses. None = the channel's default (DESIGN §1)."""
    stripe_secret_key: SecretStr | None = None
    """WooCommerce / BigCommerce stores taking card payments through Stripe: a Stripe secret key
    (sk_...) or restricted key (rk_..., read access to Balance and Payouts) the payouts job reads the
    Stripe payouts with (`intacct_sync.payouts.stripe`). Never logged."""
    stripe_api_base_url: str | None = None
    """Overrides https://api.stripe.com (the channel sandbox in tests); https, or http on localhost."""
    intacct_entity_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    """Multi-entity Intacct companies: the entity (its location ID) every document of this store
    is posted in; the consumers sign in to it (login `locationid`). None or blank: the Intacct
    secret's `entity_id` (the top level when that is absent too)."""

    @field_validator("intacct_entity_id")
    @classmethod
    def _blank_entity_is_default(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("api_version")
    @classmethod
    def _api_version_format(cls, value: str | None) -> str | None:
        if value is not None and not SHOPIFY_API_VERSION.match(value):
            # The value is not a secret: naming the expected form is the fix.
            raise ValueError(
                'must be a Shopify Admin API version YYYY-MM with MM one of 01, 04, 07 or 10 (e.g. "2026-10"), '
                "or be left out for the current default"
            )
        return value

    @model_validator(mode="after")
    def _auth_header_pair(self) -> Connection:
        if (self.webhook_auth_header is None) != (self.webhook_auth_value is None):
            raise ValueError("webhook_auth_header and webhook_auth_value must be set together")
        if self.webhook_auth_header is not None and self.channel != "bigcommerce":
            raise ValueError("webhook_auth_header is only used by BigCommerce connections")
        return self

    @model_validator(mode="after")
    def _stripe_key(self) -> Connection:
        if self.stripe_secret_key is None:
            if self.stripe_api_base_url is not None:
                raise ValueError("stripe_api_base_url is set without stripe_secret_key")
            return self
        if self.channel == "shopify":
            raise ValueError("stripe_secret_key: only used by WooCommerce and BigCommerce connections")
        if not self.stripe_secret_key.get_secret_value().startswith(("sk_", "rk_")):
            # The value is a secret: only its expected form is named.
            raise ValueError("stripe_secret_key must be a Stripe secret key (sk_...) or restricted key (rk_...)")
        return self

    @model_validator(mode="after")
    def _shopify_only(self) -> Connection:
        used = [name for name in SHOPIFY_ONLY_FIELDS if getattr(self, name) is not None]
        if used and self.channel != "shopify":
            extra = (
                " (a BigCommerce app's client secret goes in webhook_secret, its client id in api_key)"
                if self.channel == "bigcommerce"
                else ""
            )
            raise ValueError(f"{', '.join(used)}: only used by Shopify connections{extra}")
        return self

    @property
    def shopify_auth(self) -> Literal["client_credentials", "access_token"] | None:
        """How a Shopify connection reaches the Admin API: a Dev Dashboard app's client
        credentials, a legacy static token, or None when it has neither (webhooks only)."""
        if self.client_id is not None or self.client_secret is not None:
            return "client_credentials"
        if self.access_token is not None:
            return "access_token"
        return None

    @property
    def signing_secrets(self) -> tuple[SecretStr, ...]:
        """The keys a Shopify delivery may be signed with: `webhook_secret` (and
        `previous_webhook_secret` during a rotation); without `webhook_secret`, a Dev Dashboard
        app's `client_secret`, since Shopify signs that app's webhooks with it."""
        primary = self.webhook_secret
        if primary is None and self.channel == "shopify":
            primary = self.client_secret
        return tuple(s for s in (primary, self.previous_webhook_secret) if s is not None)


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


@dataclass(frozen=True)
class CredentialProblem:
    """One thing wrong with a connection's API credentials: what (naming the key, never the
    value) and the fix."""

    problem: str
    fix: str


def _secret_shape(name: str, value: str, *, min_chars: int | None) -> str | None:
    if not value.strip():
        return f"'{name}' is blank"
    if value != value.strip():
        return f"'{name}' has spaces or a line break around it"
    if min_chars is not None and len(value) < min_chars:
        return f"'{name}' is shorter than {min_chars} characters"
    return None


def api_credential_problems(connection: Connection) -> list[CredentialProblem]:
    """What is wrong with a Shopify connection's Admin API credentials as stored: half a
    client-credential pair, both ways at once, or a pasted value with spaces around it. A
    connection with no API credentials at all is not a problem here (webhook intake needs none);
    the API client refuses it when an API call is made (`ShopifyClient`)."""
    if connection.channel != "shopify":
        return []
    problems: list[CredentialProblem] = []
    copy_both = f"Copy the Client ID and the Client secret from {DEV_DASHBOARD_SETTINGS}"
    has_id, has_secret = connection.client_id is not None, connection.client_secret is not None
    if has_id and not has_secret:
        problems.append(
            CredentialProblem(
                "'client_id' is set without 'client_secret'",
                f"{copy_both} into 'client_id' and 'client_secret'; or remove 'client_id' if the store still uses "
                "a legacy custom app's 'access_token'.",
            )
        )
    if has_secret and not has_id:
        problems.append(
            CredentialProblem(
                "'client_secret' is set without 'client_id'",
                f"{copy_both} into 'client_id' and 'client_secret'; or remove 'client_secret' if the store still "
                "uses a legacy custom app's 'access_token'.",
            )
        )
    if (has_id or has_secret) and connection.access_token is not None:
        problems.append(
            CredentialProblem(
                "'access_token' and 'client_id'/'client_secret' are both set; a connection uses one way to reach "
                "the Admin API",
                "Keep 'client_id' + 'client_secret' for an app made in the Dev Dashboard and remove 'access_token'; "
                "or keep 'access_token' for a legacy custom app and remove 'client_id' and 'client_secret'.",
            )
        )
    if connection.client_id is not None:
        shape = _secret_shape("client_id", connection.client_id, min_chars=None)
        if shape:
            problems.append(
                CredentialProblem(shape, f"Paste the Client ID exactly as {DEV_DASHBOARD_SETTINGS} shows it.")
            )
    if connection.client_secret is not None:
        shape = _secret_shape(
            "client_secret", connection.client_secret.get_secret_value(), min_chars=MIN_WEBHOOK_SECRET_CHARS
        )
        if shape:
            problems.append(
                CredentialProblem(
                    shape,
                    f"Paste the Client secret (shpss_...) exactly as {DEV_DASHBOARD_SETTINGS} shows it, with nothing "
                    f"around it; real ones are at least {MIN_WEBHOOK_SECRET_CHARS} characters long.",
                )
            )
    if connection.access_token is not None:
        shape = _secret_shape("access_token", connection.access_token.get_secret_value(), min_chars=None)
        if shape:
            problems.append(
                CredentialProblem(
                    shape, "Paste the Admin API access token (shpat_...) exactly, with nothing around it."
                )
            )
    return problems
