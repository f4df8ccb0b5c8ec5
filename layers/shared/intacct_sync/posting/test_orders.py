"""Orders made in a channel's test mode (Shopify `test: true`: the Bogus gateway, a development
store, test transactions) are not business: under `test_orders = "skip"` (the default) neither
they nor their payments and refunds reach Intacct. The ledger records each skip, and a payment
or refund of a skipped order is finished as skipped rather than left waiting for an invoice that
never comes. An order invoiced before (`test_orders` was "post") keeps being followed."""

from __future__ import annotations

from intacct_sync.ledger import LedgerEntry
from intacct_sync.models.events import CanonicalEvent, PaymentEvent, RefundEvent
from intacct_sync.models.order import Order, Payment
from intacct_sync.posting.outcome import Outcome
from intacct_sync.settings import Settings


def skip_order(order: Order, entry: LedgerEntry, settings: Settings) -> bool:
    """True (and the skip recorded on `entry`) when `order` is a test order that is not posted."""
    if settings.test_orders != "skip" or not order.test or entry.document_key is not None:
        return False
    if not entry.test_order:
        entry.note("skipped", f'test order {order.order_number}: test_orders is "skip"')
    entry.status = "skipped"
    entry.test_order = True
    return True


def skip_money(event: CanonicalEvent, entry: LedgerEntry | None, settings: Settings) -> Outcome | None:
    """The outcome of a payment or refund that is not posted because it is a test one, or belongs
    to a skipped test order (recorded on `entry` when there is one); None when it is posted."""
    if settings.test_orders != "skip" or not isinstance(event, PaymentEvent | RefundEvent):
        return None
    money = event.payload
    if not money.test and not (entry is not None and entry.test_order):
        return None
    what = f"{event.type} {money.payment_id if isinstance(money, Payment) else money.refund_id}"
    why = "made in test mode" if money.test else "of a test order"
    if entry is not None:
        entry.note("skipped", f"{what}: {why}")
    return Outcome.done(f'skipped: {what} {why} (test_orders is "skip")')
