"""Issue 10, item 11, against the Intacct sandbox over HTTP: a refund paid out to the customer is
recorded (`refunds.payout = "debit_memo"`), and credit memos link to their invoice
(`credit_memo.created_from`) where the company's definitions allow it.

A paid order refunded in part ends with the customer owing nothing (the credit memo applied to a
debit memo on the payout account) and the payout recorded once, however the refund is redelivered
or an answer lost; with the default `payout = "none"` a refund posts its credit memo only, as
before. Customer balance = every AR record's TOTALDUE for the customer (invoices and debit memos
positive, credit memos negative), as Intacct's customer balance sums them.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from intacct_sync.models.order import FinancialStatus, Order, OrderStatus
from intacct_sync.settings import Settings
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.integration.test_order_identity_and_lifecycle import Books
from tests.integration.test_posting_consumers import T0, payment_event, refund_event, shirt_order
from tests.unit.posting.factories import line, settings

D = Decimal
PAID_OUT = settings(refunds={"payout": "debit_memo", "payout_account": "1200"})


def balance(sandbox: IntacctSandbox, customer: str) -> Decimal:
    snap = sandbox.snapshot()
    rows = [*snap["arinvoices"], *snap["aradjustments"]]
    return sum((D(r["TOTALDUE"]) for r in rows if r["CUSTOMERID"] == customer), D(0))


def open_items(sandbox: IntacctSandbox, customer: str) -> list[tuple[str, str]]:
    snap = sandbox.snapshot()
    rows = [*snap["arinvoices"], *snap["aradjustments"]]
    return [(r["RECORDID"], r["TOTALDUE"]) for r in rows if r["CUSTOMERID"] == customer and D(r["TOTALDUE"]) != 0]


def debit_memos(sandbox: IntacctSandbox) -> list[dict[str, Any]]:
    return [a for a in sandbox.snapshot()["aradjustments"] if D(a["TOTALENTERED"]) > 0]


def payouts(sandbox: IntacctSandbox) -> list[dict[str, Any]]:
    return [p for p in sandbox.snapshot()["payments"] if (p["DOCNUMBER"] or "").startswith("RF-")]


def paid_order(sandbox: IntacctSandbox, s: Settings = PAID_OUT) -> tuple[Books, Order, str]:
    """Order 1001 (56.68) invoiced and paid in full: (books, order, its customer id)."""
    books = Books(sandbox, s)
    o = shirt_order()
    assert books.post(o) == "done: create"
    assert books.pay(payment_event(o, "p1", str(o.total))) == ["done: posted"]
    customer = books.entry(o).customer_id or ""
    assert balance(sandbox, customer) == 0
    return books, o, customer


def functions_since(sandbox: IntacctSandbox, mark: int) -> list[list[str]]:
    return [[f.name for f in r.functions] for r in sandbox.requests[mark:]]


def test_a_paid_order_refunded_in_part_owes_nothing_and_the_payout_is_recorded_once(sandbox: IntacctSandbox) -> None:
    books, o, customer = paid_order(sandbox)
    mark = len(sandbox.requests)
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: posted and paid out"]
    # The debit memo goes with the credit memo and its read-back; the applying ARPYMT follows.
    calls = functions_since(sandbox, mark)
    assert len(calls) == 2 and calls[0][-3:] == ["create_sotransaction", "query", "create_aradjustment"], calls
    assert calls[-1] == ["create"], "the ARPYMT applying the credit memo to the debit memo"
    assert balance(sandbox, customer) == 0, "no credit balance left behind"
    assert open_items(sandbox, customer) == [], "the credit memo and the debit memo settle each other"
    [dm] = debit_memos(sandbox)
    assert (dm["RECORDID"], dm["TOTALENTERED"], dm["TOTALDUE"]) == ("RF-CM-1001-r1", "20.00", "0.00")
    assert dm["LINES"][0]["GLACCOUNTNO"] == "1200"
    [applied] = payouts(sandbox)
    assert applied["TOTALENTERED"] == "0.00", "no second movement of cash"
    # Cash: the 56.68 received into 1200 less the 20.00 paid back out of it.
    received = sum((D(p["TOTALENTERED"]) for p in sandbox.snapshot()["payments"]), D(0))
    paid_back = sum((D(line["AMOUNT"]) for m in debit_memos(sandbox) for line in m["LINES"]), D(0))
    assert received - paid_back == o.total - D("20.00")
    rec = books.entry(o).payouts["r1"]
    assert rec.done and rec.debit_memo_key == str(dm["RECORDNO"]) and rec.payment_key == str(applied["RECORDNO"])
    # Redelivered: nothing more.
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: duplicate: refund already credited"]
    assert len(debit_memos(sandbox)) == 1 and len(payouts(sandbox)) == 1
    assert len(books.docs("Sales Credit Memo")) == 1


def test_lost_answers_never_pay_a_refund_out_twice(sandbox: IntacctSandbox) -> None:
    books, o, customer = paid_order(sandbox)
    # The credit memo's request (with its debit memo) commits but its answer is lost.
    sandbox.inject(Fault(kind="lose_response", status=504, function="create_aradjustment"))
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: posted and paid out"]
    assert len(debit_memos(sandbox)) == 1, "the debit memo was found by its number, not made again"
    # The applying ARPYMT commits but its answer is lost.
    sandbox.inject(Fault(kind="lose_response", status=504, function="create"))
    assert books.pay(refund_event(o, "r2", "10.00")) == ["done: posted and paid out"]
    assert len(debit_memos(sandbox)) == 2 and len(payouts(sandbox)) == 2
    assert balance(sandbox, customer) == 0 and open_items(sandbox, customer) == []
    assert {r.refund_id for r in books.entry(o).payouts.values() if r.done} == {"r1", "r2"}
    assert books.pay(refund_event(o, "r2", "10.00")) == ["done: duplicate: refund already credited"]
    assert len(payouts(sandbox)) == 2


def test_a_payout_stopped_halfway_is_finished_by_the_redelivered_refund(sandbox: IntacctSandbox) -> None:
    books, o, customer = paid_order(sandbox)
    sandbox.inject(Fault(kind="http_error", status=503, function="create", times=10))
    [outcome] = books.pay(refund_event(o, "r1", "20.00"))
    assert outcome.startswith("retry: refund r1 is credited; its payout (RF-CM-1001-r1) is not complete yet"), outcome
    [dm] = debit_memos(sandbox)  # credit memo and debit memo posted, not yet applied to each other
    assert dm["TOTALDUE"] == "20.00" and payouts(sandbox) == []
    sandbox.clear_faults()
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: paid out"]
    assert balance(sandbox, customer) == 0 and debit_memos(sandbox)[0]["TOTALDUE"] == "0.00"
    assert len(books.docs("Sales Credit Memo")) == 1 and len(debit_memos(sandbox)) == 1 and len(payouts(sandbox)) == 1


def test_with_payout_none_a_refund_posts_its_credit_memo_only(sandbox: IntacctSandbox) -> None:
    books, o, customer = paid_order(sandbox, settings())
    mark = len(sandbox.requests)
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: posted"]
    assert [c[-1] for c in functions_since(sandbox, mark)] == ["create_sotransaction"]
    assert debit_memos(sandbox) == [] and payouts(sandbox) == []
    assert books.entry(o).payouts == {}
    assert balance(sandbox, customer) == D("-20.00"), "the credit balance the payout setting exists for"


def test_a_credit_key_that_does_not_fit_the_company_parks_with_the_fix_then_pays_out(
    sandbox: IntacctSandbox,
) -> None:
    seed = copy.deepcopy(sandbox.seed)
    [cm] = [d for d in seed["companies"][0]["transaction_definitions"] if d["name"] == "Sales Credit Memo"]
    cm["ar_record"] = "ARINVOICE"  # this company posts credit memos as negative invoices
    sandbox.reset(seed=seed)
    books, o, customer = paid_order(sandbox)
    [outcome] = books.pay(refund_event(o, "r1", "20.00"))
    assert outcome.startswith("park: refund refund-r1: its payout failed: the refund's credit memo is not the kind")
    fix = books.entry(o).last_error.fix  # type: ignore[union-attr]
    assert fix is not None and "Switch refunds.credit_key" in fix
    books.payments.settings = settings(
        refunds={"payout": "debit_memo", "payout_account": "1200", "credit_key": "NEGATIVEINVOICEKEY"}
    )
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: paid out"]  # the replay
    assert balance(sandbox, customer) == 0 and len(debit_memos(sandbox)) == 1


# --- createdfrom ----------------------------------------------------------------------------------


def test_created_from_links_each_credit_memo_to_its_invoice(sandbox: IntacctSandbox) -> None:
    books, o, _ = paid_order(sandbox, settings(credit_memo={"created_from": True}))
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: posted"]
    [memo] = books.docs("Sales Credit Memo")
    [invoice] = books.docs("Sales Invoice")
    assert memo["CREATEDFROM"] == invoice["DOCID"] == books.entry(o).document_key
    assert invoice["STATE"] == "Partially Converted"


def test_created_from_links_credits_up_to_the_invoice_and_makes_the_rest_unlinked(sandbox: IntacctSandbox) -> None:
    """Found by the lifecycle machine: an order edited after payment gains an additional invoice,
    so its refunds can credit more than the first invoice; each credit memo was converted from
    that invoice, and once credits reached its total Intacct refused the next ("Cannot convert
    ... in state Converted"): parked with a fix that could not help."""
    books, o, _ = paid_order(sandbox, settings(credit_memo={"created_from": True}))  # 56.68
    more = shirt_order(lines=[line("1", "TSHIRT-M", "3", "19.99"), line("2", "MUG-01", "1", "12.50")])
    assert books.post(more, 1).startswith("done"), "one more shirt: an additional invoice of 19.99"
    assert books.pay(payment_event(more, "p2", "19.99")) == ["done: posted"]
    assert books.pay(refund_event(more, "r1", "40.00")) == ["done: posted"]
    assert books.pay(refund_event(more, "r2", "16.68")) == ["done: posted"]  # the invoice's total, credited
    assert books.pay(refund_event(more, "r3", "19.99")) == ["done: posted"]
    main = books.entry(o).document_key
    linked = {d["DOCID"]: d.get("CREATEDFROM") for d in books.docs("Sales Credit Memo")}
    refunds = books.entry(o).refunds
    assert [linked[refunds[r].document_key or ""] for r in ("r1", "r2", "r3")] == [main, main, None]
    assert books.credited() == more.total
    assert any(h.action == "credit memo not linked" for h in books.entry(o).history)


def test_created_from_the_definition_does_not_allow_parks_with_the_fix(sandbox: IntacctSandbox) -> None:
    seed = copy.deepcopy(sandbox.seed)
    [cm] = [d for d in seed["companies"][0]["transaction_definitions"] if d["name"] == "Sales Credit Memo"]
    cm["convert_from"] = []
    sandbox.reset(seed=seed)
    books, o, _ = paid_order(sandbox, settings(credit_memo={"created_from": True}))
    [outcome] = books.pay(refund_event(o, "r1", "20.00"))
    assert outcome.startswith("park: refund refund-r1: Intacct refused to create the credit memo from the order's "), (
        outcome
    )
    fix = books.entry(o).last_error.fix  # type: ignore[union-attr]
    assert fix is not None and "credit_memo.created_from to false" in fix and "converts from" in fix
    assert books.docs("Sales Credit Memo") == []
    # The fix it names works: without createdfrom the refund is credited on replay.
    books.payments.settings = settings()
    assert books.pay(refund_event(o, "r1", "20.00")) == ["done: posted"]


def test_created_from_links_a_cancelled_paid_orders_credit_memo_too(sandbox: IntacctSandbox) -> None:
    books, o, _ = paid_order(sandbox, settings(credit_memo={"created_from": True}))
    cancelled = o.model_copy(
        update={"status": OrderStatus.CANCELLED, "cancelled_at": T0, "financial_status": FinancialStatus.REFUNDED}
    )
    assert books.post(cancelled, 1) == "done: credit"
    [memo] = books.docs("Sales Credit Memo")
    [invoice] = books.docs("Sales Invoice")
    assert memo["CREATEDFROM"] == invoice["DOCID"] and invoice["STATE"] == "Converted"


def test_a_paid_order_cancelled_with_a_refund_owes_nothing_whichever_arrives_first(sandbox: IntacctSandbox) -> None:
    """The cancellation's credit memo covers the refund (no second credit memo); the money the
    refund sent back is paid out against that credit memo, once."""
    books, o, customer = paid_order(sandbox)
    cancelled = o.model_copy(
        update={"status": OrderStatus.CANCELLED, "cancelled_at": T0, "financial_status": FinancialStatus.REFUNDED}
    )
    assert books.post(cancelled, 1) == "done: credit"
    assert books.pay(refund_event(o, "r1", str(o.total)))[0].startswith("done:")
    assert books.pay(refund_event(o, "r1", str(o.total))) == ["done: duplicate: refund already credited"]
    assert balance(sandbox, customer) == 0, "no credit balance left for money already returned"
    assert open_items(sandbox, customer) == []
    [dm] = debit_memos(sandbox)
    assert D(dm["TOTALENTERED"]) == o.total and D(dm["TOTALDUE"]) == 0
    assert len(payouts(sandbox)) == 1
