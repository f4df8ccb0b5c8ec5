"""Identities and lifecycles against the Intacct sandbox: an order never takes another order's
document (two stores with the same order number, Intacct numbering, a rule's single customer),
updates back and forth end where the channel is, a lost answer on close settles, and a paid
order cancelled with a refund is credited exactly once whatever the queue order."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from intacct_sync.intacct import IntacctClient, SessionCache
from intacct_sync.ledger import InMemoryLedger, LedgerEntry
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import FinancialStatus, Order, OrderStatus
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.retry import Backoff
from intacct_sync.settings import Settings
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.conftest import RecordingSleep, make_credentials
from tests.integration.test_posting_consumers import (
    T0,
    deadline,
    order_event,
    payment_event,
    refund_event,
    shirt_order,
)
from tests.unit.posting.factories import line, settings

D = Decimal


class Books:
    """Both posters over one ledger (as the two consumers share the state table)."""

    def __init__(self, sandbox: IntacctSandbox, s: Settings | None = None) -> None:
        self.sandbox = sandbox
        self.client = IntacctClient(
            make_credentials(sandbox), sessions=SessionCache(), backoff=Backoff(0.01, 0.05, 3), sleep=RecordingSleep()
        )
        self.ledger = InMemoryLedger()
        self.orders: dict[tuple[str, str], Order] = {}
        self.versions: dict[tuple[str, str], int] = {}
        """The version of the state the channel shows now (what a fetch returns)."""
        s = s or settings()
        self.orders_poster = OrderPoster(self.client, self.ledger, s, fetch_order=self._fetch)
        self.payments = PaymentPoster(
            self.client, self.ledger, s, fetch_order=lambda e, _d: self.orders.get((e.connection_id, e.order_id))
        )

    def _fetch(self, event: CanonicalEvent, _d: Any) -> list[CanonicalEvent]:
        key = (event.connection_id, event.order_id)
        o = self.orders.get(key)
        return [order_event(o, version=self.versions.get(key, 99))] if o else []

    def post(self, o: Order, version: int = 0) -> str:
        self.orders[(o.connection_id, o.order_id)] = o
        self.versions[(o.connection_id, o.order_id)] = version
        [outcome] = self.orders_poster([order_event(o, version=version)], deadline()).values()
        return f"{outcome.status}: {outcome.reason}"

    def pay(self, *events: CanonicalEvent) -> list[str]:
        return [f"{o.status}: {o.reason}" for o in self.payments(list(events), deadline()).values()]

    def entry(self, o: Order) -> LedgerEntry:
        entry = self.ledger.get(o.connection_id, o.order_id)
        assert entry is not None
        return entry

    def docs(self, docparid: str) -> list[dict[str, Any]]:
        return [d for d in self.sandbox.snapshot()["documents"] if d.get("DOCPARID") == docparid]

    def credited(self) -> Decimal:
        return sum((abs(D(str(d["TOTAL"]))) for d in self.docs("Sales Credit Memo")), D(0))

    def ar_due(self, o: Order) -> Decimal:
        key = self.entry(o).ar_record_key
        [ar] = [a for a in self.sandbox.snapshot()["arinvoices"] if str(a["RECORDNO"]) == key]
        return D(str(ar["TOTALDUE"]))


def store_order(connection: str, **kw: Any) -> Order:
    return shirt_order("1001", **kw).model_copy(update={"connection_id": connection})


# --- identities ----------------------------------------------------------------------------------


def test_two_stores_with_the_same_order_number_never_share_an_invoice(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    a, b = store_order("shop-a"), store_order("shop-b")  # same number, same buyer, same amount
    assert books.post(a) == "done: create"
    outcome = books.post(b)
    assert outcome.startswith("park: order 1001: document number Sales Invoice-1001 belongs to order shop-a:"), outcome
    assert "invoice.numbering.prefix_by_connection" in (books.entry(b).last_error.fix or "")  # type: ignore[union-attr]
    assert books.entry(b).document_key is None, "never adopted store A's invoice"
    # Its payment waits instead of paying store A's invoice.
    assert books.pay(payment_event(b, "pb", str(b.total)))[0].startswith(
        "done: waiting for its invoice: invoice for order"
    )
    assert books.ar_due(a) == a.total
    # The fix the message names works: store B gets its own invoice and its own payment.
    fixed = settings(invoice={"numbering": {"prefix_by_connection": {"shop-b": "B-"}}})
    books.orders_poster.settings = books.payments.settings = fixed
    assert books.post(b) == "done: create"
    assert books.entry(b).document_key == "Sales Invoice-B-1001"
    assert books.pay(payment_event(b, "pb", str(b.total))) == ["done: posted"]
    assert books.ar_due(b) == 0 and books.ar_due(a) == a.total


def test_intacct_numbering_keeps_two_stores_same_number_same_buyer_apart(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox, settings(invoice={"numbering": {"mode": "intacct"}}))
    a, b = store_order("shop-a"), store_order("shop-b")
    assert books.post(a) == "done: create"
    assert books.post(b) == "done: create"
    assert books.entry(a).document_key != books.entry(b).document_key
    assert books.pay(payment_event(b, "pb", str(b.total))) == ["done: posted"]
    assert books.ar_due(b) == 0 and books.ar_due(a) == a.total, "store B paid its own invoice"


def test_intacct_numbering_adopts_only_its_own_document_after_a_lost_answer(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox, settings(invoice={"numbering": {"mode": "intacct"}}))
    a, b = store_order("shop-a"), store_order("shop-b")
    assert books.post(a) == "done: create"
    sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    assert books.post(b) == "done: create"  # committed, answer lost, looked up: two rows match
    assert books.entry(b).document_key not in (None, books.entry(a).document_key)
    assert len(books.docs("Sales Invoice")) == 2


def test_intacct_numbering_tells_two_equal_refunds_apart_after_a_lost_answer(sandbox: IntacctSandbox) -> None:
    """Found by the two-store lifecycle machine: the second of two 5.00 refunds commits and its
    answer is lost; its lookup (reference + customer + amount) also finds the first refund's
    credit memo, this same order's, which it counted as a candidate: parked as "2 documents
    match" although only one is not already this order's. A cancellation's credit for the same
    amount as a refund is the same case on the order queue."""
    books = Books(sandbox, settings(credit_memo={"numbering": {"mode": "intacct"}}))
    o = store_order("shop-a")
    assert books.post(o) == "done: create"
    assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    assert books.pay(refund_event(o, "r1", "5.00")) == ["done: posted"]
    sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    assert books.pay(refund_event(o, "r2", "5.00")) == ["done: posted"]
    memos = books.docs("Sales Credit Memo")
    assert len(memos) == 2
    refunds = books.entry(o).refunds
    assert {refunds["r1"].document_key, refunds["r2"].document_key} == {m["DOCID"] for m in memos}
    # Cancelled: its credit is what the refunds left, 5.00 again, and its answer is lost too.
    assert books.pay(refund_event(o, "r3", str(o.total - D("15.00")))) == ["done: posted"]
    sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    assert books.post(cancelled_refunded(o), 1) == "done: credit"
    memos = books.docs("Sales Credit Memo")
    assert books.credited() == o.total and len(memos) == 4
    refunds = books.entry(o).refunds
    assert refunds["cancellation"].amount == D("5.00")
    assert {r.document_key for r in refunds.values()} == {m["DOCID"] for m in memos}


def test_a_rule_customer_bills_and_receives_the_payment_and_no_stray_customer_is_made(
    sandbox: IntacctSandbox,
) -> None:
    rule = {"name": "marketplace", "when": {"connection": "amazon"}, "set": {"customer_id": "C-1001"}}
    defaults = settings().model_dump(mode="json")["rules"]
    books = Books(sandbox, settings(rules=[rule, *defaults]))
    customers_before = len(sandbox.snapshot()["customers"])
    o = store_order("amazon")
    assert books.post(o) == "done: create"
    [invoice] = books.docs("Sales Invoice")
    assert invoice["CUSTVENDID"] == "C-1001" and books.entry(o).customer_id == "C-1001"
    assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    assert books.ar_due(o) == 0
    assert len(sandbox.snapshot()["customers"]) == customers_before, "no customer made for the buyer"


# --- updates, closes --------------------------------------------------------------------------------


def test_updates_back_and_forth_end_where_the_channel_is(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    a = shirt_order()
    b = shirt_order(lines=[line("1", "TSHIRT-M", "3", "19.99"), line("2", "MUG-01", "1", "12.50")])
    assert books.post(a, 0) == "done: create"
    for version, state in enumerate([b, a, b], start=1):  # A -> B -> A -> B
        assert books.post(state, version) == "done: update", version
    [invoice] = books.docs("Sales Invoice")
    assert D(str(invoice["TOTAL"])) == b.total
    assert books.entry(b).invoice_total == b.total and books.entry(b).invoice_updates == 3


def test_intacct_numbering_a_reopened_orders_new_invoice_is_told_from_the_closed_one(sandbox: IntacctSandbox) -> None:
    """Found by the lifecycle machine: closed when cancelled unpaid, placed again, and the new
    invoice's answer lost: the lookup (reference + customer + amount) also found the closed
    invoice, this order's own, and parked as "2 documents match"."""
    books = Books(sandbox, settings(cancellation={"unpaid": "close"}, invoice={"numbering": {"mode": "intacct"}}))
    o = shirt_order()
    assert books.post(o) == "done: create"
    first = books.entry(o).document_key
    cancelled = shirt_order(status=OrderStatus.CANCELLED, cancelled_at=T0, financial_status=FinancialStatus.PENDING)
    assert books.post(cancelled, 1) == "done: close"
    sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    assert books.post(o, 2) == "done: create"
    closed, new = sorted(books.docs("Sales Invoice"), key=lambda d: d["RECORDNO"])
    assert (closed["DOCID"], closed["STATE"]) == (first, "Closed")
    assert books.entry(o).document_key == new["DOCID"] != first


