"""A channel API outage of hours on the scheduled paths (issue 13): stock push, writeback and
reconcile resume where they stopped, against the channel sandbox's injected faults.

Time is simulated: a scheduled run every 20 minutes for 3 hours is a call with a later `now`
(stock push: the SKU map goes stale after an hour, so the re-crawl meets the outage too), and the
channel clients sleep through a fake `sleep`; only the time-out kind waits for real (each request
sits in the sandbox longer than the client's read time-out, then is carried out: a lost answer).

Shown for each channel and each kind of outage (HTTP 503, 429 asking for an hour, connections
dropped, time-outs; Shopify GraphQL THROTTLED too), outage starting mid-run:
- stock push: nothing recorded in the snapshot that the channel did not accept; nothing written
  while the channel is down; nothing already accepted written again; the run after the recovery
  writes exactly the rest, including a figure that changed during the outage;
- writeback: document numbers and the paid state written once; the pending-work index keeps every
  entry not written back; the paid watermark does not move;
- reconcile: the watermark never passes an order that was not queued; the run after the recovery
  queues every order.
And while Intacct is down (the stack's circuit breaker open), stock push and writeback leave it
alone: skipped with a log line, no Intacct request, resumed by the next run.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intacct_sync.channels.api import ChannelClient, client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.connections import InMemoryConnections
from intacct_sync.errors import SyncError
from intacct_sync.intacct import IntacctClient
from intacct_sync.intacct_gate import breaker_check
from intacct_sync.intake.reconcile import OVERLAP, reconcile_connection
from intacct_sync.ledger import WRITEBACK_INDEX, DynamoLedger, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.posting.breaker import OPEN_AFTER, IntacctBreaker
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, StockConnection, StockSettings, WritebackSettings
from intacct_sync.state import InMemoryStateStore
from intacct_sync.stock import InMemorySnapshotStore, push_all
from intacct_sync.stock.snapshot import load_state
from intacct_sync.writeback import writeback_all
from local.channel_sandbox import ChannelFault, ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.aws import Stack
from tests.integration.test_posting_sandbox import SETTINGS as POSTING_SETTINGS
from tests.integration.test_posting_sandbox import fixture_orders as posting_orders
from tests.integration.test_posting_sandbox import intacct, invoice
from tests.integration.test_stock_push import LOCATIONS, STORES, seed_items, set_on_hand
from tests.integration.test_writeback import UNPAID_ORDER, WRITEBACK, pay_in_intacct, shows_document, shows_paid

__all__ = ["intacct"]  # the fixture, re-used

CHANNELS = ("shopify", "woocommerce", "bigcommerce")
TIMEOUT_S = 0.3
"""The channel clients' read time-out during a time-out outage; a `delay` fault holds each request
three times as long, so each one times out whatever the machine's load. Outside the outage the
clients wait `READ_TIMEOUT_S` (no request of a healthy channel times out on a busy machine)."""
READ_TIMEOUT_S = 30.0
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EVERY = timedelta(minutes=20)
OUTAGE_RUNS = 9  # 3 hours of scheduled runs


def outage_fault(channel: str, kind: str) -> ChannelFault:
    if kind == "5xx":
        return ChannelFault(channel, "http_error", status=503, times=None)
    if kind == "429":
        return ChannelFault(channel, "rate_limit", retry_after=3600, times=None)  # "come back in an hour"
    if kind == "disconnect":
        return ChannelFault(channel, "disconnect", times=None)
    if kind == "timeout":
        return ChannelFault(channel, "delay", delay_s=3 * TIMEOUT_S, times=None)
    assert kind == "throttle"
    return ChannelFault(channel, "throttle", times=None)


KINDS = ("5xx", "429", "disconnect", "timeout")
CASES = [(c, k) for c in CHANNELS for k in KINDS] + [("shopify", "throttle")]


@pytest.fixture
def cs(channels: ChannelSandbox) -> ChannelSandbox:
    return channels


class FakeSleep:
    def __init__(self) -> None:
        self.slept = 0.0

    def __call__(self, seconds: float) -> None:
        self.slept += seconds


def make_client(cs: ChannelSandbox, connection: Connection) -> ChannelClient:
    client = client_for(
        connection,
        backoff=Backoff(base_s=1, cap_s=60, max_attempts=3),
        sleep=FakeSleep(),
        pacer=Pacer(),
        read_timeout_s=READ_TIMEOUT_S,
    )
    client.max_stock_batch = 100  # type: ignore[attr-defined]  # several batches for a few hundred SKUs
    return client


class OutageAfter:
    """A channel client whose channel goes down (the fault is armed in the sandbox) after `n`
    calls of `method` went through."""

    def __init__(self, inner: ChannelClient, method: str, n: int, start: Callable[[], None]) -> None:
        self.inner, self.method, self.n, self.start = inner, method, n, start

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.n == 0:
                self.start()
            self.n -= 1
            return attr(*args, **kwargs)

        return call


def start_outage(cs: ChannelSandbox, client: ChannelClient, channel: str, kind: str) -> None:
    if kind == "timeout":
        client.http.read_timeout_s = TIMEOUT_S  # type: ignore[attr-defined]
    cs.inject(outage_fault(channel, kind))


def end_outage(cs: ChannelSandbox, client: ChannelClient) -> None:
    cs.clear_faults()
    client.http.read_timeout_s = READ_TIMEOUT_S  # type: ignore[attr-defined]


def settle(cs: ChannelSandbox, channel: str, client: ChannelClient) -> None:
    """Wait until the sandbox has carried out every request the client sent (a `delay` fault
    holds them after the client gave up); an event to wait for, not a time."""
    sent = client.http.requests_sent  # type: ignore[attr-defined]
    for _ in range(1500):
        if sum(1 for r in cs.requests if r.channel == channel) >= sent:
            return
        time.sleep(0.02)
    raise AssertionError("the sandbox did not finish the requests sent")


# --- stock push --------------------------------------------------------------------------------


def location_key(channel: str, location: str) -> int | None:
    return None if channel == "woocommerce" else int(location.rsplit("/", 1)[-1])


def accepted(cs: ChannelSandbox, channel: str) -> Counter[str]:
    """How many times the channel accepted a figure per SKU (rows carried out, any endpoint)."""
    return Counter(w["sku"] for w in cs.stock_writes(channel, STORES[channel]))


@pytest.mark.parametrize(("channel", "kind"), CASES)
def test_stock_push_through_a_channel_outage_of_hours_loses_and_repeats_nothing(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox, channel: str, kind: str
) -> None:
    skus = [f"OUT-{i:03d}" for i in range(300)]
    seed_items(sandbox, skus, quantity=7)
    east = {"shopify": [70000000001], "bigcommerce": [1]}.get(channel)
    cs.add_products(channel, STORES[channel], skus, 0, east)
    connection = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-stock"))
    cfg = DEFAULT_SETTINGS.model_copy(
        update={
            "stock": StockSettings(
                connections={connection.id: StockConnection(locations=LOCATIONS[channel])},
                skus=tuple(skus),
                resolve_every_hours=1,
            )
        }
    )
    store = InMemorySnapshotStore()
    channel_client = make_client(cs, connection)

    def run(at: datetime, with_client: Any = None) -> dict[str, object]:
        summary = push_all(
            InMemoryConnections([connection]),
            client,
            store,
            cfg,
            deadline=Deadline.after(60),
            client_factory=lambda _: with_client or channel_client,
            now=at,
        )
        return summary[connection.id]

    def recorded() -> dict[tuple[str, str], int]:
        return dict(load_state(store, connection.id).last_pushed())

    lost: dict[str, int] = {}
    """Time-outs: figures sent whose answer was lost (carried out, so not recorded)."""

    def assert_recorded_only_what_the_channel_holds() -> None:
        inventory = cs.inventory(channel, STORES[channel])
        for (sku, location), quantity in recorded().items():
            held = inventory[(sku, location_key(channel, location))]
            assert held == quantity or (kind == "timeout" and held == lost.get(sku)), (sku, location)

    # The first run: the channel goes down after one batch was written.
    arm = lambda: start_outage(cs, channel_client, channel, kind)  # noqa: E731
    first = run(START, OutageAfter(channel_client, "write_stock", 1, arm))
    assert first["complete"] is False and first["error"], first
    assert first["written"] == 100
    before = recorded()
    assert len(before) == 100
    settle(cs, channel, channel_client)
    assert_recorded_only_what_the_channel_holds()
    if kind != "timeout":  # a lost answer is carried out: the channel then holds more than recorded
        assert sum(accepted(cs, channel).values()) == 100
    changed = sorted(before)[0][0]
    set_on_hand(sandbox, changed, "WH-EAST", 11)  # a figure changes while the channel is down
    lost[changed] = 11
    seed = copy.deepcopy(sandbox.seed)  # set_on_hand reset the sandbox to this: keep the 300 items
    assert sum(1 for r in seed["companies"][0]["onhand"] if r["ITEMID"].startswith("OUT-")) == 300

    # Three hours of scheduled runs against the outage (the SKU map goes stale after the first hour).
    for n in range(1, OUTAGE_RUNS + 1):
        result = run(START + n * EVERY)
        assert result["complete"] is False and result["error"], (n, result)
        assert recorded() == before, f"run {n} recorded what the channel did not accept"
        settle(cs, channel, channel_client)
        assert_recorded_only_what_the_channel_holds()
        if kind != "timeout":
            assert sum(accepted(cs, channel).values()) == 100, f"run {n} wrote while the channel was down"
    state = load_state(store, connection.id)
    assert state.meta.get("crawling"), "the re-crawl met the outage and is pending"

    # Recovery: the next run finishes the crawl and writes exactly the rest.
    end_outage(cs, channel_client)
    done = run(START + (OUTAGE_RUNS + 1) * EVERY)
    assert done["complete"] is True and not done["error"], done
    assert done["written"] == 300 - 100 + 1  # the rest, and the figure that changed
    wanted = {sku: 11 if sku == changed else 7 for sku in skus}
    inventory = cs.inventory(channel, STORES[channel])
    assert {sku: inventory[(sku, location_key(channel, loc))] for (sku, loc) in recorded()} == wanted
    assert {sku: q for (sku, _), q in recorded().items()} == wanted
    counts = accepted(cs, channel)
    for sku, _ in before:  # a time-out repeats only what was sent without an answer (the changed figure)
        assert counts[sku] == 1 or sku == changed, f"{sku} pushed before the outage was written again"
    assert counts[changed] >= 2
    if kind != "timeout":
        assert counts == Counter({sku: 2 if sku == changed else 1 for sku in skus})
    assert not load_state(store, connection.id).meta.get("crawling")
    writes = sum(accepted(cs, channel).values())
    assert run(START + (OUTAGE_RUNS + 2) * EVERY)["written"] == 0
    assert sum(accepted(cs, channel).values()) == writes


# --- writeback ---------------------------------------------------------------------------------


def _order_of(channel: str, record: Any) -> tuple[str, str] | None:
    """(order id, step) of a channel write the sandbox carried out, else None."""
    if not 200 <= record.status < 300 or record.fault:
        return None
    body = record.body if isinstance(record.body, dict) else {}
    if channel == "shopify":
        variables = body.get("variables") or {}
        for op in record.operations:
            if op == "tagsAdd":
                return str(variables["id"]).rsplit("/", 1)[-1], "number"
            if op == "metafieldsSet":
                return str(variables["metafields"][0]["ownerId"]).rsplit("/", 1)[-1], "metafield"
            if op == "orderMarkAsPaid":
                return str(variables["input"]["id"]).rsplit("/", 1)[-1], "paid"
        return None
    parts = record.path.rstrip("/").split("/")
    if channel == "woocommerce":
        if record.method == "POST" and parts[-1] == "notes":
            return parts[-2], "note"
        if record.method == "PUT" and parts[-2] == "orders":
            return parts[-1], "paid" if "set_paid" in body or "status" in body else "number"
        return None
    if record.method == "PUT" and parts[-2] == "orders":
        return parts[-1], "paid" if "status_id" in body else "number"
    return None


def channel_writes(cs: ChannelSandbox, channel: str) -> Counter[tuple[str, str]]:
    return Counter(w for r in cs.requests if r.channel == channel and (w := _order_of(channel, r)) is not None)


def pending(aws: Stack, connection_id: str) -> dict[str, str]:
    """Order id -> step key of the connection's entries in the pending-work index."""
    items = aws.dynamodb.query(
        TableName=aws.table,
        IndexName=WRITEBACK_INDEX,
        KeyConditionExpression="wbq = :c",
        ExpressionAttributeValues={":c": {"S": connection_id}},
    )["Items"]
    return {i["pk"]["S"].rsplit(":", 1)[-1]: i["wbk"]["S"] for i in items}


