"""WooCommerce REST API (wc/v3) client.

- Auth: HTTP Basic with the REST key (`api_key` = consumer key ck_..., `api_secret` = consumer
  secret cs_...). WooCommerce accepts Basic only over HTTPS, so a store address must be https.
- Base URL: the site URL in `store` (WordPress may live in a sub-path), or `api_base_url`; the
  API is under `/wp-json/wc/v3`.
- Orders changed since T: `GET /orders?modified_after=T-1s&dates_are_gmt=true&per_page=100
  &page=N&orderby=modified&order=asc`, pages 1..`X-WP-TotalPages`. `modified_after` is strict
  (WordPress date_query `after`), so one second is taken off T to make it inclusive (dates have
  second precision). `modified_after` needs WC >= 5.8 (channels.md: unsure). `orderby=modified`
  is not accepted by every WooCommerce version (unsure): if the store rejects it
  (400 rest_invalid_param), the listing is read unsorted and yielded sorted by modification time,
  so the reconcile's resume-from-the-newest rule still holds.
- Events come from `woocommerce.order_events(order, connection)` with its default topic
  `order.updated`: a polled state has the same ids as that state delivered by order.updated.
- Rate limits: core wc/v3 has none; hosts and WAFs answer 429/503, with `Retry-After` at times.
- Webhooks: `/webhooks` (`delivery_url`, `topic`, `secret`, `status`); a subscription WooCommerce
  disabled after 5 failed deliveries is set back to `active`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from intacct_sync.channels import woocommerce as adapter
from intacct_sync.channels.api.base import ApiSpec, BaseChannelClient, WebhookApi, require
from intacct_sync.channels.api.errors import ChannelNotFound, ChannelRequestError
from intacct_sync.channels.api.http import RateLimitRules, total_pages
from intacct_sync.channels.api.port import (
    DEFAULT_LOCATION,
    StockRejection,
    StockRow,
    StockWriteOptions,
    WebhookSubscription,
    WritebackOptions,
    api_order_id,
)
from intacct_sync.channels.base import parse_datetime
from intacct_sync.channels.errors import InvalidPayload
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Refund
from intacct_sync.retry import Deadline

API: Final = "/wp-json/wc/v3"
PAGE_SIZE: Final = 100
ORDERS_SORT: Final[Mapping[str, str]] = {"orderby": "modified", "order": "asc"}
_MAX_PAGES: Final = 100_000
BATCH_LIMIT: Final = 100
"""Objects per products/batch request (`woocommerce_rest_batch_items_limit` default; 413 above)."""

SPEC: Final = ApiSpec(
    channel="woocommerce",
    default_base_url=None,
    rules=RateLimitRules(),
    webhooks=WebhookApi(
        collection_path=f"{API}/webhooks",
        item_path=f"{API}/webhooks/{{webhook_id}}",
        id_key="id",
        topic_key="topic",
        address_key="delivery_url",
        list_params={"per_page": PAGE_SIZE},
    ),
    auth_fix=(
        "Check 'api_key' (consumer key, ck_...) and 'api_secret' (consumer secret, cs_...) in the "
        "connection secret '{id}', and that 'store' is the site's https URL. In WordPress: "
        "WooCommerce > Settings > Advanced > REST API > Add key, for a user who can manage "
        "WooCommerce (an administrator or shop manager), Permissions 'Read/Write' (webhooks, stock "
        "and writeback need write); copy both values into the secret."
    ),
)


class WooCommerceClient(BaseChannelClient):
    spec: ClassVar[ApiSpec] = SPEC
    max_page_size: ClassVar[int] = PAGE_SIZE
    max_stock_batch: ClassVar[int] = BATCH_LIMIT

    def _auth(self, connection: Connection) -> dict[str, Any]:
        key, secret_ = require(connection, "api_key", "api_secret")
        return {"basic_auth": (key, secret_)}

    # --- paging ------------------------------------------------------------------------------

    def _pages(
        self,
        path: str,
        *,
        params: Mapping[str, str | int],
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
    ) -> Iterator[list[Any]]:
        """Numbered pages up to `X-WP-TotalPages`."""
        for page in range(1, _MAX_PAGES + 1):
            response = self.http.request(
                "GET", path, path_params=path_params, params={**params, "page": page}, deadline=deadline
            )
            items = response.data if response.data is not None else []
            if not isinstance(items, list):
                raise ChannelRequestError(
                    f"woocommerce GET {path} answered something other than a list",
                    channel="woocommerce",
                    status=response.status,
                )
            if items:
                yield items
            pages = total_pages(response.headers)
            # Without X-WP-TotalPages (a proxy stripped it), a short page is the last one.
            last = page >= pages if pages is not None else len(items) < int(params.get("per_page", PAGE_SIZE))
            if last or not items:
                return

    # --- orders ------------------------------------------------------------------------------

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]:
        after = (since.astimezone(UTC) - timedelta(seconds=1)).replace(tzinfo=None, microsecond=0)
        params: dict[str, str | int] = {
            "modified_after": after.isoformat(),
            "dates_are_gmt": "true",
            "per_page": self.page_size,
        }
        try:
            first = True
            for page in self._pages(f"{API}/orders", params={**params, **ORDERS_SORT}, deadline=deadline):
                first = False
                for order in page:
                    yield from self._polled(order, functools.partial(adapter.order_events, order, self.connection))
        except ChannelRequestError as exc:
            if not (first and exc.status == 400 and "orderby" in exc.message):
                raise
        else:
            return
        # This store cannot sort by modification time: read everything, then sort.
        orders = [o for page in self._pages(f"{API}/orders", params=params, deadline=deadline) for o in page]
        orders.sort(key=_modified_key)
        for order in orders:
            yield from self._polled(order, functools.partial(adapter.order_events, order, self.connection))

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]:
        order_id = api_order_id("woocommerce", order_id)
        response = self.http.request(
            "GET", f"{API}/orders/{{order_id}}", path_params={"order_id": order_id}, deadline=deadline
        )
        return adapter.order_events(response.data, self.connection)

    def fetch_refund(self, refund: Refund, *, deadline: Deadline) -> Refund | None:
        """`GET /orders/{id}/refunds/{refund_id}`: the order's `refunds[]` only gives each refund's
        total; this is its lines, shipping and tax. None when the refund was deleted."""
        order_id = api_order_id("woocommerce", refund.order_id)
        try:
            response = self.http.request(
                "GET",
                f"{API}/orders/{{order_id}}/refunds/{{refund_id}}",
                path_params={"order_id": order_id, "refund_id": refund.refund_id},
                deadline=deadline,
            )
        except ChannelNotFound:
            return None
        return adapter.refund_detail(response.data, self.connection, order_id=refund.order_id, currency=refund.currency)

    # --- stock push --------------------------------------------------------------------------
    # Core WooCommerce has one stock figure per product or variation (no locations); the SKU map
    # comes from crawling products and the variations of variable products (whether
    # `GET /products?sku=` returns variations is unsure, channels.md §2.4).

    def stock_location_key(self, value: str) -> str:
        if value.strip().lower() != DEFAULT_LOCATION:
            raise ConfigurationError(
                f"WooCommerce has no location {value!r}: it keeps one stock figure per product.",
                fix=f'Map the warehouses of a WooCommerce connection to "{DEFAULT_LOCATION}".',
            )
        return DEFAULT_LOCATION

    def stock_locations(self, *, deadline: Deadline) -> dict[str, str]:
        return {DEFAULT_LOCATION: "WooCommerce stock"}

    def crawl_stock_targets(self, cursor: str | None, *, deadline: Deadline) -> tuple[dict[str, list[str]], str | None]:
        page = int(cursor) if cursor and cursor.isdigit() else 1
        response = self.http.request(
            "GET",
            f"{API}/products",
            params={"per_page": BATCH_LIMIT, "page": page, "order": "asc", "orderby": "id"},
            deadline=deadline,
        )
        products = response.data if isinstance(response.data, list) else []
        targets: dict[str, list[str]] = {}
        for product in products:
            if not isinstance(product, dict):
                continue
            pid = str(product.get("id"))
            if product.get("type") == "variable":
                # The parent's own stock never reaches its variations: only variations count.
                for chunk in self._pages(
                    f"{API}/products/{{product_id}}/variations",
                    params={"per_page": BATCH_LIMIT},
                    path_params={"product_id": pid},
                    deadline=deadline,
                ):
                    for variation in chunk:
                        if isinstance(variation, dict) and variation.get("sku"):
                            targets.setdefault(str(variation["sku"]), []).append(f"{pid}/{variation.get('id')}")
            elif product.get("sku"):
                targets.setdefault(str(product["sku"]), []).append(pid)
        pages = total_pages(response.headers)
        more = page < pages if pages is not None else len(products) >= BATCH_LIMIT
        return targets, str(page + 1) if more and products else None

    def _stock_group(self, row: StockRow) -> str:
        parent, _, variation = row.target.partition("/")
        return parent if variation else ""

    def write_stock(
        self, batch: Sequence[StockRow], *, options: StockWriteOptions, deadline: Deadline
    ) -> list[StockRejection]:
        """products/batch or <parent>/variations/batch with manage_stock + stock_quantity;
        WooCommerce answers per item, so one refused item does not stop the others."""
        parent, _, variation = batch[0].target.partition("/") if batch else ("", "", "")
        ids = {(r.target.partition("/")[2] if variation else r.target): r for r in batch}
        path = f"{API}/products/{{product_id}}/variations/batch" if variation else f"{API}/products/batch"
        body = {"update": [{"id": int(i), "manage_stock": True, "stock_quantity": r.quantity} for i, r in ids.items()]}
        response = self.http.request(
            "POST",
            path,
            path_params={"product_id": parent} if variation else None,
            json_body=body,
            deadline=deadline,
            idempotent=True,  # absolute figures: a re-send sets the same values
        )
        answered = response.data.get("update") if isinstance(response.data, dict) else None
        if not isinstance(answered, list):
            raise ChannelRequestError(
                f"woocommerce POST {path} answered without an 'update' list", channel="woocommerce"
            )
        rejected: list[StockRejection] = []
        for item in answered:
            if isinstance(item, dict) and isinstance(item.get("error"), dict):
                row = ids.get(str(item.get("id")))
                if row is not None:
                    message = self.http.redact(str(item["error"].get("code") or "refused"))
                    rejected.append(StockRejection(row, message))
        return rejected

    # --- writeback ---------------------------------------------------------------------------

    def write_document_number(
        self, order_id: str, document_number: str, *, options: WritebackOptions, deadline: Deadline
    ) -> None:
        order_id = api_order_id("woocommerce", order_id)
        if options.woocommerce_meta_key:
            self.http.request(
                "PUT",
                f"{API}/orders/{{order_id}}",
                path_params={"order_id": order_id},
                json_body={"meta_data": [{"key": options.woocommerce_meta_key, "value": document_number}]},
                deadline=deadline,
            )
        if options.woocommerce_note:
            # Not idempotent: the ledger records the writeback right after, so a lost answer is
            # the only way to get the note twice.
            self.http.request(
                "POST",
                f"{API}/orders/{{order_id}}/notes",
                path_params={"order_id": order_id},
                json_body={"note": f"Sage Intacct invoice {document_number}", "customer_note": False},
                deadline=deadline,
            )

    def mark_paid(self, order_id: str, *, options: WritebackOptions, deadline: Deadline) -> None:
        order_id = api_order_id("woocommerce", order_id)
        self.http.request(
            "PUT",
            f"{API}/orders/{{order_id}}",
            path_params={"order_id": order_id},
            json_body={"status": options.woocommerce_paid_status, "set_paid": True},
            deadline=deadline,
        )

    # --- webhooks ----------------------------------------------------------------------------

    def _check_secret(self, secret: str | None) -> None:
        if not secret:
            raise ConfigurationError(
                f"Connection '{self.connection.id}' has no webhook secret to give WooCommerce.",
                fix=f"Set 'webhook_secret' in the connection secret '{self.connection.id}' first: "
                "WooCommerce signs deliveries with the secret given here, and the webhook endpoint "
                "verifies them with that key.",
            )

    def _webhook_body(self, url: str, topic: str, secret: str | None) -> dict[str, Any]:
        return {
            "name": f"intacct-sync {topic}",
            "topic": topic,
            "delivery_url": url,
            "secret": secret,
            "status": "active",
        }

    def _status_fields(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        status = str(raw.get("status") or "active")
        return {"active": status == "active", "status": status}

    def _repair_body(self, sub: WebhookSubscription) -> dict[str, Any] | None:
        return {"status": "active"}


def _modified_key(order: object) -> datetime:
    value = order.get("date_modified_gmt") if isinstance(order, dict) else None
    try:
        return parse_datetime(value, "order.date_modified_gmt", naive_is_utc=True)
    except InvalidPayload:
        return datetime.min.replace(tzinfo=UTC)
