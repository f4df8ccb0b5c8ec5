"""create/update/delete_sotransaction: DTD order, references, numbering, totals, AR link, stock."""

from __future__ import annotations

from local.intacct_sandbox import IntacctSandbox

from .conftest import Client, date_xml, fn, invoice_xml

SUBTOTALS = (
    "<subtotals><subtotal><description>Discount</description><total>-4.00</total></subtotal>"
    "<subtotal><description>Shipping</description><total>5.00</total></subtotal>"
    "<subtotal><description>Tax</description><total>3.20</total></subtotal></subtotals>"
)


def read_doc(client: Client, docid: str) -> dict[str, str]:
    a = client.one(
        "<readByQuery><object>SODOCUMENT</object><docparid>Sales Invoice</docparid>"
        f"<query>DOCID = '{docid}'</query><fields>RECORDNO,DOCNO,TOTAL,PRRECORDKEY,STATE,WHENDUE</fields>"
        "</readByQuery>"
    )
    doc = a.data().find("sodocument")
    assert doc is not None, f"{docid} not found"
    return {c.tag: c.text or "" for c in doc}


def read_arinvoice(client: Client, recordno: str) -> dict[str, str]:
    a = client.one(f"<read><object>ARINVOICE</object><keys>{recordno}</keys><fields>*</fields></read>")
    inv = a.data().find("arinvoice")
    assert inv is not None, f"ARINVOICE {recordno} not found"
    return {c.tag: c.text or "" for c in inv}


def test_create_invoice_and_read_back(client: Client, sb: IntacctSandbox) -> None:
    a = client.one(invoice_xml(subtotals=SUBTOTALS))
    assert a.status() == "success", a.errortext()
    assert a.result().findtext("key") == "Sales Invoice-INV0001"
    doc = read_doc(client, "Sales Invoice-INV0001")
    # 2 x 19.99 = 39.98; -4 + 5 + 3.20 -> 44.18
    assert doc["TOTAL"] == "44.18"
    assert doc["STATE"] == "Pending"
    assert doc["WHENDUE"] == "05/31/2024"
    inv = read_arinvoice(client, doc["PRRECORDKEY"])
    assert inv["TOTALENTERED"] == inv["TOTALDUE"] == "44.18"
    assert inv["TOTALPAID"] == "0.00"
    assert inv["STATE"] == "Posted"
    assert inv["MODULEKEY"] == "8.SO"
    assert inv["RECORDNO"] != doc["RECORDNO"]
    onhand = {(o["ITEMID"], o["WAREHOUSEID"]): o["ONHAND"] for o in sb.snapshot()["onhand"]}
    assert onhand[("TSHIRT-S", "WH-EAST")] == "118"
    # second invoice numbers on
    a = client.one(invoice_xml())
    assert a.result().findtext("key") == "Sales Invoice-INV0002"


def test_explicit_docno_and_duplicate(client: Client) -> None:
    a = client.one(invoice_xml(docno="SHOP-1001"))
    assert a.result().findtext("key") == "Sales Invoice-SHOP-1001"
    a = client.one(invoice_xml(docno="SHOP-1001"), controlid="f2")
    assert a.status() == "failure"
    assert a.errorno() == "BL01001973"
    assert "Transaction with the number 'SHOP-1001' already exists" in a.errortext()
    # the same number in another definition is fine
    a = client.one(invoice_xml(ttype="Sales Order", docno="SHOP-1001"), controlid="f3")
    assert a.status() == "success", a.errortext()


def test_element_order_violation_is_control_schema_error(client: Client, sb: IntacctSandbox) -> None:
    # customerid before datecreated
    body = invoice_xml().replace(
        date_xml("datecreated", "2024-05-01") + "<customerid>C-1001</customerid>",
        "<customerid>C-1001</customerid>" + date_xml("datecreated", "2024-05-01"),
    )
    a = client.one(body)
    assert a.control_status == "failure"
    err = a.control_error()
    assert err is not None and err.findtext("errorno") == "XL03000003"
    assert "customerid" in (err.findtext("description") or "")
    # price before quantity inside a line
    line = "<sotransitem><itemid>MUG-01</itemid><price>1</price><quantity>1</quantity></sotransitem>"
    a = client.one(invoice_xml(lines=line))
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    # unknown element
    a = client.one(invoice_xml(extra_before_lines="<colour>red</colour>"))
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    # currency without exchratetype / exchrate breaks the group
    a = client.one(invoice_xml(extra_before_lines="<currency>USD</currency>"))
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    a = client.one(invoice_xml(extra_before_lines="<basecurr>USD</basecurr><currency>USD</currency><exchratetype/>"))
    assert a.status() == "success", a.errortext()
    # nothing ran for the schema failures
    assert len(sb.snapshot()["documents"]) == 1


