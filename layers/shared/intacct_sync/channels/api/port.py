"""The port domain code uses to talk to a channel's API (reconcile poll, BigCommerce consumer,
webhook registration; stock push and writeback add methods here, issue 5).

Domain code depends on `ChannelClient` only; `client_for(connection)` picks the adapter. Every
method takes the caller's `Deadline`: retries and quota pauses never run past it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.base import order_id_number, order_id_problem
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Channel, Refund
from intacct_sync.retry import Deadline

DEFAULT_WEBHOOK_TOPICS: Final[Mapping[Channel, tuple[str, ...]]] = {
    # Payments come only from transactions (order payloads carry no transaction ids).
    "shopify": (
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "refunds/create",
        "order_transactions/create",
    ),
    # No paid/cancelled/refunded topics exist: the adapter derives them from order.updated.
    "woocommerce": ("order.created", "order.updated", "order.deleted", "order.restored"),
    # One wildcard subscription; the adapter keeps the scopes it handles and ignores the rest.
    "bigcommerce": ("store/order/*",),
}
"""What `register` subscribes by default, per channel: the one table to edit."""


def api_order_id(channel: Channel, order_id: str) -> str:
    """The order id as it goes into `channel`'s API paths (a Shopify gid gives its number).

    The guard every client runs before it builds a URL from an order id (the adapters already
    refuse such ids with a 400; this is defence in depth for ids from the ledger or a CLI).
    Raises ChannelRequestError (permanent): nothing is sent."""
    number = order_id_number(channel, order_id)
    if number is None:
        raise ChannelRequestError(
            f"{channel} order id refused before any request: {order_id_problem(channel, order_id)}",
            channel=channel,
            fix="the order id must be the channel's own order id as the webhook or the poll gave it",
        )
    return number


@dataclass(frozen=True)
class WebhookSubscription:
    """One webhook subscription as the channel reports it (no secret, no header value)."""

    id: str | None
    """The channel's id; None for one a dry run would create."""
    topic: str
    """Shopify topic, WooCommerce topic, BigCommerce scope."""
    address: str
    """Where the channel delivers (Shopify address, WooCommerce delivery_url, BigCommerce
    destination)."""
    active: bool = True
    """False when the channel stopped delivering (WooCommerce disabled/paused after failures,
    BigCommerce is_active=false after ~48 h of failures)."""
    status: str | None = None
    """The channel's own status word, when it has one."""
    auth_header_ok: bool | None = None
    """BigCommerce: whether the hook sends the connection's `webhook_auth_header` with the
    configured value (None: not configured, or the channel does not show it)."""

    @property
    def healthy(self) -> bool:
        return self.active and self.auth_header_ok is not False


@dataclass(frozen=True)
class EnsureResult:
    """What `ensure_webhooks` found and did for one URL."""

    url: str
    existing: tuple[WebhookSubscription, ...] = ()
    """Wanted topics already subscribed correctly: left as they are."""
    created: tuple[WebhookSubscription, ...] = ()
    repaired: tuple[WebhookSubscription, ...] = ()
    """Wanted topics subscribed but inactive or missing the auth header: re-activated/fixed."""
    extra: tuple[WebhookSubscription, ...] = ()
    """On this URL but not wanted (another topic, or a duplicate): reported, never deleted."""
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.created or self.repaired) and not self.dry_run


@dataclass(frozen=True)
class WebhookPlan:
    """The pure decision behind `ensure_webhooks`."""

    keep: list[WebhookSubscription] = field(default_factory=list)
    create: list[str] = field(default_factory=list)
    repair: list[WebhookSubscription] = field(default_factory=list)
    extra: list[WebhookSubscription] = field(default_factory=list)


def same_address(a: str, b: str) -> bool:
    """Delivery addresses compare exactly, except for surrounding blanks and the host's case."""
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    a_scheme, _, a_rest = a.partition("://")
    b_scheme, _, b_rest = b.partition("://")
    a_host, _, a_path = a_rest.partition("/")
    b_host, _, b_path = b_rest.partition("/")
    return (a_scheme.lower(), a_host.lower(), a_path) == (b_scheme.lower(), b_host.lower(), b_path)


def plan_webhooks(existing: Sequence[WebhookSubscription], url: str, topics: Sequence[str]) -> WebhookPlan:
    """For each wanted topic: keep one healthy subscription on `url`, else repair one, else
    create one. Every other subscription on `url` is extra. Subscriptions elsewhere are ignored.
    """
    plan = WebhookPlan()
    ours = [s for s in existing if same_address(s.address, url)]
    wanted = list(dict.fromkeys(topics))
    for topic in wanted:
        matching = [s for s in ours if s.topic == topic]
        if not matching:
            plan.create.append(topic)
            continue
        healthy = [s for s in matching if s.healthy]
        chosen = healthy[0] if healthy else matching[0]
        (plan.keep if healthy else plan.repair).append(chosen)
        plan.extra.extend(s for s in matching if s is not chosen)
    plan.extra.extend(s for s in ours if s.topic not in wanted)
    return plan


