"""Shopify Admin API client (REST for orders and webhooks; GraphQL for what issue 5 adds).

- Auth: `X-Shopify-Access-Token: <token>`. The token is either the connection's static
  `access_token` (a legacy custom app, made in the store admin before 2026), or one obtained with
  the client credentials grant from `client_id` + `client_secret` (an app made in the Dev
  Dashboard since 2026-01-01): `POST /admin/oauth/access_token` (form-encoded `grant_type=
  client_credentials&client_id=..&client_secret=..`) -> `{"access_token", "scope", "expires_in":
  86399}`. Such tokens are cached per connection in this process (`TOKENS`: a warm Lambda
  container reuses them) until `TOKEN_REFRESH_MARGIN_S` before they expire; a 401 makes the
  client forget the token, obtain a new one and send the request once more (once). A refused token
  request (400/401/403) is a `ChannelAuthError` whose fix names the key and the Dev Dashboard step.
  The token request goes to the same base URL as the API calls, never follows a redirect, and
  neither the client secret nor a token is ever logged or quoted.
- Base URL: `https://{store}` (the myshopify.com domain), or `api_base_url`.
- API version: the connection's `api_version`, else `DEFAULT_API_VERSION`; every REST and
  GraphQL path carries it. Each quarterly version is supported for at least 12 months after its
  release (`api_version_support`; the doctor warns outside that window).
- Orders changed since T: `GET /admin/api/{version}/orders.json?status=any&updated_at_min=T
  &limit=250&order=updated_at asc`, then the `Link: <...page_info=...>; rel="next"` cursor (only
  `limit` and `page_info` may accompany a cursor). `updated_at_min` is inclusive. Sorting by
  `updated_at` is not in the REST reference but is accepted (channels.md does not cover it:
  unsure), so the sort is data (`ORDERS_SORT`), and set to None to drop it.
- Events use the adapter itself (`shopify.parse` with the topic `orders/updated` and no event-id
  header), so a polled state's id is `shopify:<conn>:order:orders/updated:<id>@<updated_at>`:
  the same state polled twice dedups. Payments exist only as transactions, so for orders whose
  financial status can carry a captured payment the transactions are fetched and parsed as
  `order_transactions/create` deliveries: the payment's id is the transaction id, identical to
  the webhook's, so a payment seen both ways dedups.
- Rate limits: REST leaky bucket via `X-Shopify-Shop-Api-Call-Limit` (pace when 2 or fewer
  slots are left, at the Standard plan's 2/s leak) and 429 + `Retry-After`; GraphQL cost via
  `extensions.cost.throttleStatus` (THROTTLED answers are retried when the bucket refills; the
  next call waits when the bucket holds less than the last query cost).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal

from intacct_sync.channels import shopify as adapter
from intacct_sync.channels.api.base import ApiSpec, BaseChannelClient, WebhookApi, require
from intacct_sync.channels.api.errors import (
    ChannelAuthError,
    ChannelRequestError,
    ChannelTransientError,
)
from intacct_sync.channels.api.http import (
    ChannelHttp,
    ChannelResponse,
    RateLimitRules,
    graphql_throttled,
    graphql_wait,
    link_next_params,
)
from intacct_sync.channels.api.port import (
    StockRejection,
    StockRow,
    StockWriteOptions,
    WritebackOptions,
    api_order_id,
)
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import (
    DEV_DASHBOARD_SETTINGS,
    SHOPIFY_API_VERSION,
    Connection,
    api_credential_problems,
)
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.retry import Deadline

log = logging.getLogger(__name__)

DEFAULT_API_VERSION: Final = "2026-10"
"""The Admin API version used when a connection sets no `api_version`: released 2026-10-01,
supported until at least 2027-10-01. Raise it (after checking Shopify's release notes against
the calls below) at least once a year; the doctor warns when a connection's version ages out."""
SUPPORT_MONTHS: Final = 12
"""Shopify supports each quarterly Admin API version for at least 12 months after its release."""
CHANGE_FROM_QUANTITY_FROM: Final = "2026-01"
"""First version whose InventoryQuantityInput has `changeFromQuantity` (mandatory from 2026-04,
explicit null = no compare-and-swap); `ignoreCompareQuantity` is gone by 2026-10."""
TOKEN_PATH: Final = "/admin/oauth/access_token"  # noqa: S105 - an endpoint, not a secret
TOKEN_REFRESH_MARGIN_S: Final = 300.0
"""A cached token is renewed this long before `expires_in` runs out (at most a tenth of its life)."""
TOKEN_HEADER: Final = "X-Shopify-Access-Token"  # noqa: S105 - a header name
PAGE_SIZE: Final = 250
ORDERS_SORT: Final[str | None] = "updated_at asc"
POLL_TOPIC: Final = "orders/updated"
TRANSACTION_TOPIC: Final = "order_transactions/create"
TRANSACTION_STATUSES: Final = frozenset({"paid", "partially_paid", "partially_refunded", "refunded"})
"""Financial statuses under which an order can hold a captured payment worth fetching."""
_MAX_PAGES: Final = 100_000
MAX_INPUT: Final = 250
"""Every Shopify GraphQL input array holds at most 250 items (channels.md §1.4)."""
_LOCATION_GID: Final = "gid://shopify/Location/"
_ROW_INDEX: Final = re.compile(r"^\d+$")

