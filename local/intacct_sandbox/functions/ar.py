"""Generic create of CUSTOMER, CONTACT and ARPYMT (Accounts Receivable)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from ..errors import bl_error
from ..protocol import Ctx, sub
from ..values import money, parse_us_date, to_decimal
from .common import el_to_dict, find, must_exist

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
            "An ARPYMT needs at least one ARPYMTDETAIL with RECORDKEY and TRX_PAYMENTAMOUNT.",
        )
    draft = (f.get("ACTION") or "Submit") == "Draft"
    applied: dict[int, Decimal] = {}
    invoices: dict[int, dict[str, Any]] = {}
    total = Decimal(0)
    for i, d in enumerate(details, 1):
        if not isinstance(d, dict):
            raise bl_error(f"ARPYMTDETAIL {i} is empty")
        _unknown("ARPYMTDETAIL", DETAIL_FIELDS, d, [])
        key = (d.get("RECORDKEY") or "").strip()
        if not key.isdigit():
            raise bl_error(
                f"Invalid RECORDKEY '{key}' in ARPYMTDETAIL {i}",
                "RECORDKEY is the RECORDNO of the ARINVOICE (SODOCUMENT.PRRECORDKEY).",
            )
        inv = ctx.store.get(ctx.company_id, "ARINVOICE", int(key))
        if inv is None or inv.get("CUSTOMERID") != cust_id:
            raise bl_error(
                f"Invalid invoice key '{key}' for customer '{cust_id}'",
                f"There is no open AR invoice with RECORDNO {key} for customer '{cust_id}'.",
                "Use SODOCUMENT.PRRECORDKEY (the ARINVOICE RECORDNO), not the SODOCUMENT RECORDNO.",
            )
        amt = _amount(d.get("TRX_PAYMENTAMOUNT"), "TRX_PAYMENTAMOUNT")
        if amt <= 0:
            raise bl_error(f"TRX_PAYMENTAMOUNT must be positive, got {d.get('TRX_PAYMENTAMOUNT')}")
        if inv.get("CURRENCY") and inv["CURRENCY"] != currency:
            raise bl_error(
                f"Payment currency {currency} does not match invoice currency {inv['CURRENCY']}",
                "Cross-currency payments are not supported by the sandbox.",
            )
        amt = amt.quantize(Decimal("0.01"))
        applied[int(key)] = applied.get(int(key), Decimal(0)) + amt
        invoices[int(key)] = inv
        due = Decimal(inv["TOTALDUE"])
        if applied[int(key)] > due:
            raise bl_error(
                f"Payment amount {money(applied[int(key)])} exceeds the amount due {money(due)} "
                f"on invoice {inv.get('RECORDID')} (RECORDNO {key})",
                "Overpayment is not allowed on an invoice line; send the excess as OVERPAYMENTAMOUNT.",
                "Pay at most TOTALDUE; read the invoice's TOTALDUE first.",
            )
        total += amt
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
        "DETAILS": [{"RECORDKEY": k, "TRX_PAYMENTAMOUNT": money(v)} for k, v in applied.items()],
    }
    recordno = ctx.store.insert(ctx.company_id, "ARPYMT", rec, str(f.get("DOCNUMBER") or ""))
    if not draft:
        for key, amt in applied.items():
            inv = invoices[key]
            due = Decimal(inv["TOTALDUE"]) - amt
            inv["TOTALDUE"] = money(due)
            inv["TOTALPAID"] = money(Decimal(inv["TOTALPAID"]) + amt)
            inv["STATE"] = "Paid" if due == 0 else "Partially Paid"
            if due == 0:
                inv["WHENPAID"] = receipt
            inv.setdefault("PAYMENTS", []).append(recordno)
            ctx.store.update(ctx.company_id, "ARINVOICE", inv)
    res = Element("arpymt")
    sub(res, "RECORDNO", recordno)
    return res
