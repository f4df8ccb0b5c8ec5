"""The writeback against both sandboxes: an invoice created in Intacct puts its number on the
channel order; the invoice paid in Intacct marks the channel order paid; neither happens twice."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.intacct import IntacctClient
from intacct_sync.intacct import functions as fn
from intacct_sync.ledger import InMemoryLedger, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.models.order import Payment
from intacct_sync.posting.mapping import payment_controlid, payment_for
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, ShopifyMetafield, WritebackSettings
from intacct_sync.state import InMemoryStateStore
from intacct_sync.writeback import WritebackReport, writeback_connection
from local.channel_sandbox import ChannelSandbox
from tests.integration.test_posting_sandbox import SETTINGS, fixture_orders, intacct, invoice

__all__ = ["intacct"]  # the fixture, re-used

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
UNPAID_ORDER = {"shopify": "5820094660683", "woocommerce": "728", "bigcommerce": "219"}
WRITEBACK = DEFAULT_SETTINGS.model_copy(
    update={
        "writeback": WritebackSettings(enabled=True, shopify_metafield=ShopifyMetafield()),
        "invoice": SETTINGS.invoice,
    }
)


@pytest.fixture(scope="module")
def _server() -> Iterator[ChannelSandbox]:
    cs = ChannelSandbox.start()
    yield cs
    cs.stop()


@pytest.fixture
def cs(_server: ChannelSandbox) -> ChannelSandbox:
    _server.reset()
    return _server


class World:
    def __init__(self, cs: ChannelSandbox, intacct: IntacctClient, channel: str) -> None:
        self.cs, self.intacct, self.channel = cs, intacct, channel
        self.ledger = InMemoryLedger()
        self.state = InMemoryStateStore()
        self.connection = Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-wb"))

    def run(self) -> WritebackReport:
        client = client_for(
            self.connection, backoff=Backoff(base_s=0.01, cap_s=0.05), sleep=lambda _: None, pacer=Pacer()
        )
        return writeback_connection(
            self.connection,
            self.intacct,
            client,
            self.ledger,
            self.state,
            settings=WRITEBACK,
            deadline=Deadline.after(30),
        )

    def order(self) -> dict[str, Any]:
        return self.cs.order(self.channel, STORES[self.channel], int(UNPAID_ORDER[self.channel]))

    def writes(self) -> list[Any]:
        return [
            r
            for r in self.cs.requests
            if r.channel == self.channel
            and (
                (r.method != "GET" and "graphql" not in r.path)
                or any(op in ("tagsAdd", "metafieldsSet", "orderMarkAsPaid") for op in r.operations)
            )
        ]


def invoiced(world: World) -> tuple[dict[str, str], str]:
    order = fixture_orders()[2]  # JPY 8060, bank transfer: unpaid at invoicing
    doc, customer_id = invoice(world.intacct, order)
    world.ledger.put(
        LedgerEntry(
            connection_id=world.connection.id,
            order_id=UNPAID_ORDER[world.channel],
            channel=world.channel,
            status="invoiced",
            document_key=doc["DOCID"],
            ar_record_key=doc["PRRECORDKEY"],
        )
    )
    return doc, customer_id


def pay_in_intacct(world: World, doc: dict[str, str], customer_id: str) -> None:
    order = fixture_orders()[2]
    payment = Payment(
        connection_id=order.connection_id, channel="shopify", order_id=order.order_id, payment_id="bank-1",
        kind="sale", amount=Decimal("8060"), currency="JPY", gateway="manual", processed_at=order.created_at,
    )  # fmt: skip
    ar = payment_for(payment, customer_id, SETTINGS, record_key=doc["PRRECORDKEY"])
    world.intacct.execute_one(
        fn.create_ar_payment(ar, controlid=payment_controlid(payment)), deadline=Deadline.after(30)
    )


def shows_document(channel: str, order: dict[str, Any], number: str) -> bool:
    if channel == "shopify":
        tags = order["tags"] if isinstance(order["tags"], str) else ", ".join(order["tags"])
        metafields = {(m["namespace"], m["key"]): m["value"] for m in order.get("metafields", [])}
        return f"intacct:{number}" in tags and metafields.get(("intacct", "document_number")) == number
    if channel == "woocommerce":
        return {m["key"]: m["value"] for m in order["meta_data"]}.get("_intacct_document_number") == number
    return number in order["staff_notes"]


def shows_paid(channel: str, order: dict[str, Any]) -> bool:
    if channel == "shopify":
        return order["financial_status"] == "paid"
    if channel == "woocommerce":
        return order["status"] == "processing" and bool(order["date_paid_gmt"])
    return order["status_id"] == 11


@pytest.mark.parametrize("channel", ["shopify", "woocommerce", "bigcommerce"])
def test_document_number_then_paid_state_are_written_back_once(
    cs: ChannelSandbox, client: IntacctClient, intacct: Any, channel: str
) -> None:
    world = World(cs, client, channel)
    doc, customer_id = invoiced(world)
    number = doc["DOCID"].removeprefix("Sales Invoice-")

    first = world.run()
    assert first.documents_written == [UNPAID_ORDER[channel]] and not first.failed
    assert shows_document(channel, world.order(), number)
    assert not shows_paid(channel, world.order())
    entry = world.ledger.get(world.connection.id, UNPAID_ORDER[channel])
    assert entry is not None and entry.writeback.document_number == number

    cs.clear_requests()
    again = world.run()
    assert again.documents_written == [] and again.marked_paid == []
    assert world.writes() == []

    pay_in_intacct(world, doc, customer_id)
    paid = world.run()
    assert paid.marked_paid == [UNPAID_ORDER[channel]]
    assert shows_paid(channel, world.order())

    cs.clear_requests()
    assert world.run().marked_paid == []
    assert world.writes() == []


def test_order_paid_on_the_channel_is_not_marked_again(cs: ChannelSandbox, client: IntacctClient, intacct: Any) -> None:
    world = World(cs, client, "bigcommerce")
    doc, customer_id = invoiced(world)
    entry = world.ledger.get(world.connection.id, UNPAID_ORDER["bigcommerce"])
    assert entry is not None
    entry.status = "paid"  # the channel reported the payment itself
    world.ledger.put(entry)
    pay_in_intacct(world, doc, customer_id)
    report = world.run()
    assert report.paid_invoices_seen == 1 and report.marked_paid == []
    assert world.order()["status_id"] != 11