ITEMS_QUERY: Final = """
query Items($first: Int!, $after: String) {
  inventoryItems(first: $first, after: $after) {
    nodes { id sku tracked }
    pageInfo { hasNextPage endCursor }
  }
}"""
LOCATIONS_QUERY: Final = """
query { locations(first: 250) { nodes { id name isActive } } }"""
SET_QUANTITIES: Final = """
mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}"""
TAGS_ADD: Final = """
mutation Tag($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { userErrors { field message } } }"""
METAFIELDS_SET: Final = """
mutation Meta($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) { userErrors { field message } }
}"""
ORDER_PAID_STATE: Final = """
query Order($id: ID!) { order(id: $id) { id canMarkAsPaid displayFinancialStatus } }"""
MARK_PAID: Final = """
mutation Paid($input: OrderMarkAsPaidInput!) {
  orderMarkAsPaid(input: $input) { order { id displayFinancialStatus } userErrors { field message } }
}"""

SPEC: Final = ApiSpec(
    channel="shopify",
    default_base_url=None,
    rules=RateLimitRules(call_limit_header="X-Shopify-Shop-Api-Call-Limit", leak_per_s=2.0, reserve=2),
    webhooks=WebhookApi(
        collection_path="/admin/api/{version}/webhooks.json",
        item_path="/admin/api/{version}/webhooks/{webhook_id}.json",
        id_key="id",
        topic_key="topic",
        address_key="address",
        wrap_key="webhook",
        list_params={"limit": PAGE_SIZE},
    ),
    auth_fix=(
        "Check 'access_token' in the connection secret '{id}': the Admin API access token (shpat_...) "
        "of the store's legacy custom app, and 'store' (the xxx.myshopify.com domain). In Shopify admin: "
        "Settings > Apps and sales channels > Develop apps > (the app) > Configuration > Admin API "
        "access scopes: read_orders (plus read_all_orders for orders older than 60 days), "
        "write_orders (writeback), read_inventory, write_inventory and read_locations (stock push); "
        "save, install or reinstall the app, and copy the new token into the secret. An app made in "
        "the Dev Dashboard since 2026 has no such token: put its 'client_id' and 'client_secret' in "
        "the secret instead (README 'Channel setup')."
    ),
)
DEV_DASHBOARD_APP: Final = "Shopify Dev Dashboard > Apps > (the app)"
SCOPES_STEP: Final = (
    f"{DEV_DASHBOARD_APP} > Versions > Create a version with the Admin API scopes "
    "read_orders (plus read_all_orders for orders older than 60 days), write_orders (writeback), "
    "read_inventory, write_inventory and read_locations (stock push); Release it, then approve the new "
    "scopes on the store (the app's Home > Install app / update)"
)
CLIENT_CREDENTIALS_AUTH_FIX: Final = (
    "Check 'client_id' and 'client_secret' in the connection secret '{id}' against "
    f"{DEV_DASHBOARD_SETTINGS}, and the app's access: {SCOPES_STEP}."
)
REQUIRED_SCOPES: Final[Mapping[str, str]] = {
    "read_orders": "orders and refunds (webhooks, poll)",
    "read_all_orders": "orders older than 60 days (a reconcile poll reaching further back)",
    "write_orders": "writeback (tags, metafields, mark as paid)",
    "read_inventory": "stock push (inventory items)",
    "write_inventory": "stock push (inventorySetQuantities)",
    "read_locations": "stock push (locations)",
}
"""Every Admin API scope the product uses, and what for (README 'Channel setup')."""


