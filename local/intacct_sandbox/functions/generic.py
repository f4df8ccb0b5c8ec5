"""Generic 3.0 functions: create (dispatch), query, readByQuery, readMore, read, readByName, lookup."""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any
from xml.etree.ElementTree import Element

from ..errors import FunctionError, bl_error, query_failed, schema_error
from ..filters import (
    Options,
    compile_node,
    evaluate,
    out_value,
    parse_xml_filter,
    raw_value,
    resolve_field,
    sort_key,
)
from ..objects import OBJECTS, FieldDef, ObjectDef
from ..permissions import module_for
from ..protocol import Ctx, Result, sub
from ..querytext import parse_query
from ..values import us_date
from . import ar, gl
from .common import check_docparid, generic_validator, object_def, parse_int, text

MAX_KEYS = 100
MAX_CREATE = 100

validate_query = generic_validator(
    ["object", "select", "filter", "orderby", "options", "pagesize", "offset", "docparid"],
    ["object", "select"],
)
validate_read_by_query = generic_validator(
    ["object", "query", "fields", "pagesize", "returnFormat", "docparid"], ["object", "query"]
)
validate_read_more = generic_validator(["resultId", "object", "view", "reportId"])
validate_read = generic_validator(["object", "keys", "fields", "returnFormat", "docparid"], ["object", "keys"])
validate_read_by_name = validate_read
validate_lookup = generic_validator(["object", "docparid"], ["object"])


def validate_create(el: Element) -> None:
    if len(el) == 0:
        raise schema_error("Element 'create': missing child element(s); expected one or more objects.")


# ---- records ------------------------------------------------------------------------------
def _records(ctx: Ctx, obj: ObjectDef, docparid: str | None) -> list[dict[str, Any]]:
    rows = ctx.store.all(ctx.company_id, obj.name)
    if obj.name == "SODOCUMENT" and docparid:
        rows = [r for r in rows if r.get("DOCPARID") == docparid]
    return rows


def _returnformat(el: Element) -> None:
    rf = (text(el, "returnFormat") or "xml").strip().lower()
    if rf != "xml":
        raise query_failed(f"returnFormat '{rf}' is not supported by the sandbox", "Only xml is served.")


def _field_list(obj: ObjectDef, fields: str | None) -> list[FieldDef]:
    spec = (fields or "*").strip()
    if spec in ("", "*"):
        return obj.star_fields()
    return [resolve_field(obj, name) for name in spec.split(",") if name.strip()]


def render_nested(parent: Element, obj: ObjectDef, rec: dict[str, Any], fields: list[FieldDef]) -> Element:
    """One record as readByQuery/read return it: dotted fields become nested elements."""
    el = sub(parent, obj.name.lower())
    for f in fields:
        parts = f.name.split(".")
        target = el
        for part in parts[:-1]:
            found = target.find(part)
            target = found if found is not None else sub(target, part)
        sub(target, parts[-1], out_value(f, raw_value(rec, f)))
    if obj.name == "SODOCUMENT" and fields == obj.star_fields():
        _render_entries(el, rec)
    return el


def _render_entries(el: Element, rec: dict[str, Any]) -> None:
    entries = sub(el, "SODOCUMENTENTRIES")
    for line in rec.get("ENTRIES", []):
        e = sub(entries, "sodocumententry")
        for k in (
            "LINE_NO",
            "ITEMID",
            "ITEMNAME",
            "ITEMDESC",
            "WAREHOUSEID",
            "QUANTITY",
            "UNIT",
            "PRICE",
            "DISCOUNTPERCENT",
            "TOTAL",
            "LOCATIONID",
            "DEPARTMENTID",
            "CLASSID",
            "MEMO",
        ):
            sub(e, k, "" if line.get(k) is None else str(line[k]))
    subs = sub(el, "SODOCUMENTSUBTOTALS")
    for s in rec.get("SUBTOTALS", []):
        e = sub(subs, "sodocumentsubtotals")
        sub(e, "DESCRIPTION", s["DESCRIPTION"])
        sub(e, "TOTAL", s["TOTAL"])
    sub(el, "WHENPOSTED", us_date(rec.get("WHENCREATED")) or "")


def _row_key(f: FieldDef, rec: dict[str, Any]) -> tuple[int, Any]:
    return sort_key(f, rec)


