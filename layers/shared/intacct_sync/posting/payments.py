"""Payments and refunds into Intacct (payment consumer).

A payment becomes an ARPYMT applied to the invoice's AR record (the PRRECORDKEY read back after
the invoice's last create or update); a payment whose invoice is not posted yet waits in its
order's ledger entry until the order poster has the invoice (`posting.waiting`): never posted
unapplied, never lost, no SQS receive spent on waiting. A refund becomes a credit memo. One
request per wave carries every payment's function; lost answers are settled by looking the
payment up by its document number before anything is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from intacct_sync import logs
from intacct_sync.errors import PermanentError, SyncError, TransientError
from intacct_sync.intacct import IntacctAlreadyExecuted, IntacctClient, IntacctOutcomeUnknown
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import PaymentApplication, SalesTransaction
from intacct_sync.intacct.errors import IntacctTransientError
from intacct_sync.intacct.wire import Function, Result
from intacct_sync.ledger import Ledger, LedgerConflict, LedgerEntry, PaymentRecord, PayoutRecord, RefundRecord
from intacct_sync.models.events import CanonicalEvent, PaymentEvent, RefundEvent, event_from_json
from intacct_sync.models.order import Order, Payment, Refund
from intacct_sync.posting import contacts, identity, mapping, payout, refund_state, waiting
from intacct_sync.posting.currency import to_invoice_currency
from intacct_sync.posting.explain import explain
from intacct_sync.posting.orders import readback
from intacct_sync.posting.outcome import Outcome
from intacct_sync.posting.test_orders import skip_money
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings

log = logging.getLogger(__name__)

FetchOrderState = Callable[[CanonicalEvent, Deadline], Order | None]


@dataclass
class _Work:
    event: CanonicalEvent
    entry: LedgerEntry | None
    write: Function | None = None
    lookup: Function | None = None
    txn: SalesTransaction | None = None
    """The credit memo a refund writes (its identity is checked on adoption)."""
    applied: dict[str, Decimal] = field(default_factory=dict)
    """AR record key -> amount when a payment is split over the invoice and additional ones."""
    before: list[Function] = field(default_factory=list)
    """Contacts the credit memo names that may not exist yet, created in the same request."""
    payout: PayoutRecord | None = None
    """The refund's payout (`refunds.payout`), worked on after its credit memo."""
    after: list[Function] = field(default_factory=list)
    """Sent right after the credit memo: its read-back (AR record key) and the payout debit memo."""
    outcome: Outcome | None = None
    dirty: bool = False
    payout_error: SyncError | None = None
    """Why a payout step failed for good (parks the refund once its credit memo is posted)."""
    delivered: CanonicalEvent | None = None
    """The event as delivered (before currency conversion or a refund's re-read): what a wait keeps."""
    waits: bool = False
    """The event now waits in the ledger for its invoice (`posting.waiting`)."""