# ---------------------------------------------------------------------------------------------
# API versions


def api_version_released(version: str) -> date:
    """The day a quarterly version was released (the first day of its month)."""
    match = SHOPIFY_API_VERSION.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not a Shopify Admin API version (YYYY-01/04/07/10)")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class ApiVersionSupport:
    version: str
    status: Literal["supported", "unsupported", "unreleased"]
    released: date
    supported_until: date
    """The first day Shopify no longer promises to serve it (release + 12 months)."""


def api_version_support(version: str, today: date) -> ApiVersionSupport:
    """Where `version` stands on `today`: supported (released, within 12 months), unsupported
    (released more than 12 months ago: Shopify answers with the oldest supported version
    instead) or unreleased (a future version Shopify does not know yet)."""
    released = api_version_released(version)
    until = _add_months(released, SUPPORT_MONTHS)
    status: Literal["supported", "unsupported", "unreleased"]
    if today < released:
        status = "unreleased"
    elif today > until:
        status = "unsupported"
    else:
        status = "supported"
    return ApiVersionSupport(version, status, released, until)


def latest_api_version(today: date) -> str:
    """The newest quarterly version released on or before `today`."""
    month = (today.month - 1) // 3 * 3 + 1
    return f"{today.year:04d}-{month:02d}"


def recommended_api_version(today: date) -> str:
    """The version to set when a connection's is out of the window: this release's default
    while Shopify supports it, else the newest released version."""
    if api_version_support(DEFAULT_API_VERSION, today).status == "supported":
        return DEFAULT_API_VERSION
    return latest_api_version(today)


# ---------------------------------------------------------------------------------------------
# Tokens from the client credentials grant


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    scope: str
    expires_in: float
    valid_until: float
    """Clock time after which the cache renews it (expiry less the refresh margin)."""

    def __repr__(self) -> str:  # never the token
        return f"IssuedToken(scope={self.scope!r}, expires_in={self.expires_in})"

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.scope.split(",") if s.strip())


class TokenCache:
    """Admin API tokens per connection, in this process: a warm Lambda container reuses them
    across invocations. Thread-safe; one token request per connection at a time (the others
    wait for its answer). Wall-clock time, since a token's life is real time."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        margin_s: float = TOKEN_REFRESH_MARGIN_S,
        max_entries: int = 1000,
    ) -> None:
        self._clock = clock
        self.margin_s = margin_s
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}
        self._key_locks: dict[str, threading.Lock] = {}

    def size(self) -> int:
        """How many connections have a token cached (not `__len__`: an empty cache is still a cache)."""
        with self._lock:
            return len(self._tokens)

    def valid_until(self, expires_in: float) -> float:
        return self._clock() + expires_in - min(self.margin_s, expires_in / 10)

    def peek(self, key: str) -> IssuedToken | None:
        """The cached token, valid or not (for redaction)."""
        with self._lock:
            return self._tokens.get(key)

    def _valid(self, key: str) -> IssuedToken | None:
        with self._lock:
            token = self._tokens.get(key)
            return token if token is not None and self._clock() < token.valid_until else None

    def get(self, key: str, obtain: Callable[[], IssuedToken], *, wait_s: float) -> IssuedToken:
        """The valid cached token of `key`, else the one `obtain` returns (then cached)."""
        token = self._valid(key)
        if token is not None:
            return token
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        if not key_lock.acquire(timeout=max(wait_s, 0.0)):
            raise ChannelTransientError(
                "shopify access token not obtained in time: another request of this connection is still asking for one",
                channel="shopify",
            )
        try:
            token = self._valid(key)  # obtained by another thread while this one waited
            if token is not None:
                return token
            token = obtain()
            with self._lock:
                self._tokens[key] = token
                if len(self._tokens) > self.max_entries:
                    oldest = min(self._tokens, key=lambda k: self._tokens[k].valid_until)
                    del self._tokens[oldest]
                    self._key_locks.pop(oldest, None)
            return token
        finally:
            key_lock.release()

    def forget(self, key: str, access_token: str | None = None) -> None:
        """Drop `key`'s token; with `access_token`, only if it is still that one (a token another
        request renewed meanwhile is kept)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and (access_token is None or token.access_token == access_token):
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._key_locks.clear()


