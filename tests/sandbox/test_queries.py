"""query, readByQuery/readMore, read, readByName, lookup, get_icitemtotals, ITEMWAREHOUSEINFO."""

from __future__ import annotations

from local.intacct_sandbox import IntacctSandbox

from .conftest import Client, fn, invoice_xml, x


def make_customers(client: Client, n: int, prefix: str = "Q") -> None:
    body = "".join(
        f"<CUSTOMER><CUSTOMERID>{prefix}-{i:03d}</CUSTOMERID><NAME>Cust {i:03d}</NAME>"
        f"<DISPLAYCONTACT><PRINTAS>Cust {i}</PRINTAS><EMAIL1>c{i}@example.com</EMAIL1></DISPLAYCONTACT></CUSTOMER>"
        for i in range(n)
    )
    a = client.one(f"<create>{body}</create>", controlid=f"mk-{prefix}")
    assert a.status() == "success", a.errortext()


def test_query_paging_with_offset(client: Client) -> None:
    make_customers(client, 7)
    seen = []
    offset = 0
    while True:
        a = client.one(
            "<query><object>CUSTOMER</object><select><field>CUSTOMERID</field><field>NAME</field></select>"
            "<filter><like><field>CUSTOMERID</field><value>Q-%</value></like></filter>"
            "<orderby><order><field>CUSTOMERID</field><descending/></order></orderby>"
            f"<pagesize>3</pagesize><offset>{offset}</offset></query>",
            controlid=f"q{offset}",
        )
        d = a.data()
        assert d.get("listtype") == "CUSTOMER" and d.get("totalcount") == "7"
        assert d.get("offset") == str(offset)
        rows = d.findall("CUSTOMER")
        assert d.get("count") == str(len(rows))
        seen += [r.findtext("CUSTOMERID") for r in rows]
        if d.get("numremaining") == "0":
            break
        offset += len(rows)
    assert seen == [f"Q-{i:03d}" for i in reversed(range(7))]


def test_query_operators(client: Client) -> None:
    client.one(invoice_xml(docno="A1"))
    client.one(
        invoice_xml(docno="A2", customer="C-1002", header_after_customer="<termname>Net 15</termname>"),
        controlid="2",
    )

    def q(filt: str) -> list[str]:
        a = client.one(
            "<query><object>SODOCUMENT</object><select><field>DOCNO</field><field>TOTAL</field>"
            f"<field>WHENCREATED</field></select><filter>{filt}</filter><docparid>Sales Invoice</docparid></query>",
            controlid="q",
        )
        assert a.status() == "success", a.errortext()
        return [r.findtext("DOCNO") or "" for r in a.data().findall("SODOCUMENT")]

    assert q("<equalto><field>CUSTVENDID</field><value>C-1002</value></equalto>") == ["A2"]
    assert q("<greaterthan><field>TOTAL</field><value>39.9</value></greaterthan>") == ["A1", "A2"]
    assert q("<lessthan><field>TOTAL</field><value>39.98</value></lessthan>") == []
    assert q("<in><field>DOCNO</field><value>A2</value><value>ZZ</value></in>") == ["A2"]
    assert q("<notin><field>DOCNO</field><value>A2</value></notin>") == ["A1"]
    assert q("<between><field>WHENCREATED</field><value>04/30/2024</value><value>05/01/2024</value></between>") == [
        "A1",
        "A2",
    ]
    assert q("<isnull><field>MESSAGE</field></isnull>") == ["A1", "A2"]
    assert q(
        "<or><equalto><field>DOCNO</field><value>A1</value></equalto>"
        "<and><equalto><field>DOCNO</field><value>A2</value></equalto>"
        "<notequalto><field>STATE</field><value>Draft</value></notequalto></and></or>"
    ) == ["A1", "A2"]
    a = client.one(
        "<query><object>SODOCUMENT</object><select><field>DOCID</field><field>ARINVOICE.RECORDNO</field>"
        "<field>PRRECORDKEY</field></select></query>",
        controlid="alias",
    )
    row = a.data().find("SODOCUMENT")
    assert row is not None and row.findtext("ARINVOICE.RECORDNO") == row.findtext("PRRECORDKEY")


def test_query_errors(client: Client) -> None:
    a = client.one("<query><object>CUSTOMER</object><select><field>NOPE</field></select></query>")
    assert a.errorno() == "Query Failed" and "NOPE" in a.errortext()
    a = client.one("<query><object>BADOBJECT</object><select><field>X</field></select></query>")
    assert a.errorno() == "Query Failed"
    assert a.result().findtext("errormessage/error/description") == "Object definition BADOBJECT not found"
    a = client.one(
        "<query><object>CUSTOMER</object><select><field>NAME</field></select>"
        "<filter><and><equalto><field>NAME</field><value>x</value></equalto></and></filter></query>"
    )
    assert a.errorno() == "Query Failed"
    a = client.one(
        "<query><object>CUSTOMER</object><select><field>NAME</field></select><pagesize>2001</pagesize></query>"
    )
    assert a.errorno() == "Query Failed"


