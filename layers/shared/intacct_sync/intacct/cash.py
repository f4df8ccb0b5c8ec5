"""Cash Management functions for payouts: other receipts and deposits of undeposited funds.

Both are legacy functions, element-order sensitive; the order below is the official SDKs'
(`Intacct/intacct-sdk-php` `OtherReceiptCreate` / `DepositCreate`, the same in
`intacct-sdk-net`), which write the DTD's order:

- `record_otherreceipt`: paymentdate, payee, receiveddate, paymentmethod, (bankaccountid,
  depositdate? | undepglaccountno), refid?, description?, supdocid?, currency?, exchrate...?,
  customfields?, receiptitems (lineitem: glaccountno | accountlabel, amount, memo?, locationid?,
  departmentid?, ...). A receipt to undeposited funds waits there to be deposited.
- `record_deposit`: bankaccountid, depositdate, depositid, receiptkeys (receiptkey+),
  description?, supdocid?, customfields?. The receipt keys are RECORDNOs of AR payments and
  other receipts held in undeposited funds; the deposit moves them to the bank account, and its
  total is theirs (a deposit has no lines of its own).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from intacct_sync.intacct.wire import Function, sub


@dataclass(frozen=True)
class ReceiptLine:
    """One line of an other receipt: `amount` (signed: negative takes money out) on a GL account."""

    gl_account_no: str
    amount: Decimal
    memo: str | None = None
    location_id: str | None = None
    department_id: str | None = None


@dataclass(frozen=True)
class OtherReceipt:
    """An other receipt into undeposited funds (`undeposited_account`), to be deposited."""

    payer: str
    payment_date: date
    received_date: date
    payment_method: str
    undeposited_account: str
    lines: Sequence[ReceiptLine]
    reference: str | None = None
    """`refid`: the business key the receipt is looked up by after a lost answer."""
    description: str | None = None
    currency: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass(frozen=True)
class Deposit:
    """A deposit of undeposited receipts (AR payments, other receipts) into a bank account."""

    bank_account_id: str
    deposit_date: date
    deposit_id: str
    """The deposit slip ID the bank line is matched by; also the key it is looked up by."""
    receipt_keys: Sequence[str]
    description: str | None = None


def _date(parent: ET.Element, tag: str, value: date) -> None:
    el = sub(parent, tag)
    sub(el, "year", f"{value.year:04d}")
    sub(el, "month", f"{value.month:02d}")
    sub(el, "day", f"{value.day:02d}")


def record_otherreceipt(receipt: OtherReceipt, *, controlid: str) -> Function:
    """`record_otherreceipt` to undeposited funds; the result's `<key>` is its RECORDNO."""
    if not receipt.lines:
        raise ValueError("an other receipt needs at least one line")
    el = ET.Element("record_otherreceipt")
    _date(el, "paymentdate", receipt.payment_date)
    sub(el, "payee", receipt.payer)
    _date(el, "receiveddate", receipt.received_date)
    sub(el, "paymentmethod", receipt.payment_method)
    sub(el, "undepglaccountno", receipt.undeposited_account)
    if receipt.reference is not None:
        sub(el, "refid", receipt.reference)
    if receipt.description is not None:
        sub(el, "description", receipt.description)
    if receipt.currency is not None:
        sub(el, "currency", receipt.currency)
    items = sub(el, "receiptitems")
    for line in receipt.lines:
        li = sub(items, "lineitem")
        sub(li, "glaccountno", line.gl_account_no)
        sub(li, "amount", line.amount)
        if line.memo is not None:
            sub(li, "memo", line.memo)
        if line.location_id is not None:
            sub(li, "locationid", line.location_id)
        if line.department_id is not None:
            sub(li, "departmentid", line.department_id)
    return Function("record_otherreceipt", controlid, el, write=True, object="OTHERRECEIPTS")


def record_deposit(deposit: Deposit, *, controlid: str) -> Function:
    """`record_deposit` of the given receipt keys; the result's `<key>` is the deposit's RECORDNO."""
    if not deposit.receipt_keys:
        raise ValueError("a deposit needs at least one receipt key")
    el = ET.Element("record_deposit")
    sub(el, "bankaccountid", deposit.bank_account_id)
    _date(el, "depositdate", deposit.deposit_date)
    sub(el, "depositid", deposit.deposit_id)
    keys = sub(el, "receiptkeys")
    for key in deposit.receipt_keys:
        sub(keys, "receiptkey", key)
    if deposit.description is not None:
        sub(el, "description", deposit.description)
    return Function("record_deposit", controlid, el, write=True, object="DEPOSIT")


@dataclass(frozen=True)
class JournalLine:
    """One journal entry line: `amount` positive, on the debit (`debit=True`) or credit side."""

    gl_account_no: str
    amount: Decimal
    debit: bool
    memo: str | None = None


@dataclass(frozen=True)
class JournalEntry:
    """A GLBATCH: lines whose debits equal their credits."""

    journal: str
    posting_date: date
    title: str
    lines: Sequence[JournalLine]
    reference: str | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        debits = sum((x.amount for x in self.lines if x.debit), Decimal(0))
        credits = sum((x.amount for x in self.lines if not x.debit), Decimal(0))
        if len(self.lines) < 2 or debits != credits:
            raise ValueError("a journal entry needs at least two lines whose debits equal their credits")


def create_journal_entry(entry: JournalEntry, *, controlid: str) -> Function:
    """Generic `create` of a GLBATCH, fields in the official SDK's `JournalEntryCreate` order;
    the result's data holds its RECORDNO."""
    el = ET.Element("create")
    g = sub(el, "GLBATCH")
    sub(g, "JOURNAL", entry.journal)
    sub(g, "BATCH_DATE", entry.posting_date.strftime("%m/%d/%Y"))
    sub(g, "BATCH_TITLE", entry.title)
    if entry.reference is not None:
        sub(g, "REFERENCENO", entry.reference)
    lines = sub(g, "ENTRIES")
    for line in entry.lines:
        e = sub(lines, "GLENTRY")
        sub(e, "ACCOUNTNO", line.gl_account_no)
        sub(e, "TR_TYPE", "1" if line.debit else "-1")
        sub(e, "TRX_AMOUNT", line.amount)
        if entry.currency is not None:
            sub(e, "CURRENCY", entry.currency)
        if line.memo is not None:
            sub(e, "DESCRIPTION", line.memo)
    return Function("create", controlid, el, write=True, object="GLBATCH")
