"""Channel APIs (Shopify, WooCommerce, BigCommerce) behind one port, `ChannelClient`.

    client = client_for(connection)
    for event in client.iter_orders_changed_since(since, deadline=deadline): ...
    client.fetch_order_events(order_id, deadline=deadline)
    client.ensure_webhooks(url, DEFAULT_WEBHOOK_TOPICS[connection.channel], secret=..., deadline=...)

`http.py` is the shared transport (pooling, time-outs, retries, rate limits, typed errors);
`base.py` the shared client logic; one module per channel holds what differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import requests

from intacct_sync.channels.api.base import BaseChannelClient
from intacct_sync.channels.api.bigcommerce import BigCommerceClient
from intacct_sync.channels.api.errors import (
    ChannelAuthError,
    ChannelNotFound,
    ChannelRateLimited,
    ChannelRequestError,
    ChannelTransientError,
)
from intacct_sync.channels.api.port import (
    DEFAULT_WEBHOOK_TOPICS,
    ChannelClient,
    EnsureResult,
    WebhookSubscription,
)
from intacct_sync.channels.api.shopify import ShopifyClient
from intacct_sync.channels.api.woocommerce import WooCommerceClient
from intacct_sync.models.connection import Connection
from intacct_sync.models.order import Channel

CLIENTS: Final[Mapping[Channel, type[BaseChannelClient]]] = {
    "shopify": ShopifyClient,
    "woocommerce": WooCommerceClient,
    "bigcommerce": BigCommerceClient,
}


def client_for(connection: Connection, *, http: requests.Session | None = None, **options: Any) -> ChannelClient:
    """The API client for `connection`'s channel.

    `http`: a pooled requests.Session to share (default: the process-wide one). `options` tune
    the transport (connect_timeout_s, read_timeout_s, backoff, sleep, pacer, min_attempt_s) or
    the channel (Shopify: api_version, fetch_transactions). Raises ConfigurationError when the
    connection lacks the API credentials or has an unusable address.
    """
    return CLIENTS[connection.channel](connection, http=http, **options)


__all__ = [
    "CLIENTS",
    "DEFAULT_WEBHOOK_TOPICS",
    "BigCommerceClient",
    "ChannelAuthError",
    "ChannelClient",
    "ChannelNotFound",
    "ChannelRateLimited",
    "ChannelRequestError",
    "ChannelTransientError",
    "EnsureResult",
    "ShopifyClient",
    "WebhookSubscription",
    "WooCommerceClient",
    "client_for",
]
