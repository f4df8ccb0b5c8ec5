"""Issue 9, items 5, 7 and 8, against the Intacct sandbox over HTTP (and, for BigCommerce, the
channel sandbox's API): a BigCommerce refund callback becomes a credit memo with its line, its
shipping and its tax; a Declined BigCommerce order is not invoiced; taxes post one subtotal per
jurisdiction; an evening order is dated on the day it was placed; a California order sent with
the state's name ships from the west warehouse; a fee line posts to the default fee item.

Fixtures (tests/fixtures/channels/README.md): a Shopify CAD order to British Columbia (GST + BC
PST) placed 31 May 21:30 -04:00; a WooCommerce CAD order to BC with a fee (GST + PST, Toronto
store, `date_created` 21:30 / `date_created_gmt` 01:30 the next day); BigCommerce's documented
order shipped to California (state name) with `/taxes` per jurisdiction, and its refund
(`/v3/orders/{id}/payment_actions/refunds`: a quantity refund with `requested_amount: null`)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels import bigcommerce, shopify, woocommerce
from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.intacct import IntacctClient
from intacct_sync.ledger import InMemoryLedger
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent, OrderEvent
from intacct_sync.models.order import Order
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import Settings
from local.channel_sandbox import ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.fixtures.channels.sign import connection, load, shopify_headers, woocommerce_headers
from tests.integration.test_posting_sandbox import FIXTURE_SKUS, _settings

STORE = "demostore"
JURISDICTIONS = {"GST": "GST", "BC PST": "PST", "CA-BC-PST-2": "PST", "Los Angeles County District Tax": "District Tax"}


def deadline() -> Deadline:
    return Deadline.after(30)


@pytest.fixture
def intacct(sandbox: IntacctSandbox) -> IntacctSandbox:
    """The fixtures' SKUs, and GST / PST / District Tax subtotals on the definitions, as a
    company that files those taxes apart would have them."""
    seed = copy.deepcopy(sandbox.seed)
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s, "ITEMTYPE": "Inventory", "UNIT": "Each"} for s in FIXTURE_SKUS]
    for definition in company["transaction_definitions"]:
        definition["subtotals"] = [*definition["subtotals"], "GST", "PST", "District Tax"]
    sandbox.reset(seed=seed)
    return sandbox


class Books:
    """The order and payment consumers' posters over one ledger; what the order poster forwards
    (payments and refunds found on a fetched order) goes to the payment poster."""

    def __init__(self, client: IntacctClient, settings: Settings, fetch: Any = None) -> None:
        self.ledger = InMemoryLedger()
        self.forwarded: list[CanonicalEvent] = []
        self.orders: dict[str, Order] = {}

        def fetch_order(event: CanonicalEvent, d: Deadline) -> list[CanonicalEvent]:
            events: list[CanonicalEvent] = fetch(event, d)
            self.orders.update({e.order_id: e.payload for e in events if isinstance(e, OrderEvent)})
            return events

        self.order_poster = OrderPoster(
            client, self.ledger, settings, fetch_order=fetch_order if fetch else None, forward=self.forwarded.extend
        )
        self.payment_poster = PaymentPoster(
            client, self.ledger, settings, fetch_order=lambda e, _d: self.orders.get(e.order_id)
        )

    def post(self, events: list[CanonicalEvent]) -> dict[str, Any]:
        self.orders.update({e.order_id: e.payload for e in events if isinstance(e, OrderEvent)})
        return {k: (o.status, o.reason) for k, o in self.order_poster(events, deadline()).items()}

    def pay(self) -> dict[str, Any]:
        outcomes = self.payment_poster(self.forwarded, deadline())
        return {k: (o.status, o.reason) for k, o in outcomes.items()}


def stored(intacct: IntacctSandbox, definition: str) -> list[dict[str, Any]]:
    return [d for d in intacct.snapshot()["documents"] if d["DOCID"].startswith(definition)]


def subtotals(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(st["DESCRIPTION"], st["TOTAL"]) for st in doc["SUBTOTALS"]]


def entries(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["ITEMID"], e["QUANTITY"], e["PRICE"]) for e in doc["ENTRIES"]]


# --- item 5: BigCommerce refunds through the API, Declined orders -----------------------------


def bc_connection(cs: ChannelSandbox) -> Connection:
    return Connection.model_validate(cs.connection_secret("bigcommerce", STORE, "bigcommerce-it"))


def put_bc_order_with_refund(cs: ChannelSandbox, order_id: int, refund_id: int) -> None:
    """BigCommerce's documented order (order_fetch_us_coupon) and our refund of it, renumbered to
    the documented refund callback's order 250 / refund 3."""
    bundle = json.loads(load("bigcommerce", "order_fetch_us_coupon.json"))
    bundle["order"]["id"] = order_id
    for key in ("products", "shipping_addresses"):
        for item in bundle[key]:
            item["order_id"] = order_id
    (refund,) = json.loads(load("bigcommerce", "refunds_fetch_order_218.json"))["data"]
    bundle["refunds"] = [{**refund, "id": refund_id, "order_id": order_id}]
    cs.put_order("bigcommerce", STORE, bundle)


