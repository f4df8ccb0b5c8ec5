"""Order Entry legacy functions: create_sotransaction, update_sotransaction, delete_sotransaction.

Element order is validated against the DTD before anything runs (a violation is a control-level
XL03000003, as Intacct's DTD validation does); business rules fail the single function.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.etree.ElementTree import Element

from ..contentmodel import ANY, ContentModels
from ..errors import bl_error, schema_error
from ..protocol import Ctx, Result
from ..values import CENT, money, parse_ymd, plain, to_decimal
from . import inventory
from .ar import term_days
from .common import definition, must_exist, require_definition, text

CURRENCY_GROUP = "(basecurr?, currency, ((exchratedate?, exchratetype) | exchrate))?"
LINE_TAIL = (
    "discountpercent?, price?, sourcelinekey?, discsurchargememo?, locationid?, departmentid?, memo?, "
    "itemdetails?, customfields?, revrectemplate?, revrecstartdate?, revrecenddate?, renewalmacro?, "
    "projectid?, customerid?, vendorid?, employeeid?, classid?, contractid?, fulfillmentstatus?, taskno?, "
    "billingtemplate?, dropship?, shipto?"
)
SUBTOTAL = (
    "description, total, absval?, percentval?, locationid?, departmentid?, projectid?, customerid?, "
    "vendorid?, employeeid?, classid?, itemid?, contractid?, customfields?"
)
DATE = "year, month, day"
COMMON = {
    "datecreated": DATE,
    "dateposted": DATE,
    "origdocdate": DATE,
    "datedue": DATE,
    "exchratedate": DATE,
    "revrecstartdate": DATE,
    "revrecenddate": DATE,
    "shipto": "contactname | contact",
    "billto": "contactname | contact",
    "contact": ANY,
    "customfields": "customfield*",
    "customfield": "customfieldname, customfieldvalue",
    "itemdetails": "itemdetail*",
    "itemdetail": "componentid?, quantity?, (serialno | lotno)?, aisle?, row?, bin?, itemexpiration?",
    "itemexpiration": ANY,
    "sotransitems": "sotransitem+",
    "sotransitem": "bundlenumber?, itemid, itemdesc?, taxable?, warehouseid?, quantity, unit?, "
    "linelevelsimpletaxtype?, " + LINE_TAIL,
    "subtotals": "subtotal+",
    "subtotal": SUBTOTAL,
}
CREATE_MODELS = ContentModels(
    {
        **COMMON,
        "create_sotransaction": "transactiontype, datecreated, dateposted?, createdfrom?, customerid, "
        "documentno?, origdocdate?, referenceno?, termname?, datedue?, message?, shippingmethod?, shipto?, "
        f"billto?, supdocid?, externalid?, {CURRENCY_GROUP}, vsoepricelist?, customfields?, state?, "
        "projectid?, sotransitems, subtotals?",
    }
)
# Content models of update_sotransaction, as in intacct_icoe_functions.v2.1.dtd (checked).
UPDATE_MODELS = ContentModels(
    {
        **COMMON,
        "update_sotransaction": "datecreated?, dateposted?, referenceno?, termname?, datedue?, origdocdate?, "
        f"message?, shippingmethod?, shipto?, billto?, supdocid?, externalid?, {CURRENCY_GROUP}, "
        "vsoepricelist?, customfields?, state?, projectid?, updatesotransitems?, updatesubtotals?",
        "updatesotransitems": "(updatesotransitem | sotransitem)+",
        "updatesotransitem": "bundlenumber?, itemid?, itemdesc?, taxable?, warehouseid?, quantity?, unit?, "
        "linelevelsimpletaxtype?, " + LINE_TAIL.replace("sourcelinekey?, ", ""),
        "updatesubtotals": "updatesubtotal+",
        "updatesubtotal": SUBTOTAL,
    }
)
DELETE_MODELS = ContentModels({})

STATES = ("Draft", "Pending", "Closed")
LOCKED_STATES = ("In Progress", "Converted", "Partially Converted")


def validate_create(el: Element) -> None:
    CREATE_MODELS.validate(el)


def validate_update(el: Element) -> None:
    if not el.get("key"):
        raise schema_error("Element update_sotransaction: the attribute 'key' is required but missing.")
    UPDATE_MODELS.validate(el)
    for li in el.iterfind("updatesotransitems/updatesotransitem"):
        if not (li.get("line_num") or "").strip():
            raise schema_error("Element updatesotransitem: the attribute 'line_num' is required but missing.")


def validate_delete(el: Element) -> None:
    if not el.get("key"):
        raise schema_error("Element delete_sotransaction: the attribute 'key' is required but missing.")
    DELETE_MODELS.validate(el)


# ---- parsing helpers ------------------------------------------------------------------------
def _date(el: Element | None, name: str) -> str | None:
    if el is None:
        return None
    iso = parse_ymd(text(el, "year"), text(el, "month"), text(el, "day"))
    if iso is None:
        raise bl_error(
            f"Invalid date in <{name}>: {text(el, 'year')}-{text(el, 'month')}-{text(el, 'day')}",
            "Dates are sent as <year>, <month> and <day> of a real calendar date.",
        )
    return iso


def _decimal(value: str | None, name: str, where: str) -> Decimal:
    d = to_decimal(value)
    if d is None:
        raise bl_error(f"Invalid number '{value}' in <{name}>{where}", f"<{name}> must be a decimal number.")
    return d


def _customfields(el: Element | None) -> dict[str, str]:
    if el is None:
        return {}
    return {text(cf, "customfieldname") or "": text(cf, "customfieldvalue") or "" for cf in el.findall("customfield")}


def _contact_ref(ctx: Ctx, el: Element | None, block: str) -> str | None:
    if el is None:
        return None
    name = text(el, "contactname")
    if name is None:
        contact = el.find("contact")
        return text(contact, "contactname") if contact is not None else None
    must_exist(ctx, "CONTACT", name, f" ({block}/contactname)")
    return name


SNAPSHOT_FIELDS = ("CONTACTNAME", "PRINTAS", "COMPANYNAME", "FIRSTNAME", "LASTNAME", "PHONE1", "EMAIL1")


def contact_snapshot(ctx: Ctx, name: str | None) -> dict[str, Any]:
    """The document's SHIPTO / BILLTO: the named contact's fields as they are now. Read back as
    SODOCUMENT `SHIPTO.PRINTAS`, `BILLTO.MAILADDRESS.CITY`... (third-party readers of SODOCUMENT
    use those names); kept on the document, so a later change of the contact leaves it alone
    (whether real Intacct copies or reads live is unsure: the product never changes a contact)."""
    if not name:
        return {"CONTACTNAME": None}
    contact = ctx.store.by_name(ctx.company_id, "CONTACT", name) or {}
    snap = {k: contact.get(k) for k in SNAPSHOT_FIELDS}
    snap["CONTACTNAME"] = name
    snap["MAILADDRESS"] = dict(contact.get("MAILADDRESS") or {})
    return snap


def _dim(ctx: Ctx, value: str | None, obj: str, where: str) -> str | None:
    if value is None or value.strip() == "":
        return None
    must_exist(ctx, obj, value, where)
    return value


def _line(ctx: Ctx, el: Element, n: int, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse (or, with base, patch) one line; validates references."""
    where = f" (line {n})"
    line = dict(base or {})
    simple = {
        "itemid": "ITEMID",
        "itemdesc": "ITEMDESC",
        "warehouseid": "WAREHOUSEID",
        "unit": "UNIT",
        "memo": "MEMO",
        "locationid": "LOCATIONID",
        "departmentid": "DEPARTMENTID",
        "classid": "CLASSID",
        "projectid": "PROJECTID",
        "customerid": "CUSTOMERID",
        "discsurchargememo": "DISCSURCHARGEMEMO",
        "sourcelinekey": "SOURCELINEKEY",
        "taxable": "TAXABLE",
        "bundlenumber": "BUNDLENUMBER",
    }
    for tag, key in simple.items():
        v = text(el, tag)
        if v is not None:
            line[key] = v
    for tag, key in (("quantity", "QUANTITY"), ("price", "PRICE"), ("discountpercent", "DISCOUNTPERCENT")):
        v = text(el, tag)
        if v is not None:
            line[key] = plain(_decimal(v, tag, where)) if tag != "price" else format(_decimal(v, tag, where), "f")
    if el.find("customfields") is not None:
        line["CUSTOMFIELDS"] = _customfields(el.find("customfields"))
    item = must_exist(ctx, "ITEM", line.get("ITEMID") or "", where)
    line["ITEMNAME"] = item.get("NAME")
    line["ITEMTYPE"] = item.get("ITEMTYPE", "Inventory")
    qty = Decimal(line["QUANTITY"])
    if qty < 0:
        raise bl_error(f"Quantity must not be negative{where}", f"Got {line['QUANTITY']}.")
    if line.get("PRICE") is None:
        line["PRICE"] = item.get("BASEPRICE") or "0"
    unit = line.get("UNIT") or item.get("UNIT") or "Each"
    allowed_units = item.get("UNITS") or [item.get("UNIT") or "Each"]
    if unit not in allowed_units:
        raise bl_error(
            f"Invalid unit '{unit}' for item '{line['ITEMID']}'{where}",
            f"Valid units: {', '.join(allowed_units)}.",
        )
    line["UNIT"] = unit
    if line.get("TAXABLE") not in (None, "true", "false"):
        raise bl_error(f"Invalid taxable value '{line['TAXABLE']}'{where}", "Use true or false.")
    disc = Decimal(line.get("DISCOUNTPERCENT") or "0")
    if not 0 <= disc <= 100:
        raise bl_error(f"Discount percent must be between 0 and 100{where}", f"Got {disc}.")
    _dim(ctx, line.get("WAREHOUSEID"), "WAREHOUSE", where)
    _dim(ctx, line.get("LOCATIONID"), "LOCATION", where)
    _dim(ctx, line.get("DEPARTMENTID"), "DEPARTMENT", where)
    _dim(ctx, line.get("CLASSID"), "CLASS", where)
    _dim(ctx, line.get("CUSTOMERID"), "CUSTOMER", where)
    if ctx.company.get("entities") and not line.get("LOCATIONID"):
        if not ctx.locationid:
            raise bl_error(
                f"Location is required{where}",
                "In a multi-entity company every line needs a locationid when signed in at the top level.",
            )
        line["LOCATIONID"] = ctx.locationid
    gross = qty * Decimal(line["PRICE"])
    if disc:
        gross = gross * (Decimal(100) - disc) / Decimal(100)
    line["TOTAL"] = money(gross.quantize(CENT, rounding=ROUND_HALF_UP))
    return line


