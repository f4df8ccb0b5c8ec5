"""Orders into Intacct: customer match or create, Sales Invoice create / update / delete / close,
credit memo for a cancelled paid order. One wave = at most one event per order, several orders.

Round trips per wave: 0-1 customer lookup request (only for customers not yet in the ledger's
cache), 1 write request carrying every order's functions (customer create + invoice write + the
read-back of the invoice's AR record key), and, only when an answer was lost or Intacct refused a
repeat, 1 lookup request to adopt what an earlier attempt committed. Functions are independent
(transaction=false): one order's failure never rolls back another's.

Exactly once: each write carries a deterministic controlid under uniqueid=true, and anything
uncertain is looked up by its document id before any re-create.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from intacct_sync.errors import NotFoundError, PermanentError, SyncError, TransientError
from intacct_sync.intacct import IntacctAlreadyExecuted, IntacctClient, IntacctOutcomeUnknown
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import SalesTransaction
from intacct_sync.intacct.errors import IntacctTransientError
from intacct_sync.intacct.wire import Function, Result
from intacct_sync.ledger import Ledger, LedgerConflict, LedgerEntry, RefundRecord
from intacct_sync.models.events import CancellationEvent, CanonicalEvent, OrderEvent
from intacct_sync.models.order import Order, OrderStatus
from intacct_sync.posting import customers, mapping
from intacct_sync.posting.explain import explain
from intacct_sync.posting.outcome import Outcome
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings

log = logging.getLogger(__name__)

READBACK_FIELDS = ["RECORDNO", "DOCID", "TOTAL", "PRRECORDKEY", "STATE"]

FetchOrder = Callable[[CanonicalEvent, Deadline], list[CanonicalEvent]]
"""Current state of a referenced order (BigCommerce callbacks, cancellations): its events.
Raises a NotFoundError when the channel says the order does not exist (deleted)."""

_GONE = (OrderStatus.CANCELLED, OrderStatus.DELETED)


def txn_hash(txn: SalesTransaction) -> str:
    return hashlib.sha256(repr(txn).encode()).hexdigest()[:16]


def expected_key(txn: SalesTransaction) -> str | None:
    return f"{txn.transaction_type}-{txn.document_no}" if txn.document_no else None


def readback(txn: SalesTransaction, *, key: str | None) -> Function:
    """Find a document by its id, or by reference + customer when Intacct numbers it.

    Reads get a fresh controlid: under uniqueid=true (in a write request) Intacct refuses a
    controlid it has executed before, reads included.
    """
    flt = (
        q.eq("DOCID", key)
        if key
        else q.and_(q.eq("PONUMBER", txn.reference_no or ""), q.eq("CUSTVENDID", txn.customer_id))
    )
    return fn.query("SODOCUMENT", READBACK_FIELDS, filter=flt, docparid=txn.transaction_type)


@dataclass
class _Work:
    source_event_id: str
    event: CanonicalEvent
    entry: LedgerEntry
    order: Order | None = None
    action: str = ""
    txn: SalesTransaction | None = None
    write: Function | None = None
    customer_create: Function | None = None
    new_customer_key: str | None = None
    readback: Function | None = None
    match_key: customers.CustomerKey | None = None
    outcome: Outcome | None = None
    results: dict[str, Result] = field(default_factory=dict)


class OrderPoster:
    def __init__(
        self,
        client: IntacctClient,
        ledger: Ledger,
        settings: Settings,
        *,
        fetch_order: FetchOrder | None = None,
        forward: Callable[[Sequence[CanonicalEvent]], None] | None = None,
    ) -> None:
        """`forward` sends derived payment/refund events (from a fetched order) to their queue."""
        self.client = client
        self.ledger = ledger
        self.settings = settings
        self.fetch_order = fetch_order
        self.forward = forward

    # --- wave ------------------------------------------------------------------------------

    def __call__(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        outcomes: dict[str, Outcome] = {}
        expanded = self._expand(events, deadline, outcomes)
        entries = self.ledger.get_many([(e.connection_id, e.order_id) for _, e in expanded])
        works: list[_Work] = []
        for source_id, event in expanded:
            key = f"{event.connection_id}:{event.order_id}"
            entry = entries.get(key) or LedgerEntry(
                connection_id=event.connection_id, order_id=event.order_id, channel=event.channel
            )
            work = _Work(source_id, event, entry)
            try:
                self._plan(work, deadline)
            except SyncError as exc:
                work.outcome = self._failed(work, exc)
            works.append(work)
        try:
            self._resolve_customers([w for w in works if w.outcome is None and w.match_key], deadline)
            self._write([w for w in works if w.outcome is None and w.write is not None], deadline)
        except (TransientError, PermanentError) as exc:
            for w in works:
                if w.outcome is None:
                    w.outcome = self._failed(w, exc)
        for w in works:
            outcome = w.outcome or Outcome.done(w.action)
            if w.new_customer_key is not None:
                if outcome.status == "done":
                    self.ledger.remember_customer(w.new_customer_key, w.entry.customer_id or "")
                elif w.entry.document_key is None:
                    w.entry.customer_id = None  # not created after all: match again next time
            try:
                self.ledger.put(w.entry)
            except LedgerConflict:
                outcome = Outcome.retry("ledger entry changed concurrently")
            except TransientError as exc:
                outcome = Outcome.retry(exc.message)
            # An expanded reference may yield several works; the worst outcome answers for it.
            prev = outcomes.get(w.source_event_id)
            if prev is None or _rank(outcome) > _rank(prev):
                outcomes[w.source_event_id] = outcome
        return outcomes

    def _failed(self, work: _Work, exc: SyncError) -> Outcome:
        kind: Literal["transient", "permanent"] = "transient" if isinstance(exc, TransientError) else "permanent"
        work.entry.fail(kind, exc.message, exc.fix, work.event.event_id)
        log.warning(
            "order not posted",
            extra={"order": work.entry.key, "kind": kind, "error": exc.message, "fix": exc.fix},
        )
        return Outcome.retry(exc.message, exc.fix) if kind == "transient" else Outcome.park(exc.message, exc.fix)

    def _expand(
        self, events: Sequence[CanonicalEvent], deadline: Deadline, outcomes: dict[str, Outcome]
    ) -> list[tuple[str, CanonicalEvent]]:
        """Order references become the order's current events; payments found go to their queue."""
        out: list[tuple[str, CanonicalEvent]] = []
        for event in events:
            if event.type in ("order", "cancellation"):
                out.append((event.event_id, event))
                continue
            if event.type != "order_reference" or self.fetch_order is None:
                outcomes[event.event_id] = Outcome.park(
                    f"{event.type} events do not belong on the orders queue",
                    fix="Only the webhook and reconcile functions write to the queues: delete this message "
                    "from the dead-letter queue; the reconcile poll re-queues the order's current state.",
                )
                continue
            try:
                fetched = self.fetch_order(event, deadline)
            except SyncError as exc:
                kind = Outcome.retry if isinstance(exc, TransientError) else Outcome.park
                outcomes[event.event_id] = kind(f"could not fetch order {event.order_id}: {exc.message}", exc.fix)
                continue
            money = [e for e in fetched if e.type in ("payment", "refund")]
            if money and self.forward is not None:
                self.forward(money)
            # The fetched order's own status drives a cancellation: one work per order per wave.
            mine = [e for e in fetched if e.type == "order"] or [e for e in fetched if e.type == "cancellation"][:1]
            if not mine:
                outcomes[event.event_id] = Outcome.done("nothing to post for this reference")
            out.extend((event.event_id, e) for e in mine)
        return out

    # --- planning --------------------------------------------------------------------------

    def _plan(self, w: _Work, deadline: Deadline) -> None:
        entry, event = w.entry, w.event
        if isinstance(event, OrderEvent):
            order = event.payload
            w.order = order
            entry.order_number = order.order_number
            entry.currency = order.currency
            if entry.source_updated_at and event.updated_at and event.updated_at < entry.source_updated_at:
                w.outcome = Outcome.done("stale: a newer state was already applied")
                return
            if order.status == OrderStatus.CANCELLED:
                self._plan_cancel(w, deadline)
            elif not order.placed:
                if entry.document_key is None:
                    entry.status = "skipped"
                    entry.note("skipped", f"order status {order.status.value}: not placed")
                w.outcome = Outcome.done("not placed")
            else:
                self._plan_invoice(w)
            if event.updated_at and (entry.source_updated_at is None or event.updated_at > entry.source_updated_at):
                entry.source_updated_at = event.updated_at
        else:
            if entry.source_updated_at and event.updated_at and event.updated_at < entry.source_updated_at:
                # A replayed old "cancelled" state: the order has moved on since (re-opened, edited).
                w.outcome = Outcome.done("stale: a newer state was already applied")
                return
            self._plan_cancel(w, deadline)

    def _customer_for(self, w: _Work, order: Order) -> str | None:
        """The customer id if known without Intacct; else sets up the lookup/create."""
        if w.entry.customer_id:
            return w.entry.customer_id
        key = customers.match_key(order, self.settings)
        if key.fixed_id:
            return key.fixed_id
        cached = self.ledger.customer(key.cache_key)
        if cached:
            return cached
        w.match_key = key
        return None

    def _plan_invoice(self, w: _Work) -> None:
        order = w.order
        assert order is not None
        entry = w.entry
        customer_id = self._customer_for(w, order)
        if customer_id is None:
            w.action = "create" if entry.document_key is None else "update"
            return  # planned again once the customer is resolved
        entry.customer_id = customer_id
        txn = mapping.invoice_for(order, self.settings, customer_id=customer_id)  # raises if totals differ
        h = txn_hash(txn)
        w.txn = txn
        if entry.document_key is None:
            w.action = "create"
            w.write = fn.create_sotransaction(txn, controlid=mapping.invoice_controlid(order))
        elif entry.invoice_hash == h:
            w.outcome = Outcome.done("no change")
        elif entry.payments:
            entry.note("not updated", "the order changed after a payment was applied; change the invoice by hand")
            w.outcome = Outcome.done("changed after payment: left as is")
        else:
            w.action = "update"
            update = mapping.invoice_update_for(
                order, None, self.settings, customer_id=customer_id, previous_line_count=entry.invoice_lines
            )
            w.write = fn.update_sotransaction(
                entry.document_key, update, controlid=mapping.invoice_update_controlid(order, update)
            )

    def _plan_cancel(self, w: _Work, deadline: Deadline) -> None:
        entry = w.entry
        if entry.document_key is None:
            entry.status = "skipped"
            entry.note("cancelled", "cancelled before it was invoiced: nothing to post")
            w.outcome = Outcome.done("cancelled before invoicing")
            return
        if entry.status in ("deleted", "closed", "credited"):
            w.outcome = Outcome.done(f"already {entry.status}")
            return
        event = w.event
        notice = isinstance(event, CancellationEvent) and event.payload.evidence == "deletion_notice"
        if notice and not self._deletion_confirmed(w, deadline):
            return
        base = f"so-{entry.connection_id}-{entry.order_id}"
        if not entry.payments:
            if self.settings.cancellation.unpaid == "close":
                w.action = "close"
                w.write = fn.update_sotransaction(
                    entry.document_key, mapping.invoice_close_update(), controlid=f"{base}-close"
                )
            else:
                w.action = "delete"
                w.write = fn.delete_sotransaction(entry.document_key, controlid=f"{base}-delete")
            return
        order = w.order
        if order is None and self.fetch_order is not None:
            try:
                fetched = [e for e in self.fetch_order(w.event, deadline) if isinstance(e, OrderEvent)]
            except NotFoundError:
                fetched = []  # deleted in the channel: its lines are gone with it
            order = fetched[0].payload if fetched else None
        if order is None:
            raise PermanentError(
                f"order {entry.order_number or entry.order_id} was cancelled after payment but its lines "
                "could not be read to build the credit memo",
                fix="Post the credit memo by hand, or replay once the channel API is reachable.",
            )
        w.order = order
        w.action = "credit"
        txn = mapping.cancellation_credit_for(order, self.settings, customer_id=entry.customer_id or "")
        w.txn = txn
        w.write = fn.create_sotransaction(txn, controlid=mapping.cancellation_controlid(order))

    def _deletion_confirmed(self, w: _Work, deadline: Deadline) -> bool:
        """Ask the channel before acting on a deletion notice: only its topic header (which
        nobody signs) says the order is gone, and a captured order body replayed under
        `orders/delete` would otherwise delete a live invoice. Confirmed when the channel no
        longer has the order, or has it cancelled / trashed (then its lines build the credit).
        Not confirmed: noted in the ledger, nothing written. Raises TransientError (retry) or
        PermanentError (park) when the channel cannot be asked."""
        entry = w.entry
        if self.fetch_order is None:
            raise PermanentError(
                f"a deletion notice for order {entry.order_number or entry.order_id} cannot be confirmed: "
                "no channel API is configured for this consumer",
                fix="Deletions are confirmed through the channel API before an invoice is deleted, closed or "
                "credited: check the connection's API credentials (python -m intacct_sync.cli.doctor), then replay.",
            )
        try:
            fetched = self.fetch_order(w.event, deadline)
        except NotFoundError:
            log.info("deletion confirmed by the channel", extra={"order": entry.key, "outcome": "order not found"})
            return True
        current = next((e.payload for e in fetched if isinstance(e, OrderEvent)), None)
        if current is not None and current.status in _GONE:
            w.order = current
            return True
        status = current.status.value if current is not None else "unreadable"
        entry.note(
            "deletion not confirmed",
            f"a deletion notice arrived but the channel shows the order as {status}; nothing was changed",
        )
        log.warning(
            "deletion notice not confirmed by the channel: ignored",
            extra={"order": entry.key, "channel_status": status, "topic": w.event.topic[:64], "outcome": "ignored"},
        )
        w.outcome = Outcome.done("deletion not confirmed by the channel: ignored")
        return False

    # --- customers -------------------------------------------------------------------------

    def _resolve_customers(self, works: list[_Work], deadline: Deadline) -> None:
        """One request finds every unknown customer; the ones not found are created with the invoice."""
        if not works:
            return
        lookups = []
        for w in works:
            assert w.match_key is not None
            found = customers.lookup_filter(w.match_key)
            lookups.append(
                fn.query(
                    found.object,
                    list(found.fields),
                    filter=found.filter,
                    case_insensitive=True,
                    order_by=[("RECORDNO", True)],
                )
            )
        results = self.client.execute(lookups, deadline=deadline)
        for w, result in zip(works, results, strict=True):
            key, order = w.match_key, w.order
            assert key is not None and order is not None
            self.client.raise_for(result)
            rows = sorted(result.records(), key=lambda r: int(r.get("RECORDNO") or 0))
            if rows:
                customer_id = rows[0]["CUSTOMERID"]
                self.ledger.remember_customer(key.cache_key, customer_id)
            else:
                # Remembered only once the invoice that creates it went through (see __call__).
                customer_id = customers.customer_id_for(key, self.settings)
                w.customer_create = fn.create_customer(
                    customers.customer_record(order, key, customer_id),
                    controlid=mapping.customer_controlid(customer_id),
                )
                w.new_customer_key = key.cache_key
            w.entry.customer_id = customer_id
            w.match_key = None
            self._plan_invoice(w)

    # --- writes ----------------------------------------------------------------------------

    def _write(self, works: list[_Work], deadline: Deadline) -> None:
        if not works:
            return
        functions: list[Function] = []
        seen: set[str] = set()
        for w in works:
            assert w.write is not None
            # Two orders of one new customer in a wave create it once.
            if w.customer_create is not None and w.customer_create.controlid not in seen:
                seen.add(w.customer_create.controlid)
                functions.append(w.customer_create)
            functions.append(w.write)
            if w.action in ("create", "update", "credit") and w.txn is not None:
                key = w.entry.document_key if w.action == "update" else expected_key(w.txn)
                if key or w.action != "update":
                    w.readback = readback(w.txn, key=key)
                    functions.append(w.readback)
        try:
            results = self.client.execute(functions, deadline=deadline)
        except IntacctOutcomeUnknown as exc:
            log.warning("write answer lost; looking documents up", extra={"controlids": list(exc.controlids)[:10]})
            self._adopt(works, deadline)
            return
        by_id = {r.controlid: r for r in results}
        for w in works:
            assert w.write is not None
            w.results = {"write": by_id[w.write.controlid]}
            if w.readback is not None:
                w.results["readback"] = by_id[w.readback.controlid]
            if w.customer_create is not None:
                w.results["customer"] = by_id[w.customer_create.controlid]
        retry_lookup = []
        for w in works:
            write = w.results["write"]
            if write.ok:
                self._applied(w, w.results.get("readback"), write.key)
                continue
            try:
                self.client.raise_for(write)
            except IntacctAlreadyExecuted:
                retry_lookup.append(w)
            except IntacctTransientError as exc:
                w.outcome = self._failed(w, exc)
            except SyncError as exc:
                if w.action in ("create", "credit") and "already exists" in exc.message.lower():
                    retry_lookup.append(w)  # the document number is taken: ours from an earlier attempt?
                else:
                    w.outcome = self._failed(w, self._explain(w, exc))
        if retry_lookup:
            self._adopt(retry_lookup, deadline)

    def _explain(self, w: _Work, exc: SyncError) -> SyncError:
        """The failure in a finance user's words: which order, what is wrong, how to fix it."""
        customer = w.results.get("customer")
        if customer is not None and not customer.ok:
            try:
                self.client.raise_for(customer)
            except SyncError as cexc:
                exc = cexc
        statement, fix = explain(exc.message)
        order = f"order {w.entry.order_number or w.entry.order_id}"
        text = f"{order}: {statement} (Intacct: {exc.message})" if statement else f"{order}: {exc.message}"
        return type(exc)(text, fix=exc.fix or fix)

    def _adopt(self, works: list[_Work], deadline: Deadline) -> None:
        """Look up what an earlier attempt may have committed; adopt it or retry later."""
        lookups: list[tuple[_Work, Function]] = []
        for w in works:
            if w.action == "delete":
                key = w.entry.document_key
                lookups.append(
                    (
                        w,
                        fn.query("SODOCUMENT", ["DOCID"], filter=q.eq("DOCID", key or "")),
                    )
                )
            elif w.txn is not None:
                key = w.entry.document_key if w.action in ("update", "close") else expected_key(w.txn)
                lookups.append((w, readback(w.txn, key=key)))
        results = self.client.execute([f for _, f in lookups], deadline=deadline)
        for (w, _), result in zip(lookups, results, strict=True):
            self.client.raise_for(result)
            rows = result.records()
            if w.action == "delete":
                if rows:
                    w.outcome = Outcome.retry("delete not confirmed; will try again")
                else:
                    self._applied(w, None, None)
            elif w.action in ("create", "credit") and not rows:
                w.outcome = Outcome.retry("the write did not happen; it will be sent again")
            elif (
                w.action == "update"
                and rows
                and w.txn is not None
                and Decimal(rows[0]["TOTAL"]) != mapping.intacct_total(w.txn)
            ):
                w.outcome = Outcome.retry("update not confirmed; will try again")
            else:
                self._applied(w, result, rows[0]["DOCID"] if rows else None)

    def _applied(self, w: _Work, readback_result: Result | None, key: str | None) -> None:
        entry = w.entry
        rows = readback_result.records() if readback_result is not None and readback_result.ok else []
        row = rows[0] if rows else {}
        now = datetime.now(UTC)
        if w.action == "create":
            assert w.txn is not None
            entry.document_key = row.get("DOCID") or key or expected_key(w.txn)
            entry.ar_record_key = row.get("PRRECORDKEY") or None
            entry.invoice_total = Decimal(row["TOTAL"]) if row.get("TOTAL") else mapping.intacct_total(w.txn)
            entry.invoice_hash = txn_hash(w.txn)
            entry.invoice_lines = len(w.txn.lines)
            entry.status = "invoiced"
            entry.last_error = None
            entry.note("invoice created", entry.document_key or "")
        elif w.action == "update":
            assert w.txn is not None
            entry.ar_record_key = row.get("PRRECORDKEY") or entry.ar_record_key
            entry.invoice_total = Decimal(row["TOTAL"]) if row.get("TOTAL") else mapping.intacct_total(w.txn)
            entry.invoice_hash = txn_hash(w.txn)
            entry.invoice_lines = max(len(w.txn.lines), entry.invoice_lines or 0)
            entry.last_error = None
            entry.note("invoice updated", entry.document_key or "")
        elif w.action in ("delete", "close"):
            entry.status = "deleted" if w.action == "delete" else "closed"
            entry.note(f"invoice {w.action}d", "order cancelled before payment")
        elif w.action == "credit":
            assert w.txn is not None
            credit_key = row.get("DOCID") or key or expected_key(w.txn) or ""
            entry.refunds["cancellation"] = RefundRecord(
                refund_id="cancellation", amount=mapping.intacct_total(w.txn), document_key=credit_key, posted_at=now
            )
            entry.status = "credited"
            entry.note("credit memo posted", f"{credit_key}: order cancelled after payment")
        w.outcome = Outcome.done(w.action)


def _rank(outcome: Outcome) -> int:
    return {"done": 0, "park": 1, "retry": 2}[outcome.status]