def test_read_by_query_and_read_more(client: Client) -> None:
    make_customers(client, 5)
    a = client.one(
        "<readByQuery><object>CUSTOMER</object><fields>CUSTOMERID,NAME,DISPLAYCONTACT.EMAIL1</fields>"
        "<query>CUSTOMERID LIKE 'Q-%' AND STATUS = 'T'</query><pagesize>2</pagesize></readByQuery>"
    )
    d = a.data()
    assert (d.get("listtype"), d.get("count"), d.get("totalcount"), d.get("numremaining")) == (
        "customer",
        "2",
        "5",
        "3",
    )
    rid = d.get("resultId")
    assert rid
    ids = [c.findtext("CUSTOMERID") for c in d.findall("customer")]
    assert d.find("customer/DISPLAYCONTACT/EMAIL1") is not None
    remaining = []
    while True:
        m = client.one(f"<readMore><resultId>{rid}</resultId></readMore>", controlid="more")
        assert m.status() == "success", m.errortext()
        md = m.data()
        ids += [c.findtext("CUSTOMERID") for c in md.findall("customer")]
        remaining.append(md.get("numremaining"))
        if md.get("numremaining") == "0":
            break
    assert remaining == ["1", "0"]
    assert ids == [f"Q-{i:03d}" for i in range(5)]
    a = client.one(f"<readMore><resultId>{rid}</resultId></readMore>", controlid="again")
    assert a.status() == "failure"
    a = client.one("<readMore><resultId>nope</resultId></readMore>", controlid="nope")
    assert a.status() == "failure"


def test_read_by_query_star_and_grammar(client: Client) -> None:
    a = client.one(
        "<readByQuery><object>CUSTOMER</object><query>CUSTOMERID = 'C-1001'</query><fields>*</fields></readByQuery>"
    )
    cust = a.data().find("customer")
    assert cust is not None
    assert cust.findtext("NAME") == "Ada Lovelace"
    assert cust.findtext("DISPLAYCONTACT/MAILADDRESS/CITY") == "London"
    assert cust.findtext("WHENMODIFIED")

    def ids(q: str) -> list[str]:
        r = client.one(
            f"<readByQuery><object>CUSTOMER</object><query>{x(q)}</query><fields>CUSTOMERID</fields></readByQuery>",
            controlid="g",
        )
        assert r.status() == "success", r.errortext()
        return [c.findtext("CUSTOMERID") or "" for c in r.data().findall("customer")]

    assert ids("") == ["C-1001", "C-1002", "C-1003"]
    assert ids("STATUS = 'F'") == ["C-1003"]
    assert ids("RECORDNO < 2") == ["C-1001"]
    assert ids("CUSTOMERID in ('C-1001','C-1003')") == ["C-1001", "C-1003"]
    assert ids("CUSTOMERID NOT IN ('C-1001')") == ["C-1002", "C-1003"]
    assert ids("NOT (CUSTOMERID = 'C-1001' OR CUSTOMERID = 'C-1002')") == ["C-1003"]
    assert ids("TERMNAME IS NULL") == ["C-1002", "C-1003"]
    assert ids("TERMNAME IS NOT NULL and NAME not like 'G%'") == ["C-1001"]
    assert ids("CUSTOMERID <> 'C-1001' AND RECORDNO >= 3") == ["C-1003"]
    for bad in ("NAME = ", "NAME == 'x'", "NAME = 'unterminated", "(NAME = 'x'", "BOGUS = 'x'"):
        r = client.one(f"<readByQuery><object>CUSTOMER</object><query>{x(bad)}</query></readByQuery>", controlid="bad")
        assert r.status() == "failure", bad
        assert r.errorno() == "Query Failed", bad


def test_read_by_query_escaped_quote(client: Client) -> None:
    a = client.one(
        "<create><CUSTOMER><CUSTOMERID>BOB</CUSTOMERID><NAME>Bob's Pizza, Inc.</NAME>"
        "<DISPLAYCONTACT><PRINTAS>Bob's</PRINTAS></DISPLAYCONTACT></CUSTOMER></create>"
    )
    assert a.status() == "success"
    r = client.one(
        "<readByQuery><object>CUSTOMER</object><query>NAME = 'Bob\\'s Pizza, Inc.'</query>"
        "<fields>CUSTOMERID,NAME</fields></readByQuery>",
        controlid="r",
    )
    assert r.status() == "success", r.errortext()
    assert r.data().findtext("customer/NAME") == "Bob's Pizza, Inc."
    # a trailing backslash swallows the closing quote (the addcslashes pitfall)
    r = client.one("<readByQuery><object>CUSTOMER</object><query>NAME = 'abc\\'</query></readByQuery>", controlid="r2")
    assert r.errorno() == "Query Failed"


