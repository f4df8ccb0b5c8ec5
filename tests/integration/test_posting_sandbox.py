"""The pure posting core against the Intacct sandbox over HTTP: every real fixture order of the
three channels becomes an invoice whose TOTAL (computed by the sandbox) equals the channel total
to the cent; payments, refunds, a cancellation credit and an update post and add up; each
customer-match mode finds or creates its customer.

The I/O here is a minimal test helper (the consumers own the real one)."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels import bigcommerce, shopify, woocommerce
from intacct_sync.intacct import IntacctClient
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.models.order import Customer, Order, Payment
from intacct_sync.posting.contacts import contact_controlid
from intacct_sync.posting.customers import customer_id_for, customer_record, lookup_filter, match_key
from intacct_sync.posting.mapping import (
    cancellation_controlid,
    cancellation_credit_for,
    credit_controlid,
    credit_memo_for,
    customer_controlid,
    document_contacts,
    intacct_total,
    invoice_controlid,
    invoice_for,
    invoice_update_controlid,
    invoice_update_for,
    payment_controlid,
    payment_for,
)
from intacct_sync.retry import Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, load_settings
from local.intacct_sandbox import IntacctSandbox
from tests.fixtures.channels.sign import connection, load

FIXTURE_SKUS = [
    "IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK", "IPOD2008PINK", "SCARF-MER-GRY", "GLOVE-LTH-M",
    "MATCHA-SET", "SENCHA-100", "Bar3", "CUP-ESP-2", "BEANS-1KG", "S-ORAN", "DUST1",
]  # fmt: skip


def _settings(**over: Any) -> Settings:
    data = DEFAULT_SETTINGS.model_dump(mode="json")
    data["items"].update({"no_sku": "fallback", "fallback_item_id": "MUG-01"})
    data["customer"]["guest_customer_id"] = "C-1001"  # guests with neither name nor e-mail
    for key, value in over.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return load_settings(data)


SETTINGS = _settings()


@pytest.fixture
def intacct(sandbox: IntacctSandbox) -> IntacctSandbox:
    """The sandbox with the fixtures' currencies and SKUs set up, as a merchant's company would be."""
    seed = copy.deepcopy(sandbox.seed)
    company = seed["companies"][0]
    company["currencies"] += ["JPY", "HKD"]
    company["items"] += [{"ITEMID": sku, "NAME": sku, "ITEMTYPE": "Inventory", "UNIT": "Each"} for sku in FIXTURE_SKUS]
    sandbox.reset(seed=seed)
    return sandbox


def deadline() -> Deadline:
    return Deadline.after(30)


def fixture_orders() -> list[Order]:
    shop = [
        "orders_paid_us_tax_exclusive_discount.json",
        "orders_paid_eu_vat_inclusive.json",
        "orders_create_jpy_bank_transfer.json",
        "orders_create_guest_no_sku_hkd.json",
        "orders_cancelled_test_notification.json",
    ]
    woo = [
        "order_created_guest_no_sku.json",
        "order_updated_stripe_paid.json",
        "order_updated_eu_vat_coupon_partial_refund.json",
        "order_created_pending_not_placed.json",
    ]
    bundle = json.loads(load("bigcommerce", "order_fetch_us_coupon.json"))
    return [
        *(shopify.order_from_json(json.loads(load("shopify", n)), connection("shopify")) for n in shop),
        *(woocommerce.order_from_json(json.loads(load("woocommerce", n)), connection("woocommerce")) for n in woo),
        bigcommerce.parse_order(
            bundle["order"], bundle["products"], bundle["shipping_addresses"], connection=connection("bigcommerce")
        ),
    ]


# --- a tiny I/O helper -----------------------------------------------------------------------


def ensure_contacts(client: IntacctClient, order: Order, settings: Settings) -> None:
    """The order's bill-to / ship-to contacts, created unless they exist (as the consumers do)."""
    for contact in document_contacts(order, settings).all:
        assert contact.contact_name is not None
        exists = list(
            client.iter_query("CONTACT", ["CONTACTNAME"], filter=q.eq("CONTACTNAME", contact.contact_name),
                              deadline=deadline())
        )  # fmt: skip
        if not exists:
            client.execute_one(fn.create_contact(contact, controlid=contact_controlid(contact)), deadline=deadline())