def _subtotal(ctx: Ctx, defn: dict[str, Any], el: Element, base: dict[str, Any] | None = None) -> dict[str, Any]:
    desc = text(el, "description") or ""
    if desc not in defn.get("subtotals", []):
        raise bl_error(
            f"Specified subtotal of '{desc}' not found in the document definition",
            f"The transaction definition '{defn['name']}' has the subtotals: "
            f"{', '.join(defn.get('subtotals', [])) or '(none)'}.",
            "Use the exact subtotal description configured on the transaction definition.",
        )
    st = dict(base or {})
    st["DESCRIPTION"] = desc
    st["TOTAL"] = money(_decimal(text(el, "total"), "total", f" (subtotal '{desc}')"))
    for tag in ("absval", "percentval"):
        v = text(el, tag)
        if v is not None:
            st[tag.upper()] = format(_decimal(v, tag, f" (subtotal '{desc}')"), "f")
    for tag, obj in (("locationid", "LOCATION"), ("departmentid", "DEPARTMENT"), ("classid", "CLASS")):
        v = _dim(ctx, text(el, tag), obj, f" (subtotal '{desc}')")
        if v:
            st[tag.upper()] = v
    if ctx.company.get("entities") and not st.get("LOCATIONID"):
        if not ctx.locationid:
            raise bl_error(
                f"Location is required (subtotal '{desc}')",
                "In a multi-entity company subtotal lines need a locationid when signed in at the top level.",
            )
        st["LOCATIONID"] = ctx.locationid
    return st


