"""Issue 9 item 6, through the adapters, the real posters and the Intacct sandbox: test orders
and their money are skipped; a POS cash sale posts what was kept (tendered - change); gift cards
sold are a liability and gift card redemptions come off it; tips and duties have their own items.

Fixtures (tests/fixtures/channels/shopify, see its README): the US order's shape as #1048 in test
mode (Bogus gateway) with a test sale and test refund; as #1049 paid in cash at a POS (430.00
tendered, 8.72 `change`); as #1050 with a 50.00 gift card line and a 25.00 `gift_card`
redemption; as #1051 with a 5.00 tip and 12.50 duties."""

from __future__ import annotations

from decimal import Decimal

import pytest

from intacct_sync.channels import shopify
from intacct_sync.intacct import IntacctClient
from intacct_sync.intacct import query as q
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.posting.cash_change import CashChangePoster
from intacct_sync.settings import Settings
from local.intacct_sandbox import IntacctSandbox
from tests.fixtures.channels.sign import connection, load, shopify_headers
from tests.integration import test_documents_match_the_order as documents
from tests.integration.test_documents_match_the_order import (
    SETTINGS,
    Books,
    deadline,
    document,
    shopify_order,
)
from tests.integration.test_posting_sandbox import _settings

intacct = documents.intacct  # the sandbox with the fixtures' SKUs (pytest fixture)

CONNECTION = "test-shopify"


def transaction(name: str, topic: str = "order_transactions/create") -> list[CanonicalEvent]:
    raw = load("shopify", name)
    return shopify.parse(shopify_headers(raw, topic), raw, connection("shopify"))


class TillBooks(Books):
    """Books whose payment consumer is the one the stack wires: cash change netted."""

    def __init__(self, client: IntacctClient, settings: Settings = SETTINGS) -> None:
        super().__init__(client, settings)
        self.payment_poster = CashChangePoster(
            client, self.ledger, settings, fetch_order=lambda e, _d: self.orders.get(e.order_id)
        )


def payments(client: IntacctClient) -> list[dict[str, str]]:
    return list(
        client.iter_query(
            "ARPYMT",
            ["DOCNUMBER", "TOTALENTERED", "PAYMENTMETHOD", "UNDEPOSITEDACCOUNTNO", "DESCRIPTION"],
            filter=q.gt("RECORDNO", 0),
            deadline=deadline(),
        )
    )


def entries(intacct: IntacctSandbox, docid: str) -> list[tuple[str, str, str]]:
    [stored] = [d for d in intacct.snapshot()["documents"] if d["DOCID"] == docid]
    return [(e["ITEMID"], e["QUANTITY"], e["PRICE"]) for e in stored["ENTRIES"]]


# --- test orders -------------------------------------------------------------------------------


def test_a_test_order_its_test_payment_and_refund_are_skipped_and_recorded(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_test_bogus.json"))
    books.refund(transaction("order_transactions_create_sale_test.json"))
    books.refund(transaction("refunds_create_test.json", "refunds/create"))
    snapshot = intacct.snapshot()
    assert [d["DOCID"] for d in snapshot["documents"]] == []
    assert payments(client) == []
    entry = books.ledger.get(CONNECTION, "450789480")
    assert entry is not None and entry.status == "skipped" and entry.test_order
    assert [h.action for h in entry.history].count("skipped") == 3


def test_a_payment_of_a_skipped_test_order_is_finished_as_skipped_not_left_waiting(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    """The payment itself is not flagged (it could come from any gateway): its order is."""
    books = Books(client)
    books.post(shopify_order("orders_paid_test_bogus.json"))
    [event] = transaction("order_transactions_create_sale_test.json")
    plain = event.model_copy(update={"payload": event.payload.model_copy(update={"test": False})})
    [outcome] = books.payment_poster([plain], deadline()).values()
    assert outcome.status == "done" and outcome.reason.startswith("skipped")
    assert payments(client) == []


def test_test_orders_post_books_a_test_order(client: IntacctClient, intacct: IntacctSandbox) -> None:
    books = Books(client, _settings(test_orders="post"))
    books.post(shopify_order("orders_paid_test_bogus.json"))
    assert document(client, "Sales Invoice-1048", "Sales Invoice")["TOTAL"] == "421.28"


# --- POS cash change ---------------------------------------------------------------------------


@pytest.mark.parametrize("change_first", [False, True], ids=["sale_then_change", "change_then_sale"])
def test_a_pos_cash_sale_posts_the_tendered_amount_less_the_change(
    client: IntacctClient, intacct: IntacctSandbox, change_first: bool
) -> None:
    """430.00 tendered for a 421.28 invoice, 8.72 handed back: one 421.28 ARPYMT, invoice paid,
    whichever of the two transactions arrives first."""
    books = TillBooks(client)
    sale = transaction("order_transactions_create_pos_cash_sale.json")
    change = transaction("order_transactions_create_pos_cash_change.json")
    if change_first:
        books.refund(change)
    books.post(shopify_order("orders_paid_pos_cash_change.json"))
    books.refund(sale)
    if not change_first:
        books.refund(change)
    [payment] = payments(client)
    assert payment["TOTALENTERED"] == "421.28"
    assert "tendered 430.00, change 8.72" in payment["DESCRIPTION"]
    entry = books.ledger.get(CONNECTION, "450789490")
    assert entry is not None and entry.status == "paid"
    assert sum(entry.cash_change.values()) == 0
    invoice = document(client, "Sales Invoice-1049", "Sales Invoice")
    [ar] = list(
        client.iter_query(
            "ARINVOICE", ["TOTALDUE"], filter=q.eq("RECORDNO", invoice["PRRECORDKEY"]), deadline=deadline()
        )
    )
    assert ar["TOTALDUE"] == "0.00"


# --- gift cards --------------------------------------------------------------------------------


def test_a_gift_card_sold_is_a_liability_line_and_its_redemption_comes_off_the_liability(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_gift_card_sold_redeemed.json"))
    assert document(client, "Sales Invoice-1050", "Sales Invoice")["TOTAL"] == "471.28"
    lines = entries(intacct, "Sales Invoice-1050")
    assert ("GIFTCARD", "1", "50.00") in lines
    assert not any(item == "GC-50" for item, _, _ in lines)  # never revenue under its SKU
    books.refund(transaction("order_transactions_create_gift_card_redemption.json"))
    [payment] = payments(client)
    assert (payment["TOTALENTERED"], payment["PAYMENTMETHOD"], payment["UNDEPOSITEDACCOUNTNO"]) == (
        "25.00",
        "Cash",
        "2150",
    )


# --- tips and duties ---------------------------------------------------------------------------


def test_tips_and_duties_are_invoiced_on_their_own_items(client: IntacctClient, intacct: IntacctSandbox) -> None:
    """Today the order parks (its lines add up to 421.28, its total is 438.78)."""
    books = Books(client)
    books.post(shopify_order("orders_paid_tip_and_duties.json"))
    assert document(client, "Sales Invoice-1051", "Sales Invoice")["TOTAL"] == "438.78"
    lines = entries(intacct, "Sales Invoice-1051")
    assert ("TIPS", "1", "5.00") in lines
    assert ("DUTIES", "1", "12.50") in lines
    entry = books.ledger.get(CONNECTION, "450789510")
    assert entry is not None and entry.invoice_total == Decimal("438.78")
