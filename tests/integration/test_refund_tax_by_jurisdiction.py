"""Issue 9, "refunds reverse tax by jurisdiction", against the Intacct sandbox over HTTP: a credit
memo's tax subtotals follow the refund's own jurisdictions where the channel itemises them, not
the order's proportion; the order's split stays for a refund that names none.

The orders are the GST + PST orders to British Columbia (GST 5 % on lines and shipping, PST 7 % on
lines only), so any refund's tax is in another proportion than the order's:

- Shopify #1047 (GST 19.90 : BC PST 27.16): refund of the green iPod, 194.00 + 23.28 tax, whose
  `line_item.tax_lines[]` say GST 9.70 and BC PST 13.58 (the order's split would give 9.84 / 13.44).
- WooCommerce #902 (GST 4.75 : PST 5.95): refund 905 of one scarf (GST 2.00, PST 2.80 in its
  `taxes[]`) and the shipping (GST 0.50 only), read through the channel sandbox's
  `GET /wc/v3/orders/902/refunds/905`: GST 2.50, PST 2.80 (the order's split: 2.35 / 2.95).

Fixtures: tests/fixtures/channels/README.md.
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
from intacct_sync.retry import Backoff
from local.channel_sandbox import ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.fixtures.channels.sign import connection, load, shopify_headers, woocommerce_headers
from tests.integration.test_jurisdictions_dates_fees_and_bigcommerce_refunds import (
    JURISDICTIONS,
    Books,
    entries,
    stored,
    subtotals,
)
from tests.integration.test_posting_sandbox import FIXTURE_SKUS, _settings

WOO_STORE = "demo-woo"


@pytest.fixture
def intacct(sandbox: IntacctSandbox) -> IntacctSandbox:
    """The fixtures' SKUs, and GST / PST subtotals on the definitions, as a company that files
    those taxes apart would have them."""
    seed = copy.deepcopy(sandbox.seed)
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s, "ITEMTYPE": "Inventory", "UNIT": "Each"} for s in FIXTURE_SKUS]
    for definition in company["transaction_definitions"]:
        definition["subtotals"] = [*definition["subtotals"], "GST", "PST"]
    sandbox.reset(seed=seed)
    return sandbox


def fixture(channel: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(load(channel, name))
    return data


def shopify_ca_order() -> list[CanonicalEvent]:
    raw = load("shopify", "orders_paid_ca_gst_pst_evening.json")
    events = shopify.parse(shopify_headers(raw, "orders/paid"), raw, connection("shopify"))
    return [e for e in events if e.type == "order"]


def shopify_refund(name: str) -> list[CanonicalEvent]:
    raw = load("shopify", name)
    return shopify.parse(shopify_headers(raw, "refunds/create"), raw, connection("shopify"))


def test_shopify_line_refund_credits_the_lines_own_gst_and_pst(client: IntacctClient, intacct: IntacctSandbox) -> None:
    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    assert {s for s, _ in books.post(shopify_ca_order()).values()} == {"done"}
    books.forwarded = shopify_refund("refunds_create_line_gst_pst_ca.json")
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("IPOD2008GREEN", "1", "194.00")]
    assert subtotals(memo) == [("GST", "9.70"), ("PST", "13.58")]  # not 9.84 / 13.44 as the order's 19.90 : 27.16
    assert Decimal(memo["TOTAL"]) == Decimal("217.28")


def test_shopify_shipping_refund_without_jurisdictions_follows_the_orders_shipping_taxes(
    client: IntacctClient,
    intacct: IntacctSandbox,
) -> None:
    """`order_adjustments[kind=shipping_refund]` name no tax: the order's shipping line does
    (GST only here), so the shipping refund's tax is credited to GST, not split GST : PST."""
    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    assert {s for s, _ in books.post(shopify_ca_order()).values()} == {"done"}
    books.forwarded = shopify_refund("refunds_create_shipping_refund_ca.json")
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert subtotals(memo) == [("GST", "0.50")]  # the order's shipping line is taxed GST only
    assert Decimal(memo["TOTAL"]) == Decimal("10.50")


def woo_connection(cs: ChannelSandbox) -> Connection:
    return Connection.model_validate(cs.connection_secret("woocommerce", WOO_STORE, "woocommerce-it"))


def test_woocommerce_refund_of_a_line_and_gst_only_shipping_credits_each_jurisdiction_its_own(
    client: IntacctClient,
    intacct: IntacctSandbox,
    channels: ChannelSandbox,
) -> None:
    order = fixture("woocommerce", "order_updated_bc_gst_pst_fee_evening.json")
    order["refunds"] = [{"id": 905, "reason": "One scarf returned; shipping refunded", "total": "-55.30"}]
    channels.put_order("woocommerce", WOO_STORE, order)
    channels.world.store("woocommerce", WOO_STORE).orders[902].refunds = [
        fixture("woocommerce", "api/refund_905_detail_gst_shipping.json")
    ]
    api = client_for(
        woo_connection(channels),
        backoff=Backoff(base_s=0.05, cap_s=0.2, max_attempts=3),
        pacer=Pacer(),
        read_timeout_s=10,
    )
    books = Books(client, _settings(items={"tax_subtotals": JURISDICTIONS}))
    books.payment_poster.fetch_refund = lambda r, d: api.fetch_refund(r, deadline=d)
    raw = json.dumps(order).encode()
    events = woocommerce.parse(woocommerce_headers(raw, "order.updated"), raw, connection("woocommerce"))
    assert {s for s, _ in books.post([e for e in events if e.type == "order"]).values()} == {"done"}
    refunds = [e for e in events if isinstance(e, RefundEvent)]
    assert [r.payload.detail_complete for r in refunds] == [False]  # the order body gives -55.30 only
    books.forwarded = list(refunds)
    assert {s for s, _ in books.pay().values()} == {"done"}

    (memo,) = stored(intacct, "Sales Credit Memo")
    assert entries(memo) == [("SCARF-MER-GRY", "1", "40.00"), ("SHIPPING", "1", "10.00")]
    # GST 2.00 on the scarf + 0.50 on the shipping; PST 2.80 on the scarf only (rate_code CA-BC-PST-2)
    assert subtotals(memo) == [("GST", "2.50"), ("PST", "2.80")]  # not 2.35 / 2.95 as the order's 4.75 : 5.95
    assert Decimal(memo["TOTAL"]) == Decimal("55.30")
    paths = {r.path for r in channels.requests if r.channel == "woocommerce"}
    assert "/wp-json/wc/v3/orders/902/refunds/905" in paths
