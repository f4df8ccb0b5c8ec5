"""HTTP front of the channel sandbox and its Python API (`ChannelSandbox`)."""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from local import holds

from . import webhooks
from .common import ApiError, Request, Response
from .limits import FixedWindow, LeakyBucket
from .state import CHANNELS, World, read_seed
from .webhooks import Delivery

FAULT_KINDS = ("rate_limit", "http_error", "throttle", "delay", "disconnect")
DEFAULT_SHOPIFY_VERSION = "2026-10"

DEFAULT_LIMITS: dict[str, dict[str, Any]] = {
    "shopify": {
        "graphql_bucket_size": 2000.0,  # points (maximumAvailable)
        "graphql_restore_rate": 100.0,  # points per second (Standard plan)
        "max_query_cost": 1000,  # a single query may cost at most this
        "rest_bucket_size": 40,  # requests
        "rest_leak_rate": 2.0,  # requests per second
        "max_input_size": 250,  # any GraphQL input array
        "require_https": True,  # webhook addresses must be https://
        "token_expires_in": 86399,  # seconds a client-credentials token lasts (sandbox clock)
        "latency_ms": 0,
    },
    "woocommerce": {
        "batch_limit": 100,  # woocommerce_rest_batch_items_limit
        "require_https": False,
        "latency_ms": 0,
    },
    "bigcommerce": {
        "quota": 150,  # requests per window, per store (Standard/Plus)
        "window_ms": 30_000,
        "max_absolute_items": 2000,
        "require_https": True,  # hook destinations must be https:// (port 443)
        "latency_ms": 0,
    },
    "stripe": {  # a WooCommerce / BigCommerce store's Stripe account (stripe.py)
        "quota": 25,  # read requests per window, per account (test mode; live: 100)
        "window_ms": 1000,
        "latency_ms": 0,
    },
}


@dataclass
class ChannelFault:
    """A fault rule. Matches requests of `channel` (and `store`, `method`, `path_contains` if set).

    kind: rate_limit (the channel's 429), http_error (`status`, default 500), throttle (Shopify
    GraphQL THROTTLED answer, HTTP 200), delay (sleep `delay_s`, then answer normally),
    disconnect (close the socket without an answer). `times=None` fires forever.
    """

    channel: str
    kind: str = "http_error"
    status: int | None = None
    times: int | None = 1
    retry_after: float = 1.0
    path_contains: str | None = None
    store: str | None = None
    method: str | None = None
    delay_s: float = 0.0
    body: Any = None

    def __post_init__(self) -> None:
        if self.channel not in (*CHANNELS, "stripe"):  # stripe: a store's Stripe account (stripe.py)
            raise ValueError(f"unknown channel {self.channel!r}; expected one of {', '.join(CHANNELS)}, stripe")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.kind == "throttle" and self.channel != "shopify":
            raise ValueError("kind='throttle' is the Shopify GraphQL THROTTLED answer; use rate_limit")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None (forever)")

    def matches(self, channel: str, store: str, method: str, path: str) -> bool:
        if channel != self.channel or (self.store is not None and store != self.store):
            return False
        if self.method is not None and method.upper() != self.method.upper():
            return False
        if self.kind == "throttle" and not path.endswith("/graphql.json"):
            return False
        return self.path_contains is None or self.path_contains in path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelFault:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


class ChannelHold(holds.Hold):
    """API requests held until `arrivals` of them have arrived (`ChannelSandbox.hold_until`).

    A request matching `channel`, `store` and `path_contains` (None = any) counts as an arrival
    and waits, before latency, faults and limits, until the count is reached (see `local.holds`).
    """

    def __init__(
        self,
        arrivals: int,
        timeout_s: float,
        *,
        channel: str | None,
        store: str | None,
        path_contains: str | None,
        cond: threading.Condition,
    ) -> None:
        super().__init__(arrivals, timeout_s, cond)
        if channel is not None and channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
        self.channel, self.store, self.path_contains = channel, store, path_contains

    def matches(self, channel: str, store: str, path: str) -> bool:
        return (
            (self.channel is None or self.channel == channel)
            and (self.store is None or self.store == store)
            and (self.path_contains is None or self.path_contains in path)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "arrivals": self.arrivals,
            "timeout_s": self.timeout_s,
            "channel": self.channel,
            "store": self.store,
            "path_contains": self.path_contains,
            **self.state(),
        }


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # relative to the store root, e.g. /admin/api/2025-01/orders.json
    query: dict[str, str]
    status: int
    channel: str | None
    store: str | None
    time: float
    body: Any = None  # parsed JSON request body (None if empty or not JSON)
    operations: tuple[str, ...] = ()  # Shopify GraphQL root fields
    fault: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["operations"] = list(self.operations)
        return d


