"""Stock push figures: 50,000 SKUs x 2 channels (Shopify and BigCommerce), against both
sandboxes over real HTTP: channel calls, run time and peak memory (tracemalloc), for a first run
(catalogue crawl + every figure written) and a no-change run (the bar: zero writes).

The Intacct sandbox holds the 50,000 items and their on-hand rows (seeded in about 2 s) and
answers `get_icitemtotals` in one response, so the Intacct read is the real one.

Shopify's GraphQL bucket: the SKU crawl (`inventoryItems`, 250 a page, 252 points a page) costs
about 50,000 points once. At the Standard plan's 100 points/s that alone is ~8 minutes, at Plus
(1,000/s) under a minute; the bench raises the sandbox's restore rate so the figure measures the
product, and reports the points spent so the time at each plan can be read off. The crawl is
checkpointed, so on a slow plan it simply spans several scheduled runs; later runs reuse the map.
"""

from __future__ import annotations

import copy
import time
import tracemalloc
from typing import Any

from bench.report import Figure
from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.intacct import IntacctClient, IntacctCredentials
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, StockConnection, StockSettings
from intacct_sync.stock import InMemorySnapshotStore, PushReport, push_connection
from local.channel_sandbox import ChannelSandbox
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox

SKUS = 50_000
STORES = {"shopify": "demo.myshopify.com", "bigcommerce": "demostore"}
LOCATION = {"shopify": ("70000000001", 70000000001), "bigcommerce": ("1", 1)}
FAST_RESTORE = 100_000.0
"""Sandbox GraphQL restore rate for the bench (points/s); see the module doc."""


def _seed_intacct(sb: IntacctSandbox, skus: list[str], bump: int = 0) -> None:
    seed = copy.deepcopy(sb.seed)
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s} for s in skus]
    company["onhand"] += [
        {"ITEMID": s, "WAREHOUSEID": "WH-EAST", "ONHAND": (i % 500) + bump, "ONHOLD": i % 3} for i, s in enumerate(skus)
    ]
    sb.reset(seed=seed)


def _settings() -> Settings:
    conns = {
        f"{ch}-bench": StockConnection(locations={"WH-EAST": LOCATION[ch][0]}) for ch in ("shopify", "bigcommerce")
    }
    skus: Any = "all"
    return DEFAULT_SETTINGS.model_copy(update={"stock": StockSettings(connections=conns, skus=skus)})


def _measure(
    run: str, cs: ChannelSandbox, intacct: IntacctClient, stores: dict[str, InMemorySnapshotStore]
) -> list[Figure]:
    figures: list[Figure] = []
    for channel in ("shopify", "bigcommerce"):
        conn = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-bench"))
        client = client_for(conn, pacer=Pacer(), read_timeout_s=120)
        cs.clear_requests()
        tracemalloc.start()
        started = time.perf_counter()
        report: PushReport = push_connection(
            conn, intacct, client, stores[channel], _settings(), deadline=Deadline.after(840)
        )
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        requests = [r for r in cs.requests if r.channel == channel]
        points = sum(float(r.notes.get("query_cost") or 0) for r in requests)
        label = f"{run} run, {channel}"
        note = f"{report.written:,} written in {report.batches} write request(s); complete={report.complete}"
        figures += [
            Figure(f"{label}: channel calls", len(requests), "calls", note),
            Figure(f"{label}: run time", elapsed, "s", f"{report.rows_read:,} Intacct rows read"),
            Figure(f"{label}: peak memory", peak / 1e6, "MB", "tracemalloc, whole push"),
        ]
        if channel == "shopify":
            figures.append(
                Figure(
                    f"{label}: GraphQL points",
                    points,
                    "points",
                    f"= {points / 100:,.0f} s at Standard 100/s, {points / 1000:,.0f} s at Plus 1000/s",
                )
            )
    return figures


def run() -> list[Figure]:
    skus = [f"SKU-{i:06d}" for i in range(SKUS)]
    with IntacctSandbox.start() as sb, ChannelSandbox.start() as cs:
        _seed_intacct(sb, skus)
        cs.configure("shopify", graphql_restore_rate=FAST_RESTORE)
        for channel in ("shopify", "bigcommerce"):
            cs.add_products(channel, STORES[channel], skus, 0, [LOCATION[channel][1]])
        creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": sb.url})
        intacct = IntacctClient(creds, read_timeout_s=120)
        stores = {ch: InMemorySnapshotStore() for ch in ("shopify", "bigcommerce")}
        figures = _measure("first", cs, intacct, stores)
        figures += _measure("no-change", cs, intacct, stores)
        # 1% of the items change: only those are written.
        changed = skus[::100]
        seed = copy.deepcopy(sb.seed)
        for row in seed["companies"][0]["onhand"]:
            if row["ITEMID"] in set(changed):
                row["ONHAND"] = int(row["ONHAND"]) + 1
        sb.reset(seed=seed)
        figures += _measure("1%-changed", cs, intacct, stores)
    return figures


if __name__ == "__main__":
    import logging

    from bench.report import print_section

    logging.disable(logging.INFO)
    print_section("Stock push (50,000 SKUs x 2 channels)", run())
