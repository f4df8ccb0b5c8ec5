"""Cash Management in the sandbox: `record_otherreceipt` and `record_deposit` (payouts, issue 14).

Sources: the official SDKs' writers (Intacct/intacct-sdk-php
src/Intacct/Functions/CashManagement/OtherReceiptCreate.php and DepositCreate.php, with their
tests' expected XML), developer.intacct.com/api/cash-management/deposits/ (DEPOSIT object,
query fields RECORDNO, FINANCIALENTITY, TOTALENTERED), and the Sage Intacct help "Record other
receipts" (undeposited funds vs bank account) and REST "Deposits" ("the payment must already be
received against an undeposited funds account").
"""

from __future__ import annotations

from decimal import Decimal

from .conftest import Client, date_xml, fn, invoice_xml


def _invoice_and_payment(client: Client, *, docno: str, amount: str = "39.98", source: str | None = None) -> str:
    a = client.one(invoice_xml(docno=docno), controlid=f"inv-{docno}")
    assert a.status() == "success", a.errortext()
    ar = client.sb.snapshot()["documents"][-1]["PRRECORDKEY"]
    money_source = source or "<UNDEPOSITEDACCOUNTNO>1200</UNDEPOSITEDACCOUNTNO>"
    p = client.one(
        f"<create><ARPYMT>{money_source}<PAYMENTMETHOD>Credit Card</PAYMENTMETHOD>"
        f"<CUSTOMERID>C-1001</CUSTOMERID><DOCNUMBER>P-{docno}</DOCNUMBER><RECEIPTDATE>05/03/2024</RECEIPTDATE>"
        f"<CURRENCY>USD</CURRENCY><ARPYMTDETAILS><ARPYMTDETAIL><RECORDKEY>{ar}</RECORDKEY>"
        f"<TRX_PAYMENTAMOUNT>{amount}</TRX_PAYMENTAMOUNT></ARPYMTDETAIL></ARPYMTDETAILS></ARPYMT></create>",
        controlid=f"pay-{docno}",
    )
    assert p.status() == "success", p.errortext()
    recordno = p.data().findtext("arpymt/RECORDNO")
    assert recordno
    return recordno


def receipt_xml(*lines: tuple[str, str], refid: str = "SP-1", undeposited: str = "1200") -> str:
    items = "".join(
        f"<lineitem><glaccountno>{acct}</glaccountno><amount>{amt}</amount><memo>m</memo></lineitem>"
        for acct, amt in lines
    )
    return (
        f"<record_otherreceipt>{date_xml('paymentdate', '2024-05-04')}<payee>Shopify Payments</payee>"
        f"{date_xml('receiveddate', '2024-05-04')}<paymentmethod>EFT</paymentmethod>"
        f"<undepglaccountno>{undeposited}</undepglaccountno><refid>{refid}</refid><currency>USD</currency>"
        f"<receiptitems>{items}</receiptitems></record_otherreceipt>"
    )


def deposit_xml(*keys: str, depositid: str = "Shopify payout 1", bank: str = "BOA") -> str:
    return (
        f"<record_deposit><bankaccountid>{bank}</bankaccountid>{date_xml('depositdate', '2024-05-04')}"
        f"<depositid>{depositid}</depositid><receiptkeys>"
        + "".join(f"<receiptkey>{k}</receiptkey>" for k in keys)
        + "</receiptkeys><description>payout</description></record_deposit>"
    )


def _deposit_row(client: Client, depositid: str) -> dict[str, str]:
    a = client.one(
        "<query><object>DEPOSIT</object><select><field>RECORDNO</field><field>FINANCIALENTITY</field>"
        "<field>TOTALENTERED</field><field>DOCNUMBER</field></select>"
        f"<filter><equalto><field>DOCNUMBER</field><value>{depositid}</value></equalto></filter></query>",
        controlid="q-dep",
    )
    assert a.status() == "success", a.errortext()
    rows = a.data().findall("DEPOSIT")
    assert len(rows) == 1
    return {c.tag: c.text or "" for c in rows[0]}


def test_payments_and_a_fee_receipt_deposited_together_total_the_net(client: Client) -> None:
    p1 = _invoice_and_payment(client, docno="D-1")
    p2 = _invoice_and_payment(client, docno="D-2")
    r = client.one(receipt_xml(("6100", "-2.46"), ("6110", "-15.00"), ("6120", "0.50")), controlid="or-1")
    assert r.status() == "success", r.errortext()
    receipt_key = r.result().findtext("key")
    assert receipt_key
    d = client.one(deposit_xml(p1, p2, receipt_key), controlid="dep-1")
    assert d.status() == "success", d.errortext()
    row = _deposit_row(client, "Shopify payout 1")
    assert row["RECORDNO"] == d.result().findtext("key")
    assert row["FINANCIALENTITY"] == "BOA"
    assert Decimal(row["TOTALENTERED"]) == Decimal("39.98") * 2 - Decimal("2.46") - Decimal("15.00") + Decimal("0.50")