class ChannelApi(Protocol):
    def unknown_store(self, key: str) -> Response: ...
    def authenticate(self, sb: ChannelSandbox, st: Any, req: Request) -> None: ...
    def handle(self, sb: ChannelSandbox, st: Any, req: Request) -> Response: ...
    def fault_response(self, fault: ChannelFault) -> Response: ...
    def pre_limit(self, sb: ChannelSandbox, st: Any, req: Request) -> Response | None: ...
    def post_headers(self, sb: ChannelSandbox, st: Any, req: Request) -> dict[str, str]: ...


def _apis() -> dict[str, ChannelApi]:
    from .bigcommerce import BigCommerceApi
    from .shopify import ShopifyApi
    from .stripe import StripeApi
    from .woocommerce import WooCommerceApi

    return {
        "shopify": ShopifyApi(),
        "woocommerce": WooCommerceApi(),
        "bigcommerce": BigCommerceApi(),
        "stripe": StripeApi(),
    }


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    sandbox: ChannelSandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer
    server_version = "ChannelSandbox/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, resp: Response) -> None:
        body = resp.encode()
        try:
            self.send_response(resp.status)
            if resp.status != 204:
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(body)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if resp.status != 204 and self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        sb = self.server.sandbox
        body = self._read_body()
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            if path.startswith("/_sandbox/"):
                self._send(sb._admin(self.command, path, body))
                return
            resp = sb._handle(self.command, path, parts.query, headers, body)
        except Exception as exc:  # pragma: no cover - last resort
            print(f"[channel-sandbox] unhandled error: {exc!r}", file=sys.stderr)
            resp = Response(500, {"errors": "Internal Server Error (sandbox bug)", "detail": repr(exc)})
        if resp is None:  # disconnect fault
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self._send(resp)


def _hold_args(payload: Any) -> dict[str, Any]:
    """`POST /_sandbox/hold` body: `{"arrivals": N, "timeout_s", "channel", "store", "path_contains"}`."""
    allowed = {"arrivals", "timeout_s", "channel", "store", "path_contains"}
    if not isinstance(payload, dict) or "arrivals" not in payload or set(payload) - allowed:
        raise ValueError("body must be an object with arrivals and optionally timeout_s, channel, store, path_contains")
    args: dict[str, Any] = {"arrivals": int(payload["arrivals"]), "timeout_s": float(payload.get("timeout_s", 10))}
    for k in ("channel", "store", "path_contains"):
        if payload.get(k) is not None:
            args[k] = str(payload[k])
    return args


def _split_channel_path(path: str) -> tuple[str, str, str, str] | None:
    """-> (channel, store key, store-relative path, prefix) or None."""
    segs = path.split("/")
    if len(segs) < 3:
        return None
    if segs[1] == "stripe" and len(segs) >= 4 and segs[2] in ("woocommerce", "bigcommerce") and segs[3]:
        prefix = f"/stripe/{segs[2]}/{segs[3]}"  # that store's Stripe account (stripe.py)
        return "stripe", f"{segs[2]}:{segs[3]}", path[len(prefix) :] or "/", prefix
    if segs[1] in ("shopify", "woocommerce") and segs[2]:
        prefix = f"/{segs[1]}/{segs[2]}"
        return segs[1], segs[2], path[len(prefix) :] or "/", prefix
    if segs[1] == "bigcommerce" and len(segs) >= 4 and segs[2] == "stores" and segs[3]:
        prefix = f"/bigcommerce/stores/{segs[3]}"
        return "bigcommerce", segs[3], path[len(prefix) :] or "/", prefix
    return None


