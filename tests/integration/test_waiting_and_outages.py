"""Waiting without a clock (issue 13), against the Intacct sandbox with simulated time.

The two consumers run as the event source mapping runs them: `process_batch` with the stack's
circuit breaker (DynamoDB in moto) over SQS FIFO queues simulated here with a fake clock, so hours
pass in seconds: each receive counts, a record reported as failed comes back when its visibility
ends, the receive after the 8th moves it to its dead-letter queue (maxReceiveCount, no reason
attached), ChangeMessageVisibility and SendMessageBatch work as in SQS. The posters, the ledger,
the breaker and the Intacct client are the real ones.

Shown: a payment and a refund before their order, the order delayed for hours (far beyond 8 x 540 s),
each applied once; an order parked and fixed, its waiting payment applied after the replay of
the order alone; an Intacct outage of 6 hours (40 x the visibility timeout), then recovery with no
dead-letter message and every document posted once.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from intacct_sync.intacct import IntacctClient, SessionCache
from intacct_sync.ledger import DynamoLedger
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Order
from intacct_sync.posting import breaker as breaker_module
from intacct_sync.posting.breaker import ConsumerGuard, IntacctBreaker, watch
from intacct_sync.posting.consumer import DeadLetterParking, process_batch
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.queues import decode, encode
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import Settings
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.aws import Stack
from tests.conftest import RecordingSleep, make_credentials
from tests.integration.test_posting_consumers import order_event, payment_event, refund_event, shirt_order
from tests.unit.posting.factories import line, settings

VISIBILITY_S = 540
MAX_RECEIVES = 8


# --- SQS FIFO with a fake clock ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Message:
    message_id: str
    body: str
    group: str
    attributes: dict[str, str]
    receives: int = 0
    visible_at: float = 0.0
    receipt: str | None = None


@dataclass
class FakeFifo:
    url: str
    clock: Clock
    dlq: FakeFifo | None = None
    messages: list[Message] = field(default_factory=list)
    dedup: dict[tuple[str, str], float] = field(default_factory=dict)
    max_receives_seen: int = 0

    def send(self, body: str, group: str, dedup_id: str, attributes: dict[str, str]) -> None:
        key = (group, dedup_id)
        if self.clock() - self.dedup.get(key, -1e18) < 300:
            return  # FIFO deduplication window (scope: message group)
        self.dedup[key] = self.clock()
        self.messages.append(Message(f"m{next(_IDS)}", body, group, dict(attributes)))

    def receive(self, limit: int = 10) -> list[Message]:
        now = self.clock()
        blocked = {m.group for m in self.messages if m.receipt is not None and m.visible_at > now}
        out: list[Message] = []
        for m in list(self.messages):
            if len(out) >= limit:
                break
            if m.group in blocked or m.visible_at > now:
                blocked.add(m.group)  # FIFO: nothing behind an invisible message of its group
                continue
            if m.receives >= MAX_RECEIVES:  # SQS redrive: the receive after the 8th
                self.messages.remove(m)
                assert self.dlq is not None
                self.dlq.messages.append(m)
                continue
            m.receives += 1
            self.max_receives_seen = max(self.max_receives_seen, m.receives)
            m.visible_at = now + VISIBILITY_S
            m.receipt = f"r{next(_IDS)}"
            out.append(m)
        return out

    def delete(self, receipt: str) -> None:
        self.messages = [m for m in self.messages if m.receipt != receipt]

    def by_receipt(self, receipt: str) -> Message:
        return next(m for m in self.messages if m.receipt == receipt)


_IDS = itertools.count(1)


class FakeSqs:
    """The boto3 SQS calls the consumers make, over FakeFifo queues."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.queues: dict[str, FakeFifo] = {}
        for name in ("orders", "payments"):
            dlq = self.queues[f"{name}-dlq"] = FakeFifo(f"{name}-dlq", clock)
            self.queues[name] = FakeFifo(name, clock, dlq=dlq)

    def send_message(self, **kw: Any) -> dict[str, Any]:
        attrs = {k: v["StringValue"] for k, v in kw.get("MessageAttributes", {}).items()}
        self.queues[kw["QueueUrl"]].send(kw["MessageBody"], kw["MessageGroupId"], kw["MessageDeduplicationId"], attrs)
        return {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        for e in Entries:
            self.send_message(QueueUrl=QueueUrl, **e)
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        q = self.queues[QueueUrl]
        for e in Entries:
            q.by_receipt(e["ReceiptHandle"]).visible_at = self.clock() + e["VisibilityTimeout"]
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def publish(self, events: list[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        for event in events:
            m = encode(event, lambda _k, _d: None)
            self.queues["orders" if event.event_id in carried else m.queue].send(
                m.body, m.group_id, m.dedup_id, m.attributes
            )


# --- the stack -----------------------------------------------------------------------------------------


class Stack13:
    def __init__(self, aws: Stack, sandbox: IntacctSandbox, s: Settings) -> None:
        self.sandbox = sandbox
        self.clock = Clock()
        self.sqs = FakeSqs(self.clock)
        self.ledger = DynamoLedger(aws.table, client=aws.dynamodb)
        self.breaker = IntacctBreaker(aws.table, client=aws.dynamodb, clock=self.clock)
        self.orders: dict[str, Order] = {}

        def client() -> IntacctClient:
            return IntacctClient(
                make_credentials(sandbox),
                sessions=SessionCache(),
                backoff=Backoff(0.01, 0.02, 2),
                sleep=RecordingSleep(),
            )

        def fetch(event: CanonicalEvent, _d: Deadline) -> Order | None:
            return self.orders.get(event.order_id)

        self.order_poster = OrderPoster(client(), self.ledger, s, forward=self.sqs.publish)
        self.payment_poster = PaymentPoster(client(), self.ledger, s, fetch_order=fetch)

    def consume(self, kind: str) -> int:
        """One invocation of a consumer on what its queue hands out now; records handled."""
        q = self.sqs.queues[kind]
        got = q.receive()
        if not got:
            return 0
        records = [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {"MessageGroupId": m.group, "ApproximateReceiveCount": str(m.receives)},
                "messageAttributes": {k: {"stringValue": v, "dataType": "String"} for k, v in m.attributes.items()},
            }
            for m in got
        ]
        poster = self.order_poster if kind == "orders" else self.payment_poster
        guard = ConsumerGuard(self.breaker, kind, sqs=self.sqs, rng=lambda: 0.5)
        watch(poster.client, guard)
        out = process_batch(
            {"Records": records},
            decode=lambda body: decode(body, lambda _k: b""),
            poster=poster,
            park=DeadLetterParking(f"{kind}-dlq", sqs=self.sqs),
            deadline=Deadline.after(30),
            guard=guard,
        )
        failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
        for m in got:
            if m.message_id not in failed:
                q.delete(m.receipt or "")
        return len(got)

    def run_for(self, seconds: float, *, step: float = 60) -> None:
        """Simulated time passing, both consumers taking whatever becomes visible."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            for _ in range(20):
                if not (self.consume("orders") + self.consume("payments")):
                    break
            self.clock.now += step

    def drain(self, limit_s: float = 4 * 3600) -> None:
        end = self.clock.now + limit_s
        while self.pending() and self.clock.now < end:
            self.run_for(60)
        assert not self.pending(), [m.message_id for q in ("orders", "payments") for m in self.sqs.queues[q].messages]

    def pending(self) -> int:
        return len(self.sqs.queues["orders"].messages) + len(self.sqs.queues["payments"].messages)

    def dead_letters(self) -> list[Message]:
        return self.sqs.queues["orders-dlq"].messages + self.sqs.queues["payments-dlq"].messages

    def place(self, o: Order) -> None:
        self.orders[o.order_id] = o
        self.sqs.publish([order_event(o)])

    def docs(self, docparid: str) -> list[dict[str, Any]]:
        return [d for d in self.sandbox.snapshot()["documents"] if d.get("DOCPARID") == docparid]


@pytest.fixture
def stack13(aws: Stack, sandbox: IntacctSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack13]:
    monkeypatch.setattr(breaker_module, "_WAITS_REPORTED", [0.0])
    yield Stack13(aws, sandbox, settings())


# --- payments and refunds before their order -------------------------------------------------------------


def test_a_payment_and_a_refund_wait_in_the_ledger_for_hours_and_are_applied_once(stack13: Stack13) -> None:
    a, b = shirt_order("9301"), shirt_order("9302")
    pay_a = payment_event(a, "p-9301", str(a.total))
    pay_b, refund_b = payment_event(b, "p-9302", str(b.total)), refund_event(b, "r-9302", "12.50")
    stack13.sqs.publish([pay_a, pay_b, refund_b])
    stack13.run_for(120)
    # Done on the queue at their first receive: they wait in the ledger, not on SQS.
    assert stack13.pending() == 0 and stack13.sqs.queues["payments"].max_receives_seen == 1
    [entry] = [e for e in stack13.ledger.waiting_entries() if e.order_id == "9302"]
    assert set(entry.waiting) == {"payment:p-9302", "refund:r-9302"}
    assert "not posted yet" in entry.waiting["payment:p-9302"].reason
    assert len(stack13.ledger.waiting_entries()) == 2 and stack13.ledger.waiting_entries(limit=1)

    # The same payment delivered again while it waits (another event id: the reconcile poll): one wait.
    stack13.sqs.publish([pay_a.model_copy(update={"event_id": "reconciled-p-9301"})])
    stack13.run_for(10 * 3600)  # ten hours: 66 x the 540 s visibility, far beyond 8 receives
    assert len(stack13.ledger.get(a.connection_id, a.order_id).waiting) == 1  # type: ignore[union-attr]

    stack13.place(a)
    stack13.place(b)
    stack13.drain()
    assert stack13.dead_letters() == []
    assert len(stack13.docs("Sales Invoice")) == 2
    payments = stack13.sandbox.snapshot()["payments"]
    assert sorted(str(p["TOTALENTERED"]) for p in payments) == sorted([str(a.total), str(b.total)])
    assert len(stack13.docs("Sales Credit Memo")) == 1
    for o in (a, b):
        entry = stack13.ledger.get(o.connection_id, o.order_id)
        assert entry is not None and entry.waiting == {} and entry.status == "paid"
    assert stack13.ledger.waiting_entries() == []

    # Delivered once more after it was applied: a duplicate, nothing posted.
    stack13.sqs.publish([pay_a.model_copy(update={"event_id": "late-p-9301"})])
    stack13.drain()
    assert len(stack13.sandbox.snapshot()["payments"]) == 2 and stack13.dead_letters() == []


def test_a_parked_orders_payment_is_applied_after_the_replay_of_the_order_alone(stack13: Stack13) -> None:
    o = shirt_order("9303", lines=[line("1", "NEW-SKU", "1", "10.00")], total_tax="0")
    stack13.place(o)
    stack13.run_for(60)
    [parked] = stack13.sqs.queues["orders-dlq"].messages
    assert "NEW-SKU" in parked.attributes["parked_reason"] and parked.attributes["parked_fix"]
    stack13.sqs.publish([payment_event(o, "p-9303", str(o.total))])
    stack13.run_for(12 * 3600)  # the fix takes half a day
    entry = stack13.ledger.get(o.connection_id, o.order_id)
    assert entry is not None and entry.status == "parked" and "payment:p-9303" in entry.waiting
    assert stack13.sqs.queues["payments-dlq"].messages == [] and stack13.pending() == 0

    fixed = settings(items={"sku_map": {"NEW-SKU": "MUG-01"}})
    stack13.order_poster.settings = stack13.payment_poster.settings = fixed
    # `intacct-sync ops replay`: the order's parked message back on its queue; the payment is not touched.
    stack13.sqs.queues["orders-dlq"].messages.clear()
    stack13.sqs.queues["orders"].send(parked.body, parked.group, "replay-1", {})
    stack13.drain()
    entry = stack13.ledger.get(o.connection_id, o.order_id)
    assert entry is not None and entry.status == "paid" and entry.waiting == {}
    assert len(stack13.docs("Sales Invoice")) == 1 and len(stack13.sandbox.snapshot()["payments"]) == 1
    assert stack13.dead_letters() == []


# --- an Intacct outage of hours ----------------------------------------------------------------------------


def test_an_intacct_outage_of_six_hours_needs_no_replay_and_posts_everything_once(
    stack13: Stack13, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="intacct_sync")
    orders = [shirt_order(str(9400 + i)) for i in range(12)]
    stack13.sandbox.inject(Fault(kind="http_error", status=503, times=None))
    for o in orders:
        stack13.place(o)
        stack13.sqs.publish([payment_event(o, f"p-{o.order_id}", str(o.total))])
    outage_s = 6 * 3600
    assert outage_s >= 5 * MAX_RECEIVES * VISIBILITY_S  # five whole receive budgets
    stack13.run_for(outage_s)
    assert stack13.dead_letters() == [], "nothing redriven or parked during the outage"
    assert stack13.docs("Sales Invoice") == []
    assert stack13.breaker.read().is_open(stack13.clock()) or stack13.breaker.read().half_open(stack13.clock())
    opened = [r for r in caplog.records if r.getMessage() == "intacct circuit open"]
    assert opened and all(r.levelname == "WARNING" for r in opened)
    recycled = [r for r in caplog.records if r.getMessage() == "recycled"]
    assert recycled, "records were sent again before their 7th receive"
    assert stack13.sqs.queues["orders"].max_receives_seen <= breaker_module.RECYCLE_AT

    stack13.sandbox.clear_faults()  # Intacct answers again: nobody replays anything
    stack13.drain()
    assert stack13.dead_letters() == []
    invoices = stack13.docs("Sales Invoice")
    assert sorted(d["DOCID"] for d in invoices) == sorted(f"Sales Invoice-{o.order_id}" for o in orders)
    assert len(stack13.sandbox.snapshot()["payments"]) == len(orders)
    assert stack13.breaker.read().failures == 0
    assert any(r.getMessage() == "intacct answers again" for r in caplog.records)
    for o in orders:
        entry = stack13.ledger.get(o.connection_id, o.order_id)
        assert entry is not None and entry.status == "paid" and entry.waiting == {}
