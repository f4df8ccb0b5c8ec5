"""Payouts into Intacct (issue 14) against both sandboxes: a Shopify Payments payout read through
the Admin GraphQL API becomes one Intacct deposit of the AR payments it settles plus one other
receipt with its fees, refunds, disputes and adjustments, so the deposit equals the bank line;
a payout whose payments are not posted yet waits; nothing is ever deposited twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.connections import InMemoryConnections
from intacct_sync.intacct import query as q
from intacct_sync.models.connection import Connection
from intacct_sync.models.order import Order
from intacct_sync.payouts.ledger import InMemoryPayoutStore, PayoutRecord
from intacct_sync.payouts.run import PayoutPoster, PayoutsReport, payouts_all
from intacct_sync.payouts.shopify import ShopifyPayouts
from intacct_sync.retry import Backoff, Deadline
from local.channel_sandbox import ChannelSandbox
from local.channel_sandbox.shopify_payments import add_payout_to
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.conftest import RecordingSleep
from tests.integration.test_posting_consumers import Harness, order_event, payment_event, shirt_order
from tests.unit.posting.factories import settings

D = Decimal
SHOP = "demo.myshopify.com"
CONNECTION = "shop-po"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ISSUED = "2026-11-24T09:00:00Z"
PAYOUTS = {
    "enabled": True,
    "bank_account_id": "BOA",
    "undeposited_account": "1200",
    "fee_account": "6100",
    "refund_account": "1250",
    "chargeback_account": "6110",
    "adjustment_account": "6120",
}
SETTINGS = settings(payouts=PAYOUTS)


class Books:
    """The order and payment posters (Harness), the payout poster and both sandboxes."""

    def __init__(self, cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> None:
        self.cs, self.sandbox = cs, sandbox
        self.h = Harness(sandbox, sleeps)
        self.store = InMemoryPayoutStore()
        self.connection = Connection.model_validate(cs.connection_secret("shopify", SHOP, CONNECTION))
        self.poster = PayoutPoster(self.h.client, self.h.ledger, self.store, SETTINGS, clock=lambda: NOW)
        self.orders: dict[str, Order] = {}

    def source(self) -> ShopifyPayouts:
        client = client_for(
            self.connection, backoff=Backoff(base_s=0.01, cap_s=0.05), sleep=lambda _: None, pacer=Pacer()
        )
        return ShopifyPayouts(client, CONNECTION)  # type: ignore[arg-type]

    def sell(self, order_id: str, transaction_id: int) -> Order:
        """An order paid on the channel (in the channel sandbox, with its capture)."""
        o = shirt_order(order_id, connection_id=CONNECTION)
        self.cs.put_order("shopify", SHOP, {"id": int(order_id), "name": f"#{order_id}", "total_price": str(o.total)})
        self.cs.add_transaction(
            "shopify", SHOP, int(order_id), {"id": transaction_id, "kind": "capture", "amount": str(o.total)}
        )
        self.orders[order_id] = o
        return o

    def book(self, order_id: str, transaction_id: int) -> None:
        """The order consumer and the payment consumer post the order and its payment."""
        o = self.orders[order_id]
        self.h.post(order_event(o))
        self.h.pay(payment_event(o, str(transaction_id), str(o.total)))

    def payout(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return add_payout_to(self.cs, SHOP, items, issued_at=ISSUED)

    def run(self) -> PayoutsReport:
        return self.poster.run_connection(self.connection, self.source(), deadline=Deadline.after(30))

    def rows(self, obj: str, fields: list[str], **eq: str) -> list[dict[str, str]]:
        flt = q.and_(*(q.eq(k, v) for k, v in eq.items())) if len(eq) > 1 else q.eq(*next(iter(eq.items())))
        return list(self.h.client.iter_query(obj, fields, filter=flt, deadline=Deadline.after(30)))

    def deposits(self) -> list[dict[str, str]]:
        return self.rows("DEPOSIT", ["RECORDNO", "TOTALENTERED", "FINANCIALENTITY", "DOCNUMBER"], FINANCIALENTITY="BOA")

    def writes_since(self, mark: int) -> list[str]:
        return [f.name for r in self.sandbox.requests[mark:] for f in r.functions if f.name.startswith("record_")]

    def record(self, payout_id: object) -> PayoutRecord:
        return self.store.get_many(CONNECTION, [str(payout_id)])[str(payout_id)]


@pytest.fixture
def books(cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> Books:
    return Books(cs, sandbox, sleeps)


def _fees_refund_chargeback(b: Books) -> dict[str, Any]:
    b.sell("7001", 91001)
    b.sell("7002", 91002)
    return b.payout(
        [
            {"type": "CHARGE", "order_id": 7001, "transaction_id": 91001, "fee": "1.94"},
            {"type": "CHARGE", "order_id": 7002, "transaction_id": 91002, "fee": "1.94"},
            {"type": "REFUND", "order_id": 7001, "amount": "-10.00"},
            {"type": "DISPUTE_WITHDRAWAL", "order_id": 7002, "amount": "-56.68", "fee": "15.00"},
            {"type": "ADJUSTMENT", "amount": "0.50", "reason": "fee refund"},
        ]
    )


def test_a_payout_with_fees_a_refund_and_a_chargeback_is_one_deposit_equal_to_the_bank_line(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    mark = len(books.sandbox.requests)
    report = books.run()
    assert report.deposited == [str(payout["id"])] and not report.failed and not report.waiting
    assert books.writes_since(mark) == ["record_otherreceipt", "record_deposit"]

    bank_line = payout["net"]
    assert bank_line == D("56.68") * 2 - D("1.94") * 2 - D("10.00") - D("56.68") - D("15.00") + D("0.50")
    [deposit] = books.deposits()
    assert D(deposit["TOTALENTERED"]) == bank_line  # the deposit in Intacct is the bank line, to the cent
    assert deposit["DOCNUMBER"] == f"PO-{payout['id']}"

    record = books.record(payout["id"])
    assert record.status == "deposited" and record.deposit_key == deposit["RECORDNO"]
    assert record.deposit_total == bank_line
    assert record.lines == {
        "fee": D("-18.88"),
        "refund": D("-10.00"),
        "chargeback": D("-56.68"),
        "adjustment": D("0.50"),
    }
    [receipt] = books.rows("OTHERRECEIPTS", ["RECORDNO", "TOTALENTERED", "DEPOSITKEY"], DOCNUMBER=f"PO-{payout['id']}")
    assert D(receipt["TOTALENTERED"]) == D("-85.06") and receipt["DEPOSITKEY"] == deposit["RECORDNO"]
    payments = [p for p in books.sandbox.snapshot()["payments"] if str(p["RECORDNO"]) in set(record.payment_keys)]
    assert len(payments) == 2 and all(str(p.get("DEPOSITKEY")) == deposit["RECORDNO"] for p in payments)
    lines = {line["GLACCOUNTNO"]: D(line["AMOUNT"]) for line in _receipt_lines(books, receipt["RECORDNO"])}
    assert lines == {"6100": D("-18.88"), "1250": D("-10.00"), "6110": D("-56.68"), "6120": D("0.50")}


def _receipt_lines(b: Books, recordno: str) -> list[dict[str, str]]:
    with b.sandbox.store.lock:  # the receipt's lines as the sandbox stored them
        stored = b.sandbox.store.get(b.sandbox.store.company_ids()[0], "OTHERRECEIPTS", int(recordno))
    assert stored is not None
    lines: list[dict[str, str]] = stored["LINES"]
    return lines


def test_a_payout_arriving_before_its_orders_are_posted_waits_then_deposits(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)  # the second order is still on its way
    mark = len(books.sandbox.requests)
    report = books.run()
    assert report.waiting == [str(payout["id"])] and not report.deposited
    assert books.writes_since(mark) == []  # nothing half-booked
    record = books.record(payout["id"])
    assert record.status == "waiting" and "#7002" in (record.reason or "") and record.fix
    assert str(payout["id"]) in books.store.open_payouts(CONNECTION)

    books.book("7002", 91002)
    report = books.run()
    assert report.deposited == [str(payout["id"])]
    assert books.record(payout["id"]).status == "deposited"
    assert books.store.open_payouts(CONNECTION) == {}
    [deposit] = books.deposits()
    assert D(deposit["TOTALENTERED"]) == payout["net"]


def test_a_payout_waiting_longer_than_max_wait_hours_is_reported(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.run()
    books.poster.clock = lambda: NOW + timedelta(hours=SETTINGS.payouts.max_wait_hours + 1)
    report = books.run()
    assert report.waiting_too_long == [str(payout["id"])]


def test_the_same_payout_run_twice_makes_one_deposit(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    assert books.run().deposited == [str(payout["id"])]
    mark = len(books.sandbox.requests)
    again = books.run()
    assert again.deposited == [] and again.waiting == [] and not again.failed
    assert books.writes_since(mark) == []
    assert len(books.deposits()) == 1


@pytest.mark.parametrize("function", ["record_otherreceipt", "record_deposit"])
def test_a_lost_answer_after_the_commit_is_adopted_not_sent_twice(books: Books, function: str) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    books.sandbox.inject(Fault("lose_response", function=function))
    report = books.run()
    assert report.deposited == [str(payout["id"])], report
    [deposit] = books.deposits()
    assert D(deposit["TOTALENTERED"]) == payout["net"]
    assert len(books.rows("OTHERRECEIPTS", ["RECORDNO"], DOCNUMBER=f"PO-{payout['id']}")) == 1


class CrashAfterDeposit(InMemoryPayoutStore):
    """The function dies right after Intacct committed the deposit, before the record says so."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    def put(self, record: PayoutRecord) -> None:
        if self.crash and record.status == "deposited":
            self.crash = False
            raise RuntimeError("Lambda time-out")
        super().put(record)


