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

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from intacct_sync.channels import woocommerce as adapter
from intacct_sync.channels.api.base import ApiSpec, BaseChannelClient, WebhookApi, require
from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.http import RateLimitRules, total_pages
from intacct_sync.channels.api.port import WebhookSubscription
from intacct_sync.channels.base import parse_datetime
from intacct_sync.channels.errors import InvalidPayload
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.retry import Deadline

API: Final = "/wp-json/wc/v3"
PAGE_SIZE: Final = 100
ORDERS_SORT: Final[Mapping[str, str]] = {"orderby": "modified", "order": "asc"}
_MAX_PAGES: Final = 100_000

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
                    yield from adapter.order_events(order, self.connection)
        except ChannelRequestError as exc:
            if not (first and exc.status == 400 and "orderby" in exc.message):
                raise
        else:
            return
        # This store cannot sort by modification time: read everything, then sort.
        orders = [o for page in self._pages(f"{API}/orders", params=params, deadline=deadline) for o in page]
        orders.sort(key=_modified_key)
        for order in orders:
            yield from adapter.order_events(order, self.connection)

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]:
        response = self.http.request(
            "GET", f"{API}/orders/{{order_id}}", path_params={"order_id": order_id}, deadline=deadline
        )
        return adapter.order_events(response.data, self.connection)

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
