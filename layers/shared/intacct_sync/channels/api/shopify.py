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

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
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
from intacct_sync.channels.api.port import (
    StockRejection,
    StockRow,
    StockWriteOptions,
    WritebackOptions,
    api_order_id,
)
from intacct_sync.errors import ConfigurationError
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
    max_stock_batch: ClassVar[int] = MAX_INPUT

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
        """inventorySetQuantities, force-set (ignoreCompareQuantity: Intacct is the source of
        truth). Shopify rejects the whole call when any row has a userError: the rows named are
        reported and the others sent once more (a new key: other content)."""
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
        payload = {
            "name": options.shopify_quantity_name,
            "reason": options.shopify_reason,
            "referenceDocumentUri": f"{options.shopify_reference_uri}/{options.run_id or 'run'}",
            "ignoreCompareQuantity": True,
            "quantities": [
                {"inventoryItemId": r.target, "locationId": r.location, "quantity": r.quantity} for r in rows
            ],
        }
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
