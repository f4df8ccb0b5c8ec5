"""Plumbing shared by the channel handlers: request/response objects, errors, time formats."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    """One HTTP request as a channel handler sees it (path already stripped of the channel prefix)."""

    method: str
    path: str  # e.g. /admin/api/2025-01/orders.json (relative to the store root)
    query: dict[str, str]
    query_list: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base: str  # the absolute URL of the store root in this sandbox (for Link headers, urls)
    notes: dict[str, Any] = field(default_factory=dict)  # filled by handlers for the request log

    @classmethod
    def build(
        cls, method: str, path: str, raw_query: str, headers: dict[str, str], *, body: bytes, base: str
    ) -> Request:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        return cls(method, path, dict(pairs), pairs, headers, body, base)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or bytes/str for raw bodies; None = empty body
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


class ApiError(Exception):
    """Raised by handlers to answer with a channel-shaped error body."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.response = Response(status, body, headers or {})


# ---------------------------------------------------------------- time formats


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def parse_offset(offset: str) -> timezone:
    """'+02:00' / '-0500' / 'Z' -> tzinfo."""
    if offset in ("Z", "", "+00:00", "UTC"):
        return UTC
    sign = -1 if offset.startswith("-") else 1
    digits = offset.lstrip("+-").replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_iso(value: str, default_tz: timezone = UTC) -> datetime:
    """ISO-8601 with or without offset (naive values are taken in default_tz); also accepts 'Z'."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return dt.astimezone(UTC)


def parse_rfc2822(value: str) -> datetime:
    dt = parsedate_to_datetime(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_any_date(value: str, default_tz: timezone = UTC) -> datetime:
    """BigCommerce accepts RFC-2822, ISO-8601 or a unix timestamp in its date filters."""
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        return parse_iso(text, default_tz)
    except ValueError:
        return parse_rfc2822(text)


def fmt_shopify(dt: datetime, tz: timezone) -> str:
    return dt.astimezone(tz).replace(microsecond=0).isoformat()


def fmt_wc_local(dt: datetime, tz: timezone) -> str:
    return dt.astimezone(tz).replace(tzinfo=None, microsecond=0).isoformat()


def fmt_wc_gmt(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def fmt_rfc2822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0))


def fmt_iso_z(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def fmt_iso_offset(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


# ---------------------------------------------------------------- cursors


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> dict[str, Any]:
    pad = "=" * (-len(token) % 4)
    data = json.loads(base64.urlsafe_b64decode(token + pad))
    if not isinstance(data, dict):
        raise ValueError("cursor is not an object")  # noqa: TRY004 - callers map ValueError to a 400
    return data


def int_param(value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    return int(value)