def ensure_customer(client: IntacctClient, order: Order, settings: Settings) -> tuple[str, str | None]:
    """(CUSTOMERID, contact name): found by the mode's field, else created with the derived id;
    the order's bill-to / ship-to contacts are made sure of too."""
    ensure_contacts(client, order, settings)
    key = match_key(order, settings)
    if key.fixed_id:
        return key.fixed_id, None
    lk = lookup_filter(key)
    rows = list(
        client.iter_query(
            lk.object,
            lk.fields,
            filter=lk.filter,
            case_insensitive=True,
            order_by=[("RECORDNO", True)],
            deadline=deadline(),
        )
    )
    if rows:
        return rows[0]["CUSTOMERID"], rows[0].get("DISPLAYCONTACT.CONTACTNAME") or None
    customer_id = customer_id_for(key, settings)
    client.execute_one(
        fn.create_customer(customer_record(order, key, customer_id), controlid=customer_controlid(customer_id)),
        deadline=deadline(),
    )
    row = next(
        client.iter_query(
            "CUSTOMER",
            ["CUSTOMERID", "DISPLAYCONTACT.CONTACTNAME"],
            filter=q.eq("CUSTOMERID", customer_id),
            deadline=deadline(),
        )
    )
    return customer_id, row["DISPLAYCONTACT.CONTACTNAME"]


def post(client: IntacctClient, txn: Any, controlid: str) -> dict[str, str]:
    res = client.execute_one(fn.create_sotransaction(txn, controlid=controlid), deadline=deadline())
    assert res.key is not None
    return read_doc(client, res.key, txn.transaction_type)


def read_doc(client: IntacctClient, key: str, definition: str) -> dict[str, str]:
    return next(
        client.iter_query(
            "SODOCUMENT", ["RECORDNO", "DOCID", "TOTAL", "PRRECORDKEY", "PONUMBER", "CUSTVENDID"],
            filter=q.eq("DOCID", key), docparid=definition, deadline=deadline(),
        )
    )  # fmt: skip


def read_ar(client: IntacctClient, recordno: str) -> dict[str, str]:
    return next(
        client.iter_query(
            "ARINVOICE", ["RECORDNO", "TOTALDUE", "TOTALPAID"], filter=q.eq("RECORDNO", recordno), deadline=deadline()
        )
    )


def invoice(client: IntacctClient, order: Order, settings: Settings = SETTINGS) -> tuple[dict[str, str], str]:
    customer_id, contact = ensure_customer(client, order, settings)
    txn = invoice_for(order, settings, customer_id=customer_id, contact_name=contact)
    return post(client, txn, invoice_controlid(order)), customer_id


# --- invoices --------------------------------------------------------------------------------


@pytest.mark.parametrize("order", fixture_orders(), ids=lambda o: f"{o.channel}-{o.order_number}-{o.currency}")
def test_fixture_order_invoice_total_in_intacct_equals_channel_total(
    client: IntacctClient, intacct: IntacctSandbox, order: Order
) -> None:
    doc, customer_id = invoice(client, order)
    assert Decimal(doc["TOTAL"]) == order.total
    assert doc["DOCID"] == f"Sales Invoice-{order.order_number}"
    assert doc["PONUMBER"] == order.order_number and doc["CUSTVENDID"] == customer_id
    ar = read_ar(client, doc["PRRECORDKEY"])
    assert Decimal(ar["TOTALDUE"]) == order.total


