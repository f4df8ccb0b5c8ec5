"""Cash at a till: the customer tenders more than is due and gets change back.

Shopify's model (Admin API, Transaction `kind`): the POS records the cash `sale` for the amount
tendered and a separate `change` transaction for "the money returned to the customer when
they've paid too much during a cash transaction". The money the merchant kept is the difference,
so the change transaction offsets its sale: the ARPYMT carries tendered - change, and the change
itself is never posted.

The two transactions arrive as separate events, in either order, on the order's FIFO group. The
ledger keeps a per-transaction balance (`LedgerEntry.cash_change`): + change handed back, - cash
tendered beyond what was posted. A cash sale (gateway in `payments.cash_gateways`) first takes
any change already recorded off its amount, then any excess over what is still due (change not
reported yet); the change transaction then settles that expectation. Keyed by transaction id, so
redeliveries repeat the same figures.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from intacct_sync import logs
from intacct_sync.errors import TransientError
from intacct_sync.ledger import LedgerConflict, LedgerEntry
from intacct_sync.models.events import CanonicalEvent, PaymentEvent
from intacct_sync.posting.outcome import Outcome
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.posting.test_orders import skip_money
from intacct_sync.retry import Deadline

log = logging.getLogger(__name__)

ZERO = Decimal(0)


def is_change(event: CanonicalEvent) -> bool:
    return isinstance(event, PaymentEvent) and event.payload.kind == "change"


def net_cash_sale(entry: LedgerEntry, event: PaymentEvent) -> Decimal | None:
    """The amount to post for a cash sale, or None when it is posted as it is: its amount less
    the change recorded and not yet netted, capped at what the invoice still has due."""
    payment = event.payload
    if entry.invoice_total is None or (entry.currency and payment.currency.upper() != entry.currency.upper()):
        return None
    others = sum((v for k, v in entry.cash_change.items() if k != payment.payment_id), ZERO)
    net = payment.amount - min(max(others, ZERO), payment.amount)
    due = entry.booked_total - entry.paid_total
    net = min(net, due)
    if net <= 0 or net == payment.amount:
        return None
    return net


class CashChangePoster(PaymentPoster):
    """The payment poster with POS cash change netted (see the module docstring)."""

    def __call__(self, events: Sequence[CanonicalEvent], deadline: Deadline) -> dict[str, Outcome]:
        cash = [
            e
            for e in events
            if isinstance(e, PaymentEvent) and (is_change(e) or self.settings.payments.is_cash(e.payload.gateway))
        ]
        cash_ids = {e.event_id for e in cash}
        if not cash:
            return super().__call__(events, deadline)
        entries = self.ledger.get_many([(e.connection_id, e.order_id) for e in cash])
        outcomes: dict[str, Outcome] = {}
        rest: list[CanonicalEvent] = []
        for event in events:
            if event.event_id not in cash_ids:
                rest.append(event)
                continue
            assert isinstance(event, PaymentEvent)
            entry = entries.get(f"{event.connection_id}:{event.order_id}")
            if is_change(event):
                outcomes[event.event_id] = self._change(event, entry)
                continue
            netted = self._sale(event, entry)
            if isinstance(netted, Outcome):
                outcomes[event.event_id] = netted
            else:
                rest.append(netted)
        if rest:
            outcomes.update(super().__call__(rest, deadline))
        return outcomes

    def _change(self, event: PaymentEvent, entry: LedgerEntry | None) -> Outcome:
        change = event.payload
        skipped = skip_money(event, entry, self.settings)
        if skipped is not None:
            return (self._put(entry) or skipped) if entry is not None else skipped
        if entry is None:  # before its order: kept for the sale to net
            entry = LedgerEntry(connection_id=event.connection_id, order_id=event.order_id, channel=event.channel)
        if change.payment_id in entry.cash_change:
            return Outcome.done("duplicate: change already recorded")
        before = sum(entry.cash_change.values(), ZERO)
        entry.cash_change = {**entry.cash_change, change.payment_id: change.amount}
        after = before + change.amount
        if before < 0 and after == 0:
            entry.note("cash change netted", f"{change.amount} {change.currency} handed back ({change.payment_id})")
            reason = "change netted: the cash sale was posted less this change"
        elif before < 0:
            entry.note(
                "cash change does not match",
                f"{change.amount} {change.currency} handed back ({change.payment_id}) but {-before} was tendered "
                f"over the amount due; {after:+} left unmatched",
            )
            log.warning(
                "cash change does not match the cash tendered",
                extra=logs.order_keys(entry),
            )
            reason = f"change recorded; {after:+} does not match the cash tendered over the amount due"
        else:
            entry.note("cash change recorded", f"{change.amount} {change.currency} handed back ({change.payment_id})")
            reason = "change recorded: it is netted from the cash sale"
        return self._put(entry) or Outcome.done(reason)

    def _sale(self, event: PaymentEvent, entry: LedgerEntry | None) -> CanonicalEvent | Outcome:
        payment = event.payload
        if (
            entry is None
            or payment.payment_id in entry.payments
            or skip_money(event, entry, self.settings) is not None
            or entry.document_key is None
        ):
            return event  # the poster waits for the invoice, skips or dedups it
        net = net_cash_sale(entry, event)
        if net is None:
            return event
        kept_back = payment.amount - net
        entry.cash_change = {**entry.cash_change, payment.payment_id: -kept_back}
        entry.note(
            "cash sale netted",
            f"{payment.payment_id}: {payment.amount} tendered, {net} posted, {kept_back} change",
        )
        failed = self._put(entry)
        if failed is not None:
            return failed
        reference = f"tendered {payment.amount}, change {kept_back}"
        update = {
            "amount": net,
            "reference": f"{payment.reference} / {reference}" if payment.reference else reference,
        }
        return event.model_copy(update={"payload": payment.model_copy(update=update)})

    def _put(self, entry: LedgerEntry) -> Outcome | None:
        """Writes `entry`: None when written, else the retry to answer."""
        try:
            self.ledger.put(entry)
        except LedgerConflict:
            return Outcome.retry("ledger entry changed concurrently")
        except TransientError as exc:
            return Outcome.retry(exc.message)
        return None