def test_a_crash_after_the_deposit_commit_makes_no_second_deposit(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    books.store = CrashAfterDeposit()
    books.poster.store = books.store
    with pytest.raises(RuntimeError):
        books.run()
    assert books.record(payout["id"]).status == "partly_booked"  # the receipt's key was saved
    report = books.run()  # the same controlid again: refused as a duplicate, the deposit adopted
    assert report.deposited == [str(payout["id"])], report
    assert len(books.deposits()) == 1
    assert books.record(payout["id"]).deposit_total == payout["net"]


def test_a_payout_not_paid_yet_is_left_for_a_later_run(books: Books) -> None:
    books.sell("7001", 91001)
    books.book("7001", 91001)
    payout = add_payout_to(
        books.cs,
        SHOP,
        [{"type": "CHARGE", "order_id": 7001, "transaction_id": 91001, "fee": "1.94"}],
        issued_at=ISSUED,
        status="IN_TRANSIT",
    )
    assert books.run().deposited == []
    assert books.store.watermark(CONNECTION) is not None
    books.cs.world.store("shopify", SHOP).payouts[payout["id"]]["status"] = "PAID"
    assert books.run().deposited == [str(payout["id"])]


# --- payouts.fees = "journal_entry": deposit the payments, journal the rest off the bank ----------

JOURNAL = settings(payouts={**PAYOUTS, "fees": "journal_entry", "bank_gl_account": "1010"})


def test_in_journal_mode_the_deposit_holds_the_payments_and_deposit_plus_journal_is_the_bank_line(
    books: Books,
) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    books.poster.settings = JOURNAL
    mark = len(books.sandbox.requests)
    report = books.run()
    assert report.deposited == [str(payout["id"])], report
    assert books.writes_since(mark) == ["record_deposit"]
    [deposit] = books.deposits()
    assert D(deposit["TOTALENTERED"]) == D("56.68") * 2  # the payments, gross
    [entry] = books.rows("GLBATCH", ["RECORDNO", "TOTAL", "REFERENCENO", "JOURNAL"], REFERENCENO=f"PO-{payout['id']}")
    record = books.record(payout["id"])
    assert record.journal_key == entry["RECORDNO"] and entry["JOURNAL"] == "GJ"
    assert record.journal_total == D("-85.06")
    assert D(deposit["TOTALENTERED"]) + record.journal_total == payout["net"]  # bank line = deposit + journal
    with books.sandbox.store.lock:
        stored = books.sandbox.store.get(books.sandbox.store.company_ids()[0], "GLBATCH", int(entry["RECORDNO"]))
    assert stored is not None
    sides = {(e["ACCOUNTNO"], e["TR_TYPE"]): D(e["AMOUNT"]) for e in stored["ENTRIES"]}
    assert sides == {
        ("6100", 1): D("18.88"),
        ("1250", 1): D("10.00"),
        ("6110", 1): D("56.68"),
        ("6120", -1): D("0.50"),
        ("1010", -1): D("85.06"),
    }


def test_in_journal_mode_a_lost_journal_answer_is_adopted_and_a_second_run_books_nothing(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    books.poster.settings = JOURNAL
    books.sandbox.inject(Fault("lose_response", function="create"))
    assert books.run().deposited == [str(payout["id"])]
    mark = len(books.sandbox.requests)
    assert books.run().deposited == []
    assert books.writes_since(mark) == []
    assert len(books.rows("GLBATCH", ["RECORDNO"], REFERENCENO=f"PO-{payout['id']}")) == 1
    assert len(books.deposits()) == 1


def test_a_withdrawal_is_reported_once_and_never_deposited(books: Books) -> None:
    books.sell("7001", 91001)
    payout = books.payout([{"type": "REFUND", "order_id": 7001, "amount": "-25.00"}])
    assert payout["net"] == D("-25.00")
    first = books.run()
    assert list(first.failed) == [str(payout["id"])] and "out of the bank" in first.failed[str(payout["id"])]
    record = books.record(payout["id"])
    assert record.status == "skipped" and record.fix and "by hand" in record.fix
    assert books.store.open_payouts(CONNECTION) == {}
    again = books.run()
    assert not again.failed and not again.deposited
    assert books.deposits() == []


def test_the_scheduled_run_deposits_each_stores_payouts_in_its_own_entity(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    shop = books.connection.model_copy(update={"intacct_entity_id": "100"})
    woo = Connection.model_validate(books.cs.connection_secret("woocommerce", "demo-woo", "woo-main"))
    asked: list[str | None] = []

    def intacct_for(entity: str | None) -> Any:
        asked.append(entity)
        return books.h.client  # the sandbox company has no entities: the same client stands in

    summary = payouts_all(
        InMemoryConnections([shop, woo]),
        books.poster,
        deadline=Deadline.after(30),
        source_factory=lambda _c: books.source(),
        intacct_for=intacct_for,
    )
    assert summary == {
        CONNECTION: {
            "connection": CONNECTION,
            "deposited": 1,
            "waiting": 0,
            "waiting_too_long": 0,
            "failed": 0,
            "complete": True,
        }
    }  # the WooCommerce store has no Shopify Payments payouts to read
    assert asked == ["100"]
    assert books.record(payout["id"]).status == "deposited"


def test_nothing_is_read_while_payouts_are_off(books: Books) -> None:
    books.poster.settings = settings()
    mark = len(books.cs.requests)
    assert (
        payouts_all(
            InMemoryConnections([books.connection]),
            books.poster,
            deadline=Deadline.after(30),
            source_factory=lambda _c: books.source(),
        )
        == {}
    )
    assert books.cs.requests[mark:] == []


def test_a_paused_stores_payout_is_not_deposited_until_it_is_resumed(books: Books) -> None:
    payout = _fees_refund_chargeback(books)
    books.book("7001", 91001)
    books.book("7002", 91002)
    pauses: dict[str, str] = {CONNECTION: "month-end clean-up"}

    def run() -> dict[str, dict[str, object]]:
        return payouts_all(
            InMemoryConnections([books.connection]),
            books.poster,
            deadline=Deadline.after(30),
            source_factory=lambda _c: books.source(),
            paused=pauses.get,
        )

    mark = len(books.cs.requests)
    assert run() == {CONNECTION: {"complete": False, "paused": True}}
    assert books.cs.requests[mark:] == [] and books.deposits() == []  # nothing read, nothing booked

    del pauses[CONNECTION]  # ops resume
    assert run()[CONNECTION]["deposited"] == 1
    assert books.record(payout["id"]).status == "deposited" and len(books.deposits()) == 1
