"""The channel API clients against the channel sandbox over real HTTP: paging, `since`
filtering, rate limits and quota pauses, auth failures, idempotent webhook registration, CLI."""

from __future__ import annotations

import copy
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from intacct_sync.channels.api import (
    DEFAULT_WEBHOOK_TOPICS,
    ChannelAuthError,
    ChannelClient,
    ChannelNotFound,
    client_for,
)
from intacct_sync.channels.api.http import Pacer
from intacct_sync.cli import webhooks as cli
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.retry import Backoff, Deadline
from local.channel_sandbox import ChannelFault, ChannelSandbox

FIXTURES = Path(__file__).parents[1] / "fixtures" / "channels"
STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
T0 = datetime(2031, 3, 1, 12, 0, 0, tzinfo=UTC)
HOOK_URL = "https://hooks.example.com/webhooks/{id}"


class Sleeps:
    """Records the client's waits and really waits (capped), so real-time quotas refill."""

    def __init__(self, cap_s: float = 2.0) -> None:
        self.delays: list[float] = []
        self.cap_s = cap_s

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(min(seconds, self.cap_s))


class SandboxClockSleeps(Sleeps):
    """Waits on the channel sandbox's frozen clock: each wait moves it instead of sleeping, so a
    quota window rolls exactly when the client has waited it out, however slow the machine."""

    def __init__(self, cs: ChannelSandbox) -> None:
        super().__init__()
        self.cs = cs

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.cs.advance_clock(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def connection(cs: ChannelSandbox, channel: str, **override: Any) -> Connection:
    return Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-it") | override)


def client(cs: ChannelSandbox, channel: str, sleeps: Sleeps, **options: Any) -> ChannelClient:
    conn = options.pop("conn", None) or connection(cs, channel)
    return client_for(
        conn,
        backoff=Backoff(base_s=0.05, cap_s=0.2, max_attempts=5),
        sleep=sleeps,
        pacer=options.pop("pacer", None) or Pacer(),
        read_timeout_s=10,
        **options,
    )


def fixture(path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / path).read_text())
    return data


def order_ids(events: list[CanonicalEvent], kind: str = "order") -> list[str]:
    return [e.order_id for e in events if e.type == kind]


def deadline() -> Deadline:
    return Deadline.after(60)


# --- orders seeded at known modification times ----------------------------------------------------


def put_shopify(cs: ChannelSandbox, n: int, *, start: datetime = T0, paid_every: int = 2) -> list[int]:
    base = fixture("shopify/orders_paid_us_tax_exclusive_discount.json")
    ids = []
    for i in range(n):
        order = copy.deepcopy(base)
        order["id"] = 9_000_000 + i
        order["name"] = f"#{5000 + i}"
        order["updated_at"] = (start + timedelta(minutes=i)).isoformat()
        order["created_at"] = (start - timedelta(days=1)).isoformat()
        order["financial_status"] = "paid" if i % paid_every == 0 else "pending"
        ids.append(cs.put_order("shopify", STORES["shopify"], order))
    return ids


def put_woo(cs: ChannelSandbox, n: int, *, start: datetime = T0) -> list[int]:
    base = fixture("woocommerce/order_updated_stripe_paid.json")
    ids = []
    for i in range(n):
        order = copy.deepcopy(base)
        order["id"] = 70_000 + i
        order["number"] = str(70_000 + i)
        stamp = (start + timedelta(minutes=i)).replace(tzinfo=None).isoformat()
        order["date_modified_gmt"] = stamp
        order["date_modified"] = None
        ids.append(cs.put_order("woocommerce", STORES["woocommerce"], order))
    return ids