def test_bigcommerce_refund_callback_becomes_a_credit_memo_with_its_line_shipping_and_tax(
    client: IntacctClient, intacct: IntacctSandbox, channels: ChannelSandbox
) -> None:
    put_bc_order_with_refund(channels, 250, 3)
    conn = bc_connection(channels)
    api = client_for(conn, backoff=Backoff(base_s=0.05, cap_s=0.2, max_attempts=3), pacer=Pacer(), read_timeout_s=10)
    books = Books(client, _settings(), fetch=lambda e, d: api.fetch_order_events(e.order_id, deadline=d))
    callback = load("bigcommerce", "callback_store_order_refund_created.json")  # order 250, refund 3
    (reference,) = bigcommerce.parse({}, callback, conn)

    assert {s for s, _ in books.post([reference]).values()} == {"done"}
    refunds = [e for e in books.forwarded if e.type == "refund"]
    assert [e.payload.refund_id for e in refunds] == ["3"]  # fetched through the API, not re-posting the order
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert Decimal(memo["TOTAL"]) == Decimal("37.69")  # total_amount, not 0.00
    assert entries(memo) == [("S-ORAN", "1", "25.00"), ("SHIPPING", "1", "10.00")]  # 1 unit at its price
    assert subtotals(memo) == [("Tax", "2.69")]  # total_tax reversed, not dropped
    paths = {r.path for r in channels.requests if r.channel == "bigcommerce"}
    assert "/v3/orders/250/payment_actions/refunds" in paths


def test_bigcommerce_declined_order_is_not_invoiced(
    client: IntacctClient, intacct: IntacctSandbox, channels: ChannelSandbox
) -> None:
    bundle = json.loads(load("bigcommerce", "order_fetch_us_coupon.json"))
    bundle["order"].update(
        {"status_id": 6, "status": "Declined", "custom_status": "Declined", "payment_status": "declined"}
    )
    events = bigcommerce.order_events(
        bundle["order"], bundle["products"], bundle["shipping_addresses"], [], connection=connection("bigcommerce")
    )
    outcomes = Books(client, _settings()).post([e for e in events if e.type == "order"])
    assert list(outcomes.values()) == [("done", "not placed")]
    assert stored(intacct, "Sales Invoice") == []


# --- item 7: tax per jurisdiction, the order's own date, region names -------------------------


def shopify_ca() -> list[CanonicalEvent]:
    raw = load("shopify", "orders_paid_ca_gst_pst_evening.json")
    return shopify.parse(shopify_headers(raw, "orders/paid"), raw, connection("shopify"))


def woo_bc() -> list[CanonicalEvent]:
    raw = load("woocommerce", "order_updated_bc_gst_pst_fee_evening.json")
    return woocommerce.parse(woocommerce_headers(raw, "order.updated"), raw, connection("woocommerce"))


