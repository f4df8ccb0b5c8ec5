"""What every channel adapter shares; what differs between channels is data in `ChannelSpec`.

An adapter is a pure function of (headers, raw body, connection): no clock (except the replay
window of a timestamped signature), no I/O. The webhook handler calls, in this order:

    adapter.detect_ping(headers, body)            -> Ping | None   (answer 200, enqueue nothing)
    adapter.verify_signature(headers, body, conn) -> None or raise InvalidSignature (401)
    adapter.parse(headers, body, conn)            -> list[CanonicalEvent] or raise InvalidPayload (400)

`receive()` in `intacct_sync.channels` does exactly that. An empty list means "accepted, nothing
to do" (a topic this product does not use, a non-success transaction).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ValidationError

from intacct_sync.channels.errors import InvalidPayload
from intacct_sync.channels.signatures import DigestEncoding, verify_hmac
from intacct_sync.models.checked import construct_checked
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.money import ZERO, to_decimal
from intacct_sync.models.order import Address, Channel, Customer, TaxLine
from intacct_sync.models.text import first_disallowed

# SQS FIFO MessageDeduplicationId: 1-128 printable ASCII characters.
_MAX_EVENT_ID: Final = 128

# Keys whose text is a code, an address or a number, never prose: a character SQS/XML cannot carry
# is refused here, naming the body field, instead of reaching the model (which would refuse it
# too, naming the canonical field). Other text reaches the model, which cleans free-text fields.
_CODE_KEYS: Final = frozenset(
    {
        "currency",
        "currency_code",
        "email",
        "contact_email",
        "sku",
        "number",
        "order_number",
        "country_code",
        "country_iso2",
        "province_code",
        "status",
        "financial_status",
        "kind",
        "type",
    }
)

# The channels' order ids (reference/channels.md): Shopify REST ids are int64, its GraphQL ids
# gid://shopify/Order/<int>; WooCommerce post ids and BigCommerce order ids are integers. An id
# outside these shapes is refused before it can reach a channel API path ('.', '..', '/', '?').
_POSITIVE_INT: Final = re.compile(r"[1-9][0-9]{0,18}")
_SHOPIFY_ORDER_GID: Final = re.compile(r"gid://shopify/Order/([1-9][0-9]{0,18})")


def order_id_problem(channel: str, value: str) -> str | None:
    """Why `value` cannot be `channel`'s order id, or None when it can."""
    if _POSITIVE_INT.fullmatch(value):
        return None
    if channel == "shopify":
        if _SHOPIFY_ORDER_GID.fullmatch(value):
            return None
        return "a Shopify order id is a positive integer or gid://shopify/Order/<integer>"
    return f"a {channel} order id is a positive integer"


def order_id_number(channel: str, value: str) -> str | None:
    """The numeric order id `value` stands for (a Shopify gid gives its number), or None when
    `value` is not a valid order id of `channel`."""
    if order_id_problem(channel, value) is not None:
        return None
    match = _SHOPIFY_ORDER_GID.fullmatch(value)
    return match.group(1) if match else value


# ---------------------------------------------------------------------------------------------
# Headers


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only view of request headers (names stored lower-case)."""

    __slots__ = ("_items",)

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        if isinstance(headers, Headers):
            self._items: dict[str, str] = headers._items
        else:
            self._items = {str(k).lower(): str(v) for k, v in (headers or {}).items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def first(self, names: tuple[str, ...]) -> str | None:
        """Value of the first of `names` present and non-empty."""
        for name in names:
            value = self._items.get(name.lower(), "").strip()
            if value:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Ping:
    """A channel's unsigned reachability check (WooCommerce on webhook save): answer 200."""

    channel: Channel
    webhook_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Reading channel JSON with field paths in every error


def load_json_object(raw_body: bytes, what: str) -> dict[str, Any]:
    """json.loads the body and require an object; every failure is an InvalidPayload."""
    try:
        # `json.loads(raw_body, parse_constant=_reject_constant)` without building a decoder per call.
        value = _DECODER.decode(raw_body.decode(json.detect_encoding(raw_body), "surrogatepass"))
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError, UnicodeDecodeError and over-long integers;
        # RecursionError is hostile nesting.
        raise InvalidPayload("body is not valid JSON", path=what) from None
    if not isinstance(value, dict):
        raise InvalidPayload(f"expected a JSON object, got {_kind(value)}", path=what)
    return value


