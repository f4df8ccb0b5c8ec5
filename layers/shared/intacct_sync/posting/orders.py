"""Orders into Intacct: customer match or create, Sales Invoice create / update / delete / close,
credit memo for a cancelled paid order. One wave = at most one event per order, several orders.

Round trips per wave: 0-1 customer lookup request (only for customers not yet in the ledger's
cache; one query function for all of them), 1 write request carrying every order's functions
(customer create + invoice write, then one read-back query of the AR record keys for the whole
wave), and, only when an answer was lost or Intacct refused a repeat, 1 lookup request to adopt
what an earlier attempt committed. Functions are independent
(transaction=false): one order's failure never rolls back another's. The ledger's customer cache
(customers and contacts) is read once per wave (one BatchGetItem), not once per order.

Exactly once: each write carries a deterministic controlid under uniqueid=true, and anything
uncertain is looked up by its document id before any re-create.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from intacct_sync import logs
from intacct_sync.errors import NotFoundError, PermanentError, SyncError, TransientError
from intacct_sync.intacct import IntacctAlreadyExecuted, IntacctClient, IntacctOutcomeUnknown
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import SalesTransaction
from intacct_sync.intacct.errors import IntacctTransientError
from intacct_sync.intacct.wire import Function, Result
from intacct_sync.ledger import ExtraInvoice, Ledger, LedgerConflict, LedgerEntry, RefundRecord
from intacct_sync.models.events import CancellationEvent, CanonicalEvent, OrderEvent
from intacct_sync.models.order import FinancialStatus, Order, OrderStatus, Refund
from intacct_sync.posting import contacts, customers, identity, mapping, waiting
from intacct_sync.posting.explain import explain
from intacct_sync.posting.outcome import Outcome
from intacct_sync.posting.rules import evaluate
from intacct_sync.posting.test_orders import skip_order
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings

log = logging.getLogger(__name__)

READBACK_FIELDS = ["RECORDNO", "DOCID", "TOTAL", "PRRECORDKEY", "STATE", "CUSTVENDID", "PONUMBER"]
CUSTOMER_LOOKUP_PAGE = fn.QUERY_MAX_PAGE
"""Rows one shared customer lookup reads; keys without a row in a truncated answer ask again."""

FetchOrder = Callable[[CanonicalEvent, Deadline], list[CanonicalEvent]]
"""Current state of a referenced order (BigCommerce callbacks, cancellations): its events.
Raises a NotFoundError when the channel says the order does not exist (deleted)."""

_ENDED = (OrderStatus.CANCELLED, OrderStatus.DELETED, OrderStatus.FAILED)
_NEW_DOCUMENT = frozenset({"create", "credit", "extra"})
"""Actions that create a document: its number is claimed first, and it is found again by identity."""
# Money was captured in the channel (possibly refunded since): a cancellation is a credit, never a delete.
_CAPTURED = frozenset(
    {
        FinancialStatus.PAID,
        FinancialStatus.PARTIALLY_PAID,
        FinancialStatus.PARTIALLY_REFUNDED,
        FinancialStatus.REFUNDED,
    }
)


def txn_hash(txn: SalesTransaction) -> str:
    return hashlib.sha256(repr(txn).encode()).hexdigest()[:16]


expected_key = identity.document_id


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
class _KnownCustomers:
    """A wave's view of the ledger's customer cache (customers and contacts): every key the wave
    may ask for is read in one `Ledger.customer_many` call up front, not a read per order."""

    ledger: Ledger
    known: dict[str, str] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)

    def prefetch(self, keys: Sequence[str]) -> None:
        fresh = [k for k in dict.fromkeys(keys) if k not in self.asked]
        if fresh:
            self.known.update(self.ledger.customer_many(fresh))
            self.asked.update(fresh)

    def get(self, key: str) -> str | None:
        if key not in self.asked:  # not foreseen by the prefetch: read it on its own
            self.prefetch([key])
        return self.known.get(key)

    def remember(self, key: str, customer_id: str) -> None:
        self.ledger.remember_customer(key, customer_id)
        self.known[key] = customer_id
        self.asked.add(key)


@dataclass
class _Work:
    source_event_id: str
    event: CanonicalEvent
    entry: LedgerEntry
    known: _KnownCustomers
    order: Order | None = None
    action: str = ""
    txn: SalesTransaction | None = None
    write: Function | None = None
    customer_create: Function | None = None
    contact_creates: list[Function] = field(default_factory=list)
    new_customer_key: str | None = None
    readback: Function | None = None
    readback_key: str | None = None
    """The DOCID this work reads back through the wave's shared read-back query (None: its own)."""
    match_key: customers.CustomerKey | None = None
    outcome: Outcome | None = None
    new_hash: str | None = None
    """The order state an additional invoice brings the books to (recorded once it is posted)."""
    then_wait: str | None = None
    """Set when the write is a step before the event's real work: once applied, retry with this."""
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
        known = _KnownCustomers(self.ledger)
        known.prefetch(self._cache_keys(expanded, entries))
        works: list[_Work] = []
        for source_id, event in expanded:
            key = f"{event.connection_id}:{event.order_id}"
            entry = entries.get(key) or LedgerEntry(
                connection_id=event.connection_id, order_id=event.order_id, channel=event.channel
            )
            work = _Work(source_id, event, entry, known)
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
                    known.remember(w.new_customer_key, w.entry.customer_id or "")
                elif w.entry.document_key is None:
                    w.entry.customer_id = None  # not created after all: match again next time
            try:
                self.ledger.put(w.entry)
            except LedgerConflict:
                outcome = Outcome.retry("ledger entry changed concurrently")
            except TransientError as exc:
                outcome = Outcome.retry(exc.message)
            else:  # payments waiting for this invoice go back on their queue (posting.waiting)
                outcome = waiting.release(w.entry, outcome, self.forward)
            # An expanded reference may yield several works; the worst outcome answers for it.
            prev = outcomes.get(w.source_event_id)
            if prev is None or _rank(outcome) > _rank(prev):
                outcomes[w.source_event_id] = outcome
        return outcomes

    def _cache_keys(self, expanded: list[tuple[str, CanonicalEvent]], entries: dict[str, LedgerEntry]) -> list[str]:
        """The customer-cache keys planning the wave's orders may read: each order's customer
        match key (unless its entry already names the customer) and its contacts' keys."""
        keys: list[str] = []
        for _, event in expanded:
            if not isinstance(event, OrderEvent):
                continue
            order = event.payload
            entry = entries.get(f"{event.connection_id}:{event.order_id}")
            try:
                if entry is None or not entry.customer_id:
                    match = customers.match_key(order, self.settings)
                    if not match.fixed_id:
                        keys.append(match.cache_key)
                found = mapping.document_contacts(order, self.settings)
            except SyncError:
                continue  # planning the order reports it
            keys.extend(contacts.cache_key(c.contact_name) for c in found.all if c.contact_name is not None)
        return keys

    def _failed(self, work: _Work, exc: SyncError) -> Outcome:
        kind: Literal["transient", "permanent"] = "transient" if isinstance(exc, TransientError) else "permanent"
        work.entry.fail(kind, exc.message, exc.fix, work.event.event_id)
        log.warning(
            "order not posted",
            extra={
                **logs.order_keys(work.entry),
                "outcome": "retry" if kind == "transient" else "parked",
                "reason": exc.message,
                "fix": exc.fix,
            },
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
            if event.type in ("payment", "refund") and self.forward is not None:
                # Carried here behind its order's state by a webhook delivery (intake.pipeline):
                # handed on to the payments queue, which applies it once (its ledger ids).
                outcomes[event.event_id] = _hand_on(event, self.forward)
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
            entry.utc_offset_minutes = order.utc_offset_minutes
            if entry.source_updated_at and event.updated_at and event.updated_at < entry.source_updated_at:
                w.outcome = Outcome.done("stale: a newer state was already applied")
                return
            if skip_order(order, entry, self.settings):  # test mode: never invoiced (ledger says so)
                w.outcome = Outcome.done('test order: skipped (test_orders is "skip")')
                return
            if order.status == OrderStatus.CANCELLED or (
                order.status == OrderStatus.FAILED and entry.document_key is not None
            ):
                # A failed payment after invoicing (a SEPA debit returned) ends the order like a
                # cancellation: the signed state says so.
                self._plan_cancel(w, deadline)
            elif not order.placed:
                if entry.document_key is None:
                    entry.status = "skipped"
                    entry.note("skipped", f"order status {order.status.value}: not placed")
                w.outcome = Outcome.done("not placed")
            elif entry.status in ("deleted", "closed", "credited"):
                self._plan_reopened(w, deadline)
            else:
                self._plan_invoice(w, deadline)
            if event.updated_at and (entry.source_updated_at is None or event.updated_at > entry.source_updated_at):
                entry.source_updated_at = event.updated_at
        else:
            if entry.source_updated_at and event.updated_at and event.updated_at < entry.source_updated_at:
                # A replayed old "cancelled" state: the order has moved on since (re-opened, edited).
                w.outcome = Outcome.done("stale: a newer state was already applied")
                return
            self._plan_cancel(w, deadline)

    def _plan_reopened(self, w: _Work, deadline: Deadline) -> None:
        """The order is placed again after its invoice was deleted or closed (WooCommerce
        on-hold -> cancelled -> processing): a new invoice, numbered `<number>-R<n>` with its own
        controlid, so neither collides with the first. After a credit memo (it was paid) the
        money already moved: a person decides."""
        entry = w.entry
        if self.fetch_order is not None:
            # Placed again per this message; still so in the channel? (A later cancellation may be
            # queued behind it, or already applied from the payments side.)
            try:
                fetched = self.fetch_order(w.event, deadline)
            except NotFoundError:
                fetched = []
            current = next((e.payload for e in fetched if isinstance(e, OrderEvent)), None)
            # Cancelled again since, but paid in between and not invoiced: it still needs its
            # invoice (the payment applies to it, the cancellation then credits it).
            needs_invoice = current is not None and current.financial_status in _CAPTURED and entry.status != "credited"
            if current is None or (current.status in _ENDED and not needs_invoice):
                entry.note("re-open not acted on", "the channel shows the order cancelled again: nothing changed")
                w.outcome = Outcome.done("superseded: the order is cancelled again in the channel")
                return
        if entry.status == "credited":
            raise PermanentError(
                f"order {entry.order_number or entry.order_id} was placed again after it was cancelled and credited",
                fix="Invoice it by hand in Intacct and apply the customer's credit; the ledger keeps the first "
                "invoice and its credit memo.",
            )
        entry.note("re-opened", f"the order was placed again after its invoice was {entry.status}: new invoice")
        entry.reopened += 1
        entry.status = "received"
        entry.document_key = entry.ar_record_key = entry.invoice_hash = None
        entry.invoice_total = None
        entry.invoice_lines = None
        entry.invoice_updates = 0
        entry.update_in_doubt = False
        self._plan_invoice(w, deadline)

    def _invoice(self, order: Order, entry: LedgerEntry, customer_id: str) -> SalesTransaction:
        """The order's invoice; after a re-open, numbered `<number>-R<n>`."""
        txn = mapping.invoice_for(order, self.settings, customer_id=customer_id)  # raises if totals differ
        if entry.reopened and txn.document_no:
            txn = replace(txn, document_no=f"{txn.document_no}-R{entry.reopened}")
        return txn

    def _customer_for(self, w: _Work, order: Order) -> str | None:
        """The customer id if known without Intacct; else sets up the lookup/create.

        A rule that sets `customer_id` (all marketplace orders to one customer) wins before any
        match: the buyer is neither looked up nor created, and the ledger records the rule's
        customer, which is the one the invoice bills and the payments must name. An invoiced
        order keeps its invoice's customer (an update cannot change it)."""
        if w.entry.customer_id and w.entry.document_key:
            return w.entry.customer_id
        ruled = evaluate(order, self.settings.rules).header.customer_id
        if ruled:
            return ruled
        if w.entry.customer_id:
            return w.entry.customer_id
        key = customers.match_key(order, self.settings)
        if key.fixed_id:
            return key.fixed_id
        cached = w.known.get(key.cache_key)
        if cached:
            return cached
        w.match_key = key
        return None

    def _plan_invoice(self, w: _Work, deadline: Deadline) -> None:
        order = w.order
        assert order is not None
        entry = w.entry
        customer_id = self._customer_for(w, order)
        if customer_id is None:
            w.action = "create" if entry.document_key is None else "update"
            return  # planned again once the customer is resolved
        entry.customer_id = customer_id
        txn = self._invoice(order, entry, customer_id)
        h = txn_hash(txn)
        w.txn = txn
        self._plan_contacts(w, order)
        if entry.document_key is None:
            w.action = "create"
            controlid = mapping.invoice_controlid(order)
            w.write = fn.create_sotransaction(
                txn, controlid=f"{controlid}-r{entry.reopened}" if entry.reopened else controlid
            )
        elif entry.invoice_hash == h and not entry.update_in_doubt:
            w.outcome = Outcome.done("no change")
        elif entry.payments or entry.settled_in_intacct:
            self._plan_paid_change(w, txn, h, deadline)
        else:
            w.action = "update"
            update = mapping.invoice_update_for(
                order, None, self.settings, customer_id=customer_id, previous_line_count=entry.invoice_lines
            )
            w.write = fn.update_sotransaction(
                entry.document_key,
                update,
                controlid=mapping.invoice_update_controlid(order, update, entry.invoice_updates, entry.document_key),
            )

    def _current(self, w: _Work, deadline: Deadline) -> Order | None:
        """The order as the channel shows it now (None: no channel API, or not found)."""
        if self.fetch_order is None:
            return None
        try:
            fetched = self.fetch_order(w.event, deadline)
        except NotFoundError:
            return None
        return next((e.payload for e in fetched if isinstance(e, OrderEvent)), None)

    def _plan_paid_change(self, w: _Work, txn: SalesTransaction, new_hash: str, deadline: Deadline) -> None:
        """The order changed after a payment was applied. A paid invoice cannot be updated (its
        AR record carries the payment), so under `invoice.after_payment = "adjust"` what the order
        gained is invoiced on an additional invoice `<number>-A<n>`, and what it lost is credited
        when the channel refunds it (the refund is the money going back). `leave`: noted only."""
        entry, order = w.entry, w.order
        assert order is not None
        if self.settings.invoice.after_payment == "leave":
            entry.note("not updated", "the order changed after a payment was applied; change the invoice by hand")
            w.outcome = Outcome.done("changed after payment: left as is")
            return
        current = self._current(w, deadline)
        if current is not None:
            # Invoice what the order is now (its lines, even if it was cancelled since), not a
            # state it passed through: edits made before the payment may still be queued.
            order = w.order = current
            txn = self._invoice(order, entry, entry.customer_id or "")
            new_hash = txn_hash(txn)
            if new_hash == entry.invoice_hash:
                w.outcome = Outcome.done("changed after payment: nothing to invoice")
                return
        new_total = mapping.intacct_total(txn)
        gained = new_total - entry.booked_total
        if gained <= 0:
            entry.invoice_hash = new_hash  # acted on: the next delivery of this state is no change
            if gained < 0:
                entry.note(
                    "reduced after payment",
                    f"the order is now {new_total} {order.currency} ({-gained} less than invoiced): credited when "
                    "the channel refunds it",
                )
            else:
                entry.note("changed after payment", "amounts unchanged: the paid invoice is left as is")
            w.outcome = Outcome.done("changed after payment: nothing to invoice")
            return
        tax_gained = order.total_tax - (entry.invoice_tax if entry.invoice_tax is not None else order.total_tax)
        sequence = len(entry.extra_invoices) + 1
        w.action = "extra"
        w.new_hash = new_hash
        w.txn = mapping.additional_invoice_for(
            order, gained, tax_gained, self.settings, customer_id=entry.customer_id or "", sequence=sequence
        )
        w.write = fn.create_sotransaction(w.txn, controlid=mapping.additional_invoice_controlid(order, sequence))

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
        if not self._still_gone(w, deadline):
            return
        # One delete / close per invoice: a re-opened order's new invoice gets its own.
        base = f"so-{entry.connection_id}-{entry.order_id}" + (f"-r{entry.reopened}" if entry.reopened else "")
        # Paid in the channel counts even when its payment is not applied yet (the payments queue
        # is behind): the invoice is kept and credited, and the payment applies to it when it
        # comes. (Orders never wait for payments: payments wait for orders.)
        captured = w.order is not None and w.order.financial_status in _CAPTURED
        if not entry.payments and not entry.settled_in_intacct and not captured:
            if self.settings.cancellation.unpaid == "close":
                w.action = "close"
                w.write = fn.update_sotransaction(
                    entry.document_key, mapping.invoice_close_update(), controlid=f"{base}-close"
                )
            else:
                w.action = "delete"
                w.write = fn.delete_sotransaction(entry.document_key, controlid=f"{base}-delete")
            return
        self._plan_credit(w, deadline)

    def _plan_credit(self, w: _Work, deadline: Deadline) -> None:
        """A paid order ended: credit what the books still hold for it (never more)."""
        entry = w.entry
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
        if self.settings.invoice.after_payment == "adjust":
            # The order gained lines after it was paid and before it was cancelled, and the books
            # have not caught up (the edit is queued behind, or was superseded): invoice the gain
            # first, so its payment applies and the credit covers the whole order.
            now = self._invoice(order, entry, entry.customer_id or "")
            if txn_hash(now) != entry.invoice_hash and not entry.payments and not entry.settled_in_intacct:
                # Nothing applied yet: bring the invoice to the order's last lines, then credit it.
                self._plan_invoice(w, deadline)
                w.then_wait = (
                    f"order {entry.order_number or entry.order_id}: its invoice is brought to the order's last lines "
                    "first, then credited"
                )
                return
            if txn_hash(now) != entry.invoice_hash and mapping.intacct_total(now) > entry.booked_total:
                self._plan_paid_change(w, now, txn_hash(now), deadline)
                w.then_wait = (
                    f"order {entry.order_number or entry.order_id} gained lines after payment before it was "
                    "cancelled: they are invoiced first, then the whole order is credited"
                )
                return
        remaining = entry.booked_total - entry.credited_total
        if remaining <= 0:
            entry.status = "credited"
            entry.note("cancelled", "refunds already credited the whole invoice: no further credit memo")
            w.outcome = Outcome.done("already credited by refunds")
            return
        w.action = "credit"
        txn = mapping.cancellation_credit_for(order, self.settings, customer_id=entry.customer_id or "")
        if mapping.intacct_total(txn) != remaining:
            # Refunds credited part of it already, or the books differ from the order's last lines
            # (an addition after payment, a reduction not refunded): credit exactly what is left.
            rest = Refund(
                connection_id=order.connection_id,
                channel=order.channel,
                order_id=order.order_id,
                refund_id="CANCEL",
                amount=remaining,
                currency=order.currency,
                reason="order cancelled: remainder not credited by its refunds",
                processed_at=order.cancelled_at or order.updated_at,
            )
            txn = mapping.credit_memo_for(rest, order, self.settings, customer_id=entry.customer_id or "")
        if self.settings.credit_memo.created_from:  # linked to (converted from) the order's invoice
            txn = identity.linked_credit(txn, entry)
        w.txn = txn
        self._plan_contacts(w, order)
        w.write = fn.create_sotransaction(txn, controlid=mapping.cancellation_controlid(order))

    def _still_gone(self, w: _Work, deadline: Deadline) -> bool:
        """Ask the channel before deleting, closing or crediting: is the order still gone?

        A deletion notice is only the word of a topic header (nobody signs it: a captured order
        body replayed under `orders/delete` would otherwise delete a live invoice), and a signed
        "cancelled" state may have been superseded since (re-opened, then paid: the two queues are
        not ordered against each other). Gone = the channel no longer has the order, or has it
        cancelled, trashed or failed; its current state then builds any credit. Not gone: noted
        in the ledger, nothing written. Without a channel API, a signed state is acted on as
        delivered and a deletion notice is parked. Raises TransientError (retry) or
        PermanentError (park) when the channel cannot be asked."""
        entry, event = w.entry, w.event
        notice = isinstance(event, CancellationEvent) and event.payload.evidence == "deletion_notice"
        if self.fetch_order is None:
            if not notice:
                return True
            raise PermanentError(
                f"a deletion notice for order {entry.order_number or entry.order_id} cannot be confirmed: "
                "no channel API is configured for this consumer",
                fix="Deletions are confirmed through the channel API before an invoice is deleted, closed or "
                "credited: check the connection's API credentials (intacct-sync doctor), then replay.",
            )
        try:
            fetched = self.fetch_order(event, deadline)
        except NotFoundError:
            log.info("order gone from the channel", extra={**logs.order_keys(entry), "outcome": "order not found"})
            return True
        current = next((e.payload for e in fetched if isinstance(e, OrderEvent)), None)
        if current is not None and event.updated_at is not None and current.updated_at > event.updated_at:
            # The order has a newer state than this message: that state decides (it is queued
            # behind this one, or the reconcile poll brings it), not a cancellation it has passed.
            entry.note("cancellation not acted on", "the channel has a newer state of the order: it decides")
            w.outcome = Outcome.done("superseded: a newer state of the order follows")
            return False
        if current is not None and current.status in _ENDED:
            w.order = current
            return True
        status = current.status.value if current is not None else "unreadable"
        what = "a deletion notice" if notice else "a cancellation"
        entry.note(f"{what} not acted on", f"the channel shows the order as {status} now; nothing was changed")
        log.warning(
            "cancellation not confirmed by the channel: ignored",
            extra={**logs.order_keys(entry), "channel_status": status, "topic": event.topic[:64], "outcome": "ignored"},
        )
        w.outcome = Outcome.done(
            "deletion not confirmed by the channel: ignored" if notice else "superseded: the order is live again"
        )
        return False

    # --- customers -------------------------------------------------------------------------

    def _resolve_customers(self, works: list[_Work], deadline: Deadline) -> None:
        """One request finds every unknown customer of the wave, each asked once; the ones not
        found are created with the invoice."""
        if not works:
            return
        keys: dict[str, customers.CustomerKey] = {}
        for w in works:
            assert w.match_key is not None
            keys.setdefault(w.match_key.cache_key, w.match_key)
        found = self._find_customers(list(keys.values()), deadline)
        for w in works:
            key, order = w.match_key, w.order
            assert key is not None and order is not None
            customer_id = found.get(key.cache_key)
            if customer_id:
                if w.known.known.get(key.cache_key) != customer_id:  # two orders, one customer: cached once
                    w.known.remember(key.cache_key, customer_id)
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
            self._plan_invoice(w, deadline)

    def _find_customers(self, keys: list[customers.CustomerKey], deadline: Deadline) -> dict[str, str]:
        """CUSTOMERID (lowest RECORDNO) of each key Intacct has, by cache key. Several keys share
        one query function (each function costs Intacct time); a key is taken as new only when
        that answer is complete and every row in it is placed on a key. Otherwise the keys left
        open are asked one query each, in a second request: never a guess, never a duplicate."""
        if len(keys) == 1:
            return self._find_each(keys, deadline)
        lookup = customers.lookup_many(keys)
        [result] = self.client.execute(
            [
                fn.query(
                    lookup.object,
                    list(lookup.fields),
                    filter=lookup.filter,
                    case_insensitive=True,
                    order_by=[("RECORDNO", True)],
                    page_size=CUSTOMER_LOOKUP_PAGE,
                )
            ],
            deadline=deadline,
        )
        self.client.raise_for(result)
        best: dict[str, tuple[int, str]] = {}
        unplaced = False
        for row in result.records():
            owners = [k for k in keys if customers.matches(k, row)]
            unplaced = unplaced or not owners
            recordno = int(row.get("RECORDNO") or 0)
            for k in owners:
                if k.cache_key not in best or recordno < best[k.cache_key][0]:
                    best[k.cache_key] = (recordno, row["CUSTOMERID"])
        found = {cache_key: customer_id for cache_key, (_, customer_id) in best.items()}
        if unplaced:  # Intacct matched a row this code cannot place: every key asks on its own
            return self._find_each(keys, deadline)
        if result.num_remaining:  # a truncated answer: keys without a row may still have one
            found.update(self._find_each([k for k in keys if k.cache_key not in found], deadline))
        return found

    def _find_each(self, keys: list[customers.CustomerKey], deadline: Deadline) -> dict[str, str]:
        """One query per key, in one request (each key's own match, lowest RECORDNO)."""
        if not keys:
            return {}
        lookups = []
        for key in keys:
            lookup = customers.lookup_filter(key)
            lookups.append(
                fn.query(
                    lookup.object,
                    list(lookup.fields),
                    filter=lookup.filter,
                    case_insensitive=True,
                    order_by=[("RECORDNO", True)],
                )
            )
        results = self.client.execute(lookups, deadline=deadline)
        found = {}
        for key, result in zip(keys, results, strict=True):
            self.client.raise_for(result)
            rows = sorted(result.records(), key=lambda r: int(r.get("RECORDNO") or 0))
            if rows:
                found[key.cache_key] = rows[0]["CUSTOMERID"]
        return found

    # --- writes ----------------------------------------------------------------------------

    def _request_functions(self, works: list[_Work]) -> list[Function]:
        """The wave's one write request: customers, contacts, each document, then the read-backs."""
        functions: list[Function] = []
        seen: set[str] = set()
        by_definition: dict[str, list[_Work]] = {}
        for w in works:
            assert w.write is not None
            # Two orders of one new customer in a wave create it once.
            if w.customer_create is not None and w.customer_create.controlid not in seen:
                seen.add(w.customer_create.controlid)
                functions.append(w.customer_create)
            functions.extend(self._new_contacts(w, seen))  # before the document naming them
            functions.append(w.write)
            if w.action in ("create", "update", "credit", "extra") and w.txn is not None:
                key = w.entry.document_key if w.action == "update" else expected_key(w.txn)
                if key:
                    w.readback_key = key
                    by_definition.setdefault(w.txn.transaction_type, []).append(w)
                elif w.action != "update":  # Intacct numbers it: found by reference + customer
                    w.readback = readback(w.txn, key=None)
                    functions.append(w.readback)
        functions.extend(_shared_readbacks(by_definition))
        return functions

    def _write(self, works: list[_Work], deadline: Deadline) -> None:
        works = [w for w in works if self._claimed(w)]
        if not works:
            return
        functions = self._request_functions(works)
        try:
            results = self.client.execute(functions, deadline=deadline)
        except IntacctOutcomeUnknown as exc:
            log.warning(
                "write answer lost; looking documents up",
                extra={"outcome": "looking up", "controlids": list(exc.controlids)[:10]},
            )
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
        self._remember_contacts(works, by_id)
        retry_lookup = []
        for w in works:
            write = w.results["write"]
            try:
                if write.ok:
                    self._applied(w, self._pick(w, w.results.get("readback"), write.key), write.key)
                    continue
                self.client.raise_for(write)
            except IntacctAlreadyExecuted:
                if w.action in ("update", "close", "delete"):
                    # This exact operation (its controlid is unique per intent) already ran.
                    self._applied(w, self._pick(w, w.results.get("readback"), None))
                else:
                    retry_lookup.append(w)
            except IntacctTransientError as exc:
                w.outcome = self._failed(w, exc)
            except SyncError as exc:
                if w.action in _NEW_DOCUMENT and "already exists" in exc.message.lower():
                    retry_lookup.append(w)  # the document number is taken: ours from an earlier attempt?
                else:
                    w.outcome = self._failed(w, self._explain(w, exc))
        if retry_lookup:
            self._adopt(retry_lookup, deadline)

    def _claimed(self, w: _Work) -> bool:
        """Reserve a new document's number for this order before it is sent (see identity)."""
        if w.action in _NEW_DOCUMENT and w.txn is not None:
            try:
                identity.claim_new(self.ledger, w.txn, w.entry.key, label=self._label(w), setting=self._setting(w))
            except PermanentError as exc:
                w.outcome = self._failed(w, exc)
                return False
        return True

    def _pick(self, w: _Work, result: Result | None, key: str | None) -> dict[str, str] | None:
        """The read-back row that is provably this work's document, or None (see identity)."""
        rows = result.records() if result is not None and result.ok else []
        if w.readback_key is not None:  # the wave's shared read-back: this work's row only
            rows = [r for r in rows if r.get("DOCID") == w.readback_key]
        if w.action not in _NEW_DOCUMENT:
            return rows[0] if rows else None  # updates, closes and deletes read their own DOCID
        assert w.txn is not None
        return identity.pick_document(
            self.ledger,
            w.txn,
            rows,
            key=key,
            owner=w.entry.key,
            label=self._label(w),
            setting=self._setting(w),
            held=w.entry,
        )

    @staticmethod
    def _label(w: _Work) -> str:
        return f"order {w.entry.order_number or w.entry.order_id}"

    @staticmethod
    def _setting(w: _Work) -> str:
        return "credit_memo" if w.action == "credit" else "invoice"

    def _explain(self, w: _Work, exc: SyncError) -> SyncError:
        """The failure in a finance user's words: which order, what is wrong, how to fix it."""
        customer = w.results.get("customer")
        if customer is not None and not customer.ok:
            try:
                self.client.raise_for(customer)
            except SyncError as cexc:
                exc = cexc
        exc = self._contact_error(w) or exc
        statement, fix = explain(exc.message)
        order = f"order {w.entry.order_number or w.entry.order_id}"
        text = f"{order}: {statement} (Intacct: {exc.message})" if statement else f"{order}: {exc.message}"
        return type(exc)(text, fix=exc.fix or fix)

    # --- bill-to / ship-to contacts (posting.contacts) -------------------------------------------

    def _plan_contacts(self, w: _Work, order: Order) -> None:
        """The contacts the document names, to create in the same request unless the ledger
        already knows them (created once per distinct address, never changed)."""
        w.contact_creates = contacts.creates(
            mapping.document_contacts(order, self.settings), known=lambda key: bool(w.known.get(key))
        )

    @staticmethod
    def _new_contacts(w: _Work, seen: set[str]) -> list[Function]:
        """This work's contact creates not already in the request (two orders, one address)."""
        fresh = [c for c in w.contact_creates if c.controlid not in seen]
        seen.update(c.controlid for c in fresh)
        return fresh

    def _remember_contacts(self, works: list[_Work], by_id: dict[str, Result]) -> None:
        for w in works:
            for i, create in enumerate(w.contact_creates):
                result = w.results[f"contact{i}"] = by_id[create.controlid]
                name = contacts.created_name(create)
                if name and self._contact_exists(result):
                    w.known.remember(contacts.cache_key(name), name)

    def _contact_exists(self, result: Result) -> bool:
        """Created now, or there already (a duplicate name or a repeated controlid)."""
        if result.ok:
            return True
        try:
            self.client.raise_for(result)
        except IntacctAlreadyExecuted:
            return True
        except SyncError as exc:
            return "already exists" in exc.message.lower()
        return True

    def _contact_error(self, w: _Work) -> SyncError | None:
        """Why a contact the document names could not be created (then the document fails too)."""
        for key, result in w.results.items():
            if key.startswith("contact") and not self._contact_exists(result):
                try:
                    self.client.raise_for(result)
                except SyncError as exc:
                    return type(exc)(f"its bill-to / ship-to contact could not be created: {exc.message}", fix=exc.fix)
        return None

    def _adopt(self, works: list[_Work], deadline: Deadline) -> None:
        """Look up what an earlier attempt may have committed; adopt it only when it is provably
        this order's, or retry. An update whose answer was lost is simply sent again: its
        controlid is unique to this intent, so Intacct either runs it or says it already ran."""
        lookups: list[tuple[_Work, Function]] = []
        for w in works:
            key = w.entry.document_key or ""
            if w.action == "delete":
                lookups.append((w, fn.query("SODOCUMENT", ["DOCID"], filter=q.eq("DOCID", key))))
            elif w.action == "close":
                lookups.append((w, fn.query("SODOCUMENT", ["DOCID", "STATE"], filter=q.eq("DOCID", key))))
            elif w.action in _NEW_DOCUMENT and w.txn is not None:
                lookups.append((w, readback(w.txn, key=expected_key(w.txn))))
            else:
                w.entry.update_in_doubt = True  # the invoice may have changed: payments wait
                if w.txn is not None:  # it may have added lines: later updates must cover them
                    w.entry.invoice_lines = max(w.entry.invoice_lines or 0, len(w.txn.lines))
                w.outcome = Outcome.retry(f"{w.action} answer lost; it will be sent again with the same controlid")
        if not lookups:
            return
        results = self.client.execute([f for _, f in lookups], deadline=deadline)
        for (w, _), result in zip(lookups, results, strict=True):
            try:
                self.client.raise_for(result)
                rows = result.records()
                if w.action == "delete":
                    if rows:
                        w.outcome = Outcome.retry("delete not confirmed; will try again")
                    else:
                        self._applied(w, None)
                elif w.action == "close":
                    if rows and rows[0].get("STATE") == "Closed":
                        self._applied(w, None)
                    else:
                        w.outcome = Outcome.retry("close not confirmed; will try again")
                else:
                    row = self._pick(w, result, None)
                    if row is None:
                        w.outcome = Outcome.retry("the write did not happen; it will be sent again")
                    else:
                        self._applied(w, row)
            except SyncError as exc:
                w.outcome = self._failed(w, exc)

    def _applied(self, w: _Work, found: dict[str, str] | None, key: str | None = None) -> None:
        """Record what Intacct now holds for this work; `found` is its read-back row, if any,
        `key` the write's own answer (the new document's id)."""
        entry = w.entry
        row = found or {}
        now = datetime.now(UTC)
        if w.action == "create":
            assert w.txn is not None
            entry.document_key = row.get("DOCID") or key or expected_key(w.txn)
            entry.ar_record_key = row.get("PRRECORDKEY") or None
            entry.invoice_total = Decimal(row["TOTAL"]) if row.get("TOTAL") else mapping.intacct_total(w.txn)
            entry.invoice_hash = txn_hash(w.txn)
            entry.invoice_lines = len(w.txn.lines)
            entry.invoice_tax = _tax(w.txn)
            entry.status = "invoiced"
            entry.last_error = None
            entry.note("invoice created", entry.document_key or "")
        elif w.action == "update":
            assert w.txn is not None
            entry.ar_record_key = row.get("PRRECORDKEY") or entry.ar_record_key
            entry.invoice_total = Decimal(row["TOTAL"]) if row.get("TOTAL") else mapping.intacct_total(w.txn)
            entry.invoice_hash = txn_hash(w.txn)
            entry.invoice_lines = max(len(w.txn.lines), entry.invoice_lines or 0)
            entry.invoice_updates += 1
            entry.invoice_tax = _tax(w.txn)
            entry.update_in_doubt = False
            entry.last_error = None
            entry.note("invoice updated", entry.document_key or "")
        elif w.action == "extra":
            assert w.txn is not None
            document = row.get("DOCID") or key or expected_key(w.txn) or ""
            amount = mapping.intacct_total(w.txn)
            entry.extra_invoices = [
                *entry.extra_invoices,
                ExtraInvoice(
                    document_key=document, ar_record_key=row.get("PRRECORDKEY") or None, amount=amount, posted_at=now
                ),
            ]
            entry.invoice_hash = w.new_hash
            if w.order is not None:
                entry.invoice_tax = w.order.total_tax
            entry.status = "partially_paid"
            entry.note("additional invoice", f"{document}: {amount} the order gained after it was paid")
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
        w.outcome = Outcome.retry(w.then_wait) if w.then_wait else Outcome.wrote(w.action)


def _hand_on(event: CanonicalEvent, forward: Callable[[Sequence[CanonicalEvent]], None]) -> Outcome:
    try:
        forward([event])
    except SyncError as exc:
        kind = Outcome.retry if isinstance(exc, TransientError) else Outcome.park
        return kind(f"could not hand {event.type} {event.event_id} on to the payments queue: {exc.message}", exc.fix)
    return Outcome.done("handed on to the payments queue")


def _shared_readbacks(by_definition: dict[str, list[_Work]]) -> list[Function]:
    """Documents whose id is known are read back with one query per transaction definition for
    the whole wave (after every write), not one per order: each function costs Intacct time.
    Each work gets the shared query; `_pick` keeps the row of its own DOCID."""
    out = []
    for definition, group in by_definition.items():
        keys = list(dict.fromkeys(w.readback_key or "" for w in group))
        shared = fn.query(
            "SODOCUMENT",
            READBACK_FIELDS,
            filter=q.eq("DOCID", keys[0]) if len(keys) == 1 else q.in_("DOCID", keys),
            docparid=definition,
            page_size=max(100, len(keys)),
        )
        out.append(shared)
        for w in group:
            w.readback = shared
    return out


def _tax(txn: SalesTransaction) -> Decimal:
    """Tax a document carries: its subtotals other than shipping and discount lines (all tax)."""
    return sum((s.total for s in txn.subtotals), Decimal(0))


def _rank(outcome: Outcome) -> int:
    return {"done": 0, "park": 1, "retry": 2}[outcome.status]