def _header(ctx: Ctx, doc: dict[str, Any], el: Element) -> None:
    """Apply the header elements present in el (create and update)."""
    for tag, key in (
        ("referenceno", "PONUMBER"),
        ("message", "MESSAGE"),
        ("shippingmethod", "SHIPVIAKEY"),
        ("supdocid", "SUPDOCID"),
        ("externalid", "EXTERNALID"),
        ("projectid", "PROJECTID"),
        ("vsoepricelist", "VSOEPRICELIST"),
    ):
        v = text(el, tag)
        if v is not None:
            doc[key] = v
    for tag, key in (
        ("datecreated", "WHENCREATED"),
        ("dateposted", "WHENPOSTED"),
        ("origdocdate", "ORIGDOCDATE"),
    ):
        if el.find(tag) is not None:
            doc[key] = _date(el.find(tag), tag)
    if el.find("datedue") is not None:
        doc["DUE_GIVEN"] = _date(el.find("datedue"), "datedue")
    termname = text(el, "termname")
    if termname is not None:
        if termname:
            term_days(ctx, termname)
        doc["TERM"] = {"NAME": termname}
    for tag in ("shipto", "billto"):
        if el.find(tag) is not None:
            doc[tag.upper()] = contact_snapshot(ctx, _contact_ref(ctx, el.find(tag), tag))
    if el.find("customfields") is not None:
        doc["CUSTOMFIELDS"] = _customfields(el.find("customfields"))
    base = ctx.company.get("base_currency", "USD")
    basecurr = text(el, "basecurr")
    if basecurr is not None and basecurr != base:
        raise bl_error(f"Invalid base currency '{basecurr}'", f"The company's base currency is {base}.")
    currency = text(el, "currency")
    if currency is not None:
        if currency not in ctx.company.get("currencies", [base]):
            raise bl_error(f"Invalid currency '{currency}'", "The currency is not enabled in the company.")
        doc["CURRENCY"] = currency
        rate_type = text(el, "exchratetype")
        if rate_type:
            allowed = ctx.company.get("exchange_rate_types", ["Intacct Daily Rate"])
            if rate_type not in allowed:
                raise bl_error(f"Invalid exchange rate type '{rate_type}'", f"Valid: {', '.join(allowed)}.")
        rate = text(el, "exchrate")
        if rate is not None and _decimal(rate, "exchrate", "") <= 0:
            raise bl_error("Exchange rate must be positive", f"Got {rate}.")
        doc["EXCHRATETYPE"] = rate_type
        doc["EXCHRATE"] = rate
    state = text(el, "state")
    if state is not None:
        if state not in STATES:
            raise bl_error(f"Invalid state '{state}'", f"state must be one of {', '.join(STATES)}.")
        doc["STATE"] = state