@pytest.mark.parametrize(("channel", "kind"), [c for c in CASES if c[1] != "throttle"])
def test_writeback_through_a_channel_outage_of_hours_writes_each_order_once(  # noqa: PLR0917 - pytest fixtures
    aws: Stack, cs: ChannelSandbox, client: IntacctClient, intacct: Any, channel: str, kind: str
) -> None:
    connection = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-wb"))
    ledger = DynamoLedger(aws.table, client=aws.dynamodb, retention_days=0)
    state = InMemoryStateStore()
    # Every seeded order of the store has an invoice number to get; the unpaid one is a real
    # Intacct invoice, paid in Intacct before the outage (so its paid state is due too).
    doc, customer_id = invoice(client, posting_orders()[2])
    orders = sorted(str(o["id"]) for o in cs.orders(channel, STORES[channel]))
    assert UNPAID_ORDER[channel] in orders and len(orders) >= 2
    for order_id in orders:
        real = order_id == UNPAID_ORDER[channel]
        ledger.put(
            LedgerEntry(
                connection_id=connection.id,
                order_id=order_id,
                channel=channel,
                status="invoiced",
                document_key=doc["DOCID"] if real else f"Sales Invoice-WB{order_id[-4:]}",
                ar_record_key=doc["PRRECORDKEY"] if real else None,
            )
        )
    numbers = {
        o: (doc["DOCID"] if o == UNPAID_ORDER[channel] else f"Sales Invoice-WB{o[-4:]}").removeprefix("Sales Invoice-")
        for o in orders
    }

    class _World:
        intacct = client

    pay_in_intacct(_World(), doc, customer_id)  # type: ignore[arg-type]
    settings = WRITEBACK  # Shopify: tag and metafield
    channel_client = make_client(cs, connection)
    watermark = f"{connection.id}#writeback-paid"

    def run(with_client: Any = None) -> dict[str, object]:
        return writeback_all(
            InMemoryConnections([connection]),
            client,
            ledger,
            state,
            settings=settings,
            deadline=Deadline.after(60),
            client_factory=lambda _: with_client or channel_client,
        )[connection.id]

    def written() -> set[str]:
        found = ledger.get_many([(connection.id, o) for o in orders])
        return {e.order_id for e in found.values() if e.writeback.document_number}

    def shown() -> set[str]:
        return {o for o in orders if shows_document(channel, cs.order(channel, STORES[channel], int(o)), numbers[o])}

    arm = lambda: start_outage(cs, channel_client, channel, kind)  # noqa: E731
    first = run(OutageAfter(channel_client, "write_document_number", 1, arm))
    assert first["complete"] is False and first["error"], first
    before = written()
    assert len(before) == 1
    for n in range(1, OUTAGE_RUNS + 1):
        result = run()
        assert result["complete"] is False and result["error"], (n, result)
        settle(cs, channel, channel_client)
        assert written() == before, f"run {n} recorded a write-back the channel did not accept"
        assert before <= shown()
        if kind != "timeout":
            assert shown() == before, f"run {n} wrote while the channel was down"
        assert set(pending(aws, connection.id)) == set(orders) - before, "the index keeps what is not written"
        assert state.get_watermark(watermark) is None, "the paid poll's watermark did not move"
        assert not shows_paid(channel, cs.order(channel, STORES[channel], int(UNPAID_ORDER[channel])))

    end_outage(cs, channel_client)
    done = run()
    assert done["complete"] is True and done["documents_written"] == len(orders) - 1, done
    assert done["marked_paid"] == 1
    assert written() == set(orders) == shown()
    assert shows_paid(channel, cs.order(channel, STORES[channel], int(UNPAID_ORDER[channel])))
    assert pending(aws, connection.id) == {}
    writes = channel_writes(cs, channel)
    steps = {s for (_, s) in writes}
    for order_id in orders:
        for step in steps - {"paid"}:
            if kind != "timeout" or order_id in before:
                assert writes[(order_id, step)] == 1, (order_id, step, writes)
    assert writes[(UNPAID_ORDER[channel], "paid")] == 1
    cs.clear_requests()
    again = run()
    assert again["documents_written"] == 0 and again["marked_paid"] == 0
    assert channel_writes(cs, channel) == Counter()


