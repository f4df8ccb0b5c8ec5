"""Shopify Admin API client (REST for orders and webhooks; GraphQL for what issue 5 adds).

- Auth: `X-Shopify-Access-Token: <access_token>` (a custom app's Admin API token).
- Base URL: `https://{store}` (the myshopify.com domain), or `api_base_url`.
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

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from intacct_sync.channels import shopify as adapter
from intacct_sync.channels.api.base import ApiSpec, BaseChannelClient, WebhookApi, require
from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.http import (
    ChannelResponse,
    RateLimitRules,
    graphql_throttled,
    graphql_wait,
    link_next_params,
)
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.retry import Deadline

API_VERSION: Final = "2025-10"
PAGE_SIZE: Final = 250
ORDERS_SORT: Final[str | None] = "updated_at asc"
POLL_TOPIC: Final = "orders/updated"
TRANSACTION_TOPIC: Final = "order_transactions/create"
TRANSACTION_STATUSES: Final = frozenset({"paid", "partially_paid", "partially_refunded", "refunded"})
"""Financial statuses under which an order can hold a captured payment worth fetching."""
_MAX_PAGES: Final = 100_000

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
        "of the store's custom app, and 'store' (the xxx.myshopify.com domain). In Shopify admin: "
        "Settings > Apps and sales channels > Develop apps > (the app) > Configuration > Admin API "
        "access scopes: read_orders (plus read_all_orders for orders older than 60 days), "
        "write_orders (writeback), read_inventory, write_inventory and read_locations (stock push); "
        "save, install or reinstall the app, and copy the new token into the secret."
    ),
)


class ShopifyClient(BaseChannelClient):
    spec: ClassVar[ApiSpec] = SPEC
    max_page_size: ClassVar[int] = PAGE_SIZE

    def __init__(
        self,
        connection: Connection,
        *,
        api_version: str = API_VERSION,
        fetch_transactions: bool = True,
        **options: Any,
    ) -> None:
        self.api_version = api_version
        self.fetch_transactions = fetch_transactions
        super().__init__(connection, **options)

    def _auth(self, connection: Connection) -> dict[str, Any]:
        (token,) = require(connection, "access_token")
        return {"auth_headers": {"X-Shopify-Access-Token": token}}

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
                yield from self._order_events(order, deadline)

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]:
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

    # --- webhooks ----------------------------------------------------------------------------

    def _webhook_body(self, url: str, topic: str, secret: str | None) -> dict[str, Any]:
        # Shopify signs every delivery with the app's client secret: `secret` is not sent.
        return {"webhook": {"topic": topic, "address": url, "format": "json"}}


def _as_delivery(topic: str, body: object, connection: Connection) -> list[CanonicalEvent]:
    """Events for a REST resource, exactly as the webhook adapter makes them for `topic` (no
    event-id header, so ids come from the resource's own identity and version)."""
    raw = json.dumps(body, default=str).encode()
    return adapter.parse({adapter.SPEC.topic_headers[0]: topic}, raw, connection)
