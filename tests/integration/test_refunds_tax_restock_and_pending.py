"""Issue 9, item 4, against the Intacct sandbox over HTTP: refunds reverse their tax, restock only
what the channel restocked, and wait for their money to move.

- A WooCommerce refund (the order's `refunds[]` gives its total only) is read in full through
  the channel sandbox's `GET /wc/v3/orders/{id}/refunds/{refund_id}`: its line and its tax, not
  one untaxed DISCOUNT line.
- A Shopify shipping refund's tax (`order_adjustments[kind=shipping_refund].tax_amount`) goes to
  the tax subtotal, not to the DISCOUNT item.
- A Shopify refund whose transaction is `pending` is not credited (no 0.00 credit memo, no
  restock); it is credited, with its unit back on hand, once the channel shows it succeeded, and
  never when it failed.
- `restock_type: no_restock` credits the unit's value without putting it back on hand.

Fixtures (tests/fixtures/channels/README.md): the US order #1001 and the CAD order #1047 to BC,
Shopify refunds of them (pending bank refund, no_restock, shipping refund with GST), the
WooCommerce EUR order #1204 and the detail of its refund 1210 (one broken cup).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels import shopify, woocommerce
from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.intacct import IntacctClient
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent, RefundEvent
from intacct_sync.models.order import Refund
from intacct_sync.retry import Backoff, Deadline
from local.channel_sandbox import ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.fixtures.channels.sign import connection, load, shopify_headers, woocommerce_headers
from tests.integration.test_jurisdictions_dates_fees_and_bigcommerce_refunds import (
    Books,
    entries,
    stored,
    subtotals,
)
from tests.integration.test_posting_sandbox import FIXTURE_SKUS, _settings

WOO_STORE = "demo-woo"


@pytest.fixture
def intacct(sandbox: IntacctSandbox) -> IntacctSandbox:
    """The fixtures' SKUs as inventory items and RETURN-NR, a non-inventory item for refunded
    units that were not restocked, as a merchant's company would have them."""
    seed = copy.deepcopy(sandbox.seed)
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s, "ITEMTYPE": "Inventory", "UNIT": "Each"} for s in FIXTURE_SKUS]
    company["items"].append({"ITEMID": "RETURN-NR", "NAME": "Returns not restocked", "ITEMTYPE": "Non-Inventory"})
    sandbox.reset(seed=seed)
    return sandbox


def on_hand(sandbox: IntacctSandbox, item: str) -> Decimal:
    return sum((Decimal(str(r["ONHAND"])) for r in sandbox.snapshot()["onhand"] if r["ITEMID"] == item), Decimal(0))


def shopify_order(name: str) -> list[CanonicalEvent]:
    raw = load("shopify", name)
    return [
        e for e in shopify.parse(shopify_headers(raw, "orders/paid"), raw, connection("shopify")) if e.type == "order"
    ]


def shopify_refund(body: dict[str, Any]) -> list[CanonicalEvent]:
    raw = json.dumps(body).encode()
    return shopify.parse(shopify_headers(raw, "refunds/create"), raw, connection("shopify"))


def fixture(channel: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(load(channel, name))
    return data


class ShopifyRefunds:
    """The channel's current state of each refund (what the Shopify API answers), by id."""

    def __init__(self) -> None:
        self.bodies: dict[str, dict[str, Any]] = {}
        self.reads = 0

    def __call__(self, refund: Refund, _deadline: Deadline) -> Refund | None:
        self.reads += 1
        body = self.bodies.get(refund.refund_id)
        return None if body is None else shopify.refund_from_json(body, connection("shopify"))


# --- WooCommerce: the refund's detail is fetched ------------------------------------------------


def woo_connection(cs: ChannelSandbox) -> Connection:
    return Connection.model_validate(cs.connection_secret("woocommerce", WOO_STORE, "woocommerce-it"))


def woo_books(client: IntacctClient, cs: ChannelSandbox, **settings: Any) -> tuple[Books, list[CanonicalEvent]]:
    """Order #1204 posted from its order.updated body; the store answers refund 1210's detail."""
    cs.world.store("woocommerce", WOO_STORE).orders[1204].refunds = [
        fixture("woocommerce", "api/refund_1210_detail.json")
    ]
    api = client_for(
        woo_connection(cs), backoff=Backoff(base_s=0.05, cap_s=0.2, max_attempts=3), pacer=Pacer(), read_timeout_s=10
    )
    books = Books(client, _settings(**settings))
    books.payment_poster.fetch_refund = lambda r, d: api.fetch_refund(r, deadline=d)
    raw = load("woocommerce", "order_updated_eu_vat_coupon_partial_refund.json")
    events = woocommerce.parse(woocommerce_headers(raw, "order.updated"), raw, connection("woocommerce"))
    assert {s for s, _ in books.post([e for e in events if e.type == "order"]).values()} == {"done"}
    return books, [e for e in events if isinstance(e, RefundEvent)]


def test_woocommerce_refund_detail_is_fetched_and_its_tax_reversed(
    client: IntacctClient, intacct: IntacctSandbox, channels: ChannelSandbox
) -> None:
    books, refunds = woo_books(client, channels)
    assert [r.payload.detail_complete for r in refunds] == [False]  # the order body gives -10.00 only
    after_invoice = on_hand(intacct, "CUP-ESP-2")
    books.forwarded = list(refunds)
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("CUP-ESP-2", "1", "8.40")]  # the cup, not one DISCOUNT line of 10.00
    assert subtotals(memo) == [("Tax", "1.60")]  # its VAT reversed
    assert Decimal(memo["TOTAL"]) == Decimal("10.00")
    assert on_hand(intacct, "CUP-ESP-2") == after_invoice + 1  # unstated restock: the default restocks
    paths = {r.path for r in channels.requests if r.channel == "woocommerce"}
    assert "/wp-json/wc/v3/orders/1204/refunds/1210" in paths