def put_bigcommerce(cs: ChannelSandbox, n: int, *, start: datetime = T0) -> list[int]:
    base = fixture("bigcommerce/order_fetch_us_coupon.json")
    ids = []
    for i in range(n):
        bundle = copy.deepcopy(base)
        bundle["order"]["id"] = 800 + i
        bundle["order"]["date_modified"] = (start + timedelta(minutes=i)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        ids.append(cs.put_order("bigcommerce", STORES["bigcommerce"], bundle))
    return ids


def requests_to(cs: ChannelSandbox, channel: str, path_end: str) -> list[Any]:
    return [r for r in cs.requests if r.channel == channel and r.path.endswith(path_end)]


# --- the reconcile poll: every page, only what changed since, stable ids ----------------------------


def test_shopify_poll_follows_the_link_cursor_and_adds_payments_from_transactions(
    cs: ChannelSandbox, sleeps: Sleeps
) -> None:
    ids = put_shopify(cs, 7)
    capture = fixture("shopify/order_transactions_create_capture.json") | {"id": 777001, "order_id": ids[0]}
    cs.add_transaction("shopify", STORES["shopify"], ids[0], capture)
    c = client(cs, "shopify", sleeps, page_size=3)

    events = list(c.iter_orders_changed_since(T0, deadline=deadline()))

    assert order_ids(events) == [str(i) for i in ids]  # oldest modification first, all 3 pages
    pages = requests_to(cs, "shopify", "/orders.json")
    assert len(pages) == 3
    assert "page_info" in pages[1].query and "updated_at_min" not in pages[1].query
    payments = [e for e in events if e.type == "payment"]
    assert [e.event_id for e in payments] == ["shopify:shopify-it:payment:777001"]
    # transactions are fetched only for orders that can hold a captured payment
    assert len(requests_to(cs, "shopify", "/transactions.json")) == 4


def test_shopify_since_is_inclusive_and_excludes_older_orders(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    ids = put_shopify(cs, 4)
    c = client(cs, "shopify", sleeps)
    events = list(c.iter_orders_changed_since(T0 + timedelta(minutes=2), deadline=deadline()))
    assert order_ids(events) == [str(ids[2]), str(ids[3])]


def test_polling_one_state_twice_gives_the_same_event_ids(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    put_shopify(cs, 2)
    put_woo(cs, 2)
    put_bigcommerce(cs, 2)
    for channel in ("shopify", "woocommerce", "bigcommerce"):
        c = client(cs, channel, sleeps)
        first = [e.event_id for e in c.iter_orders_changed_since(T0, deadline=deadline())]
        second = [e.event_id for e in c.iter_orders_changed_since(T0, deadline=deadline())]
        assert first and first == second, channel


def test_woocommerce_poll_reads_every_page_by_modification_time(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    ids = put_woo(cs, 5)
    c = client(cs, "woocommerce", sleeps, page_size=2)

    events = list(c.iter_orders_changed_since(T0 + timedelta(minutes=1), deadline=deadline()))

    assert order_ids(events) == [str(i) for i in ids[1:]]  # the order at `since` itself included
    pages = requests_to(cs, "woocommerce", "/wc/v3/orders")
    assert [r.query.get("page") for r in pages] == ["1", "2"]
    assert pages[0].query["dates_are_gmt"] == "true" and pages[0].query["orderby"] == "modified"
    assert any(e.type == "payment" for e in events)  # derived from date_paid by the adapter


def test_bigcommerce_poll_pages_until_the_204_and_yields_references(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    ids = put_bigcommerce(cs, 4)
    c = client(cs, "bigcommerce", sleeps, page_size=2)

    events = list(c.iter_orders_changed_since(T0, deadline=deadline()))

    assert [e.type for e in events] == ["order_reference"] * 4
    assert order_ids(events, "order_reference") == [str(i) for i in ids]
    assert events[0].updated_at == T0
    assert events[0].event_id == f"bigcommerce:bigcommerce-it:poll:{ids[0]}:{T0.isoformat()}"
    statuses = [r.status for r in requests_to(cs, "bigcommerce", "/v2/orders")]
    assert statuses == [200, 200, 204]


def test_bigcommerce_fetch_order_events_reads_products_addresses_and_transactions(
    cs: ChannelSandbox, sleeps: Sleeps
) -> None:
    (order_id,) = put_bigcommerce(cs, 1)
    c = client(cs, "bigcommerce", sleeps)
    events = c.fetch_order_events(str(order_id), deadline=deadline())
    kinds = [e.type for e in events]
    assert kinds[0] == "order" and "payment" in kinds
    order = events[0].payload
    assert order.lines and order.shipping_address is not None  # type: ignore[union-attr]
    paths = {r.path for r in cs.requests if r.channel == "bigcommerce"}
    assert {f"/v2/orders/{order_id}/products", f"/v3/orders/{order_id}/transactions"} <= paths


def test_fetch_order_events_of_each_channel_and_unknown_order(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    (shop_id,) = put_shopify(cs, 1)
    (woo_id,) = put_woo(cs, 1)
    assert client(cs, "shopify", sleeps).fetch_order_events(str(shop_id), deadline=deadline())[0].type == "order"
    assert client(cs, "woocommerce", sleeps).fetch_order_events(str(woo_id), deadline=deadline())[0].type == "order"
    with pytest.raises(ChannelNotFound):
        client(cs, "bigcommerce", sleeps).fetch_order_events("424242", deadline=deadline())


# --- rate limits -----------------------------------------------------------------------------


def test_a_429_with_retry_after_is_waited_out_then_the_poll_succeeds(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    ids = put_shopify(cs, 2, paid_every=99)
    cs.inject(ChannelFault(channel="shopify", kind="rate_limit", retry_after=0.3, path_contains="/orders.json"))
    c = client(cs, "shopify", sleeps)

    events = list(c.iter_orders_changed_since(T0, deadline=deadline()))

    assert order_ids(events) == [str(i) for i in ids[:1]] + [str(ids[1])]
    assert 0.3 in sleeps.delays
    assert [r.status for r in requests_to(cs, "shopify", "/orders.json")] == [429, 200]


def test_woocommerce_host_429_and_503_are_retried(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    put_woo(cs, 1)
    cs.inject(ChannelFault(channel="woocommerce", kind="http_error", status=503))
    cs.inject(ChannelFault(channel="woocommerce", kind="rate_limit", retry_after=0.2))
    events = list(client(cs, "woocommerce", sleeps).iter_orders_changed_since(T0, deadline=deadline()))
    assert order_ids(events)
    assert len(sleeps.delays) == 2


def test_bigcommerce_quota_headers_pause_before_the_quota_runs_out(cs: ChannelSandbox) -> None:
    put_bigcommerce(cs, 8)
    cs.freeze_clock()  # the window and the client's pacing share the sandbox clock, moved by its waits
    cs.configure("bigcommerce", quota=5, window_ms=1000)
    sleeps = SandboxClockSleeps(cs)
    c = client(cs, "bigcommerce", sleeps, page_size=1, pacer=Pacer(clock=cs.monotonic))

    events = list(c.iter_orders_changed_since(T0, deadline=deadline()))

    assert len(events) == 8
    statuses = [r.status for r in requests_to(cs, "bigcommerce", "/v2/orders")]
    assert 429 not in statuses  # paced, never refused
    assert any(0 < d <= 1.0 for d in sleeps.delays)


def test_bigcommerce_429_waits_the_reset_header(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    put_bigcommerce(cs, 1)
    cs.inject(ChannelFault(channel="bigcommerce", kind="rate_limit", path_contains="/v2/orders"))
    events = list(client(cs, "bigcommerce", sleeps).iter_orders_changed_since(T0, deadline=deadline()))
    assert len(events) == 1
    assert sleeps.delays and sleeps.delays[0] > 0


# --- auth failures name the secret key and the channel-side setup ------------------------------------


@pytest.mark.parametrize(
    ("channel", "override", "keys"),
    [
        ("shopify", {"access_token": "shpat_wrong_token_123"}, ["access_token", "read_orders"]),
        ("woocommerce", {"api_secret": "cs_wrong_secret_123"}, ["api_key", "api_secret", "Read/Write"]),
        ("bigcommerce", {"access_token": "bc_wrong_token_123"}, ["access_token", "Orders"]),
    ],
)
def test_bad_credentials_raise_channel_auth_error_with_the_fix(
    cs: ChannelSandbox, sleeps: Sleeps, channel: str, override: dict[str, str], keys: list[str]
) -> None:
    c = client(cs, channel, sleeps, conn=connection(cs, channel, **override))
    with pytest.raises(ChannelAuthError) as info:
        list(c.iter_orders_changed_since(T0, deadline=deadline()))
    assert info.value.status == 401
    for key in keys:
        assert key in (info.value.fix or "")
    assert next(iter(override.values())) not in str(info.value)
    assert len(requests_to(cs, channel, "")) == 1  # not retried


def test_a_token_without_the_orders_scope_is_a_403_auth_error(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    seed = cs.seed
    seed["bigcommerce"]["demostore"]["access_tokens"].append({"token": "bc_no_orders_scope_1", "scopes": []})
    cs.reset(seed)
    c = client(cs, "bigcommerce", sleeps, conn=connection(cs, "bigcommerce", access_token="bc_no_orders_scope_1"))
    with pytest.raises(ChannelAuthError) as info:
        list(c.iter_orders_changed_since(T0, deadline=deadline()))
    assert info.value.status == 403
    assert "Orders" in (info.value.fix or "")


def test_a_read_only_woocommerce_key_cannot_register_webhooks(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    readonly = {
        "api_key": "ck_sandbox_readonly_000000000000000000002",
        "api_secret": "cs_sandbox_readonly_000000000000000000002",
    }
    c = client(cs, "woocommerce", sleeps, conn=connection(cs, "woocommerce", **readonly))
    assert c.list_webhooks(deadline=deadline()) == []
    with pytest.raises(ChannelAuthError) as info:
        c.ensure_webhooks(HOOK_URL.format(id="w"), ["order.created"], secret="s3cret-value", deadline=deadline())
    assert "Read/Write" in (info.value.fix or "")


# --- webhooks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["shopify", "woocommerce", "bigcommerce"])
def test_ensure_webhooks_is_idempotent_and_list_shows_them(cs: ChannelSandbox, sleeps: Sleeps, channel: str) -> None:
    conn = connection(cs, channel)
    c = client(cs, channel, sleeps, conn=conn)
    url = HOOK_URL.format(id=conn.id)
    topics = DEFAULT_WEBHOOK_TOPICS[conn.channel]
    secret = conn.webhook_secret.get_secret_value() if conn.webhook_secret else None

    first = c.ensure_webhooks(url, topics, secret=secret, deadline=deadline())
    second = c.ensure_webhooks(url, topics, secret=secret, deadline=deadline())

    assert sorted(s.topic for s in first.created) == sorted(topics)
    assert second.created == () and second.repaired == ()
    assert sorted(s.topic for s in second.existing) == sorted(topics)
    listed = c.list_webhooks(deadline=deadline())
    assert sorted(s.topic for s in listed if s.address == url) == sorted(topics)
    stored = cs.webhooks(channel, STORES[channel])
    assert len(stored) == len(topics)
    if channel == "woocommerce":
        assert all(h["secret"] == secret for h in stored)
    if channel == "bigcommerce":
        assert all(h["headers"] == {"X-Webhook-Token": "shared-token-for-tests"} for h in stored)


def test_ensure_reports_extras_and_reactivates_a_disabled_woocommerce_hook(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    conn = connection(cs, "woocommerce")
    c = client(cs, "woocommerce", sleeps, conn=conn)
    url = HOOK_URL.format(id=conn.id)
    secret = "woocommerce-test-secret-do-not-use"
    c.ensure_webhooks(url, ["order.created", "order.updated", "product.updated"], secret=secret, deadline=deadline())
    hook = next(h for h in cs.webhooks("woocommerce", STORES["woocommerce"]) if h["topic"] == "order.updated")
    woo = client(cs, "woocommerce", sleeps, conn=conn)
    woo.http.request(  # type: ignore[attr-defined]
        "PUT",
        "/wp-json/wc/v3/webhooks/{id}",
        path_params={"id": hook["id"]},
        json_body={"status": "disabled"},
        deadline=deadline(),
    )

    result = c.ensure_webhooks(url, ["order.created", "order.updated"], secret=secret, deadline=deadline())

    assert [s.topic for s in result.repaired] == ["order.updated"] and result.repaired[0].active
    assert [s.topic for s in result.extra] == ["product.updated"]
    assert result.created == ()


def test_a_bigcommerce_hook_with_another_auth_header_value_is_updated(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    old = connection(cs, "bigcommerce", webhook_auth_value="old-token-value")
    url = HOOK_URL.format(id=old.id)
    client(cs, "bigcommerce", sleeps, conn=old).ensure_webhooks(
        url, ["store/order/*"], secret=None, deadline=deadline()
    )

    result = client(cs, "bigcommerce", sleeps).ensure_webhooks(url, ["store/order/*"], secret=None, deadline=deadline())

    assert len(result.repaired) == 1 and result.repaired[0].auth_header_ok
    (hook,) = cs.webhooks("bigcommerce", STORES["bigcommerce"])
    assert hook["headers"] == {"X-Webhook-Token": "shared-token-for-tests"}


def test_woocommerce_registration_without_a_secret_is_refused_before_any_write(
    cs: ChannelSandbox, sleeps: Sleeps
) -> None:
    c = client(cs, "woocommerce", sleeps)
    with pytest.raises(Exception, match="webhook_secret"):
        c.ensure_webhooks(HOOK_URL.format(id="w"), ["order.created"], secret=None, deadline=deadline())
    assert cs.webhooks("woocommerce", STORES["woocommerce"]) == []


def test_dry_run_changes_nothing(cs: ChannelSandbox, sleeps: Sleeps) -> None:
    c = client(cs, "shopify", sleeps)
    result = c.ensure_webhooks(
        HOOK_URL.format(id="s"), DEFAULT_WEBHOOK_TOPICS["shopify"], secret=None, deadline=deadline(), dry_run=True
    )
    assert len(result.created) == 6 and all(s.id is None for s in result.created)
    assert cs.webhooks("shopify", STORES["shopify"]) == []


# --- CLI end to end ------------------------------------------------------------------------------------


def write_connection(tmp_path: Path, conn: Connection) -> Path:
    data = conn.model_dump(mode="json", exclude_none=True)
    for key in ("webhook_secret", "webhook_auth_value", "api_key", "api_secret", "access_token"):
        value = getattr(conn, key)
        if value is not None:
            data[key] = value.get_secret_value()
    path = tmp_path / f"{conn.id}.json"
    path.write_text(json.dumps(data))
    return path


def run(argv: list[str], sleeps: Sleeps) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, stdout=out, stderr=err, sleep=sleeps, pacer=Pacer())
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("channel", ["shopify", "woocommerce", "bigcommerce"])
def test_cli_register_then_list(cs: ChannelSandbox, sleeps: Sleeps, tmp_path: Path, channel: str) -> None:
    conn = connection(cs, channel)
    path = write_connection(tmp_path, conn)
    url = HOOK_URL.format(id=conn.id)
    topics = DEFAULT_WEBHOOK_TOPICS[conn.channel]

    code, out, err = run(["register", "--connection-file", str(path), "--url", url, "--dry-run"], sleeps)
    assert code == 0, err
    assert f"0 existing, {len(topics)} would create" in out
    assert cs.webhooks(channel, STORES[channel]) == []

    code, out, err = run(["register", "--connection-file", str(path), "--url", url], sleeps)
    assert code == 0, err
    assert f"0 existing, {len(topics)} created, 0 fixed, 0 extra" in out
    code, out, _ = run(["register", "--connection-file", str(path), "--url", url], sleeps)
    assert f"{len(topics)} existing, 0 created" in out

    code, out, _ = run(["list", "--connection-file", str(path)], sleeps)
    assert code == 0
    assert f"{len(topics)} subscription(s)" in out
    for topic in topics:
        assert topic in out
    for secret in ("shared-token-for-tests", conn.access_token, conn.api_secret):
        if secret is not None:
            text = secret if isinstance(secret, str) else secret.get_secret_value()
            assert text not in out + err


def test_cli_auth_failure_exits_1_with_the_fix(cs: ChannelSandbox, sleeps: Sleeps, tmp_path: Path) -> None:
    path = write_connection(tmp_path, connection(cs, "shopify", access_token="shpat_wrong_token_999"))
    code, out, err = run(["list", "--connection-file", str(path)], sleeps)
    assert code == 1
    assert "error:" in err and "fix:" in err and "read_orders" in err
    assert "shpat_wrong_token_999" not in out + err
