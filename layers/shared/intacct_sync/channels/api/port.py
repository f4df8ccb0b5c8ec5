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

from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Channel
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