class ChannelSandbox(holds.HoldsMixin):
    """Local imitation of the Shopify, WooCommerce and BigCommerce endpoints the product uses."""

    def __init__(self, seed: str | Path | dict[str, Any] | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.world = World()
        self._apis = _apis()
        self._lock = threading.Lock()  # faults, request log, limiters, holds, clock
        self._cond = threading.Condition(self._lock)
        self._holds: list[ChannelHold] = []
        self._faults: list[ChannelFault] = []
        self._requests: list[RequestRecord] = []
        self._limits: dict[str, dict[str, Any]] = copy.deepcopy(DEFAULT_LIMITS)
        self._buckets: dict[tuple[str, str, str], Any] = {}
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._clock_offset = 0.0
        self._frozen: tuple[float, float] | None = None  # (time.time(), time.monotonic()) when frozen
        self.world.load(read_seed(seed))

    # ---------------------------------------------------------------- lifecycle
    @classmethod
    def start(
        cls, seed: str | Path | dict[str, Any] | None = None, port: int = 0, host: str = "127.0.0.1"
    ) -> ChannelSandbox:
        sb = cls(seed, host)
        server = _HTTPServer((host, port), _Handler)
        server.sandbox = sb
        sb._server = server
        sb._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="channel-sandbox", daemon=True
        )
        sb._thread.start()
        return sb

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ChannelSandbox:
        if self._server is None:
            raise RuntimeError("use ChannelSandbox.start(...) as the context manager")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("sandbox is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---------------------------------------------------------------- addresses and credentials
    def api_base_url(self, channel: str, store: str) -> str:
        """The value for a connection's `api_base_url` (replaces https://{shop} / the site URL /
        https://api.bigcommerce.com)."""
        self.world.store(channel, store)
        if channel == "bigcommerce":
            return f"{self.base_url}/bigcommerce"
        return f"{self.base_url}/{channel}/{store}"

    def connection_secret(
        self, channel: str, store: str, connection_id: str, *, auth: str = "access_token"
    ) -> dict[str, Any]:
        """A connection secret (the product's JSON keys) for a sandbox store: API credentials,
        webhook secret and `api_base_url` pointing here. Used by tests and the local stack.

        Shopify `auth="client_credentials"`: the first Dev Dashboard app's `client_id` and
        `client_secret` instead of the legacy `access_token`."""
        creds = self.credentials(channel, store)
        data: dict[str, Any] = {
            "id": connection_id,
            "channel": channel,
            "api_base_url": self.api_base_url(channel, store),
        }
        if channel == "shopify" and auth == "client_credentials":
            app = creds["apps"][0]
            data |= {
                "store": store,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "webhook_secret": creds["client_secret"],
            }
        elif auth != "access_token":
            raise ValueError(f"auth={auth!r}: 'access_token', or 'client_credentials' for Shopify")
        elif channel == "shopify":
            data |= {"store": store, "access_token": creds["access_token"], "webhook_secret": creds["client_secret"]}
        elif channel == "woocommerce":
            data |= {
                "store": f"https://{store}.example",
                "api_key": creds["consumer_key"],
                "api_secret": creds["consumer_secret"],
                "webhook_secret": creds["webhook_secret"],
            }
        else:
            data |= {
                "store": store,
                "access_token": creds["access_token"],
                "webhook_secret": creds["client_secret"],
                "webhook_auth_header": "X-Webhook-Token",
                "webhook_auth_value": "shared-token-for-tests",
            }
        return data

    def credentials(self, channel: str, store: str) -> dict[str, Any]:
        st = self.world.store(channel, store)
        cfg = st.config
        if channel == "shopify":
            apps = [
                {k: a.get(k) for k in ("client_id", "client_secret", "installed", "scopes")}
                for a in cfg.get("apps", [])
            ]
            return {
                "shop": store,
                "access_token": cfg["access_tokens"][0]["token"],
                "client_secret": cfg.get("client_secret"),
                "client_id": apps[0]["client_id"] if apps else None,
                "apps": apps,
                "api_version": cfg.get("api_version", DEFAULT_SHOPIFY_VERSION),
            }
        if channel == "woocommerce":
            key = cfg["keys"][0]
            return {
                "store": store,
                "consumer_key": key["consumer_key"],
                "consumer_secret": key["consumer_secret"],
                "webhook_secret": cfg.get("webhook_secret"),
            }
        return {
            "store_hash": store,
            "access_token": cfg["access_tokens"][0]["token"],
            "client_id": cfg.get("client_id"),
            "client_secret": cfg.get("client_secret"),
        }

    # ---------------------------------------------------------------- state API
    @property
    def seed(self) -> dict[str, Any]:
        return copy.deepcopy(self.world.seed)

    def reset(self, seed: str | Path | dict[str, Any] | None = None) -> None:
        """Back to `seed` (default: seed.json); clears faults, request log, limiter state, limits,
        issued tokens, holds (released) and the clock (offset and freeze)."""
        self.release_holds()
        self.world.load(read_seed(seed))
        with self._lock:
            self._holds.clear()
            self._frozen = None
            self._faults.clear()
            self._requests.clear()
            self._buckets.clear()
            self._limits = copy.deepcopy(DEFAULT_LIMITS)
            self._clock_offset = 0.0

    # ---------------------------------------------------------------- clock and tokens
    def clock(self) -> float:
        """The sandbox clock (epoch seconds): real time plus what `advance_clock` added (or, while
        frozen, the time it was frozen at plus that). Tokens issued by the Shopify client
        credentials grant expire on it."""
        frozen = self._frozen
        return (frozen[0] if frozen else time.time()) + self._clock_offset

    def monotonic(self) -> float:
        """The rate limiters' clock (Shopify buckets, BigCommerce window): monotonic seconds on the
        same terms as `clock` (frozen with it, moved by `advance_clock`)."""
        frozen = self._frozen
        return (frozen[1] if frozen else time.monotonic()) + self._clock_offset

    def freeze_clock(self, frozen: bool = True) -> float:
        """Stop the sandbox clock (`frozen=False` lets it run on from where it stands): token
        expiry and rate limits then see only what `advance_clock` adds, so a test of a refill or
        a quota window needs no real waiting and cannot be raced by a slow machine. Returns
        `clock()`."""
        with self._lock:
            if frozen and self._frozen is None:
                self._frozen = (time.time(), time.monotonic())
            elif not frozen and self._frozen is not None:
                self._clock_offset -= time.monotonic() - self._frozen[1]  # no jump when it runs again
                self._frozen = None
        return self.clock()

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward (e.g. past a token's `expires_in`); returns the new time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._clock_offset += seconds
        return self.clock()

    def expire_tokens(self, channel: str = "shopify", store: str | None = None) -> int:
        """Expire every token the client credentials grant issued (for one store, or all) now, as
        if their 24 hours had passed: the next API call with one gets 401. Returns how many."""
        if channel != "shopify":
            raise ValueError("only Shopify issues expiring tokens in this sandbox")
        now = self.clock()
        count = 0
        with self.world.lock:
            for (ch, key), st in self.world.stores.items():
                if ch != channel or (store is not None and key != store):
                    continue
                for tok in st.issued_tokens.values():
                    if tok["expires_at"] > now:
                        tok["expires_at"] = now
                        count += 1
        return count

    def issued_tokens(self, store: str) -> list[dict[str, Any]]:
        """The tokens issued for a Shopify store: client_id, scopes, expires_at, expired (never the token)."""
        now = self.clock()
        with self.world.lock:
            st = self.world.store("shopify", store)
            return [
                {
                    "client_id": t["client_id"],
                    "scopes": list(t["scopes"]),
                    "expires_at": t["expires_at"],
                    "expired": t["expires_at"] <= now,
                }
                for t in st.issued_tokens.values()
            ]

    def put_order(self, channel: str, store: str, order: dict[str, Any], touch: bool | None = None) -> int:
        return self.world.put_order(channel, store, order, touch)

    def add_transaction(self, channel: str, store: str, order_id: int, txn: dict[str, Any]) -> dict[str, Any]:
        return self.world.add_transaction(channel, store, int(order_id), txn)

    def add_refund(self, channel: str, store: str, order_id: int, refund: dict[str, Any]) -> dict[str, Any]:
        return self.world.add_refund(channel, store, int(order_id), refund)

    def delete_order(self, channel: str, store: str, order_id: int) -> None:
        """What deleting the order in the store's admin does: Shopify forgets it (GET -> 404),
        WooCommerce moves it to the trash (status `trash`)."""
        with self.world.lock:
            st = self.world.store(channel, store)
            if channel == "woocommerce":
                rec = st.orders[int(order_id)]
                rec.data["status"] = "trash"
                self.world.touch_order(st, rec)
            else:
                del st.orders[int(order_id)]

    def order(self, channel: str, store: str, order_id: int) -> dict[str, Any]:
        with self.world.lock:
            rec = self.world.store(channel, store).orders[int(order_id)]
            return copy.deepcopy(self._apis[channel].order_view(self, self.world.store(channel, store), rec))  # type: ignore[attr-defined]

    def orders(self, channel: str, store: str) -> list[dict[str, Any]]:
        with self.world.lock:
            st = self.world.store(channel, store)
            api = self._apis[channel]
            return [copy.deepcopy(api.order_view(self, st, r)) for r in st.orders.values()]  # type: ignore[attr-defined]

    def webhooks(self, channel: str, store: str) -> list[dict[str, Any]]:
        with self.world.lock:
            return [copy.deepcopy(h) for h in self.world.store(channel, store).webhooks.values()]

    def add_products(
        self,
        channel: str,
        store: str,
        skus: list[str],
        quantity: int = 0,
        locations: list[int] | None = None,
    ) -> list[int]:
        """One product per SKU with one variant each; returns the variant (Woo: product) ids."""
        return self.world.add_products(channel, store, skus, quantity, locations)

    def inventory(self, channel: str, store: str) -> dict[tuple[str, int | None], int]:
        """(sku, location id) -> quantity; WooCommerce has no locations (location None)."""
        return self.world.inventory(channel, store)

    def set_inventory(self, channel: str, store: str, sku: str, quantity: int, location: int | None = None) -> None:
        with self.world.lock:
            st = self.world.store(channel, store)
            variants = st.variants_for_sku(sku)
            if not variants:
                raise KeyError(f"no SKU {sku!r} in {channel}/{store}")
            for v in variants:
                for lid in (
                    [location] if location is not None or channel == "woocommerce" else st.default_location_ids()
                ):
                    st.levels[(v.id, lid)] = quantity

    def locations(self, channel: str, store: str) -> list[dict[str, Any]]:
        with self.world.lock:
            return [asdict(loc) for loc in self.world.store(channel, store).locations.values()]

    def stock_writes(self, channel: str, store: str) -> list[dict[str, Any]]:
        """Every stock write the store received (one dict per row: sku, location, quantity, via)."""
        with self.world.lock:
            return copy.deepcopy(self.world.store(channel, store).adjustments)

    # ---------------------------------------------------------------- outbound webhooks
    def deliver_webhook(
        self,
        channel: str,
        store: str,
        topic: str,
        resource_id: int,
        url: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> list[Delivery]:
        """POST one signed event, as the channel would, to `url` or else to every active
        subscription of the store for `topic` (Shopify `orders/paid`, Woo `order.updated`, BC
        `store/order/updated`; `resource_id` is the order id). Returns the deliveries made."""
        with self.world.lock:
            st = self.world.store(channel, store)
            body, base = webhooks.build(st, topic, resource_id, st.config.get("api_version", DEFAULT_SHOPIFY_VERSION))
            dests = [(url, dict(headers or {}))] if url else webhooks.targets(st, topic)
            deliveries = [
                Delivery(u, topic, body, webhooks.finish_headers(st, body, base, extra)) for u, extra in dests
            ]
        for d in deliveries:
            webhooks.post(d, timeout)
        return deliveries

    def redeliver(self, delivery: Delivery, timeout: float = 5.0) -> Delivery:
        """Send the same bytes and headers again (a channel retry / duplicate delivery)."""
        return webhooks.post(delivery, timeout)

    # ---------------------------------------------------------------- faults, limits, log
    def inject(self, fault: ChannelFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[ChannelFault]:
        with self._lock:
            return list(self._faults)

    def configure(self, channel: str, **limits: Any) -> dict[str, Any]:
        """Change a channel's limits (see DEFAULT_LIMITS); resets that channel's limiter state."""
        if channel not in self._limits:
            raise ValueError(f"unknown channel {channel!r}")
        unknown = set(limits) - set(self._limits[channel])
        if unknown:
            raise ValueError(
                f"unknown {channel} limit(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(self._limits[channel]))}"
            )
        with self._lock:
            self._limits[channel].update(limits)
            for k in [k for k in self._buckets if k[0] == channel]:
                del self._buckets[k]
            return dict(self._limits[channel])

    def limits(self, channel: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._limits[channel])

    def limit(self, channel: str, name: str) -> Any:
        return self._limits[channel][name]

    def bucket(self, channel: str, store: str, kind: str) -> Any:
        """The limiter object for (channel, store, kind); created on first use."""
        key = (channel, store, kind)
        with self._lock:
            b = self._buckets.get(key)
            if b is None:
                lim = self._limits[channel]
                if kind == "graphql":
                    b = LeakyBucket(
                        float(lim["graphql_bucket_size"]), float(lim["graphql_restore_rate"]), clock=self.monotonic
                    )
                elif kind == "rest":
                    b = LeakyBucket(float(lim["rest_bucket_size"]), float(lim["rest_leak_rate"]), clock=self.monotonic)
                else:
                    b = FixedWindow(int(lim["quota"]), int(lim["window_ms"]), clock=self.monotonic)
                self._buckets[key] = b
            return b

    # ---------------------------------------------------------------- holds and waits
    def hold_until(
        self,
        arrivals: int,
        *,
        timeout_s: float = 10.0,
        channel: str | None = None,
        store: str | None = None,
        path_contains: str | None = None,
    ) -> ChannelHold:
        """Hold matching API requests until `arrivals` of them have arrived (see `ChannelHold`)."""
        hold = ChannelHold(
            arrivals, timeout_s, channel=channel, store=store, path_contains=path_contains, cond=self._cond
        )
        with self._lock:
            self._holds.append(hold)
        return hold

    def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> bool:
        """Block until the request log holds at least `count` entries; False if `timeout_s` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= count, timeout=timeout_s)

    def _arrive(self, channel: str, store: str, path: str) -> None:
        """Count a request toward the pending holds it matches and wait on those not yet reached."""
        with self._cond:
            waits = holds.arrive(self._holds, lambda h: h.matches(channel, store, path))
            self._cond.notify_all()
            holds.wait_out(self._cond, waits, "channel-sandbox")

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, rec: RequestRecord) -> None:
        with self._cond:
            self._requests.append(rec)
            self._cond.notify_all()

    def _take_fault(self, channel: str, store: str, method: str, path: str) -> ChannelFault | None:
        with self._lock:
            for f in self._faults:
                if f.matches(channel, store, method, path):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self._faults.remove(f)
                    return f
        return None

    # ---------------------------------------------------------------- HTTP entry points
    def _handle(self, method: str, path: str, raw_query: str, headers: dict[str, str], body: bytes) -> Response | None:
        split = _split_channel_path(path)
        if split is None:
            self._record(RequestRecord(method, path, {}, 404, None, None, time.time()))
            return Response(404, {"errors": "Not Found"})
        channel, key, sub, prefix = split
        api = self._apis[channel]
        req = Request.build(method, sub, raw_query, headers, body=body, base=self.base_url + prefix)
        parsed_body: Any = None
        try:
            parsed_body = req.json()
        except ValueError:
            parsed_body = None
        if isinstance(parsed_body, dict) and "client_secret" in parsed_body:
            parsed_body = {**parsed_body, "client_secret": "***"}  # the log never keeps a client secret
        fault_name: str | None = None
        st = self.world.find(*key.split(":", 1)) if channel == "stripe" else self.world.find(channel, key)
        self._arrive(channel, key, sub)
        latency = self._limits[channel].get("latency_ms") or 0
        if latency:
            time.sleep(latency / 1000)
        resp: Response | None
        if st is None:
            resp = api.unknown_store(key)
        else:
            fault = self._take_fault(channel, key, method, sub)
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay_s)
                fault = None
            if fault is not None:
                fault_name = fault.kind
                if fault.kind == "disconnect":
                    resp = None
                else:
                    resp = api.fault_response(fault)
                    if fault.kind == "rate_limit" and channel == "bigcommerce":
                        resp.headers.update(api.post_headers(self, st, req))
            else:
                try:
                    api.authenticate(self, st, req)
                    limited = api.pre_limit(self, st, req)
                    if limited is not None:
                        resp = limited
                        fault_name = "limit"
                    else:
                        with self.world.lock:
                            resp = api.handle(self, st, req)
                except ApiError as err:
                    resp = err.response
                except (ValueError, KeyError, TypeError) as exc:
                    resp = api.bad_request(str(exc))  # type: ignore[attr-defined]
                if resp is not None:
                    resp.headers.update(api.post_headers(self, st, req))
        self._record(
            RequestRecord(
                method,
                sub,
                dict(req.query),
                resp.status if resp is not None else 0,
                channel,
                key,
                time.time(),
                parsed_body,
                tuple(req.notes.get("operations", ())),
                fault_name or req.notes.get("fault"),
                {k: v for k, v in req.notes.items() if k not in ("operations", "fault")},
            )
        )
        return resp

    def _admin(self, method: str, path: str, body: bytes) -> Response:
        import json

        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return Response(400, {"error": "body must be JSON"})
        try:
            if path == "/_sandbox/state" and method == "GET":
                return Response(200, self.summary())
            if path == "/_sandbox/requests" and method == "GET":
                return Response(200, [r.to_dict() for r in self.requests])
            if path == "/_sandbox/requests" and method == "DELETE":
                self.clear_requests()
                return Response(200, {"ok": True})
            if path == "/_sandbox/reset" and method == "POST":
                self.reset(seed=payload.get("seed"))
                return Response(200, {"ok": True})
            if path == "/_sandbox/faults" and method == "POST":
                self.inject(ChannelFault.from_dict(payload))
                return Response(200, {"ok": True})
            if path == "/_sandbox/faults" and method == "DELETE":
                self.clear_faults()
                return Response(200, {"ok": True})
            if path == "/_sandbox/config" and method == "POST":
                channel = payload.pop("channel")
                return Response(200, self.configure(channel, **payload))
            if path == "/_sandbox/orders" and method == "POST":
                oid = self.put_order(payload["channel"], payload["store"], payload["order"])
                return Response(200, {"id": oid})
            if path == "/_sandbox/clock" and method == "POST":
                if "freeze" in payload:
                    self.freeze_clock(bool(payload["freeze"]))
                return Response(200, {"now": self.advance_clock(float(payload.get("advance", 0)))})
            if path == "/_sandbox/hold" and method == "POST":
                return Response(200, self.hold_until(**_hold_args(payload)).to_dict())
            if path == "/_sandbox/hold" and method == "GET":
                return Response(200, [h.to_dict() for h in self.holds])
            if path == "/_sandbox/hold" and method == "DELETE":
                self.release_holds()
                return Response(200, {"ok": True})
            if path == "/_sandbox/tokens/expire" and method == "POST":
                expired = self.expire_tokens(payload.get("channel", "shopify"), payload.get("store"))
                return Response(200, {"expired": expired})
        except (KeyError, TypeError, ValueError) as exc:
            return Response(400, {"error": str(exc)})
        return Response(404, {"error": f"no admin endpoint {method} {path}"})

    def summary(self) -> dict[str, Any]:
        """JSON summary of every store (counts, locations, webhooks, credentials) and the limits."""
        out: dict[str, Any] = {"base_url": self.base_url if self._server else None, "stores": []}
        with self.world.lock:
            for (channel, key), st in self.world.stores.items():
                out["stores"].append(
                    {
                        "channel": channel,
                        "store": key,
                        "api_base_url": self.api_base_url(channel, key) if self._server else None,
                        "credentials": self.credentials(channel, key),
                        "products": len(st.products),
                        "variants": len(st.variants),
                        "locations": [asdict(loc) for loc in st.locations.values()],
                        "orders": sorted(st.orders),
                        "webhooks": list(st.webhooks.values()),
                        "stock_writes": len(st.adjustments),
                        "issued_tokens": len(st.issued_tokens),
                    }
                )
        out["limits"] = {c: self.limits(c) for c in CHANNELS}
        out["faults"] = [asdict(f) for f in self.faults]
        out["requests"] = len(self._requests)
        return out