def test_every_field_lands_on_the_sandbox_document(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[0]  # Shopify US, tax exclusive, discount code, note, shipping
    s = _settings(
        invoice={
            "term_name": "Net 30",
            "shipping_methods": {"Standard Shipping": "UPS"},
            "numbering": {"mode": "order_number", "prefix": "SHOP-"},
        }
    )
    doc, customer_id = invoice(client, order, s)
    stored = next(d for d in intacct.snapshot()["documents"] if d["DOCID"] == doc["DOCID"])
    assert stored["DOCID"] == "Sales Invoice-SHOP-1001" and stored["PONUMBER"] == "1001"
    assert stored["WHENCREATED"] == "05/02/2024" and stored["WHENDUE"] == "06/01/2024"
    assert stored["MESSAGE"] == "Please gift wrap" and stored["SHIPVIAKEY"] == "UPS" and stored["CURRENCY"] == "USD"
    # Billing and shipping are one address here: one contact, the order's, for both.
    assert stored["BILLTO"]["CONTACTNAME"] == stored["SHIPTO"]["CONTACTNAME"] != f"Bob Norman(C{customer_id})"
    assert stored["BILLTO"]["MAILADDRESS"]["ADDRESS1"] == "Chestnut Street 92"
    assert stored["BILLTO"]["PHONE1"] == "555-625-1199" and stored["BILLTO"]["EMAIL1"] == "bob.norman@mail.example.com"
    entries = [
        (e["ITEMID"], e["QUANTITY"], e["PRICE"], e.get("WAREHOUSEID"), e.get("LOCATIONID"), e.get("UNIT"))
        for e in stored["ENTRIES"]
    ]
    assert entries == [
        ("IPOD2008GREEN", "1", "199.00", "WH-EAST", "100", "Each"),
        ("DISCOUNT", "1", "-5.00", None, "100", "Each"),
        ("IPOD2008RED", "1", "199.00", "WH-EAST", "100", "Each"),
        ("DISCOUNT", "1", "-5.00", None, "100", "Each"),
        ("SHIPPING", "1", "10.00", None, "100", "Each"),
    ]
    assert [(st["DESCRIPTION"], st["TOTAL"]) for st in stored["SUBTOTALS"]] == [("Tax", "23.28")]


def test_intacct_numbering(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[1]
    s = _settings(invoice={"numbering": {"mode": "intacct"}})
    customer_id, contact = ensure_customer(client, order, s)
    doc = post(client, invoice_for(order, s, customer_id=customer_id, contact_name=contact), invoice_controlid(order))
    assert doc["DOCID"] == "Sales Invoice-INV0001" and Decimal(doc["TOTAL"]) == order.total


# --- payments, refunds, cancellations, updates -----------------------------------------------


def test_payment_applies_to_the_invoice_ar_record(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[0]
    doc, customer_id = invoice(client, order)
    capture = shopify.payment_from_transaction(
        json.loads(load("shopify", "order_transactions_create_capture.json")), connection("shopify")
    )
    assert capture is not None
    ar = payment_for(capture, customer_id, SETTINGS, record_key=doc["PRRECORDKEY"], order_number=order.order_number)
    client.execute_one(fn.create_ar_payment(ar, controlid=payment_controlid(capture)), deadline=deadline())
    assert read_ar(client, doc["PRRECORDKEY"]) == {
        "RECORDNO": doc["PRRECORDKEY"],
        "TOTALDUE": "0.00",
        "TOTALPAID": "421.28",
    }
    stored = intacct.snapshot()["payments"][-1]
    assert stored["DOCNUMBER"] == capture.payment_id and stored["UNDEPOSITEDACCOUNTNO"] == "1200"


def test_partial_payments_by_bank_transfer_in_jpy(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[2]  # JPY, manual gateway -> EFT to bank BOA
    doc, customer_id = invoice(client, order)
    for n, amount in enumerate(("5000", "3060"), start=1):
        payment = Payment(
            connection_id=order.connection_id, channel="shopify", order_id=order.order_id, payment_id=f"p{n}",
            kind="sale", amount=Decimal(amount), currency="JPY", gateway="manual", processed_at=order.created_at,
        )  # fmt: skip
        ar = payment_for(payment, customer_id, SETTINGS, record_key=doc["PRRECORDKEY"])
        assert ar.financial_entity == "BOA" and ar.payment_method == "EFT"
        client.execute_one(fn.create_ar_payment(ar, controlid=payment_controlid(payment)), deadline=deadline())
    assert read_ar(client, doc["PRRECORDKEY"])["TOTALPAID"] == "8060.00"


def test_refunds_become_credit_memos_totalling_the_refund(client: IntacctClient, intacct: IntacctSandbox) -> None:
    orders = fixture_orders()
    us, bc = orders[0], orders[-1]
    _, us_customer = invoice(client, us)
    refund = shopify.refund_from_json(json.loads(load("shopify", "refunds_create.json")), connection("shopify"))
    doc = post(client, credit_memo_for(refund, us, SETTINGS, customer_id=us_customer), credit_controlid(refund))
    assert Decimal(doc["TOTAL"]) == refund.amount and doc["DOCID"] == f"Sales Credit Memo-CM-1001-{refund.refund_id}"
    _, bc_customer = invoice(client, bc)
    bc_refund = bigcommerce.parse_refund(
        json.loads(load("bigcommerce", "refund_fetch.json")), bc, connection("bigcommerce")
    )
    doc = post(client, credit_memo_for(bc_refund, bc, SETTINGS, customer_id=bc_customer), credit_controlid(bc_refund))
    assert Decimal(doc["TOTAL"]) == bc_refund.amount
    amount_only = bc_refund.model_copy(update={"refund_id": "13", "lines": (), "amount": Decimal("3.33")})
    doc = post(
        client, credit_memo_for(amount_only, bc, SETTINGS, customer_id=bc_customer), credit_controlid(amount_only)
    )
    assert Decimal(doc["TOTAL"]) == Decimal("3.33")


def test_cancelled_paid_order_gets_a_full_credit_memo(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[4]  # Shopify test notification: cancelled
    doc, customer_id = invoice(client, order)
    credit = post(
        client, cancellation_credit_for(order, SETTINGS, customer_id=customer_id), cancellation_controlid(order)
    )
    assert Decimal(credit["TOTAL"]) == Decimal(doc["TOTAL"]) == order.total
    assert credit["DOCID"] == "Sales Credit Memo-CM-9999-CANCEL"


def test_update_before_payment_changes_lines_and_total(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[0]
    customer_id, contact = ensure_customer(client, order, SETTINGS)
    first = invoice_for(order, SETTINGS, customer_id=customer_id, contact_name=contact)
    doc = post(client, first, invoice_controlid(order))
    # The customer drops the red iPod and the shipping becomes free.
    lines = (order.lines[0],)
    tax = Decimal("11.64")
    changed = order.model_copy(
        update={"lines": lines, "shipping_lines": (), "discounts": (), "total_tax": tax, "total": lines[0].net + tax}
    )
    update = invoice_update_for(changed, first, SETTINGS, customer_id=customer_id, contact_name=contact)
    client.execute_one(
        fn.update_sotransaction(doc["DOCID"], update, controlid=invoice_update_controlid(changed, update)),
        deadline=deadline(),
    )
    after = read_doc(client, doc["DOCID"], "Sales Invoice")
    assert Decimal(after["TOTAL"]) == changed.total == Decimal("205.64")
    assert after["PRRECORDKEY"] != doc["PRRECORDKEY"]  # the AR record is re-created: read it again


# --- customer match --------------------------------------------------------------------------


def person(first: str, last: str, company: str | None = None, email: str | None = None) -> Order:
    base = fixture_orders()[0]
    return base.model_copy(
        update={
            "customer": Customer(first_name=first, last_name=last, company=company, email=email, is_guest=False),
            "billing_address": None,
            "shipping_address": None,
        }
    )


@pytest.mark.parametrize(
    ("mode", "order", "found"),
    [
        ("customer_name", person("ada", "LOVELACE"), "C-1001"),
        ("first_last", person("Grace", "Hopper"), "C-1002"),
        ("company", person("Someone", "Else", company="navy labs"), "C-1002"),
    ],
)
def test_each_match_mode_finds_the_existing_customer(
    client: IntacctClient, intacct: IntacctSandbox, mode: str, order: Order, found: str
) -> None:
    customer_id, contact = ensure_customer(client, order, _settings(customer={"match": mode}))
    assert customer_id == found and contact


@pytest.mark.parametrize("mode", ["customer_name", "first_last", "company"])
def test_each_match_mode_creates_a_missing_customer_once(
    client: IntacctClient, intacct: IntacctSandbox, mode: str
) -> None:
    s = _settings(customer={"match": mode})
    order = person("Alan", "Turing", company="Bletchley Ltd", email="alan@example.com")
    created, contact = ensure_customer(client, order, s)
    assert created.startswith("WEB-") and contact == f"{match_key(order, s).name}(C{created})"
    again, _ = ensure_customer(client, order, s)
    assert again == created
    customers = [c for c in intacct.snapshot()["customers"] if c["CUSTOMERID"] == created]
    assert len(customers) == 1
    assert customers[0]["DISPLAYCONTACT"]["EMAIL1"] == "alan@example.com"
    # The invoice bills it through its generated contact.
    doc = post(client, invoice_for(order, s, customer_id=created, contact_name=contact), invoice_controlid(order))
    assert Decimal(doc["TOTAL"]) == order.total


def test_single_mode_bills_one_customer_without_lookup(client: IntacctClient, intacct: IntacctSandbox) -> None:
    s = _settings(customer={"match": "single", "single_customer_id": "C-1001"})
    before = len(intacct.requests)
    customer_id, contact = ensure_customer(client, fixture_orders()[0], s)
    assert (customer_id, contact) == ("C-1001", None)
    # Only the order's contacts were looked at: no customer lookup.
    assert {f.object for r in intacct.requests[before:] for f in r.functions} - {None} == {"CONTACT"}
    doc = post(
        client, invoice_for(fixture_orders()[0], s, customer_id=customer_id), invoice_controlid(fixture_orders()[0])
    )
    assert doc["CUSTVENDID"] == "C-1001"


def test_inactive_customer_is_not_matched(client: IntacctClient, intacct: IntacctSandbox) -> None:
    customer_id, _ = ensure_customer(client, person("Dormant", "Buyer"), SETTINGS)
    assert customer_id != "C-1003" and customer_id.startswith("WEB-")


def test_guest_without_name_is_matched_by_email(client: IntacctClient, intacct: IntacctSandbox) -> None:
    order = fixture_orders()[0].model_copy(
        update={
            "customer": Customer(email="ada@example.com", is_guest=True),
            "billing_address": None,
            "shipping_address": None,
        }
    )
    assert ensure_customer(client, order, SETTINGS)[0] == "C-1001"


def test_sandbox_total_is_what_intacct_total_predicts(client: IntacctClient, intacct: IntacctSandbox) -> None:
    for order in fixture_orders()[:3]:
        customer_id, contact = ensure_customer(client, order, SETTINGS)
        txn = invoice_for(order, SETTINGS, customer_id=customer_id, contact_name=contact)
        assert Decimal(post(client, txn, invoice_controlid(order))["TOTAL"]) == intacct_total(txn)
