"""Generic create of CUSTOMER / CONTACT and ARPYMT applied to invoices."""

from __future__ import annotations

from local.intacct_sandbox import IntacctSandbox

from .conftest import Client, invoice_xml

CUSTOMER = (
    "<create><CUSTOMER><CUSTOMERID>WEB-000123</CUSTOMERID><NAME>Jane Doe</NAME>"
    "<DISPLAYCONTACT><PRINTAS>Jane Doe</PRINTAS><FIRSTNAME>Jane</FIRSTNAME><LASTNAME>Doe</LASTNAME>"
    "<EMAIL1>jane@example.com</EMAIL1><MAILADDRESS><ADDRESS1>1 Main St</ADDRESS1><CITY>San Jose</CITY>"
    "<STATE>CA</STATE><ZIP>95110</ZIP><COUNTRY>United States</COUNTRY></MAILADDRESS></DISPLAYCONTACT>"
    "<STATUS>active</STATUS></CUSTOMER></create>"
)


def pay_xml(recordkey: str, amount: str, customer: str = "C-1001", extra: str = "") -> str:
    return (
        "<create><ARPYMT><FINANCIALENTITY>BOA</FINANCIALENTITY><PAYMENTMETHOD>Credit Card</PAYMENTMETHOD>"
        f"<CUSTOMERID>{customer}</CUSTOMERID><DOCNUMBER>PAY-777</DOCNUMBER><RECEIPTDATE>05/15/2024</RECEIPTDATE>"
        f"<CURRENCY>USD</CURRENCY>{extra}<ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>{recordkey}</RECORDKEY>"
        f"<TRX_PAYMENTAMOUNT>{amount}</TRX_PAYMENTAMOUNT></ARPYMTDETAIL></ARPYMTDETAILS></ARPYMT></create>"
    )


def test_create_customer(client: Client, sb: IntacctSandbox) -> None:
    a = client.one(CUSTOMER)
    assert a.status() == "success", a.errortext()
    data = a.data()
    assert data.get("listtype") == "objects" and data.get("count") == "1"
    cust = data.find("customer")
    assert cust is not None and cust.findtext("CUSTOMERID") == "WEB-000123"
    assert int(cust.findtext("RECORDNO") or "0") > 0
    q = client.one(
        "<query><object>CUSTOMER</object><select><field>CUSTOMERID</field><field>DISPLAYCONTACT.CONTACTNAME</field>"
        "</select><filter><equalto><field>DISPLAYCONTACT.EMAIL1</field><value>JANE@example.com</value></equalto>"
        "</filter><options><caseinsensitive>true</caseinsensitive></options></query>",
        controlid="q",
    )
    row = q.data().find("CUSTOMER")
    assert row is not None
    assert row.findtext("DISPLAYCONTACT.CONTACTNAME") == "Jane Doe(CWEB-000123)"
    # the generated contact can be used as ship-to
    hdr = "<termname>Net 30</termname><shipto><contactname>Jane Doe(CWEB-000123)</contactname></shipto>"
    a = client.one(invoice_xml(customer="WEB-000123", header_after_customer=hdr), controlid="inv")
    assert a.status() == "success", a.errortext()


def test_customer_rules(client: Client) -> None:
    assert client.one(CUSTOMER).status() == "success"
    a = client.one(CUSTOMER, controlid="dup")
    assert a.status() == "failure"
    assert "Another Customer with the given value(s) WEB-000123 already exists" in a.errortext()
    a = client.one("<create><CUSTOMER><CUSTOMERID>X1</CUSTOMERID><NAME>X</NAME></CUSTOMER></create>")
    assert a.status() == "failure" and "DISPLAYCONTACT" in a.errortext()
    a = client.one(
        "<create><CUSTOMER><CUSTOMERID>X1</CUSTOMERID><DISPLAYCONTACT><PRINTAS>X</PRINTAS></DISPLAYCONTACT>"
        "</CUSTOMER></create>"
    )
    assert a.status() == "failure" and "NAME" in a.errortext()
    a = client.one(
        "<create><CUSTOMER><NAME>X</NAME><DISPLAYCONTACT><PRINTAS>X</PRINTAS></DISPLAYCONTACT></CUSTOMER></create>"
    )
    assert a.status() == "failure" and "CUSTOMERID" in a.errortext()
    # generic create accepts children in any order
    a = client.one(
        "<create><CUSTOMER><DISPLAYCONTACT><PRINTAS>Y</PRINTAS></DISPLAYCONTACT><NAME>Y</NAME>"
        "<CUSTOMERID>Y1</CUSTOMERID></CUSTOMER></create>",
        controlid="anyorder",
    )
    assert a.status() == "success", a.errortext()


