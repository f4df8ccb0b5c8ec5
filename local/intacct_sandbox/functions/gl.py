"""General Ledger: generic `create` of GLBATCH (a journal entry), for payouts' fees booked as a
journal entry (`payouts.fees = "journal_entry"`).

Fields as the official SDK's `JournalEntryCreate` / `JournalEntryLineCreate` write them
(Intacct/intacct-sdk-php src/Intacct/Functions/GeneralLedger): JOURNAL, BATCH_DATE (mm/dd/yyyy),
REVERSEDATE?, BATCH_TITLE, HISTORY_COMMENT?, REFERENCENO?, BASELOCATION_NO?, SUPDOCID?, STATE?,
ENTRIES with at least 2 GLENTRY (DOCUMENT?, ACCOUNTNO, TR_TYPE 1 debit / -1 credit, TRX_AMOUNT
positive, CURRENCY?, exchange rate?, dimensions?, DESCRIPTION?). Rules: the journal exists
(`journals` in the seed, default GJ), every account exists, debits equal credits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from ..errors import bl_error
from ..protocol import Ctx, sub
from ..values import money, parse_us_date, to_decimal
from .common import el_to_dict

GLBATCH_FIELDS = {
    "JOURNAL", "BATCH_DATE", "REVERSEDATE", "BATCH_TITLE", "HISTORY_COMMENT", "REFERENCENO", "BASELOCATION_NO",
    "SUPDOCID", "STATE", "ENTRIES",
}  # fmt: skip
GLENTRY_FIELDS = {
    "DOCUMENT", "ACCOUNTNO", "TR_TYPE", "TRX_AMOUNT", "CURRENCY", "EXCH_RATE_DATE", "EXCH_RATE_TYPE_ID",
    "EXCHANGE_RATE", "LOCATION", "DEPARTMENT", "PROJECTID", "CUSTOMERID", "VENDORID", "EMPLOYEEID", "ITEMID",
    "CLASSID", "CONTRACTID", "WAREHOUSEID", "DESCRIPTION",
}  # fmt: skip


def _accounts(ctx: Ctx) -> set[str]:
    return {str(a["accountno"]) for a in ctx.company.get("gl_accounts", [])} | {
        str(a["accountno"]) for a in ctx.company.get("undeposited_accounts", [])
    }


def create_glbatch(ctx: Ctx, el: Element) -> Element:
    ctx.check("GLBATCH", "General Ledger/Journal Entries")
    f = el_to_dict(el)
    for k in f:
        if k not in GLBATCH_FIELDS:
            raise bl_error(f"Unknown field '{k}' on object GLBATCH", "Check the element name (names are upper case).")
    journals = [j["symbol"] for j in ctx.company.get("journals", [{"symbol": "GJ"}])]
    journal = f.get("JOURNAL")
    if journal not in journals:
        raise bl_error(
            f"Invalid journal '{journal}'",
            f"JOURNAL must be the symbol of a journal of company '{ctx.company_id}': {', '.join(journals)}.",
            "Use an existing journal symbol (General Ledger > Journals).",
        )
    when = parse_us_date(str(f.get("BATCH_DATE") or ""))
    if when is None:
        raise bl_error(f"Invalid BATCH_DATE '{f.get('BATCH_DATE')}'", "Dates are written mm/dd/yyyy.")
    if not str(f.get("BATCH_TITLE") or "").strip():
        raise bl_error("Required field BATCH_TITLE is missing", "A journal entry needs a description.")
    block = f.get("ENTRIES")
    entries: Any = block.get("GLENTRY") if isinstance(block, dict) else None
    if isinstance(entries, dict):
        entries = [entries]
    if not entries or len(entries) < 2:
        raise bl_error("A journal entry needs at least two lines (GLENTRY)")
    accounts = _accounts(ctx)
    debit = credit = Decimal(0)
    lines = []
    for n, e in enumerate(entries, 1):
        if not isinstance(e, dict):
            raise bl_error(f"GLENTRY {n} is empty")
        for k in e:
            if k not in GLENTRY_FIELDS:
                raise bl_error(f"Unknown field '{k}' on GLENTRY {n}")
        account = str(e.get("ACCOUNTNO") or "")
        if account not in accounts:
            raise bl_error(
                f"Invalid GL account '{account}' (line {n})",
                f"The GL account does not exist in company '{ctx.company_id}'.",
                "Use the number of an existing GL account (General Ledger > Chart of accounts).",
            )
        amount = to_decimal(str(e.get("TRX_AMOUNT") or ""))
        if amount is None or amount <= 0:
            raise bl_error(f"Line {n}: TRX_AMOUNT must be a positive amount", "Give the side with TR_TYPE.")
        side = str(e.get("TR_TYPE") or "")
        if side not in ("1", "-1"):
            raise bl_error(f"Line {n}: TR_TYPE must be 1 (debit) or -1 (credit), got '{side}'")
        amount = amount.quantize(Decimal("0.01"))
        if side == "1":
            debit += amount
        else:
            credit += amount
        lines.append(
            {"ACCOUNTNO": account, "TR_TYPE": int(side), "AMOUNT": money(amount), "MEMO": e.get("DESCRIPTION")}
        )
    if debit != credit:
        raise bl_error(
            f"The journal entry is out of balance: debits {money(debit)}, credits {money(credit)}",
            "Debits and credits of a journal entry must be equal.",
        )
    rec = {
        "JOURNAL": journal,
        "BATCH_DATE": when,
        "BATCH_TITLE": f.get("BATCH_TITLE"),
        "REFERENCENO": f.get("REFERENCENO"),
        "STATE": "Posted" if (f.get("STATE") or "Posted") == "Posted" else str(f.get("STATE")),
        "TOTAL": money(debit),
        "ENTRIES": lines,
    }
    recordno = ctx.store.insert(ctx.company_id, "GLBATCH", rec, str(f.get("REFERENCENO") or "") or None)
    out = Element("glbatch")
    sub(out, "RECORDNO", recordno)
    return out
