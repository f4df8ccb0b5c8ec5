"""BigCommerce REST API client (v2 orders, v3 transactions and hooks).

- Auth: `X-Auth-Token: <access_token>` of a store-level API account; `store` is the store hash.
- Base URL: `https://api.bigcommerce.com` (or `api_base_url`), paths under `/stores/{store}`.
- Orders changed since T: `GET /v2/orders?min_date_modified=T&sort=date_modified:asc&limit=250
  &page=N` until an empty page (v2 answers 204 No Content) or a short one. Each order becomes an
  `OrderReferenceEvent` (scope store/order/updated, `updated_at` = date_modified) with id
  `bigcommerce:<conn>:poll:<order id>:<date_modified>`: the same state polled twice dedups, and
  the consumer fetches the full order (`fetch_order_events`), so the poll costs one call a page.
- Full order: `/v2/orders/{id}`, `/v2/orders/{id}/products`, `/shipping_addresses` and `/taxes`
  (paged, 250 a page), `/v3/orders/{id}/transactions` and `/v3/orders/{id}/payment_actions/refunds`
  (v3) -> `bigcommerce.order_events`: the order, its payments and its refunds, so a
  store/order/refund/created callback reaches Intacct as the refund the API shows.
- Rate limits: the store's quota is shared by every app; when `X-Rate-Limit-Requests-Left` falls
  to 2 or fewer, the next request waits `X-Rate-Limit-Time-Reset-Ms`; a 429 waits
  `Retry-After` or `X-Rate-Limit-Time-Reset-Ms`, and without either, the backoff.
- Webhooks: `/v3/hooks` (`scope`, `destination`, `is_active`, `headers`); the connection's
  `webhook_auth_header`/`webhook_auth_value` go in `headers`. A hook BigCommerce deactivated
  (after ~48 h of failures) or one missing the auth header is updated back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from intacct_sync.channels import bigcommerce as adapter
from intacct_sync.channels.api.base import ApiSpec, BaseChannelClient, WebhookApi, require, secret
from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.http import RateLimitRules
from intacct_sync.channels.api.port import (
    StockRejection,
    StockRow,
    StockWriteOptions,
    WebhookSubscription,
    WritebackOptions,
    api_order_id,
)
from intacct_sync.channels.base import as_object, build, event_id
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent, OrderReferenceEvent
from intacct_sync.models.order import OrderReference
from intacct_sync.retry import Deadline

BASE_URL: Final = "https://api.bigcommerce.com"
PAGE_SIZE: Final = 250
ORDERS_SORT: Final[str | None] = "date_modified:asc"
POLL_SCOPE: Final = "store/order/updated"
_MAX_PAGES: Final = 100_000
MAX_ABSOLUTE_ITEMS: Final = 2000
"""Items per PUT /v3/inventory/adjustments/absolute (channels.md §3.4)."""
INVENTORY_PAGE: Final = 1000
STOCK_REASON: Final = "Sage Intacct stock sync"

SPEC: Final = ApiSpec(
    channel="bigcommerce",
    default_base_url=BASE_URL,
    rules=RateLimitRules(
        requests_left_header="X-Rate-Limit-Requests-Left",
        reset_ms_header="X-Rate-Limit-Time-Reset-Ms",
        reserve=2,
    ),
    webhooks=WebhookApi(
        collection_path="/stores/{store}/v3/hooks",
        item_path="/stores/{store}/v3/hooks/{webhook_id}",
        id_key="id",
        topic_key="scope",
        address_key="destination",
        wrap_key="data",
        list_params={"limit": PAGE_SIZE},
    ),
    auth_fix=(
        "Check 'access_token' in the connection secret '{id}' (the access token of a store-level "
        "API account) and 'store' (the store hash from the API path, stores/<hash>/v3/). In "
        "BigCommerce: Settings > Store-level API accounts > Create API account, OAuth scopes "
        "Orders: modify (read-only without writeback), Order transactions: read-only, Products: "
        "modify (stock push), Information & settings: read-only; save and copy the access token."
    ),
)


class BigCommerceClient(BaseChannelClient):
    spec: ClassVar[ApiSpec] = SPEC
    max_page_size: ClassVar[int] = PAGE_SIZE
    max_stock_batch: ClassVar[int] = MAX_ABSOLUTE_ITEMS

    def _auth(self, connection: Connection) -> dict[str, Any]:
        (token,) = require(connection, "access_token")
        return {"auth_headers": {"X-Auth-Token": token}}

    def _path_params(self) -> dict[str, str | int]:
        return {"store": self.connection.store}

    # --- paging ------------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        *,
        params: Mapping[str, str | int],
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
    ) -> Iterator[list[Any]]:
        """v2 collections are bare lists (204 No Content past the end); v3 ones are
        `{"data": [...], "meta": {"pagination": {"total_pages": n}}}`."""
        limit = int(params.get("limit", PAGE_SIZE))
        for page in range(1, _MAX_PAGES + 1):
            response = self.http.request(
                "GET",
                path,
                path_params={**self._path_params(), **(path_params or {})},
                params={**params, "page": page},
                deadline=deadline,
            )
            data = response.data
            pages: int | None = None
            if isinstance(data, dict):
                pages = _v3_total_pages(data)
                data = data.get("data")
            if data is None:
                return
            if not isinstance(data, list):
                raise ChannelRequestError(
                    f"bigcommerce GET {path} answered something other than a list",
                    channel="bigcommerce",
                    status=response.status,
                )
            if not data:
                return
            yield data
            if page >= pages if pages is not None else len(data) < limit:
                return

    def _all(self, path: str, order_id: str, deadline: Deadline) -> list[Any]:
        order_id = api_order_id("bigcommerce", order_id)
        pages = self._pages(
            path, params={"limit": self.page_size}, deadline=deadline, path_params={"order_id": order_id}
        )
        return [item for page in pages for item in page]

    # --- orders ------------------------------------------------------------------------------

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]:
        params: dict[str, str | int] = {
            "min_date_modified": since.astimezone(UTC).isoformat(),
            "limit": self.page_size,
        }
        if ORDERS_SORT:
            params["sort"] = ORDERS_SORT
        for page in self._pages("/stores/{store}/v2/orders", params=params, deadline=deadline):
            for order in page:
                yield self._reference(order)

    def _reference(self, order_json: object) -> CanonicalEvent:
        n = as_object(order_json, "order")
        order_id = n.id("id")
        modified = n.opt_date_time("date_modified") or n.date_time("date_created")
        conn = self.connection.id
        reference = build(
            OrderReference,
            n.path,
            connection_id=conn,
            channel="bigcommerce",
            order_id=order_id,
            scope=POLL_SCOPE,
            new_status_id=n.opt_int("status_id"),
            created_at=n.opt_date_time("date_created"),
        )
        return build(
            OrderReferenceEvent,
            "event",
            event_id=event_id("bigcommerce", conn, "poll", order_id, modified.isoformat()),
            connection_id=conn,
            channel="bigcommerce",
            topic=POLL_SCOPE,
            occurred_at=modified,
            updated_at=modified,
            payload=reference,
        )

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]:
        order_id = api_order_id("bigcommerce", order_id)
        response = self.http.request(
            "GET",
            "/stores/{store}/v2/orders/{order_id}",
            path_params={**self._path_params(), "order_id": order_id},
            deadline=deadline,
        )
        products = self._all("/stores/{store}/v2/orders/{order_id}/products", order_id, deadline)
        addresses = self._all("/stores/{store}/v2/orders/{order_id}/shipping_addresses", order_id, deadline)
        transactions = self._all("/stores/{store}/v3/orders/{order_id}/transactions", order_id, deadline)
        taxes = self._all("/stores/{store}/v2/orders/{order_id}/taxes", order_id, deadline)
        refunds = self._all("/stores/{store}/v3/orders/{order_id}/payment_actions/refunds", order_id, deadline)
        return adapter.order_events(
            response.data,
            products,
            addresses,
            transactions,
            connection=self.connection,
            taxes_json=taxes,
            refunds_json=refunds,
        )

    # --- stock push --------------------------------------------------------------------------
    # The Inventory API takes SKUs directly; the crawl (inventory items, 1000 a page) only tells
    # which SKUs exist, because one unknown SKU makes BigCommerce refuse the whole request.

    def stock_location_key(self, value: str) -> str:
        if not value.strip().isdigit():
            raise ConfigurationError(
                f"{value!r} is not a BigCommerce location id.",
                fix="Use the numeric id of GET /v3/inventory/locations (the default location is usually 1).",
            )
        return str(int(value))

    def stock_locations(self, *, deadline: Deadline) -> dict[str, str]:
        pages = self._pages("/stores/{store}/v3/inventory/locations", params={"limit": PAGE_SIZE}, deadline=deadline)
        return {
            str(loc.get("id")): str(loc.get("label") or loc.get("code") or "")
            for page in pages
            for loc in page
            if isinstance(loc, dict) and loc.get("enabled", True)
        }

    def crawl_stock_targets(self, cursor: str | None, *, deadline: Deadline) -> tuple[dict[str, list[str]], str | None]:
        page = int(cursor) if cursor and cursor.isdigit() else 1
        response = self.http.request(
            "GET",
            "/stores/{store}/v3/inventory/items",
            path_params=self._path_params(),
            params={"limit": INVENTORY_PAGE, "page": page},
            deadline=deadline,
        )
        data = response.data if isinstance(response.data, dict) else {}
        targets: dict[str, list[str]] = {}
        for item in data.get("data") or []:
            identity = item.get("identity") if isinstance(item, dict) else None
            sku = identity.get("sku") if isinstance(identity, dict) else None
            if sku:
                targets[str(sku)] = [str(sku)]
        pages = _v3_total_pages(data)
        items = data.get("data") or []
        more = page < pages if pages is not None else len(items) >= INVENTORY_PAGE
        return targets, str(page + 1) if more and items else None

    def _stock_group(self, row: StockRow) -> str:
        return row.location

    def write_stock(
        self, batch: Sequence[StockRow], *, options: StockWriteOptions, deadline: Deadline
    ) -> list[StockRejection]:
        """One absolute adjustment (one location, by SKU). BigCommerce applies all or nothing:
        a 422 refuses every row of the batch."""
        body = {
            "reason": STOCK_REASON,
            "items": [{"location_id": int(r.location), "sku": r.sku, "quantity": r.quantity} for r in batch],
        }
        try:
            self.http.request(
                "PUT",
                "/stores/{store}/v3/inventory/adjustments/absolute",
                path_params=self._path_params(),
                json_body=body,
                deadline=deadline,
            )
        except ChannelRequestError as exc:
            if exc.status != 422:
                raise
            return [StockRejection(r, exc.message) for r in batch]
        return []

    # --- writeback ---------------------------------------------------------------------------

    def _put_order(self, order_id: str, body: dict[str, Any], deadline: Deadline) -> None:
        order_id = api_order_id("bigcommerce", order_id)
        self.http.request(
            "PUT",
            "/stores/{store}/v2/orders/{order_id}",
            path_params={**self._path_params(), "order_id": order_id},
            json_body=body,
            deadline=deadline,
        )

    def write_document_number(
        self, order_id: str, document_number: str, *, options: WritebackOptions, deadline: Deadline
    ) -> None:
        if options.bigcommerce_staff_note:
            self._put_order(order_id, {"staff_notes": f"Sage Intacct invoice {document_number}"}, deadline)

    def mark_paid(self, order_id: str, *, options: WritebackOptions, deadline: Deadline) -> None:
        self._put_order(order_id, {"status_id": options.bigcommerce_paid_status_id}, deadline)

    # --- webhooks ----------------------------------------------------------------------------

    def _auth_header(self) -> dict[str, str]:
        name, value = self.connection.webhook_auth_header, secret(self.connection.webhook_auth_value)
        return {name: value} if name and value else {}

    def _webhook_body(self, url: str, topic: str, secret_: str | None) -> dict[str, Any]:
        # BigCommerce signs with the app's client secret: `secret_` is not sent.
        body: dict[str, Any] = {"scope": topic, "destination": url, "is_active": True}
        if header := self._auth_header():
            body["headers"] = header
        return body

    def _status_fields(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        active = raw.get("is_active") is not False
        fields: dict[str, Any] = {"active": active, "status": "active" if active else "inactive"}
        wanted = self._auth_header()
        if wanted and "headers" in raw:
            sent = raw.get("headers") or {}
            sent_lower = {str(k).lower(): v for k, v in sent.items()} if isinstance(sent, dict) else {}
            ((name, value),) = wanted.items()
            fields["auth_header_ok"] = sent_lower.get(name.lower()) == value
        return fields

    def _repair_body(self, sub: WebhookSubscription) -> dict[str, Any] | None:
        body: dict[str, Any] = {"is_active": True}
        if header := self._auth_header():
            body["headers"] = header
        return body


def _v3_total_pages(data: Mapping[str, Any]) -> int | None:
    meta = data.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    pages = pagination.get("total_pages") if isinstance(pagination, dict) else None
    return pages if isinstance(pages, int) and not isinstance(pages, bool) else None
