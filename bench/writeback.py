"""Writeback figures: one scheduled run in steady state (nothing to write back) with 1,000, 10,000,
100,000 and 1,000,000 ledger entries, time and peak memory side by side, each next to its goal
(within 1.2x of the 1,000-entry figure), with the DynamoDB requests and items read per run.

What is real and what is stubbed:

- The code under test is `writeback_all` with `DynamoLedger` and `DynamoStateStore` on a real
  boto3 DynamoDB client: parameter validation, request serialisation and response parsing are
  botocore's own. Only the HTTP send is replaced: a `before-send` handler answers each request
  from `DynamoModel`, a small in-memory DynamoDB holding the state table (a key per ledger item)
  and its sparse `writeback` index (per connection, the sorted keys of pending work). It answers
  Query on the index by bisecting those keys and returning only the matching index items,
  GetItem/BatchGetItem by key, and stores PutItem; its cost is proportional to what DynamoDB
  would read. It does not evaluate condition expressions, and answers any other operation (a
  Scan) with an error, which fails the bench. Ledger items are built from a template when read,
  so 1M entries fit in memory.
- Intacct is the sandbox over HTTP (in this process): the paid-invoices poll reads `PAID` AR
  invoices paid in the window, the same at every ledger size. Their entries are paid on the
  channel already (the steady state), so none is marked paid.
- The channel API is a stub that fails the bench if called: nothing is to be written back.

The model is filled directly, not through the code under test: per size, `OPEN` open invoices
(in the index under `p#<AR record key>`, as the ledger's rule puts them) and the rest finished
history (in no index), all of one connection.
All sizes are set up first, then run in turn (interleaved, so drift on the machine falls on each
alike): time is the median of `RUNS` runs per size after a warm-up run; peak memory the median of
3 runs' tracemalloc peak (everything allocated during the run, the in-process Intacct sandbox's
share included). Requests and items read are counted by the model over one run.
"""

from __future__ import annotations

import bisect
import json
import statistics
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from bench.report import Figure
from intacct_sync.connections import InMemoryConnections
from intacct_sync.intacct import IntacctClient, IntacctCredentials, SessionCache
from intacct_sync.ledger import PAID_PREFIX, WRITEBACK_INDEX, DynamoLedger, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, WritebackSettings
from intacct_sync.state import DynamoStateStore
from intacct_sync.writeback import writeback_all
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox

SIZES = (1_000, 10_000, 100_000, 1_000_000)
OPEN = 200
"""Open invoices (unpaid, number written back): the same receivables at every size."""
PAID = 20
"""AR invoices Intacct reports paid in the poll's window: already paid on the channel."""
RUNS = 21
GOAL = 1.2
TABLE = "intacct-sync-bench-state"
CONNECTION = "shop-bench"
AR_START = 500_000


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


@dataclass
class Stats:
    requests: Counter[str]
    items_read: int


