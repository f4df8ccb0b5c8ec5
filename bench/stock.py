"""Stock push at 5,000, 50,000 and 200,000 SKUs x 2 channels (Shopify and BigCommerce), against
both sandboxes over real HTTP: run time, channel calls, snapshot writes and whole-process peak
memory, for a first run (catalogue crawl + every figure written), a no-change run (the bar: zero
writes of any kind) and a run after 1 % of the on-hand figures changed (only the snapshot shards
holding a change are written).

What is real: the push as the Lambda runs it (`push_connection` for each connection in turn, as
`push_all` does, in one process); the Intacct read (`get_icitemtotals`, the default source: one
answer, read and parsed as a stream) and every channel call go over HTTP to the Intacct and channel
sandboxes, which run in this (parent) process. Each size and run is a fresh Python subprocess
(`python -m bench.stock --child`), so its peak RSS is the push's own: interpreter, imports, HTTP
buffers and all, without the sandboxes or the bench. Peak RSS is VmHWM (see `peak_rss_mb`).

What is adjusted:
- the snapshot store is a directory of files instead of DynamoDB (same get/put contract; every
  document put is counted);
- the Shopify sandbox's GraphQL restore rate is raised. The SKU crawl (`inventoryItems`, 250 a page,
  ~252 points a page) costs about one point per SKU once: at the Standard plan's 100 points/s,
  200,000 SKUs take ~70 minutes of throttling, at Plus (1,000/s) ~7; the crawl is checkpointed, so
  on a slow plan it spans several scheduled runs. The points spent are reported so the time at
  each plan can be read off;
- the BigCommerce sandbox's request quota is raised (the real one is 150 requests per 30 s); the
  requests made are reported with the waiting they cost at the real quota;
- the sandboxes' own catalogues are frozen out of the parent's garbage collector (`gc.freeze`).

The channel sandbox answers each catalogue-crawl page in time that grows with the catalogue (it
sorts every item for each page), so the crawl's wall time grows with the square of the catalogue
here, though not in the push (its CPU per SKU is flat) nor, as far as is known, at the real
channels. The first-run linearity is therefore judged on the push process's CPU per SKU and on the
wall time without the crawl; the time with it is printed beside them. The time without the crawl
is measured directly: after the first runs, `NO_CRAWL_RUNS` more first runs per size start from a
snapshot holding the crawled SKU map and nothing pushed (so they read Intacct, diff, write every
figure and save, and crawl nothing), the sizes taking turns so that a busy spell of the machine
weighs on each alike; the figure is the ratio of the medians (each run is printed).

Goals (DESIGN.md section 6, issue 12): whole-process peak < 256 MB at 200,000 SKUs x 2 channels;
first-run cost per SKU at 200,000 within 1.2x of that at 5,000 (linear); no-change run: 0 channel
writes and 0 snapshot writes; 1 % change: only the shards holding a change are written; write
requests at the channel's batch maximum. Takes about 3 minutes on a 2-core machine, most of it
the 200,000-SKU first run (the sandbox's crawl pages).

    python -m bench.stock [SIZE ...]     # the section alone (default sizes: 5000 50000 200000)
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from bench.report import Figure

SIZES: Final = (5_000, 50_000, 200_000)
CHANNELS: Final = ("shopify", "bigcommerce")
STORES: Final = {"shopify": "demo.myshopify.com", "bigcommerce": "demostore"}
LOCATION: Final = {"shopify": ("70000000001", 70000000001), "bigcommerce": ("1", 1)}
FAST_RESTORE: Final = 100_000.0
"""Sandbox GraphQL restore rate for the bench (points/s); see the module doc."""
BIG_QUOTA: Final = 1_000_000
"""Sandbox BigCommerce requests per 30 s window for the bench (the real quota is 150)."""
BC_QUOTA: Final = (150, 30.0)
"""BigCommerce's quota on the Standard and Plus plans: requests per window, window seconds."""
RSS_GOAL_MB: Final = 256.0
LINEAR_GOAL: Final = 1.2
RUNS: Final = ("first", "no-change", "1%-changed")
FIRST_RUNS: Final = 5
"""First runs at the small size (the median counts; see `_Size.firsts`)."""
NO_CRAWL_RUNS: Final = 3
"""First runs without the crawl per size, interleaved between the sizes (the median counts)."""
ROOT: Final = Path(__file__).resolve().parents[1]
TITLE: Final = "Stock push (5,000 / 50,000 / 200,000 SKUs x 2 channels)"