# ---- query --------------------------------------------------------------------------------
def query(ctx: Ctx, el: Element) -> Result:
    obj = object_def(ctx, el)
    docparid = (text(el, "docparid") or "").strip() or None
    ctx.check(obj.name, module_for(obj.name, docparid))
    check_docparid(ctx, obj, docparid)
    select = el.find("select")
    assert select is not None
    names: list[str] = []
    for child in select:
        if child.tag != "field":
            raise query_failed(
                f"Aggregate '{child.tag}' is not supported by the sandbox",
                "Select plain <field> elements.",
            )
        names.append((child.text or "").strip())
    if not names:
        raise query_failed("The select element must name at least one field", "Returning all fields is not supported.")
    fdefs = [resolve_field(obj, n) for n in names]
    opts = Options(caseinsensitive=(text(el.find("options"), "caseinsensitive") or "").strip().lower() == "true")
    node = None
    filt = el.find("filter")
    if filt is not None:
        node = compile_node(parse_xml_filter(obj, filt), opts)
    pagesize = parse_int(text(el, "pagesize"), "pagesize", 1, 2000, 100)
    offset = parse_int(text(el, "offset"), "offset", 0, None, 0)
    rows = [r for r in _records(ctx, obj, docparid) if node is None or evaluate(node, r, opts)]
    orderby = el.find("orderby")
    if orderby is not None:
        orders = []
        for order in orderby.findall("order"):
            f = resolve_field(obj, text(order, "field") or "")
            desc = order.find("descending") is not None
            orders.append((f, desc))
        for fdef, desc in reversed(orders):
            rows.sort(key=functools.partial(_row_key, fdef), reverse=desc)
    total = len(rows)
    page = rows[offset : offset + pagesize]
    data = Element(
        "data",
        {
            "listtype": obj.name,
            "totalcount": str(total),
            "offset": str(offset),
            "count": str(len(page)),
            "numremaining": str(max(0, total - offset - len(page))),
        },
    )
    for rec in page:
        r = sub(data, obj.name)
        for n, f in zip(names, fdefs, strict=True):
            sub(r, n, out_value(f, raw_value(rec, f)))
    return Result(data=data)


# ---- readByQuery / readMore -----------------------------------------------------------------
def _result_page(ctx: Ctx, rid: str, rs: dict[str, Any]) -> Element:
    pos, size, items = rs["pos"], rs["pagesize"], rs["items"]
    page = items[pos : pos + size]
    rs["pos"] = pos + len(page)
    remaining = len(items) - rs["pos"]
    data = Element(
        "data",
        {
            "listtype": rs["listtype"],
            "count": str(len(page)),
            "totalcount": str(len(items)),
            "numremaining": str(remaining),
            "resultId": rid,
        },
    )
    data.extend(page)
    gw = ctx.gateway
    with gw.lock:
        if remaining <= 0:
            gw.resultsets.pop(rid, None)
        else:
            rs["expires"] = time.time() + gw.result_ttl_s
    return data


def read_by_query(ctx: Ctx, el: Element) -> Result:
    obj = object_def(ctx, el)
    docparid = (text(el, "docparid") or "").strip() or None
    module = module_for(obj.name, docparid)
    ctx.check(obj.name, module)
    check_docparid(ctx, obj, docparid)
    _returnformat(el)
    fields = _field_list(obj, text(el, "fields"))
    pagesize = parse_int(text(el, "pagesize"), "pagesize", 1, 1000, 100)
    opts = Options(use_codes=True)
    node = parse_query(obj, text(el, "query") or "")
    if node is not None:
        node = compile_node(node, opts)
    rows = [r for r in _records(ctx, obj, docparid) if node is None or evaluate(node, r, opts)]
    holder = Element("holder")
    items = [render_nested(holder, obj, r, fields) for r in rows]
    rid = secrets.token_hex(16)
    gw = ctx.gateway
    rs = {
        "company": ctx.company_id,
        "user": ctx.user["user_id"],
        "object": obj.name,
        "module": module,
        "listtype": obj.name.lower(),
        "items": items,
        "pos": 0,
        "pagesize": pagesize,
        "expires": time.time() + gw.result_ttl_s,
    }
    with gw.lock:
        now = time.time()
        for k in [k for k, v in gw.resultsets.items() if v["expires"] < now]:
            del gw.resultsets[k]
        gw.resultsets[rid] = rs
        gw.last_result_by_object[(ctx.company_id, ctx.user["user_id"], obj.name)] = rid
    return Result(data=_result_page(ctx, rid, rs))