def test_create_contact(client: Client) -> None:
    a = client.one(
        "<create><CONTACT><CONTACTNAME>Warehouse Dock</CONTACTNAME><PRINTAS>Dock</PRINTAS></CONTACT></create>"
    )
    assert a.status() == "success", a.errortext()
    assert a.data().findtext("contact/CONTACTNAME") == "Warehouse Dock"


def test_payment_reduces_totaldue(client: Client, sb: IntacctSandbox) -> None:
    client.one(invoice_xml())  # 39.98
    key = str(sb.snapshot()["documents"][0]["PRRECORDKEY"])
    a = client.one(pay_xml(key, "10.00"), controlid="p1")
    assert a.status() == "success", a.errortext()
    assert a.data().get("listtype") == "objects"
    assert a.data().findtext("arpymt/RECORDNO")
    inv = sb.snapshot()["arinvoices"][0]
    assert (inv["TOTALDUE"], inv["TOTALPAID"], inv["STATE"]) == ("29.98", "10.00", "Partially Paid")
    a = client.one(pay_xml(key, "29.98"), controlid="p2")
    assert a.status() == "success", a.errortext()
    inv = sb.snapshot()["arinvoices"][0]
    assert (inv["TOTALDUE"], inv["TOTALPAID"], inv["STATE"], inv["WHENPAID"]) == (
        "0.00",
        "39.98",
        "Paid",
        "05/15/2024",
    )
    q = client.one(
        "<query><object>ARPYMT</object><select><field>RECORDNO</field><field>TOTALENTERED</field>"
        "<field>RECEIPTDATE</field><field>PAYMENTMETHOD</field></select></query>",
        controlid="q",
    )
    rows = q.data().findall("ARPYMT")
    assert [r.findtext("TOTALENTERED") for r in rows] == ["10.00", "29.98"]
    assert rows[0].findtext("RECEIPTDATE") == "05/15/2024"


def test_payment_rules(client: Client, sb: IntacctSandbox) -> None:
    client.one(invoice_xml())
    doc = sb.snapshot()["documents"][0]
    key = str(doc["PRRECORDKEY"])
    cases = {
        "exceeds the amount due": pay_xml(key, "50.00"),
        "Invalid invoice key": pay_xml(str(doc["RECORDNO"]), "1.00"),  # SODOCUMENT RECORDNO, not PRRECORDKEY
        "for customer 'C-1002'": pay_xml(key, "1.00", customer="C-1002"),
        "Invalid payment method": pay_xml(key, "1").replace("Credit Card", "Bitcoin"),
        "Invalid RECEIPTDATE": pay_xml(key, "1").replace("05/15/2024", "2024-05-15"),
        "Invalid bank account": pay_xml(key, "1").replace(">BOA<", ">CHASE<"),
        "Specify exactly one of": pay_xml(key, "1", extra="<UNDEPOSITEDACCOUNTNO>1200</UNDEPOSITEDACCOUNTNO>"),
        "Required field CURRENCY": pay_xml(key, "1").replace("<CURRENCY>USD</CURRENCY>", ""),
    }
    for i, (expected, body) in enumerate(cases.items()):
        a = client.one(body, controlid=f"c{i}")
        assert a.status() == "failure", expected
        assert expected in a.errortext(), (expected, a.errortext())
    assert sb.snapshot()["arinvoices"][0]["TOTALDUE"] == "39.98"
    # undeposited funds account instead of a bank account
    body = pay_xml(key, "1.00").replace(
        "<FINANCIALENTITY>BOA</FINANCIALENTITY>", "<UNDEPOSITEDACCOUNTNO>1200</UNDEPOSITEDACCOUNTNO>"
    )
    assert client.one(body, controlid="ok").status() == "success"
