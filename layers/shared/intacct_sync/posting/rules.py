"""The rules engine: ordered rules that pick Intacct dimensions (and items, customers) per order.

A rule is `{"name", "when": {conditions}, "set": {values}, "stop": false}`. Every condition given
in `when` must hold (an empty `when` matches every order). Conditions:

| key | holds when |
| --- | --- |
| `connection` | the order's connection id is one of the list |
| `channel` | the order's channel is one of the list |
| `shipping_country` | the shipping country (ISO2) is one of the list (billing country without shipping address) |
| `shipping_region` | the shipping state/province is one of the list (case-insensitive; US/Canada: code = name) |
| `sku` | a line's SKU matches one of the glob patterns (case-insensitive): makes the rule *line-level* |
| `tag` | the order carries any of the tags (case-insensitive) |
| `shipping_method` | a shipping line's title or code is any of the list (case-insensitive) |
| `currency` | the order's currency is one of the list |
| `order_total` | `{"min": x, "max": y}`: min <= order total <= max (either bound optional) |

`set` may hold `warehouse_id`, `location_id`, `department_id`, `class_id`, `item_id` and
`customer_id`.

Precedence: rules are read in order and, per value, the *first* matching rule that sets it wins;
later rules only fill values still unset. Order-level values (the header's location, department,
class, the default warehouse, the customer) come from rules without an `sku` condition. Each
product line takes, per value, the first matching rule that sets it among the rules that apply to
that line (order-level rules apply to every line, `sku` rules to the lines they match), falling
back to nothing. So an order-level rule listed *before* an `sku` rule beats it for the values it
sets: put specific `sku` rules first. `item_id` is only ever a line value; `customer_id` only an
order value (a rule with an `sku` condition may not set it). `stop: true` on a matching
order-level rule ends the evaluation for the whole order; on a matching `sku` rule it keeps later
`sku` rules off the lines it matched (later order-level rules still fill their unset values).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from intacct_sync.models.order import Channel, Order, OrderLine
from intacct_sync.posting.regions import region_matches

_VALUE_KEYS = ("warehouse_id", "location_id", "department_id", "class_id", "item_id", "customer_id")
HEADER_KEYS = ("warehouse_id", "location_id", "department_id", "class_id", "customer_id")
LINE_KEYS = ("warehouse_id", "location_id", "department_id", "class_id", "item_id")

_BRACKETS = re.compile(r"\[[^\]]*\]")


def validate_glob(pattern: str) -> str:
    """A usable glob (`*`, `?`, `[abc]`) or ValueError saying what is wrong with it."""
    if not pattern or pattern != pattern.strip():
        raise ValueError(f"pattern {pattern!r} is empty or has leading/trailing spaces: write it without them")
    rest = _BRACKETS.sub("", pattern)
    if "[" in rest or "]" in rest:
        raise ValueError(f"pattern {pattern!r} has an unbalanced '[' or ']': close the character class or remove it")
    return pattern


def glob_matches(pattern: str, value: str) -> bool:
    """Case-insensitive glob match (SKUs are compared without regard to case)."""
    return fnmatch.fnmatchcase(value.casefold(), pattern.casefold())


def _as_list(value: Any) -> Any:
    # A single string is accepted where a list is expected: "channel": "shopify".
    return [value] if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    value = _as_list(value)
    return [v.upper() if isinstance(v, str) else v for v in value] if isinstance(value, list) else value


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
_Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
_Glob = Annotated[str, BeforeValidator(lambda v: validate_glob(v) if isinstance(v, str) else v)]
_Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
_Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


_IdList = Annotated[tuple[_Id, ...], BeforeValidator(_as_list), Field(min_length=1)]
_TextList = Annotated[tuple[_Text, ...], BeforeValidator(_as_list), Field(min_length=1)]
_GlobList = Annotated[tuple[_Glob, ...], BeforeValidator(_as_list), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TotalRange(_Strict):
    min: Decimal | None = None
    max: Decimal | None = None

    @model_validator(mode="after")
    def _ordered(self) -> TotalRange:
        if self.min is None and self.max is None:
            raise ValueError("order_total needs min, max or both: add one or remove order_total")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"order_total min {self.min} is greater than max {self.max}: swap them")
        return self


class Conditions(_Strict):
    connection: _IdList | None = None
    channel: Annotated[tuple[Channel, ...], BeforeValidator(_as_list), Field(min_length=1)] | None = None
    shipping_country: Annotated[tuple[_Country, ...], BeforeValidator(_upper), Field(min_length=1)] | None = None
    shipping_region: _TextList | None = None
    sku: _GlobList | None = None
    tag: _TextList | None = None
    shipping_method: _TextList | None = None
    currency: Annotated[tuple[_Currency, ...], BeforeValidator(_upper), Field(min_length=1)] | None = None
    order_total: TotalRange | None = None


class Values(_Strict):
    warehouse_id: _Id | None = None
    location_id: _Id | None = None
    department_id: _Id | None = None
    class_id: _Id | None = None
    item_id: _Id | None = None
    customer_id: _Id | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k in _VALUE_KEYS if (v := getattr(self, k)) is not None}


class Rule(_Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    when: Conditions = Conditions()
    set: Values
    stop: bool = False

    @model_validator(mode="after")
    def _sensible(self) -> Rule:
        if not self.set.given():
            raise ValueError("`set` is empty: give at least one of " + ", ".join(_VALUE_KEYS) + " (or delete the rule)")
        if self.when.sku is not None and self.set.customer_id is not None:
            raise ValueError(
                "customer_id is an order-level value but this rule has an `sku` condition (per line): "
                "move customer_id to a rule without `sku`"
            )
        return self

    @property
    def line_level(self) -> bool:
        return self.when.sku is not None


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineValues:
    warehouse_id: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    class_id: str | None = None
    item_id: str | None = None


@dataclass(frozen=True)
class HeaderValues:
    warehouse_id: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    class_id: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class RuleTrace:
    """What one rule did for one order: `matched`, and `reason` (why, or which condition failed
    with the order's actual value). `applied` lists the order-level values it decided; `lines` the
    line ids an `sku` rule matched; `skipped` is True when an earlier `stop` rule ended evaluation."""

    index: int
    name: str
    matched: bool
    reason: str
    applied: dict[str, str] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    skipped: bool = False


@dataclass(frozen=True)
class RuleOutcome:
    header: HeaderValues = HeaderValues()
    lines: dict[str, LineValues] = field(default_factory=dict)
    trace: tuple[RuleTrace, ...] = ()

    def line(self, line_id: str) -> LineValues:
        """Values for a line; a line no rule touched gets the order-level dimensions."""
        found = self.lines.get(line_id)
        return found if found is not None else self.order_dims

    @property
    def order_dims(self) -> LineValues:
        """The order-level dimensions as line values (for shipping, discount and tax lines)."""
        h = self.header
        return LineValues(h.warehouse_id, h.location_id, h.department_id, h.class_id)

    @property
    def applied(self) -> tuple[RuleTrace, ...]:
        """The rules that matched and decided at least one value."""
        return tuple(t for t in self.trace if t.matched and (t.applied or t.lines))


EMPTY_OUTCOME = RuleOutcome()


def _fmt(values: Sequence[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _order_conditions(order: Order, when: Conditions) -> str | None:
    """None when every order-level condition holds, else why the first one fails."""
    if when.connection is not None and order.connection_id not in when.connection:
        return f"connection: order came through {order.connection_id!r}, rule wants one of {_fmt(when.connection)}"
    if when.channel is not None and order.channel not in when.channel:
        return f"channel: order is from {order.channel!r}, rule wants one of {_fmt(when.channel)}"
    if when.shipping_country is not None or when.shipping_region is not None:
        address = order.shipping_address or order.billing_address
        which = "shipping" if order.shipping_address is not None else "billing (no shipping address)"
        if when.shipping_country is not None:
            country = address.country_code if address else None
            if country is None:
                return (
                    f"shipping_country: order has no {which} country, rule wants one of {_fmt(when.shipping_country)}"
                )
            if country not in when.shipping_country:
                return (
                    f"shipping_country: {which} country is {country!r}, rule wants one of {_fmt(when.shipping_country)}"
                )
        if when.shipping_region is not None:
            region = address.region if address else None
            country = address.country_code if address else None
            if not region_matches(region, country, when.shipping_region):
                return f"shipping_region: {which} region is {region!r}, rule wants one of {_fmt(when.shipping_region)}"
    if when.tag is not None:
        wanted = {t.casefold() for t in when.tag}
        if not any(t.strip().casefold() in wanted for t in order.tags):
            return f"tag: order tags are {_fmt(order.tags)}, rule wants any of {_fmt(when.tag)}"
    if when.shipping_method is not None:
        wanted = {m.casefold() for m in when.shipping_method}
        methods = [m for s in order.shipping_lines for m in (s.title, s.code) if m]
        if not any(m.strip().casefold() in wanted for m in methods):
            return f"shipping_method: order ships by {_fmt(methods)}, rule wants any of {_fmt(when.shipping_method)}"
    if when.currency is not None and order.currency not in when.currency:
        return f"currency: order is in {order.currency}, rule wants one of {_fmt(when.currency)}"
    if when.order_total is not None:
        rng = when.order_total
        if rng.min is not None and order.total < rng.min:
            return f"order_total: {order.total} {order.currency} is below min {rng.min}"
        if rng.max is not None and order.total > rng.max:
            return f"order_total: {order.total} {order.currency} is above max {rng.max}"
    return None


def _sku_matches(line: OrderLine, patterns: Sequence[str]) -> bool:
    return line.sku is not None and any(glob_matches(p, line.sku) for p in patterns)


def evaluate(order: Order, rules: Sequence[Rule]) -> RuleOutcome:
    """Apply `rules` in order to `order`: header values, per-line values and a full trace.

    Pure and total: never raises for any order; a rule that does not match says why.
    """
    header: dict[str, str] = {}
    per_line: dict[str, dict[str, str]] = {line.line_id: {} for line in order.lines}
    stopped_lines: set[str] = set()
    trace: list[RuleTrace] = []
    stopped_at: str | None = None
    for index, rule in enumerate(rules):
        if stopped_at is not None:
            trace.append(RuleTrace(index, rule.name, False, f"not evaluated: {stopped_at} has stop", skipped=True))
            continue
        failed = _order_conditions(order, rule.when)
        if failed is not None:
            trace.append(RuleTrace(index, rule.name, False, failed))
            continue
        values = rule.set.given()
        if rule.when.sku is not None:
            patterns = rule.when.sku
            hit = [line for line in order.lines if _sku_matches(line, patterns)]
            if not hit:
                skus = [line.sku or "(none)" for line in order.lines]
                trace.append(
                    RuleTrace(index, rule.name, False, f"sku: no line's SKU {_fmt(skus)} matches {_fmt(patterns)}")
                )
                continue
            live = [line for line in hit if line.line_id not in stopped_lines]
            for line in live:
                target = per_line[line.line_id]
                for key, value in values.items():
                    target.setdefault(key, value)
                if rule.stop:
                    stopped_lines.add(line.line_id)
            reason = f"sku: {_fmt([line.sku or '' for line in hit])} match {_fmt(patterns)}"
            if len(live) < len(hit):
                reason += " (lines already stopped by an earlier rule keep their values)"
            trace.append(RuleTrace(index, rule.name, True, reason, lines=tuple(line.line_id for line in live)))
            continue
        applied: dict[str, str] = {}
        for key, value in values.items():
            if key in HEADER_KEYS and key not in header:
                header[key] = value
                applied[key] = value
        for line in order.lines:
            target = per_line[line.line_id]
            for key, value in values.items():
                if key in LINE_KEYS:
                    target.setdefault(key, value)
        already = [k for k in values if k in HEADER_KEYS and k not in applied]
        reason = "all conditions hold" if rule.when != Conditions() else "no conditions (matches every order)"
        if already:
            reason += f"; {', '.join(already)} already set by an earlier rule"
        trace.append(RuleTrace(index, rule.name, True, reason, applied=applied))
        if rule.stop:
            stopped_at = f"rule {index} {rule.name!r}"
    lines = {
        line_id: LineValues(
            warehouse_id=v.get("warehouse_id", header.get("warehouse_id")),
            location_id=v.get("location_id", header.get("location_id")),
            department_id=v.get("department_id", header.get("department_id")),
            class_id=v.get("class_id", header.get("class_id")),
            item_id=v.get("item_id"),
        )
        for line_id, v in per_line.items()
    }
    return RuleOutcome(
        header=HeaderValues(**{k: header.get(k) for k in HEADER_KEYS}),
        lines=lines,
        trace=tuple(trace),
    )