def as_object(value: object, path: str) -> Node:
    if not isinstance(value, dict):
        raise InvalidPayload(f"expected an object, got {_kind(value)}", path=path)
    return Node(value, path)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def parse_datetime(value: object, path: str, *, naive_is_utc: bool) -> datetime:
    """ISO-8601 (or RFC 2822, BigCommerce v2) text -> aware UTC datetime.

    A naive value is UTC when `naive_is_utc` (WooCommerce *_gmt fields), else rejected.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise InvalidPayload(f"expected a date-time string, got {_kind(value)}", path=path)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (ValueError, TypeError, IndexError, OverflowError):
            raise InvalidPayload("not an ISO-8601 or RFC 2822 date-time", path=path) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if not naive_is_utc:
            raise InvalidPayload("date-time has no UTC offset", path=path)
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidPayload("date-time out of range", path=path) from None


type _Where = tuple[str | _Where, str, int]
"""A path not spelled out yet: (the parent's path or recipe, array key, index)."""


def _spell(where: str | _Where) -> str:
    if isinstance(where, str):
        return where
    parent, key, index = where
    return f"{_spell(parent)}.{key}[{index}]"


class Node:
    """A JSON object with its path; typed getters raise InvalidPayload naming the field.

    Read-only: the array of objects under a key is made once per node, however many parts of an
    adapter read it (Shopify walks the line items for the lines, the duties and the discounts),
    and the path of an array element is only spelled out when something asks for it (an error)."""

    __slots__ = ("_arrays", "_where", "raw")

    def __init__(self, raw: dict[str, Any], path: str | _Where) -> None:
        self.raw = raw
        self._where = path
        self._arrays: dict[str, list[Node]] | None = None

    @property
    def path(self) -> str:
        where = self._where
        if isinstance(where, str):
            return where
        self._where = spelled = _spell(where)
        return spelled

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def id(self, key: str) -> str:
        """A required identifier: a non-empty string or an integer, returned as text.

        Ids are refused, never cleaned: printable characters without spaces (which also keeps out
        everything SQS and Intacct XML cannot carry), and never '.' or '..' (path segments)."""
        return self._id(key, self.raw.get(key))

    def _id(self, key: str, value: object) -> str:
        if type(value) is int or (isinstance(value, int) and not isinstance(value, bool)):
            return str(value)
        if isinstance(value, str) and len(value) <= 255:
            text = value.strip()
            if text:
                if text in (".", "..") or not text.isprintable() or " " in text:
                    raise InvalidPayload(
                        "expected an id: printable characters without spaces, not '.' or '..'", path=self.at(key)
                    )
                return text
        raise InvalidPayload(f"expected an id (string or integer), got {_kind(value)}", path=self.at(key))

    def opt_id(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value in (None, "", 0):
            return None
        return self._id(key, value)

    def text(self, key: str, *, max_len: int = 4000) -> str | None:
        """Optional text: null and blank become None; numbers are accepted as text."""
        value = self.raw.get(key)
        if value is None:
            return None
        if type(value) is not str:
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise InvalidPayload(f"expected a string, got {_kind(value)}", path=self.at(key))
        value = value.strip()
        if len(value) > max_len:
            raise InvalidPayload(f"longer than {max_len} characters", path=self.at(key))
        if key in _CODE_KEYS and not (value.isascii() and value.isprintable()):  # printable ASCII: clean
            bad = first_disallowed(value)
            if bad is not None:
                raise InvalidPayload(
                    f"contains {bad}, which SQS and Intacct XML cannot carry: send valid Unicode text",
                    path=self.at(key),
                )
        return value or None

    def free_text(self, key: str, *, max_len: int = 4000) -> str | None:
        """Optional free text a person typed (an order note, a refund reason): like `text`, but a
        longer value is cut to `max_len` characters (ending "…") instead of refusing the order. A
        shopper's long note must not keep an order out of the books; Intacct's fields are shorter
        still, and the mapping cuts again to each field's limit."""
        value = self.raw.get(key)
        if type(value) is str and len(value) > max_len:
            value = value.strip()
            if len(value) > max_len:
                return value[: max_len - 1].rstrip() + "…"
        return self.text(key, max_len=max_len)

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise InvalidPayload("required, got nothing", path=self.at(key))
        return value

    def decimal(self, key: str) -> Decimal:
        value = self.raw.get(key)
        try:
            return to_decimal(value)
        except (ValueError, TypeError) as exc:
            raise InvalidPayload(f"expected a decimal number ({exc}), got {_kind(value)}", path=self.at(key)) from None

    def total(self, key: str, field: str) -> Decimal:
        """The sum of `field` over the objects of the array `key` (0 when there are none)."""
        items = self.raw.get(key)
        if type(items) is list:
            # The usual shape, summed straight from the JSON; anything else (or a value that does
            # not parse) goes the way below, which names the field at fault.
            result = ZERO
            for item in items:
                value = item.get(field) if type(item) is dict else None
                if type(value) is not str and type(value) is not int:
                    break
                try:
                    result += to_decimal(value)
                except ValueError:
                    break
            else:
                return result
        result = ZERO
        for node in self.objects(key):
            result += node.decimal(field)
        return result

    def opt_decimal(self, key: str, default: Decimal = ZERO) -> Decimal:
        value = self.raw.get(key)
        if value is None or value == "":
            return default
        return self.decimal(key)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        raise InvalidPayload(f"expected true/false, got {_kind(value)}", path=self.at(key))

    def opt_int(self, key: str) -> int | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
            return int(value)
        raise InvalidPayload(f"expected an integer, got {_kind(value)}", path=self.at(key))

    def date_time(self, key: str, *, naive_is_utc: bool = False) -> datetime:
        return parse_datetime(self.raw.get(key), self.at(key), naive_is_utc=naive_is_utc)

    def opt_date_time(self, key: str, *, naive_is_utc: bool = False) -> datetime | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        return parse_datetime(value, self.at(key), naive_is_utc=naive_is_utc)

    def utc_offset_minutes(self, key: str) -> int | None:
        """The UTC offset a date-time text states (ISO-8601 `-04:00`, RFC 2822 `-0400`), in
        minutes; None when the field is missing, naive or not a date (the date itself is read,
        and refused, by `date_time`)."""
        value = self.raw.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                parsed = parsedate_to_datetime(value.strip())
            except (ValueError, TypeError, IndexError, OverflowError):
                return None
        offset = parsed.utcoffset()
        return None if offset is None else int(offset.total_seconds() // 60)

    def obj(self, key: str) -> Node | None:
        """An optional nested object (null, missing and [] -> None)."""
        value = self.raw.get(key)
        if value is None or value == []:
            return None
        return as_object(value, self.at(key))

    def objects(self, key: str) -> list[Node]:
        """An optional array of objects (null or missing -> []). The same list on every call: do
        not change it."""
        arrays = self._arrays
        if arrays is None:
            arrays = self._arrays = {}
        else:
            found = arrays.get(key)
            if found is not None:
                return found
        value = self.raw.get(key)
        if value is None:
            nodes: list[Node] = []
        elif not isinstance(value, list):
            raise InvalidPayload(f"expected an array, got {_kind(value)}", path=self.at(key))
        else:
            nodes = []
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise InvalidPayload(f"expected an object, got {_kind(item)}", path=f"{self.at(key)}[{i}]")
                # The parent's path (or the recipe for it), not the parent: no reference cycle.
                nodes.append(Node(item, (self._where, key, i)))
        arrays[key] = nodes
        return nodes


# The adapters' per-line fast reads (issue #12): `Node.text` of the usual JSON value, read straight
# from `Node.raw`; None for anything else, which the caller then reads with `Node.text` (the same
# way, or naming the field at fault).


def code_text(value: object, max_len: int = 4000) -> str | None:
    """`Node.text` of a code key's (`_CODE_KEYS`: a SKU) usual value, a non-empty printable ASCII
    string within `max_len` once stripped (which SQS and XML carry as it is)."""
    if type(value) is str:
        text = value.strip()
        if text and text.isascii() and text.isprintable() and len(text) <= max_len:
            return text
    return None


def plain_text(value: object, max_len: int = 4000) -> str | None:
    """`Node.text` of any other key's usual value, a non-empty string within `max_len` once
    stripped (not checked for what SQS/XML cannot carry: the model checks free text)."""
    if type(value) is str:
        text = value.strip()
        if text and len(text) <= max_len:
            return text
    return None


# ---------------------------------------------------------------------------------------------
# Building canonical models and event ids


def build[M: BaseModel](model: type[M], where: str | Node, /, **fields: Any) -> M:
    """Construct a canonical model; a validation failure becomes an InvalidPayload naming the
    field (values are never echoed: models hide input in errors). `where` is the path of the JSON
    the model comes from, or its Node (whose path is then only spelled out for an error).

    Every adapter builds through here, so this is where a channel's order id is checked against
    the channel's id format (`order_id_problem`) before it can reach a queue or an API path."""
    channel, order_id = fields.get("channel"), fields.get("order_id")
    if isinstance(channel, str) and isinstance(order_id, str):
        problem = order_id_problem(channel, order_id)
        if problem is not None:
            path = where if isinstance(where, str) else where.path
            raise InvalidPayload(f"{problem}; got one that is not", path=f"{path}.order_id")
    # Values that already hold the model's rules (the usual case) need no validation: the same
    # instance, built without pydantic's pass (`models.checked`); anything else is validated below.
    checked = construct_checked(model, fields)
    if checked is not None:
        return checked
    try:
        # What `model(**fields)` runs, without BaseModel.__init__'s frame and a copy of `fields`.
        return model.__pydantic_validator__.validate_python(fields)  # type: ignore[no-any-return]
    except ValidationError as exc:
        path = where if isinstance(where, str) else where.path
        first = exc.errors(include_url=False, include_input=False)[0]
        parts = [str(part) for part in first["loc"]]
        field_name = (first.get("ctx") or {}).get("field")
        if isinstance(field_name, str):  # a model's input check (text, amounts) names its field in ctx
            parts.append(field_name)
        field_path = ".".join(parts)
        raise InvalidPayload(first["msg"], path=f"{path}.{field_path}" if field_path else path) from None


def event_id(*parts: str) -> str:
    """Deterministic dedup id from its parts: readable when it fits SQS FIFO's 128 printable
    characters, else '<first part>:sha256:<hex>' of all parts."""
    readable = ":".join(parts)
    safe = readable.isascii() and readable.isprintable() and " " not in readable
    if safe and len(readable) <= _MAX_EVENT_ID:
        return readable
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{parts[0]}:sha256:{digest}"


def state_digest(model: BaseModel) -> str:
    """Short digest of a canonical model's content: equal states give equal digests."""
    return hashlib.sha256(model.model_dump_json().encode()).hexdigest()[:16]


def is_placed(status: str | None, connection: Connection, default: Callable[[str | None], bool]) -> bool:
    """Apply the connection's `placed_statuses` override, else the channel's default rule."""
    if connection.placed_statuses is not None:
        return status is not None and status.lower() in {s.lower() for s in connection.placed_statuses}
    return default(status)


# ---------------------------------------------------------------------------------------------
# The adapter


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """The data-driven differences between channels' webhook deliveries."""

    channel: Channel
    signature_headers: tuple[str, ...]
    """Header(s) carrying the body HMAC; first present wins (Shopify has an un-prefixed twin)."""
    digest_encoding: DigestEncoding
    topic_headers: tuple[str, ...]
    event_id_headers: tuple[str, ...] = ()
    """Headers naming the event, in order of preference for the dedup key."""
    delivery_id_headers: tuple[str, ...] = ()
    """Headers naming the delivery (logged, not the dedup key unless said)."""
    topics: Mapping[str, str] = field(default_factory=dict)
    """Topic -> handler kind; topics not listed are accepted and ignored."""
    retry_seconds: int | None = None
    """How long the channel keeps retrying a delivery that got no 2xx answer (None: it never
    retries). Until then a delivery that died after its claim is the channel's to retry, so the
    reconcile poll does not send its events again (`intake.pipeline`)."""


class ChannelAdapter:
    """Base adapter: HMAC-over-body verification driven by `spec`; `parse` per channel."""

    spec: ClassVar[ChannelSpec]

    def detect_ping(self, headers: Mapping[str, str], raw_body: bytes) -> Ping | None:
        """A channel's unsigned reachability ping, or None. Default: channels have none."""
        return None

    def verify_signature(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        connection: Connection,
        *,
        now: float | None = None,
    ) -> None:
        """Raise InvalidSignature unless the body is signed with the connection's secret."""
        hdrs = Headers(headers)
        keys = [
            secret.get_secret_value().encode("utf-8")
            for secret in (connection.webhook_secret, connection.previous_webhook_secret)
            if secret is not None
        ]
        verify_hmac(
            raw_body,
            hdrs.first(self.spec.signature_headers),
            keys,
            encoding=self.spec.digest_encoding,
            header_name=self.spec.signature_headers[0],
        )

    def parse(self, headers: Mapping[str, str], raw_body: bytes, connection: Connection) -> list[CanonicalEvent]:
        """Turn one delivery into canonical events; raises InvalidPayload."""
        raise NotImplementedError

    def topic(self, headers: Headers) -> str:
        topic = headers.first(self.spec.topic_headers)
        if topic is None:
            raise InvalidPayload(f"missing {self.spec.topic_headers[0]} header", path="headers")
        if len(topic) > 128:
            raise InvalidPayload("topic header too long", path="headers")
        if not (topic.isascii() and topic.isprintable()):
            # A topic is a channel's fixed name; it travels as an SQS message attribute.
            raise InvalidPayload(
                "topic header must be printable ASCII (a channel topic name)",
                path=f"headers.{self.spec.topic_headers[0]}",
            )
        return topic


def now_seconds() -> float:
    return time.time()


@dataclass(frozen=True)
class AddressFields:
    """Where a channel keeps each part of an address (the only thing that differs per channel)."""

    line1: str
    line2: str
    postal_code: str
    country: str
    regions: tuple[str, ...] = ("state",)
    full_name: str | None = None


def address_from(n: Node | None, fields: AddressFields) -> Address | None:
    """A channel address object as a canonical Address; None when absent or entirely empty."""
    if n is None:
        return None
    first, last = n.text("first_name"), n.text("last_name")
    country = n.text(fields.country)
    joined = " ".join(part for part in (first, last) if part) or None
    values = {
        "name": (n.text(fields.full_name) if fields.full_name else None) or joined,
        "company": n.text("company"),
        "line1": n.text(fields.line1),
        "line2": n.text(fields.line2),
        "city": n.text("city"),
        "region": next((v for v in (n.text(r) for r in fields.regions) if v), None),
        "postal_code": n.text(fields.postal_code),
        "country_code": country.upper() if country else None,
        "phone": n.text("phone"),
        "email": n.text("email"),
    }
    if not any(values.values()):
        return None
    return build(Address, n.path, **values)


def tax_lines_from(
    nodes: list[Node], *, title: str, amounts: tuple[str, ...], code: str | None = None, rate: str | None = None
) -> tuple[TaxLine, ...]:
    """A channel's itemised taxes -> one TaxLine per jurisdiction (title and code), amounts summed
    over `amounts` keys and over repeated entries (BigCommerce lists one per taxed line), in the
    order first seen. Entries without a title are named by their code, else skipped."""
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for n in nodes:
        code_value = n.text(code, max_len=255) if code else None
        name = n.text(title, max_len=255) or code_value
        if not name:
            continue
        amount = sum((n.opt_decimal(k) for k in amounts), ZERO)
        entry = found.setdefault((name, code_value), {"title": name, "code": code_value, "amount": ZERO, "at": n.path})
        entry["amount"] += amount
        if rate and entry.get("rate") is None and n.get(rate) is not None:
            entry["rate"] = n.opt_decimal(rate)
    return tuple(build(TaxLine, v.pop("at"), **v) for v in found.values())


@dataclass(frozen=True)
class TaxShare:
    """Part of one jurisdiction's tax in a refund, found at `path` of the payload."""

    path: str
    title: str
    code: str | None
    rate: Decimal | None
    amount: Decimal


def tax_lines_summed(shares: list[TaxShare]) -> tuple[TaxLine, ...]:
    """Shares of a refund's tax -> one TaxLine per jurisdiction (title and code), amounts summed
    exactly, in the order first seen."""
    found: dict[tuple[str, str | None], dict[str, Any]] = {}
    for share in shares:
        entry = found.setdefault(
            (share.title, share.code),
            {"title": share.title, "code": share.code, "rate": share.rate, "amount": ZERO, "at": share.path},
        )
        entry["amount"] += share.amount
    return tuple(build(TaxLine, v.pop("at"), **v) for v in found.values())


def customer_from_billing(
    path: str, billing_node: Node | None, billing: Address | None, customer_id: str | None
) -> Customer:
    """The buyer as WooCommerce and BigCommerce give it: the billing block (guest when no id)."""
    return build(
        Customer,
        path,
        customer_id=customer_id,
        email=billing_node.text("email") if billing_node else None,
        first_name=billing_node.text("first_name") if billing_node else None,
        last_name=billing_node.text("last_name") if billing_node else None,
        company=billing.company if billing else None,
        phone=billing.phone if billing else None,
        is_guest=customer_id is None,
    )