def _finish(ctx: Ctx, doc: dict[str, Any], defn: dict[str, Any]) -> None:
    """Due date and totals."""
    termname = (doc.get("TERM") or {}).get("NAME")
    if doc.get("DUE_GIVEN"):
        doc["WHENDUE"] = doc["DUE_GIVEN"]
    elif termname:
        doc["WHENDUE"] = (date.fromisoformat(doc["WHENCREATED"]) + timedelta(days=term_days(ctx, termname))).isoformat()
    elif defn.get("posts_to_ar"):
        raise bl_error(
            "Either a due date or a payment term is required",
            "Send <termname> or <datedue> (the customer has no default term).",
            "Add termname (e.g. Net 30) or datedue to the transaction.",
        )
    else:
        doc["WHENDUE"] = None
    if not doc["ENTRIES"]:
        raise bl_error("A transaction needs at least one line")
    sub_total = sum((Decimal(li["TOTAL"]) for li in doc["ENTRIES"]), Decimal(0))
    total = sub_total + sum((Decimal(s["TOTAL"]) for s in doc["SUBTOTALS"]), Decimal(0))
    doc["SUBTOTAL"] = money(sub_total)
    doc["TOTAL"] = money(total)
    for i, li in enumerate(doc["ENTRIES"]):
        li["LINE_NO"] = i


