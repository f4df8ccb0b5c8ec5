"""Filters for the `query` function, whose values travel as XML text (no string grammar).

Prefer `query` to `readByQuery` for any value that comes from a user (names, emails): a
readByQuery literal is SQL-like text in which a quote or backslash can break out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from intacct_sync.intacct.wire import sub

Value = str | int | Decimal | date | datetime

_BINARY = {
    "equalto",
    "notequalto",
    "lessthan",
    "lessthanorequalto",
    "greaterthan",
    "greaterthanorequalto",
    "like",
    "notlike",
}


def format_value(value: Value) -> str:
    """Intacct's text form: dates mm/dd/yyyy, timestamps mm/dd/yyyy HH:MM:SS, Decimal plain."""
    if isinstance(value, datetime):
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y")
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@dataclass(frozen=True)
class Filter:
    op: str
    field: str | None = None
    values: tuple[str, ...] = ()
    children: tuple[Filter, ...] = ()

    def to_element(self) -> ET.Element:
        el = ET.Element(self.op)
        if self.children:
            for child in self.children:
                el.append(child.to_element())
            return el
        if self.field is not None:
            sub(el, "field", self.field)
        for v in self.values:
            sub(el, "value", v)
        return el


def _binary(op: str, field: str, value: Value) -> Filter:
    assert op in _BINARY
    return Filter(op, field, (format_value(value),))


def eq(field: str, value: Value) -> Filter:
    return _binary("equalto", field, value)


def ne(field: str, value: Value) -> Filter:
    return _binary("notequalto", field, value)


def lt(field: str, value: Value) -> Filter:
    return _binary("lessthan", field, value)


def le(field: str, value: Value) -> Filter:
    return _binary("lessthanorequalto", field, value)


def gt(field: str, value: Value) -> Filter:
    return _binary("greaterthan", field, value)


def ge(field: str, value: Value) -> Filter:
    return _binary("greaterthanorequalto", field, value)


def like(field: str, pattern: str) -> Filter:
    return _binary("like", field, pattern)


def between(field: str, low: Value, high: Value) -> Filter:
    return Filter("between", field, (format_value(low), format_value(high)))


def in_(field: str, values: Iterable[Value]) -> Filter:
    vals = tuple(format_value(v) for v in values)
    if not vals:
        raise ValueError("an 'in' filter needs at least one value")
    return Filter("in", field, vals)


def is_null(field: str) -> Filter:
    return Filter("isnull", field)


def is_not_null(field: str) -> Filter:
    return Filter("isnotnull", field)


def _combine(op: str, filters: tuple[Filter, ...]) -> Filter:
    # Intacct requires two or more children under and/or; one filter stands alone.
    if not filters:
        raise ValueError(f"'{op}' needs at least one filter")
    return filters[0] if len(filters) == 1 else Filter(op, children=filters)


def and_(*filters: Filter) -> Filter:
    return _combine("and", filters)


def or_(*filters: Filter) -> Filter:
    return _combine("or", filters)


def readbyquery_literal(value: str) -> str:
    """A quoted readByQuery string literal, or ValueError if the value cannot be made safe.

    Intacct escapes a quote with a backslash but documents no escape for the backslash itself,
    so a value holding one is refused rather than guessed at. Use `query` for such values.
    """
    if "\\" in value:
        raise ValueError("readByQuery cannot carry a backslash safely; use the query function")
    return "'" + value.replace("'", "\\'") + "'"
