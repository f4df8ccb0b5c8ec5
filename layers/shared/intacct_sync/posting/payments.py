"""Payments and refunds into Intacct (payment consumer).

A payment becomes an ARPYMT applied to the invoice's AR record (the PRRECORDKEY read back after
the invoice's last create or update); a payment whose invoice is not posted yet is retried (SQS
redelivers it later): never posted unapplied, never lost. A refund becomes a credit memo. One
request per wave carries every payment's function; lost answers are settled by looking the
payment up by its document number before anything is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from intacct_sync.errors import PermanentError, SyncError, TransientError
from intacct_sync.intacct import IntacctAlreadyExecuted, IntacctClient, IntacctOutcomeUnknown
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.errors import IntacctTransientError
from intacct_sync.intacct.wire import Function
from intacct_sync.ledger import Ledger, LedgerConflict, LedgerEntry, PaymentRecord, RefundRecord
from intacct_sync.models.events import CanonicalEvent, PaymentEvent, RefundEvent
from intacct_sync.models.order import Order
from intacct_sync.posting import mapping
from intacct_sync.posting.explain import explain
from intacct_sync.posting.outcome import Outcome
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
    outcome: Outcome | None = None
    dirty: bool = False


class PaymentPoster:
    def __init__(
        self,
        client: IntacctClient,
        ledger: Ledger,
        settings: Settings,
        *,
        fetch_order: FetchOrderState | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.settings = settings
        self.fetch_order = fetch_order

    def __call__(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        entries = self.ledger.get_many([(e.connection_id, e.order_id) for e in events])
        works = [_Work(e, entries.get(f"{e.connection_id}:{e.order_id}")) for e in events]
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
        outcomes: dict[str, Outcome] = {}
        for w in works:
            outcome = w.outcome or Outcome.retry("no outcome")
            if w.entry is not None and w.dirty:
                try:
                    self.ledger.put(w.entry)
                except LedgerConflict:
                    outcome = Outcome.retry("ledger entry changed concurrently")
                except TransientError as exc:
                    outcome = Outcome.retry(exc.message)
            outcomes[w.event.event_id] = outcome
        return outcomes

    def _failed(self, w: _Work, exc: SyncError) -> Outcome:
        kind: Literal["transient", "permanent"] = "transient" if isinstance(exc, TransientError) else "permanent"
        if w.entry is not None:
            # A payment's failure is recorded on its order without changing the order's status.
            status = w.entry.status
            w.entry.fail(kind, exc.message, exc.fix, w.event.event_id)
            w.entry.status = status
            w.dirty = True
        log.warning("payment not posted", extra={"event": w.event.event_id, "kind": kind, "error": exc.message})
        return Outcome.retry(exc.message, exc.fix) if kind == "transient" else Outcome.park(exc.message, exc.fix)

    # --- planning --------------------------------------------------------------------------

    def _plan(self, w: _Work, deadline: Deadline) -> None:
        event, entry = w.event, w.entry
        if isinstance(event, PaymentEvent):
            payment = event.payload
            if entry is not None and payment.payment_id in entry.payments:
                w.outcome = Outcome.done("duplicate: payment already applied")
                return
            if entry is None or entry.document_key is None or entry.ar_record_key is None:
                state = entry.status if entry else "not received yet"
                w.outcome = Outcome.retry(
                    f"invoice for order {event.order_id} is not posted yet ({state}); the payment waits",
                    fix="Nothing to do if the order is on its way; if the order is parked, fix and replay it first.",
                )
                return
            due = (entry.invoice_total or Decimal(0)) - entry.paid_total
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
            )
            controlid = mapping.payment_controlid(payment)
            w.write = fn.create_ar_payment(ar, controlid=controlid)
            w.lookup = fn.query(
                "ARPYMT",
                ["RECORDNO", "DOCNUMBER", "CUSTOMERID"],
                filter=q.and_(q.eq("DOCNUMBER", ar.document_number or ""), q.eq("CUSTOMERID", ar.customer_id)),
            )
        elif isinstance(event, RefundEvent):
            refund = event.payload
            if entry is not None and refund.refund_id in entry.refunds:
                w.outcome = Outcome.done("duplicate: refund already credited")
                return
            if entry is None or entry.status == "received":
                # The order may still be on its way (another queue): wait. If it never comes, SQS
                # moves this refund to the dead-letter queue after its retries.
                w.outcome = Outcome.retry(f"order {event.order_id} not invoiced yet; the refund waits")
                return
            if entry.document_key is None:
                raise PermanentError(
                    f"refund {refund.refund_id} is for order {entry.order_number or event.order_id}, which was never "
                    f"invoiced in Intacct (status {entry.status})",
                    fix="If the order should have been invoiced, fix and replay it first, then replay this refund; "
                    "otherwise credit it by hand.",
                )
            order = self.fetch_order(event, deadline) if self.fetch_order else None
            if order is None:
                raise PermanentError(
                    f"refund {refund.refund_id}: the lines of order {entry.order_number or event.order_id} could not "
                    "be read from the channel to build the credit memo",
                    fix="Check the connection's API credentials, then replay; or post the credit memo by hand.",
                )
            txn = mapping.credit_memo_for(refund, order, self.settings, customer_id=entry.customer_id or "")
            w.write = fn.create_sotransaction(txn, controlid=mapping.credit_controlid(refund))
            w.lookup = fn.query(
                "SODOCUMENT",
                ["RECORDNO", "DOCID", "TOTAL"],
                filter=q.eq("DOCID", f"{txn.transaction_type}-{txn.document_no}")
                if txn.document_no
                else q.and_(q.eq("PONUMBER", txn.reference_no or ""), q.eq("CUSTVENDID", txn.customer_id)),
                docparid=txn.transaction_type,
            )
        else:
            w.outcome = Outcome.park(
                f"{event.type} events do not belong on the payments queue",
                fix="Only the webhook and reconcile functions should write to the queues: delete this message from the "
                "dead-letter queue; the reconcile poll re-queues the order's current state.",
            )

    # --- writes ----------------------------------------------------------------------------

    def _write(self, works: list[_Work], deadline: Deadline) -> None:
        if not works:
            return
        try:
            results = self.client.execute([w.write for w in works if w.write], deadline=deadline)
        except IntacctOutcomeUnknown:
            self._adopt(works, deadline)
            return
        adopt = []
        for w, result in zip(works, results, strict=True):
            if result.ok:
                recordno = result.records()[0].get("RECORDNO") if result.records() else None
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
        results = self.client.execute([w.lookup for w in works if w.lookup], deadline=deadline)
        for w, result in zip(works, results, strict=True):
            self.client.raise_for(result)
            rows = result.records()
            if rows:
                self._applied(w, rows[0].get("RECORDNO") or rows[0].get("DOCID"))
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
                payment_id=p.payment_id, amount=p.amount, recordno=reference, posted_at=now
            )
            due = (entry.invoice_total or Decimal(0)) - entry.paid_total
            entry.status = "paid" if due <= 0 else "partially_paid"
            entry.note("payment applied", f"{p.amount} {p.currency} ({p.gateway or 'payment'})")
        elif isinstance(event, RefundEvent):
            r = event.payload
            entry.refunds[r.refund_id] = RefundRecord(
                refund_id=r.refund_id, amount=r.amount, document_key=reference, posted_at=now
            )
            entry.note("credit memo posted", f"refund {r.refund_id}: {r.amount} {r.currency}")
        entry.last_error = None
        w.dirty = True
        w.outcome = Outcome.done("posted")
