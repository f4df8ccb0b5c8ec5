"""The stock push against both sandboxes over real HTTP: Intacct on-hand (get_icitemtotals or a
paged query) -> Shopify GraphQL / WooCommerce batches / BigCommerce absolute adjustments."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from intacct_sync.channels.api import ChannelClient, client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.intacct import IntacctClient
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, StockConnection, StockSettings, StockSource
from intacct_sync.stock import DynamoSnapshotStore, InMemorySnapshotStore, PushReport, push_connection
from intacct_sync.stock.snapshot import SnapshotStore
from local.channel_sandbox import ChannelFault, ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.aws import Stack

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
LOCATIONS = {
    "shopify": {"WH-EAST": "70000000001", "WH-WEST": "70000000002"},
    "woocommerce": {},
    "bigcommerce": {"WH-EAST": "1", "WH-WEST": "2"},
}
EAST, WEST = {"shopify": (70000000001, 70000000002), "bigcommerce": (1, 2)}.get, None
CHANNELS = ("shopify", "woocommerce", "bigcommerce")


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        time.sleep(min(seconds, 0.05))


def connection(cs: ChannelSandbox, channel: str) -> Connection:
    return Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-stock"))


def channel_client(cs: ChannelSandbox, channel: str, sleeps: Sleeps | None = None) -> ChannelClient:
    return client_for(
        connection(cs, channel),
        backoff=Backoff(base_s=0.01, cap_s=0.05, max_attempts=5),
        sleep=sleeps or Sleeps(),
        pacer=Pacer(),
        read_timeout_s=10,
    )


def settings(channel: str, **stock: Any) -> Settings:
    conn = StockConnection(locations=LOCATIONS[channel])
    return DEFAULT_SETTINGS.model_copy(update={"stock": StockSettings(connections={f"{channel}-stock": conn}, **stock)})


def push(
    cs: ChannelSandbox,
    channel: str,
    intacct: IntacctClient,
    store: SnapshotStore,
    cfg: Settings | None = None,
    *,
    client: ChannelClient | None = None,
    seconds: float = 30,
    dry_run: bool = False,
) -> PushReport:
    return push_connection(
        connection(cs, channel),
        intacct,
        client or channel_client(cs, channel),
        store,
        cfg or settings(channel),
        deadline=Deadline.after(seconds),
        dry_run=dry_run,
    )


def stock_requests(cs: ChannelSandbox, channel: str) -> list[Any]:
    def is_write(r: Any) -> bool:
        if channel == "shopify":
            return "inventorySetQuantities" in r.operations
        if channel == "woocommerce":
            return r.path.endswith("/batch")
        return "adjustments/absolute" in r.path

    return [r for r in cs.requests if r.channel == channel and is_write(r)]


def seed_items(sandbox: IntacctSandbox, skus: list[str], quantity: int = 7, warehouse: str = "WH-EAST") -> None:
    seed = copy.deepcopy(sandbox.seed)
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s} for s in skus]
    company["onhand"] += [{"ITEMID": s, "WAREHOUSEID": warehouse, "ONHAND": quantity} for s in skus]
    sandbox.reset(seed=seed)


def set_on_hand(sandbox: IntacctSandbox, item: str, warehouse: str, on_hand: int) -> None:
    seed = copy.deepcopy(sandbox.seed)
    for row in seed["companies"][0]["onhand"]:
        if row["ITEMID"] == item and row["WAREHOUSEID"] == warehouse:
            row["ONHAND"] = on_hand
    sandbox.reset(seed=seed)


# --- first push, then nothing --------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_first_push_publishes_every_mapped_figure_and_a_second_push_writes_nothing(
    cs: ChannelSandbox, client: IntacctClient, channel: str
) -> None:
    store = InMemorySnapshotStore()
    first = push(cs, channel, client, store)
    assert first.complete and first.error is None
    stock = cs.inventory(channel, STORES[channel])
    if channel == "woocommerce":  # one figure: both warehouses summed, on hold taken off
        assert {sku: stock[(sku, None)] for sku in ("TSHIRT-S", "TSHIRT-M", "MUG-01")} == {
            "TSHIRT-S": 200,
            "TSHIRT-M": 155,
            "MUG-01": 40,
        }
    else:
        east, west = {"shopify": (70000000001, 70000000002), "bigcommerce": (1, 2)}[channel]
        assert stock[("TSHIRT-S", east)] == 120
        assert stock[("TSHIRT-S", west)] == 80
        assert stock[("TSHIRT-M", east)] == 95  # 100 on hand - 5 on hold
        assert stock[("TSHIRT-M", west)] == 60
        assert stock[("MUG-01", east)] == 40
    cs.clear_requests()
    second = push(cs, channel, client, store)
    assert second.changes == [] and second.written == 0
    assert stock_requests(cs, channel) == []


def test_shopify_item_not_stocked_at_a_location_is_reported_and_the_rest_written(
    cs: ChannelSandbox, client: IntacctClient
) -> None:
    report = push(cs, "shopify", client, InMemorySnapshotStore())
    # The mug is stocked at East only: Shopify refuses that row (and the whole call), the
    # client sends the others again.
    assert list(report.rejected) == ["MUG-01@gid://shopify/Location/70000000002"]
    assert report.written == 5
    assert len(stock_requests(cs, "shopify")) == 2


# --- delta only ----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_only_the_changed_figure_is_pushed(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox, channel: str
) -> None:
    store = InMemorySnapshotStore()
    push(cs, channel, client, store)
    set_on_hand(sandbox, "TSHIRT-S", "WH-WEST", 33)
    before = len(cs.stock_writes(channel, STORES[channel]))
    report = push(cs, channel, client, store)
    writes = cs.stock_writes(channel, STORES[channel])[before:]
    assert [(c.sku, c.quantity, c.previous) for c in report.changes] == [
        ("TSHIRT-S", 153 if channel == "woocommerce" else 33, 200 if channel == "woocommerce" else 80)
    ]
    assert [(w["sku"], w["quantity"]) for w in writes] == [("TSHIRT-S", report.changes[0].quantity)]


def test_dry_run_lists_the_changes_and_writes_nothing(cs: ChannelSandbox, client: IntacctClient) -> None:
    store = InMemorySnapshotStore()
    report = push(cs, "bigcommerce", client, store, dry_run=True)
    assert len(report.changes) == 6
    assert stock_requests(cs, "bigcommerce") == []
    assert store.items == {}


# --- batches at each channel's maximum -------------------------------------------------------


@pytest.mark.parametrize(("channel", "requests"), [("shopify", 3), ("woocommerce", 6), ("bigcommerce", 1)])
def test_600_skus_go_in_batches_at_the_channel_maximum(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox, channel: str, requests: int
) -> None:
    skus = [f"BULK-{i:04d}" for i in range(600)]
    seed_items(sandbox, skus)
    east = {"shopify": [70000000001], "bigcommerce": [1]}.get(channel)
    cs.add_products(channel, STORES[channel], skus, 0, east)
    cfg = settings(channel, skus=tuple(skus))
    if channel != "woocommerce":
        cfg = settings(channel, skus=tuple(skus))
    report = push(cs, channel, client, InMemorySnapshotStore(), cfg)
    assert report.complete and report.written == 600 and not report.rejected
    sizes = [
        len(r.body["variables"]["input"]["quantities"])
        if channel == "shopify"
        else len(r.body.get("update") or r.body.get("items"))
        for r in stock_requests(cs, channel)
    ]
    assert len(sizes) == requests and sum(sizes) == 600
    assert max(sizes) == {"shopify": 250, "woocommerce": 100, "bigcommerce": 600}[channel]


# --- throttling and 429 ---------------------------------------------------------------------


def test_shopify_throttled_and_bigcommerce_429_are_waited_out(cs: ChannelSandbox, client: IntacctClient) -> None:
    cs.inject(ChannelFault("shopify", "throttle", times=2))
    cs.configure("bigcommerce", window_ms=300)  # the 429 says: the quota refills in <= 0.3 s
    cs.inject(ChannelFault("bigcommerce", "rate_limit", times=1, path_contains="adjustments"))
    for channel in ("shopify", "bigcommerce"):
        sleeps = Sleeps()
        report = push(cs, channel, client, InMemorySnapshotStore(), client=channel_client(cs, channel, sleeps))
        assert report.complete and report.written >= 5, report.summary()
        assert sleeps.delays, f"{channel}: the client should have waited"


def test_woocommerce_host_429_with_retry_after_is_retried(cs: ChannelSandbox, client: IntacctClient) -> None:
    cs.inject(ChannelFault("woocommerce", "rate_limit", times=1, retry_after=0.2, path_contains="batch"))
    sleeps = Sleeps()
    report = push(cs, "woocommerce", client, InMemorySnapshotStore(), client=channel_client(cs, "woocommerce", sleeps))
    assert report.complete and report.written == 3
    assert sleeps.delays  # Retry-After honoured (the sandbox sends whole seconds)


# --- resume ---------------------------------------------------------------------------------


class FaultAfter:
    """Wraps a channel client; after `n` stock batches arms a long 429 in the sandbox (the channel
    asks for 120 s, more than the run has left)."""

    def __init__(self, inner: ChannelClient, cs: ChannelSandbox, n: int) -> None:
        self.inner, self.cs, self.n = inner, cs, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write_stock(self, *args: Any, **kwargs: Any) -> Any:
        self.n -= 1
        if self.n < 0:
            self.cs.inject(ChannelFault("woocommerce", "rate_limit", times=None, retry_after=120))
        return self.inner.write_stock(*args, **kwargs)


def test_a_run_cut_short_resumes_with_only_the_rest(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    skus = [f"BULK-{i:04d}" for i in range(450)]
    seed_items(sandbox, skus)
    cs.add_products("woocommerce", STORES["woocommerce"], skus)
    cfg = settings("woocommerce", skus=tuple(skus))
    store = InMemorySnapshotStore()
    first = push(cs, "woocommerce", client, store, cfg, client=FaultAfter(channel_client(cs, "woocommerce"), cs, 2))  # type: ignore[arg-type]
    assert not first.complete and first.written == 200 and first.error
    done = {w["sku"] for w in cs.stock_writes("woocommerce", STORES["woocommerce"])}
    assert len(done & set(skus)) == 200
    cs.clear_faults()
    cs.clear_requests()
    second = push(cs, "woocommerce", client, store, cfg)
    assert second.complete and second.written == 250
    # Exactly the rest (written shard by shard, so not necessarily the last 250 SKUs), in order.
    assert [c.sku for c in second.changes] == [s for s in skus if s not in done]
    assert len(stock_requests(cs, "woocommerce")) == 3


def test_a_catalogue_crawl_cut_short_continues_from_its_cursor(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    skus = [f"BULK-{i:04d}" for i in range(1200)]
    seed_items(sandbox, skus)
    cs.add_products("bigcommerce", STORES["bigcommerce"], skus, 0, [1])
    cfg = settings("bigcommerce", skus=tuple(skus))
    store = InMemorySnapshotStore()
    channel = channel_client(cs, "bigcommerce")
    original = channel.crawl_stock_targets
    pages: list[str | None] = []

    def one_page_then_out_of_time(cursor: str | None, *, deadline: Deadline) -> Any:
        pages.append(cursor)
        found, following = original(cursor, deadline=deadline)
        object.__setattr__(deadline, "at", 0.0)  # the run's time is up after this page
        return found, following

    channel.crawl_stock_targets = one_page_then_out_of_time  # type: ignore[method-assign]
    first = push(cs, "bigcommerce", client, store, cfg, client=channel)
    assert first.crawl_pending and not first.complete and first.written == 0
    second = push(cs, "bigcommerce", client, store, cfg)
    assert second.complete and second.written == 1200
    assert pages == [None]
    crawl_pages = [r for r in cs.requests if "inventory/items" in r.path]
    assert [r.query.get("page") for r in crawl_pages] == ["1", "2"]


# --- unknown SKUs, mapping, sources -----------------------------------------------------------


def test_unknown_skus_either_way_are_reported_not_fatal(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    seed_items(sandbox, ["GHOST-1"])
    cs.add_products("bigcommerce", STORES["bigcommerce"], ["ORPHAN-1"])
    report = push(cs, "bigcommerce", client, InMemorySnapshotStore())
    assert report.complete and report.written == 6
    assert report.unknown_in_channel == ["GHOST-1"]
    assert "ORPHAN-1" in report.unknown_in_intacct


def test_unmapped_warehouses_are_not_published(cs: ChannelSandbox, client: IntacctClient) -> None:
    cfg = DEFAULT_SETTINGS.model_copy(
        update={
            "stock": StockSettings(
                connections={"bigcommerce-stock": StockConnection(locations={"WH-WEST": "1"}, safety_buffer=10)}
            )
        }
    )
    report = push(cs, "bigcommerce", client, InMemorySnapshotStore(), cfg)
    assert {(c.sku, c.location, c.quantity) for c in report.changes} == {
        ("TSHIRT-S", "1", 70),
        ("TSHIRT-M", "1", 50),
        ("MUG-01", "1", 0),
    }


def test_query_source_reads_itemwarehouseinfo_page_by_page(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    cfg = settings("woocommerce", source=StockSource(kind="query", page_size=2))
    report = push(cs, "woocommerce", client, InMemorySnapshotStore(), cfg)
    assert report.rows_read == 6
    assert {c.sku: c.quantity for c in report.changes} == {"TSHIRT-S": 200, "TSHIRT-M": 155, "MUG-01": 40}
    queries = [f for r in sandbox.requests for f in r.functions if f.name == "query"]
    assert len(queries) == 3


def test_snapshot_in_dynamodb_survives_between_runs(cs: ChannelSandbox, client: IntacctClient, aws: Stack) -> None:
    store = DynamoSnapshotStore(aws.table, client=aws.dynamodb)
    first = push(cs, "shopify", client, store)
    assert first.written == 5
    cs.clear_requests()
    second = push(cs, "shopify", client, DynamoSnapshotStore(aws.table, client=aws.dynamodb))
    assert second.changes == [] or [c.sku for c in second.changes] == ["MUG-01"]
    assert all("inventorySetQuantities" not in r.operations for r in cs.requests) or second.changes


# --- CLI ------------------------------------------------------------------------------------


def test_cli_dry_run_prints_the_diff_then_a_push_writes_it(
    cs: ChannelSandbox, sandbox: IntacctSandbox, tmp_path: Any
) -> None:
    import io
    import json

    from intacct_sync.cli import stock as cli
    from local.demo_credentials import sandbox_credentials

    conn_file = tmp_path / "bc.json"
    conn_file.write_text(json.dumps(cs.connection_secret("bigcommerce", STORES["bigcommerce"], "bc-cli")))
    creds = tmp_path / "intacct.json"
    creds.write_text(json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url}))
    snap = tmp_path / "snap.json"
    args = ["push", "--connection-file", str(conn_file), "--intacct-file", str(creds), "--snapshot-file", str(snap)]
    args += ["--location", "WH-EAST=1", "--location", "WH-WEST=2"]
    out = io.StringIO()
    assert cli.main([*args, "--dry-run"], stdout=out, pacer=Pacer()) == 0
    assert "6 would write" in out.getvalue() and "TSHIRT-M" in out.getvalue()
    assert stock_requests(cs, "bigcommerce") == []
    out = io.StringIO()
    assert cli.main(args, stdout=out, pacer=Pacer()) == 0
    assert "written=6" in out.getvalue()
    out = io.StringIO()
    assert cli.main(args, stdout=out, pacer=Pacer()) == 0
    assert "0 changes" in out.getvalue() and "channel_calls=0" in out.getvalue()
    assert len(stock_requests(cs, "bigcommerce")) == 2  # one per location, first push only