def split_over(amount: Decimal, dues: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """`amount` spread over AR records in order, each up to what it still owes; any excess on the
    last (PaymentPoster refuses a payment above the total due before it gets here)."""
    applied: dict[str, Decimal] = {}
    left = amount
    for i, (key, due) in enumerate(dues):
        take = left if i == len(dues) - 1 else min(left, max(due, Decimal(0)))
        if take > 0:
            applied[key] = applied.get(key, Decimal(0)) + take
            left -= take
    return applied


def event_owner(event: CanonicalEvent) -> str:
    """The ledger key of the order an event belongs to."""
    return f"{event.connection_id}:{event.order_id}"


class PaymentPoster:
    def __init__(
        self,
        client: IntacctClient,
        ledger: Ledger,
        settings: Settings,
        *,
        fetch_order: FetchOrderState | None = None,
        fetch_refund: refund_state.FetchRefund | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.settings = settings
        self.fetch_order = fetch_order
        self.fetch_refund = fetch_refund

    def __call__(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        held = self._drain_waits(events, deadline)
        rest = [e for e in events if e.event_id not in held]
        return {**(self._post(rest, deadline) if rest else {}), **held}

    def _drain_waits(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        """Before an event of an order whose invoice now exists, the payments and refunds that
        waited for it (`posting.waiting`) are applied first, oldest first, from the ledger: queue
        order is kept whatever order the copies the order poster queued arrive in (a refund is
        never credited before a payment it follows). An event behind a wait that must be retried
        is retried too (returned here); the copies arriving later are duplicates."""
        held: dict[str, Outcome] = {}
        for _ in range(1 + max((len(w) for w in self._waits_of(events).values()), default=0)):
            todo: list[tuple[CanonicalEvent, str, CanonicalEvent]] = []
            waits = self._waits_of([e for e in events if e.event_id not in held])
            for e in events:
                if e.event_id not in waits:
                    continue
                first_key, first = next(iter(waits[e.event_id].items()))
                if first_key != waiting.key_of(e):
                    todo.append((e, first_key, first))
            if not todo:
                break
            outcomes = self._post([first for _, _, first in todo], deadline)
            for e, first_key, first in todo:
                outcome = outcomes.get(first.event_id) or Outcome.retry("no outcome")
                if outcome.status == "retry":
                    held[e.event_id] = Outcome.retry(
                        f"{first_key}, which waited for the invoice of order {e.order_id}, comes first and could not "
                        f"be applied yet: {outcome.reason}",
                        outcome.fix,
                    )
        return held

    def _waits_of(self, events: Sequence[CanonicalEvent]) -> dict[str, dict[str, CanonicalEvent]]:
        """By event id, for events whose order's invoice exists and has waits: those waits, oldest first."""
        if not events:
            return {}
        entries = self.ledger.get_many([(e.connection_id, e.order_id) for e in events])
        out: dict[str, dict[str, CanonicalEvent]] = {}
        for e in events:
            entry = entries.get(event_owner(e))
            if entry is not None and waiting.ready(entry) and waiting.key_of(e) is not None:
                out[e.event_id] = {k: event_from_json(w.event) for k, w in entry.waiting.items()}
        return out

    def _post(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        entries = self.ledger.get_many([(e.connection_id, e.order_id) for e in events])
        works = [_Work(e, entries.get(f"{e.connection_id}:{e.order_id}"), delivered=e) for e in events]
        self._find_ar_records(works, deadline)
        for w in works:
            try:
                self._plan(w, deadline)
            except SyncError as exc:
                w.outcome = self._failed(w, exc)
        pending = [w for w in works if w.outcome is None and w.write is not None]
        try:
            self._write(pending, deadline)
        except SyncError as exc:
            for w in pending:
                if w.outcome is None:
                    w.outcome = self._failed(w, exc)
        self._pay_out([w for w in works if w.payout is not None], deadline)
        outcomes: dict[str, Outcome] = {}
        for w in works:
            outcome = w.outcome or Outcome.retry("no outcome")
            if w.entry is not None and not w.waits and outcome.status != "retry" and waiting.forget(w.entry, w.event):
                w.dirty = True  # applied, a duplicate or parked: it waits no more
            if w.entry is not None and w.dirty:
                try:
                    self.ledger.put(w.entry)
                except LedgerConflict:
                    outcome = Outcome.retry("ledger entry changed concurrently")
                except TransientError as exc:
                    outcome = Outcome.retry(exc.message)
            outcomes[w.event.event_id] = outcome
        return outcomes

    def _wait(self, w: _Work, reason: str, fix: str | None) -> None:
        """Keep the event in its order's ledger entry until the invoice it needs exists (the
        order poster queues it again then) and report it done: no SQS receive spent waiting."""
        if w.entry is None:  # before its order: the entry is made now, the order poster fills it
            event = w.event
            w.entry = LedgerEntry(connection_id=event.connection_id, order_id=event.order_id, channel=event.channel)
        if not waiting.wait(w.entry, w.delivered or w.event, reason, fix):
            w.outcome = Outcome.retry(reason, fix)  # too big to keep in the entry: SQS redelivers it
            return
        w.waits = w.dirty = True
        w.outcome = Outcome.done(f"{waiting.WAITING}: {reason}")
        log.info(
            "waiting for its invoice",
            extra={**logs.order_keys(w.event), "outcome": "waiting", "reason": reason, "fix": fix},
        )

    def _failed(self, w: _Work, exc: SyncError) -> Outcome:
        kind: Literal["transient", "permanent"] = "transient" if isinstance(exc, TransientError) else "permanent"
        if w.entry is not None:
            # A payment's failure is recorded on its order without changing the order's status.
            status = w.entry.status
            w.entry.fail(kind, exc.message, exc.fix, w.event.event_id)
            w.entry.status = status
            w.dirty = True
        log.warning(
            "payment not posted",
            extra={
                **logs.order_keys(w.event),
                "outcome": "retry" if kind == "transient" else "parked",
                "reason": exc.message,
                "fix": exc.fix,
            },
        )
        return Outcome.retry(exc.message, exc.fix) if kind == "transient" else Outcome.park(exc.message, exc.fix)

    def _find_ar_records(self, works: list[_Work], deadline: Deadline) -> None:
        """Invoices posted without an AR record key read back get it read now (one request).
        A document with no AR record at all is not an invoice (a Sales Order or Quote
        transaction definition): payments for it are parked with the fix, not left to wait."""
        missing = [
            w
            for w in works
            if isinstance(w.event, PaymentEvent) and w.entry is not None and w.entry.document_key
            and not w.entry.ar_record_key
        ]  # fmt: skip
        if not missing:
            return
        try:
            results = self.client.execute(
                [
                    fn.query("SODOCUMENT", ["DOCID", "PRRECORDKEY"], filter=q.eq("DOCID", w.entry.document_key or ""))
                    for w in missing
                    if w.entry is not None
                ],
                deadline=deadline,
            )
        except SyncError as exc:
            for w in missing:
                w.outcome = self._failed(w, exc)
            return
        for w, result in zip(missing, results, strict=True):
            assert w.entry is not None
            rows = result.records() if result.ok else []
            key = rows[0].get("PRRECORDKEY") if rows else None
            if key:
                w.entry.ar_record_key = key
                w.dirty = True
            elif result.ok:
                w.outcome = self._failed(
                    w,
                    PermanentError(
                        f"{w.entry.document_key} has no Accounts Receivable record, so payment "
                        f"{w.event.event_id} cannot be applied to it",
                        fix="invoice.transaction_definition must name a definition that posts to Accounts Receivable "
                        "(e.g. Sales Invoice), not a Sales Order or Quote. Change it, record this payment by hand "
                        "or convert the order to an invoice in Intacct, then replay.",
                    ),
                )

    @staticmethod
    def _newer_than_invoice(processed_at: datetime | None, entry: LedgerEntry) -> bool:
        """The payment happened after the newest order state the books reflect: an order update
        (an edit that added to the order) may still be queued, so a payment above what is due is
        not yet an overpayment."""
        return processed_at is not None and (entry.source_updated_at is None or entry.source_updated_at < processed_at)

    def _invoice_behind(self, w: _Work, entry: LedgerEntry, deadline: Deadline) -> bool:
        """True when the channel's order total differs from what was invoiced: an update is still
        on its way (the two queues are not ordered against each other), so an apparent
        overpayment is a payment for the order's newer state, not an error."""
        if self.fetch_order is None or entry.invoice_total is None:
            return False
        try:
            order = self.fetch_order(w.event, deadline)
        except PermanentError as exc:  # cannot ask: judge the payment on what the ledger knows
            log.warning(
                "order not readable to check a payment",
                extra={**logs.order_keys(w.event), "reason": exc.message, "fix": exc.fix},
            )
            return False
        return order is not None and order.total != entry.booked_total

    # --- planning --------------------------------------------------------------------------

    # --- currency handling (issue 9): one helper, called first in _plan --------------------------

    def _in_invoice_currency(
        self, event: CanonicalEvent, entry: LedgerEntry | None, deadline: Deadline
    ) -> CanonicalEvent:
        """The payment or refund with its money in the invoice's currency (`entry.currency`).
        A channel may report it in the customer's (presentment) currency: converted at the
        order's own rate (`posting.currency`), the order read from the channel; a mismatch that
        cannot be converted is a PermanentError with the reason. Same currency: unchanged."""
        if not isinstance(event, PaymentEvent | RefundEvent) or entry is None or not entry.currency:
            return event
        money = event.payload
        if money.currency.upper() == entry.currency.upper():
            return event
        order = self.fetch_order(event, deadline) if self.fetch_order else None
        what = f"{event.type} {event.event_id} of order {entry.order_number or event.order_id}"
        amount = to_invoice_currency(money.amount, money.currency, entry.currency, order, what=what)
        note = f"{money.amount} {money.currency.upper()}"
        if isinstance(money, Payment):
            converted: Payment | Refund = money.model_copy(
                update={
                    "amount": amount,
                    "currency": entry.currency,
                    "reference": f"{money.reference} / paid {note}" if money.reference else f"paid {note}",
                }
            )
        else:
            reason = f"{money.reason} ({note})" if money.reason else f"refunded {note}"
            converted = money.model_copy(update={"amount": amount, "currency": entry.currency, "reason": reason})
        return event.model_copy(update={"payload": converted})

    def _plan(self, w: _Work, deadline: Deadline) -> None:
        if (skipped := skip_money(w.event, w.entry, self.settings)) is not None:  # test mode / test order
            w.outcome, w.dirty = skipped, w.entry is not None
            return
        if isinstance(w.event, RefundEvent):  # pending or incomplete refunds: read from the channel first
            settled = refund_state.settle(w.event, w.entry, self.fetch_refund, deadline)
            if isinstance(settled, Outcome):
                w.outcome, w.dirty = settled, w.dirty or (settled.status == "done" and w.entry is not None)
                return
            w.event = settled
        w.event = self._in_invoice_currency(w.event, w.entry, deadline)
        event, entry = w.event, w.entry
        if isinstance(event, PaymentEvent):
            self._plan_payment(w, event, entry, deadline)
        elif isinstance(event, RefundEvent):
            self._plan_refund(w, event, entry, deadline)
        else:
            w.outcome = Outcome.park(
                f"{event.type} events do not belong on the payments queue",
                fix="Only the webhook and reconcile functions should write to the queues: delete this message from the "
                "dead-letter queue; the reconcile poll re-queues the order's current state.",
            )

    def _plan_payment(self, w: _Work, event: PaymentEvent, entry: LedgerEntry | None, deadline: Deadline) -> None:
        payment = event.payload
        if entry is not None and payment.payment_id in entry.payments:
            w.outcome = Outcome.done("duplicate: payment already applied")
            return
        if payment.kind == "change":  # money handed back at a till: netted by CashChangePoster, never posted
            w.outcome = Outcome.done("cash change: not a payment")
            return
        if entry is not None and entry.settled_in_intacct:
            # Marking the order paid on the channel (writeback) makes WooCommerce report a
            # payment: it is the Intacct settlement coming back, not new money.
            entry.note("channel payment not posted", f"{payment.payment_id}: the invoice was settled in Intacct")
            w.dirty = True
            w.outcome = Outcome.done("invoice settled in Intacct: the channel's payment is its echo")
            return
        if entry is not None and entry.status in ("deleted", "closed"):
            # SQS retries (not a ledger wait): its group's later payments and refunds stay behind it.
            w.outcome = Outcome.retry(
                f"the invoice of order {event.order_id} was {entry.status} (the order was cancelled); the payment "
                "waits in case the order is placed again",
                fix="If the order stays cancelled, the money was taken for a cancelled order: refund it in the "
                "channel or record it in Intacct by hand, then delete this message.",
            )
            return
        if entry is not None and entry.update_in_doubt:
            w.outcome = Outcome.retry(
                f"the invoice of order {event.order_id} is being updated (an answer was lost); the payment waits "
                "until the update settles",
                fix="Nothing to do: the order consumer sends the update again.",
            )
            return
        if entry is None or entry.document_key is None or entry.ar_record_key is None:
            state = entry.status if entry else "not received yet"
            self._wait(
                w,
                f"invoice for order {event.order_id} is not posted yet ({state}); the payment waits",
                fix="Nothing to do if the order is on its way; if the order is parked, fix and replay the order: the "
                "payment follows by itself.",
            )
            return
        due = entry.booked_total - entry.paid_total
        # A payment that does not settle what is due (partial, or more) may be for a newer state
        # of the order than the invoice shows: the orders and payments queues are not ordered
        # against each other. Ask the channel (only then: a full payment needs no call).
        if payment.amount != due and self._invoice_behind(w, entry, deadline):
            # SQS retries (not a ledger wait): a refund behind it must not be credited before the
            # invoice update this payment waits for (FIFO within the order).
            w.outcome = Outcome.retry(
                f"payment {payment.payment_id} of {payment.amount} {payment.currency} does not match the "
                f"{due} due on {entry.document_key}, and the order changed since it was invoiced: the payment "
                "waits for the invoice update",
                fix="Nothing to do while orders are flowing; if the order's update is parked, fix and replay it.",
            )
            return
        if payment.amount > due and self._newer_than_invoice(payment.processed_at, entry):
            w.outcome = Outcome.retry(
                f"payment {payment.payment_id} of {payment.amount} {payment.currency} is more than the {due} due, "
                "and it was made after the last order state this invoice reflects: it waits for that state",
                fix="Nothing to do while orders are flowing; if the order's update is parked, fix and replay it.",
            )
            return
        if payment.amount > due:
            raise PermanentError(
                f"payment {payment.payment_id} of {payment.amount} {payment.currency} exceeds the "
                f"{due} still due on {entry.document_key}",
                fix="Check the order in the channel and the invoice in Intacct; apply the excess by hand.",
            )
        ar = mapping.payment_for(
            payment,
            entry.customer_id or "",
            self.settings,
            record_key=entry.ar_record_key,
            order_number=entry.order_number,
            utc_offset_minutes=entry.utc_offset_minutes,  # dated like the invoice when no zone is set
        )
        if entry.extra_invoices:  # the invoice first, then each additional invoice, as far as the money goes
            w.applied = split_over(payment.amount, entry.due_by_record())
            ar = replace(ar, applications=[PaymentApplication(k, a) for k, a in w.applied.items()])
        controlid = mapping.payment_controlid(payment)
        w.write = fn.create_ar_payment(ar, controlid=controlid)
        w.lookup = fn.query(
            "ARPYMT",
            ["RECORDNO", "DOCNUMBER", "CUSTOMERID", "TOTALENTERED"],
            filter=q.and_(q.eq("DOCNUMBER", ar.document_number or ""), q.eq("CUSTOMERID", ar.customer_id)),
        )

    def _plan_refund(self, w: _Work, event: RefundEvent, entry: LedgerEntry | None, deadline: Deadline) -> None:
        refund = event.payload
        if entry is not None and refund.refund_id in entry.refunds:
            unfinished = entry.payouts.get(refund.refund_id)
            if unfinished is not None and not unfinished.done:
                w.payout = unfinished  # credited; what the payout still lacks is sent by _pay_out
                return
            w.outcome = Outcome.done("duplicate: refund already credited")
            return
        if entry is None or (entry.document_key is None and entry.status in ("received", "parked")):
            # The order may still be on its way (another queue) or parked until a fix: the refund
            # waits in the ledger, without a time limit, and is queued again with the invoice.
            state = entry.status if entry else "not received yet"
            self._wait(
                w,
                f"order {event.order_id} not invoiced yet ({state}); the refund waits",
                fix="Nothing to do if the order is on its way; if the order is parked, fix and replay it: the refund "
                "follows by itself.",
            )
            return
        if entry.document_key is None:
            raise PermanentError(
                f"refund {refund.refund_id} is for order {entry.order_number or event.order_id}, which was never "
                f"invoiced in Intacct (status {entry.status})",
                fix="If the order should have been invoiced, fix and replay it first, then replay this refund; "
                "otherwise credit it by hand.",
            )
        remaining = entry.booked_total - entry.credited_total
        if entry.status in ("deleted", "closed") or remaining <= 0:
            why = (
                f"the invoice was {entry.status}"
                if entry.status in ("deleted", "closed")
                else "credit memos already credit the whole invoice (the order was cancelled)"
            )
            entry.refunds[refund.refund_id] = RefundRecord(
                refund_id=refund.refund_id, amount=refund.amount, posted_at=datetime.now(UTC), credited=False
            )
            entry.note("refund not credited", f"refund {refund.refund_id}: {why}")
            w.dirty = True
            w.outcome = Outcome.done(f"nothing to credit: {why}")
            self._plan_covered_payout(w, refund, entry)
            return
        if refund.amount > remaining:
            # Never credit more than the invoice: the excess was already credited (cancellation).
            refund = refund.model_copy(update={"amount": remaining, "lines": (), "shipping_amount": Decimal(0)})
        order = self.fetch_order(event, deadline) if self.fetch_order else None
        if order is None:
            raise PermanentError(
                f"refund {refund.refund_id}: the lines of order {entry.order_number or event.order_id} could not "
                "be read from the channel to build the credit memo",
                fix="Check the connection's API credentials, then replay; or post the credit memo by hand.",
            )
        txn = mapping.credit_memo_for(refund, order, self.settings, customer_id=entry.customer_id or "")
        if self.settings.credit_memo.created_from:  # linked to (converted from) the order's invoice
            txn = identity.linked_credit(txn, entry)
        identity.claim_new(self.ledger, txn, entry.key, label=f"refund {refund.refund_id}", setting="credit_memo")
        w.txn = txn
        w.before = contacts.creates(
            mapping.document_contacts(order, self.settings), known=lambda key: bool(self.ledger.customer(key))
        )
        w.write = fn.create_sotransaction(txn, controlid=mapping.credit_controlid(refund))
        w.lookup = readback(txn, key=identity.document_id(txn))
        if self.settings.refunds.payout == "debit_memo":
            self._plan_payout(w, refund, entry, txn)

    # --- writes ----------------------------------------------------------------------------

    def _write(self, works: list[_Work], deadline: Deadline) -> None:
        if not works:
            return
        functions: list[Function] = []
        seen: set[str] = set()
        for w in works:
            # A refund's bill-to / ship-to contacts go first (an address the invoice never had);
            # one that exists already answers "already exists", which is fine.
            fresh = [c for c in w.before if c.controlid not in seen]
            seen.update(c.controlid for c in fresh)
            functions += [*fresh, w.write, *w.after] if w.write is not None else fresh
        try:
            answers = self.client.execute(functions, deadline=deadline)
        except IntacctOutcomeUnknown:
            self._adopt(works, deadline)
            return
        by_id = {r.controlid: r for r in answers}
        results = [by_id[w.write.controlid] for w in works if w.write is not None]
        adopt = []
        for w, result in zip(works, results, strict=True):
            if w.payout is not None:
                self._payout_answers(w, by_id, result.key if result.ok else None)
            if result.ok:
                recordno = result.records()[0].get("RECORDNO") if result.records() else None
                if isinstance(w.event, PaymentEvent):
                    identity.claim_payment(self.ledger, recordno or result.key, event_owner(w.event))
                elif result.key:
                    # A credit memo Intacct numbered is claimed once its number is known, as the
                    # order poster claims what it reads back: another order's lookup after an
                    # unknown outcome (same customer, reference, amount) must never adopt it.
                    self.ledger.claim_document(result.key, event_owner(w.event))
                self._applied(w, recordno or result.key)
                continue
            try:
                self.client.raise_for(result)
            except IntacctAlreadyExecuted:
                adopt.append(w)
            except IntacctTransientError as exc:
                w.outcome = self._failed(w, exc)
            except SyncError as exc:
                statement, fix = explain(exc.message, queue="payments")
                text = f"{statement} (Intacct: {exc.message})" if statement else exc.message
                w.outcome = self._failed(w, type(exc)(f"{w.event.type} {w.event.event_id}: {text}", fix=exc.fix or fix))
        if adopt:
            self._adopt(adopt, deadline)

    def _adopt(self, works: list[_Work], deadline: Deadline) -> None:
        """Find what an earlier attempt committed; adopt only what is provably this payment's or
        refund's (see posting.identity), else send it again later."""
        results = self.client.execute([w.lookup for w in works if w.lookup], deadline=deadline)
        for w, result in zip(works, results, strict=True):
            try:
                self.client.raise_for(result)
                rows = result.records()
                event, owner = w.event, event_owner(w.event)
                found: dict[str, str] | None
                if isinstance(event, PaymentEvent):
                    found = identity.pick_payment(self.ledger, rows, event.payload.amount, owner)
                else:
                    assert w.txn is not None
                    label = f"refund {event.event_id}"
                    found = identity.pick_document(
                        self.ledger,
                        w.txn,
                        rows,
                        key=None,
                        owner=owner,
                        label=label,
                        setting="credit_memo",
                        held=w.entry,
                    )
            except SyncError as exc:
                w.outcome = self._failed(w, exc)
                continue
            if found:
                if w.payout is not None and not w.payout.credit_ar_key:
                    w.payout.credit_document, w.payout.credit_ar_key = found.get("DOCID"), found.get("PRRECORDKEY")
                # As a written answer gives them: a payment's RECORDNO, a credit memo's DOCID.
                keys = ("RECORDNO", "DOCID") if isinstance(w.event, PaymentEvent) else ("DOCID", "RECORDNO")
                self._applied(w, found.get(keys[0]) or found.get(keys[1]))
            else:
                w.outcome = Outcome.retry("the write did not happen; it will be sent again")

    def _applied(self, w: _Work, reference: str | None) -> None:
        entry = w.entry
        assert entry is not None
        now = datetime.now(UTC)
        event = w.event
        if isinstance(event, PaymentEvent):
            p = event.payload
            entry.payments[p.payment_id] = PaymentRecord(
                payment_id=p.payment_id, amount=p.amount, recordno=reference, posted_at=now, applied=w.applied
            )
            due = entry.booked_total - entry.paid_total
            entry.status = "paid" if due <= 0 else "partially_paid"
            entry.note("payment applied", f"{p.amount} {p.currency} ({p.gateway or 'payment'})")
        elif isinstance(event, RefundEvent):
            r = event.payload
            credited = mapping.intacct_total(w.txn) if w.txn is not None else r.amount  # capped at what was left
            entry.refunds[r.refund_id] = RefundRecord(
                refund_id=r.refund_id, amount=credited, document_key=reference, posted_at=now
            )
            entry.note("credit memo posted", f"refund {r.refund_id}: {r.amount} {r.currency}")
        entry.last_error = None
        w.dirty = True
        w.outcome = Outcome.wrote("posted")

    # --- refunds paid out (posting.payout) ---------------------------------------------------

    def _plan_payout(self, w: _Work, refund: Refund, entry: LedgerEntry, txn: SalesTransaction) -> None:
        """The payout of a refund about to be credited: its debit memo goes in the credit memo's
        request, with the credit memo's read-back (its AR record key); the ARPYMT applying one to
        the other follows once both keys are known (`_pay_out`)."""
        number = payout.adjustment_no(refund, txn.document_no)
        holder = self.ledger.claim_document(f"ARADJUSTMENT-{number}", entry.key)
        if holder != entry.key:
            raise PermanentError(
                f"refund {refund.refund_id}: debit memo number {number} belongs to order {holder}",
                fix="Give each connection its own credit memo numbers (credit_memo.numbering.prefix_by_connection), "
                "then replay this refund.",
            )
        rec = entry.payouts.get(refund.refund_id) or PayoutRecord(
            refund_id=refund.refund_id,
            amount=mapping.intacct_total(txn),
            customer_id=txn.customer_id,
            adjustment_no=number,
            dated=txn.date_created,
            currency=txn.currency,
        )
        entry.payouts[refund.refund_id] = rec
        w.payout, w.dirty = rec, True
        w.after = [readback(txn, key=identity.document_id(txn))]
        if rec.debit_memo_key is None:
            w.after.append(self._debit_memo(refund, rec, entry))

    def _plan_covered_payout(self, w: _Work, refund: Refund, entry: LedgerEntry) -> None:
        """A refund the cancellation's credit memo already credits still sent money back: under
        `refunds.payout = "debit_memo"` its payout applies that credit memo (`_pay_out`), so the
        customer is not left with a credit balance for money already returned."""
        cancellation = entry.refunds.get("cancellation")
        if (
            self.settings.refunds.payout != "debit_memo"
            or cancellation is None
            or not cancellation.document_key
            or refund.amount <= 0
        ):
            return
        number = payout.adjustment_no(refund, None)
        holder = self.ledger.claim_document(f"ARADJUSTMENT-{number}", entry.key)
        if holder != entry.key:
            raise PermanentError(
                f"refund {refund.refund_id}: debit memo number {number} belongs to order {holder}",
                fix="Record this refund's payout by hand; it was not posted.",
            )
        moment = refund.processed_at or datetime.now(UTC)
        rec = PayoutRecord(
            refund_id=refund.refund_id,
            amount=refund.amount,
            customer_id=entry.customer_id or "",
            adjustment_no=number,
            credit_document=cancellation.document_key,
            dated=mapping.local_date(moment, self.settings, entry.utc_offset_minutes),
            currency=entry.currency or refund.currency,
        )
        entry.payouts[refund.refund_id] = rec
        w.payout, w.dirty = rec, True

    def _debit_memo(self, refund: Refund, rec: PayoutRecord, entry: LedgerEntry) -> Function:
        memo = payout.debit_memo_for(
            refund,
            rec.amount,
            rec.customer_id,
            self.settings,
            number=rec.adjustment_no,
            on=rec.dated,
            currency=rec.currency,
            order_number=entry.order_number,
        )
        return fn.create_aradjustment(memo, controlid=mapping.debit_memo_controlid(refund))

    def _payout_answers(self, w: _Work, by_id: dict[str, Result], credit_key: str | None) -> None:
        """Record what the credit memo's request says about the payout: the debit memo's RECORDNO
        (even when the credit memo failed: it is reused, never made twice) and the credit memo's
        AR record key from its read-back."""
        rec = w.payout
        assert rec is not None
        w.dirty = True
        for f in w.after:
            result = by_id.get(f.controlid)
            if result is None:
                continue
            if f.name == "create_aradjustment":
                if result.ok:
                    rec.debit_memo_key = result.key or next(iter(result.records()), {}).get("RECORDNO")
                else:
                    w.payout_error = self._payout_failure(w, result)
            elif result.ok and credit_key:
                row = next((r for r in result.records() if r.get("DOCID") == credit_key), None)
                if row is not None:
                    rec.credit_document, rec.credit_ar_key = row.get("DOCID"), row.get("PRRECORDKEY") or None

    def _payout_failure(self, w: _Work, result: Result) -> SyncError | None:
        """A payout step's failure that needs a person (None: settled by a lookup or a retry)."""
        try:
            self.client.raise_for(result)
        except (IntacctAlreadyExecuted, IntacctTransientError):
            return None
        except SyncError as exc:
            statement, fix = explain(exc.message, queue="payments")
            text = f"{statement} (Intacct: {exc.message})" if statement else exc.message
            return type(exc)(f"refund {w.event.event_id}: its payout failed: {text}", fix=exc.fix or fix)
        return None

    def _payout_due(self, w: _Work) -> bool:
        entry, rec = w.entry, w.payout
        if entry is None or rec is None or rec.done:
            return False
        if w.outcome is not None and w.outcome.status != "done":
            if rec.debit_memo_key and rec.refund_id not in entry.refunds:
                entry.note("payout debit memo posted", f"{rec.adjustment_no}: applied once the refund is credited")
            return False
        record = entry.refunds.get(rec.refund_id)
        # Credited by its own credit memo, or covered by the cancellation's (credit_document set).
        return record is not None and (record.credited or rec.credit_document is not None)

    def _pay_out(self, works: list[_Work], deadline: Deadline) -> None:
        """Finish each credited refund's payout, a wave per step and only where needed: find what
        an earlier attempt left unknown (the credit memo's AR key; a debit memo whose answer was
        lost, by its adjustment number), create a debit memo still missing, then apply the credit
        memo to it. A payout left incomplete retries the refund (SQS redelivers it; the ledger's
        PayoutRecord says what is left); one that cannot succeed parks it with the fix."""
        todo = [w for w in works if self._payout_due(w)]
        if not todo:
            return
        try:
            self._payout_lookups([w for w in todo if w.payout_error is None], deadline)
            self._payout_debit_memos([w for w in todo if w.payout_error is None], deadline)
            self._payout_apply([w for w in todo if w.payout_error is None], deadline)
        except SyncError as exc:
            for w in todo:
                w.payout_error = w.payout_error or (exc if isinstance(exc, PermanentError) else None)
        for w in todo:
            rec = w.payout
            assert rec is not None
            w.dirty = True
            if rec.done:
                credited = w.outcome is not None  # credited in this call, or a redelivery finishing it
                w.outcome = Outcome.wrote("posted and paid out" if credited else "paid out")
            elif w.payout_error is not None:
                w.outcome = self._failed(w, w.payout_error)
            else:
                w.outcome = Outcome.retry(
                    f"refund {rec.refund_id} is credited; its payout ({rec.adjustment_no}) is not complete yet",
                    fix="Nothing to do: the refund is retried and the payout finished from where it stopped.",
                )

    def _payout_lookups(self, works: list[_Work], deadline: Deadline) -> None:
        asks: list[tuple[_Work, str, Function]] = []
        for w in works:
            rec, entry = w.payout, w.entry
            assert rec is not None and entry is not None
            if not rec.credit_ar_key:
                doc = rec.credit_document or entry.refunds[rec.refund_id].document_key or ""
                by = q.eq("RECORDNO", doc) if doc.isdigit() else q.eq("DOCID", doc)
                asks.append((w, "credit", fn.query("SODOCUMENT", ["DOCID", "PRRECORDKEY"], filter=by)))
            if not rec.debit_memo_key:
                # The adjustment number is looked for as RECORDID or DOCNUMBER (which one Intacct
                # files it under is unsure); only this customer's debit memo of this amount counts.
                by = q.and_(
                    q.or_(q.eq("RECORDID", rec.adjustment_no), q.eq("DOCNUMBER", rec.adjustment_no)),
                    q.eq("CUSTOMERID", rec.customer_id),
                )
                fields = ["RECORDNO", "RECORDID", "CUSTOMERID", "TOTALENTERED"]
                asks.append((w, "debit", fn.query("ARADJUSTMENT", fields, filter=by)))
        if not asks:
            return
        results = self.client.execute([f for _, _, f in asks], deadline=deadline)
        for (w, kind, _), result in zip(asks, results, strict=True):
            rec, entry = w.payout, w.entry
            assert rec is not None and entry is not None
            self.client.raise_for(result)
            rows = result.records()
            if kind == "credit":
                rec.credit_ar_key = next((r.get("PRRECORDKEY") for r in rows if r.get("PRRECORDKEY")), None)
                rec.credit_document = next((r.get("DOCID") for r in rows), rec.credit_document)
                if not rec.credit_ar_key and rows:
                    w.payout_error = PermanentError(
                        f"refund {rec.refund_id}: credit memo {rec.credit_document} has no Accounts Receivable record, "
                        "so its payout cannot be recorded",
                        fix="credit_memo.transaction_definition must post to Accounts Receivable; or set "
                        'refunds.payout to "none" and record the refund by hand.',
                    )
                continue
            for row in rows:
                if row.get("TOTALENTERED") and Decimal(row["TOTALENTERED"]) != rec.amount:
                    continue
                if self.ledger.claim_document(f"ARADJUSTMENT-R{row.get('RECORDNO')}", entry.key) == entry.key:
                    rec.debit_memo_key = row.get("RECORDNO")
                    break

    def _payout_debit_memos(self, works: list[_Work], deadline: Deadline) -> None:
        missing = [w for w in works if w.payout is not None and w.payout.credit_ar_key and not w.payout.debit_memo_key]
        if not missing:
            return
        functions = []
        for w in missing:
            assert w.payout is not None and w.entry is not None and isinstance(w.event, RefundEvent)
            functions.append(self._debit_memo(w.event.payload, w.payout, w.entry))
        try:
            results = self.client.execute(functions, deadline=deadline)
        except IntacctOutcomeUnknown:
            return  # looked up by its adjustment number on the refund's next delivery
        for w, result in zip(missing, results, strict=True):
            assert w.payout is not None
            if result.ok:
                w.payout.debit_memo_key = result.key or next(iter(result.records()), {}).get("RECORDNO")
            else:
                w.payout_error = self._payout_failure(w, result)

    def _payout_apply(self, works: list[_Work], deadline: Deadline) -> None:
        ready = [w for w in works if w.payout is not None and w.payout.credit_ar_key and w.payout.debit_memo_key]
        if not ready:
            return
        functions = []
        for w in ready:
            rec = w.payout
            assert rec is not None and isinstance(w.event, RefundEvent)
            pay = payout.payout_for(
                w.event.payload,
                rec.amount,
                rec.customer_id,
                self.settings,
                debit_memo_key=rec.debit_memo_key or "",
                credit_ar_key=rec.credit_ar_key or "",
                on=rec.dated,
                currency=rec.currency or w.event.payload.currency,
            )
            functions.append(fn.create_ar_payment(pay, controlid=mapping.payout_controlid(w.event.payload)))
        try:
            results = self.client.execute(functions, deadline=deadline)
        except IntacctOutcomeUnknown:
            self._adopt_payouts(ready, deadline)
            return
        adopt = []
        for w, result in zip(ready, results, strict=True):
            rec = w.payout
            assert rec is not None and w.entry is not None
            if result.ok:
                key = next(iter(result.records()), {}).get("RECORDNO") or result.key
                identity.claim_payment(self.ledger, key, w.entry.key)
                self._paid_out(w, key)
                continue
            error = self._payout_failure(w, result)
            if error is None:
                adopt.append(w)
            else:
                w.payout_error = error
        if adopt:
            self._adopt_payouts(adopt, deadline)

    def _adopt_payouts(self, works: list[_Work], deadline: Deadline) -> None:
        """An applying ARPYMT whose answer was lost (or that already ran): found by its DOCNUMBER
        and customer, adopted when no other order holds it; else sent again next time."""
        lookups = []
        for w in works:
            rec = w.payout
            assert rec is not None and isinstance(w.event, RefundEvent)
            number = payout.payment_document_number(w.event.payload)
            by = q.and_(q.eq("DOCNUMBER", number), q.eq("CUSTOMERID", rec.customer_id))
            lookups.append(fn.query("ARPYMT", ["RECORDNO", "DOCNUMBER", "CUSTOMERID"], filter=by))
        results = self.client.execute(lookups, deadline=deadline)
        for w, result in zip(works, results, strict=True):
            assert w.entry is not None
            self.client.raise_for(result)
            for row in result.records():
                if self.ledger.claim_document(f"ARPYMT-{row.get('RECORDNO')}", w.entry.key) == w.entry.key:
                    self._paid_out(w, row.get("RECORDNO"))
                    break

    @staticmethod
    def _paid_out(w: _Work, key: str | None) -> None:
        rec, entry = w.payout, w.entry
        assert rec is not None and entry is not None
        rec.payment_key = key or "?"
        rec.posted_at = datetime.now(UTC)
        entry.note(
            "refund paid out",
            f"refund {rec.refund_id}: {rec.amount} {rec.currency or ''} debit memo {rec.adjustment_no} settled by "
            f"its credit memo {rec.credit_document or ''}",
        )