def bc_california() -> list[CanonicalEvent]:
    bundle = json.loads(load("bigcommerce", "order_fetch_ca_state_name_taxes.json"))
    return bigcommerce.order_events(
        bundle["order"],
        bundle["products"],
        bundle["shipping_addresses"],
        [],
        connection=connection("bigcommerce"),
        taxes_json=bundle["taxes"],
    )


def test_shopify_gst_and_pst_post_as_their_own_subtotals_on_the_day_the_order_was_placed(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    assert {s for s, _ in books.post([e for e in shopify_ca() if e.type == "order"]).values()} == {"done"}
    (invoice,) = stored(intacct, "Sales Invoice")
    assert subtotals(invoice) == [("GST", "19.90"), ("PST", "27.16")]
    assert Decimal(invoice["TOTAL"]) == Decimal("445.06")
    assert invoice["WHENCREATED"] == "05/31/2024"  # 21:30 -04:00, not 1 June in UTC


def test_woocommerce_fee_posts_to_the_default_fee_item_and_taxes_split_by_rate_code(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    assert {s for s, _ in books.post([e for e in woo_bc() if e.type == "order"]).values()} == {"done"}
    (invoice,) = stored(intacct, "Sales Invoice")
    assert ("FEE", "1", "5.00") in entries(invoice)  # not parked for want of items.fee_item_id
    assert subtotals(invoice) == [("GST", "4.75"), ("PST", "5.95")]  # label GST, rate_code CA-BC-PST-2
    assert Decimal(invoice["TOTAL"]) == Decimal("105.70")
    assert invoice["WHENCREATED"] == "05/31/2024"  # the store's date_created, not date_created_gmt's 1 June


def test_default_settings_post_a_fee_order_with_one_tax_subtotal(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client, _settings())
    assert {s for s, _ in books.post([e for e in woo_bc() if e.type == "order"]).values()} == {"done"}
    (invoice,) = stored(intacct, "Sales Invoice")
    assert subtotals(invoice) == [("Tax", "10.70")]
    assert ("FEE", "1", "5.00") in entries(invoice)


def test_bigcommerce_california_by_name_ships_from_the_west_and_splits_its_district_tax(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    assert {s for s, _ in books.post([e for e in bc_california() if e.type == "order"]).values()} == {"done"}
    (invoice,) = stored(intacct, "Sales Invoice")
    warehouses = {e.get("WAREHOUSEID") for e in invoice["ENTRIES"]} - {None}
    assert warehouses == {"WH-WEST"}  # default rule "CA" matches BigCommerce's "California"
    assert subtotals(invoice) == [("Tax", "4.86"), ("District Tax", "0.67")]  # unmapped state tax -> Tax
    assert Decimal(invoice["TOTAL"]) == Decimal("72.53")


def test_refund_credit_memo_splits_its_tax_like_the_order(client: IntacctClient, intacct: IntacctSandbox) -> None:
    """A WooCommerce-shaped refund of the BC order's scarf: its tax goes back per jurisdiction."""
    from intacct_sync.models.events import RefundEvent
    from intacct_sync.models.order import Refund, RefundLine

    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    events = woo_bc()
    books.post([e for e in events if e.type == "order"])
    order = next(e.payload for e in events if isinstance(e, OrderEvent))
    refund = Refund(
        connection_id=order.connection_id,
        channel=order.channel,
        refund_id="77",
        order_id=order.order_id,
        amount=Decimal("44.80"),
        currency="CAD",
        lines=(
            RefundLine(
                line_id="91", sku="SCARF-MER-GRY", quantity=Decimal(1), amount=Decimal("40.00"), tax=Decimal("4.80")
            ),
        ),
    )
    books.forwarded = [
        RefundEvent(
            event_id=f"woocommerce:{order.connection_id}:refund:77",
            connection_id=order.connection_id,
            channel=order.channel,
            topic="order.updated",
            payload=refund,
        )
    ]
    assert {s for s, _ in books.pay().values()} == {"done"}
    (memo,) = stored(intacct, "Sales Credit Memo")
    assert subtotals(memo) == [("GST", "2.13"), ("PST", "2.67")]  # 4.80 split 4.75 : 5.95
    assert Decimal(memo["TOTAL"]) == Decimal("44.80")
