"""Helpers shared by the function handlers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from ..errors import FunctionError, bl_error, query_failed, schema_error
from ..objects import OBJECTS, ObjectDef
from ..protocol import Ctx, Result

Handler = Callable[[Ctx, Element], Result]


@dataclass
class Entry:
    handler: Handler
    validate: Callable[[Element], None] | None = None


def generic_validator(allowed: Iterable[str], required: Iterable[str] = ()) -> Callable[[Element], None]:
    """3.0 generic functions: children in any order (xs:all), each at most once."""
    allowed_set, required_t = set(allowed), tuple(required)

    def validate(el: Element) -> None:
        seen: set[str] = set()
        for child in el:
            if child.tag not in allowed_set:
                raise schema_error(
                    f"Element '{el.tag}': element '{child.tag}' is not expected. "
                    f"Expected is one of ( {', '.join(sorted(allowed_set))} )."
                )
            if child.tag in seen:
                raise schema_error(f"Element '{el.tag}': element '{child.tag}' may appear only once.")
            seen.add(child.tag)
        for req in required_t:
            if req not in seen:
                raise schema_error(f"Element '{el.tag}': missing child element(s). Expected is ( {req} ).")

    return validate


def text(el: Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    if child is None:
        return None
    return child.text or ""


def object_def(ctx: Ctx, el: Element) -> ObjectDef:
    name = (text(el, "object") or "").strip()
    obj = OBJECTS.get(name.upper())
    if obj is None:
        raise query_failed(f"Object definition {name} not found", "The object is not supported.")
    return obj


def definition(ctx: Ctx, name: str) -> dict[str, Any] | None:
    defs: list[dict[str, Any]] = ctx.company.get("transaction_definitions", [])
    for d in defs:
        if d["name"] == name:
            return d
    return None


def require_definition(ctx: Ctx, name: str) -> dict[str, Any]:
    d = definition(ctx, name)
    if d is None:
        raise bl_error(
            f"Invalid Transaction Type '{name}'",
            f"The transaction definition '{name}' does not exist in company '{ctx.company_id}'.",
            "Use the exact name of an Order Entry transaction definition (Order Entry > Setup > "
            "Transaction definitions).",
        )
    return d


def check_docparid(ctx: Ctx, obj: ObjectDef, docparid: str | None) -> None:
    if docparid and obj.name == "SODOCUMENT" and definition(ctx, docparid) is None:
        raise query_failed(f"Invalid docparid '{docparid}'", "No transaction definition has this name.")


def find(ctx: Ctx, obj: str, name: str) -> dict[str, Any] | None:
    return ctx.store.by_name(ctx.company_id, obj, name)


LABELS = {
    "ITEM": "Item ID",
    "WAREHOUSE": "Warehouse ID",
    "LOCATION": "Location ID",
    "DEPARTMENT": "Department ID",
    "CLASS": "Class ID",
    "CUSTOMER": "Customer ID",
    "CONTACT": "Contact name",
}


def must_exist(ctx: Ctx, obj: str, name: str, where: str = "") -> dict[str, Any]:
    rec = find(ctx, obj, name)
    if rec is None:
        raise bl_error(
            f"{LABELS.get(obj, obj)} '{name}' is not valid{where}",
            f"There is no {obj.lower()} '{name}' in company '{ctx.company_id}'.",
            f"Create the {obj.lower()} in Intacct first, or fix the mapping that produced '{name}'.",
        )
    if rec.get("STATUS") == "inactive":
        raise bl_error(
            f"{LABELS.get(obj, obj)} '{name}' is inactive{where}",
            f"The {obj.lower()} '{name}' exists but its status is inactive.",
            "Activate it in Intacct or use another one.",
        )
    return rec


def el_to_dict(el: Element) -> dict[str, Any]:
    """Generic-object XML -> dict; repeated tags become lists."""
    out: dict[str, Any] = {}
    for child in el:
        value: Any = el_to_dict(child) if len(child) else (child.text or "")
        if child.tag in out:
            prev = out[child.tag]
            out[child.tag] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[child.tag] = value
    return out


def parse_int(value: str | None, name: str, lo: int, hi: int | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        n = int(value.strip())
    except ValueError:
        raise query_failed(f"Invalid {name} '{value}'", f"{name} must be an integer.") from None
    if n < lo or (hi is not None and n > hi):
        rng = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise query_failed(f"Invalid {name} '{value}'", f"{name} must be {rng}.")
    return n


__all__ = ["Entry", "FunctionError", "Handler"]