def test_a_lost_answer_on_close_alone_in_its_wave_is_settled(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox, settings(cancellation={"unpaid": "close"}))
    o = shirt_order()
    assert books.post(o) == "done: create"
    cancelled = shirt_order(status=OrderStatus.CANCELLED, cancelled_at=T0, financial_status=FinancialStatus.PENDING)
    sandbox.inject(Fault(kind="lose_response", status=504, function="update_sotransaction"))
    assert books.post(cancelled, 1) == "done: close"
    assert books.entry(o).status == "closed"
    [invoice] = books.docs("Sales Invoice")
    assert invoice["STATE"] == "Closed"


# --- cancellations with payments and refunds ---------------------------------------------------------


def cancelled_refunded(o: Order) -> Order:
    return o.model_copy(
        update={"status": OrderStatus.CANCELLED, "cancelled_at": T0, "financial_status": FinancialStatus.REFUNDED}
    )


def test_a_paid_order_cancelled_with_a_refund_is_credited_once_cancellation_first(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    o = shirt_order()
    books.post(o)
    assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    assert books.post(cancelled_refunded(o), 1) == "done: credit"
    assert books.pay(refund_event(o, "r1", str(o.total)))[0].startswith("done: nothing to credit")
    assert books.credited() == o.total


def test_a_paid_order_cancelled_with_a_refund_is_credited_once_refund_first(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    o = shirt_order()
    books.post(o)
    books.pay(payment_event(o, "p1", str(o.total)))
    assert books.pay(refund_event(o, "r1", "10.00")) == ["done: posted"]  # a partial refund first
    assert books.post(cancelled_refunded(o), 1) == "done: credit"  # then the rest is credited
    assert books.credited() == o.total
    assert books.entry(o).status == "credited"


def test_a_cancellation_handled_before_the_capture_posts_credits_instead_of_deleting(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    o = shirt_order()
    books.post(o)
    # The channel says paid (then refunded); the payments queue has not applied the capture yet.
    assert books.post(cancelled_refunded(o), 1) == "done: credit"
    assert len(books.docs("Sales Invoice")) == 1, "kept: its payment is on the way"
    assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    assert books.pay(refund_event(o, "r1", str(o.total)))[0].startswith("done: nothing to credit")
    assert books.credited() == o.total and books.ar_due(o) == 0


def test_a_refund_for_a_deleted_invoice_credits_nothing(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    o = shirt_order()
    books.post(o)
    unpaid = shirt_order(status=OrderStatus.CANCELLED, cancelled_at=T0, financial_status=FinancialStatus.VOIDED)
    assert books.post(unpaid, 1) == "done: delete"
    assert books.pay(refund_event(o, "r1", "5.00"))[0].startswith("done: nothing to credit: the invoice was deleted")
    assert books.docs("Sales Credit Memo") == []


def test_a_payment_echoed_by_the_writeback_is_not_posted_again(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox)
    o = shirt_order()
    books.post(o)
    entry = books.entry(o)
    entry.status, entry.settled_in_intacct = "paid", True  # what the writeback records (see writeback.run)
    books.ledger.put(entry)
    assert books.pay(payment_event(o, f"{o.order_id}-paid", str(o.total)))[0].startswith(
        "done: invoice settled in Intacct"
    )
    assert sandbox.snapshot()["payments"] == []


# --- a paid order edited afterwards ------------------------------------------------------------------


def test_a_paid_order_that_gains_a_line_gets_an_additional_invoice_its_payment_settles(
    sandbox: IntacctSandbox,
) -> None:
    books = Books(sandbox, settings(items={"adjustment_item_id": "DISCOUNT"}))
    o = shirt_order()
    books.post(o)
    assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    more = shirt_order(lines=[line("1", "TSHIRT-M", "3", "19.99"), line("2", "MUG-01", "1", "12.50")], total_tax="6.00")
    assert books.post(more, 1) == "done: extra"
    gained = more.total - o.total
    extra = [d for d in books.docs("Sales Invoice") if d["DOCID"] == "Sales Invoice-1001-A1"]
    assert len(extra) == 1 and D(str(extra[0]["TOTAL"])) == gained
    assert [(s["DESCRIPTION"], D(str(s["TOTAL"]))) for s in extra[0]["SUBTOTALS"]] == [("Tax", D("1.80"))]
    assert books.post(more, 1) == "done: no change", "the same state again adds nothing"
    later = T0 + timedelta(hours=1)
    assert books.pay(payment_event(more, "p2", str(gained), processed_at=later)) == ["done: posted"]
    entry = books.entry(o)
    assert entry.booked_total == more.total and entry.paid_total == more.total and entry.status == "paid"
    [ar] = [a for a in sandbox.snapshot()["arinvoices"] if str(a["RECORDNO"]) == entry.extra_invoices[0].ar_record_key]
    assert D(str(ar["TOTALDUE"])) == 0, "the second payment went to the additional invoice"


def test_a_paid_order_that_loses_a_line_is_credited_by_its_refund_only(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox, settings(items={"adjustment_item_id": "DISCOUNT"}))
    o = shirt_order()
    books.post(o)
    books.pay(payment_event(o, "p1", str(o.total)))
    less = shirt_order(lines=[line("1", "TSHIRT-M", "2", "19.99")], total_tax="4.20")
    assert books.post(less, 1) == "done: changed after payment: nothing to invoice"
    assert books.docs("Sales Credit Memo") == [] and any(
        "reduced after payment" in h.action for h in books.entry(o).history
    )
    assert books.pay(refund_event(o, "r1", "12.50")) == ["done: posted"]
    assert books.credited() == D("12.50")


def test_an_addition_after_payment_without_an_adjustment_item_is_parked_with_the_fix(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox, settings(items={"adjustment_item_id": None}))
    o = shirt_order()
    books.post(o)
    books.pay(payment_event(o, "p1", str(o.total)))
    more = shirt_order(lines=[line("1", "TSHIRT-M", "3", "19.99"), line("2", "MUG-01", "1", "12.50")])
    assert books.post(more, 1).startswith("park: Addition 1 to order 1001")
    assert "items.adjustment_item_id" in (books.entry(o).last_error.fix or "")  # type: ignore[union-attr]


def test_after_payment_leave_only_notes_the_change(sandbox: IntacctSandbox) -> None:
    books = Books(sandbox, settings(invoice={"after_payment": "leave"}))
    o = shirt_order()
    books.post(o)
    books.pay(payment_event(o, "p1", str(o.total)))
    more = shirt_order(lines=[line("1", "TSHIRT-M", "3", "19.99"), line("2", "MUG-01", "1", "12.50")])
    assert books.post(more, 1) == "done: changed after payment: left as is"
    assert len(books.docs("Sales Invoice")) == 1


def test_intacct_numbering_never_adopts_the_other_stores_credit_memo(sandbox: IntacctSandbox) -> None:
    """Found by the two-store lifecycle machine: a refund's credit memo numbered by Intacct was
    not claimed when its write answered (only an adopted one was), so store A's refund, its
    write failing with the outcome unknown, looked up reference + customer + amount and took
    store B's credit memo for its own: store A's refund recorded as credited, never credited."""
    books = Books(
        sandbox, settings(invoice={"numbering": {"mode": "intacct"}}, credit_memo={"numbering": {"mode": "intacct"}})
    )
    a, b = store_order("shop-a"), store_order("shop-b")  # same number, same buyer, same amount
    for o in (a, b):
        assert books.post(o) == "done: create"
        assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    assert books.pay(refund_event(b, "r1", "20.00")) == ["done: posted"]
    # Store A's credit memo write never reaches Intacct, and the answer says nothing certain.
    sandbox.inject(Fault(kind="http_error", status=504, function="create_sotransaction"))
    [outcome] = books.pay(refund_event(a, "r1", "20.00"))
    assert books.entry(a).refunds.get("r1") is None or books.entry(a).refunds["r1"].document_key != (
        books.entry(b).refunds["r1"].document_key
    ), "store A adopted store B's credit memo"
    assert outcome.startswith("retry"), outcome
    assert books.pay(refund_event(a, "r1", "20.00")) == ["done: posted"]  # sent again
    memos = books.docs("Sales Credit Memo")
    assert len(memos) == 2
    assert {books.entry(a).refunds["r1"].document_key, books.entry(b).refunds["r1"].document_key} == {
        m["DOCID"] for m in memos
    }
