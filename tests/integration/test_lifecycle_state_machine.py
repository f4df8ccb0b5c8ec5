"""Generated lifecycles judged by the Intacct sandbox's end state.

A hypothesis state machine plays one or two stores. Each store has an order, placed, edited
before payment, paid, partly refunded, edited after payment, cancelled (with the rest refunded
when it was paid), failed, re-opened, and every delivery can be duplicated. With two stores, both
orders have the same order id and number, the same buyer and lines, so that only the store tells
them apart (as for a merchant with a US and an EU store); each store's currency is drawn (USD,
EUR, GBP, CAD, JPY: one without decimals), and so is the numbering that keeps them apart (a prefix
per connection, or Intacct numbering, where nothing in the document number tells them apart).

The deliveries go through the two consumers as SQS FIFO would hand them over: each queue in order
per order (its message group), the queues and the stores interleaved at random, a retried message
staying at its group's head; any Intacct write may commit and lose its answer, or fail with an
answer that does not say whether it committed (a gateway 504 before Intacct saw it). Whatever the
sequence, each store's books must end equal to its channel's final state: one invoice (or none),
in its currency, each payment once and on its own invoice, credits exactly what was refunded or
cancelled and made from its own invoice, nothing parked, nothing left waiting (on a queue or in
the ledger: a payment that came before its invoice waits there and is queued again with it), and
no document in Intacct that belongs to neither store.

Canonical events are generated directly (the adapters are tested on real payloads elsewhere); the
channel of each store is drawn, since what the posters do must not depend on it.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

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
DRAIN_LIMIT = 120
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "JPY"]  # all enabled in the sandbox's seed company
ORDER_ID = "7001"
_DETAIL_KEYS = ("RECORDKEY", "POSADJKEY", "ADJUSTMENTKEY", "NEGATIVEINVOICEKEY")
"""ARPYMTDETAIL fields naming the AR record a payment pays or a credit it applies."""


@dataclass
class Channel:
    """What the channel says about one store's order (the truth the books must end at)."""

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


@dataclass
class Store:
    """One connection: its channel, currency, the truth of its order and its two FIFO groups."""

    connection_id: str
    channel: str
    currency: str
    truth: Channel = field(default_factory=Channel)
    orders_q: deque[CanonicalEvent] = field(default_factory=deque)
    payments_q: deque[CanonicalEvent] = field(default_factory=deque)
    sent: list[tuple[str, CanonicalEvent]] = field(default_factory=list)

    @property
    def letter(self) -> str:
        return self.connection_id[-1].upper()

    def money(self, amount: str) -> Decimal:
        """An amount of the test's price list in this store's currency (yen have no decimals)."""
        return D(amount) * 100 if self.currency == "JPY" else D(amount)

    def queue(self, name: str) -> deque[CanonicalEvent]:
        return self.orders_q if name == "orders" else self.payments_q