def test_referential_integrity(client: Client) -> None:
    cases = {
        "Item ID 'NOPE' is not valid": invoice_xml(
            lines="<sotransitem><itemid>NOPE</itemid><quantity>1</quantity></sotransitem>"
        ),
        "Warehouse ID 'WH-X' is not valid": invoice_xml(
            lines="<sotransitem><itemid>MUG-01</itemid><warehouseid>WH-X</warehouseid><quantity>1</quantity>"
            "</sotransitem>"
        ),
        "Location ID '999' is not valid": invoice_xml(
            lines="<sotransitem><itemid>MUG-01</itemid><warehouseid>WH-EAST</warehouseid><quantity>1</quantity>"
            "<locationid>999</locationid></sotransitem>"
        ),
        "Department ID 'HR' is not valid": invoice_xml(
            lines="<sotransitem><itemid>MUG-01</itemid><warehouseid>WH-EAST</warehouseid><quantity>1</quantity>"
            "<departmentid>HR</departmentid></sotransitem>"
        ),
        "Customer ID 'C-404' is not valid": invoice_xml(customer="C-404"),
        "Customer ID 'C-1003' is inactive": invoice_xml(customer="C-1003"),
        "Invalid Transaction Type 'Sales Quote'": invoice_xml(ttype="Sales Quote"),
        "Invalid term 'Net 99'": invoice_xml(header_after_customer="<termname>Net 99</termname>"),
        "Specified subtotal of 'Freight' not found in the document definition": invoice_xml(
            subtotals="<subtotals><subtotal><description>Freight</description><total>1</total></subtotal></subtotals>"
        ),
        "Contact name 'Nobody' is not valid": invoice_xml(
            header_after_customer="<termname>Net 30</termname><shipto><contactname>Nobody</contactname></shipto>"
        ),
        "Either a due date or a payment term is required": invoice_xml(customer="C-1002", header_after_customer=""),
        "Warehouse is required for inventory item": invoice_xml(
            lines="<sotransitem><itemid>MUG-01</itemid><quantity>1</quantity></sotransitem>"
        ),
    }
    for i, (expected, body) in enumerate(cases.items()):
        a = client.one(body, controlid=f"c{i}")
        assert a.control_status == "success", expected
        assert a.status() == "failure", expected
        assert a.errorno() == "BL01001973", expected
        assert expected in a.errortext(), (expected, a.errortext())


def test_auto_contact_is_accepted_as_shipto(client: Client) -> None:
    header = (
        "<termname>Net 30</termname><shipto><contactname>Ada Lovelace(CC-1001)</contactname></shipto>"
        "<billto><contactname>Ada Lovelace(CC-1001)</contactname></billto>"
    )
    a = client.one(invoice_xml(header_after_customer=header))
    assert a.status() == "success", a.errortext()


def test_discount_percent_and_rounding(client: Client, sb: IntacctSandbox) -> None:
    lines = (
        "<sotransitem><itemid>MUG-01</itemid><warehouseid>WH-EAST</warehouseid><quantity>3</quantity>"
        "<discountpercent>10</discountpercent><price>3.335</price></sotransitem>"
        "<sotransitem><itemid>SHIPPING</itemid><quantity>1</quantity><price>4.99</price></sotransitem>"
    )
    a = client.one(invoice_xml(lines=lines))
    assert a.status() == "success", a.errortext()
    doc = sb.snapshot()["documents"][0]
    # 3 * 3.335 = 10.005 * 0.9 = 9.0045 -> 9.00 ; + 4.99
    assert [li["TOTAL"] for li in doc["ENTRIES"]] == ["9.00", "4.99"]
    assert doc["TOTAL"] == "13.99"


def test_update_changes_prrecordkey_and_totals(client: Client) -> None:
    client.one(invoice_xml())
    before = read_doc(client, "Sales Invoice-INV0001")
    upd = (
        '<update_sotransaction key="Sales Invoice-INV0001"><referenceno>R-9</referenceno>'
        '<updatesotransitems><updatesotransitem line_num="1"><quantity>3</quantity></updatesotransitem>'
        "<sotransitem><itemid>SHIPPING</itemid><quantity>1</quantity><price>5</price></sotransitem>"
        "</updatesotransitems>"
        "<updatesubtotals><updatesubtotal><description>Tax</description><total>1.50</total></updatesubtotal>"
        "</updatesubtotals></update_sotransaction>"
    )
    a = client.one(upd, controlid="u1")
    assert a.status() == "success", a.errortext()
    after = read_doc(client, "Sales Invoice-INV0001")
    assert after["RECORDNO"] == before["RECORDNO"]
    assert after["PRRECORDKEY"] != before["PRRECORDKEY"]
    # 3 * 19.99 = 59.97 + 5 + 1.50
    assert after["TOTAL"] == "66.47"
    assert read_arinvoice(client, after["PRRECORDKEY"])["TOTALDUE"] == "66.47"
    gone = client.one(f"<read><object>ARINVOICE</object><keys>{before['PRRECORDKEY']}</keys></read>")
    assert gone.data().get("count") == "0"
    # bad line number and unknown key
    a = client.one(
        '<update_sotransaction key="Sales Invoice-INV0001"><updatesotransitems>'
        '<updatesotransitem line_num="9"><quantity>1</quantity></updatesotransitem></updatesotransitems>'
        "</update_sotransaction>",
        controlid="u2",
    )
    assert a.status() == "failure" and "line_num" in a.errortext()
    a = client.one('<update_sotransaction key="Sales Invoice-NOPE"><message>x</message></update_sotransaction>')
    assert a.status() == "failure"


