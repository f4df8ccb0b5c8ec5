"""The XML the client emits matches the wire shapes of the Intacct reference and DTD."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal

import pytest

from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import (
    Address,
    ArPayment,
    Contact,
    CustomerRecord,
    PaymentApplication,
    SalesLine,
    SalesTransaction,
    SalesTransactionUpdate,
    Subtotal,
)
from intacct_sync.intacct.wire import LoginAuth, SessionAuth, build_request

# Content models copied from intacct_icoe_functions / intacct_request_objects v2.1 DTDs.
SO_HEADER = (
    "transactiontype datecreated dateposted createdfrom customerid documentno origdocdate referenceno "
    "termname datedue message shippingmethod shipto billto supdocid externalid basecurr currency "
    "exchratedate exchratetype exchrate vsoepricelist customfields state projectid sotransitems subtotals"
).split()
SO_UPDATE = (
    "datecreated dateposted referenceno termname datedue origdocdate message shippingmethod shipto billto "
    "supdocid externalid basecurr currency exchratedate exchratetype exchrate vsoepricelist customfields "
    "state projectid updatesotransitems updatesubtotals"
).split()
SO_LINE = (
    "bundlenumber itemid itemdesc taxable warehouseid quantity unit linelevelsimpletaxtype discountpercent "
    "price sourcelinekey discsurchargememo locationid departmentid memo itemdetails customfields "
    "revrectemplate revrecstartdate revrecenddate renewalmacro projectid customerid vendorid employeeid "
    "classid contractid fulfillmentstatus taskno billingtemplate dropship shipto"
).split()
SUBTOTAL = (
    "description total absval percentval locationid departmentid projectid customerid vendorid "
    "employeeid classid itemid contractid customfields"
).split()
CONTROL = "senderid password controlid uniqueid dtdversion policyid includewhitespace".split()


def assert_in_dtd_order(el: ET.Element, model: list[str]) -> None:
    tags = [c.tag for c in el]
    assert all(t in model for t in tags), f"{el.tag}: unknown children {set(tags) - set(model)}"
    positions = [model.index(t) for t in tags]
    assert positions == sorted(positions), f"{el.tag}: {tags} out of DTD order"
    assert len(set(tags)) == len(tags), f"{el.tag}: repeated children {tags}"


def full_invoice() -> SalesTransaction:
    line = SalesLine(
        item_id="SKU-1",
        quantity=Decimal(2),
        item_desc="T-shirt",
        taxable=True,
        warehouse_id="WH1",
        unit="Each",
        discount_percent=Decimal(10),
        price=Decimal("19.99"),
        discsurcharge_memo="promo",
        location_id="100",
        department_id="SALES",
        memo="line memo",
        custom_fields={"CF1": "x"},
        project_id="P1",
        class_id="C1",
    )
    return SalesTransaction(
        transaction_type="Sales Invoice",
        date_created=date(2024, 5, 1),
        created_from="Sales Order-SO1",
        customer_id="WEB-000123",
        document_no="SHOP-1001",
        reference_no="1001",
        term_name="Net 30",
        date_due=date(2024, 5, 31),
        message="Web order 1001",
        shipping_method="UPS Ground",
        ship_to="Jane Doe(CWEB-000123)",
        bill_to="Jane Doe(CWEB-000123)",
        external_id="shopify:1001",
        base_currency="USD",
        currency="USD",
        custom_fields={"CHANNEL": "shopify"},
        state="Pending",
        project_id="P1",
        lines=[line, SalesLine(item_id="SHIPPING", quantity=Decimal(1), price=Decimal("5.00"))],
        subtotals=[
            Subtotal("Tax", Decimal("3.20")),
            Subtotal("Discount", Decimal("-1.00"), location_id="100"),
        ],
    )


def test_minimal_create_sotransaction_matches_the_sdk_fixture_byte_for_byte() -> None:
    f = fn.create_sotransaction(
        SalesTransaction(
            transaction_type="Sales Order",
            date_created=date(2015, 6, 30),
            customer_id="2530",
            lines=[SalesLine(item_id="02354032", quantity=Decimal(1200))],
        ),
        controlid="unittest",
    )
    assert ET.tostring(f.element, encoding="unicode") == (
        "<create_sotransaction><transactiontype>Sales Order</transactiontype><datecreated><year>2015</year>"
        "<month>06</month><day>30</day></datecreated><customerid>2530</customerid><sotransitems>"
        "<sotransitem><itemid>02354032</itemid><quantity>1200</quantity></sotransitem></sotransitems>"
        "</create_sotransaction>"
    )
    assert f.write and f.name == "create_sotransaction"


def test_every_create_sotransaction_field_is_written_in_dtd_order() -> None:
    el = fn.create_sotransaction(full_invoice(), controlid="so-inv-1001").element
    assert_in_dtd_order(el, SO_HEADER)
    for line in el.iter("sotransitem"):
        assert_in_dtd_order(line, SO_LINE)
    for st in el.iter("subtotal"):
        assert_in_dtd_order(st, SUBTOTAL)
    # Every optional header field of the document is present (nothing silently dropped).
    assert {c.tag for c in el} >= {
        "createdfrom",
        "documentno",
        "termname",
        "datedue",
        "shipto",
        "customfields",
    }
    assert el.findtext("shipto/contactname") == "Jane Doe(CWEB-000123)"
    assert el.find("exchratetype") is not None and not el.findtext("exchratetype")


def test_currency_with_fixed_rate_sends_exchrate_not_exchratetype() -> None:
    txn = SalesTransaction(
        transaction_type="Sales Invoice",
        date_created=date(2024, 1, 2),
        customer_id="C1",
        currency="EUR",
        exchange_rate=Decimal("1.0825"),
        lines=[SalesLine(item_id="A", quantity=Decimal(1))],
    )
    el = fn.create_sotransaction(txn, controlid="x").element
    assert el.findtext("exchrate") == "1.0825" and el.find("exchratetype") is None
    assert_in_dtd_order(el, SO_HEADER)


def test_update_sotransaction_is_in_dtd_order_with_line_numbers() -> None:
    upd = SalesTransactionUpdate(
        reference_no="1001",
        date_due=date(2024, 6, 1),
        message="changed",
        ship_to="Jane",
        state="Pending",
        line_updates={2: SalesLine(item_id="B", quantity=Decimal(3)), 1: SalesLine("A", Decimal(1))},
        new_lines=[SalesLine(item_id="C", quantity=Decimal(1), price=Decimal(4))],
        subtotals=[Subtotal("Shipping", Decimal("5.00"))],
    )
    el = fn.update_sotransaction("Sales Invoice-INV0001", upd, controlid="u1").element
    assert el.get("key") == "Sales Invoice-INV0001"
    assert_in_dtd_order(el, SO_UPDATE)
    items = el.find("updatesotransitems")
    assert items is not None
    assert [(c.tag, c.get("line_num")) for c in items] == [
        ("updatesotransitem", "1"),
        ("updatesotransitem", "2"),
        ("sotransitem", None),
    ]
    assert el.findtext("updatesubtotals/updatesubtotal/description") == "Shipping"


def test_delete_sotransaction_is_an_empty_element_with_the_key() -> None:
    el = fn.delete_sotransaction("Sales Invoice-INV1234", controlid="d").element
    assert ET.tostring(el, encoding="unicode") == '<delete_sotransaction key="Sales Invoice-INV1234" />'


def test_create_customer_minimal_matches_the_sdk_shape() -> None:
    f = fn.create_customer(
        CustomerRecord(customer_id="C1", name="SaaS Corp", display_contact=Contact(print_as="SaaS Corporation")),
        controlid="cust-C1",
    )
    assert ET.tostring(f.element, encoding="unicode") == (
        "<create><CUSTOMER><CUSTOMERID>C1</CUSTOMERID><NAME>SaaS Corp</NAME><DISPLAYCONTACT>"
        "<PRINTAS>SaaS Corporation</PRINTAS></DISPLAYCONTACT><STATUS>active</STATUS></CUSTOMER></create>"
    )


def test_create_customer_writes_contact_and_address() -> None:
    rec = CustomerRecord(
        customer_id="WEB-1",
        name="Jane Doe",
        display_contact=Contact(
            print_as="Jane Doe",
            first_name="Jane",
            last_name="Doe",
            email="jane@example.com",
            phone="555",
            address=Address(line1="1 Main", city="San Jose", state="CA", zip="95110", country="United States"),
        ),
        ship_to_contact="Jane Doe(CWEB-1)",
    )
    el = fn.create_customer(rec, controlid="c").element
    assert el.findtext("CUSTOMER/DISPLAYCONTACT/MAILADDRESS/CITY") == "San Jose"
    assert el.findtext("CUSTOMER/DISPLAYCONTACT/EMAIL1") == "jane@example.com"
    assert el.findtext("CUSTOMER/SHIPTO/CONTACTNAME") == "Jane Doe(CWEB-1)"


def test_ar_payment_has_required_fields_and_mmddyyyy_date() -> None:
    pay = ArPayment(
        customer_id="WEB-1",
        payment_method="Credit Card",
        receipt_date=date(2024, 5, 15),
        currency="USD",
        financial_entity="BOA",
        document_number="PAY-777",
        applications=[PaymentApplication(record_key="101", amount=Decimal("48.18"))],
    )
    el = fn.create_ar_payment(pay, controlid="arpymt-PAY-777").element
    p = el.find("ARPYMT")
    assert p is not None
    assert p.findtext("RECEIPTDATE") == "05/15/2024"
    assert p.findtext("ARPYMTDETAILS/ARPYMTDETAIL/RECORDKEY") == "101"
    assert p.findtext("ARPYMTDETAILS/ARPYMTDETAIL/TRX_PAYMENTAMOUNT") == "48.18"
    assert p.find("UNDEPOSITEDACCOUNTNO") is None


def test_ar_payment_requires_exactly_one_money_source() -> None:
    common = {
        "customer_id": "C",
        "payment_method": "Cash",
        "receipt_date": date(2024, 1, 1),
        "currency": "USD",
        "applications": [PaymentApplication("1", Decimal(1))],
    }
    with pytest.raises(ValueError, match="exactly one"):
        ArPayment(**common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        ArPayment(financial_entity="BOA", undeposited_account="1200", **common)  # type: ignore[arg-type]


def test_request_envelope_matches_the_sdk_request_block() -> None:
    body = build_request(
        sender_id="testsenderid",
        sender_password="pass123!",
        control_id="unittest",
        auth=SessionAuth("testsession.."),
        functions=[fn.lookup("CUSTOMER", controlid="f1")],
        unique_id=False,
    )
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<request><control>")
    root = ET.fromstring(body)
    control = root.find("control")
    assert control is not None
    assert [c.tag for c in control] == [
        "senderid",
        "password",
        "controlid",
        "uniqueid",
        "dtdversion",
        "includewhitespace",
    ]
    assert_in_dtd_order(control, CONTROL)
    assert control.findtext("uniqueid") == "false" and control.findtext("dtdversion") == "3.0"
    op = root.find("operation")
    assert op is not None and op.get("transaction") == "false"
    assert [c.tag for c in op] == ["authentication", "content"]
    assert root.findtext("operation/authentication/sessionid") == "testsession.."
    func = root.find("operation/content/function")
    assert func is not None and func.get("controlid") == "f1" and [c.tag for c in func] == ["lookup"]


def test_login_block_carries_the_entity_as_locationid() -> None:
    body = build_request(
        sender_id="s",
        sender_password="p",
        control_id="c",
        auth=LoginAuth("user", "company", "pw", entity_id="E1"),
        functions=[fn.get_api_session()],
        unique_id=False,
        transaction=True,
    )
    root = ET.fromstring(body)
    login = root.find("operation/authentication/login")
    assert login is not None
    assert [c.tag for c in login] == ["userid", "companyid", "password", "locationid"]
    assert root.find("operation") is not None and root.find("operation").get("transaction") == "true"  # type: ignore[union-attr]


def test_query_puts_values_in_xml_and_pages_with_offset() -> None:
    f = fn.query(
        "CUSTOMER",
        ["RECORDNO", "CUSTOMERID"],
        filter=q.and_(q.eq("DISPLAYCONTACT.EMAIL1", "o'brien@example.com"), q.in_("STATUS", ["active"])),
        order_by=[("RECORDNO", True)],
        case_insensitive=True,
        page_size=500,
        offset=1000,
    )
    el = f.element
    assert [c.tag for c in el] == ["object", "select", "filter", "orderby", "options", "pagesize", "offset"]
    assert el.findtext("filter/and/equalto/value") == "o'brien@example.com"
    assert el.findtext("orderby/order/field") == "RECORDNO" and el.find("orderby/order/ascending") is not None
    assert el.findtext("offset") == "1000" and not f.write


def test_and_or_with_one_child_collapse_because_intacct_needs_two() -> None:
    assert q.and_(q.eq("A", 1)) == q.eq("A", 1)
    with pytest.raises(ValueError):
        q.or_()


def test_query_rejects_page_sizes_outside_intacct_limits() -> None:
    with pytest.raises(ValueError):
        fn.query("CUSTOMER", ["RECORDNO"], page_size=2001)
    with pytest.raises(ValueError):
        fn.read_by_query("CUSTOMER", page_size=1001)
    with pytest.raises(ValueError):
        fn.query("CUSTOMER", [])


def test_readbyquery_literal_escapes_quotes_and_refuses_backslashes() -> None:
    assert q.readbyquery_literal("Bob's Pizza, Inc.") == "'Bob\\'s Pizza, Inc.'"
    with pytest.raises(ValueError, match="backslash"):
        q.readbyquery_literal("evil\\")


def test_controlids_are_limited_to_256_characters() -> None:
    fn.delete_sotransaction("k", controlid="x" * 256)
    with pytest.raises(ValueError):
        fn.delete_sotransaction("k", controlid="x" * 257)
    with pytest.raises(ValueError):
        fn.delete_sotransaction("k", controlid="")


@pytest.mark.parametrize(
    "hostile",
    ["quote \" and ' apostrophe", "a & b", "<tag>", "]]>", "emoji 😀🧾", "x" * 255, "&amp; already"],
)
def test_hostile_strings_are_escaped_by_the_builder(hostile: str) -> None:
    rec = CustomerRecord(customer_id="C", name=hostile, display_contact=Contact(print_as=hostile))
    body = build_request(
        sender_id="s",
        sender_password="p",
        control_id="c",
        auth=SessionAuth("s"),
        functions=[fn.create_customer(rec, controlid="c1")],
        unique_id=True,
    )
    assert ET.fromstring(body).findtext("operation/content/function/create/CUSTOMER/NAME") == hostile


def test_characters_xml_cannot_carry_are_dropped_not_sent_broken() -> None:
    rec = CustomerRecord(customer_id="C", name="bell\x07 nul\x00 ok", display_contact=Contact(print_as="x"))
    body = build_request(
        sender_id="s",
        sender_password="p",
        control_id="c",
        auth=SessionAuth("s"),
        functions=[fn.create_customer(rec, controlid="c1")],
        unique_id=True,
    )
    assert ET.fromstring(body).findtext(".//NAME") == "bell nul ok"