@dataclass(frozen=True)
class StockRow:
    """One absolute stock figure to write: `quantity` units of `sku` at channel `location`."""

    sku: str
    location: str
    """The channel location key (`stock_location_key`); WooCommerce: "default"."""
    quantity: int
    target: str
    """The channel's id for this SKU (`crawl_stock_targets`): Shopify InventoryItem gid,
    WooCommerce "<product id>" or "<parent id>/<variation id>", BigCommerce the SKU."""


@dataclass(frozen=True)
class StockRejection:
    """A row the channel refused (the rest of its batch may have been written)."""

    row: StockRow
    reason: str


@dataclass(frozen=True)
class StockWriteOptions:
    shopify_quantity_name: str = "available"
    shopify_reason: str = "correction"
    shopify_reference_uri: str = "gid://intacct-sync/StockSync"
    run_id: str = ""
    """Identifies the push run: part of Shopify's idempotency key, so a retry inside the run is
    deduplicated while the same figures pushed again by a later run are applied."""


@dataclass(frozen=True)
class WritebackOptions:
    """Where the Intacct document number goes on a channel order, and how "paid" is written."""

    shopify_tag_prefix: str | None = "intacct:"
    shopify_metafield: tuple[str, str] | None = None
    """(namespace, key)."""
    woocommerce_meta_key: str | None = "_intacct_document_number"
    woocommerce_note: bool = True
    bigcommerce_staff_note: bool = True
    woocommerce_paid_status: str = "processing"
    bigcommerce_paid_status_id: int = 11


DEFAULT_LOCATION: Final = "default"
"""The one stock location of a channel without locations (WooCommerce)."""


class ChannelClient(Protocol):
    """A channel store's API, as the product uses it."""

    @property
    def connection(self) -> Connection: ...

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]:
        """Events for every order modified at or after `since` (aware; compared in UTC), every
        page, oldest modification first where the channel can sort so. Shopify and WooCommerce
        yield full order events (+ payments, refunds, cancellations); BigCommerce yields one
        `OrderReferenceEvent` per order (the consumer fetches the rest). Polling one state twice
        gives the same event ids. Raises ChannelTransientError / ChannelAuthError / ChannelRequestError.
        """
        ...

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]:
        """The order's full current state as events (order + payments + refunds + cancellation).
        Raises ChannelNotFound for an unknown order."""
        ...

    def fetch_refund(self, refund: Refund, *, deadline: Deadline) -> Refund | None:
        """The refund's current state in full (lines, shipping, tax, status); None when the
        channel no longer shows it. WooCommerce reads `GET /orders/{id}/refunds/{refund_id}`."""
        ...

    def list_webhooks(self, *, deadline: Deadline) -> list[WebhookSubscription]:
        """Every webhook subscription of the store visible to these credentials."""
        ...

    def ensure_webhooks(
        self,
        url: str,
        topics: Sequence[str],
        *,
        secret: str | None,
        deadline: Deadline,
        dry_run: bool = False,
    ) -> EnsureResult:
        """Subscribe `topics` to `url`, idempotently: create what is missing, re-activate what the
        channel disabled, leave what is right, report extras (never delete). `secret` is the
        signing secret where the channel takes one (WooCommerce: required)."""
        ...

    # --- stock push (issue 5) ------------------------------------------------------------------

    @property
    def stock_batch_size(self) -> int:
        """Rows per stock write request: the channel's maximum."""
        ...

    def stock_location_key(self, value: str) -> str:
        """A location as the settings name it (numeric id, gid) -> the key used in snapshots.
        Raises ConfigurationError for a value the channel cannot have."""
        ...

    def stock_locations(self, *, deadline: Deadline) -> dict[str, str]:
        """Location key -> name, for every location stock can be written to."""
        ...

    def crawl_stock_targets(self, cursor: str | None, *, deadline: Deadline) -> tuple[dict[str, list[str]], str | None]:
        """One page of the catalogue: SKU -> channel ids (a SKU may match several: Shopify does
        not enforce unique SKUs), and the cursor of the next page (None: done). Cursors are
        opaque strings that survive between runs (the crawl checkpoint)."""
        ...

    def stock_batches(self, rows: Sequence[StockRow]) -> list[list[StockRow]]:
        """`rows` grouped and cut into requests at the channel's maximum (Shopify 250 rows,
        WooCommerce 100 per products or per parent's variations batch, BigCommerce 2000 per
        location)."""
        ...

    def write_stock(
        self, batch: Sequence[StockRow], *, options: StockWriteOptions, deadline: Deadline
    ) -> list[StockRejection]:
        """Write one batch (absolute figures, so a repeat is harmless). Returns the rows the
        channel refused; raises ChannelTransientError / ChannelAuthError when nothing is known
        to be written."""
        ...

    # --- writeback (issue 5) -------------------------------------------------------------------

    def write_document_number(
        self, order_id: str, document_number: str, *, options: WritebackOptions, deadline: Deadline
    ) -> None:
        """Put the Intacct document number on the order (tag/metafield, meta + note, staff
        note). Setting the same value again changes nothing visible, except a repeated Woo note."""
        ...

    def mark_paid(self, order_id: str, *, options: WritebackOptions, deadline: Deadline) -> None:
        """Mark the order paid (Shopify orderMarkAsPaid; Woo status + set_paid; BigCommerce
        status_id). An order the channel already shows paid is left as it is."""
        ...