def read_more(ctx: Ctx, el: Element) -> Result:
    gw = ctx.gateway
    rid = (text(el, "resultId") or "").strip()
    objname = (text(el, "object") or "").strip().upper()
    with gw.lock:
        if not rid and objname:
            rid = gw.last_result_by_object.get((ctx.company_id, ctx.user["user_id"], objname), "")
        rs = gw.resultsets.get(rid)
        if rs is not None and (rs["expires"] < time.time() or rs["company"] != ctx.company_id):
            rs = None
    if rs is None:
        raise FunctionError.one(
            "Query Failed",
            f"Attempt to readMore with an invalid or expired resultId '{rid}'",
            "The result set is unknown, was read to the end (numremaining 0), or expired.",
            "Run readByQuery again.",
        )
    ctx.check(rs["object"], rs["module"])
    return Result(data=_result_page(ctx, rid, rs))


# ---- read / readByName ----------------------------------------------------------------------
def _keys(el: Element) -> list[str]:
    keys = [k.strip() for k in (text(el, "keys") or "").split(",") if k.strip()]
    if len(keys) > MAX_KEYS:
        raise query_failed(f"Too many keys: {len(keys)}", f"read and readByName accept at most {MAX_KEYS} keys.")
    return keys


def _read_common(ctx: Ctx, el: Element, by_name: bool) -> Result:
    obj = object_def(ctx, el)
    docparid = (text(el, "docparid") or "").strip() or None
    ctx.check(obj.name, module_for(obj.name, docparid))
    check_docparid(ctx, obj, docparid)
    _returnformat(el)
    fields = _field_list(obj, text(el, "fields"))
    rows = []
    for key in _keys(el):
        if by_name and obj.name_field != "RECORDNO":
            rec = ctx.store.by_name(ctx.company_id, obj.name, key)
        else:
            if not key.isdigit():
                raise query_failed(f"Invalid key '{key}'", f"Keys of {obj.name} read are RECORDNO integers.")
            rec = ctx.store.get(ctx.company_id, obj.name, int(key))
        if rec is not None and (not docparid or rec.get("DOCPARID") == docparid):
            rows.append(rec)
    data = Element("data", {"listtype": obj.name.lower(), "count": str(len(rows))})
    for rec in rows:
        render_nested(data, obj, rec, fields)
    return Result(data=data)


def read(ctx: Ctx, el: Element) -> Result:
    return _read_common(ctx, el, by_name=False)


def read_by_name(ctx: Ctx, el: Element) -> Result:
    return _read_common(ctx, el, by_name=True)


# ---- lookup -------------------------------------------------------------------------------
def lookup(ctx: Ctx, el: Element) -> Result:
    obj = object_def(ctx, el)
    docparid = (text(el, "docparid") or "").strip() or None
    ctx.check(obj.name, module_for(obj.name, docparid))
    check_docparid(ctx, obj, docparid)
    data = Element("data", {"listtype": "All", "count": "1"})
    t = sub(data, "Type", Name=obj.name, DocumentType=docparid or "")
    fields = sub(t, "Fields")
    for f in obj.star_fields():
        fe = sub(fields, "Field")
        sub(fe, "ID", f.name)
        sub(fe, "LABEL", f.label)
        sub(fe, "DESCRIPTION", f.label)
        sub(fe, "REQUIRED", "true" if f.required else "false")
        sub(fe, "READONLY", "true" if f.readonly else "false")
        sub(fe, "DATATYPE", f.datatype)
        sub(fe, "ISCUSTOM", "false")
        if f.codes:
            vv = sub(fe, "VALIDVALUES")
            for v in f.codes:
                sub(vv, "VALIDVALUE", v)
    return Result(data=data)


# ---- create -------------------------------------------------------------------------------
CREATORS = {
    "CUSTOMER": ar.create_customer,
    "CONTACT": ar.create_contact,
    "ARPYMT": ar.create_arpymt,
    "GLBATCH": gl.create_glbatch,
}


def create(ctx: Ctx, el: Element) -> Result:
    objs = list(el)
    if len(objs) > MAX_CREATE:
        raise bl_error(f"Too many objects in one create: {len(objs)}", f"The limit is {MAX_CREATE}.")
    data = Element("data", {"listtype": "objects", "count": str(len(objs))})
    for o in objs:
        creator = CREATORS.get(o.tag)
        if creator is None:
            known = o.tag.upper() in OBJECTS
            raise bl_error(
                f"Create of object '{o.tag}' is not supported" + (" by the sandbox" if known else ""),
                f"The sandbox can create {', '.join(sorted(CREATORS))} with the generic create function "
                "(object names are upper case).",
            )
        data.append(creator(ctx, o))
    return Result(data=data)