def test_read_and_read_by_name(client: Client, sb: IntacctSandbox) -> None:
    client.one(invoice_xml())
    doc = sb.snapshot()["documents"][0]
    a = client.one(
        f"<read><object>SODOCUMENT</object><keys>{doc['RECORDNO']}</keys><fields>*</fields>"
        "<docparid>Sales Invoice</docparid></read>"
    )
    d = a.data()
    assert d.get("listtype") == "sodocument" and d.get("count") == "1"
    assert d.findtext("sodocument/PRRECORDKEY") == str(doc["PRRECORDKEY"])
    assert d.findtext("sodocument/SODOCUMENTENTRIES/sodocumententry/LINE_NO") == "0"
    a = client.one(
        "<readByName><object>CUSTOMER</object><keys>C-1002,C-404,C-1001</keys><fields>NAME</fields></readByName>",
        controlid="n",
    )
    assert [c.findtext("NAME") for c in a.data().findall("customer")] == ["Grace Hopper", "Ada Lovelace"]
    a = client.one("<readByName><object>ITEM</object><keys>MUG-01</keys></readByName>", controlid="i")
    assert a.data().findtext("item/ITEMTYPE") == "Inventory"
    a = client.one("<readByName><object>WAREHOUSE</object><keys>WH-WEST</keys></readByName>", controlid="w")
    assert a.data().findtext("warehouse/NAME") == "West Warehouse"
    a = client.one(
        "<readByName><object>SODOCUMENT</object><keys>Sales Invoice-INV0001</keys></readByName>",
        controlid="s",
    )
    assert a.data().findtext("sodocument/DOCNO") == "INV0001"
    keys = ",".join(str(i) for i in range(101))
    a = client.one(f"<read><object>CUSTOMER</object><keys>{keys}</keys></read>", controlid="many")
    assert a.status() == "failure"


def test_lookup(client: Client) -> None:
    objs = [
        "CUSTOMER",
        "SODOCUMENT",
        "ARINVOICE",
        "ARPYMT",
        "ITEM",
        "WAREHOUSE",
        "LOCATION",
        "DEPARTMENT",
        "CLASS",
        "ITEMWAREHOUSEINFO",
        "CONTACT",
    ]
    a = client.call(*[fn(o, f"<lookup><object>{o}</object></lookup>") for o in objs])
    for i, o in enumerate(objs):
        d = a.data(i)
        assert d.get("listtype") == "All" and d.get("count") == "1"
        t = d.find("Type")
        assert t is not None and t.get("Name") == o and t.get("DocumentType") == ""
        fields = {f.findtext("ID"): f for f in t.findall("Fields/Field")}
        assert "RECORDNO" in fields
        for f in fields.values():
            assert f.findtext("DATATYPE") in {"TEXT", "INTEGER", "DECIMAL", "DATE", "TIMESTAMP", "BOOLEAN"}
            assert f.findtext("REQUIRED") in {"true", "false"}
            assert f.findtext("ISCUSTOM") == "false"
    iwi = {f.findtext("ID") for f in a.data(objs.index("ITEMWAREHOUSEINFO")).iterfind("Type/Fields/Field")}
    assert {"ITEMID", "WAREHOUSEID", "QTYONHAND", "QTYONHOLD", "QTYONORDER"} <= iwi


def test_get_icitemtotals_and_itemwarehouseinfo(client: Client) -> None:
    a = client.one("<get_icitemtotals><itemid>TSHIRT-S</itemid></get_icitemtotals>")
    rows = a.data().findall("icitemtotals/itemtotal")
    assert [(r.findtext("warehouseid"), r.findtext("onhand"), r.findtext("onorder")) for r in rows] == [
        ("WH-EAST", "120", "50"),
        ("WH-WEST", "80", "0"),
    ]
    assert [c.tag for c in rows[0]] == ["itemid", "warehouseid", "onhand", "onorder", "onhold"]
    a = client.one("<get_icitemtotals/>", controlid="all")
    assert len(a.data().findall("icitemtotals/itemtotal")) == 6
    a = client.one("<get_icitemtotals><itemid>NOPE</itemid></get_icitemtotals>", controlid="bad")
    assert a.status() == "failure"
    client.one(invoice_xml(), controlid="inv")
    a = client.one(
        "<query><object>ITEMWAREHOUSEINFO</object><select><field>ITEMID</field><field>WAREHOUSEID</field>"
        "<field>QTYONHAND</field></select><filter><and><equalto><field>ITEMID</field><value>TSHIRT-S</value>"
        "</equalto><equalto><field>WAREHOUSEID</field><value>WH-EAST</value></equalto></and></filter></query>",
        controlid="iwi",
    )
    assert a.data().findtext("ITEMWAREHOUSEINFO/QTYONHAND") == "118"
    a = client.one(
        "<readByQuery><object>ITEMWAREHOUSEINFO</object><query>QTYONHAND = 0</query>"
        "<fields>ITEMID,WAREHOUSEID</fields></readByQuery>",
        controlid="rbq",
    )
    assert [(r.findtext("ITEMID"), r.findtext("WAREHOUSEID")) for r in a.data()] == [("MUG-01", "WH-WEST")]
