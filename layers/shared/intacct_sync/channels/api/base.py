"""What every channel API client shares: construction, base URL rules, the webhook
list/ensure logic. What differs between channels is data (`ApiSpec`, `WebhookApi`) plus a pager
and the order calls in each channel's module.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.http import ChannelHttp, RateLimitRules
from intacct_sync.channels.api.port import (
    EnsureResult,
    StockRejection,
    StockRow,
    StockWriteOptions,
    WebhookSubscription,
    WritebackOptions,
    plan_webhooks,
)
from intacct_sync.channels.errors import InvalidPayload
from intacct_sync.errors import ConfigurationError
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Channel, Refund
from intacct_sync.retry import Deadline

log = logging.getLogger(__name__)

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class WebhookApi:
    """Where a channel keeps webhook subscriptions and how it names their fields."""

    collection_path: str
    item_path: str
    id_key: str
    topic_key: str
    address_key: str
    wrap_key: str | None = None
    """Key wrapping one subscription in a create/update answer (Shopify 'webhook', BC 'data')."""
    list_params: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiSpec:
    """A channel API's data: what the shared code needs to know about it."""

    channel: Channel
    default_base_url: str | None
    """The real API host when it does not depend on the store (BigCommerce); None: from `store`."""
    rules: RateLimitRules
    webhooks: WebhookApi
    auth_fix: str
    """The fix of a ChannelAuthError; `{id}` is replaced by the connection id."""


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def require(connection: Connection, *keys: str) -> list[str]:
    """The connection's secret values for `keys`; ConfigurationError naming the missing ones."""
    values = [secret(getattr(connection, key)) for key in keys]
    missing = [key for key, value in zip(keys, values, strict=True) if not value]
    if missing:
        raise ConfigurationError(
            f"Connection '{connection.id}' ({connection.channel}) has no {' / '.join(missing)} for the channel API.",
            fix=f"Add {', '.join(repr(k) for k in missing)} to the connection secret '{connection.id}' "
            "(README 'Channel setup').",
        )
    return [v for v in values if v]


def site_url(value: str, *, connection_id: str, key: str, explicit: bool) -> str:
    """An https base URL (scheme + host + optional path, no trailing slash) from a store address.

    A bare host gets https://. Plain http is refused for a store address (the credentials would
    travel in clear) unless the operator set it explicitly as `api_base_url` (a local sandbox,
    a proxy inside the VPC)."""
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    fix = f"Set '{key}' in the connection secret '{connection_id}' to an https URL (e.g. https://shop.example)."
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(f"'{key}' of connection '{connection_id}' is not a usable URL.", fix=fix)
    if parts.scheme == "http" and not explicit and parts.hostname not in _LOCAL_HOSTS:
        raise ConfigurationError(
            f"'{key}' of connection '{connection_id}' uses plain http; the API credentials would be sent in clear.",
            fix=fix,
        )
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never keep userinfo from a URL
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


