"""Filter trees shared by `query` (XML filter) and `readByQuery` (query text), and typed evaluation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from . import values
from .errors import query_failed
from .objects import BOOLEAN, DATE, DECIMAL, INTEGER, TIMESTAMP, FieldDef, ObjectDef, get_path

Node = tuple[Any, ...]  # ("and"|"or", [nodes]) | ("not", node) | ("cmp", FieldDef, op, [literals])

OPS_XML = {
    "equalto": "eq",
    "notequalto": "ne",
    "lessthan": "lt",
    "lessthanorequalto": "le",
    "greaterthan": "gt",
    "greaterthanorequalto": "ge",
    "between": "between",
    "in": "in",
    "notin": "notin",
    "like": "like",
    "notlike": "notlike",
    "isnull": "isnull",
    "isnotnull": "isnotnull",
}


@dataclass
class Options:
    caseinsensitive: bool = False
    use_codes: bool = False  # readByQuery compares validated-list fields by database code


def resolve_field(obj: ObjectDef, name: str) -> FieldDef:
    f = obj.field(name)
    if f is None:
        raise query_failed(
            f"Invalid field '{name}' for object {obj.name}",
            f"The field '{name}' is not a field of {obj.name}; use lookup to list the fields.",
        )
    return f


def raw_value(record: dict[str, Any], f: FieldDef) -> Any:
    return get_path(record, f.alias_of or f.name)


def out_value(f: FieldDef, raw: Any) -> str:
    if raw is None:
        return ""
    if f.datatype == DATE:
        return values.us_date(str(raw)) or ""
    if f.datatype == TIMESTAMP:
        return values.us_timestamp(str(raw)) or ""
    if f.datatype == BOOLEAN:
        return "true" if raw in (True, "true", "T") else "false"
    return str(raw)


def _typed(f: FieldDef, raw: Any, opts: Options) -> Any:
    if raw is None or raw == "":
        return None
    if f.datatype in (INTEGER, DECIMAL):
        return Decimal(str(raw))
    if f.datatype in (DATE, TIMESTAMP, BOOLEAN):
        return str(raw)
    s = str(raw)
    if opts.use_codes and f.codes:
        s = f.codes.get(s, s)
    return s.lower() if opts.caseinsensitive else s


def _literal(f: FieldDef, text: str, opts: Options) -> Any:
    if f.datatype in (INTEGER, DECIMAL):
        d = values.to_decimal(text)
        if d is None:
            raise query_failed(f"Invalid value '{text}' for numeric field {f.name}")
        return d
    if f.datatype == DATE:
        iso = values.parse_us_date(text) or (values.parse_us_timestamp(text) or "")[:10] or None
        if iso is None:
            raise query_failed(f"Invalid date '{text}' for field {f.name}; use mm/dd/yyyy")
        return iso
    if f.datatype == TIMESTAMP:
        iso = values.parse_us_timestamp(text)
        if iso is None:
            raise query_failed(f"Invalid date '{text}' for field {f.name}; use mm/dd/yyyy [HH:MM:SS]")
        return iso
    if f.datatype == BOOLEAN:
        return "true" if text.strip().lower() in ("true", "t", "1") else "false"
    return text.lower() if opts.caseinsensitive else text


def _like(pattern: str, value: str, ci: bool) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.DOTALL | (re.IGNORECASE if ci else 0)) is not None


def compile_node(node: Node, opts: Options) -> Node:
    """Convert literals to typed values once (raises Query Failed on bad literals)."""
    kind = node[0]
    if kind in ("and", "or"):
        return (kind, [compile_node(n, opts) for n in node[1]])
    if kind == "not":
        return ("not", compile_node(node[1], opts))
    _, f, op, lits = node
    if op in ("like", "notlike"):
        return ("cmp", f, op, lits)
    return ("cmp", f, op, [_literal(f, lit, opts) for lit in lits])


def evaluate(node: Node, record: dict[str, Any], opts: Options) -> bool:
    kind = node[0]
    if kind == "and":
        return all(evaluate(n, record, opts) for n in node[1])
    if kind == "or":
        return any(evaluate(n, record, opts) for n in node[1])
    if kind == "not":
        return not evaluate(node[1], record, opts)
    _, f, op, lits = node
    raw = raw_value(record, f)
    if op == "isnull":
        return raw is None or raw == ""
    if op == "isnotnull":
        return not (raw is None or raw == "")
    v = _typed(f, raw, opts)
    if op in ("like", "notlike"):
        if v is None:
            return False
        text = out_value(f, raw)
        if opts.use_codes and f.codes:
            text = f.codes.get(text, text)
        hit = _like(lits[0], text, opts.caseinsensitive)
        return hit if op == "like" else not hit
    if v is None:
        return False
    if op == "eq":
        return bool(v == lits[0])
    if op == "ne":
        return bool(v != lits[0])
    if op == "lt":
        return bool(v < lits[0])
    if op == "le":
        return bool(v <= lits[0])
    if op == "gt":
        return bool(v > lits[0])
    if op == "ge":
        return bool(v >= lits[0])
    if op == "between":
        return bool(lits[0] <= v <= lits[1])
    if op == "in":
        return v in lits
    if op == "notin":
        return v not in lits
    raise query_failed(f"Unsupported operator {op}")  # pragma: no cover


def sort_key(f: FieldDef, record: dict[str, Any]) -> tuple[int, Any]:
    v = _typed(f, raw_value(record, f), Options())
    return (0, "") if v is None else (1, v)


def parse_xml_filter(obj: ObjectDef, el: Element) -> Node:
    """<filter> holds exactly one operator element."""
    kids = list(el)
    if len(kids) != 1:
        raise query_failed("The filter element must hold exactly one operator (use and/or to combine).")
    return _xml_node(obj, kids[0])


def _xml_node(obj: ObjectDef, el: Element) -> Node:
    tag = el.tag
    if tag in ("and", "or"):
        kids = list(el)
        if len(kids) < 2:
            raise query_failed(f"The '{tag}' operator needs at least two conditions, got {len(kids)}.")
        return (tag, [_xml_node(obj, k) for k in kids])
    op = OPS_XML.get(tag)
    if op is None:
        raise query_failed(f"Unknown filter operator '{tag}'")
    field_el = el.find("field")
    if field_el is None or not (field_el.text or "").strip():
        raise query_failed(f"The '{tag}' operator needs a <field>.")
    f = resolve_field(obj, field_el.text or "")
    lits = [v.text or "" for v in el.findall("value")]
    want = {"isnull": 0, "isnotnull": 0, "between": 2}.get(op)
    if want is not None and len(lits) != want:
        raise query_failed(f"The '{tag}' operator takes {want} <value> elements, got {len(lits)}.")
    if op in ("in", "notin"):
        if not lits:
            raise query_failed(f"The '{tag}' operator needs at least one <value>.")
    elif want is None and len(lits) != 1:
        raise query_failed(f"The '{tag}' operator takes exactly one <value>, got {len(lits)}.")
    return ("cmp", f, op, lits)
