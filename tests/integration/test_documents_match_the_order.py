"""Issue 9: each document the product writes says what the channel order says. Real-format
payloads go through the channel adapters, the mapping and the real posters (OrderPoster,
PaymentPoster) into the Intacct sandbox over HTTP, and the documents are read back as Intacct
shows them (SODOCUMENT `BILLTO.*` / `SHIPTO.*`).

Fixtures (tests/fixtures/channels, see its README): a Shopify gift order billed to the buyer and
shipped to someone else (the customer's phone differs from the billing phone); a WooCommerce
order from a customer Intacct already has, without any address on file, shipped to an office;
BigCommerce's documented order, whose shipping address is another person and company."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from intacct_sync.channels import bigcommerce, shopify, woocommerce
from intacct_sync.intacct import IntacctClient
from intacct_sync.intacct import query as q
from intacct_sync.ledger import InMemoryLedger
from intacct_sync.models.events import CanonicalEvent, OrderEvent
from intacct_sync.models.order import Order
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings
from local.intacct_sandbox import IntacctSandbox
from tests.fixtures.channels.sign import connection, load, shopify_headers, woocommerce_headers
from tests.integration.test_posting_sandbox import FIXTURE_SKUS, _settings

SETTINGS = _settings()
PARTY = ["CONTACTNAME", "PRINTAS", "COMPANYNAME", "PHONE1", "EMAIL1"]
PARTY += [f"MAILADDRESS.{f}" for f in ("ADDRESS1", "ADDRESS2", "CITY", "STATE", "ZIP", "COUNTRYCODE")]


def deadline() -> Deadline:
    return Deadline.after(30)


@pytest.fixture
def intacct(sandbox: IntacctSandbox) -> IntacctSandbox:
    """The fixtures' SKUs, and a customer Intacct already holds with no address on file (the
    WooCommerce buyer, matched by name)."""
    seed = copy.deepcopy(sandbox.seed)
    company = seed["companies"][0]
    company["items"] += [{"ITEMID": s, "NAME": s, "ITEMTYPE": "Inventory", "UNIT": "Each"} for s in FIXTURE_SKUS]
    company["customers"].append(
        {"CUSTOMERID": "C-2001", "NAME": "Uyi Moses", "STATUS": "active", "DISPLAYCONTACT": {"PRINTAS": "Uyi Moses"}}
    )
    sandbox.reset(seed=seed)
    return sandbox


class Books:
    """The two consumers' posters over one ledger, the channel orders they can fetch."""

    def __init__(self, client: IntacctClient, settings: Settings = SETTINGS) -> None:
        self.client = client
        self.ledger = InMemoryLedger()
        self.orders: dict[str, Order] = {}
        self.order_poster = OrderPoster(client, self.ledger, settings)
        self.payment_poster = PaymentPoster(
            client, self.ledger, settings, fetch_order=lambda e, _d: self.orders.get(e.order_id)
        )

    def post(self, events: list[CanonicalEvent]) -> None:
        orders = [e for e in events if isinstance(e, OrderEvent)]
        for e in orders:
            self.orders[e.order_id] = e.payload
        outcomes = self.order_poster(orders, deadline())
        assert {o.status for o in outcomes.values()} == {"done"}, outcomes

    def refund(self, events: list[CanonicalEvent]) -> None:
        outcomes = self.payment_poster(events, deadline())
        assert {o.status for o in outcomes.values()} == {"done"}, outcomes

    def party(self, docid: str, block: str) -> dict[str, str]:
        """The document's bill-to or ship-to, as Intacct shows it on the SODOCUMENT."""
        definition = docid.rsplit("-", 1)[0] if docid.startswith("Sales Invoice") else "Sales Credit Memo"
        fields = [f"{block}.{f}" for f in PARTY]
        [row] = list(
            self.client.iter_query(
                "SODOCUMENT", fields, filter=q.eq("DOCID", docid), docparid=definition, deadline=deadline()
            )
        )
        return {k.removeprefix(f"{block}."): v for k, v in row.items() if v}


def shopify_order(name: str) -> list[CanonicalEvent]:
    raw = load("shopify", name)
    return shopify.parse(shopify_headers(raw, "orders/paid"), raw, connection("shopify"))


def woo_order(name: str) -> list[CanonicalEvent]:
    raw = load("woocommerce", name)
    return woocommerce.parse(woocommerce_headers(raw, "order.updated"), raw, connection("woocommerce"))


def bigcommerce_order() -> list[CanonicalEvent]:
    bundle: dict[str, Any] = json.loads(load("bigcommerce", "order_fetch_us_coupon.json"))
    return bigcommerce.order_events(
        bundle["order"], bundle["products"], bundle["shipping_addresses"], [], connection=connection("bigcommerce")
    )