def _post(ctx: Ctx, doc: dict[str, Any], defn: dict[str, Any]) -> None:
    """Inventory effect and AR record for a non-draft document."""
    doc["PRRECORDKEY"] = None
    doc["INVENTORY_EFFECT"] = []
    if doc["STATE"] == "Draft":
        return
    direction = {"out": -1, "in": 1}.get(defn.get("inventory") or "", 0)
    if direction:
        for li in doc["ENTRIES"]:
            if li.get("ITEMTYPE") != "Inventory":
                continue
            wh = li.get("WAREHOUSEID") or ctx.company.get("default_warehouse")
            if not wh:
                raise bl_error(
                    f"Warehouse is required for inventory item '{li['ITEMID']}' (line {li['LINE_NO'] + 1})",
                    "Inventory items need a warehouseid on the line (no default warehouse is set).",
                    "Send <warehouseid> on the line.",
                )
            delta = Decimal(li["QUANTITY"]) * direction
            inventory.adjust(ctx, li["ITEMID"], wh, delta)
            doc["INVENTORY_EFFECT"].append([li["ITEMID"], wh, plain(delta)])
    if defn.get("posts_to_ar"):
        sign = Decimal(-1 if int(defn.get("ar_sign", 1)) < 0 else 1)
        total = Decimal(doc["TOTAL"]) * sign
        # A credit definition posts to AR as a credit memo (ARADJUSTMENT) or as a negative
        # invoice (ARINVOICE): which one Intacct does is unsure, so the seed says (`ar_record`).
        ar_object = defn.get("ar_record", "ARINVOICE") if sign < 0 else "ARINVOICE"
        doc["AR_OBJECT"] = ar_object
        inv = {
            "RECORDTYPE": "ra" if ar_object == "ARADJUSTMENT" else "ri",
            "RECORDID": doc["DOCNO"],
            "CUSTOMERID": doc["CUSTVENDID"],
            "CUSTOMERNAME": doc.get("CUSTVENDNAME"),
            "DOCNUMBER": doc.get("PONUMBER"),
            "DESCRIPTION": doc.get("MESSAGE"),
            "WHENCREATED": doc["WHENCREATED"],
            "WHENDUE": doc.get("WHENDUE"),
            "WHENPAID": None,
            "TOTALENTERED": money(total),
            "TOTALDUE": money(total),
            "TOTALPAID": "0.00",
            "CURRENCY": doc.get("CURRENCY"),
            "STATE": "Posted",
            "MODULEKEY": "8.SO",
            "SODOCID": doc["DOCID"],
        }
        doc["PRRECORDKEY"] = ctx.store.insert(ctx.company_id, ar_object, inv, doc["DOCNO"])


def _unpost(ctx: Ctx, doc: dict[str, Any], verb: str) -> None:
    if doc.get("STATE") in ("Converted", "Partially Converted"):
        raise bl_error(
            f"Cannot {verb} the transaction '{doc['DOCID']}': it has been converted ({doc['STATE']})",
            "Transactions that other transactions were created from cannot be changed or deleted.",
            "Delete or reverse the transactions converted from it first.",
        )
    ar_object = doc.get("AR_OBJECT") or "ARINVOICE"
    if doc.get("PRRECORDKEY"):
        inv = ctx.store.get(ctx.company_id, ar_object, int(doc["PRRECORDKEY"]))
        if inv is not None and Decimal(inv.get("TOTALPAID") or "0") != 0:
            raise bl_error(
                f"Cannot {verb} the transaction '{doc['DOCID']}': payments have been applied to it",
                f"Its AR invoice (RECORDNO {inv['RECORDNO']}) has TOTALPAID {inv['TOTALPAID']}.",
                "Reverse the applied payments first, or issue a Sales Credit Memo instead.",
            )
        if inv is not None:
            ctx.store.delete(ctx.company_id, ar_object, int(inv["RECORDNO"]))
    for itemid, wh, delta in doc.get("INVENTORY_EFFECT") or []:
        inventory.adjust(ctx, itemid, wh, -Decimal(delta))
    doc["INVENTORY_EFFECT"] = []
    doc["PRRECORDKEY"] = None


def _docno_taken(ctx: Ctx, defn_name: str, docno: str) -> bool:
    return ctx.store.by_name(ctx.company_id, "SODOCUMENT", f"{defn_name}-{docno}") is not None


