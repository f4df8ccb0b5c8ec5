"""Cash Management: `record_otherreceipt` and `record_deposit` (legacy, element-order sensitive).

Modelled on the official SDKs' writers (`Intacct/intacct-sdk-php`
`Functions/CashManagement/OtherReceiptCreate.php`, `DepositCreate.php`) and the Cash Management
help ("Record other receipts": a receipt goes either to a bank account or to undeposited funds;
"Deposits": a deposit moves payments received into undeposited funds to a bank account).

Rules enforced (each a BL error like Intacct's, nothing written):
- other receipt: payment method known; the undeposited funds account is one of the company's
  `undeposited_accounts` (or `bankaccountid` a bank account, then it is deposited at once);
  every line's GL account exists; no line is zero. Line amounts may be negative and so may the
  total (**[UNSURE]**: Intacct's documentation does not say whether a receipt whose lines net
  below zero is accepted; the product can avoid it, see `payouts.fees` in docs/settings.md).
- deposit: the bank account exists; at least one receipt key; each key is an ARPYMT or an
  OTHERRECEIPTS record that is posted, was received into undeposited funds, and is not in a
  deposit yet; each key at most once; the receipts' currency is the bank account's.
  The deposit's TOTALENTERED is the sum of its receipts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from ..contentmodel import ANY, ContentModels
from ..errors import bl_error
from ..protocol import Ctx, Result
from ..values import money, parse_ymd, to_decimal
from .ar import PAYMENT_METHODS
from .common import text

MODELS = ContentModels(
    {
        "record_otherreceipt": "paymentdate, payee, receiveddate, paymentmethod, "
        "((bankaccountid, depositdate?) | undepglaccountno), refid?, description?, supdocid?, currency?, "
        "(exchrate | (exchratedate?, exchratetype))?, customfields?, receiptitems",
        "paymentdate": "year, month, day",
        "receiveddate": "year, month, day",
        "depositdate": "year, month, day",
        "exchratedate": "year, month, day",
        "receiptitems": "lineitem+",
        "lineitem": "(accountlabel | glaccountno), amount, memo?, locationid?, departmentid?, customfields?, "
        "projectid?, customerid?, vendorid?, employeeid?, itemid?, classid?, contractid?, warehouseid?",
        "customfields": ANY,
        "record_deposit": "bankaccountid, depositdate, depositid, receiptkeys, description?, supdocid?, customfields?",
        "receiptkeys": "receiptkey+",
    }
)


def validate(el: Element) -> None:
    MODELS.validate(el)


def _date(el: Element, tag: str) -> str:
    d = el.find(tag)
    value = parse_ymd(text(d, "year"), text(d, "month"), text(d, "day")) if d is not None else None
    if value is None:
        raise bl_error(f"Invalid date in <{tag}>", "Dates are sent as <year>, <month> and <day>.")
    return value


def _bank(ctx: Ctx, bank_id: str) -> dict[str, Any]:
    banks = {b["id"]: b for b in ctx.company.get("bank_accounts", [])}
    if bank_id not in banks:
        raise bl_error(
            f"Invalid bank account '{bank_id}'",
            f"bankaccountid must be a checking or savings account ID of company '{ctx.company_id}'.",
            "Use the ID of an existing bank account (Cash Management > Checking accounts).",
        )
    bank: dict[str, Any] = banks[bank_id]
    return bank


def _gl_accounts(ctx: Ctx) -> set[str]:
    return {str(a["accountno"]) for a in ctx.company.get("gl_accounts", [])} | {
        str(a["accountno"]) for a in ctx.company.get("undeposited_accounts", [])
    }


def record_otherreceipt(ctx: Ctx, el: Element) -> Result:
    """An other receipt; `<key>` = its RECORDNO. Into undeposited funds it waits for a deposit."""
    ctx.check("OTHERRECEIPTS", "Cash Management/Other Receipts")
    payment_date = _date(el, "paymentdate")
    received = _date(el, "receiveddate")
    payer = (text(el, "payee") or "").strip()
    if not payer:
        raise bl_error("Required field payee is missing", "An other receipt needs the payer's name.")
    method = text(el, "paymentmethod") or ""
    allowed = ctx.company.get("payment_methods") or list(PAYMENT_METHODS)
    if method not in allowed:
        raise bl_error(f"Invalid payment method '{method}'", f"paymentmethod must be one of: {', '.join(allowed)}.")
    base = ctx.company.get("base_currency", "USD")
    currency = text(el, "currency") or base
    if currency not in ctx.company.get("currencies", [base]):
        raise bl_error(f"Invalid currency '{currency}'", "The currency is not enabled in the company.")
    bank_id = text(el, "bankaccountid")
    undeposited = text(el, "undepglaccountno")
    if bank_id:
        _bank(ctx, bank_id)
    else:
        accounts = {str(a["accountno"]) for a in ctx.company.get("undeposited_accounts", [])}
        if undeposited not in accounts:
            raise bl_error(
                f"Invalid undeposited funds account '{undeposited}'",
                "undepglaccountno must be a GL account set up for undeposited funds.",
                "Use the undeposited funds account the payments are received into.",
            )
    accounts = _gl_accounts(ctx)
    lines = []
    total = Decimal(0)
    for n, li in enumerate(el.iterfind("receiptitems/lineitem"), 1):
        account = text(li, "glaccountno")
        if account is None or account not in accounts:
            raise bl_error(
                f"Invalid GL account '{account or text(li, 'accountlabel')}' (line {n})",
                f"The GL account does not exist in company '{ctx.company_id}'.",
                "Use the number of an existing GL account (General Ledger > Chart of accounts).",
            )
        amount = to_decimal(text(li, "amount"))
        if amount is None:
            raise bl_error(f"Invalid amount '{text(li, 'amount')}' (line {n})", "amount must be a decimal number.")
        amount = amount.quantize(Decimal("0.01"))
        if amount == 0:
            raise bl_error(f"Line {n}: amount must not be zero")
        lines.append({"GLACCOUNTNO": account, "AMOUNT": money(amount), "MEMO": text(li, "memo")})
        total += amount
    rec = {
        "RECORDTYPE": "cr",
        "PAYEE": payer,
        "PAYMENTDATE": payment_date,
        "RECEIPTDATE": received,
        "PAYMETHOD": method,
        "DOCNUMBER": text(el, "refid"),
        "DESCRIPTION": text(el, "description"),
        "CURRENCY": currency,
        "TOTALENTERED": money(total),
        "STATE": "Posted",
        "BANKACCOUNTID": bank_id,
        "UNDEPOSITEDACCOUNTNO": None if bank_id else undeposited,
        "DEPOSITKEY": None,
        "LINES": lines,
    }
    recordno = ctx.store.insert(ctx.company_id, "OTHERRECEIPTS", rec, text(el, "refid"))
    return Result(key=str(recordno))


def _receipt(ctx: Ctx, key: str, n: int) -> tuple[str, dict[str, Any]]:
    if not key.isdigit():
        raise bl_error(f"Invalid receiptkey '{key}' (receipt {n})", "A receipt key is the RECORDNO of the receipt.")
    for obj in ("ARPYMT", "OTHERRECEIPTS"):
        rec = ctx.store.get(ctx.company_id, obj, int(key))
        if rec is not None:
            return obj, rec
    raise bl_error(
        f"Invalid receiptkey '{key}' (receipt {n})",
        f"There is no received payment or other receipt with RECORDNO {key} in company '{ctx.company_id}'.",
    )


def record_deposit(ctx: Ctx, el: Element) -> Result:
    """A deposit of undeposited receipts into a bank account; `<key>` = its RECORDNO."""
    ctx.check("DEPOSIT", "Cash Management/Deposits")
    bank_id = text(el, "bankaccountid") or ""
    bank = _bank(ctx, bank_id)
    deposit_date = _date(el, "depositdate")
    deposit_id = (text(el, "depositid") or "").strip()
    if not deposit_id:
        raise bl_error("Required field depositid is missing", "A deposit needs its deposit slip ID.")
    keys = [k.text.strip() if k.text else "" for k in el.iterfind("receiptkeys/receiptkey")]
    if len(set(keys)) != len(keys):
        raise bl_error("A receipt is listed twice in receiptkeys", "List each receipt key once.")
    receipts: list[tuple[str, dict[str, Any]]] = []
    total = Decimal(0)
    for n, key in enumerate(keys, 1):
        obj, rec = _receipt(ctx, key, n)
        what = "payment" if obj == "ARPYMT" else "other receipt"
        if rec.get("STATE") not in ("Posted", None):
            raise bl_error(
                f"Receipt {key} cannot be deposited (state {rec.get('STATE')})",
                f"Only posted receipts can be deposited; this {what} is {rec.get('STATE')}.",
            )
        if not rec.get("UNDEPOSITEDACCOUNTNO"):
            raise bl_error(
                f"Receipt {key} was not received into undeposited funds",
                f"The {what} went straight to a bank account, so there is nothing to deposit.",
                "Deposit only receipts recorded to an undeposited funds account.",
            )
        if rec.get("DEPOSITKEY"):
            raise bl_error(
                f"Receipt {key} is already deposited (deposit {rec['DEPOSITKEY']})",
                "A receipt can be in one deposit only.",
            )
        currency = rec.get("CURRENCY")
        if bank.get("currency") and currency and currency != bank["currency"]:
            raise bl_error(
                f"Receipt {key} is in {currency}, bank account '{bank_id}' in {bank['currency']}",
                "A deposit holds receipts in the bank account's currency only.",
            )
        receipts.append((obj, rec))
        total += Decimal(str(rec.get("TOTALENTERED") or "0"))
    rec = {
        "RECORDTYPE": "cd",
        "FINANCIALENTITY": bank_id,
        "DOCNUMBER": deposit_id,
        "DESCRIPTION": text(el, "description"),
        "WHENCREATED": deposit_date,
        "CURRENCY": bank.get("currency"),
        "TOTALENTERED": money(total),
        "STATE": "Posted",
        "RECEIPTKEYS": keys,
    }
    recordno = ctx.store.insert(ctx.company_id, "DEPOSIT", rec, deposit_id)
    for obj, receipt in receipts:
        receipt["DEPOSITKEY"] = str(recordno)
        receipt["DEPOSITDATE"] = deposit_date
        ctx.store.update(ctx.company_id, obj, receipt)
    return Result(key=str(recordno))