class DynamoModel:
    """The state table and its writeback index in dicts; answers botocore's requests."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}  # written items (watermarks, leases, puts)
        self.history: dict[str, int] = {}  # ledger pk -> template number (built when read)
        self.index: dict[str, list[tuple[str, str, str | None]]] = {}  # wbq -> sorted (wbk, pk, wbar)
        self.templates: list[tuple[str, dict[str, Any]]] = []
        self.stats = Stats(Counter(), 0)

    # --- filling (directly, not through the code under test) --------------------------------

    def fill(self, entries: int) -> None:
        finished = LedgerEntry(connection_id=CONNECTION, order_id="@ID@", channel="shopify", status="paid",
                               document_key="Sales Invoice-@ID@", ar_record_key="@AR@", invoice_total="120.00",
                               currency="USD", customer_id="C-00042")  # fmt: skip
        finished.writeback.document_number = "@ID@"
        finished.writeback.document_written_at = datetime(2025, 1, 1, tzinfo=UTC)
        finished.note("invoice created", "Sales Invoice-@ID@")
        finished.note("payment posted", "ARPYMT")
        open_ = finished.model_copy(deep=True)
        open_.status = "invoiced"
        self.templates = [
            (e.model_dump_json(), {"status": {"S": e.status}, "updated": {"S": "2025-01-01T00:00:00+00:00"}})
            for e in (finished, open_)
        ]
        pending = self.index.setdefault(CONNECTION, [])
        for i in range(entries):
            pk = f"ledger#{CONNECTION}:{i}"
            is_open = i >= entries - OPEN
            self.history[pk] = 1 if is_open else 0
            if is_open:  # what the ledger's rule gives an open invoice whose number is written back
                pending.append((f"{PAID_PREFIX}{AR_START + i}", pk, str(AR_START + i)))
        pending.sort()

    def _ledger_item(self, pk: str) -> dict[str, Any] | None:
        if pk in self.items:
            return self.items[pk]
        template = self.history.get(pk)
        if template is None:
            return None
        doc, extra = self.templates[template]
        i = pk.rsplit(":", 1)[1]
        ar = str(AR_START + int(i))
        item = {"pk": {"S": pk}, "doc": {"S": doc.replace("@ID@", i).replace("@AR@", ar)}, "version": {"N": "3"}}
        item |= extra
        if template == 1:
            item |= {"wbq": {"S": CONNECTION}, "wbk": {"S": PAID_PREFIX + ar}, "wbar": {"S": ar}}
        return item

    # --- answering ----------------------------------------------------------------------------

    def handle(self, request: Any, **_: Any) -> AWSResponse:
        operation = request.headers["X-Amz-Target"].decode().split(".", 1)[1]
        self.stats.requests[operation] += 1
        params = json.loads(request.body)
        answer = getattr(self, f"_{operation}", None)
        if answer is None:
            body, status = {"__type": "ValidationException", "message": f"the bench model has no {operation}"}, 400
        else:
            body, status = answer(params), 200
        return AWSResponse(request.url, status, {}, _Body(json.dumps(body).encode()))

    def _read(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.stats.items_read += len(items)
        return items

    # One method per DynamoDB operation, named as the X-Amz-Target names it.
    def _GetItem(self, p: dict[str, Any]) -> dict[str, Any]:
        item = self._ledger_item(p["Key"]["pk"]["S"])
        return {"Item": self._read([item])[0]} if item else {}

    def _BatchGetItem(self, p: dict[str, Any]) -> dict[str, Any]:
        spec = p["RequestItems"][TABLE]
        found = [item for key in spec["Keys"] if (item := self._ledger_item(key["pk"]["S"])) is not None]
        return {"Responses": {TABLE: self._read(found)}, "UnprocessedKeys": {}}

    def _PutItem(self, p: dict[str, Any]) -> dict[str, Any]:
        item = p["Item"]
        pk = item["pk"]["S"]
        if pk.startswith("ledger#"):  # keep the index as DynamoDB would (a connection's pending keys)
            connection = pk.removeprefix("ledger#").split(":", 1)[0]
            pending = self.index.setdefault(connection, [])
            pending[:] = [k for k in pending if k[1] != pk]
            if "wbq" in item:
                ar = item["wbar"]["S"] if "wbar" in item else None
                bisect.insort(self.index.setdefault(item["wbq"]["S"], []), (item["wbk"]["S"], pk, ar))
        self.items[pk] = item
        return {}

    def _DeleteItem(self, p: dict[str, Any]) -> dict[str, Any]:
        self.items.pop(p["Key"]["pk"]["S"], None)
        return {}

    def _Query(self, p: dict[str, Any]) -> dict[str, Any]:
        """The three key conditions the ledger sends, answered by bisecting the sorted keys."""
        assert p["IndexName"] == WRITEBACK_INDEX, p
        values, condition = p["ExpressionAttributeValues"], p["KeyConditionExpression"]
        keys = self.index.get(values[":c"]["S"], [])
        if condition == "wbq = :c AND wbk BETWEEN :from AND :to":
            low, high = values[":from"]["S"], values[":to"]["S"]
        elif condition == "wbq = :c AND begins_with(wbk, :d)":
            low, high = values[":d"]["S"], values[":d"]["S"] + "\uffff"
        elif condition == "wbq = :c AND wbk = :k":
            low = high = values[":k"]["S"]
        else:
            raise AssertionError(f"the bench model does not answer this Query: {p}")
        start = p.get("ExclusiveStartKey")
        lo = bisect.bisect_right(keys, (start["wbk"]["S"], start["pk"]["S"], "\uffff")) if start else 0
        lo = max(lo, bisect.bisect_left(keys, (low, "", "")))
        hi = bisect.bisect_right(keys, (high, "\uffff", "\uffff"))
        page = keys[lo : min(hi, lo + int(p.get("Limit", 1_000)))]
        items = [
            {"pk": {"S": pk}, "wbq": values[":c"], "wbk": {"S": wbk}} | ({"wbar": {"S": ar}} if ar else {})
            for wbk, pk, ar in page
        ]
        out: dict[str, Any] = {"Items": self._read(items), "Count": len(items), "ScannedCount": len(items)}
        if page and lo + len(page) < hi:
            out["LastEvaluatedKey"] = {k: items[-1][k] for k in ("pk", "wbq", "wbk")}
        return out


class NoChannel:
    """Steady state: the run must not call the channel."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"channel called ({name}) in a run with nothing to write back")