BOB_BILLING = {
    "PRINTAS": "Bob Norman",
    "PHONE1": "555-625-1199",  # the billing address's phone, not the customer's +15025550100
    "EMAIL1": "bob.norman@mail.example.com",
    "MAILADDRESS.ADDRESS1": "Chestnut Street 92",
    "MAILADDRESS.CITY": "Louisville",
    "MAILADDRESS.STATE": "KY",
    "MAILADDRESS.ZIP": "40202",
    "MAILADDRESS.COUNTRYCODE": "US",
}
ALICE_SHIPPING = {
    "PRINTAS": "Alice Norman",
    "COMPANYNAME": "Norman & Daughters",
    "PHONE1": "+1 513-555-0199",
    "EMAIL1": "bob.norman@mail.example.com",  # the order's e-mail: Shopify addresses carry none
    "MAILADDRESS.ADDRESS1": "12 Oak Avenue",
    "MAILADDRESS.ADDRESS2": "Apt 3",
    "MAILADDRESS.CITY": "Cincinnati",
    "MAILADDRESS.STATE": "OH",
    "MAILADDRESS.ZIP": "45202",
    "MAILADDRESS.COUNTRYCODE": "US",
}


def _without_name(party: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in party.items() if k != "CONTACTNAME"}


def test_shopify_gift_order_is_billed_to_the_buyer_and_shipped_to_the_recipient(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_gift_shipped_elsewhere.json"))
    assert _without_name(books.party("Sales Invoice-1044", "BILLTO")) == BOB_BILLING
    assert _without_name(books.party("Sales Invoice-1044", "SHIPTO")) == ALICE_SHIPPING


def test_shopify_refund_credit_memo_carries_the_same_bill_to_and_ship_to(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_gift_shipped_elsewhere.json"))
    body = json.loads(load("shopify", "refunds_create.json"))
    body["order_id"] = 450789470  # the refund of this order (same payload otherwise)
    raw = json.dumps(body).encode()
    books.refund(shopify.parse(shopify_headers(raw, "refunds/create"), raw, connection("shopify")))
    credit = "Sales Credit Memo-CM-1044-509562969"
    assert books.party(credit, "BILLTO") == books.party("Sales Invoice-1044", "BILLTO")
    assert _without_name(books.party(credit, "SHIPTO")) == ALICE_SHIPPING


def test_a_repeat_customers_new_address_never_rewrites_the_older_invoice(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_us_tax_exclusive_discount.json"))  # #1001 ships to Bob's home
    before = books.party("Sales Invoice-1001", "SHIPTO")
    books.post(shopify_order("orders_paid_gift_shipped_elsewhere.json"))  # #1044: same buyer, new ship-to
    assert books.party("Sales Invoice-1001", "SHIPTO") == before
    assert before["MAILADDRESS.ADDRESS1"] == "Chestnut Street 92"
    assert books.party("Sales Invoice-1044", "SHIPTO")["MAILADDRESS.ADDRESS1"] == "12 Oak Avenue"
    # One customer; Bob's billing address is one contact for both invoices, Alice's another.
    snapshot = intacct.snapshot()
    assert len([c for c in snapshot["customers"] if c["NAME"] == "Bob Norman"]) == 1
    order_contacts = {c["CONTACTNAME"] for c in snapshot["contacts"] if "[" in c["CONTACTNAME"]}
    assert len(order_contacts) == 2
    assert books.party("Sales Invoice-1001", "BILLTO") == books.party("Sales Invoice-1044", "BILLTO")


def test_woocommerce_order_of_a_known_customer_without_address_carries_the_orders_addresses(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(woo_order("order_updated_processing_ship_to_office.json"))
    entry = books.ledger.get("test-woocommerce", "901")
    assert entry is not None and entry.customer_id == "C-2001"  # matched, not created
    assert _without_name(books.party("Sales Invoice-901", "BILLTO")) == {
        "PRINTAS": "Uyi Moses",
        "COMPANYNAME": "Penciledge",
        "PHONE1": "08171263283",
        "EMAIL1": "uyi@penciledge.net",
        "MAILADDRESS.ADDRESS1": "8623 Hemlock Hill Drive, Houston",
        "MAILADDRESS.CITY": "Lagos",
        "MAILADDRESS.STATE": "TX",
        "MAILADDRESS.ZIP": "23401",
        "MAILADDRESS.COUNTRYCODE": "US",
    }
    assert _without_name(books.party("Sales Invoice-901", "SHIPTO")) == {
        "PRINTAS": "Uyi Moses",
        "COMPANYNAME": "Penciledge Ltd",
        "PHONE1": "+234 1 555 0199",
        "EMAIL1": "uyi@penciledge.net",
        "MAILADDRESS.ADDRESS1": "14 Admiralty Way",
        "MAILADDRESS.ADDRESS2": "Lekki Phase 1",
        "MAILADDRESS.CITY": "Lagos",
        "MAILADDRESS.STATE": "LA",
        "MAILADDRESS.ZIP": "106104",
        "MAILADDRESS.COUNTRYCODE": "NG",
    }
    # The matched customer record itself is left as it was.
    [c2001] = [c for c in intacct.snapshot()["customers"] if c["CUSTOMERID"] == "C-2001"]
    assert not c2001["DISPLAYCONTACT"].get("MAILADDRESS")


def test_bigcommerce_order_ships_to_its_shipping_address_not_the_billing_one(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(bigcommerce_order())
    bill = books.party("Sales Invoice-218", "BILLTO")
    ship = books.party("Sales Invoice-218", "SHIPTO")
    assert (bill["PRINTAS"], bill["MAILADDRESS.ADDRESS1"], bill["MAILADDRESS.CITY"]) == (
        "Jane Doe",
        "555 East Street",
        "Austin",
    )
    assert bill["PHONE1"] == "1234567890" and bill["EMAIL1"] == "janedoe@example.com"
    assert (ship["PRINTAS"], ship["COMPANYNAME"], ship["MAILADDRESS.ADDRESS1"], ship["MAILADDRESS.CITY"]) == (
        "Trishy Smith",
        "Acme Pty Ltd",
        "666 Sussex St",
        "San Antonio",
    )
    # BigCommerce's shipping address has no phone: the order's (billing) phone stands in.
    assert ship["PHONE1"] == "1234567890" and ship["EMAIL1"] == "janedoe@example.com"


def test_a_known_address_is_not_created_again(client: IntacctClient, intacct: IntacctSandbox) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_us_tax_exclusive_discount.json"))
    mark = len(intacct.requests)
    books.post(shopify_order("orders_paid_gift_shipped_elsewhere.json"))
    created = [f.object for r in intacct.requests[mark:] for f in r.functions if f.name == "create"]
    assert created == ["CONTACT"]  # Alice's address only; Bob (customer and billing contact) is known


def test_customer_setting_leaves_intacct_defaults(client: IntacctClient, intacct: IntacctSandbox) -> None:
    books = Books(client, _settings(invoice={"addresses": "customer"}))
    books.post(shopify_order("orders_paid_gift_shipped_elsewhere.json"))
    ship = books.party("Sales Invoice-1044", "SHIPTO")
    assert ship["CONTACTNAME"].endswith(")") and ship["MAILADDRESS.ADDRESS1"] == "Chestnut Street 92"


# --- currencies --------------------------------------------------------------------------------


def ar_payments(client: IntacctClient, customer_id: str) -> list[dict[str, str]]:
    return list(
        client.iter_query(
            "ARPYMT",
            ["DOCNUMBER", "CURRENCY", "TOTALENTERED", "DESCRIPTION"],
            filter=q.eq("CUSTOMERID", customer_id),
            deadline=deadline(),
        )
    )


def document(client: IntacctClient, docid: str, definition: str) -> dict[str, str]:
    [row] = list(
        client.iter_query(
            "SODOCUMENT",
            ["DOCID", "CURRENCY", "TOTAL", "PRRECORDKEY"],
            filter=q.eq("DOCID", docid),
            docparid=definition,
            deadline=deadline(),
        )
    )
    return row


def test_shopify_payment_in_the_presentment_currency_pays_the_shop_currency_invoice(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    """Shop in USD, customer paid 390.00 EUR: the ARPYMT is in USD and settles the 421.28 USD invoice."""
    books = Books(client)
    books.post(shopify_order("orders_paid_presentment_eur.json"))
    invoice = document(client, "Sales Invoice-1045", "Sales Invoice")
    assert (invoice["CURRENCY"], invoice["TOTAL"]) == ("USD", "421.28")
    raw = load("shopify", "order_transactions_create_sale_presentment_eur.json")
    books.refund(shopify.parse(shopify_headers(raw, "order_transactions/create"), raw, connection("shopify")))
    entry = books.ledger.get("test-shopify", "450789471")
    assert entry is not None and entry.status == "paid"
    [payment] = ar_payments(client, entry.customer_id or "")
    assert (payment["CURRENCY"], payment["TOTALENTERED"]) == ("USD", "421.28")
    assert "390.00 EUR" in payment["DESCRIPTION"]
    [ar] = list(
        client.iter_query(
            "ARINVOICE", ["TOTALDUE"], filter=q.eq("RECORDNO", invoice["PRRECORDKEY"]), deadline=deadline()
        )
    )
    assert ar["TOTALDUE"] == "0.00"


def test_shopify_refund_in_the_presentment_currency_is_credited_in_the_shop_currency(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    """50.00 EUR back to the customer is 54.01 USD at the order's rate (421.28 USD = 390.00 EUR),
    not a 50.00 USD credit memo."""
    books = Books(client)
    books.post(shopify_order("orders_paid_presentment_eur.json"))
    raw = load("shopify", "refunds_create_presentment_eur.json")
    books.refund(shopify.parse(shopify_headers(raw, "refunds/create"), raw, connection("shopify")))
    credit = document(client, "Sales Credit Memo-CM-1045-509562970", "Sales Credit Memo")
    assert (credit["CURRENCY"], credit["TOTAL"]) == ("USD", "54.01")


def test_a_payment_in_a_currency_the_order_never_had_is_refused_with_the_reason(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    books = Books(client)
    books.post(shopify_order("orders_paid_presentment_eur.json"))
    body = json.loads(load("shopify", "order_transactions_create_sale_presentment_eur.json"))
    body["currency"] = "GBP"
    raw = json.dumps(body).encode()
    events = shopify.parse(shopify_headers(raw, "order_transactions/create"), raw, connection("shopify"))
    [outcome] = books.payment_poster(events, deadline()).values()
    assert outcome.status == "park"
    assert "is in GBP but its invoice is in USD" in outcome.reason
    entry = books.ledger.get("test-shopify", "450789471")
    assert entry is not None and not entry.payments and ar_payments(client, entry.customer_id or "") == []


def test_bigcommerce_order_is_invoiced_in_its_transactional_currency(
    client: IntacctClient, intacct: IntacctSandbox
) -> None:
    """`currency_code` USD is only the display currency; the shopper paid in EUR
    (`default_currency_code`), and the amounts are EUR: a EUR invoice, paid by a EUR payment."""
    bundle: dict[str, Any] = json.loads(load("bigcommerce", "order_fetch_eur_transactional.json"))
    events = bigcommerce.order_events(
        bundle["order"],
        bundle["products"],
        bundle["shipping_addresses"],
        bundle["transactions"],
        connection=connection("bigcommerce"),
    )
    books = Books(client)
    books.post(events)
    invoice = document(client, "Sales Invoice-219", "Sales Invoice")
    assert (invoice["CURRENCY"], invoice["TOTAL"]) == ("EUR", "72.53")
    books.refund([e for e in events if e.type == "payment"])
    entry = books.ledger.get("test-bigcommerce", "219")
    assert entry is not None and entry.status == "paid"
    [payment] = ar_payments(client, entry.customer_id or "")
    assert (payment["CURRENCY"], payment["TOTALENTERED"]) == ("EUR", "72.53")


# --- quantities --------------------------------------------------------------------------------


def test_shopify_edited_order_invoices_the_current_quantities(client: IntacctClient, intacct: IntacctSandbox) -> None:
    """An order edit removed the red iPod (`current_quantity` 0): it is not invoiced, and the
    invoice equals the edited total instead of parking on it."""
    books = Books(client)
    books.post(shopify_order("orders_updated_edited_line_removed.json"))
    invoice = document(client, "Sales Invoice-1046", "Sales Invoice")
    assert invoice["TOTAL"] == "215.64"
    [stored] = [d for d in intacct.snapshot()["documents"] if d["DOCID"] == "Sales Invoice-1046"]
    items = [(e["ITEMID"], e["QUANTITY"], e["PRICE"]) for e in stored["ENTRIES"]]
    assert items == [("IPOD2008GREEN", "1", "199.00"), ("DISCOUNT", "1", "-5.00"), ("SHIPPING", "1", "10.00")]
    assert [(s["DESCRIPTION"], s["TOTAL"]) for s in stored["SUBTOTALS"]] == [("Tax", "11.64")]


def test_shopify_refunded_units_stay_on_the_invoice_for_their_credit_memo() -> None:
    """Units refunded (also gone from `current_quantity`) are credited by the refund's own credit
    memo, so the invoice keeps them: only edits take units off the invoice."""
    body = json.loads(load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    refund = json.loads(load("shopify", "refunds_create.json"))
    refund["order_id"] = body["id"]
    refund["refund_line_items"] = [refund["refund_line_items"][1]]  # the green iPod, line 466157049
    body["refunds"] = [refund]
    body["line_items"][0]["current_quantity"] = 0
    order = shopify.order_from_json(body, connection("shopify"))
    assert [(line.sku, line.quantity) for line in order.lines] == [("IPOD2008GREEN", 1), ("IPOD2008RED", 1)]
    assert order.check_totals().ok
