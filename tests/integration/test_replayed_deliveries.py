"""Replayed and re-labelled deliveries against the real intake, the order poster, the Intacct
sandbox and the channel sandbox: Shopify and WooCommerce sign only the body, so a captured order
body re-sent under a deletion topic with fresh id headers must never delete, close or credit a
live invoice; deletions dedup on the order; an old "cancelled" body replayed after the order moved
on changes nothing; a real deletion (confirmed by the channel) still deletes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from intacct_sync.channels.base import parse_datetime
from intacct_sync.connections import InMemoryConnections
from intacct_sync.intacct import IntacctClient, SessionCache
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.ledger import InMemoryLedger, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.outcome import Outcome
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.queues import ORDER_QUEUE_TYPES
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import DEFAULT_SETTINGS
from intacct_sync.state import InMemoryStateStore
from intacct_sync.wiring import ChannelFetcher
from local.channel_sandbox import ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.conftest import RecordingSleep, make_credentials
from tests.fixtures.channels.sign import hmac_b64, shopify_headers, woocommerce_headers

SHOP, WOO = "demo.myshopify.com", "demo-woo"
UNPAID_SHOPIFY_ORDER = 5820094660683  # the seeded yen bank transfer: invoiced, nothing paid yet
PAID_WOO_ORDER = 727


class ListQueue:
    """The FIFO queues as the intake sees them: a message whose dedup id (the event id) was sent
    before is dropped (SQS does so for 5 minutes; these tests run within them)."""

    def __init__(self) -> None:
        self.events: list[CanonicalEvent] = []
        self.sent: set[str] = set()

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        for e in events:
            if e.event_id not in self.sent:
                self.sent.add(e.event_id)
                self.events.append(e)

    def take(self) -> list[CanonicalEvent]:
        out, self.events = self.events, []
        return out


class Store:
    """One store wired as the stack wires it: webhook intake -> queue -> order poster, which asks
    the channel (sandbox) through the connection's API before destructive work."""

    def __init__(self, channels: ChannelSandbox, intacct: IntacctSandbox, channel: str, store: str) -> None:
        self.channels, self.intacct, self.channel, self.store = channels, intacct, channel, store
        self.connection = Connection.model_validate(channels.connection_secret(channel, store, f"{channel}-main"))
        connections = InMemoryConnections([self.connection])
        self.queue = ListQueue()
        self.state = InMemoryStateStore()
        self.intake = WebhookIntake(connections, EventPipeline(self.state, self.queue))
        self.ledger = InMemoryLedger()
        client = IntacctClient(
            make_credentials(intacct), sessions=SessionCache(), backoff=Backoff(0.01, 0.05, 3), sleep=RecordingSleep()
        )
        fetcher = ChannelFetcher(connections)
        self.poster = OrderPoster(client, self.ledger, DEFAULT_SETTINGS, fetch_order=fetcher.events)
        self.payments = PaymentPoster(client, self.ledger, DEFAULT_SETTINGS, fetch_order=fetcher.order)

    def body(self, order_id: int) -> bytes:
        """The order as the channel's webhook would carry it (what an attacker could capture)."""
        return json.dumps(self.channels.order(self.channel, self.store, order_id)).encode()

    def send(self, body: bytes, topic: str, delivery: str) -> int:
        secret = self.connection.webhook_secret
        assert secret is not None
        if self.channel == "shopify":
            headers = shopify_headers(
                body, topic, secret=secret.get_secret_value(), event_id=delivery, webhook_id=delivery
            )
        else:
            headers = woocommerce_headers(body, topic, secret=secret.get_secret_value(), delivery_id=delivery)
        assert headers.get("X-Shopify-Hmac-Sha256", headers.get("X-WC-Webhook-Signature")) == hmac_b64(
            secret.get_secret_value(), body
        )
        return self.intake.handle(self.connection.id, headers, body).status

    def consume(self) -> dict[str, Outcome]:
        """The orders queue, then the payments queue; the order events' outcomes."""
        events = self.queue.take()
        orders = [e for e in events if e.type in ORDER_QUEUE_TYPES]
        money = [e for e in events if e.type not in ORDER_QUEUE_TYPES]
        outcomes = self.poster(orders, Deadline.after(30)) if orders else {}
        if money:
            paid = self.payments(money, Deadline.after(30))
            assert {o.status for o in paid.values()} == {"done"}, paid
        return outcomes

    def entry(self, order_id: int) -> LedgerEntry:
        entry = self.ledger.get(self.connection.id, str(order_id))
        assert entry is not None
        return entry

    def open_invoices(self) -> list[str]:
        return sorted(
            str(d.get("DOCID"))
            for d in self.intacct.snapshot()["invoices"]
            if d.get("DOCPARID", d.get("type")) == "Sales Invoice" and d.get("STATE") not in ("Closed", "Deleted")
        )

    def credit_memos(self) -> list[dict[str, Any]]:
        return [d for d in self.intacct.snapshot()["documents"] if d.get("DOCPARID") == "Sales Credit Memo"]