# --- the measured process ----------------------------------------------------------------------


class DirSnapshotStore:
    """The snapshot store's contract on a directory (one file per document); every put counted."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.saves: list[list[str]] = []

    def _path(self, key: str) -> Path:
        return self.root / key.replace("#", "~")

    def get(self, keys: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key in keys:
            path = self._path(key)
            if path.exists():
                out[key] = path.read_bytes()
        return out

    def put(self, items: Mapping[str, bytes]) -> None:
        for key, blob in items.items():
            self._path(key).write_bytes(blob)
        self.saves.append(sorted(items))


def peak_rss_mb() -> float:
    """This process's peak resident set (MB): VmHWM, the high-water mark of its own address space.

    Not `ru_maxrss`: Linux carries the parent's high-water mark over fork and exec into it, so a
    child of the bench (which holds the sandboxes) would report the bench's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(client: Any, method: str) -> list[float]:
    """Wrap one method of `client` to add up the seconds spent in it (the returned one-item list)."""
    spent = [0.0]
    original = getattr(client, method)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    setattr(client, method, timed)
    return spent


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One run of both connections in this fresh process; what it did and its peak RSS."""
    import logging

    from intacct_sync.channels.api import client_for
    from intacct_sync.channels.api.http import Pacer
    from intacct_sync.intacct import IntacctClient, IntacctCredentials
    from intacct_sync.models.connection import Connection
    from intacct_sync.retry import Deadline
    from intacct_sync.settings import DEFAULT_SETTINGS, StockConnection, StockSettings
    from intacct_sync.stock import push_connection
    from intacct_sync.stock.snapshot import shard_of

    logging.disable(logging.INFO)
    conns = {f"{ch}-bench": StockConnection(locations={"WH-EAST": LOCATION[ch][0]}) for ch in spec["connections"]}
    skus: Any = "all"
    settings = DEFAULT_SETTINGS.model_copy(update={"stock": StockSettings(connections=conns, skus=skus)})
    intacct = IntacctClient(IntacctCredentials.model_validate(spec["intacct"]), read_timeout_s=120)
    rss_start = peak_rss_mb()
    out: dict[str, Any] = {}
    for channel, secret in spec["connections"].items():
        connection = Connection.model_validate(secret)
        client = client_for(connection, pacer=Pacer(), read_timeout_s=120)
        store = DirSnapshotStore(Path(spec["snapshot"]) / channel)
        store.root.mkdir(parents=True, exist_ok=True)
        crawl = _timed(client, "crawl_stock_targets")
        started, cpu = time.perf_counter(), time.process_time()
        report = push_connection(connection, intacct, client, store, settings, deadline=Deadline.after(840))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        out[channel] = {
            "elapsed_s": elapsed,
            "cpu_s": cpu,
            "crawl_s": crawl[0],
            "summary": report.summary(),
            "batch_size": client.stock_batch_size,
            "saves": store.saves,
            "change_shards": sorted({shard_of(c.sku) for c in report.changes}),
        }
        del report, client
    return {
        "channels": out,
        "rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_start,
    }


# --- the bench (sandboxes in this process, the push in a child) ----------------------------------


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.stock", "--child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench child failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _seed(sb: Any, skus: list[str]) -> None:
    seed = sb.seed
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s} for s in skus]
    company["onhand"] += [
        {"ITEMID": s, "WAREHOUSEID": "WH-EAST", "ONHAND": (i % 500) + 10, "ONHOLD": i % 3} for i, s in enumerate(skus)
    ]
    sb.reset(seed=seed)


def _change_one_percent(sb: Any, skus: list[str]) -> int:
    """One on-hand figure in a hundred goes up by one unit (in the sandbox's store directly)."""
    changed = set(skus[::100])
    store = sb.store
    with store.lock:
        company = store.company_ids()[0]
        for row in store.all(company, "ITEMWAREHOUSEINFO"):
            if row["ITEMID"] in changed:
                row["QTYONHAND"] = str(int(float(row["QTYONHAND"])) + 1)
                store.update(company, "ITEMWAREHOUSEINFO", row)
    return len(changed)


class _Size:
    """One catalogue size: its sandboxes (seeded), its snapshot directories and its runs."""

    def __init__(self, size: int, stack: contextlib.ExitStack, tmp: str) -> None:
        # Imported here: the measured child never loads the sandboxes.
        from local.channel_sandbox import ChannelSandbox
        from local.demo_credentials import sandbox_credentials
        from local.intacct_sandbox import IntacctSandbox

        self.size = size
        self.skus = [f"SKU-{i:06d}" for i in range(size)]
        self.sb = stack.enter_context(IntacctSandbox.start())
        self.cs = stack.enter_context(ChannelSandbox.start())
        self.tmp = Path(tmp) / str(size)
        self.runs: dict[str, Any] = {}
        _seed(self.sb, self.skus)
        self.cs.configure("shopify", graphql_restore_rate=FAST_RESTORE)
        self.cs.configure("bigcommerce", quota=BIG_QUOTA)
        for channel in CHANNELS:
            self.cs.add_products(channel, STORES[channel], self.skus, 0, [LOCATION[channel][1]])
        self.spec = {
            "intacct": {**sandbox_credentials(), "endpoint_url": self.sb.url},
            "connections": {ch: self.cs.connection_secret(ch, STORES[ch], f"{ch}-bench") for ch in CHANNELS},
        }

    def child(self, snapshot: Path) -> dict[str, Any]:
        """One run of the push (both connections) in a fresh process, on `snapshot`."""
        self.cs.clear_requests()
        for channel in CHANNELS:  # the sandbox's log of stock writes would only grow across runs
            with self.cs.world.lock:
                self.cs.world.store(channel, STORES[channel]).adjustments.clear()
        result = _run_child({**self.spec, "snapshot": str(snapshot)})
        result["shopify_points"] = sum(
            float(r.notes.get("query_cost") or 0) for r in self.cs.requests if r.channel == "shopify"
        )
        return result

    def firsts(self) -> None:
        """First runs with the crawl. One lasts under a second at the small size, where a busy
        machine shows most: the median of a few (each with an empty snapshot, so each crawls and
        writes everything)."""
        firsts = [self.child(self.tmp / f"first-{n}") for n in range(FIRST_RUNS if self.size < max(SIZES) // 10 else 1)]
        self.snapshot = self.tmp / f"first-{len(firsts) - 1}"
        firsts.sort(key=lambda r: _total(r, "elapsed_s"))
        self.runs["first"] = firsts[len(firsts) // 2]  # the median
        self.runs["first"]["peak_rss_mb"] = max(r["rss_mb"] for r in firsts)
        self.runs["no-crawl"] = []

    def first_without_crawl(self, n: int) -> None:
        """A first run whose SKU map is already resolved: the snapshot holds the crawled map (and
        the crawl's checkpoint) and nothing pushed, so the run reads Intacct, diffs, writes every
        figure and saves, and crawls nothing (what the time "without the crawl" is)."""
        fresh = self.tmp / f"no-crawl-{n}"
        for channel in CHANNELS:
            (fresh / channel).mkdir(parents=True)
            for doc in (self.snapshot / channel).iterdir():
                if "~meta" in doc.name or "~ids~" in doc.name:
                    shutil.copyfile(doc, fresh / channel / doc.name)
        result = self.child(fresh)
        for channel, c in result["channels"].items():
            if c["crawl_s"] or c["summary"]["written"] != self.runs["first"]["channels"][channel]["summary"]["written"]:
                raise RuntimeError(f"{self.size:,} SKUs, {channel}: the run without the crawl crawled or wrote less")
        self.runs["no-crawl"].append(result)

    def later(self) -> None:
        """The no-change run, then the run after 1 % of the figures changed, on the first's snapshot."""
        for run in RUNS[1:]:
            if run == "1%-changed":
                _change_one_percent(self.sb, self.skus)
            self.runs[run] = self.child(self.snapshot)


def _total(run: dict[str, Any], field: str) -> float:
    return float(sum(c[field] for c in run["channels"].values()))


def _figures(results: dict[int, dict[str, Any]]) -> list[Figure]:
    figures: list[Figure] = []
    largest = max(results)
    for size, runs in results.items():
        tag = f"{size:,} SKUs"
        first = runs["first"]
        wall, cpu, crawl = (_total(first, f) for f in ("elapsed_s", "cpu_s", "crawl_s"))
        figures.append(
            Figure(
                f"{tag}: first run time (2 channels)",
                wall,
                "s",
                f"{wall / size * 1e6:.0f} us/SKU, of which catalogue crawl {crawl:.1f} s; "
                f"push process CPU {cpu:.1f} s = {cpu / size * 1e6:.0f} us/SKU",
            )
        )
        for run in RUNS:
            rss = runs[run].get("peak_rss_mb", runs[run]["rss_mb"])
            figures.append(
                Figure(
                    f"{tag}: {run} run peak RSS",
                    rss,
                    "MB",
                    f"whole push process; {runs[run]['rss_after_imports_mb']:.0f} MB after imports",
                    goal=f"< {RSS_GOAL_MB:.0f} MB" if size == largest else "",
                    met=rss < RSS_GOAL_MB if size == largest else None,
                )
            )
        for channel in CHANNELS:
            c = first["channels"][channel]
            s = c["summary"]
            minimum = math.ceil(int(s["written"]) / int(c["batch_size"])) if s["written"] else 0
            per_save = [len(keys) for keys in c["saves"]]
            figures.append(
                Figure(
                    f"{tag}: first run {channel} channel calls",
                    int(s["channel_calls"]),
                    "calls",
                    f"{s['written']:,} written in {s['batches']} write request(s) of <= {c['batch_size']}; "
                    f"{c['elapsed_s']:.1f} s; snapshot: {len(per_save)} save(s), {sum(per_save)} document(s), "
                    f"<= {max(per_save, default=0)} a save",
                    goal=f"{minimum} write requests",
                    met=int(s["batches"]) == minimum and bool(s["complete"]),
                )
            )
        points = first["shopify_points"]
        figures.append(
            Figure(
                f"{tag}: first run Shopify GraphQL points",
                points,
                "points",
                f"= {points / 100:,.0f} s at Standard 100/s, {points / 1000:,.0f} s at Plus 1000/s",
            )
        )
        bc_calls = int(first["channels"]["bigcommerce"]["summary"]["channel_calls"])
        per, window = BC_QUOTA
        figures.append(
            Figure(
                f"{tag}: first run BigCommerce requests",
                bc_calls,
                "calls",
                f"at the {per} per {window:.0f} s quota: >= {max(0, bc_calls - per) / per * window:,.0f} s of waiting",
            )
        )
        nochange = runs["no-change"]
        writes = sum(int(c["summary"]["batches"]) for c in nochange["channels"].values())
        docs = sum(len(keys) for c in nochange["channels"].values() for keys in c["saves"])
        figures.append(
            Figure(
                f"{tag}: no-change run time (2 channels)",
                _total(nochange, "elapsed_s"),
                "s",
                f"push process CPU {_total(nochange, 'cpu_s'):.1f} s",
            )
        )
        figures.append(
            Figure(
                f"{tag}: no-change run writes",
                writes + docs,
                "writes",
                f"{writes} channel write request(s), {docs} snapshot document(s)",
                goal="0",
                met=writes + docs == 0,
            )
        )
        changed = runs["1%-changed"]
        for channel in CHANNELS:
            c = changed["channels"][channel]
            written = [key for keys in c["saves"] for key in keys]
            pushed = sorted(int(k.rsplit("#", 1)[1]) for k in written if "#pushed#" in k)
            other = [k for k in written if "#pushed#" not in k]
            sizes = "+".join(str(len(keys)) for keys in c["saves"]) or "0"
            figures.append(
                Figure(
                    f"{tag}: 1% change {channel} snapshot docs written",
                    len(written),
                    "docs",
                    f"{c['summary']['written']:,} figures written; per save {sizes}; "
                    f"{len(c['change_shards'])} of 64 pushed shards hold a change; other documents {len(other)}",
                    goal="only shards holding a change",
                    met=pushed == c["change_shards"] and not other,
                )
            )
    smallest = min(results)
    if smallest != largest:
        figures += _linearity(results[smallest], smallest, results[largest], largest)
    return figures


def _sum(run: dict[str, Any], fields: Sequence[str]) -> float:
    """The run's total of `fields`; a field named "-x" is taken off."""
    return sum(-_total(run, f[1:]) if f.startswith("-") else _total(run, f) for f in fields)


def _no_crawl(runs: dict[str, Any], n: int) -> tuple[float, str]:
    """Median seconds per SKU of the first runs without the crawl, and their spread in us/SKU."""
    per_sku = sorted(_total(r, "elapsed_s") / n for r in runs["no-crawl"])
    spread = "/".join(f"{v * 1e6:.0f}" for v in per_sku)
    return statistics.median(per_sku), spread


def _linearity(small_runs: dict[str, Any], n_small: int, large_runs: dict[str, Any], n_large: int) -> list[Figure]:
    """First-run cost per SKU, largest size against smallest, three ways."""
    out: list[Figure] = []
    label = f"{n_large // 1000}k vs {n_small // 1000}k"
    small, large = small_runs["first"], large_runs["first"]
    a, spread_a = _no_crawl(small_runs, n_small)
    b, spread_b = _no_crawl(large_runs, n_large)
    ratio = b / a
    without_crawl = (
        Figure(
            f"first-run time per SKU without the catalogue crawl, {label}",
            ratio,
            "x",
            f"{b * 1e6:.0f} vs {a * 1e6:.0f} us/SKU, medians of {NO_CRAWL_RUNS} first runs each on an already "
            f"resolved SKU map, the sizes interleaved ({spread_b} vs {spread_a}); Intacct read, figures, diff, "
            "channel writes, snapshot saves, over HTTP",
            goal=f"<= {LINEAR_GOAL}x",
            met=ratio <= LINEAR_GOAL,
        ),
    )
    for name, fields, goal, note in (
        (
            "first-run time per SKU",
            ("elapsed_s",),
            False,
            "everything, the sandboxes' own work included: the channel sandbox answers each crawl page "
            "in time growing with the catalogue (a sandbox artefact; see the module doc)",
        ),
        ("first-run push process CPU per SKU", ("cpu_s",), True, "the push's own work"),
    ):
        a, b = _sum(small, fields) / n_small, _sum(large, fields) / n_large
        ratio = b / a
        out.append(
            Figure(
                f"{name}, {label}",
                ratio,
                "x",
                f"{b * 1e6:.0f} vs {a * 1e6:.0f} us/SKU; {note}",
                goal=f"<= {LINEAR_GOAL}x" if goal else "",
                met=ratio <= LINEAR_GOAL if goal else None,
            )
        )
    return out[:1] + list(without_crawl) + out[1:]


def run(sizes: Sequence[int] = SIZES) -> list[Figure]:
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        every = [_Size(size, stack, tmp) for size in sorted(sizes)]
        # The sandboxes' catalogues (millions of objects at the large size) are left out of this
        # process's garbage collections: otherwise each collection the sandboxes' answers trigger
        # walks them all, a cost of the sandboxes (not of the measured push) that grows with size.
        gc.collect()
        gc.freeze()
        for one in every:
            one.firsts()
        # The runs without the crawl alternate between the sizes (a busy spell of the machine
        # then weighs on every size alike); their median is the figure.
        for n in range(NO_CRAWL_RUNS):
            for one in every:
                one.first_without_crawl(n)
        for one in every:
            one.later()
        gc.unfreeze()
        results = {one.size: one.runs for one in every}
    figures = _figures(results)
    figures.append(Figure("stock bench wall time", time.perf_counter() - started, "s", "seeding included"))
    return figures


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        print(json.dumps(_child(json.loads(sys.stdin.read()))))
    else:
        import logging

        from bench.report import print_section

        logging.disable(logging.INFO)
        chosen = tuple(int(a) for a in sys.argv[1:]) or SIZES
        print_section(f"Stock push ({' / '.join(f'{s:,}' for s in chosen)} SKUs x 2 channels)", run(chosen))