class BaseChannelClient(ABC):
    """Shared part of the three channel clients; see `ChannelClient` for the contract."""

    spec: ClassVar[ApiSpec]
    max_page_size: ClassVar[int]
    max_stock_batch: ClassVar[int]

    def __init__(
        self,
        connection: Connection,
        *,
        http: requests.Session | None = None,
        page_size: int | None = None,
        **options: Any,
    ) -> None:
        """`http`: the pooled session to use (default: the process-wide one). `page_size`: items
        per listing page (default and cap: the channel's maximum). `options` go to `ChannelHttp`
        (timeouts, backoff, sleep, pacer, min_attempt_s)."""
        if connection.channel != self.spec.channel:
            raise ValueError(f"a {self.spec.channel} client cannot serve a {connection.channel} connection")
        self._connection = connection
        self.page_size = max(1, min(page_size or self.max_page_size, self.max_page_size))
        base = (
            site_url(connection.api_base_url, connection_id=connection.id, key="api_base_url", explicit=True)
            if connection.api_base_url
            else self._default_base_url(connection)
        )
        self.http = ChannelHttp(
            channel=self.spec.channel,
            connection_id=connection.id,
            base_url=base,
            auth_fix=self.spec.auth_fix.replace("{id}", connection.id),
            rules=self.spec.rules,
            pace_key=f"{self.spec.channel}:{connection.store}",
            session=http,
            secrets=[
                s
                for s in (
                    secret(connection.access_token),
                    secret(connection.api_key),
                    secret(connection.api_secret),
                    secret(connection.webhook_secret),
                    secret(connection.webhook_auth_value),
                )
                if s
            ],
            **self._auth(connection),
            **options,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(connection={self._connection.id!r})"

    @property
    def connection(self) -> Connection:
        return self._connection

    # --- per channel -------------------------------------------------------------------------

    def _default_base_url(self, connection: Connection) -> str:
        if self.spec.default_base_url is not None:
            return self.spec.default_base_url
        return site_url(connection.store, connection_id=connection.id, key="store", explicit=False)

    @abstractmethod
    def _auth(self, connection: Connection) -> dict[str, Any]:
        """`auth_headers=` / `basic_auth=` for ChannelHttp; raises ConfigurationError if missing."""

    @abstractmethod
    def _pages(
        self,
        path: str,
        *,
        params: Mapping[str, str | int],
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
    ) -> Iterator[list[Any]]:
        """Every page of a collection, as lists of decoded items (`path_params` add to the
        channel's own, e.g. {order_id})."""

    @abstractmethod
    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]: ...

    @abstractmethod
    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]: ...

    def fetch_refund(self, refund: Refund, *, deadline: Deadline) -> Refund | None:
        """The refund's current state, in full (its lines, shipping, tax and status), or None
        when the channel no longer shows it. By default read from the order's events; a
        channel whose order only summarises its refunds (WooCommerce) reads the refund itself."""
        for event in self.fetch_order_events(refund.order_id, deadline=deadline):
            if isinstance(event.payload, Refund) and event.payload.refund_id == refund.refund_id:
                return event.payload
        return None

    def _polled(
        self, order: Mapping[str, Any], produce: Callable[[], Iterable[CanonicalEvent]]
    ) -> list[CanonicalEvent]:
        """One listed order's events for the poll. An order the adapter cannot read is logged and
        skipped (it could not be posted either), so one bad order never stops a connection's poll;
        its webhook, if any, was answered 400 with the same reason."""
        try:
            return list(produce())
        except InvalidPayload as exc:
            log.warning(
                "poll skipped an order the adapter cannot read",
                extra={
                    "connection_id": self.connection.id,
                    "order_id": str(order.get("id"))[:64],
                    "outcome": "skipped",
                    "reason": exc.message,
                },
            )
            return []

    def _path_params(self) -> dict[str, str | int]:
        """Values every path template of this channel may use ({store}, {version})."""
        return {}

    def _webhook_body(self, url: str, topic: str, secret: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def _repair_body(self, sub: WebhookSubscription) -> dict[str, Any] | None:
        """Body of the update that makes an unhealthy subscription deliver again, or None when the
        channel has nothing to update (the subscription is then reported, not repaired)."""
        return None

    def _subscription(self, raw: object) -> WebhookSubscription:
        api = self.spec.webhooks
        if not isinstance(raw, dict):
            raise ChannelRequestError(
                f"{self.spec.channel} answered a webhook that is not an object", channel=self.spec.channel
            )
        return WebhookSubscription(
            id=str(raw.get(api.id_key)) if raw.get(api.id_key) is not None else None,
            topic=str(raw.get(api.topic_key) or ""),
            address=str(raw.get(api.address_key) or ""),
            **self._status_fields(raw),
        )

    def _status_fields(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    # --- webhooks (shared) -------------------------------------------------------------------

    def list_webhooks(self, *, deadline: Deadline) -> list[WebhookSubscription]:
        api = self.spec.webhooks
        return [
            self._subscription(raw)
            for page in self._pages(api.collection_path, params=api.list_params, deadline=deadline)
            for raw in page
        ]

    def ensure_webhooks(
        self,
        url: str,
        topics: Sequence[str],
        *,
        secret: str | None,
        deadline: Deadline,
        dry_run: bool = False,
    ) -> EnsureResult:
        if not topics:
            raise ValueError("no topics to subscribe")
        existing = self.list_webhooks(deadline=deadline)
        plan = plan_webhooks(existing, url, topics)
        created: list[WebhookSubscription] = []
        repaired: list[WebhookSubscription] = []
        if dry_run:
            created = [WebhookSubscription(id=None, topic=t, address=url) for t in plan.create]
            repaired = list(plan.repair)
        else:
            if plan.create:
                self._check_secret(secret)
            for topic in plan.create:
                created.append(self._create_webhook(url, topic, secret, deadline))
            for sub in plan.repair:
                repaired.append(self._repair_webhook(sub, deadline))
        log.info(
            "webhooks ensured",
            extra={
                "channel": self.spec.channel,
                "connection_id": self._connection.id,
                "kept": len(plan.keep),
                # Not "created": that is a LogRecord attribute and logging refuses to overwrite it.
                "webhooks_created": len(created),
                "repaired": len(repaired),
                "extra": len(plan.extra),
                "dry_run": dry_run,
            },
        )
        return EnsureResult(
            url=url,
            existing=tuple(plan.keep),
            created=tuple(created),
            repaired=tuple(repaired),
            extra=tuple(plan.extra),
            dry_run=dry_run,
        )

    def _check_secret(self, secret: str | None) -> None:  # noqa: B027 - optional hook, no-op by default
        """Channels that sign with a per-subscription secret override this to require one."""

    def _unwrap(self, data: object) -> object:
        key = self.spec.webhooks.wrap_key
        if key is not None and isinstance(data, dict) and key in data:
            return data[key]
        return data

    def _create_webhook(self, url: str, topic: str, secret: str | None, deadline: Deadline) -> WebhookSubscription:
        # Not idempotent: an answer lost after sending surfaces as "outcome unknown"; the next
        # `ensure` lists first, so it finds the subscription if it was made.
        response = self.http.request(
            "POST",
            self.spec.webhooks.collection_path,
            path_params=self._path_params(),
            json_body=self._webhook_body(url, topic, secret),
            deadline=deadline,
        )
        return self._subscription(self._unwrap(response.data))

    def _repair_webhook(self, sub: WebhookSubscription, deadline: Deadline) -> WebhookSubscription:
        body = self._repair_body(sub)
        if body is None or sub.id is None:
            return sub
        response = self.http.request(
            "PUT",
            self.spec.webhooks.item_path,
            path_params={**self._path_params(), "webhook_id": sub.id},
            json_body=body,
            deadline=deadline,
        )
        return self._subscription(self._unwrap(response.data))

    # --- stock push and writeback (issue 5): per channel, batching shared ---------------------

    @property
    def stock_batch_size(self) -> int:
        return self.max_stock_batch

    def stock_location_key(self, value: str) -> str:
        return value.strip()

    @abstractmethod
    def stock_locations(self, *, deadline: Deadline) -> dict[str, str]: ...

    @abstractmethod
    def crawl_stock_targets(
        self, cursor: str | None, *, deadline: Deadline
    ) -> tuple[dict[str, list[str]], str | None]: ...

    def _stock_group(self, row: StockRow) -> str:
        """Rows of one group may share a request (BigCommerce: a location; Woo: a parent)."""
        return ""

    def stock_batches(self, rows: Sequence[StockRow]) -> list[list[StockRow]]:
        groups: dict[str, list[StockRow]] = {}
        for row in rows:
            groups.setdefault(self._stock_group(row), []).append(row)
        size = self.stock_batch_size
        return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]

    @abstractmethod
    def write_stock(
        self, batch: Sequence[StockRow], *, options: StockWriteOptions, deadline: Deadline
    ) -> list[StockRejection]: ...

    @abstractmethod
    def write_document_number(
        self, order_id: str, document_number: str, *, options: WritebackOptions, deadline: Deadline
    ) -> None: ...

    @abstractmethod
    def mark_paid(self, order_id: str, *, options: WritebackOptions, deadline: Deadline) -> None: ...