def invoiced(store: Store, order_id: int, topic: str) -> str:
    assert store.send(store.body(order_id), topic, "first-delivery") == 202
    outcomes = store.consume()
    assert {o.status for o in outcomes.values()} == {"done"}, outcomes
    document = store.entry(order_id).document_key
    assert document is not None
    assert document in store.open_invoices()
    return document


@pytest.mark.parametrize(
    "case",
    [
        ("shopify", SHOP, UNPAID_SHOPIFY_ORDER, "orders/create", "orders/delete"),
        ("woocommerce", WOO, PAID_WOO_ORDER, "order.created", "order.deleted"),
    ],
)
def test_a_captured_order_body_replayed_as_a_deletion_never_touches_the_invoice(
    channels: ChannelSandbox, sandbox: IntacctSandbox, case: tuple[str, str, int, str, str]
) -> None:
    channel, store_key, order_id, topic, delete_topic = case
    store = Store(channels, sandbox, channel, store_key)
    document = invoiced(store, order_id, topic)

    # The attacker replays the captured, correctly signed body under the deletion topic, with a
    # fresh id header each time: one is accepted (deletions dedup on the order), none deletes.
    statuses = [store.send(store.body(order_id), delete_topic, f"forged-{i}") for i in range(5)]
    assert statuses[0] == 202
    assert set(statuses[1:]) == {200}, "a deletion is one per order, whatever the id headers say"
    outcomes = store.consume()
    assert [o.reason for o in outcomes.values()] == ["deletion not confirmed by the channel: ignored"]
    assert document in store.open_invoices(), "the live order's invoice is still there"
    entry = store.entry(order_id)
    assert entry.status in ("invoiced", "paid")
    assert any("deletion notice not acted on" in str(n) for n in entry.history)
    assert store.credit_memos() == []


def test_a_real_shopify_deletion_is_confirmed_by_the_channel_and_deletes_the_unpaid_invoice(
    channels: ChannelSandbox, sandbox: IntacctSandbox
) -> None:
    store = Store(channels, sandbox, "shopify", SHOP)
    document = invoiced(store, UNPAID_SHOPIFY_ORDER, "orders/create")
    channels.delete_order("shopify", SHOP, UNPAID_SHOPIFY_ORDER)  # the merchant deletes it: GET now answers 404
    body = json.dumps({"id": UNPAID_SHOPIFY_ORDER}).encode()
    assert store.send(body, "orders/delete", "real-deletion") == 202
    outcomes = store.consume()
    assert [o.status for o in outcomes.values()] == ["done"]
    assert document not in store.open_invoices()
    assert store.entry(UNPAID_SHOPIFY_ORDER).status == "deleted"


def test_a_real_woocommerce_trashing_of_a_paid_order_is_confirmed_and_credited_once(
    channels: ChannelSandbox, sandbox: IntacctSandbox
) -> None:
    store = Store(channels, sandbox, "woocommerce", WOO)
    invoiced(store, PAID_WOO_ORDER, "order.created")
    assert store.entry(PAID_WOO_ORDER).payments, "processing = paid: the payment was applied"
    channels.delete_order("woocommerce", WOO, PAID_WOO_ORDER)  # trashed: the API still returns it, status trash
    body = json.dumps({"id": PAID_WOO_ORDER}).encode()
    assert store.send(body, "order.deleted", "real-1") == 202
    assert store.send(body, "order.deleted", "real-2") == 200
    outcomes = store.consume()
    assert [o.status for o in outcomes.values()] == ["done"], outcomes
    memos = store.credit_memos()
    assert len(memos) == 1
    assert store.entry(PAID_WOO_ORDER).status == "credited"


def test_an_old_cancelled_body_replayed_after_the_order_moved_on_changes_nothing(
    channels: ChannelSandbox, sandbox: IntacctSandbox
) -> None:
    store = Store(channels, sandbox, "woocommerce", WOO)
    order = channels.order("woocommerce", WOO, PAID_WOO_ORDER)
    cancelled = dict(order, status="cancelled")
    modified = parse_datetime(order["date_modified_gmt"], "x", naive_is_utc=True)
    cancelled["date_modified_gmt"] = (modified - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%S")
    old_body = json.dumps(cancelled).encode()  # captured 40 days ago, before the order was re-opened
    document = invoiced(store, PAID_WOO_ORDER, "order.created")
    assert store.send(old_body, "order.updated", "replay-after-dedup-expiry") == 200, "stale at intake"
    assert store.queue.events == []
    # Even if it reached the consumer (a message already queued), the ledger's version wins.
    events = WebhookIntake(
        InMemoryConnections([store.connection]), EventPipeline(InMemoryStateStore(), store.queue)
    ).handle(
        store.connection.id,
        woocommerce_headers(old_body, "order.updated", secret=store.connection.webhook_secret.get_secret_value()),  # type: ignore[union-attr]
        old_body,
    )
    assert events.status == 202
    outcomes = store.consume()
    assert {o.reason for o in outcomes.values()} == {"stale: a newer state was already applied"}
    assert document in store.open_invoices()
