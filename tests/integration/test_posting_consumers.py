"""The order and payment consumers against the Intacct sandbox over HTTP: customers, invoices,
updates, cancellations, payments, refunds, and exactly one Intacct document per channel order,
payment and refund under duplicates, redeliveries, lost answers and crashes after the commit."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.errors import NotFoundError, SyncError, TransientError
from intacct_sync.intacct import IntacctClient, SessionCache
from intacct_sync.intacct import query as q
from intacct_sync.ledger import InMemoryLedger, LedgerEntry
from intacct_sync.models.events import CancellationEvent, CanonicalEvent, OrderEvent, PaymentEvent, RefundEvent
from intacct_sync.models.order import Cancellation, FinancialStatus, Order, OrderStatus, Payment, Refund, RefundLine
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.outcome import Outcome
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.retry import Backoff, Deadline
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.conftest import RecordingSleep, make_credentials
from tests.unit.posting.factories import line, order, settings

D = Decimal
SETTINGS = settings()
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def deadline() -> Deadline:
    return Deadline.after(30)


def order_event(o: Order, *, version: int = 0, event_id: str | None = None) -> OrderEvent:
    at = T0 + timedelta(minutes=version)
    o = o.model_copy(update={"updated_at": at})
    return OrderEvent(
        event_id=event_id or f"order-{o.order_id}-v{version}",
        connection_id=o.connection_id,
        channel=o.channel,
        topic="orders/updated",
        updated_at=at,
        payload=o,
    )


def payment_event(
    o: Order, payment_id: str, amount: str, gateway: str = "shopify_payments", processed_at: datetime = T0
) -> PaymentEvent:
    p = Payment(
        connection_id=o.connection_id,
        channel=o.channel,
        order_id=o.order_id,
        payment_id=payment_id,
        kind="capture",
        amount=D(amount),
        currency=o.currency,
        gateway=gateway,
        processed_at=processed_at,
    )
    return PaymentEvent(
        event_id=f"pay-{payment_id}", connection_id=o.connection_id, channel=o.channel, topic="t", payload=p
    )


def refund_event(o: Order, refund_id: str, amount: str, **kw: Any) -> RefundEvent:
    r = Refund(
        connection_id=o.connection_id,
        channel=o.channel,
        order_id=o.order_id,
        refund_id=refund_id,
        amount=D(amount),
        currency=o.currency,
        processed_at=kw.pop("processed_at", datetime.now(UTC)),
        **kw,
    )
    return RefundEvent(
        event_id=f"refund-{refund_id}", connection_id=o.connection_id, channel=o.channel, topic="t", payload=r
    )


class Harness:
    """The two posters over one ledger, and the sandbox's view of what Intacct holds."""

    def __init__(self, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> None:
        self.sandbox = sandbox
        self.client = IntacctClient(
            make_credentials(sandbox), sessions=SessionCache(), backoff=Backoff(0.01, 0.05, 5), sleep=sleeps
        )
        self.ledger = InMemoryLedger()
        self.orders: dict[str, Order] = {}
        self.fetch_error: SyncError | None = None
        self.versions: dict[str, int] = {}
        """The version of the state the channel shows now (what a fetch returns)."""
        self.order_poster = OrderPoster(self.client, self.ledger, SETTINGS, fetch_order=self._fetch)
        self.payment_poster = PaymentPoster(
            self.client, self.ledger, SETTINGS, fetch_order=lambda e, _d: self.orders.get(e.order_id)
        )

    def _fetch(self, event: CanonicalEvent, _deadline: Deadline) -> list[CanonicalEvent]:
        if self.fetch_error is not None:
            raise self.fetch_error
        o = self.orders.get(event.order_id)
        return [order_event(o, version=self.versions.get(event.order_id, 99))] if o else []

    def post(self, *events: CanonicalEvent) -> dict[str, Outcome]:
        for e in events:
            if isinstance(e, OrderEvent):
                self.orders[e.order_id] = e.payload
                self.versions[e.order_id] = int((e.updated_at - T0).total_seconds() // 60) if e.updated_at else 99
        return self.order_poster(list(events), deadline())

    def pay(self, *events: CanonicalEvent) -> dict[str, Outcome]:
        return self.payment_poster(list(events), deadline())

    def entry(self, o: Order) -> LedgerEntry:
        entry = self.ledger.get(o.connection_id, o.order_id)
        assert entry is not None
        return entry

    def invoices(self) -> list[dict[str, Any]]:
        return [
            d for d in self.sandbox.snapshot()["invoices"] if d.get("DOCPARID", d.get("type")) != "Sales Credit Memo"
        ]

    def documents(self, docparid: str) -> list[dict[str, str]]:
        return list(
            self.client.iter_query(
                "SODOCUMENT", ["DOCID", "TOTAL", "PRRECORDKEY", "CUSTVENDID"], docparid=docparid, deadline=deadline()
            )
        )

    def ar(self, recordno: str) -> dict[str, str]:
        return next(
            self.client.iter_query(
                "ARINVOICE", ["TOTALDUE", "TOTALPAID", "STATE"], filter=q.eq("RECORDNO", recordno), deadline=deadline()
            )
        )

    def requests_since(self, mark: int) -> list[list[str]]:
        return [[f.name for f in r.functions] for r in self.sandbox.requests[mark:]]


@pytest.fixture
def h(sandbox: IntacctSandbox, sleeps: RecordingSleep) -> Harness:
    return Harness(sandbox, sleeps)


def shirt_order(order_id: str = "1001", **kw: Any) -> Order:
    lines = kw.pop("lines", [line("1", "TSHIRT-M", "2", "19.99"), line("2", "MUG-01", "1", "12.50")])
    return order(lines, order_id=order_id, order_number=order_id, total_tax=kw.pop("total_tax", "4.20"), **kw)


# --- orders --------------------------------------------------------------------------------


def test_a_new_customers_order_costs_one_lookup_and_one_write_request(h: Harness) -> None:
    o = shirt_order()
    h.client.session(deadline())
    mark = len(h.sandbox.requests)
    assert h.post(order_event(o)) == {"order-1001-v0": Outcome.wrote("create")}
    calls = h.requests_since(mark)
    # customer create, the bill-to / ship-to contact create, the invoice, its read-back
    assert calls == [["query"], ["create", "create", "create_sotransaction", "query"]], calls
    entry = h.entry(o)
    assert entry.status == "invoiced" and entry.document_key == "Sales Invoice-1001"
    assert entry.invoice_total == o.total and entry.ar_record_key
    [doc] = h.documents("Sales Invoice")
    assert D(doc["TOTAL"]) == o.total and doc["CUSTVENDID"] == entry.customer_id


def test_a_known_customers_next_order_costs_one_request(h: Harness) -> None:
    h.post(order_event(shirt_order("1001")))
    mark = len(h.sandbox.requests)
    h.post(order_event(shirt_order("1002")))
    assert h.requests_since(mark) == [["create_sotransaction", "query"]]
    assert h.entry(shirt_order("1002")).customer_id == h.entry(shirt_order("1001")).customer_id


def test_an_existing_intacct_customer_is_matched_not_duplicated(h: Harness) -> None:
    customers_before = len(h.sandbox.snapshot()["customers"])
    seeded = h.sandbox.snapshot()["customers"][0]
    first, _, last = seeded["NAME"].partition(" ")
    o = shirt_order(customer=shirt_order().customer.model_copy(update={"first_name": first, "last_name": last}))
    h.post(order_event(o))
    assert h.entry(o).customer_id == seeded["CUSTOMERID"]
    assert len(h.sandbox.snapshot()["customers"]) == customers_before


def buyer(order_id: str, first: str, last: str) -> Order:
    return shirt_order(
        order_id, customer=shirt_order().customer.model_copy(update={"first_name": first, "last_name": last})
    )


def customer_creates(h: Harness, mark: int) -> int:
    return sum(
        1 for r in h.sandbox.requests[mark:] for f in r.functions if (f.name, f.object) == ("create", "CUSTOMER")
    )


def test_a_waves_unknown_customers_are_found_by_one_query_function(h: Harness) -> None:
    customers_before = len(h.sandbox.snapshot()["customers"])
    # an existing Intacct customer (asked in other case), two new ones, one of them ordering twice
    orders = [buyer("5001", "ADA", "lovelace"), buyer("5002", "Nora", "New"), buyer("5003", "Nora", "New")]
    orders.append(buyer("5004", "Otto", "Other"))
    h.client.session(deadline())
    mark = len(h.sandbox.requests)
    outcomes = h.post(*(order_event(o) for o in orders))
    assert all(x.status == "done" for x in outcomes.values()), outcomes
    lookup, write = h.requests_since(mark)
    assert lookup == ["query"], lookup  # one function for the wave, each customer asked once
    assert customer_creates(h, mark) == 2 and write.count("create_sotransaction") == 4, write  # Nora once, Otto
    assert h.entry(orders[0]).customer_id == "C-1001"
    assert h.entry(orders[1]).customer_id == h.entry(orders[2]).customer_id != h.entry(orders[3]).customer_id
    assert len(h.sandbox.snapshot()["customers"]) == customers_before + 2


def test_a_row_the_shared_lookup_cannot_place_sends_each_customer_to_its_own_query(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intacct matched a row this code cannot tell apart (a collation it does not share): no
    customer is taken as new on that answer; each is asked on its own, then matched as usual."""
    from intacct_sync.posting import customers

    monkeypatch.setattr(customers, "matches", lambda _key, _row: False)
    orders = [buyer("5101", "Ada", "Lovelace"), buyer("5102", "Nora", "New")]
    h.client.session(deadline())
    mark = len(h.sandbox.requests)
    assert all(x.status == "done" for x in h.post(*(order_event(o) for o in orders)).values())
    shared, each, write = h.requests_since(mark)
    assert shared == ["query"] and each == ["query", "query"], (shared, each)
    assert customer_creates(h, mark) == 1 and write.count("create_sotransaction") == 2, write
    assert h.entry(orders[0]).customer_id == "C-1001"  # matched, not duplicated


def test_a_truncated_shared_lookup_asks_the_customers_it_did_not_answer(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More matching customers than one page: the keys without a row in it are asked on their
    own (a customer on a later page is matched, never created again)."""
    from intacct_sync.posting import orders as posting_orders

    monkeypatch.setattr(posting_orders, "CUSTOMER_LOOKUP_PAGE", 1)
    customers_before = len(h.sandbox.snapshot()["customers"])
    orders = [buyer("5201", "Ada", "Lovelace"), buyer("5202", "Grace", "Hopper"), buyer("5203", "Nora", "New")]
    h.client.session(deadline())
    mark = len(h.sandbox.requests)
    assert all(x.status == "done" for x in h.post(*(order_event(o) for o in orders)).values())
    shared, rest, _write = h.requests_since(mark)
    assert shared == ["query"] and rest == ["query", "query"], (shared, rest)  # Grace and Nora
    assert [h.entry(o).customer_id for o in orders[:2]] == ["C-1001", "C-1002"]
    assert len(h.sandbox.snapshot()["customers"]) == customers_before + 1


def test_a_backlog_of_orders_goes_in_one_write_request(h: Harness) -> None:
    orders = [shirt_order(str(2000 + i)) for i in range(8)]
    h.post(order_event(orders[0]))  # the customer is known from here on
    mark = len(h.sandbox.requests)
    outcomes = h.post(*(order_event(o) for o in orders[1:]))
    assert all(x.status == "done" for x in outcomes.values())
    [request] = h.requests_since(mark)
    # 7 invoices and one read-back query for all of them (each function costs Intacct time)
    assert request.count("create_sotransaction") == 7 and request.count("query") == 1, request
    assert request[-1] == "query"
    assert len(h.documents("Sales Invoice")) == 8
    for o in orders[1:]:  # each order got its own document's AR record key from the shared answer
        entry = h.entry(o)
        assert entry.document_key == f"Sales Invoice-{o.order_id}" and entry.ar_record_key
        assert entry.invoice_total == o.total
    assert len({h.entry(o).ar_record_key for o in orders}) == 8


def test_one_bad_order_does_not_block_the_others_and_is_parked_with_a_fix(h: Harness) -> None:
    good = shirt_order("3001")
    bad = shirt_order("3002", lines=[line("1", "NO-SUCH-SKU", "1", "10.00")], total_tax="0")
    outcomes = h.post(order_event(good), order_event(bad))
    assert outcomes["order-3001-v0"].status == "done"
    parked = outcomes["order-3002-v0"]
    assert parked.status == "park" and "NO-SUCH-SKU" in parked.reason
    assert parked.fix and "Items" in parked.fix
    entry = h.entry(bad)
    assert entry.status == "parked" and entry.last_error and entry.last_error.fix == parked.fix


def test_duplicate_deliveries_make_one_invoice(h: Harness) -> None:
    o = shirt_order()
    for _ in range(3):
        assert h.post(order_event(o)).popitem()[1].status == "done"
    assert len(h.documents("Sales Invoice")) == 1


def test_an_order_changed_before_payment_updates_its_invoice_and_ar_record(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    before = h.entry(o)
    changed = shirt_order(lines=[line("1", "TSHIRT-M", "3", "19.99"), line("2", "MUG-01", "1", "12.50")])
    assert h.post(order_event(changed, version=1))["order-1001-v1"] == Outcome.wrote("update")
    after = h.entry(changed)
    assert after.invoice_total == changed.total and after.ar_record_key != before.ar_record_key
    [doc] = h.documents("Sales Invoice")
    assert D(doc["TOTAL"]) == changed.total and doc["PRRECORDKEY"] == after.ar_record_key
    assert h.pay(payment_event(changed, "p1", str(changed.total))).popitem()[1].status == "done"
    assert D(h.ar(after.ar_record_key or "")["TOTALDUE"]) == 0


def test_a_stale_update_never_overwrites_a_newer_one(h: Harness) -> None:
    h.post(order_event(shirt_order(), version=5))
    old = shirt_order(lines=[line("1", "TSHIRT-M", "9", "19.99")])
    assert h.post(order_event(old, version=1))["order-1001-v1"].reason.startswith("stale")
    assert D(h.documents("Sales Invoice")[0]["TOTAL"]) == shirt_order().total


def test_a_cancelled_unpaid_order_deletes_its_invoice(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    # What the channel now says: cancelled, nothing was paid.
    h.orders[o.order_id] = shirt_order(
        status=OrderStatus.CANCELLED, cancelled_at=T0, financial_status=FinancialStatus.VOIDED
    )
    cancel = CancellationEvent(
        event_id="c1",
        connection_id=o.connection_id,
        channel=o.channel,
        topic="orders/cancelled",
        payload=Cancellation(
            connection_id=o.connection_id, channel=o.channel, order_id=o.order_id, evidence="order_state"
        ),
    )
    assert h.post(cancel)["c1"] == Outcome.wrote("delete")
    assert h.documents("Sales Invoice") == [] and h.entry(o).status == "deleted"


def test_a_deletion_notice_is_confirmed_by_the_channel_before_the_invoice_is_deleted(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))

    def notice(event_id: str) -> CancellationEvent:
        payload = Cancellation(connection_id=o.connection_id, channel=o.channel, order_id=o.order_id)
        return CancellationEvent(
            event_id=event_id, connection_id=o.connection_id, channel=o.channel, topic="orders/delete", payload=payload
        )

    # The channel still shows the order open: the notice is ignored and noted, nothing deleted.
    assert h.post(notice("d1"))["d1"] == Outcome.done("deletion not confirmed by the channel: ignored")
    assert len(h.documents("Sales Invoice")) == 1 and h.entry(o).status == "invoiced"
    # The channel cannot be asked now: retried, not acted on.
    h.fetch_error = TransientError("channel API unavailable")
    assert h.post(notice("d2"))["d2"].status == "retry"
    assert len(h.documents("Sales Invoice")) == 1
    # The order is really gone from the channel (404): the invoice goes.
    h.fetch_error = NotFoundError("order not found")
    assert h.post(notice("d3"))["d3"] == Outcome.wrote("delete")
    assert h.documents("Sales Invoice") == [] and h.entry(o).status == "deleted"


def test_a_cancelled_paid_order_gets_a_credit_memo(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    h.pay(payment_event(o, "p1", str(o.total)))
    cancelled = shirt_order(status=OrderStatus.CANCELLED, cancelled_at=T0 + timedelta(hours=1))
    assert h.post(order_event(cancelled, version=2))["order-1001-v2"] == Outcome.wrote("credit")
    [credit] = h.documents("Sales Credit Memo")
    assert D(credit["TOTAL"]).copy_abs() == o.total
    assert h.entry(o).status == "credited"


# --- payments and refunds ------------------------------------------------------------------


def test_partial_and_multiple_payments_are_applied_to_the_invoice(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    first, rest = D("20.00"), o.total - D("20.00")
    outcomes = h.pay(payment_event(o, "p1", str(first)), payment_event(o, "p2", str(rest), gateway="manual"))
    assert {x.status for x in outcomes.values()} == {"done"}
    entry = h.entry(o)
    assert entry.status == "paid" and entry.paid_total == o.total
    ar = h.ar(entry.ar_record_key or "")
    assert D(ar["TOTALDUE"]) == 0 and D(ar["TOTALPAID"]) == o.total
    assert len(h.sandbox.snapshot()["payments"]) == 2


def test_a_payment_before_its_order_waits_and_is_never_posted_unapplied(h: Harness) -> None:
    o = shirt_order()
    early = h.pay(payment_event(o, "p1", str(o.total)))["pay-p1"]
    # It waits in the ledger (issue 13), done on its queue: no SQS receive spent waiting.
    assert (
        early.status == "done"
        and early.reason.startswith("waiting for its invoice")
        and "not posted yet" in early.reason
    )
    assert h.sandbox.snapshot()["payments"] == []
    entry = h.ledger.get(o.connection_id, o.order_id)
    assert entry is not None and set(entry.waiting) == {"payment:p1"}
    h.post(order_event(o))
    # (Here the order poster has no queue to forward to: the payment is delivered again by hand.)
    assert h.pay(payment_event(o, "p1", str(o.total)))["pay-p1"].status == "done"
    entry = h.ledger.get(o.connection_id, o.order_id)
    assert entry is not None and entry.waiting == {} and entry.status == "paid"


def test_a_duplicate_payment_is_applied_once(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    for _ in range(3):
        h.pay(payment_event(o, "p1", "10.00"))
    assert len(h.sandbox.snapshot()["payments"]) == 1


def test_a_refund_becomes_a_credit_memo_for_the_refunded_lines(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    ev = refund_event(
        o, "r1", "12.50", lines=(RefundLine(line_id="2", sku="MUG-01", quantity=D(1), amount=D("12.50")),)
    )
    assert h.pay(ev)["refund-r1"].status == "done"
    [credit] = h.documents("Sales Credit Memo")
    assert D(credit["TOTAL"]).copy_abs() == D("12.50")
    assert "r1" in h.entry(o).refunds


def test_a_refund_for_an_order_that_never_synced_is_parked_with_a_reason(h: Harness) -> None:
    early = refund_event(shirt_order("9998"), "r8", "5.00")
    waits = h.pay(early)["refund-r8"]
    assert waits.status == "done" and waits.reason.startswith("waiting for its invoice"), "it may be on its way"
    never = shirt_order("9999", placed=False)
    h.post(order_event(never))  # an abandoned checkout: skipped, never invoiced
    outcome = h.pay(refund_event(never, "r9", "5.00"))["refund-r9"]
    assert outcome.status == "park" and "never invoiced" in outcome.reason and outcome.fix


# --- reliability ---------------------------------------------------------------------------


class CrashingLedger(InMemoryLedger):
    """Loses the first write after Intacct committed, as a Lambda crash or time-out would."""

    def __init__(self) -> None:
        super().__init__()
        self.crashes = 1

    def put(self, entry: LedgerEntry) -> None:
        if self.crashes and entry.document_key:
            self.crashes -= 1
            raise TimeoutError("Lambda timed out before the ledger write")
        super().put(entry)


def test_a_crash_between_the_intacct_commit_and_the_ledger_write_makes_no_second_invoice(h: Harness) -> None:
    h.ledger = CrashingLedger()
    h.order_poster.ledger = h.ledger
    o = shirt_order()
    with pytest.raises(TimeoutError):
        h.post(order_event(o))
    assert len(h.documents("Sales Invoice")) == 1, "Intacct committed"
    assert h.post(order_event(o)).popitem()[1].status == "done", "the redelivery adopts it"
    assert len(h.documents("Sales Invoice")) == 1
    assert h.entry(o).document_key == "Sales Invoice-1001" and h.entry(o).ar_record_key


def test_a_lost_answer_is_settled_by_lookup_not_by_a_second_invoice(h: Harness) -> None:
    h.sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    o = shirt_order()
    assert h.post(order_event(o)).popitem()[1].status == "done"
    assert len(h.documents("Sales Invoice")) == 1 and h.entry(o).ar_record_key


def test_a_lost_payment_answer_is_settled_by_lookup(h: Harness) -> None:
    o = shirt_order()
    h.post(order_event(o))
    h.sandbox.inject(Fault(kind="lose_response", status=502, function="create"))
    assert h.pay(payment_event(o, "p1", "10.00"))["pay-p1"].status == "done"
    h.pay(payment_event(o, "p1", "10.00"))
    assert len(h.sandbox.snapshot()["payments"]) == 1 and h.entry(o).payments["p1"].recordno


def test_a_lost_refund_answer_records_the_credit_memo_as_an_answer_would(h: Harness) -> None:
    """Found by the two-store lifecycle machine: the adopted credit memo was recorded by its
    RECORDNO, where a written one is recorded by its DOCID (what `ops show` prints and the
    payout looks up), so one ledger said two kinds of keys."""
    o = shirt_order()
    h.post(order_event(o))
    h.pay(payment_event(o, "p1", str(o.total)))
    h.sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    assert h.pay(refund_event(o, "r1", "10.00"))["refund-r1"].status == "done"
    assert h.pay(refund_event(o, "r1", "10.00"))["refund-r1"].reason.startswith("duplicate")
    [memo] = h.documents("Sales Credit Memo")
    assert h.entry(o).refunds["r1"].document_key == memo["DOCID"] == "Sales Credit Memo-CM-1001-r1"


def test_an_intacct_outage_is_retried_later_and_nothing_is_lost(h: Harness) -> None:
    o = shirt_order()
    h.client.session(deadline())
    h.sandbox.inject(Fault(kind="http_error", status=503, times=None))
    assert h.post(order_event(o)).popitem()[1].status == "retry"
    h.sandbox.clear_faults()
    assert h.post(order_event(o)).popitem()[1].status == "done"
    assert len(h.documents("Sales Invoice")) == 1


class AtomicDynamo:
    """A moto DynamoDB client whose calls run one at a time. moto applies a conditional write in
    steps (read the item, check, write) with no lock, so two threads can both take the same slot;
    DynamoDB applies each conditional write atomically, which is what the gate relies on."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


def test_the_intacct_concurrency_cap_holds_across_consumers(aws: Any) -> None:
    from intacct_sync.intacct.gate import DynamoSemaphore

    # A sandbox of its own: nothing else may be in flight there while it counts.
    with IntacctSandbox.start(max_concurrency=2, latency_ms=100) as sandbox:
        gate = DynamoSemaphore(aws.table, slots=2, client=AtomicDynamo(aws.dynamodb), wait_s=lambda: 30)
        shared = SessionCache()
        IntacctClient(make_credentials(sandbox), sessions=shared).session(deadline())
        # The first request through the gate waits in the sandbox for a second one: the gate must
        # let two consumers in at once (else the hold times out), whatever the scheduling.
        pair = sandbox.hold_until(arrivals=2, timeout_s=30)
        errors: list[BaseException] = []

        def consumer(n: int) -> None:
            client = IntacctClient(make_credentials(sandbox), sessions=shared, gate=gate.hold)
            poster = OrderPoster(client, InMemoryLedger(), SETTINGS)
            try:
                outs = poster([order_event(shirt_order(f"{n}{i}")) for i in range(2)], deadline())
                assert all(x.status == "done" for x in outs.values()), outs
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=consumer, args=(n,)) for n in range(1, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert pair.reached and not pair.timed_out, "the gate let two requests in at once"
        assert not [r for r in sandbox.requests if r.http_status == 429], "never more than 2 at once"
        assert sandbox.peak_inflight == 2
        assert len(sandbox.snapshot()["invoices"]) == 8


def test_a_bigcommerce_reference_is_fetched_posted_and_its_payments_forwarded(h: Harness) -> None:
    from intacct_sync.models.events import OrderReferenceEvent
    from intacct_sync.models.order import OrderReference

    o = shirt_order("7001")
    h.orders[o.order_id] = o
    forwarded: list[CanonicalEvent] = []
    fetched = [order_event(o, version=3), payment_event(o, "bc-txn-1", str(o.total))]
    h.order_poster.fetch_order = lambda _e, _d: fetched
    h.order_poster.forward = forwarded.extend
    ref = OrderReferenceEvent(
        event_id="bc-ref-1",
        connection_id=o.connection_id,
        channel=o.channel,
        topic="store/order/created",
        payload=OrderReference(connection_id=o.connection_id, channel=o.channel, order_id=o.order_id, scope="x"),
    )
    assert h.post(ref) == {"bc-ref-1": Outcome.wrote("create")}
    assert [e.event_id for e in forwarded] == ["pay-bc-txn-1"]
    assert h.entry(o).document_key == "Sales Invoice-7001"
