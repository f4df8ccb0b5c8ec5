"""Value conversions: money, quantities, dates, timestamps (as Intacct writes them)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def now_iso() -> str:
    return now().strftime("%Y-%m-%dT%H:%M:%S")


def to_decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    text = text.strip()
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - regex above already filters
        return None


def money(value: Decimal) -> str:
    q = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if q == 0:
        q = abs(q)
    return format(q, "f")


def plain(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 2, 1.5."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def us_date(iso: str | None) -> str | None:
    """Internal YYYY-MM-DD -> mm/dd/yyyy."""
    if not iso:
        return iso
    y, m, d = iso[:10].split("-")
    return f"{m}/{d}/{y}"


def us_timestamp(iso: str | None) -> str | None:
    """Internal YYYY-MM-DDTHH:MM:SS -> mm/dd/yyyy HH:MM:SS."""
    if not iso:
        return iso
    return f"{us_date(iso[:10])} {iso[11:19]}"


def parse_us_date(text: str) -> str | None:
    """mm/dd/yyyy -> YYYY-MM-DD, None if invalid."""
    m = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", text or "")
    if not m:
        return None
    try:
        return date(int(m.group(3)), int(m.group(1)), int(m.group(2))).isoformat()
    except ValueError:
        return None


def parse_us_timestamp(text: str) -> str | None:
    """mm/dd/yyyy[ HH:MM[:SS]] -> YYYY-MM-DDTHH:MM:SS, None if invalid."""
    m = re.fullmatch(r"\s*(\d{1,2}/\d{1,2}/\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\s*", text or "")
    if not m:
        return None
    d = parse_us_date(m.group(1))
    if d is None:
        return None
    hh, mm, ss = int(m.group(2) or 0), int(m.group(3) or 0), int(m.group(4) or 0)
    if hh > 23 or mm > 59 or ss > 59:
        return None
    return f"{d}T{hh:02d}:{mm:02d}:{ss:02d}"


def parse_ymd(year: str | None, month: str | None, day: str | None) -> str | None:
    try:
        return date(int(year or ""), int(month or ""), int(day or "")).isoformat()
    except ValueError:
        return None