def _paid_invoices(sandbox: IntacctSandbox) -> None:
    """`PAID` fully paid AR invoices, modified now, whose ledger entries are finished history."""
    company = sandbox.seed["companies"][0]["company_id"]
    with sandbox.store.lock:
        for n in range(PAID):
            sandbox.store.insert(
                company,
                "ARINVOICE",
                {"RECORDID": f"B{n}", "CUSTOMERID": "C-00042", "TOTALENTERED": "120.00", "TOTALDUE": "0.00",
                 "TOTALPAID": "120.00", "STATE": "Paid", "CURRENCY": "USD", "MODULEKEY": "8.SO"},
                f"B{n}",
            )  # fmt: skip


def _setup(entries: int, sandbox: IntacctSandbox, sessions: SessionCache) -> tuple[DynamoModel, Callable[[], None]]:
    """A filled model and one writeback run of the whole stack against it (checked each time)."""
    model = DynamoModel()
    model.fill(entries)
    client = boto3.client(
        "dynamodb",
        region_name="eu-west-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106
    )
    client.meta.events.register("before-send.dynamodb", model.handle)
    ledger, state = DynamoLedger(TABLE, client=client, retention_days=0), DynamoStateStore(TABLE, client=client)
    intacct = IntacctClient(
        IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": sandbox.url}), sessions=sessions
    )
    connection = Connection.model_validate(
        {"id": CONNECTION, "channel": "shopify", "store": "bench.myshopify.com", "access_token": "shpat_bench"}
    )
    settings = DEFAULT_SETTINGS.model_copy(update={"writeback": WritebackSettings(enabled=True)})
    state.set_watermark(f"{CONNECTION}#writeback-paid", datetime.now(UTC) - timedelta(minutes=15))

    def run() -> None:
        summary = writeback_all(
            InMemoryConnections([connection]), intacct, ledger, state,
            settings=settings, deadline=Deadline.after(300), client_factory=lambda _c: NoChannel(),  # type: ignore[arg-type,return-value]
        )  # fmt: skip
        result = summary[CONNECTION]
        assert result["complete"] and result["paid_invoices_seen"] >= PAID and not result["documents_written"], result

    run()  # warm-up: botocore's service model, the Intacct session
    return model, run


def _peak_kib(run: Callable[[], None]) -> float:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def run() -> list[Figure]:
    results: dict[int, dict[str, Any]] = {n: {} for n in SIZES}
    with IntacctSandbox.start() as sandbox:
        _paid_invoices(sandbox)
        sessions = SessionCache()
        setups = {n: _setup(n, sandbox, sessions) for n in SIZES}
        for n, (model, one_run) in setups.items():
            model.stats = Stats(Counter(), 0)
            one_run()
            results[n]["stats"], model.stats = model.stats, Stats(Counter(), 0)
        times: dict[int, list[float]] = {n: [] for n in SIZES}
        peaks: dict[int, list[float]] = {n: [] for n in SIZES}
        for _ in range(RUNS):  # interleaved: drift on the machine falls on every size alike
            for n, (_model, one_run) in setups.items():
                started = time.perf_counter()
                one_run()
                times[n].append(time.perf_counter() - started)
        for _ in range(3):
            for n, (_model, one_run) in setups.items():
                peaks[n].append(_peak_kib(one_run))
        for n in SIZES:
            results[n]["time_ms"] = statistics.median(times[n]) * 1000
            results[n]["peak_kb"] = statistics.median(peaks[n])
    base = results[SIZES[0]]
    figures: list[Figure] = []
    for what, unit, key in (("time", "ms", "time_ms"), ("peak memory", "KiB", "peak_kb")):
        for entries, r in results.items():
            ratio = r[key] / base[key]
            figures.append(
                Figure(
                    f"{entries:>9,} entries: {what} of one run",
                    r[key],
                    unit,
                    f"x{ratio:.2f} of 1k",
                    goal=f"<= {GOAL}x the 1k figure",
                    met=ratio <= GOAL,
                )
            )
    for entries, r in results.items():
        stats: Stats = r["stats"]
        calls = ", ".join(f"{n} {op}" for op, n in sorted(stats.requests.items()))
        figures.append(
            Figure(
                f"{entries:>9,} entries: DynamoDB requests",
                sum(stats.requests.values()),
                "requests",
                f"{calls}; {stats.items_read} items read",
            )
        )
    return figures