# --- reconcile ---------------------------------------------------------------------------------


def new_orders(cs: ChannelSandbox, channel: str, count: int, first_id: int) -> set[str]:
    store = STORES[channel]
    template = next(o for o in cs.orders(channel, store) if o.get("status") in ("processing", None))
    out = set()
    for i in range(count):
        order = copy.deepcopy(template)
        order["id"] = first_id + i
        order["number"] = first_id + i if channel == "shopify" else str(first_id + i)
        if channel == "shopify":
            order["name"] = f"#{first_id + i}"
            order.pop("transactions", None)
            order.pop("metafields", None)
        cs.put_order(channel, store, order, touch=True)
        out.add(str(first_id + i))
    return out


@pytest.mark.parametrize(("channel", "kind"), [c for c in CASES if c[0] != "bigcommerce" and c[1] != "throttle"])
def test_reconcile_through_a_channel_outage_of_hours_never_moves_past_an_unqueued_order(
    aws: Stack, cs: ChannelSandbox, channel: str, kind: str
) -> None:
    connection = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-main"))
    if channel == "shopify":  # 60 orders' transactions at once: the REST bucket would need real time to leak
        cs.configure("shopify", rest_bucket_size=1000)
    ids = new_orders(cs, channel, 60, 8100)
    state = aws.state()
    pipeline = aws.pipeline()
    queued: dict[str, datetime] = {}

    class Recording:
        """The real pipeline; the outage starts after its first batch."""

        def __init__(self, arm: bool) -> None:
            self.arm = arm

        def submit(self, events: list[CanonicalEvent], **kw: Any) -> Any:
            out = pipeline.submit(events, **kw)
            for e in events:
                if e.updated_at is not None:
                    queued[e.order_id] = max(queued.get(e.order_id, e.updated_at), e.updated_at)
            if self.arm:
                self.arm = False
                start_outage(cs, channel_client, channel, kind)
            return out

    modified = {
        str(o["id"]): datetime.fromisoformat(
            str(o.get("updated_at") or o.get("date_modified_gmt")) + ("" if channel == "shopify" else "+00:00")
        )
        for o in cs.orders(channel, STORES[channel])
        if str(o["id"]) in ids
    }
    channel_client = make_client(cs, connection)
    channel_client.page_size = 20  # type: ignore[attr-defined]  # three pages: the outage hits the second

    def run(at: datetime, arm: bool = False) -> Any:
        return reconcile_connection(
            connection.id,
            channel_client,
            Recording(arm),  # type: ignore[arg-type]
            state,
            now=at,
            deadline=Deadline.after(60),
        )

    now = datetime.now(UTC)
    with pytest.raises(SyncError):
        run(now, arm=True)
    first = set(queued) & ids
    assert 0 < len(first) < 60
    assert state.get_watermark(connection.id) is not None, "the progress made before the outage is kept"
    for n in range(OUTAGE_RUNS + 1):
        mark = state.get_watermark(connection.id)
        if mark is not None:
            since = mark - OVERLAP
            missing = ids - set(queued)
            assert all(modified[o] >= since for o in missing), "the watermark passed an order not queued"
        if n == OUTAGE_RUNS:
            break
        with pytest.raises(SyncError):
            run(now + (n + 1) * EVERY)
        settle(cs, channel, channel_client)
        assert set(queued) & ids == first, "nothing queued while the channel is down"

    end_outage(cs, channel_client)
    result = run(now + (OUTAGE_RUNS + 1) * EVERY)
    assert result.complete
    assert ids <= set(queued), "every order queued after the recovery"
    got = {e.order_id for _, e in aws.drain("orders") if e.type == "order"}
    assert ids <= got
    assert state.get_watermark(connection.id) == now + (OUTAGE_RUNS + 1) * EVERY