TOKENS = TokenCache()
"""The process-wide cache (module level: it outlives one invocation in a warm container)."""


def _oauth_text(data: object, field: str) -> str:
    value = data.get(field) if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


class ClientCredentials:
    """`TokenAuth` of a Dev Dashboard app: the client credentials grant, cached in `cache`."""

    def __init__(self, connection: Connection, client_id: str, client_secret: str, cache: TokenCache) -> None:
        self.connection_id = connection.id
        self.store = connection.store
        self._client_id = client_id
        self._client_secret = client_secret
        self.cache = cache
        # Per connection, address and app; the secret enters only as a digest, so a rotated
        # secret gets its own token and the key never holds the secret itself.
        digest = hashlib.sha256(client_secret.encode()).hexdigest()[:16]
        self.key = "|".join((connection.id, connection.api_base_url or connection.store, client_id, digest))

    def __repr__(self) -> str:
        return f"ClientCredentials(connection={self.connection_id!r})"

    def headers(self, http: ChannelHttp, deadline: Deadline) -> Mapping[str, str]:
        token = self.cache.get(self.key, lambda: self.exchange(http, deadline), wait_s=deadline.remaining())
        return {TOKEN_HEADER: token.access_token}

    def renew(self, refused: Mapping[str, str]) -> None:
        self.cache.forget(self.key, refused.get(TOKEN_HEADER))

    def secrets(self) -> Iterable[str]:
        token = self.cache.peek(self.key)
        return (self._client_secret, token.access_token) if token is not None else (self._client_secret,)

    def exchange(self, http: ChannelHttp, deadline: Deadline) -> IssuedToken:
        """One token request (retried on connect failures, 5xx and 429 like any idempotent call:
        asking again only issues another token)."""
        response = http.request(
            "POST",
            TOKEN_PATH,
            form_body={
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
            deadline=deadline,
            idempotent=True,
            authenticate=False,
            refine=functools.partial(self._refused, http),
        )
        data = response.data if isinstance(response.data, dict) else {}
        token = data.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise ChannelRequestError(
                f"shopify POST {TOKEN_PATH} answered HTTP {response.status} without an access_token",
                channel="shopify",
                status=response.status,
                fix=f"Check 'store' (and 'api_base_url', if set) in the connection secret '{self.connection_id}': "
                "the address must be the store's own (xxx.myshopify.com).",
            )
        raw_expiry = data.get("expires_in")
        expires_in = (
            float(raw_expiry)
            if isinstance(raw_expiry, int | float | Decimal | str) and _positive(raw_expiry)
            else 3600.0  # no expiry given: ask again within the hour rather than trust it forever
        )
        scope = _oauth_text(data, "scope")
        log.info(
            "shopify access token obtained",
            extra={"channel": "shopify", "connection_id": self.connection_id, "scope": scope, "expires_in": expires_in},
        )
        return IssuedToken(token, scope, expires_in, self.cache.valid_until(expires_in))

    def _refused(self, http: ChannelHttp, status: int, data: object, error: Exception) -> Exception:
        """A refused token request: a configuration error naming the key and the Dev Dashboard step."""
        if status not in (400, 401, 403):
            return error
        code = _oauth_text(data, "error")
        said = http.redact(" ".join(p for p in (code, _oauth_text(data, "error_description")) if p))
        detail = f" ({said})" if said else ""
        secret_name = f"the connection secret '{self.connection_id}'"
        if code == "app_not_installed" or "not installed" in said.lower():
            fix = (
                f"Install the app on the store '{self.store}': {DEV_DASHBOARD_APP} > Versions: release a version "
                "with the Admin API scopes, then the app's Home > Install app and choose this store. Check that "
                f"'store' in {secret_name} names that store (xxx.myshopify.com)."
            )
        elif code in ("invalid_client", "unauthorized_client") or status == 401:
            fix = (
                f"Copy the Client ID into 'client_id' and the Client secret into 'client_secret' of {secret_name} "
                f"from {DEV_DASHBOARD_SETTINGS} (after a rotation: the new secret). The app must belong to the "
                "organization that owns the store."
            )
        elif code == "invalid_scope" or status == 403:
            fix = f"Give the app its Admin API access: {SCOPES_STEP}."
        else:
            fix = (
                f"Check 'client_id' and 'client_secret' in {secret_name} ({DEV_DASHBOARD_SETTINGS}). The client "
                "credentials grant only serves an app made in the Dev Dashboard by the store's own organization "
                f"and installed on the store; a legacy custom app keeps its 'access_token' instead. {SCOPES_STEP}."
            )
        return ChannelAuthError(
            f"shopify POST {TOKEN_PATH} refused the client credentials: HTTP {status}{detail}",
            channel="shopify",
            status=status,
            fix=fix,
        )


def _positive(value: object) -> bool:
    try:
        number = float(str(value))
    except ValueError:
        return False
    return 0 < number < 10**9


class ShopifyClient(BaseChannelClient):
    spec: ClassVar[ApiSpec] = SPEC
    max_page_size: ClassVar[int] = PAGE_SIZE
    max_stock_batch: ClassVar[int] = MAX_INPUT

    def __init__(
        self,
        connection: Connection,
        *,
        api_version: str | None = None,
        fetch_transactions: bool = True,
        token_cache: TokenCache | None = None,
        **options: Any,
    ) -> None:
        """`api_version` overrides the connection's (default `DEFAULT_API_VERSION`);
        `token_cache` replaces the process-wide `TOKENS` (tests)."""
        version = api_version or connection.api_version or DEFAULT_API_VERSION
        if not SHOPIFY_API_VERSION.match(version):
            raise ConfigurationError(
                f"{version!r} is not a Shopify Admin API version.",
                fix=f"Set 'api_version' in the connection secret '{connection.id}' to YYYY-01/04/07/10 "
                f'(e.g. "{DEFAULT_API_VERSION}"), or leave it out for the current default.',
            )
        self.api_version = version
        self.fetch_transactions = fetch_transactions
        self._token_cache = token_cache if token_cache is not None else TOKENS
        self._credentials: ClientCredentials | None = None
        super().__init__(connection, **options)
        if self._credentials is not None:
            self.http.auth_fix = CLIENT_CREDENTIALS_AUTH_FIX.replace("{id}", connection.id)

    def _auth(self, connection: Connection) -> dict[str, Any]:
        problems = api_credential_problems(connection)
        if problems:
            raise ConfigurationError(
                f"Connection '{connection.id}' (shopify) has unusable API credentials: "
                f"{'; '.join(p.problem for p in problems)}.",
                fix=" ".join(dict.fromkeys(p.fix for p in problems)),
            )
        if connection.shopify_auth == "client_credentials":
            # Both are there: api_credential_problems refuses half a pair.
            (client_secret,) = require(connection, "client_secret")
            self._credentials = ClientCredentials(
                connection, connection.client_id or "", client_secret, self._token_cache
            )
            return {"token_auth": self._credentials}
        if connection.shopify_auth is None:
            raise ConfigurationError(
                f"Connection '{connection.id}' (shopify) has no Admin API credentials.",
                fix=f"Add 'client_id' and 'client_secret' (an app made in the Dev Dashboard: "
                f"{DEV_DASHBOARD_SETTINGS}) to the connection secret '{connection.id}', or 'access_token' for a "
                "legacy custom app made in the store admin before 2026 (README 'Channel setup').",
            )
        (token,) = require(connection, "access_token")
        return {"auth_headers": {TOKEN_HEADER: token}}

    @property
    def uses_client_credentials(self) -> bool:
        return self._credentials is not None

    def obtain_token(self, *, deadline: Deadline, fresh: bool = False) -> IssuedToken | None:
        """The Admin API token of a client-credential connection (None for a static
        `access_token`); `fresh` forgets the cached one first, so the exchange itself is proved
        (the doctor). Raises ChannelAuthError with the fix when Shopify refuses it."""
        if self._credentials is None:
            return None
        credentials = self._credentials
        if fresh:
            self._token_cache.forget(credentials.key)
        return self._token_cache.get(
            credentials.key, lambda: credentials.exchange(self.http, deadline), wait_s=deadline.remaining()
        )

    def _path_params(self) -> dict[str, str | int]:
        return {"version": self.api_version}

    # --- paging ------------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        *,
        params: Mapping[str, str | int],
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
    ) -> Iterator[list[Any]]:
        """Link-header cursor paging; the items are under the resource's name (`orders`)."""
        key = path.rsplit("/", 1)[-1].removesuffix(".json")
        query: Mapping[str, str | int] = params
        seen_cursors: set[str] = set()
        for _ in range(_MAX_PAGES):
            response = self.http.request(
                "GET",
                path,
                path_params={**self._path_params(), **(path_params or {})},
                params=query,
                deadline=deadline,
            )
            data = response.data
            items = data.get(key) if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ChannelRequestError(
                    f"shopify GET {path} answered without a '{key}' list",
                    channel="shopify",
                    status=response.status,
                )
            yield items
            following = link_next_params(response.headers.get("link"))
            cursor = (following or {}).get("page_info")
            if not following or not cursor or cursor in seen_cursors:
                return
            seen_cursors.add(cursor)
            # With a cursor only limit (and fields) may be sent: the filters live in the cursor.
            query = {k: v for k, v in following.items() if k in ("page_info", "limit", "fields")}

    # --- orders ------------------------------------------------------------------------------

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]:
        params: dict[str, str | int] = {
            "status": "any",
            "updated_at_min": since.astimezone(UTC).isoformat(),
            "limit": self.page_size,
        }
        if ORDERS_SORT:
            params["order"] = ORDERS_SORT
        for page in self._pages("/admin/api/{version}/orders.json", params=params, deadline=deadline):
            for order in page:
                yield from self._polled(order, functools.partial(self._order_events, order, deadline))

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]:
        order_id = api_order_id("shopify", order_id)
        response = self.http.request(
            "GET",
            "/admin/api/{version}/orders/{order_id}.json",
            path_params={**self._path_params(), "order_id": order_id},
            deadline=deadline,
        )
        order = response.data.get("order") if isinstance(response.data, dict) else None
        if not isinstance(order, dict):
            raise ChannelRequestError(
                "shopify GET /admin/api/{version}/orders/{order_id}.json answered without an 'order'",
                channel="shopify",
                status=response.status,
            )
        return self._order_events(order, deadline)

    def _order_events(self, order: dict[str, Any], deadline: Deadline) -> list[CanonicalEvent]:
        events = _as_delivery(POLL_TOPIC, order, self.connection)
        if self.fetch_transactions and order.get("financial_status") in TRANSACTION_STATUSES:
            for transaction in self._transactions(str(order.get("id")), deadline):
                events.extend(_as_delivery(TRANSACTION_TOPIC, transaction, self.connection))
        return events

    def _transactions(self, order_id: str, deadline: Deadline) -> list[Any]:
        order_id = api_order_id("shopify", order_id)
        # Not paginated by Shopify: one answer holds every transaction of the order.
        response = self.http.request(
            "GET",
            "/admin/api/{version}/orders/{order_id}/transactions.json",
            path_params={**self._path_params(), "order_id": order_id},
            deadline=deadline,
        )
        items = response.data.get("transactions") if isinstance(response.data, dict) else None
        return items if isinstance(items, list) else []

    # --- GraphQL (stock push, writeback: issue 5) --------------------------------------------

    def graphql(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        deadline: Deadline,
        idempotent: bool = True,
        planned_cost: float | None = None,
    ) -> dict[str, Any]:
        """POST one GraphQL operation; returns the decoded answer (`data`, `errors`, `extensions`).

        A THROTTLED answer (status 200 or 429) is retried when the bucket has refilled enough,
        within the deadline. `idempotent=False` (a mutation without an @idempotent key) stops a
        lost answer from being re-sent. After the answer, the next call to this store waits if the
        bucket holds less than `planned_cost` (default: this query's cost).
        """

        def throttled(response: ChannelResponse) -> float | None:
            if graphql_throttled(response.data):
                return max(graphql_wait(response.data), 1.0)
            return None

        response = self.http.request(
            "POST",
            "/admin/api/{version}/graphql.json",
            path_params=self._path_params(),
            json_body={"query": query, "variables": dict(variables or {})},
            deadline=deadline,
            idempotent=idempotent,
            check=throttled,
        )
        self.http.hold(graphql_wait(response.data, planned_cost=planned_cost))
        if not isinstance(response.data, dict):
            raise ChannelRequestError("shopify GraphQL answered without a JSON object", channel="shopify")
        return response.data

    def _data(self, answer: Mapping[str, Any], root: str, what: str) -> dict[str, Any]:
        """`data.<root>` of an answer; top-level errors are a ChannelRequestError."""
        data = answer.get("data")
        node = data.get(root) if isinstance(data, dict) else None
        if answer.get("errors") or not isinstance(node, dict):
            raise ChannelRequestError(
                f"shopify GraphQL {what} failed: {self.http.redact(_gql_errors(answer))}", channel="shopify"
            )
        return node

    def _user_errors(self, payload: Mapping[str, Any], what: str) -> None:
        errors = payload.get("userErrors") or []
        if errors:
            text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
            raise ChannelRequestError(f"shopify {what} refused: {self.http.redact(text)}", channel="shopify")

    # --- stock push --------------------------------------------------------------------------

    def stock_location_key(self, value: str) -> str:
        text = value.strip()
        number = text.removeprefix(_LOCATION_GID)
        if not number.isdigit():
            raise ConfigurationError(
                f"{value!r} is not a Shopify location id.",
                fix="Use the location's numeric id (Settings > Locations, the number in the URL) or its "
                "gid://shopify/Location/<id>.",
            )
        return _LOCATION_GID + number

    def stock_locations(self, *, deadline: Deadline) -> dict[str, str]:
        node = self._data(self.graphql(LOCATIONS_QUERY, deadline=deadline), "locations", "locations")
        return {
            str(n["id"]): str(n.get("name") or "")
            for n in node.get("nodes") or []
            if isinstance(n, dict) and n.get("isActive", True)
        }

    def crawl_stock_targets(self, cursor: str | None, *, deadline: Deadline) -> tuple[dict[str, list[str]], str | None]:
        answer = self.graphql(ITEMS_QUERY, {"first": self.max_stock_batch, "after": cursor}, deadline=deadline)
        node = self._data(answer, "inventoryItems", "inventoryItems")
        targets: dict[str, list[str]] = {}
        for item in node.get("nodes") or []:
            # An untracked item has no stock figure to set: it is left out (reported unknown).
            if isinstance(item, dict) and item.get("sku") and item.get("tracked"):
                targets.setdefault(str(item["sku"]), []).append(str(item["id"]))
        info = node.get("pageInfo") or {}
        following = info.get("endCursor") if info.get("hasNextPage") else None
        return targets, str(following) if following else None

    def write_stock(
        self, batch: Sequence[StockRow], *, options: StockWriteOptions, deadline: Deadline
    ) -> list[StockRejection]:
        """inventorySetQuantities, force-set (no compare-and-swap: Intacct is the source of truth;
        `set_quantities_input` gives the form per API version). Shopify rejects the whole call
        when any row has a userError: the rows named are reported and the others sent once more
        (a new key: other content)."""
        rows = list(batch)
        rejected: list[StockRejection] = []
        for _ in range(2):
            if not rows:
                break
            errors = self._set_quantities(rows, options, deadline)
            if not errors:
                return rejected
            bad: dict[int, str] = {}
            for error in errors:
                index = _row_index(error.get("field"))
                message = self.http.redact(str(error.get("code") or error.get("message") or "refused"))
                if index is None or not 0 <= index < len(rows):
                    return rejected + [StockRejection(r, message) for r in rows]
                bad[index] = message
            rejected.extend(StockRejection(rows[i], reason) for i, reason in sorted(bad.items()))
            rows = [r for i, r in enumerate(rows) if i not in bad]
        return rejected + [StockRejection(r, "refused twice") for r in rows] if rows else rejected

    def _set_quantities(
        self, rows: Sequence[StockRow], options: StockWriteOptions, deadline: Deadline
    ) -> list[dict[str, Any]]:
        payload = set_quantities_input(rows, options, self.api_version)
        answer = self.graphql(
            SET_QUANTITIES, {"input": payload, "key": idempotency_key(options.run_id, payload)}, deadline=deadline
        )
        node = self._data(answer, "inventorySetQuantities", "inventorySetQuantities")
        return [e for e in node.get("userErrors") or [] if isinstance(e, dict)]

    # --- writeback ---------------------------------------------------------------------------

    def write_document_number(
        self, order_id: str, document_number: str, *, options: WritebackOptions, deadline: Deadline
    ) -> None:
        gid = f"gid://shopify/Order/{api_order_id('shopify', order_id)}"
        if options.shopify_tag_prefix is not None:
            tag = f"{options.shopify_tag_prefix}{document_number}"
            answer = self.graphql(TAGS_ADD, {"id": gid, "tags": [tag]}, deadline=deadline)
            self._user_errors(self._data(answer, "tagsAdd", "tagsAdd"), "tagsAdd")
        if options.shopify_metafield is not None:
            namespace, key = options.shopify_metafield
            field_ = {
                "ownerId": gid,
                "namespace": namespace,
                "key": key,
                "type": "single_line_text_field",
                "value": document_number,
            }
            answer = self.graphql(METAFIELDS_SET, {"metafields": [field_]}, deadline=deadline)
            self._user_errors(self._data(answer, "metafieldsSet", "metafieldsSet"), "metafieldsSet")

    def mark_paid(self, order_id: str, *, options: WritebackOptions, deadline: Deadline) -> None:
        gid = f"gid://shopify/Order/{api_order_id('shopify', order_id)}"
        state = self._data(self.graphql(ORDER_PAID_STATE, {"id": gid}, deadline=deadline), "order", "order")
        if not state.get("canMarkAsPaid"):
            return  # already paid (or nothing to pay): nothing to do
        answer = self.graphql(MARK_PAID, {"input": {"id": gid}}, deadline=deadline)
        self._user_errors(self._data(answer, "orderMarkAsPaid", "orderMarkAsPaid"), "orderMarkAsPaid")

    # --- webhooks ----------------------------------------------------------------------------

    def _webhook_body(self, url: str, topic: str, secret: str | None) -> dict[str, Any]:
        # Shopify signs every delivery with the app's client secret: `secret` is not sent.
        return {"webhook": {"topic": topic, "address": url, "format": "json"}}