# ---- handlers -----------------------------------------------------------------------------
def create_sotransaction(ctx: Ctx, el: Element) -> Result:
    ttype = text(el, "transactiontype") or ""
    defn = require_definition(ctx, ttype)
    ctx.check("SODOCUMENT", f"Order Entry/{ttype}")
    cust_id = text(el, "customerid") or ""
    customer = must_exist(ctx, "CUSTOMER", cust_id)
    doc: dict[str, Any] = {
        "DOCPARID": ttype,
        "CUSTVENDID": cust_id,
        "CUSTVENDNAME": customer.get("NAME"),
        "STATE": defn.get("initial_state", "Pending"),
        "CURRENCY": ctx.company.get("base_currency", "USD"),
        "BASECURR": ctx.company.get("base_currency", "USD"),
        "TERM": {"NAME": customer.get("TERMNAME") or ""},
        "SHIPTO": contact_snapshot(ctx, (customer.get("SHIPTO") or {}).get("CONTACTNAME")),
        "BILLTO": contact_snapshot(ctx, (customer.get("BILLTO") or {}).get("CONTACTNAME")),
        "CREATEDFROM": text(el, "createdfrom"),
    }
    source = _source(ctx, defn, doc) if doc["CREATEDFROM"] else None
    _header(ctx, doc, el)
    items = el.find("sotransitems")
    assert items is not None
    doc["ENTRIES"] = [_line(ctx, li, i) for i, li in enumerate(items.findall("sotransitem"), 1)]
    doc["SUBTOTALS"] = [_subtotal(ctx, defn, st) for st in el.iterfind("subtotals/subtotal")]
    seen: set[str] = set()
    for st in doc["SUBTOTALS"]:
        if st["DESCRIPTION"] in seen:
            raise bl_error(f"Subtotal '{st['DESCRIPTION']}' is given twice")
        seen.add(st["DESCRIPTION"])
    _finish(ctx, doc, defn)

    docno = text(el, "documentno")
    numbering = defn.get("numbering") or {}
    if docno is not None and docno.strip():
        if _docno_taken(ctx, ttype, docno):
            raise bl_error(
                f"Transaction with the number '{docno}' already exists",
                f"A '{ttype}' with document number '{docno}' already exists (DOCID '{ttype}-{docno}').",
                "Look the document up by its number instead of creating it again.",
            )
    elif numbering.get("auto"):
        while True:
            n = ctx.store.next_seq(ctx.company_id, f"docno:{ttype}", int(numbering.get("next", 1)))
            docno = f"{numbering.get('prefix', '')}{n:0{int(numbering.get('width', 4))}d}"
            if not _docno_taken(ctx, ttype, docno):
                break
    else:
        raise bl_error(
            "Document number is required",
            f"The transaction definition '{ttype}' has no automatic numbering; send <documentno>.",
        )
    doc["DOCNO"] = docno
    doc["DOCID"] = f"{ttype}-{docno}"
    _post(ctx, doc, defn)
    doc.pop("DUE_GIVEN", None)
    recordno = ctx.store.insert(ctx.company_id, "SODOCUMENT", doc, doc["DOCID"])
    if doc.get("PRRECORDKEY"):
        ar_object = doc["AR_OBJECT"]
        inv = ctx.store.get(ctx.company_id, ar_object, int(doc["PRRECORDKEY"]))
        assert inv is not None
        inv["SODOCKEY"] = recordno
        ctx.store.update(ctx.company_id, ar_object, inv)
    if source is not None:
        _converted(ctx, source, doc)
    return Result(key=doc["DOCID"])


