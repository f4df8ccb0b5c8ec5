"""Generated lifecycles judged by the Intacct sandbox's end state.

A hypothesis state machine plays a channel: an order is placed, edited before payment, paid,
partly refunded, cancelled (with the rest refunded when it was paid), and every delivery can be
duplicated. The deliveries go through the two consumers as SQS FIFO would hand them over: each
queue in order per order, the two queues interleaved at random, a retried message staying at its
queue's head; any Intacct write may commit and lose its answer. Whatever the sequence, the books
must end equal to the channel's final state: one invoice (or none), each payment once, credits
exactly what was refunded or cancelled, nothing parked, nothing left waiting (on a queue or in
the ledger: a payment that came before its invoice waits there and is queued again with it).

Canonical events are generated directly (the adapters are tested on real payloads elsewhere); the
channel of the order is drawn, since what the posters do must not depend on it.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import FinancialStatus, Order, OrderStatus
from intacct_sync.retry import Deadline
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.integration.test_order_identity_and_lifecycle import Books
from tests.integration.test_posting_consumers import T0, order_event, payment_event, refund_event
from tests.unit.posting.factories import line, order
from tests.unit.posting.factories import settings as make_settings

D = Decimal
SETTINGS = make_settings(items={"adjustment_item_id": "DISCOUNT"})
DRAIN_LIMIT = 60


@dataclass
class Channel:
    """What the channel says about the one order (the truth the books must end at)."""

    placed: bool = False
    quantity: int = 1
    version: int = 0
    payments: dict[str, Decimal] = field(default_factory=dict)
    refunds: dict[str, Decimal] = field(default_factory=dict)
    cancelled: bool = False
    failed: bool = False
    edited_after_payment: bool = False

    @property
    def live(self) -> bool:
        return self.placed and not self.cancelled and not self.failed

    @property
    def paid(self) -> Decimal:
        return sum(self.payments.values(), D(0))

    @property
    def refunded(self) -> Decimal:
        return sum(self.refunds.values(), D(0))


class Lifecycle(RuleBasedStateMachine):
    sandbox: IntacctSandbox  # set by the test before the run

    @initialize(channel=st.sampled_from(["shopify", "woocommerce", "bigcommerce"]))
    def start(self, channel: str) -> None:
        self.sandbox.reset(seed=self.sandbox.seed)
        self.sandbox.clear_faults()
        self.books = Books(self.sandbox, SETTINGS)
        self.channel_name = channel
        self.truth = Channel()
        self.orders_q: deque[CanonicalEvent] = deque()
        self.payments_q: deque[CanonicalEvent] = deque()
        self.sent: list[tuple[str, CanonicalEvent]] = []
        self.outcomes: list[str] = []
        # A payment or refund before its invoice waits in the ledger (issue 13) and is done on its
        # queue; the order poster queues it again once the invoice exists, as wiring does.
        self.books.orders_poster.forward = self.payments_q.extend

    # --- the channel -------------------------------------------------------------------------

    def order(self) -> Order:
        t = self.truth
        financial = FinancialStatus.PENDING
        if t.paid:
            financial = FinancialStatus.PAID
            if t.refunded:
                financial = FinancialStatus.REFUNDED if t.refunded >= t.paid else FinancialStatus.PARTIALLY_REFUNDED
        elif t.cancelled:
            financial = FinancialStatus.VOIDED
        o = order(
            [line("1", "TSHIRT-M", str(t.quantity), "19.99"), line("2", "MUG-01", "1", "12.50")],
            order_id="7001",
            order_number="7001",
            total_tax="2.00",
            financial_status=financial,
            status=OrderStatus.CANCELLED if t.cancelled else OrderStatus.FAILED if t.failed else OrderStatus.OPEN,
            cancelled_at=T0 if t.cancelled else None,
            placed=not t.failed,
        )
        return o.model_copy(update={"channel": self.channel_name})

    def send_order(self) -> None:
        self.truth.version += 1
        o = self.order()
        self.books.orders[(o.connection_id, o.order_id)] = o  # what the channel API now answers
        self.books.versions[(o.connection_id, o.order_id)] = self.truth.version
        self.deliver("orders", order_event(o, version=self.truth.version, event_id=f"order-v{self.truth.version}"))

    def now(self) -> datetime:
        """The channel's clock: the time of the order state about to be sent."""
        return T0 + timedelta(minutes=self.truth.version + 1)

    def deliver(self, queue: str, event: CanonicalEvent) -> None:
        (self.orders_q if queue == "orders" else self.payments_q).append(event)
        self.sent.append((queue, event))

    @precondition(lambda self: not self.truth.placed)
    @rule()
    def place(self) -> None:
        self.truth.placed = True
        self.send_order()

    @precondition(lambda self: self.truth.live and not self.truth.paid)
    @rule(quantity=st.integers(1, 3))
    def edit(self, quantity: int) -> None:
        self.truth.quantity = quantity
        self.send_order()

    @precondition(lambda self: self.truth.live and not self.truth.paid)
    @rule()
    def pay(self) -> None:
        amount = self.order().total
        self.truth.payments["pay-1"] = amount
        self.deliver("payments", payment_event(self.order(), "pay-1", str(amount), processed_at=self.now()))
        self.send_order()  # orders/paid

    @precondition(lambda self: self.truth.paid and not self.truth.cancelled and self.truth.refunded < self.truth.paid)
    @rule(amount=st.sampled_from(["5.00", "10.00", "all"]))
    def refund(self, amount: str) -> None:
        left = self.truth.paid - self.truth.refunded
        value = left if amount == "all" else min(D(amount), left)
        self.add_refund(value)
        self.send_order()  # orders/updated: partially_refunded / refunded

    def add_refund(self, value: Decimal) -> str:
        refund_id = f"r{len(self.truth.refunds) + 1}"
        self.truth.refunds[refund_id] = value
        self.deliver("payments", refund_event(self.order(), refund_id, str(value), processed_at=T0))
        return refund_id

    @precondition(lambda self: self.truth.live and self.truth.paid and self.truth.refunded < self.truth.paid)
    @rule(quantity=st.integers(1, 3))
    def edit_after_payment(self, quantity: int) -> None:
        """The merchant edits a paid order. Units added: the customer pays for them (a second
        capture). Units removed: refunded; as the channels report it, refunded units stay on the
        order's lines (Shopify `current_quantity` + refunded units, WooCommerce refund lines),
        so the order keeps its lines and the refund carries what was removed."""
        before = self.order().total
        unit = self.order().lines[0].unit_price
        self.truth.edited_after_payment = True
        if quantity > self.truth.quantity:
            self.truth.quantity = quantity
            gained = self.order().total - before
            payment_id = f"pay-{len(self.truth.payments) + 1}"
            self.truth.payments[payment_id] = gained
            self.deliver("payments", payment_event(self.order(), payment_id, str(gained), processed_at=self.now()))
        elif quantity < self.truth.quantity:
            left = self.truth.paid - self.truth.refunded
            self.add_refund(min(unit * (self.truth.quantity - quantity), left))
        self.send_order()

    @precondition(lambda self: self.truth.live and not self.truth.paid)
    @rule()
    def fail(self) -> None:
        """The payment failed after the order was placed (a returned SEPA debit)."""
        self.truth.failed = True
        self.send_order()

    @precondition(lambda self: self.truth.placed and not self.truth.live and not self.truth.paid)
    @rule()
    def reopen(self) -> None:
        """Placed again after it was cancelled or failed unpaid (WooCommerce -> processing)."""
        self.truth.cancelled = self.truth.failed = False
        self.send_order()

    @precondition(lambda self: self.truth.live)
    @rule()
    def cancel(self) -> None:
        self.truth.cancelled = True
        left = self.truth.paid - self.truth.refunded
        if left > 0:
            self.add_refund(left)  # cancelled with the rest refunded
        self.send_order()

    @precondition(lambda self: bool(self.sent))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        queue, event = data.draw(st.sampled_from(self.sent))
        (self.orders_q if queue == "orders" else self.payments_q).append(event)

    # --- the consumers -----------------------------------------------------------------------

    @precondition(lambda self: bool(self.orders_q or self.payments_q))
    @rule(from_orders=st.booleans(), lose=st.booleans())
    def consume(self, from_orders: bool, lose: bool) -> None:
        self.step(from_orders, lose)

    def step(self, from_orders: bool, lose: bool) -> None:
        queue = self.orders_q if (from_orders and self.orders_q) or not self.payments_q else self.payments_q
        event = queue[0]
        if lose:  # the next write commits and its answer is lost
            self.sandbox.inject(Fault(kind="lose_response", status=504, function=None))
        poster = self.books.orders_poster if queue is self.orders_q else self.books.payments
        [outcome] = poster([event], Deadline.after(30)).values()
        self.sandbox.clear_faults()
        self.outcomes.append(f"{event.type}:{outcome.status}:{outcome.reason}")
        assert outcome.status != "park", f"{event.type} parked: {outcome.reason} ({outcome.fix})"
        if outcome.status == "done":
            queue.popleft()

    @invariant()
    def never_two_invoices_nor_credits_beyond_the_invoice(self) -> None:
        if not hasattr(self, "books"):
            return
        invoices = self.books.docs("Sales Invoice")
        main = [d for d in invoices if "-A" not in str(d["DOCID"])]
        assert len(main) <= 1, invoices
        total = sum((D(str(d["TOTAL"])) for d in invoices), D(0))
        assert self.books.credited() <= total
        assert self.payments_total() <= total

    def payments_total(self) -> Decimal:
        return sum((D(str(p["TOTALENTERED"])) for p in self.sandbox.snapshot()["payments"]), D(0))

    def teardown(self) -> None:
        if not hasattr(self, "books"):
            return
        for i in range(DRAIN_LIMIT):
            if not (self.orders_q or self.payments_q):
                break
            self.step(from_orders=i % 2 == 0, lose=False)
        assert not (self.orders_q or self.payments_q), f"stuck: {self.outcomes[-6:]}"
        self.judge()
        entry = self.books.ledger.get("shop-1", "7001") if self.truth.placed else None
        if entry is not None and self.truth.live:
            assert entry.waiting == {}, f"left waiting in the ledger: {sorted(entry.waiting)} {self.outcomes[-6:]}"

    def judge(self) -> None:
        t, books = self.truth, self.books
        invoices = books.docs("Sales Invoice")
        if not t.placed:
            assert invoices == []
            return
        o = self.order()
        if not t.live and not t.paid:
            assert invoices == [], "an unpaid cancelled or failed order's invoice is deleted"
            assert books.docs("Sales Credit Memo") == []
            return
        assert self.payments_total() == t.paid, "each payment once"
        invoiced = sum((D(str(d["TOTAL"])) for d in invoices), D(0))
        if t.edited_after_payment:
            # The books net to what the channel kept: the invoice plus additions, less credits.
            net = D(0) if t.cancelled else o.total - t.refunded
            assert invoiced - books.credited() == net, (invoiced, books.credited(), net, self.outcomes)
            return
        [invoice] = invoices
        assert D(str(invoice["TOTAL"])) == o.total, "the invoice is the channel's last state"
        expected_credit = o.total if t.cancelled else min(t.refunded, o.total)
        assert books.credited() == expected_credit, (books.credited(), expected_credit, self.outcomes)


@pytest.mark.slow
def test_every_generated_lifecycle_books_what_the_channel_shows(sandbox: IntacctSandbox) -> None:
    Lifecycle.sandbox = sandbox
    run = settings(
        max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "40")),
        stateful_step_count=14,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run_state_machine_as_test(Lifecycle, settings=run)
