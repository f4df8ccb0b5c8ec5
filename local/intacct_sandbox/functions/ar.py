"""Generic create of CUSTOMER, CONTACT and ARPYMT (Accounts Receivable)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from ..contentmodel import ANY, ContentModels
from ..errors import bl_error
from ..protocol import Ctx, Result, sub
from ..values import money, parse_us_date, parse_ymd, to_decimal
from .common import el_to_dict, find, must_exist, text

CUSTOMER_FIELDS = {
    "CUSTOMERID", "NAME", "DISPLAYCONTACT", "STATUS", "TERMNAME", "SHIPTO", "BILLTO", "CONTACTINFO",
    "CURRENCY", "CUSTTYPE", "PARENTID", "CREDITLIMIT", "ONETIME", "HIDEDISPLAYCONTACT", "COMMENTS", "TAXID",
    "EMAILOPTIN", "ONHOLD", "CUSTREPID", "TERRITORYID", "GLGROUP", "PRICESCHEDULE", "DISCOUNT", "PRICELIST",
    "DELIVERY_OPTIONS", "ACCOUNTLABEL", "ARACCOUNT", "CUSTMESSAGEID", "SHIPPINGMETHOD", "RESALENO",
}  # fmt: skip
CONTACT_FIELDS = {
    "CONTACTNAME", "PRINTAS", "COMPANYNAME", "TAXABLE", "TAXGROUP", "PREFIX", "FIRSTNAME", "LASTNAME",
    "INITIAL", "PHONE1", "PHONE2", "CELLPHONE", "PAGER", "FAX", "EMAIL1", "EMAIL2", "URL1", "URL2",
    "MAILADDRESS", "STATUS",
}  # fmt: skip
ADDRESS_FIELDS = {
    "ADDRESS1",
    "ADDRESS2",
    "ADDRESS3",
    "CITY",
    "STATE",
    "ZIP",
    "COUNTRY",
    "COUNTRYCODE",
    "ISOCOUNTRYCODE",
}
ARPYMT_FIELDS = {
    "FINANCIALENTITY", "UNDEPOSITEDACCOUNTNO", "PRBATCH", "PAYMENTMETHOD", "CUSTOMERID", "PAYERNAME",
    "DOCNUMBER", "DESCRIPTION", "RECEIPTDATE", "PAYMENTDATE", "WHENPAID", "CURRENCY", "BASECURR",
    "EXCH_RATE_TYPE_ID", "EXCHANGE_RATE", "EXCH_RATE_DATE", "AMOUNTOPAY", "TRX_AMOUNTTOPAY",
    "OVERPAYMENTAMOUNT", "OVERPAYMENTLOCATIONID", "OVERPAYMENTDEPARTMENTID", "BILLTOPAYTONAME",
    "ONLINECARDPAYMENT", "ONLINEACHPAYMENT", "ACTION", "ARPYMTDETAILS", "REFID",
}  # fmt: skip
DETAIL_FIELDS = {
    "RECORDKEY", "ENTRYKEY", "POSADJKEY", "TRX_PAYMENTAMOUNT", "ADJUSTMENTKEY", "INLINEKEY", "ADVANCEKEY",
    "OVERPAYMENTKEY", "NEGATIVEINVOICEKEY", "TRX_ADJUSTMENTAMOUNT", "TRX_INLINEAMOUNT", "TRX_ADVANCEAMOUNT",
    "TRX_OVERPAYMENTAMOUNT", "TRX_NEGATIVEINVOICEAMOUNT", "DISCOUNTDATE", "TRX_TOTALDISCOUNTTOAPPLY",
}  # fmt: skip
PAYMENT_METHODS = ("Printed Check", "Cash", "EFT", "Credit Card", "Online Charge Card", "Online ACH Debit")


def _unknown(obj: str, allowed: set[str], fields: dict[str, Any], extra: list[str], where: str = "") -> None:
    for k in fields:
        if k not in allowed and k not in extra:
            raise bl_error(
                f"Unknown field '{k}' on object {obj}{where}",
                f"'{k}' is not a standard or custom field of {obj} in this company.",
                "Check the element name (names are upper case) or define the custom field.",
            )


def _required(obj: str, value: Any, name: str, label: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bl_error(
            f"Required field {name} is missing",
            f"{obj}: {label} is required.",
            f"Send <{name}> with a value.",
        )
    return value


def _contact_record(name: str, dc: dict[str, Any]) -> dict[str, Any]:
    rec = {k: v for k, v in dc.items() if k not in ("CONTACTNAME", "MAILADDRESS")}
    rec["CONTACTNAME"] = name
    rec["MAILADDRESS"] = dict(dc.get("MAILADDRESS") or {})
    rec.setdefault("STATUS", "active")
    return rec


def _check_contact(obj: str, dc: Any) -> dict[str, Any]:
    if not isinstance(dc, dict):
        raise bl_error(f"Required field DISPLAYCONTACT is missing on {obj}", "DISPLAYCONTACT with PRINTAS is required.")
    _unknown("CONTACT", CONTACT_FIELDS, dc, [], " (in DISPLAYCONTACT)")
    _required(obj, dc.get("PRINTAS"), "PRINTAS", "Print as (DISPLAYCONTACT.PRINTAS)")
    addr = dc.get("MAILADDRESS")
    if addr is not None:
        if not isinstance(addr, dict):
            addr = {}
            dc["MAILADDRESS"] = addr
        _unknown("CONTACT", ADDRESS_FIELDS, addr, [], " (in MAILADDRESS)")
    return dc


def _status(obj: str, value: Any) -> str:
    status = value if isinstance(value, str) and value else "active"
    if status not in ("active", "inactive"):
        raise bl_error(f"Invalid STATUS '{status}' on {obj}", "STATUS must be 'active' or 'inactive'.")
    return status


def insert_customer(ctx: Ctx, fields: dict[str, Any]) -> dict[str, Any]:
    custom = ctx.company.get("custom_fields", {}).get("CUSTOMER", [])
    _unknown("CUSTOMER", CUSTOMER_FIELDS, fields, custom)
    cid = fields.get("CUSTOMERID")
    if not isinstance(cid, str) or not cid.strip():
        auto = ctx.company.get("customer_autonumber")
        if not auto:
            _required("CUSTOMER", None, "CUSTOMERID", "Customer ID (document sequencing is not enabled)")
        assert auto is not None
        n = ctx.store.next_seq(ctx.company_id, "customer_autonumber", int(auto.get("next", 1)))
        cid = f"{auto.get('prefix', '')}{n:0{int(auto.get('width', 0))}d}"
    name = _required("CUSTOMER", fields.get("NAME"), "NAME", "Customer name")
    dc = _check_contact("CUSTOMER", fields.get("DISPLAYCONTACT"))
    if find(ctx, "CUSTOMER", cid) is not None:
        raise bl_error(
            f"Another Customer with the given value(s) {cid} already exists",
            f"A customer with CUSTOMERID '{cid}' already exists.",
            "Use a different customer ID, or look the customer up and reuse it.",
        )
    status = _status("CUSTOMER", fields.get("STATUS"))
    if fields.get("TERMNAME"):
        term_days(ctx, fields["TERMNAME"])
    if fields.get("CURRENCY") and fields["CURRENCY"] not in ctx.company.get("currencies", ["USD"]):
        raise bl_error(f"Invalid currency '{fields['CURRENCY']}'", "The currency is not enabled in the company.")
    contact_name = dc.get("CONTACTNAME") or f"{name}(C{cid})"
    if find(ctx, "CONTACT", contact_name) is not None:
        raise bl_error(
            f"Another Contact with the given value(s) {contact_name} already exists",
            "Contact names are unique in a company.",
            "Send another DISPLAYCONTACT.CONTACTNAME or leave it out to have one generated.",
        )
    ctx.store.insert(ctx.company_id, "CONTACT", _contact_record(contact_name, dc), contact_name)
    refs = {}
    for block in ("SHIPTO", "BILLTO", "CONTACTINFO"):
        sub_block = fields.get(block)
        cname = sub_block.get("CONTACTNAME") if isinstance(sub_block, dict) else None
        if cname and cname != contact_name:
            must_exist(ctx, "CONTACT", cname, f" ({block}.CONTACTNAME)")
        refs[block] = {"CONTACTNAME": cname or contact_name}
    rec = {
        **{k: v for k, v in fields.items() if k not in ("DISPLAYCONTACT", "SHIPTO", "BILLTO", "CONTACTINFO")},
        "CUSTOMERID": cid,
        "NAME": name,
        "STATUS": status,
        "DISPLAYCONTACT": {**dc, "CONTACTNAME": contact_name},
        **refs,
    }
    recordno = ctx.store.insert(ctx.company_id, "CUSTOMER", rec, cid)
    return {"RECORDNO": recordno, "CUSTOMERID": cid}


def term_days(ctx: Ctx, termname: str) -> int:
    for t in ctx.company.get("terms", []):
        if t["name"] == termname:
            return int(t.get("days", 0))
    raise bl_error(
        f"Invalid term '{termname}'",
        f"The payment term '{termname}' does not exist in company '{ctx.company_id}'.",
        "Use the exact name of an AR term (Accounts Receivable > Setup > AR terms).",
    )


def create_customer(ctx: Ctx, el: Element) -> Element:
    ctx.check("CUSTOMER", "Accounts Receivable/Customers")
    out = insert_customer(ctx, el_to_dict(el))
    res = Element("customer")
    sub(res, "RECORDNO", out["RECORDNO"])
    sub(res, "CUSTOMERID", out["CUSTOMERID"])
    return res


def insert_contact(ctx: Ctx, fields: dict[str, Any]) -> int:
    _unknown("CONTACT", CONTACT_FIELDS, fields, ctx.company.get("custom_fields", {}).get("CONTACT", []))
    name = _required("CONTACT", fields.get("CONTACTNAME"), "CONTACTNAME", "Contact name")
    _required("CONTACT", fields.get("PRINTAS"), "PRINTAS", "Print as")
    if find(ctx, "CONTACT", name) is not None:
        raise bl_error(
            f"Another Contact with the given value(s) {name} already exists",
            "Contact names are unique in a company.",
        )
    rec = _contact_record(name, fields)
    rec["STATUS"] = _status("CONTACT", fields.get("STATUS"))
    return ctx.store.insert(ctx.company_id, "CONTACT", rec, name)


def create_contact(ctx: Ctx, el: Element) -> Element:
    ctx.check("CONTACT", "Company/Contacts")
    fields = el_to_dict(el)
    recordno = insert_contact(ctx, fields)
    res = Element("contact")
    sub(res, "RECORDNO", recordno)
    sub(res, "CONTACTNAME", fields.get("CONTACTNAME"))
    return res


# ---- ARPYMT -------------------------------------------------------------------------------
def _amount(value: Any, name: str) -> Decimal:
    d = to_decimal(value if isinstance(value, str) else None)
    if d is None:
        raise bl_error(f"Invalid amount '{value}' in {name}", f"{name} must be a decimal number.")
    return d


def create_arpymt(ctx: Ctx, el: Element) -> Element:
    ctx.check("ARPYMT", "Accounts Receivable/Received Payments")
    f = el_to_dict(el)
    _unknown("ARPYMT", ARPYMT_FIELDS, f, ctx.company.get("custom_fields", {}).get("ARPYMT", []))
    method = _required("ARPYMT", f.get("PAYMENTMETHOD"), "PAYMENTMETHOD", "Payment method")
    allowed_methods = ctx.company.get("payment_methods") or list(PAYMENT_METHODS)
    if method not in allowed_methods:
        raise bl_error(
            f"Invalid payment method '{method}'",
            f"PAYMENTMETHOD must be one of: {', '.join(allowed_methods)}.",
        )
    receipt = parse_us_date(_required("ARPYMT", f.get("RECEIPTDATE"), "RECEIPTDATE", "Receipt date"))
    if receipt is None:
        raise bl_error(f"Invalid RECEIPTDATE '{f['RECEIPTDATE']}'", "Dates are written mm/dd/yyyy.")
    payment_date = None
    if f.get("PAYMENTDATE"):
        payment_date = parse_us_date(f["PAYMENTDATE"])
        if payment_date is None:
            raise bl_error(f"Invalid PAYMENTDATE '{f['PAYMENTDATE']}'", "Dates are written mm/dd/yyyy.")
    currency = _required("ARPYMT", f.get("CURRENCY"), "CURRENCY", "Currency")
    if currency not in ctx.company.get("currencies", ["USD"]):
        raise bl_error(f"Invalid currency '{currency}'", "The currency is not enabled in the company.")
    sources = [k for k in ("FINANCIALENTITY", "UNDEPOSITEDACCOUNTNO", "PRBATCH") if f.get(k)]
    if len(sources) != 1:
        raise bl_error(
            "Specify exactly one of FINANCIALENTITY, UNDEPOSITEDACCOUNTNO or PRBATCH",
            f"Got {', '.join(sources) if sources else 'none'}.",
            "Send the bank account ID (FINANCIALENTITY) or the undeposited funds GL account.",
        )
    if f.get("FINANCIALENTITY"):
        banks = {b["id"]: b for b in ctx.company.get("bank_accounts", [])}
        if f["FINANCIALENTITY"] not in banks:
            raise bl_error(
                f"Invalid bank account '{f['FINANCIALENTITY']}'",
                f"FINANCIALENTITY must be a checking or savings account ID of company '{ctx.company_id}'.",
            )
    if f.get("UNDEPOSITEDACCOUNTNO"):
        gl = {a["accountno"] for a in ctx.company.get("undeposited_accounts", [])}
        if f["UNDEPOSITEDACCOUNTNO"] not in gl:
            raise bl_error(
                f"Invalid undeposited funds account '{f['UNDEPOSITEDACCOUNTNO']}'",
                "UNDEPOSITEDACCOUNTNO must be a GL account set up for undeposited funds.",
            )
    cust_id = _required("ARPYMT", f.get("CUSTOMERID"), "CUSTOMERID", "Customer ID")
    customer = must_exist(ctx, "CUSTOMER", cust_id)
    details_block = f.get("ARPYMTDETAILS")
    details = details_block.get("ARPYMTDETAIL") if isinstance(details_block, dict) else None
    if isinstance(details, dict):
        details = [details]
    if not details:
        raise bl_error(
            "Required field ARPYMTDETAILS is missing",
            "An ARPYMT needs at least one ARPYMTDETAIL with RECORDKEY (or POSADJKEY) and an amount.",
        )
    draft = (f.get("ACTION") or "Submit") == "Draft"
    # (object, RECORDNO) -> the record and what this payment moves on it: targets (invoices,
    # debit memos) are paid down by cash and credits; credits (credit memos, negative invoices)
    # are used up by what they pay.
    moved: dict[tuple[str, int], Decimal] = {}
    records: dict[tuple[str, int], dict[str, Any]] = {}
    total = Decimal(0)
    for i, d in enumerate(details, 1):
        if not isinstance(d, dict):
            raise bl_error(f"ARPYMTDETAIL {i} is empty")
        _unknown("ARPYMTDETAIL", DETAIL_FIELDS, d, [])
        target = _target(ctx, d, i, cust_id)
        cash = Decimal(0)
        if d.get("TRX_PAYMENTAMOUNT") is not None:
            cash = _amount(d.get("TRX_PAYMENTAMOUNT"), "TRX_PAYMENTAMOUNT").quantize(Decimal("0.01"))
            if cash <= 0:
                raise bl_error(f"TRX_PAYMENTAMOUNT must be positive, got {d.get('TRX_PAYMENTAMOUNT')}")
        credits = _credits(ctx, d, i, cust_id)
        if cash == 0 and not credits:
            raise bl_error(
                f"ARPYMTDETAIL {i} applies nothing",
                "Give TRX_PAYMENTAMOUNT (cash) or a credit (ADJUSTMENTKEY with TRX_ADJUSTMENTAMOUNT, "
                "NEGATIVEINVOICEKEY with TRX_NEGATIVEINVOICEAMOUNT).",
            )
        for rec in (target, *(c for c, _ in credits)):
            if rec.get("CURRENCY") and rec["CURRENCY"] != currency:
                raise bl_error(
                    f"Payment currency {currency} does not match the currency {rec['CURRENCY']} of "
                    f"{rec['_OBJECT']} {rec['RECORDNO']}",
                    "Cross-currency payments are not supported by the sandbox.",
                )
        tkey = (target["_OBJECT"], int(target["RECORDNO"]))
        records[tkey] = target
        moved[tkey] = moved.get(tkey, Decimal(0)) + cash + sum((a for _, a in credits), Decimal(0))
        due = Decimal(target["TOTALDUE"])
        if moved[tkey] > due:
            what = "invoice" if target["_OBJECT"] == "ARINVOICE" else "debit memo"
            raise bl_error(
                f"Payment amount {money(moved[tkey])} exceeds the amount due {money(due)} "
                f"on {what} {target.get('RECORDID')} (RECORDNO {target['RECORDNO']})",
                "Overpayment is not allowed on an invoice line; send the excess as OVERPAYMENTAMOUNT.",
                "Pay at most TOTALDUE; read the invoice's TOTALDUE first.",
            )
        for credit, amount in credits:
            ckey = (credit["_OBJECT"], int(credit["RECORDNO"]))
            records[ckey] = credit
            moved[ckey] = moved.get(ckey, Decimal(0)) - amount  # towards 0 from below
            if moved[ckey] < Decimal(credit["TOTALDUE"]):
                raise bl_error(
                    f"Credit amount {money(-moved[ckey])} exceeds the credit available "
                    f"{money(-Decimal(credit['TOTALDUE']))} on {credit['_OBJECT']} {credit['RECORDNO']}",
                    "A credit can be applied up to what is left of it.",
                )
        total += cash
    over = Decimal(0)
    if f.get("OVERPAYMENTAMOUNT"):
        over = _amount(f["OVERPAYMENTAMOUNT"], "OVERPAYMENTAMOUNT")
    rec = {
        "CUSTOMERID": cust_id,
        "CUSTOMERNAME": customer.get("NAME"),
        "DOCNUMBER": f.get("DOCNUMBER"),
        "DESCRIPTION": f.get("DESCRIPTION"),
        "RECEIPTDATE": receipt,
        "PAYMENTDATE": payment_date or receipt,
        "PAYMENTMETHOD": method,
        "CURRENCY": currency,
        "TOTALENTERED": money(total + over),
        "OVERPAYMENTAMOUNT": money(over) if over else None,
        "STATE": "Draft" if draft else "Posted",
        "FINANCIALENTITY": f.get("FINANCIALENTITY"),
        "UNDEPOSITEDACCOUNTNO": f.get("UNDEPOSITEDACCOUNTNO"),
        "PRBATCH": f.get("PRBATCH"),
        "DETAILS": [{key: d.get(key) for key in DETAIL_FIELDS if d.get(key) is not None} for d in details],
    }
    recordno = ctx.store.insert(ctx.company_id, "ARPYMT", rec, str(f.get("DOCNUMBER") or ""))
    if not draft:
        for key, amt in moved.items():
            obj = key[0]
            ar = {k: v for k, v in records[key].items() if k != "_OBJECT"}
            due = Decimal(ar["TOTALDUE"]) - amt
            ar["TOTALDUE"] = money(due)
            ar["TOTALPAID"] = money(Decimal(ar["TOTALPAID"]) + amt)
            ar["STATE"] = "Paid" if due == 0 else "Partially Paid"
            if due == 0:
                ar["WHENPAID"] = receipt
            ar.setdefault("PAYMENTS", []).append(recordno)
            ctx.store.update(ctx.company_id, obj, ar)
    res = Element("arpymt")
    sub(res, "RECORDNO", recordno)
    return res


def _ar_record(ctx: Ctx, obj: str, key: str, cust_id: str) -> dict[str, Any] | None:
    rec = ctx.store.get(ctx.company_id, obj, int(key)) if key.isdigit() else None
    if rec is None or rec.get("CUSTOMERID") != cust_id:
        return None
    return {**rec, "_OBJECT": obj}


def _target(ctx: Ctx, d: dict[str, Any], i: int, cust_id: str) -> dict[str, Any]:
    """What a detail pays: an invoice (RECORDKEY) or a debit memo (POSADJKEY), never both."""
    inv_key, dm_key = (d.get("RECORDKEY") or "").strip(), (d.get("POSADJKEY") or "").strip()
    if bool(inv_key) == bool(dm_key):
        raise bl_error(
            f"ARPYMTDETAIL {i} must pay either an invoice (RECORDKEY) or a debit memo (POSADJKEY)",
            "You can pay either an invoice or a debit memo, but not both in one payment detail.",
        )
    if inv_key:
        inv = _ar_record(ctx, "ARINVOICE", inv_key, cust_id)
        if inv is None or Decimal(inv["TOTALENTERED"]) < 0:
            raise bl_error(
                f"Invalid invoice key '{inv_key}' for customer '{cust_id}'",
                f"There is no open AR invoice with RECORDNO {inv_key} for customer '{cust_id}'.",
                "Use SODOCUMENT.PRRECORDKEY (the ARINVOICE RECORDNO), not the SODOCUMENT RECORDNO.",
            )
        return inv
    dm = _ar_record(ctx, "ARADJUSTMENT", dm_key, cust_id)
    if dm is None or Decimal(dm["TOTALENTERED"]) <= 0:
        raise bl_error(
            f"Invalid debit memo key '{dm_key}' for customer '{cust_id}'",
            f"There is no AR debit memo (ARADJUSTMENT with a positive amount) with RECORDNO {dm_key} "
            f"for customer '{cust_id}'.",
            "POSADJKEY is the RECORDNO of a debit memo made with create_aradjustment.",
        )
    return dm


CREDIT_FIELDS = (
    ("ADJUSTMENTKEY", "TRX_ADJUSTMENTAMOUNT", "ARADJUSTMENT", "credit memo"),
    ("NEGATIVEINVOICEKEY", "TRX_NEGATIVEINVOICEAMOUNT", "ARINVOICE", "negative invoice"),
)


def _credits(ctx: Ctx, d: dict[str, Any], i: int, cust_id: str) -> list[tuple[dict[str, Any], Decimal]]:
    """The credits a detail applies: a credit memo (ADJUSTMENTKEY, an ARADJUSTMENT with a
    negative amount) or a negative invoice (NEGATIVEINVOICEKEY, an ARINVOICE with one)."""
    out = []
    for key_field, amount_field, obj, what in CREDIT_FIELDS:
        key = (d.get(key_field) or "").strip()
        if not key:
            if d.get(amount_field) is not None:
                raise bl_error(f"{amount_field} without {key_field} in ARPYMTDETAIL {i}")
            continue
        credit = _ar_record(ctx, obj, key, cust_id)
        if credit is None or Decimal(credit["TOTALENTERED"]) >= 0:
            other = "NEGATIVEINVOICEKEY" if key_field == "ADJUSTMENTKEY" else "ADJUSTMENTKEY"
            raise bl_error(
                f"Invalid {key_field} '{key}' for customer '{cust_id}'",
                f"There is no {what} ({obj} with a negative amount) with RECORDNO {key} for customer '{cust_id}'.",
                f"If the credit is recorded as the other kind, use {other}.",
            )
        amount = _amount(d.get(amount_field), amount_field).quantize(Decimal("0.01"))
        if amount <= 0:
            raise bl_error(f"{amount_field} must be positive, got {d.get(amount_field)}")
        out.append((credit, amount))
    return out


# ---- create_aradjustment (legacy) -----------------------------------------------------------------
# Content models of intacct_pr_functions.v2.1.dtd / intacct_request_objects.v2.1.dtd (checked).
ADJUSTMENT_MODELS = ContentModels(
    {
        "create_aradjustment": "customerid, datecreated, dateposted?, batchkey?, adjustmentno?, action?, "
        "invoiceno?, description?, externalid?, (basecurr?, currency, ((exchratedate?, exchratetype) | "
        "exchrate))?, nogl?, aradjustmentitems",
        "datecreated": "year, month, day",
        "dateposted": "year, month, day",
        "exchratedate": "year, month, day",
        "aradjustmentitems": "lineitem+",
        "lineitem": "(accountlabel | glaccountno), offsetglaccountno?, amount, allocationid?, memo?, "
        "locationid?, departmentid?, item1099?, form1099type?, form1099box?, key?, totalpaid?, totaldue?, "
        "customfields?, revrectemplate?, defrevaccount?, revrecstartdate?, revrecenddate?, projectid?, "
        "customerid?, vendorid?, employeeid?, itemid?, classid?, contractid?, warehouseid?, billable?",
        "customfields": ANY,
        "revrecstartdate": ANY,
        "revrecenddate": ANY,
    }
)


def validate_create_aradjustment(el: Element) -> None:
    ADJUSTMENT_MODELS.validate(el)


def _gl_accounts(ctx: Ctx) -> set[str]:
    return {str(a["accountno"]) for a in ctx.company.get("gl_accounts", [])} | {
        str(a["accountno"]) for a in ctx.company.get("undeposited_accounts", [])
    }


def create_aradjustment(ctx: Ctx, el: Element) -> Result:
    """A debit memo (positive line amounts) or credit memo (negative) on a customer's account:
    an ARADJUSTMENT whose TOTALDUE payments and credits settle. Returns `<key>` = RECORDNO."""
    ctx.check("ARADJUSTMENT", "Accounts Receivable/Adjustments")
    cust_id = text(el, "customerid") or ""
    customer = must_exist(ctx, "CUSTOMER", cust_id)
    d = el.find("datecreated")
    created = parse_ymd(text(d, "year"), text(d, "month"), text(d, "day")) if d is not None else None
    if created is None:
        raise bl_error("Invalid date in <datecreated>", "Dates are sent as <year>, <month> and <day>.")
    base = ctx.company.get("base_currency", "USD")
    currency = text(el, "currency") or base
    if currency not in ctx.company.get("currencies", [base]):
        raise bl_error(f"Invalid currency '{currency}'", "The currency is not enabled in the company.")
    action = text(el, "action") or "Submit"
    if action not in ("Draft", "Submit"):
        raise bl_error(f"Invalid action '{action}'", "action must be Draft or Submit.")
    accounts = _gl_accounts(ctx)
    lines = []
    total = Decimal(0)
    for n, li in enumerate(el.iterfind("aradjustmentitems/lineitem"), 1):
        account = text(li, "glaccountno")
        if account is None or account not in accounts:
            raise bl_error(
                f"Invalid GL account '{account or text(li, 'accountlabel')}' (line {n})",
                f"The GL account does not exist in company '{ctx.company_id}'.",
                "Use the number of an existing GL account (General Ledger > Chart of accounts).",
            )
        amount = _amount(text(li, "amount"), "amount").quantize(Decimal("0.01"))
        if amount == 0:
            raise bl_error(f"Line {n}: amount must not be zero")
        location = text(li, "locationid")
        if location:
            must_exist(ctx, "LOCATION", location, f" (line {n})")
        elif ctx.company.get("entities"):
            if not ctx.locationid:
                raise bl_error(f"Location is required (line {n})", "Multi-entity companies need a locationid.")
            location = ctx.locationid
        memo = text(li, "memo")
        lines.append({"GLACCOUNTNO": account, "AMOUNT": money(amount), "MEMO": memo, "LOCATIONID": location})
        total += amount
    if total == 0:
        raise bl_error("The adjustment's lines add up to zero")
    rec = {
        "RECORDTYPE": "ra",
        "RECORDID": text(el, "adjustmentno"),
        "CUSTOMERID": cust_id,
        "CUSTOMERNAME": customer.get("NAME"),
        "DOCNUMBER": text(el, "invoiceno"),
        "DESCRIPTION": text(el, "description"),
        "WHENCREATED": created,
        "WHENPAID": None,
        "TOTALENTERED": money(total),
        "TOTALDUE": money(total),
        "TOTALPAID": "0.00",
        "CURRENCY": currency,
        "STATE": "Draft" if action == "Draft" else "Posted",
        "MODULEKEY": "4.AR",
        "LINES": lines,
    }
    recordno = ctx.store.insert(ctx.company_id, "ARADJUSTMENT", rec, text(el, "adjustmentno"))
    return Result(key=str(recordno))