def test_woocommerce_refund_not_restocked_when_configured(
    client: IntacctClient, intacct: IntacctSandbox, channels: ChannelSandbox
) -> None:
    books, refunds = woo_books(client, channels, credit_memo={"restock_unstated": False})
    after_invoice = on_hand(intacct, "CUP-ESP-2")
    books.forwarded = list(refunds)
    assert {s for s, _ in books.pay().values()} == {"done"}
    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("DISCOUNT", "1", "8.40")]  # items.no_restock_item_id null: the adjustment item
    assert subtotals(memo) == [("Tax", "1.60")]
    assert on_hand(intacct, "CUP-ESP-2") == after_invoice


# --- Shopify: shipping refund tax ---------------------------------------------------------------


def test_shopify_shipping_refund_tax_goes_to_the_tax_subtotal_not_the_discount_item(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client, _settings())
    assert {s for s, _ in books.post(shopify_order("orders_paid_ca_gst_pst_evening.json")).values()} == {"done"}
    books.forwarded = shopify_refund(fixture("shopify", "refunds_create_shipping_refund_ca.json"))
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("SHIPPING", "1", "10.00")]  # no DISCOUNT line for the tax
    assert subtotals(memo) == [("Tax", "0.50")]
    assert Decimal(memo["TOTAL"]) == Decimal("10.50")


# --- Shopify: pending, succeeded and failed refunds ---------------------------------------------


@pytest.fixture
def pending_books(client: IntacctClient, intacct: IntacctSandbox) -> tuple[Books, ShopifyRefunds]:
    books = Books(client, _settings())
    assert {s for s, _ in books.post(shopify_order("orders_paid_us_tax_exclusive_discount.json")).values()} == {"done"}
    channel = ShopifyRefunds()
    books.payment_poster.fetch_refund = channel
    return books, channel


def test_pending_shopify_refund_waits_then_is_credited_once_it_succeeds(
    intacct: IntacctSandbox, pending_books: tuple[Books, ShopifyRefunds]
) -> None:
    books, channel = pending_books
    body = fixture("shopify", "refunds_create_pending_bank_refund.json")
    channel.bodies["509562970"] = body
    after_invoice = on_hand(intacct, "IPOD2008GREEN")
    books.forwarded = shopify_refund(body)

    ((status, reason),) = books.pay().values()
    assert status == "retry" and "pending" in reason
    assert stored(intacct, "Sales Credit Memo") == []  # no 0.00 credit memo
    assert on_hand(intacct, "IPOD2008GREEN") == after_invoice  # and no restock

    settled = copy.deepcopy(body)
    settled["transactions"][0].update(status="success", authorization="re_3PQ1", message="Transaction approved")
    channel.bodies["509562970"] = settled
    assert {s for s, _ in books.pay().values()} == {"done"}  # the same message, redelivered

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("IPOD2008GREEN", "1", "199.00")]
    assert subtotals(memo) == [("Tax", "11.64")]
    assert Decimal(memo["TOTAL"]) == Decimal("210.64")
    assert on_hand(intacct, "IPOD2008GREEN") == after_invoice + 1  # restock_type: return


def test_failed_shopify_refund_is_never_credited(
    intacct: IntacctSandbox, pending_books: tuple[Books, ShopifyRefunds]
) -> None:
    books, channel = pending_books
    body = fixture("shopify", "refunds_create_pending_bank_refund.json")
    failed = copy.deepcopy(body)
    failed["transactions"][0].update(status="failure", error_code="card_declined", message="Refund failed")
    channel.bodies["509562970"] = failed
    after_invoice = on_hand(intacct, "IPOD2008GREEN")
    books.forwarded = shopify_refund(body)

    assert [s for s, _ in books.pay().values()] == ["done"]
    assert [s for s, _ in books.pay().values()] == ["done"]  # a redelivery too
    assert stored(intacct, "Sales Credit Memo") == []
    assert on_hand(intacct, "IPOD2008GREEN") == after_invoice
    (entry,) = books.ledger.get_many([(e.connection_id, e.order_id) for e in books.forwarded]).values()
    assert entry.refunds["509562970"].credited is False


# --- Shopify: no_restock -------------------------------------------------------------------------


def test_shopify_no_restock_refund_credits_the_unit_without_putting_it_back_on_hand(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client, _settings(items={"no_restock_item_id": "RETURN-NR"}))
    assert {s for s, _ in books.post(shopify_order("orders_paid_us_tax_exclusive_discount.json")).values()} == {"done"}
    after_invoice = on_hand(intacct, "IPOD2008RED")
    books.forwarded = shopify_refund(fixture("shopify", "refunds_create_no_restock.json"))
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("RETURN-NR", "1", "199.00")]  # a non-inventory item: no inventory effect
    assert "IPOD2008RED" in (memo["ENTRIES"][0].get("MEMO") or "")
    assert subtotals(memo) == [("Tax", "11.64")]
    assert Decimal(memo["TOTAL"]) == Decimal("210.64")
    assert on_hand(intacct, "IPOD2008RED") == after_invoice  # the channel did not restock it
