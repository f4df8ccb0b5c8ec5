"""AR adjustments and credits (issue 10, item 11): `create_aradjustment` debit memos, ARPYMT details
that apply a credit memo (ADJUSTMENTKEY) or negative invoice (NEGATIVEINVOICEKEY) to a debit memo
(POSADJKEY), and `createdfrom` conversions the target definition must allow.

Sources: developer.intacct.com "AR Adjustments" and "AR Payments" (mirrored in
russellkt/intacct-mcp-server@83d3339: docs/accounts-receivable-ar-adjustments.md,
docs/accounts-receivable-ar-payments.md, "Create a payment against a debit memo line by applying a
credit memo line"), the DTD `intacct_pr_functions.v2.1.dtd` (create_aradjustment) and
`intacct_request_objects.v2.1.dtd` (lineitem), Intacct/intacct_dtd@40f820e.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from local.intacct_sandbox import IntacctSandbox
from local.intacct_sandbox.seed import DEFAULT_SEED, read_seed

from .conftest import Client, date_xml, invoice_xml

D = Decimal


def debit_memo_xml(amount: str = "39.98", account: str = "1200", number: str = "RF-1001-1", **kw: str) -> str:
    customer = kw.get("customer", "C-1001")
    return (
        f"<create_aradjustment><customerid>{customer}</customerid>{date_xml('datecreated', '2024-05-03')}"
        f"<adjustmentno>{number}</adjustmentno><description>Refund paid out</description>"
        "<currency>USD</currency><exchratetype></exchratetype>"
        f"<aradjustmentitems><lineitem><glaccountno>{account}</glaccountno><amount>{amount}</amount>"
        "<memo>refund</memo></lineitem></aradjustmentitems></create_aradjustment>"
    )


def pay_xml(*details: str, cash_source: str = "<FINANCIALENTITY>BOA</FINANCIALENTITY>") -> str:
    return (
        f"<create><ARPYMT>{cash_source}<PAYMENTMETHOD>Cash</PAYMENTMETHOD><CUSTOMERID>C-1001</CUSTOMERID>"
        "<DOCNUMBER>payout-1</DOCNUMBER><RECEIPTDATE>05/03/2024</RECEIPTDATE><CURRENCY>USD</CURRENCY>"
        f"<ARPYMTDETAILS>{''.join(details)}</ARPYMTDETAILS></ARPYMT></create>"
    )


def detail(**fields: str) -> str:
    return "<ARPYMTDETAIL>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</ARPYMTDETAIL>"


def credit_memo_xml(created_from: str | None = None, quantity: str = "2") -> str:
    source = f"<createdfrom>{created_from}</createdfrom>" if created_from else ""
    return (
        "<create_sotransaction><transactiontype>Sales Credit Memo</transactiontype>"
        f"{date_xml('datecreated', '2024-05-03')}{source}<customerid>C-1001</customerid>"
        "<sotransitems><sotransitem><itemid>TSHIRT-S</itemid><warehouseid>WH-EAST</warehouseid>"
        f"<quantity>{quantity}</quantity><price>19.99</price></sotransitem></sotransitems></create_sotransaction>"
    )


def doc(sb: IntacctSandbox, docid: str) -> dict[str, Any]:
    [found] = [d for d in sb.snapshot()["documents"] if d["DOCID"] == docid]
    return found


def balance(sb: IntacctSandbox, customer: str = "C-1001") -> Decimal:
    """What the customer owes: every AR record's TOTALDUE (invoices and debit memos positive,
    credit memos and negative invoices negative)."""
    snap = sb.snapshot()
    rows = [*snap["arinvoices"], *snap["aradjustments"]]
    return sum((D(r["TOTALDUE"]) for r in rows if r["CUSTOMERID"] == customer), D(0))


def paid_invoice_and_credit(client: Client, sb: IntacctSandbox) -> tuple[str, str]:
    """INV0001 (39.98) paid in full, then credit memo CM0001 (19.99): the (credit AR key,
    invoice AR key); the customer is owed 19.99."""
    assert client.one(invoice_xml()).status() == "success"
    inv_key = doc(sb, "Sales Invoice-INV0001")["PRRECORDKEY"]
    paid = client.one(pay_xml(detail(RECORDKEY=str(inv_key), TRX_PAYMENTAMOUNT="39.98")), controlid="p")
    assert paid.status() == "success", paid.errortext()
    assert client.one(credit_memo_xml(quantity="1"), controlid="cm").status() == "success"
    return str(doc(sb, "Sales Credit Memo-CM0001")["PRRECORDKEY"]), str(inv_key)


def test_debit_memo_is_an_ar_adjustment_answered_with_its_recordno(client: Client, sb: IntacctSandbox) -> None:
    a = client.one(debit_memo_xml())
    assert a.status() == "success", a.errortext()
    [dm] = sb.snapshot()["aradjustments"]
    assert a.result().findtext("key") == str(dm["RECORDNO"])
    assert (dm["RECORDID"], dm["TOTALENTERED"], dm["TOTALDUE"], dm["LINES"][0]["GLACCOUNTNO"]) == (
        "RF-1001-1",
        "39.98",
        "39.98",
        "1200",
    )
    # Found again by its adjustment number (how a lost answer is settled).
    q = client.one(
        "<query><object>ARADJUSTMENT</object><select><field>RECORDNO</field><field>TOTALENTERED</field></select>"
        "<filter><equalto><field>RECORDID</field><value>RF-1001-1</value></equalto></filter></query>"
    )
    assert q.data().findtext("ARADJUSTMENT/RECORDNO") == str(dm["RECORDNO"])
    assert balance(sb) == D("39.98")


def test_debit_memo_follows_the_dtd_and_needs_a_real_gl_account(client: Client) -> None:
    swapped = debit_memo_xml().replace(
        "<adjustmentno>RF-1001-1</adjustmentno><description>Refund paid out</description>",
        "<description>Refund paid out</description><adjustmentno>RF-1001-1</adjustmentno>",
    )
    a = client.one(swapped)
    assert a.control_status == "failure"
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    a = client.one(debit_memo_xml(account="9999"), controlid="f2")
    assert a.status() == "failure" and "Invalid GL account '9999'" in a.errortext()


def test_credit_memo_applied_to_a_debit_memo_settles_both(client: Client, sb: IntacctSandbox) -> None:
    credit_key, _ = paid_invoice_and_credit(client, sb)
    assert balance(sb) == D("-19.99"), "the customer holds a credit"
    dm = client.one(debit_memo_xml(amount="19.99"), controlid="dm").result().findtext("key")
    a = client.one(
        pay_xml(detail(POSADJKEY=str(dm), ADJUSTMENTKEY=credit_key, TRX_ADJUSTMENTAMOUNT="19.99")), controlid="ap"
    )
    assert a.status() == "success", a.errortext()
    snap = sb.snapshot()
    by_no = {str(r["RECORDNO"]): r for r in snap["aradjustments"]}
    assert (by_no[str(dm)]["TOTALDUE"], by_no[str(dm)]["STATE"]) == ("0.00", "Paid")
    assert (by_no[credit_key]["TOTALDUE"], by_no[credit_key]["STATE"]) == ("0.00", "Paid")
    assert snap["payments"][-1]["TOTALENTERED"] == "0.00", "no cash in a credit application"
    assert balance(sb) == 0


def test_a_credit_is_applied_only_as_far_as_it_goes_and_only_by_its_own_key(client: Client, sb: IntacctSandbox) -> None:
    credit_key, inv_key = paid_invoice_and_credit(client, sb)
    dm = client.one(debit_memo_xml(amount="30.00"), controlid="dm").result().findtext("key")
    a = client.one(pay_xml(detail(POSADJKEY=str(dm), ADJUSTMENTKEY=credit_key, TRX_ADJUSTMENTAMOUNT="25.00")))
    assert a.status() == "failure" and "exceeds the credit available 19.99" in a.errortext()
    a = client.one(pay_xml(detail(POSADJKEY=str(dm), NEGATIVEINVOICEKEY=credit_key, TRX_NEGATIVEINVOICEAMOUNT="1")))
    assert a.status() == "failure" and "Invalid NEGATIVEINVOICEKEY" in a.errortext()
    assert "use ADJUSTMENTKEY" in a.errortext()
    both = detail(RECORDKEY=inv_key, POSADJKEY=str(dm), ADJUSTMENTKEY=credit_key, TRX_ADJUSTMENTAMOUNT="1")
    a = client.one(pay_xml(both))
    assert a.status() == "failure" and "either an invoice (RECORDKEY) or a debit memo (POSADJKEY)" in a.errortext()
    assert balance(sb) == D("30.00") - D("19.99"), "nothing applied"


def test_a_definition_posting_negative_invoices_takes_negativeinvoicekey(client: Client, sb: IntacctSandbox) -> None:
    seed = read_seed(DEFAULT_SEED)
    [cm] = [d for d in seed["companies"][0]["transaction_definitions"] if d["name"] == "Sales Credit Memo"]
    cm["ar_record"] = "ARINVOICE"
    sb.reset(seed=seed)
    credit_key, _ = paid_invoice_and_credit(client, sb)
    assert [r["TOTALENTERED"] for r in sb.snapshot()["arinvoices"]] == ["39.98", "-19.99"]
    dm = client.one(debit_memo_xml(amount="19.99"), controlid="dm").result().findtext("key")
    a = client.one(pay_xml(detail(POSADJKEY=str(dm), ADJUSTMENTKEY=credit_key, TRX_ADJUSTMENTAMOUNT="19.99")))
    assert a.status() == "failure" and "use NEGATIVEINVOICEKEY" in a.errortext()
    a = client.one(
        pay_xml(detail(POSADJKEY=str(dm), NEGATIVEINVOICEKEY=credit_key, TRX_NEGATIVEINVOICEAMOUNT="19.99")),
        controlid="ok",
    )
    assert a.status() == "success", a.errortext()
    assert balance(sb) == 0


# --- createdfrom -------------------------------------------------------------------------------


def test_credit_memo_created_from_its_invoice_converts_it(client: Client, sb: IntacctSandbox) -> None:
    assert client.one(invoice_xml()).status() == "success"
    a = client.one(credit_memo_xml("Sales Invoice-INV0001", quantity="1"), controlid="cm1")
    assert a.status() == "success", a.errortext()
    assert doc(sb, "Sales Credit Memo-CM0001")["CREATEDFROM"] == "Sales Invoice-INV0001"
    assert doc(sb, "Sales Invoice-INV0001")["STATE"] == "Partially Converted"
    a = client.one(credit_memo_xml("Sales Invoice-INV0001", quantity="1"), controlid="cm2")
    assert a.status() == "success", a.errortext()
    assert doc(sb, "Sales Invoice-INV0001")["STATE"] == "Converted"
    a = client.one(credit_memo_xml("Sales Invoice-INV0001", quantity="1"), controlid="cm3")
    assert a.status() == "failure" and "in state Converted" in a.errortext()
    a = client.one('<delete_sotransaction key="Sales Invoice-INV0001"/>', controlid="del")
    assert a.status() == "failure" and "has been converted" in a.errortext()


def test_a_conversion_the_definition_does_not_allow_is_refused(client: Client, sb: IntacctSandbox) -> None:
    seed = copy.deepcopy(read_seed(DEFAULT_SEED))
    [cm] = [d for d in seed["companies"][0]["transaction_definitions"] if d["name"] == "Sales Credit Memo"]
    cm["convert_from"] = []
    sb.reset(seed=seed)
    assert client.one(invoice_xml()).status() == "success"
    a = client.one(credit_memo_xml("Sales Invoice-INV0001"), controlid="cm")
    assert a.status() == "failure"
    assert "does not allow conversion from 'Sales Invoice'" in a.errortext()
    assert doc(sb, "Sales Invoice-INV0001")["STATE"] == "Pending"
    assert [d["DOCID"] for d in sb.snapshot()["documents"]] == ["Sales Invoice-INV0001"]
