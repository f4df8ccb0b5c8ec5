"""The intake's claims, decision by decision (`intake.pipeline`, `state`): what a delivery finds on
its order's item decides what it sends, and every failure or crash between its two calls leaves
something the next delivery (or, for WooCommerce, the poll) turns into exactly one more send. The
in-memory store is held to the DynamoDB one (moto) on the same sequence of writes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from intacct_sync.channels import receive
from intacct_sync.intake.pipeline import EventPipeline, SubmitResult
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import QueueUnavailable
from intacct_sync.state import (
    DEDUP_DAYS,
    MAX_CLAIMS,
    Claim,
    DynamoStateStore,
    InMemoryStateStore,
    OrderState,
    StateStore,
    claim_name,
    claim_value,
    prunable,
)
from tests.aws import Stack
from tests.fixtures.channels import sign

NOW = 1_800_000_000


class Queue:
    """Records what was sent, one list per publish; can fail or crash on demand."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.carried: list[frozenset[str]] = []
        self.fail: BaseException | None = None

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append([e.event_id for e in events])
        self.carried.append(carried)

    def take(self) -> list[list[str]]:
        out, self.sent = self.sent, []
        return out


class Crash(BaseException):
    """The runtime dying between two calls."""


def shopify(name: str, topic: str, *, event_id: str = "evt-1", **changes: Any) -> list[CanonicalEvent]:
    body = json.loads(sign.load("shopify", name))
    body.update(changes)
    raw = json.dumps(body).encode()
    events = receive(sign.shopify_headers(raw, topic, event_id=event_id), raw, sign.connection("shopify"))
    assert isinstance(events, list) and events
    return events


def woo(name: str = "order_updated_stripe_paid.json", **changes: Any) -> list[CanonicalEvent]:
    body = json.loads(sign.load("woocommerce", name))
    body.update(changes)
    raw = json.dumps(body).encode()
    events = receive(sign.woocommerce_headers(raw, "order.updated"), raw, sign.connection("woocommerce"))
    assert isinstance(events, list) and events
    return events


def polled(events: list[CanonicalEvent]) -> list[CanonicalEvent]:
    """The same states as the reconcile poll would list them: order states under the poll's own ids."""
    return [e.model_copy(update={"event_id": f"poll:{e.event_id}"}) if e.type == "order" else e for e in events]


ORDER = "orders_paid_us_tax_exclusive_discount.json"


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> Iterator[StateStore]:
    if request.param == "memory":
        yield InMemoryStateStore()
        return
    stack: Stack = request.getfixturevalue("aws")
    yield DynamoStateStore(stack.table, client=stack.dynamodb)


def pipeline(store: StateStore, queue: Queue, now: list[int]) -> EventPipeline:
    return EventPipeline(store, queue, clock=lambda: now[0])


def ids(events: list[CanonicalEvent]) -> list[str]:
    return [e.event_id for e in events]


def outcome(result: SubmitResult) -> dict[str, list[str]]:
    return {
        k: ids(v)
        for k, v in {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "resent": result.resent,
            "stale": result.stale,
        }.items()
        if v
    }


# --- the store primitives, the same on both stores ------------------------------------------------


def test_a_claim_adds_only_what_is_new_and_answers_the_item_as_it_was(store: StateStore) -> None:
    a, b = claim_name("a"), claim_name("b")
    written, before = store.claim("c:1", {a: "p1|v1"}, version="v1", not_older_than="v1")
    assert (written, before) == (True, OrderState())
    written, before = store.claim("c:1", {a: "p2|v2", b: "p2"}, version="v2", not_older_than="v2")
    assert written and before.version == "v1" and before.claims == {a: Claim.parse("p1|v1")}
    written, before = store.claim("c:1", {claim_name("old"): "p3|v0"}, version="v0", not_older_than="v0")
    assert not written and before.version == "v2", "older than the version: nothing written"
    assert store.read(["c:1"])["c:1"].claims == {a: Claim.parse("p1|v1"), b: Claim.parse("p2")}


def test_release_removes_claims_only_while_they_are_untouched(store: StateStore) -> None:
    a, b = claim_name("a"), claim_name("b")
    store.claim("c:1", {a: "p1", b: "p1"}, version=None, not_older_than=None)
    store.settle("c:1", {b: "s1"}, version=None, remove=[])
    store.release("c:1", {a: "p1", b: "p1"})  # b was settled meanwhile: both stay
    assert set(store.read(["c:1"])["c:1"].claims) == {a, b}
    store.release("c:1", {a: "p1"})
    assert set(store.read(["c:1"])["c:1"].claims) == {b}