# --- Intacct down: stock push and writeback leave it alone -------------------------------------


def open_breaker(aws: Stack) -> IntacctBreaker:
    breaker = IntacctBreaker(aws.table, client=aws.dynamodb)
    for _ in range(OPEN_AFTER):
        breaker.failed("HTTP 503 from the Intacct gateway")
    assert breaker.read().is_open(breaker.clock())
    return breaker


def test_stock_push_skips_while_the_intacct_breaker_is_open_and_pushes_once_it_closes(
    aws: Stack, cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    channel = "bigcommerce"
    connection = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-stock"))
    other = Connection.model_validate(cs.connection_secret("woocommerce", STORES["woocommerce"], "woocommerce-stock"))
    cfg = DEFAULT_SETTINGS.model_copy(
        update={
            "stock": StockSettings(
                connections={
                    connection.id: StockConnection(locations=LOCATIONS[channel]),
                    other.id: StockConnection(locations=LOCATIONS["woocommerce"]),
                }
            )
        }
    )
    store = InMemorySnapshotStore()
    breaker = open_breaker(aws)

    def run() -> dict[str, dict[str, object]]:
        return push_all(
            InMemoryConnections([connection, other]),
            client,
            store,
            cfg,
            deadline=Deadline.after(60),
            client_factory=lambda c: make_client(cs, c),
            intacct_check=breaker_check(aws.table, client=aws.dynamodb),
        )

    requests_before = len(sandbox.requests)
    with caplog.at_level(logging.WARNING, logger="intacct_sync"):
        skipped = run()
    assert set(skipped) == {connection.id, other.id}
    assert all(r["skipped"] and r["complete"] is False for r in skipped.values()), skipped
    assert len(sandbox.requests) == requests_before, "no Intacct request while the breaker is open"
    assert cs.stock_writes(channel, STORES[channel]) == [] and store.items == {}
    lines = [r for r in caplog.records if r.getMessage() == "stock push skipped: Intacct unavailable"]
    assert len(lines) == 2 and all(getattr(r, "outcome", None) == "skipped" and getattr(r, "fix", "") for r in lines)
    assert "503" in str(getattr(lines[0], "reason", ""))

    breaker.closed()  # Intacct answers again (a consumer's probe closed the breaker)
    done = run()
    assert done[connection.id]["complete"] is True and done[connection.id]["written"], done
    assert cs.stock_writes(channel, STORES[channel])


def test_an_intacct_failure_in_one_connection_skips_intacct_for_the_others_in_that_run(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    from local.intacct_sandbox import Fault

    a = Connection.model_validate(cs.connection_secret("bigcommerce", STORES["bigcommerce"], "a-stock"))
    b = Connection.model_validate(cs.connection_secret("woocommerce", STORES["woocommerce"], "b-stock"))
    cfg = DEFAULT_SETTINGS.model_copy(
        update={
            "stock": StockSettings(
                connections={
                    a.id: StockConnection(locations=LOCATIONS["bigcommerce"]),
                    b.id: StockConnection(locations=LOCATIONS["woocommerce"]),
                }
            )
        }
    )
    sandbox.inject(Fault(kind="http_error", status=503, times=None))
    before = len(sandbox.requests)
    summary = push_all(
        InMemoryConnections([a, b]),
        client,
        InMemorySnapshotStore(),
        cfg,
        deadline=Deadline.after(60),
        client_factory=lambda c: make_client(cs, c),
    )
    assert summary[a.id]["error"] and summary[a.id]["complete"] is False
    assert summary[b.id]["skipped"], summary
    tried = len(sandbox.requests) - before
    assert 0 < tried <= 5, "only the first connection's read (with the client's own retries) reached Intacct"


def test_writeback_writes_numbers_but_skips_the_paid_poll_while_the_intacct_breaker_is_open(
    aws: Stack, cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox, intacct: Any
) -> None:
    channel = "bigcommerce"
    connection = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-wb"))
    ledger = DynamoLedger(aws.table, client=aws.dynamodb, retention_days=0)
    state = InMemoryStateStore()
    doc, customer_id = invoice(client, posting_orders()[2])
    ledger.put(
        LedgerEntry(connection_id=connection.id, order_id=UNPAID_ORDER[channel], channel=channel, status="invoiced",
                    document_key=doc["DOCID"], ar_record_key=doc["PRRECORDKEY"])
    )  # fmt: skip

    class _World:
        intacct = client

    pay_in_intacct(_World(), doc, customer_id)  # type: ignore[arg-type]
    settings = DEFAULT_SETTINGS.model_copy(
        update={"writeback": WritebackSettings(enabled=True), "invoice": POSTING_SETTINGS.invoice}
    )
    breaker = open_breaker(aws)

    def run() -> dict[str, object]:
        return writeback_all(
            InMemoryConnections([connection]),
            client,
            ledger,
            state,
            settings=settings,
            deadline=Deadline.after(60),
            client_factory=lambda c: make_client(cs, c),
            intacct_check=breaker_check(aws.table, client=aws.dynamodb),
        )[connection.id]

    requests_before = len(sandbox.requests)
    first = run()
    assert first["documents_written"] == 1, "the numbers need no Intacct call: written back"
    assert first["paid_skipped"] and first["marked_paid"] == 0 and first["complete"] is False, first
    assert len(sandbox.requests) == requests_before, "no Intacct request while the breaker is open"
    assert state.get_watermark(f"{connection.id}#writeback-paid") is None
    assert not shows_paid(channel, cs.order(channel, STORES[channel], int(UNPAID_ORDER[channel])))
    assert set(pending(aws, connection.id)) == {UNPAID_ORDER[channel]}

    breaker.closed()
    done = run()
    assert done["marked_paid"] == 1 and done["paid_skipped"] is None and done["complete"] is True, done
    assert shows_paid(channel, cs.order(channel, STORES[channel], int(UNPAID_ORDER[channel])))
    assert pending(aws, connection.id) == {}


def test_a_crawl_that_failed_on_the_locations_does_not_list_the_catalogue_again(
    cs: ChannelSandbox, client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    skus = [f"LOC-{i:04d}" for i in range(1500)]
    seed_items(sandbox, skus)
    cs.add_products("bigcommerce", STORES["bigcommerce"], skus, 0, [1])
    connection = Connection.model_validate(cs.connection_secret("bigcommerce", STORES["bigcommerce"], "bc-stock"))
    cfg = DEFAULT_SETTINGS.model_copy(
        update={
            "stock": StockSettings(
                connections={connection.id: StockConnection(locations=LOCATIONS["bigcommerce"])}, skus=tuple(skus)
            )
        }
    )
    store = InMemorySnapshotStore()
    channel_client = make_client(cs, connection)

    def run() -> dict[str, object]:
        return push_all(
            InMemoryConnections([connection]),
            client,
            store,
            cfg,
            deadline=Deadline.after(60),
            client_factory=lambda _: channel_client,
            now=START,
        )[connection.id]

    cs.inject(ChannelFault("bigcommerce", "http_error", status=503, times=None, path_contains="inventory/locations"))
    failed = run()
    assert failed["error"] and failed["complete"] is False
    listed = [r for r in cs.requests if r.path.endswith("inventory/items")]
    assert [r.query.get("page") for r in listed] == ["1", "2"], "the whole catalogue was listed once"
    assert cs.stock_writes("bigcommerce", STORES["bigcommerce"]) == []
    cs.clear_faults()
    cs.clear_requests()
    done = run()
    assert done["complete"] is True and done["written"] == 1500, done
    assert [r for r in cs.requests if r.path.endswith("inventory/items")] == [], "not listed again"
    assert load_state(store, connection.id).meta.get("crawling") is False
