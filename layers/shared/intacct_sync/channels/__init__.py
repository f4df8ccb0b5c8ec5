"""Channel adapters: the only code that knows a channel's webhook headers and JSON.

The webhook handler calls `receive(headers, raw_body, connection)`; consumers and the reconcile
poll use the per-channel modules' `*_from_json` / `order_events` / `parse_order` functions.
"""

from __future__ import annotations

from collections.abc import Mapping

from intacct_sync.channels.base import ChannelAdapter, ChannelSpec, Headers, Ping
from intacct_sync.channels.bigcommerce import ADAPTER as BIGCOMMERCE
from intacct_sync.channels.errors import InvalidPayload, InvalidSignature, WebhookSecretMissing
from intacct_sync.channels.shopify import ADAPTER as SHOPIFY
from intacct_sync.channels.woocommerce import ADAPTER as WOOCOMMERCE
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Channel

ADAPTERS: Mapping[Channel, ChannelAdapter] = {
    "shopify": SHOPIFY,
    "woocommerce": WOOCOMMERCE,
    "bigcommerce": BIGCOMMERCE,
}


def adapter_for(channel: Channel) -> ChannelAdapter:
    return ADAPTERS[channel]


def receive(
    headers: Mapping[str, str],
    raw_body: bytes,
    connection: Connection,
    *,
    now: float | None = None,
) -> Ping | list[CanonicalEvent]:
    """Ping check, then signature, then parse, for one delivery to `connection`.

    `raw_body` must be the exact bytes received (base64-decoded first when the event says so).
    Returns a Ping (answer 200, enqueue nothing) or the events to enqueue (possibly none).
    Raises InvalidSignature (-> 401) or InvalidPayload (-> 400); nothing else on any input.
    """
    adapter = ADAPTERS[connection.channel]
    hdrs = Headers(headers)
    ping = adapter.detect_ping(hdrs, raw_body)
    if ping is not None:
        return ping
    adapter.verify_signature(hdrs, raw_body, connection, now=now)
    return adapter.parse(hdrs, raw_body, connection)


__all__ = [
    "ADAPTERS",
    "ChannelAdapter",
    "ChannelSpec",
    "Headers",
    "InvalidPayload",
    "InvalidSignature",
    "Ping",
    "WebhookSecretMissing",
    "adapter_for",
    "receive",
]