def test_delete_restores_stock_and_removes_ar(client: Client, sb: IntacctSandbox) -> None:
    client.one(invoice_xml())
    assert len(sb.snapshot()["arinvoices"]) == 1
    a = client.one('<delete_sotransaction key="Sales Invoice-INV0001"/>', controlid="d1")
    assert a.status() == "success", a.errortext()
    snap = sb.snapshot()
    assert snap["documents"] == [] and snap["arinvoices"] == []
    onhand = {(o["ITEMID"], o["WAREHOUSEID"]): o["ONHAND"] for o in snap["onhand"]}
    assert onhand[("TSHIRT-S", "WH-EAST")] == "120"


def test_paid_invoice_cannot_be_updated_or_deleted(client: Client) -> None:
    client.one(invoice_xml())
    doc = read_doc(client, "Sales Invoice-INV0001")
    pay = (
        "<create><ARPYMT><FINANCIALENTITY>BOA</FINANCIALENTITY><PAYMENTMETHOD>Credit Card</PAYMENTMETHOD>"
        "<CUSTOMERID>C-1001</CUSTOMERID><RECEIPTDATE>05/02/2024</RECEIPTDATE><CURRENCY>USD</CURRENCY>"
        f"<ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>{doc['PRRECORDKEY']}</RECORDKEY>"
        "<TRX_PAYMENTAMOUNT>10.00</TRX_PAYMENTAMOUNT></ARPYMTDETAIL></ARPYMTDETAILS></ARPYMT></create>"
    )
    assert client.one(pay, controlid="p").status() == "success"
    a = client.one('<update_sotransaction key="Sales Invoice-INV0001"><message>x</message></update_sotransaction>')
    assert a.status() == "failure" and "payments have been applied" in a.errortext()
    a = client.one('<delete_sotransaction key="Sales Invoice-INV0001"/>')
    assert a.status() == "failure" and "payments have been applied" in a.errortext()


def test_sales_order_does_not_post_and_credit_memo_is_negative(client: Client, sb: IntacctSandbox) -> None:
    a = client.one(invoice_xml(ttype="Sales Order"))
    assert a.result().findtext("key") == "Sales Order-SO0001"
    a = client.one(invoice_xml(ttype="Sales Credit Memo"), controlid="cm")
    assert a.result().findtext("key") == "Sales Credit Memo-CM0001"
    snap = sb.snapshot()
    assert snap["documents"][0]["PRRECORDKEY"] is None
    # The default seed's credit memo posts to AR as a credit memo (ARADJUSTMENT, `ar_record`).
    assert snap["arinvoices"] == []
    assert [adj["TOTALENTERED"] for adj in snap["aradjustments"]] == ["-39.98"]
    assert snap["documents"][1]["PRRECORDKEY"] == snap["aradjustments"][0]["RECORDNO"]
    onhand = {(o["ITEMID"], o["WAREHOUSEID"]): o["ONHAND"] for o in snap["onhand"]}
    assert onhand[("TSHIRT-S", "WH-EAST")] == "122"


def test_draft_does_not_post(client: Client, sb: IntacctSandbox) -> None:
    a = client.one(invoice_xml(extra_before_lines="<state>Draft</state>"))
    assert a.status() == "success", a.errortext()
    snap = sb.snapshot()
    assert snap["arinvoices"] == [] and snap["documents"][0]["PRRECORDKEY"] is None


def test_multiple_functions_in_one_request(client: Client) -> None:
    a = client.call(*[fn(f"so-{i}", invoice_xml(docno=f"W-{i}")) for i in range(5)])
    assert [a.status(i) for i in range(5)] == ["success"] * 5
    assert [r.findtext("key") for r in a.results()] == [f"Sales Invoice-W-{i}" for i in range(5)]