class Lifecycle(RuleBasedStateMachine):
    sandbox: IntacctSandbox  # set by the test before the run

    @initialize(
        channels=st.lists(st.sampled_from(["shopify", "woocommerce", "bigcommerce"]), min_size=1, max_size=2),
        currencies=st.lists(st.sampled_from(CURRENCIES), min_size=2, max_size=2),
        numbering=st.sampled_from(["order_number", "prefix", "intacct"]),
        payout=st.sampled_from(["none", "debit_memo"]),
        created_from=st.booleans(),
        unpaid=st.sampled_from(["delete", "close"]),
    )
    def start(  # noqa: PLR0917 - one argument a drawn setting
        self, channels: list[str], currencies: list[str], numbering: str, payout: str, created_from: bool, unpaid: str
    ) -> None:
        self.payout, self.created_from, self.unpaid = payout, created_from, unpaid
        self.sandbox.reset(seed=self.sandbox.seed)
        self.sandbox.clear_faults()
        names = ["shop-a", "shop-b"][: len(channels)]
        self.stores = [
            Store(name, channel, currency) for name, channel, currency in zip(names, channels, currencies, strict=False)
        ]
        # Two stores on the bare order number collide by design (parked with the prefix fix).
        self.numbering = "prefix" if numbering == "order_number" and len(self.stores) > 1 else numbering
        self.books = Books(self.sandbox, self.settings())
        self.outcomes: list[str] = []
        # A payment or refund before its invoice waits in the ledger (issue 13) and is done on its
        # queue; the order poster queues it again once the invoice exists, as wiring does.
        self.books.orders_poster.forward = self.forward

    def settings(self) -> Any:
        """The drawn settings: how the stores' documents are kept apart (with two stores: a prefix
        per connection, as the park's fix tells a merchant to set, or Intacct numbering), whether
        refunds are paid out by debit memo, whether credit memos are converted from the invoice."""
        invoice: dict[str, Any] = {}
        memo: dict[str, Any] = {"created_from": self.created_from}
        if self.numbering == "prefix":
            invoice["numbering"] = {"prefix_by_connection": {s.connection_id: f"{s.letter}-" for s in self.stores}}
            memo["numbering"] = {"prefix_by_connection": {s.connection_id: f"CM{s.letter}-" for s in self.stores}}
        elif self.numbering == "intacct":
            invoice["numbering"] = memo["numbering"] = {"mode": "intacct"}
        return make_settings(
            items={"adjustment_item_id": "DISCOUNT"},
            invoice=invoice,
            credit_memo=memo,
            refunds={"payout": self.payout, "payout_account": "1200"},
            cancellation={"unpaid": self.unpaid},
        )

    def forward(self, events: Any) -> None:
        for event in events:
            self.store(event.connection_id).payments_q.append(event)

    def store(self, connection_id: str) -> Store:
        [s] = [s for s in self.stores if s.connection_id == connection_id]
        return s

    def pick(self, data: st.DataObject, test: Any) -> Store:
        """One of the stores whose order passes `test` (drawn by name: hypothesis prints draws)."""
        return self.store(data.draw(st.sampled_from([s.connection_id for s in self.where(test)])))

    def where(self, test: Any) -> list[Store]:
        return [s for s in getattr(self, "stores", []) if test(s.truth)]

    # --- the channel -------------------------------------------------------------------------

    def order(self, s: Store) -> Order:
        t = s.truth
        financial = FinancialStatus.PENDING
        if t.paid:
            financial = FinancialStatus.PAID
            if t.refunded:
                financial = FinancialStatus.REFUNDED if t.refunded >= t.paid else FinancialStatus.PARTIALLY_REFUNDED
        elif t.cancelled:
            financial = FinancialStatus.VOIDED
        o = order(
            [
                line("1", "TSHIRT-M", str(t.quantity), str(s.money("19.99"))),
                line("2", "MUG-01", "1", str(s.money("12.50"))),
            ],
            order_id=ORDER_ID,
            order_number=ORDER_ID,
            total_tax=str(s.money("2.00")),
            currency=s.currency,
            financial_status=financial,
            status=OrderStatus.CANCELLED if t.cancelled else OrderStatus.FAILED if t.failed else OrderStatus.OPEN,
            cancelled_at=T0 if t.cancelled else None,
            placed=not t.failed,
        )
        return o.model_copy(update={"channel": s.channel, "connection_id": s.connection_id})

    def send_order(self, s: Store) -> None:
        s.truth.version += 1
        o = self.order(s)
        self.books.orders[(o.connection_id, o.order_id)] = o  # what the channel API now answers
        self.books.versions[(o.connection_id, o.order_id)] = s.truth.version
        # The delivery ids of the two stores collide, as nothing makes them unique across stores.
        self.deliver(s, "orders", order_event(o, version=s.truth.version, event_id=f"order-v{s.truth.version}"))

    def now(self, s: Store) -> datetime:
        """The channel's clock: the time of the order state about to be sent."""
        return T0 + timedelta(minutes=s.truth.version + 1)

    def deliver(self, s: Store, queue: str, event: CanonicalEvent) -> None:
        s.queue(queue).append(event)
        s.sent.append((queue, event))

    @precondition(lambda self: bool(self.where(lambda t: not t.placed)))
    @rule(data=st.data())
    def place(self, data: st.DataObject) -> None:
        s = self.pick(data, lambda t: not t.placed)
        s.truth.placed = True
        self.send_order(s)

    @precondition(lambda self: bool(self.where(lambda t: t.live and not t.paid)))
    @rule(data=st.data(), quantity=st.integers(1, 3))
    def edit(self, data: st.DataObject, quantity: int) -> None:
        s = self.pick(data, lambda t: t.live and not t.paid)
        s.truth.quantity = quantity
        self.send_order(s)

    @precondition(lambda self: bool(self.where(lambda t: t.live and not t.paid)))
    @rule(data=st.data())
    def pay(self, data: st.DataObject) -> None:
        s = self.pick(data, lambda t: t.live and not t.paid)
        amount = self.order(s).total
        s.truth.payments["pay-1"] = amount
        self.deliver(s, "payments", payment_event(self.order(s), "pay-1", str(amount), processed_at=self.now(s)))
        self.send_order(s)  # orders/paid

    @precondition(lambda self: bool(self.where(lambda t: t.paid and not t.cancelled and t.refunded < t.paid)))
    @rule(data=st.data(), amount=st.sampled_from(["5.00", "10.00", "all"]))
    def refund(self, data: st.DataObject, amount: str) -> None:
        s = self.pick(data, lambda t: t.paid and not t.cancelled and t.refunded < t.paid)
        left = s.truth.paid - s.truth.refunded
        value = left if amount == "all" else min(s.money(amount), left)
        self.add_refund(s, value)
        self.send_order(s)  # orders/updated: partially_refunded / refunded

    def add_refund(self, s: Store, value: Decimal) -> str:
        refund_id = f"r{len(s.truth.refunds) + 1}"
        s.truth.refunds[refund_id] = value
        self.deliver(s, "payments", refund_event(self.order(s), refund_id, str(value), processed_at=T0))
        return refund_id

    @precondition(lambda self: bool(self.where(lambda t: t.live and t.paid and t.refunded < t.paid)))
    @rule(data=st.data(), quantity=st.integers(1, 3))
    def edit_after_payment(self, data: st.DataObject, quantity: int) -> None:
        """The merchant edits a paid order. Units added: the customer pays for them (a second
        capture). Units removed: refunded; as the channels report it, refunded units stay on the
        order's lines (Shopify `current_quantity` + refunded units, WooCommerce refund lines),
        so the order keeps its lines and the refund carries what was removed."""
        s = self.pick(data, lambda t: t.live and t.paid and t.refunded < t.paid)
        before = self.order(s).total
        unit = self.order(s).lines[0].unit_price
        s.truth.edited_after_payment = True
        if quantity > s.truth.quantity:
            s.truth.quantity = quantity
            gained = self.order(s).total - before
            payment_id = f"pay-{len(s.truth.payments) + 1}"
            s.truth.payments[payment_id] = gained
            self.deliver(s, "payments", payment_event(self.order(s), payment_id, str(gained), processed_at=self.now(s)))
        elif quantity < s.truth.quantity:
            left = s.truth.paid - s.truth.refunded
            self.add_refund(s, min(unit * (s.truth.quantity - quantity), left))
        self.send_order(s)

    @precondition(lambda self: bool(self.where(lambda t: t.live and not t.paid)))
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        """The payment failed after the order was placed (a returned SEPA debit)."""
        s = self.pick(data, lambda t: t.live and not t.paid)
        s.truth.failed = True
        self.send_order(s)

    @precondition(lambda self: bool(self.where(lambda t: t.placed and not t.live and not t.paid)))
    @rule(data=st.data())
    def reopen(self, data: st.DataObject) -> None:
        """Placed again after it was cancelled or failed unpaid (WooCommerce -> processing)."""
        s = self.pick(data, lambda t: t.placed and not t.live and not t.paid)
        s.truth.cancelled = s.truth.failed = False
        self.send_order(s)

    @precondition(lambda self: bool(self.where(lambda t: t.live)))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        s = self.pick(data, lambda t: t.live)
        s.truth.cancelled = True
        left = s.truth.paid - s.truth.refunded
        if left > 0:
            self.add_refund(s, left)  # cancelled with the rest refunded
        self.send_order(s)

    @precondition(lambda self: any(s.sent for s in getattr(self, "stores", [])))
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        s = self.store(data.draw(st.sampled_from([s.connection_id for s in self.stores if s.sent])))
        queue, event = s.sent[data.draw(st.integers(0, len(s.sent) - 1))]
        s.queue(queue).append(event)

    # --- the consumers -----------------------------------------------------------------------

    def heads(self) -> list[tuple[Store, str]]:
        """The message groups with a message waiting: (store, queue)."""
        return [(s, q) for s in getattr(self, "stores", []) for q in ("orders", "payments") if s.queue(q)]

    @precondition(lambda self: bool(self.heads()))
    @rule(data=st.data(), lose=st.sampled_from(["", "lost", "unknown"]))
    def consume(self, data: st.DataObject, lose: str) -> None:
        name, queue = data.draw(st.sampled_from([(s.connection_id, q) for s, q in self.heads()]))
        self.step(self.store(name), queue, lose)

    def step(self, s: Store, queue: str, lose: str) -> None:
        event = s.queue(queue)[0]
        if lose == "lost":  # the next request commits and its answer is lost
            self.sandbox.inject(Fault(kind="lose_response", status=504, function=None))
        elif lose == "unknown":  # the next request is answered 504 before Intacct sees it
            self.sandbox.inject(Fault(kind="http_error", status=504, function=None))
        poster = self.books.orders_poster if queue == "orders" else self.books.payments
        [outcome] = poster([event], Deadline.after(30)).values()
        self.sandbox.clear_faults()
        self.outcomes.append(f"{s.connection_id} {event.type}:{outcome.status}:{outcome.reason}")
        assert outcome.status != "park", f"{s.connection_id} {event.type} parked: {outcome.reason} ({outcome.fix})"
        if outcome.status == "done":
            s.queue(queue).popleft()

    # --- the books ---------------------------------------------------------------------------

    @invariant()
    def no_currency_is_credited_or_paid_beyond_its_invoices(self) -> None:
        """At every step, whatever the ledger knows yet: per currency, Intacct never holds more
        credits or payments than invoices."""
        if not hasattr(self, "books"):
            return
        snapshot = self.sandbox.snapshot()
        for currency in {s.currency for s in self.stores}:

            def mine(row: dict[str, Any], currency: str = currency) -> bool:
                return (row.get("CURRENCY") or "USD") == currency

            docs = [d for d in snapshot["documents"] if mine(d)]
            invoiced = sum((D(str(d["TOTAL"])) for d in docs if d["DOCPARID"] == "Sales Invoice"), D(0))
            credited = sum((abs(D(str(d["TOTAL"]))) for d in docs if d["DOCPARID"] == "Sales Credit Memo"), D(0))
            paid = sum((D(str(p["TOTALENTERED"])) for p in snapshot["payments"] if mine(p)), D(0))
            assert credited <= invoiced and paid <= invoiced, (currency, invoiced, credited, paid, self.outcomes)

    def teardown(self) -> None:
        if not hasattr(self, "books"):
            return
        for i in range(DRAIN_LIMIT):
            heads = self.heads()
            if not heads:
                break
            s, queue = heads[i % len(heads)]
            self.step(s, queue, lose="")
        assert not self.heads(), f"stuck: {self.outcomes[-6:]}"
        snapshot = self.sandbox.snapshot()
        owned = {s.connection_id: self.owned(s, snapshot) for s in self.stores}
        for kind in ("invoices", "credits", "payments", "debit_memos"):
            rows = [r for o in owned.values() for r in o[kind]]
            keys = [str(r["RECORDNO"]) for r in rows]
            assert len(keys) == len(set(keys)), f"{kind}: one row counted for two stores"
        docs = [d for d in snapshot["documents"] if d["DOCPARID"] in ("Sales Invoice", "Sales Credit Memo")]
        held = {str(r["RECORDNO"]) for o in owned.values() for r in [*o["invoices"], *o["credits"]]}
        # A closed invoice stays in Intacct when its order is placed again (a new invoice).
        closed = [d for d in docs if d["STATE"] == "Closed" and str(d["RECORDNO"]) not in held]
        assert self.unpaid == "close" or not closed, closed
        assert {str(d["RECORDNO"]) for d in docs if d not in closed} == held, "a document that belongs to no store"
        assert len(snapshot["payments"]) == sum(len(o["payments"]) for o in owned.values()), "a stray payment"
        debit_memos = [a for a in snapshot["aradjustments"] if D(str(a["TOTALENTERED"])) > 0]
        assert len(debit_memos) == sum(len(o["debit_memos"]) for o in owned.values()), "a stray debit memo"
        for s in self.stores:
            self.judge(s, owned[s.connection_id])
            entry = self.books.ledger.get(s.connection_id, ORDER_ID) if s.truth.placed else None
            if entry is not None and s.truth.live:
                assert entry.waiting == {}, f"left waiting in the ledger: {sorted(entry.waiting)} {self.outcomes[-6:]}"

    def owned(self, s: Store, snapshot: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The store's documents and payments: its invoices, credit memos and refund debit memos
        are the ones its ledger entry names, its payments pay or apply one of their AR records.
        The teardown checks that no row is named by two stores and none by no store, and `judge`
        checks each store's rows against its channel: a wrong claim cannot pass."""
        entry = self.books.ledger.get(s.connection_id, ORDER_ID)
        keys: set[str | None] = set()
        credit_keys: set[str | None] = set()
        debit_keys: set[str | None] = set()
        if entry is not None:
            keys = {entry.document_key, *(x.document_key for x in entry.extra_invoices)}
            credit_keys = {r.document_key for r in entry.refunds.values() if r.credited}
            debit_keys = {p.debit_memo_key for p in entry.payouts.values()}
        invoices = [d for d in snapshot["invoices"] if d["DOCID"] in keys]
        credits = [
            d for d in snapshot["documents"] if d["DOCPARID"] == "Sales Credit Memo" and d["DOCID"] in credit_keys
        ]
        debit_memos = [a for a in snapshot["aradjustments"] if str(a["RECORDNO"]) in debit_keys]
        ar_keys = {str(d["PRRECORDKEY"]) for d in [*invoices, *credits] if d.get("PRRECORDKEY")}
        ar_keys.update(str(a["RECORDNO"]) for a in debit_memos)
        payments = [
            p
            for p in snapshot["payments"]
            if any(str(x.get(k)) in ar_keys for x in p.get("DETAILS") or [] for k in _DETAIL_KEYS)
        ]
        return {"invoices": invoices, "credits": credits, "payments": payments, "debit_memos": debit_memos}

    def judge(self, s: Store, owned: dict[str, list[dict[str, Any]]]) -> None:
        t, invoices, credits = s.truth, owned["invoices"], owned["credits"]
        where = (
            f"{s.connection_id} ({s.channel}, {s.currency}, numbering {self.numbering}, payout {self.payout}, "
            f"created_from {self.created_from}, unpaid {self.unpaid})"
        )
        if not t.placed:
            assert invoices == [], where
            return
        o = self.order(s)
        for d in [*invoices, *credits]:
            assert (d.get("CURRENCY") or "USD") == s.currency, (where, d["DOCID"], d.get("CURRENCY"))
        if self.numbering == "prefix" and invoices:
            entry = self.books.ledger.get(s.connection_id, ORDER_ID)
            number = f"Sales Invoice-{s.letter}-{ORDER_ID}"  # -R<n> once re-opened
            assert entry is not None and str(entry.document_key).startswith(number), (where, entry.document_key)
        if self.created_from and credits:
            # Converted from the order's invoice, up to its total; any credit beyond it unlinked.
            entry = self.books.ledger.get(s.connection_id, ORDER_ID)
            assert entry is not None
            linked = [d for d in credits if d.get("CREATEDFROM")]
            assert all(d["CREATEDFROM"] == entry.document_key for d in linked), where
            [main] = [d for d in invoices if d["DOCID"] == entry.document_key]
            assert sum((abs(D(str(d["TOTAL"]))) for d in linked), D(0)) <= D(str(main["TOTAL"])), where
            assert len(linked) == len(credits) or t.edited_after_payment, (where, "unlinked within the invoice")
        if self.payout == "debit_memo":
            # Each refund's money back is recorded once, and settled by its credit memo.
            memos = owned["debit_memos"]
            paid_back = sum((D(str(a["TOTALENTERED"])) for a in memos), D(0))
            assert paid_back == t.refunded, (where, "paid out", paid_back, t.refunded, self.outcomes)
            assert all(D(str(a["TOTALDUE"])) == 0 for a in memos), (where, "a debit memo left open")
        else:
            assert owned["debit_memos"] == [], where
        if not t.live and not t.paid:
            if self.unpaid == "close":
                assert all(d["STATE"] == "Closed" for d in invoices), where
            else:
                assert invoices == [], f"{where}: an unpaid cancelled or failed order's invoice is deleted"
            assert credits == [], where
            return
        paid = sum((D(str(p["TOTALENTERED"])) for p in owned["payments"]), D(0))
        assert paid == t.paid, f"{where}: each payment once, on its own invoice ({paid} != {t.paid})"
        invoiced = sum((D(str(d["TOTAL"])) for d in invoices), D(0))
        credited = sum((abs(D(str(d["TOTAL"]))) for d in credits), D(0))
        if t.edited_after_payment:
            # The books net to what the channel kept: the invoice plus additions, less credits.
            net = D(0) if t.cancelled else o.total - t.refunded
            assert invoiced - credited == net, (where, invoiced, credited, net, self.outcomes)
            return
        [invoice] = invoices
        assert D(str(invoice["TOTAL"])) == o.total, f"{where}: the invoice is the channel's last state"
        expected_credit = o.total if t.cancelled else min(t.refunded, o.total)
        assert credited == expected_credit, (where, credited, expected_credit, self.outcomes)


@pytest.mark.slow
def test_every_generated_lifecycle_books_what_the_channel_shows(sandbox: IntacctSandbox) -> None:
    Lifecycle.sandbox = sandbox
    run = settings(
        max_examples=int(os.environ.get("LIFECYCLE_EXAMPLES", "100")),
        stateful_step_count=int(os.environ.get("LIFECYCLE_STEPS", "20")),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    run_state_machine_as_test(Lifecycle, settings=run)