def set_quantities_input(rows: Sequence[StockRow], options: StockWriteOptions, api_version: str) -> dict[str, Any]:
    """The InventorySetQuantitiesInput of a force-set, in the form `api_version` accepts: from
    2026-01 every row carries `changeFromQuantity: null` (mandatory from 2026-04; null = no
    compare-and-swap) and `ignoreCompareQuantity` is left out (removed by 2026-10); before,
    `ignoreCompareQuantity: true`."""
    quantities: list[dict[str, Any]] = [
        {"inventoryItemId": r.target, "locationId": r.location, "quantity": r.quantity} for r in rows
    ]
    payload: dict[str, Any] = {
        "name": options.shopify_quantity_name,
        "reason": options.shopify_reason,
        "referenceDocumentUri": f"{options.shopify_reference_uri}/{options.run_id or 'run'}",
    }
    if api_version >= CHANGE_FROM_QUANTITY_FROM:
        for row in quantities:
            row["changeFromQuantity"] = None
    else:
        payload["ignoreCompareQuantity"] = True
    payload["quantities"] = quantities
    return payload


def _as_delivery(topic: str, body: object, connection: Connection) -> list[CanonicalEvent]:
    """Events for a REST resource, exactly as the webhook adapter makes them for `topic` (no
    event-id header, so ids come from the resource's own identity and version)."""
    raw = json.dumps(body, default=str).encode()
    return adapter.parse({adapter.SPEC.topic_headers[0]: topic}, raw, connection)


def idempotency_key(run_id: str, payload: Mapping[str, Any]) -> str:
    """A UUID derived from the run and the exact mutation input: a re-send of the same batch
    in the same run is deduplicated by Shopify; other content gets another key."""
    digest = hashlib.sha256(json.dumps([run_id, payload], sort_keys=True, default=str).encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _row_index(field_path: object) -> int | None:
    """The row a userError names: field ["input", "quantities", "3", "locationId"] -> 3."""
    if not isinstance(field_path, list):
        return None
    parts = [str(p) for p in field_path]
    if "quantities" in parts:
        after = parts[parts.index("quantities") + 1 : parts.index("quantities") + 2]
        if after and _ROW_INDEX.match(after[0]):
            return int(after[0])
    return None


def _gql_errors(answer: Mapping[str, Any]) -> str:
    errors = answer.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e.get("message")) if isinstance(e, dict) else str(e) for e in errors)[:300]
    return "no data"