def _existing(ctx: Ctx, key: str, verb: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = ctx.store.by_name(ctx.company_id, "SODOCUMENT", key)
    if doc is None:
        raise bl_error(
            f"Cannot {verb} non-existing transaction '{key}'",
            "The key must be the document ID '<transaction definition>-<document number>', "
            "e.g. 'Sales Invoice-INV0001'.",
        )
    defn = definition(ctx, doc["DOCPARID"]) or {"name": doc["DOCPARID"]}
    return doc, defn


def update_sotransaction(ctx: Ctx, el: Element) -> Result:
    key = el.get("key") or ""
    doc, defn = _existing(ctx, key, "update")
    ctx.check("SODOCUMENT", f"Order Entry/{doc['DOCPARID']}")
    if doc.get("STATE") in LOCKED_STATES:
        raise bl_error(f"Cannot update the transaction '{key}' in state {doc['STATE']}")
    new = copy.deepcopy(doc)
    _unpost(ctx, new, "update")
    _header(ctx, new, el)
    if el.find("datedue") is None and el.find("termname") is None and new.get("WHENDUE"):
        new["DUE_GIVEN"] = None if (new.get("TERM") or {}).get("NAME") else new["WHENDUE"]
    entries = new["ENTRIES"]
    for child in el.iterfind("updatesotransitems/*"):
        if child.tag == "updatesotransitem":
            raw = (child.get("line_num") or "").strip()
            if not raw.isdigit() or not 1 <= int(raw) <= len(entries):
                raise bl_error(
                    f"Invalid line_num '{raw}'",
                    f"The transaction has {len(entries)} line(s); line_num is 1-based.",
                )
            n = int(raw)
            entries[n - 1] = _line(ctx, child, n, entries[n - 1])
        else:
            entries.append(_line(ctx, child, len(entries) + 1))
    subtotals = new["SUBTOTALS"]
    for st_el in el.iterfind("updatesubtotals/updatesubtotal"):
        desc = text(st_el, "description")
        idx = next((i for i, s in enumerate(subtotals) if s["DESCRIPTION"] == desc), None)
        if idx is None:
            subtotals.append(_subtotal(ctx, defn, st_el))
        else:
            subtotals[idx] = _subtotal(ctx, defn, st_el, subtotals[idx])
    _finish(ctx, new, defn)
    _post(ctx, new, defn)
    new.pop("DUE_GIVEN", None)
    ctx.store.update(ctx.company_id, "SODOCUMENT", new)
    if new.get("PRRECORDKEY"):
        ar_object = new["AR_OBJECT"]
        inv = ctx.store.get(ctx.company_id, ar_object, int(new["PRRECORDKEY"]))
        assert inv is not None
        inv["SODOCKEY"] = new["RECORDNO"]
        ctx.store.update(ctx.company_id, ar_object, inv)
    return Result(key=new["DOCID"])


def delete_sotransaction(ctx: Ctx, el: Element) -> Result:
    key = el.get("key") or ""
    doc, _ = _existing(ctx, key, "delete")
    ctx.check("SODOCUMENT", f"Order Entry/{doc['DOCPARID']}")
    _unpost(ctx, doc, "delete")
    ctx.store.delete(ctx.company_id, "SODOCUMENT", int(doc["RECORDNO"]))
    return Result()


# ---- conversion (createdfrom) ------------------------------------------------------------------
CONVERTIBLE_STATES = ("Pending", "Partially Converted")


def _source(ctx: Ctx, defn: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The document `createdfrom` converts, checked against the target definition's allowed
    sources (seed `convert_from`, Intacct's "convert from" list on the definition) and the
    source's state: only Pending or Partially Converted documents convert (reference §3)."""
    docid = doc["CREATEDFROM"]
    source = ctx.store.by_name(ctx.company_id, "SODOCUMENT", docid)
    if source is None:
        raise bl_error(
            f"Invalid source document '{docid}'",
            "createdfrom must be the DOCID of an existing document.",
        )
    allowed = defn.get("convert_from") or []
    if source["DOCPARID"] not in allowed:
        raise bl_error(
            f"Cannot convert '{docid}' to a {defn['name']}: the transaction definition '{defn['name']}' "
            f"does not allow conversion from '{source['DOCPARID']}'",
            f"'{defn['name']}' can be created from: {', '.join(allowed) or '(none)'}.",
            f"Add '{source['DOCPARID']}' to the transactions '{defn['name']}' converts from "
            "(Order Entry > Setup > Transaction definitions), or create it without createdfrom.",
        )
    if source.get("STATE") not in CONVERTIBLE_STATES:
        raise bl_error(
            f"Cannot convert '{docid}' in state {source.get('STATE')}",
            "Only Pending or Partially Converted transactions can be converted.",
        )
    if source.get("CUSTVENDID") != doc["CUSTVENDID"]:
        raise bl_error(
            f"Cannot convert '{docid}': it belongs to customer '{source.get('CUSTVENDID')}', not '{doc['CUSTVENDID']}'",
        )
    return source


def _converted(ctx: Ctx, source: dict[str, Any], doc: dict[str, Any]) -> None:
    """The source is Converted once documents created from it reach its total, else Partially
    Converted (the sandbox counts amounts; Intacct counts line quantities)."""
    done = Decimal(source.get("CONVERTED_TOTAL") or "0") + abs(Decimal(doc["TOTAL"]))
    source["CONVERTED_TOTAL"] = money(done)
    source["STATE"] = "Converted" if done >= abs(Decimal(source["TOTAL"])) else "Partially Converted"
    ctx.store.update(ctx.company_id, "SODOCUMENT", source)