def test_settle_marks_sent_advances_the_version_only_forward_and_prunes(store: StateStore) -> None:
    a, b = claim_name("a"), claim_name("b")
    store.claim("c:1", {a: "p1|v2", b: "p1|v1"}, version="v2", not_older_than=None)
    store.settle("c:1", {a: "s1|v2"}, version="v1", remove=[b])
    state = store.read(["c:1"])["c:1"]
    assert state.version == "v2" and state.claims == {a: Claim.parse("s1|v2")}
    assert state.covered("v2", retried_since=None)
    assert store.read(["c:2"]) == {}


# --- webhook deliveries ----------------------------------------------------------------------------


def test_a_new_delivery_is_sent_its_copy_resent_once_and_then_answered_from_the_record(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = shopify(ORDER, "orders/paid")
    assert outcome(pipeline(store, queue, now).submit(events)) == {"accepted": ids(events)}
    assert queue.take() == [ids(events)]
    now[0] += 3600
    assert outcome(pipeline(store, queue, now).submit(events)) == {"resent": ids(events)}
    assert queue.take() == [ids(events)], "not known to be sent: sent again (same dedup ids)"
    assert outcome(pipeline(store, queue, now).submit(events)) == {"duplicates": ids(events)}
    assert queue.take() == []


def test_an_older_state_is_stale_and_leaves_no_claim(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    pipeline(store, queue, now).submit(shopify(ORDER, "orders/updated", updated_at="2030-01-01T00:00:00Z"))
    queue.take()
    old = shopify(ORDER, "orders/updated", event_id="evt-old")
    assert outcome(pipeline(store, queue, now).submit(old)) == {"stale": ids(old)}
    assert queue.take() == []
    assert all(claim_name(e.event_id) not in store.read([old[0].group_id])[old[0].group_id].claims for e in old)


def test_a_new_state_sends_only_its_new_events_not_a_refund_another_delivery_claimed(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    order = json.loads(sign.load("shopify", ORDER))
    refund = json.loads(sign.load("shopify", "refunds_create.json")) | {"order_id": order["id"]}
    raw = json.dumps(refund).encode()
    refund_events = receive(sign.shopify_headers(raw, "refunds/create"), raw, sign.connection("shopify"))
    assert isinstance(refund_events, list)
    pipeline(store, queue, now).submit(refund_events)
    queue.take()
    updated = shopify(ORDER, "orders/updated", event_id="evt-u", refunds=[refund])
    result = pipeline(store, queue, now).submit(updated)
    assert ids(result.accepted) == [e.event_id for e in updated if e.type == "order"]
    assert ids(result.duplicates) == ids(refund_events)
    assert queue.take() == [ids(result.accepted)]


def test_a_failed_send_removes_its_claims_so_the_retry_is_new(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = shopify(ORDER, "orders/paid")
    queue.fail = QueueUnavailable("down")
    with pytest.raises(QueueUnavailable):
        pipeline(store, queue, now).submit(events)
    queue.fail = None
    assert outcome(pipeline(store, queue, now).submit(events)) == {"accepted": ids(events)}
    assert queue.take() == [ids(events)]


def test_a_crash_between_claim_and_send_is_sent_by_the_retry_exactly_once_more(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = shopify(ORDER, "orders/paid")
    queue.fail = Crash()
    with pytest.raises(Crash):
        pipeline(store, queue, now).submit(events)
    queue.fail = None
    assert outcome(pipeline(store, queue, now).submit(events)) == {"resent": ids(events)}
    assert queue.take() == [ids(events)]
    assert outcome(pipeline(store, queue, now).submit(events)) == {"duplicates": ids(events)}
    assert queue.take() == []


def test_a_woocommerce_order_first_seen_paid_carries_its_payment_on_the_orders_queue(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = woo()
    assert [e.type for e in events] == ["order", "payment"]
    payment: list[CanonicalEvent] = [e for e in events if e.type == "payment"]
    assert outcome(pipeline(store, queue, now).submit(events)) == {"accepted": ids(events)}
    assert queue.take() == [ids(events)] and queue.carried == [frozenset(ids(payment))], "one send, one queue"
    # The order consumer hands it on through the pipeline: claimed, not known to be sent, so it is
    # sent (to its own queue now: nothing carried) and marked sent.
    assert outcome(pipeline(store, queue, now).submit(payment)) == {"resent": ids(payment)}
    assert queue.take() == [ids(payment)] and queue.carried[-1] == frozenset()
    assert outcome(pipeline(store, queue, now).submit(payment)) == {"duplicates": ids(payment)}
    assert queue.take() == []


def test_a_carried_payment_the_redelivery_sent_directly_is_not_handed_on_again(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = woo()
    payment: list[CanonicalEvent] = [e for e in events if e.type == "payment"]
    pipeline(store, queue, now).submit(events)
    queue.take()
    queue.carried.clear()
    # A redelivery (or the poll) sends every unsent claim again, each to its own queue, and marks it
    # sent: "sent" always means on its own queue.
    assert outcome(pipeline(store, queue, now).submit(events)) == {"resent": ids(events)}
    assert queue.take() == [ids(events)] and queue.carried == [frozenset()]
    assert outcome(pipeline(store, queue, now).submit(payment)) == {"duplicates": ids(payment)}
    assert queue.take() == []


def test_a_crashed_carrying_delivery_is_resent_each_event_to_its_own_queue(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = woo()
    queue.fail = Crash()
    with pytest.raises(Crash):
        pipeline(store, queue, now).submit(events)
    queue.fail = None
    assert outcome(pipeline(store, queue, now).submit(events)) == {"resent": ids(events)}
    assert queue.take() == [ids(events)] and queue.carried == [frozenset()]


def test_one_delivery_repeating_an_event_id_sends_it_once(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = shopify(ORDER, "orders/paid")
    result = pipeline(store, queue, now).submit([*events, *events])
    assert ids(result.accepted) == ids(events) and ids(result.duplicates) == ids(events)
    assert queue.take() == [ids(events)]


# --- the reconcile poll ----------------------------------------------------------------------------


def test_the_poll_sends_nothing_for_a_state_a_retrying_channel_still_owns(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = shopify(ORDER, "orders/paid")
    queue.fail = Crash()  # died after its claim: Shopify retries for 4 hours
    with pytest.raises(Crash):
        pipeline(store, queue, now).submit(events)
    queue.fail = None
    now[0] += 900
    result = pipeline(store, queue, now).submit(polled(events), strictly_newer=True)
    assert result.accepted == [] and queue.take() == []
    now[0] += 5 * 3600  # Shopify gave up: the poll is the last chance
    result = pipeline(store, queue, now).submit(polled(events), strictly_newer=True)
    assert ids(result.accepted) == ids(polled(events))
    assert queue.take() == [ids(polled(events))]
    result = pipeline(store, queue, now).submit(polled(events), strictly_newer=True)
    assert result.accepted == [] and queue.take() == [], "recorded as sent: once"


def test_the_poll_sends_again_a_woocommerce_state_not_known_to_be_sent_and_records_it(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    events = woo()
    assert pipeline(store, queue, now).submit(events).accepted
    queue.take()
    now[0] += 900
    result = pipeline(store, queue, now).submit(polled(events), strictly_newer=True)
    assert ids(result.accepted) == ids(polled(events)), "WooCommerce never retries: the poll sends it"
    assert queue.take() == [ids(polled(events))]
    assert pipeline(store, queue, now).submit(polled(events), strictly_newer=True).accepted == []
    # The webhook's own claims of that state are recorded as sent too: a redelivery sends nothing.
    assert outcome(pipeline(store, queue, now).submit(events)) == {"duplicates": ids(events)}
    assert queue.take() == []


def test_the_poll_sends_a_newer_state_and_records_its_version(store: StateStore) -> None:
    queue, now = Queue(), [NOW]
    pipeline(store, queue, now).submit(shopify(ORDER, "orders/paid"))
    queue.take()
    newer = polled(shopify(ORDER, "orders/updated", updated_at="2030-01-01T00:00:00Z"))
    assert ids(pipeline(store, queue, now).submit(newer, strictly_newer=True).accepted) == ids(newer)
    late = shopify(ORDER, "orders/updated", event_id="evt-late")
    assert outcome(pipeline(store, queue, now).submit(late)) == {"stale": ids(late)}


# --- pruning ---------------------------------------------------------------------------------------


def test_prunable_drops_superseded_states_expired_claims_and_the_oldest_beyond_the_cap() -> None:
    state = OrderState(
        version="v9",
        claims={
            "e-old-state": Claim.parse(claim_value(sent=True, at=NOW, version="v1")),
            "e-current": Claim.parse(claim_value(sent=False, at=NOW, version="v9")),
            "e-expired": Claim.parse(claim_value(sent=True, at=NOW - DEDUP_DAYS * 86_400 - 1, version=None)),
            "e-refund": Claim.parse(claim_value(sent=True, at=NOW, version=None)),
        },
    )
    assert sorted(prunable(state, now=NOW)) == ["e-expired", "e-old-state"]
    assert prunable(state, now=NOW, keep=frozenset({"e-old-state"})) == ["e-expired"]
    many = OrderState(
        claims={f"e{i:03d}": Claim.parse(claim_value(sent=True, at=NOW + i, version=None)) for i in range(70)}
    )
    assert sorted(prunable(many, now=NOW)) == [f"e{i:03d}" for i in range(70 - MAX_CLAIMS // 2)], "newest half kept"
    assert prunable(OrderState(claims=dict(list(many.claims.items())[:MAX_CLAIMS])), now=NOW) == []