def test_a_receipt_deposited_once_only(client: Client) -> None:
    p1 = _invoice_and_payment(client, docno="D-3")
    assert client.one(deposit_xml(p1, depositid="first"), controlid="dep-a").status() == "success"
    again = client.one(deposit_xml(p1, depositid="second"), controlid="dep-b")
    assert again.status() == "failure"
    assert "already deposited" in again.errortext()


def test_a_payment_received_into_the_bank_cannot_be_deposited(client: Client) -> None:
    p1 = _invoice_and_payment(client, docno="D-4", source="<FINANCIALENTITY>BOA</FINANCIALENTITY>")
    a = client.one(deposit_xml(p1), controlid="dep-c")
    assert a.status() == "failure"
    assert "not received into undeposited funds" in a.errortext()


def test_unknown_bank_account_gl_account_and_receipt_key_are_refused(client: Client) -> None:
    p1 = _invoice_and_payment(client, docno="D-5")
    bad_bank = client.one(deposit_xml(p1, bank="NOPE"), controlid="dep-d")
    assert bad_bank.status() == "failure" and "Invalid bank account 'NOPE'" in bad_bank.errortext()
    bad_key = client.one(deposit_xml("99999"), controlid="dep-e")
    assert bad_key.status() == "failure" and "Invalid receiptkey '99999'" in bad_key.errortext()
    bad_gl = client.one(receipt_xml(("9999", "-1.00")), controlid="or-2")
    assert bad_gl.status() == "failure" and "Invalid GL account '9999'" in bad_gl.errortext()
    bad_undeposited = client.one(receipt_xml(("6100", "-1.00"), undeposited="6100"), controlid="or-3")
    assert bad_undeposited.status() == "failure"
    assert "Invalid undeposited funds account" in bad_undeposited.errortext()


def test_elements_out_of_dtd_order_are_a_schema_error(client: Client) -> None:
    out_of_order = (
        f"<record_deposit>{date_xml('depositdate', '2024-05-04')}<bankaccountid>BOA</bankaccountid>"
        "<depositid>x</depositid><receiptkeys><receiptkey>1</receiptkey></receiptkeys></record_deposit>"
    )
    a = client.one(out_of_order, controlid="dep-f")
    assert a.control_status == "failure"
    err = a.control_error()
    assert err is not None and err.findtext("errorno") == "XL03000003"
    assert "depositdate" in (err.findtext("description") or "")


def test_duplicate_controlid_under_uniqueid_writes_nothing_twice(client: Client) -> None:
    p1 = _invoice_and_payment(client, docno="D-6")
    first = client.call(fn("dep-same", deposit_xml(p1, depositid="once")), uniqueid=True)
    assert first.status() == "success", first.errortext()
    second = client.call(fn("dep-same", deposit_xml(p1, depositid="once")), uniqueid=True)
    assert second.status() == "failure"
    assert second.errorno() == "XL03000012"
    assert _deposit_row(client, "once")["RECORDNO"] == first.result().findtext("key")


def glbatch_xml(*lines: tuple[str, str, str], journal: str = "GJ") -> str:
    entries = "".join(
        f"<GLENTRY><ACCOUNTNO>{acct}</ACCOUNTNO><TR_TYPE>{side}</TR_TYPE><TRX_AMOUNT>{amt}</TRX_AMOUNT>"
        "<DESCRIPTION>fees</DESCRIPTION></GLENTRY>"
        for acct, side, amt in lines
    )
    return (
        f"<create><GLBATCH><JOURNAL>{journal}</JOURNAL><BATCH_DATE>05/04/2024</BATCH_DATE>"
        f"<BATCH_TITLE>Payout fees</BATCH_TITLE><REFERENCENO>PO-1</REFERENCENO><ENTRIES>{entries}</ENTRIES>"
        "</GLBATCH></create>"
    )


def test_a_balanced_journal_entry_is_created_and_found_by_its_reference(client: Client) -> None:
    a = client.one(glbatch_xml(("6100", "1", "2.46"), ("1010", "-1", "2.46")), controlid="je-1")
    assert a.status() == "success", a.errortext()
    recordno = a.data().findtext("glbatch/RECORDNO")
    q = client.one(
        "<query><object>GLBATCH</object><select><field>RECORDNO</field><field>TOTAL</field></select>"
        "<filter><equalto><field>REFERENCENO</field><value>PO-1</value></equalto></filter></query>",
        controlid="q-je",
    )
    [row] = q.data().findall("GLBATCH")
    assert row.findtext("RECORDNO") == recordno and Decimal(row.findtext("TOTAL") or "") == Decimal("2.46")


def test_an_unbalanced_or_misaddressed_journal_entry_is_refused(client: Client) -> None:
    unbalanced = client.one(glbatch_xml(("6100", "1", "2.46"), ("1010", "-1", "2.45")), controlid="je-2")
    assert unbalanced.status() == "failure" and "out of balance" in unbalanced.errortext()
    journal = client.one(glbatch_xml(("6100", "1", "1"), ("1010", "-1", "1"), journal="XX"), controlid="je-3")
    assert journal.status() == "failure" and "Invalid journal 'XX'" in journal.errortext()
    account = client.one(glbatch_xml(("9999", "1", "1"), ("1010", "-1", "1")), controlid="je-4")
    assert account.status() == "failure" and "Invalid GL account '9999'" in account.errortext()
