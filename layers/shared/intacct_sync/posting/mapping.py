"""The field map: canonical orders, refunds and payments -> Intacct documents. Pure functions.

Each field carries the row of the connector guide's field map it implements ("Guide: Qty").

**Totals.** The invoice total as Intacct computes it (each line rounded to 2 places half-up:
quantity x price, then the subtotals; `intacct_total`) equals the channel's order total to the
cent, for tax-exclusive and tax-inclusive (VAT) orders and zero-decimal currencies:

1. Every part becomes an exact amount: product lines at their pre-discount amount, each line's
   discount as a negative discount line right after it (same dimensions), each shipping line
   (its discount as a discount line after it), each unallocated order-level discount as one
   discount line. Tax-inclusive orders post net amounts: a line's tax is taken out of the line
   and its discount in proportion (line net = amount after discount - line tax, exactly), tax the
   channel only reports at order level is spread over the lines by amount; the tax goes to the
   tax subtotal. Order-level discounts stay as stated (their tax effect is already in the taxes).
2. Each amount is rounded once, half up, to the places Intacct keeps for the currency
   (`intacct_places`: 2, or 0 for zero-decimal currencies such as JPY).
3. The channel total minus the rounded parts and tax leaves a residual of at most a few half
   units (sub-cent channel amounts, e.g. WooCommerce's 4-decimal taxes). It is added to the
   largest product line. A larger gap means the order does not add up: parked, or posted as an
   adjustment line (`invoice.total_mismatch`).
4. Each line's price is the amount divided by the quantity at the fewest decimals (from the
   currency's places up to 10) for which round_half_up(quantity x price, 2) gives the amount
   back exactly: 3 x 33.333 = 99.999 -> 100.00 (`price_for`). Intacct's Order Entry price
   precision must allow that many decimals for odd quantities.

Intacct keeps 2 decimal places, so an amount in a 3-decimal currency (KWD, BHD) that is not a
whole cent cannot be posted exactly: PermanentError rather than a silently different total.

**Dates.** The invoice date is the order's placed time (`processed_at`, else `created_at`) in the
time zone of `invoice.timezone` when it is set; by default (null) at the UTC offset the channel's
own timestamp carried (`Order.utc_offset_minutes`: the shop's or store's zone when the order was
placed), else UTC. Credit memo dates follow the same rule with the order's offset; receipt dates
with the offset the poster passes (`payment_for(utc_offset_minutes=...)`).

**Tax.** The tax is one subtotal (`items.tax_subtotal`) unless the channel itemises it per
jurisdiction (`Order.tax_lines`) and `items.tax_subtotals` maps a jurisdiction's title or code
to another subtotal: the rounded tax is then split over the jurisdictions by their amounts, each
share posted to its mapped subtotal (unmapped ones to `items.tax_subtotal`), so the subtotals
add up to the order's tax to the cent. Credit memos split their tax the same way, by the
refund's own jurisdictions where the channel itemises them (`Refund.tax_lines`: a GST-only
shipping refund credits GST only) and by the order's for the rest.

**Limits assumed** (Intacct does not document them; longer values are shortened with a hash so
they stay distinct): document number 45 characters, ARPYMT DOCNUMBER 30, line memo 400, message
1000, controlid 256 (documented).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, Literal
from zoneinfo import ZoneInfo

from intacct_sync.errors import ConfigurationError, PermanentError
from intacct_sync.intacct.documents import (
    ArPayment,
    PaymentApplication,
    SalesLine,
    SalesTransaction,
    SalesTransactionUpdate,
    Subtotal,
)
from intacct_sync.intacct.wire import MAX_CONTROLID
from intacct_sync.models.money import ZERO, minor_units, quantize_money
from intacct_sync.models.order import Order, OrderLine, Payment, Refund, RefundLine, TaxLine
from intacct_sync.models.text import clean_text
from intacct_sync.posting.contacts import OrderContacts, contacts_for
from intacct_sync.posting.rules import LineValues, RuleOutcome, evaluate, glob_matches
from intacct_sync.settings import ItemOverrides, ItemSettings, Numbering, Settings

INTACCT_DECIMALS: Final = 2
"""Places Intacct keeps on line amounts, subtotals and totals (the sandbox does the same)."""
PRICE_DECIMALS_MAX: Final = 10
DOCNO_MAX: Final = 45
PAYMENT_DOCNUMBER_MAX: Final = 30
MEMO_MAX: Final = 400
MESSAGE_MAX: Final = 1000


# --- money -----------------------------------------------------------------------------------


def intacct_places(currency: str) -> int:
    """Decimal places an amount in `currency` has in Intacct: the minor unit, at most 2."""
    return min(minor_units(currency), INTACCT_DECIMALS)


def _round(amount: Decimal, places: int) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _line_amount(line: SalesLine) -> Decimal:
    if line.price is None:
        raise ValueError(f"line {line.item_id} has no price (Intacct would use the item's base price)")
    amount = line.quantity * line.price
    if line.discount_percent:
        amount = amount * (Decimal(100) - line.discount_percent) / Decimal(100)
    return _round(amount, INTACCT_DECIMALS)


def intacct_total(txn: SalesTransaction) -> Decimal:
    """The TOTAL Intacct computes: each line's quantity x price (less discountpercent) rounded
    to 2 places half up, plus each subtotal rounded likewise. ValueError for a line without price."""
    total = sum((_line_amount(line) for line in txn.lines), ZERO)
    total += sum((_round(st.total, INTACCT_DECIMALS) for st in txn.subtotals), ZERO)
    return _round(total, INTACCT_DECIMALS)


def price_for(amount: Decimal, quantity: Decimal, currency: str) -> Decimal:
    """The unit price with the fewest decimals (at least the currency's Intacct places) for which
    round_half_up(quantity x price, 2) == amount. `amount` must already be rounded to the
    currency's Intacct places; ValueError when no price of at most 10 decimals does it."""
    if quantity <= 0:
        raise ValueError("price_for needs a positive quantity")
    for places in range(intacct_places(currency), PRICE_DECIMALS_MAX + 1):
        price = _round(amount / quantity, places)
        if _round(quantity * price, INTACCT_DECIMALS) == amount:
            return price
    raise ValueError(f"no price of at most {PRICE_DECIMALS_MAX} decimals gives {amount} for quantity {quantity}")


# --- identifiers -----------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9_.:#-]")


def _short_hash(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def _bounded(text: str, limit: int) -> str:
    """`text`, or its head + '~' + a hash of the whole when longer than `limit` (stays distinct)."""
    if len(text) <= limit:
        return text
    digest = _short_hash(text)
    return text[: limit - len(digest) - 1] + "~" + digest


def _controlid(*parts: str) -> str:
    raw = "-".join(parts)
    safe = _SAFE.sub("_", raw)
    if safe != raw:  # keep ids that only differ in replaced characters apart
        safe += "~" + _short_hash(raw)
    return _bounded(safe, MAX_CONTROLID)


def invoice_controlid(order: Order) -> str:
    """controlid of the invoice create: one per order, whatever is retried."""
    return _controlid("so", order.connection_id, order.order_id)


def update_version(update: SalesTransactionUpdate) -> str:
    """A digest of an update's content: equal updates share it, different ones do not."""
    return _short_hash(repr(update), 16)


def invoice_update_controlid(
    order: Order, update: SalesTransactionUpdate, sequence: int = 0, document: str | None = None
) -> str:
    """controlid of an invoice update: the `sequence`-th update (the ledger's count of applied
    updates) of invoice `document` with this content. A retry of the same update repeats it
    (Intacct refuses it as already executed: it ran); a later update back to an earlier content
    (A -> B -> A), or the same change to a re-opened order's new invoice, gets a new one, so it is
    never mistaken for the first."""
    parts = [order.connection_id, order.order_id, str(sequence), update_version(update)]
    if document:
        parts.append(_short_hash(document))
    return _controlid("so-upd", *parts)


def invoice_delete_controlid(order: Order) -> str:
    return _controlid("so-del", order.connection_id, order.order_id)


def invoice_close_controlid(order: Order) -> str:
    return _controlid("so-close", order.connection_id, order.order_id)


def credit_controlid(refund: Refund) -> str:
    return _controlid("cm", refund.connection_id, refund.order_id, refund.refund_id)


def cancellation_controlid(order: Order) -> str:
    return _controlid("cm-cancel", order.connection_id, order.order_id)


def payment_controlid(payment: Payment) -> str:
    return _controlid("pay", payment.connection_id, payment.order_id, payment.payment_id)


def customer_controlid(customer_id: str) -> str:
    return _controlid("cust", customer_id)


def _document_no(numbering: Numbering, connection_id: str, base: str) -> str | None:
    """prefix + base as an Intacct <documentno>. Order numbers with characters XML cannot carry
    are refused at intake (400 naming order.order_number); should one arrive anyway (an event
    queued before that rule), the characters are dropped and a hash of the original appended, so
    two numbers that differ only in such characters never share a document number."""
    if numbering.mode == "intacct":
        return None
    text = numbering.prefix_for(connection_id) + base
    cleaned = clean_text(text)
    if cleaned != text:  # surrogatepass: the original may hold lone surrogates
        cleaned += "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return _bounded(cleaned, DOCNO_MAX)


def invoice_document_no(order: Order, settings: Settings) -> str | None:
    """Guide: Invoice Number = order number (with prefix), or None for Intacct's numbering."""
    return _document_no(settings.invoice.numbering, order.connection_id, order.order_number)


def credit_document_no(refund: Refund, order: Order, settings: Settings) -> str | None:
    return _document_no(settings.credit_memo.numbering, order.connection_id, f"{order.order_number}-{refund.refund_id}")


def cancellation_document_no(order: Order, settings: Settings) -> str | None:
    return _document_no(settings.credit_memo.numbering, order.connection_id, f"{order.order_number}-CANCEL")


def payment_document_number(payment: Payment) -> str:
    """Guide: payment reference = the channel's payment id (at most 30 characters, hashed beyond)."""
    return _bounded(payment.payment_id, PAYMENT_DOCNUMBER_MAX)


# --- dates -----------------------------------------------------------------------------------


def local_date(moment: datetime, settings: Settings, utc_offset_minutes: int | None = None) -> date:
    """`moment` (UTC) as a calendar date in `invoice.timezone`; when that is null, at
    `utc_offset_minutes` (the offset the channel stated the time in), else in UTC."""
    if settings.invoice.timezone is not None:
        return moment.astimezone(ZoneInfo(settings.invoice.timezone)).date()
    if utc_offset_minutes is not None:
        return moment.astimezone(timezone(timedelta(minutes=utc_offset_minutes))).date()
    return moment.astimezone(UTC).date()


def order_date(order: Order, settings: Settings) -> date:
    """Guide: Date of Issue = order date (placed time in the zone it was placed in, or the
    configured `invoice.timezone`)."""
    return local_date(order.processed_at or order.created_at, settings, order.utc_offset_minutes)


# --- items -----------------------------------------------------------------------------------


def _override(order: Order, settings: Settings, name: str) -> str | None:
    for o in settings.item_overrides(order.connection_id, order.channel):
        value = getattr(o, name)
        if value is not None:
            return str(value)
    value = getattr(settings.items, name)
    return None if value is None else str(value)


def _service_item(order: Order, settings: Settings, name: str) -> str:
    value = _override(order, settings, name)
    if value is None:
        raise ConfigurationError(
            f"items.{name} is not set but order {order.order_number} needs it.",
            fix=f"Set items.{name} to an Intacct item ID (a non-inventory item).",
        )
    return value


_SPECIAL_ITEMS: Final = {"gift_card": "gift_card_item_id", "tip": "tip_item_id", "duty": "duty_item_id"}


def item_for_sku(sku: str | None, kind: str, order: Order, settings: Settings, *, name: str = "") -> str:
    """Guide: Item ID = product SKU, through the item settings: per-connection/channel overrides
    then global `sku_map` (exact) and `sku_patterns` (glob, in order), else the SKU itself;
    a fee without SKU takes `fee_item_id`; any other line without SKU follows `items.no_sku`."""
    if special := _SPECIAL_ITEMS.get(kind):  # gift cards sold, tips, duties: never revenue by SKU
        return _service_item(order, settings, special)
    sources: list[ItemOverrides | ItemSettings] = [
        *settings.item_overrides(order.connection_id, order.channel),
        settings.items,
    ]
    cleaned = sku.strip() if sku else ""
    if cleaned:
        for o in sources:
            if cleaned in o.sku_map:
                return o.sku_map[cleaned]
        for o in sources:
            for p in o.sku_patterns:
                if glob_matches(p.pattern, cleaned):
                    return p.item_id
        return cleaned
    if kind == "fee" and (fee := _override(order, settings, "fee_item_id")):
        return fee
    if settings.items.no_sku == "fallback":
        return _service_item(order, settings, "fallback_item_id")
    raise PermanentError(
        f"Line {name!r} of order {order.order_number} has no SKU, so it has no Intacct item.",
        fix='Give the product a SKU in the channel, or set items.no_sku to "fallback" with '
        "items.fallback_item_id (or an item_id rule) and replay the order.",
    )


def unit_for(line: OrderLine, settings: Settings) -> str | None:
    """Unit of measure (the guide: "not mapped, but it can be added"): `units.by_sku`, else the default."""
    if line.kind in ("fee", "tip", "duty"):
        return None
    if line.sku:
        for p in settings.units.by_sku:
            if glob_matches(p.pattern, line.sku.strip()):
                return p.unit
    return settings.units.default


# --- building lines --------------------------------------------------------------------------

PartKind = Literal["product", "discount", "shipping", "order_discount", "adjustment"]


@dataclass(frozen=True)
class _Part:
    kind: PartKind
    item_id: str
    quantity: Decimal
    amount: Decimal
    """Exact amount to post (rounded in `_lines`)."""
    dims: LineValues
    memo: str | None = None
    item_desc: str | None = None
    unit: str | None = None


def _memo(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= MEMO_MAX else text[: MEMO_MAX - 1] + "…"


def _dims(values: LineValues, *, warehouse: bool) -> LineValues:
    return values if warehouse else replace(values, warehouse_id=None, item_id=None)


def _net_split(gross: Decimal, discount: Decimal, tax: Decimal, places: int) -> tuple[Decimal, Decimal]:
    """Tax-inclusive line -> (net amount before discount, net discount), rounded, summing to the
    rounded net after discount exactly. The tax is taken out of amount and discount pro rata."""
    after = gross - discount
    net_after = _round(after - tax, places)
    net_before = _round(gross * (after - tax) / after, places) if after != 0 else _round(gross, places)
    return net_before, net_after - net_before


def _allocate(total: Decimal, weights: Sequence[Decimal], places: int) -> list[Decimal]:
    """Split `total` by `weights` at `places`; the last share takes the rounding remainder."""
    if not weights:
        return []
    base = sum(weights, ZERO)
    if base == 0:
        return [total] + [ZERO] * (len(weights) - 1)
    shares = [_round(total * w / base, places) for w in weights[:-1]]
    return [*shares, total - sum(shares, ZERO)]


def _order_parts(order: Order, settings: Settings, outcome: RuleOutcome) -> list[_Part]:
    """Every line of the invoice as an exact amount, in document order."""
    places = intacct_places(order.currency)
    inclusive = order.taxes_included
    header = outcome.order_dims
    discount_item = _service_item(order, settings, "discount_item_id")
    shipping_item = _service_item(order, settings, "shipping_item_id")

    taxes = [line.tax for line in order.lines] + [s.tax for s in order.shipping_lines]
    if inclusive:
        # Tax the channel reports only at order level is spread over the lines by amount.
        unexplained = order.total_tax - sum(taxes, ZERO)
        if unexplained:
            weights = [line.net for line in order.lines] + [s.net for s in order.shipping_lines]
            extra = _allocate(unexplained, weights, places + 4)
            taxes = [t + e for t, e in zip(taxes, extra, strict=True)]

    parts: list[_Part] = []
    for line, tax in zip(order.lines, taxes, strict=False):
        if line.quantity < 0:
            raise PermanentError(
                f"Line {line.name!r} of order {order.order_number} has a negative quantity {line.quantity}.",
                fix="Intacct invoice lines take quantities of 0 or more: correct the order in the channel.",
            )
        if line.quantity == 0 and line.subtotal == 0 and line.discount == 0:
            continue  # removed from the order (an edit): nothing to invoice
        values = outcome.line(line.line_id)
        item_id = values.item_id or item_for_sku(line.sku, line.kind, order, settings, name=line.name)
        if inclusive:
            amount, discount = _net_split(line.subtotal, line.discount, tax, places)
        else:
            amount, discount = line.subtotal, -line.discount
        label = line.name + (f" (SKU {line.sku})" if line.sku and line.sku.strip() != item_id else "")
        # Guide: Item ID, Qty, Price (unit price), Warehouse, Location, Unit of measure.
        parts.append(
            _Part("product", item_id, line.quantity, amount, _dims(values, warehouse=True), _memo(label), None,
                  unit_for(line, settings))
        )  # fmt: skip
        if discount:
            # Guide: Discount -> a separate line item (one per discounted line, same dimensions).
            parts.append(
                _Part("discount", discount_item, Decimal(1), discount, _dims(values, warehouse=False),
                      _memo(f"Discount on {label}"))
            )  # fmt: skip
    for shipping, tax in zip(order.shipping_lines, taxes[len(order.lines) :], strict=True):
        if inclusive:
            amount, discount = _net_split(shipping.price, shipping.discount, tax, places)
        else:
            amount, discount = shipping.price, -shipping.discount
        # Guide: Shipping paid / Shipping method -> a separate line item carrying the method.
        method = shipping.title + (f" ({shipping.code})" if shipping.code and shipping.code != shipping.title else "")
        parts.append(
            _Part("shipping", shipping_item, Decimal(1), amount, _dims(header, warehouse=False), _memo(method),
                  _memo(shipping.title))
        )  # fmt: skip
        if discount:
            parts.append(
                _Part("discount", discount_item, Decimal(1), discount, _dims(header, warehouse=False),
                      _memo(f"Shipping discount ({shipping.title})"))
            )  # fmt: skip
    for d in order.discounts:
        if d.allocated or not d.amount:
            continue
        # Guide: Discount -> order-level discounts the channel did not spread over the lines.
        parts.append(
            _Part("order_discount", discount_item, Decimal(1), -d.amount, _dims(header, warehouse=False),
                  _memo("Order discount " + (d.code or d.title or "")))
        )  # fmt: skip
    return parts


def _target(amount: Decimal, currency: str, what: str) -> Decimal:
    """`amount` at the currency's minor unit, refused when Intacct's 2 places cannot hold it."""
    exact = quantize_money(amount, currency)
    places = intacct_places(currency)
    if _round(exact, places) != exact:
        raise PermanentError(
            f"{what} is {exact} {currency}: Intacct keeps {places} decimal places, so it cannot be posted to the "
            f"{Decimal(1).scaleb(-minor_units(currency))}.",
            fix="Post this document by hand in Intacct (rounded as finance decides) and mark it synced.",
        )
    return _round(exact, places)


def _balance(
    parts: list[_Part],
    tax: Decimal,
    target: Decimal,
    places: int,
    *,
    what: str,
    adjust_item: str | None,
    adjust_dims: LineValues,
    mismatch: Literal["reject", "adjust"],
) -> list[_Part]:
    """Round every part; put the residual against `target` on the largest product line (a few
    half units at most) or, beyond that, on an adjustment line / PermanentError."""
    rounded = [replace(p, amount=_round(p.amount, places)) for p in parts]
    residual = target - sum((p.amount for p in rounded), ZERO) - tax
    if not residual:
        return rounded
    half_unit = Decimal(5).scaleb(-(places + 1))
    tolerance = half_unit * (len(parts) + 2)
    candidates = [i for i, p in enumerate(rounded) if p.kind == "product" and p.quantity > 0] or [
        i for i, p in enumerate(rounded) if p.quantity > 0
    ]
    if abs(residual) <= tolerance and candidates:
        i = max(candidates, key=lambda k: abs(rounded[k].amount))
        rounded[i] = replace(rounded[i], amount=rounded[i].amount + residual)
        return rounded
    if mismatch == "adjust" and adjust_item is not None:
        note = f"Adjustment to the channel total ({residual:+})"
        return [*rounded, _Part("adjustment", adjust_item, Decimal(1), residual, adjust_dims, note)]
    parts_total = target - residual
    raise PermanentError(
        f"{what}: its lines, shipping, discounts and tax add up to {parts_total} but its total is {target}.",
        fix="Check the order in the channel (fees or gift cards the sync cannot see?), or set "
        'invoice.total_mismatch to "adjust" with items.adjustment_item_id to post the difference as a line.',
    )


def _lines(parts: Sequence[_Part], currency: str, what: str) -> list[SalesLine]:
    lines = []
    for p in parts:
        if p.quantity == 0:
            if p.amount != 0:
                raise PermanentError(
                    f"{what}: a line of {p.item_id} has quantity 0 but an amount of {p.amount}.",
                    fix="Correct the quantity in the channel and resend the order.",
                )
            price = ZERO
        else:
            price = price_for(p.amount, p.quantity, currency)
        d = p.dims
        lines.append(
            SalesLine(
                item_id=p.item_id,
                quantity=p.quantity,
                item_desc=p.item_desc,
                warehouse_id=d.warehouse_id,
                unit=p.unit,
                price=price,
                location_id=d.location_id,
                department_id=d.department_id,
                memo=p.memo,
                class_id=d.class_id,
            )
        )
    return lines


def tax_subtotal_for(tax: TaxLine, settings: Settings) -> str:
    """The subtotal description a jurisdiction posts to: `items.tax_subtotals` by title, then by
    code (case-insensitive), else `items.tax_subtotal`."""
    wanted = {k.strip().casefold(): v for k, v in settings.items.tax_subtotals.items()}
    for key in (tax.title, tax.code):
        if key and (found := wanted.get(key.strip().casefold())):
            return found
    return settings.items.tax_subtotal


def _tax_subtotals(
    amount: Decimal,
    settings: Settings,
    header: LineValues,
    jurisdictions: Sequence[TaxLine] = (),
    places: int = INTACCT_DECIMALS,
) -> list[Subtotal]:
    """Guide: Tax amount -> the tax subtotal(s) of the transaction definition: `amount` (already
    rounded) split over the jurisdictions by their amounts, one subtotal per mapped description,
    in the order first met; the shares add up to `amount` exactly."""
    if not amount:
        return []
    shares: dict[str, Decimal] = {}
    weighted = [j for j in jurisdictions if j.amount]
    if weighted and settings.items.tax_subtotals:
        for j, share in zip(weighted, _allocate(amount, [j.amount for j in weighted], places), strict=True):
            description = tax_subtotal_for(j, settings)
            shares[description] = shares.get(description, ZERO) + share
    else:
        shares[settings.items.tax_subtotal] = amount
    return [
        Subtotal(
            description=description,
            total=total,
            location_id=header.location_id,
            department_id=header.department_id,
            class_id=header.class_id,
        )
        for description, total in shares.items()
        if total
    ]


@dataclass(frozen=True)
class _Body:
    lines: list[SalesLine]
    subtotals: list[Subtotal]


def _order_body(order: Order, settings: Settings, outcome: RuleOutcome) -> _Body:
    places = intacct_places(order.currency)
    what = f"Order {order.order_number}"
    target = _target(order.total, order.currency, f"{what}'s total")
    tax = _round(quantize_money(order.total_tax, order.currency), places)
    header = outcome.order_dims
    parts = _balance(
        _order_parts(order, settings, outcome),
        tax,
        target,
        places,
        what=what,
        adjust_item=_override(order, settings, "adjustment_item_id"),
        adjust_dims=_dims(header, warehouse=False),
        mismatch=settings.invoice.total_mismatch,
    )
    return _Body(_lines(parts, order.currency, what), _tax_subtotals(tax, settings, header, order.tax_lines, places))


# --- header ----------------------------------------------------------------------------------


def _message(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    text = text.strip()
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def _shipping_method(order: Order, settings: Settings) -> str | None:
    wanted = {k.strip().casefold(): v for k, v in settings.invoice.shipping_methods.items()}
    for s in order.shipping_lines:
        for name in (s.title, s.code):
            if name and (found := wanted.get(name.strip().casefold())):
                return found
    return None


def _due(issued: date, settings: Settings) -> tuple[str | None, date | None]:
    """Guide: Due Date: the payment term when set, else issue date + due_days."""
    if settings.invoice.term_name is not None:
        return settings.invoice.term_name, None
    return None, issued + timedelta(days=settings.invoice.due_days or 0)


def _outcome(order: Order, settings: Settings, outcome: RuleOutcome | None) -> RuleOutcome:
    return outcome if outcome is not None else evaluate(order, settings.rules)


def document_contacts(order: Order, settings: Settings) -> OrderContacts:
    """The bill-to / ship-to contacts documents for `order` name (create them first, see
    `posting.contacts`); none under `invoice.addresses = "customer"`."""
    if settings.invoice.addresses == "customer":
        return OrderContacts(bill_to=None, ship_to=None)
    return contacts_for(order)


def _parties(order: Order, settings: Settings, contact_name: str | None) -> tuple[str | None, str | None]:
    """Guide: Customer address (billing and shipping) and Customer phone and email, as the
    (ship-to, bill-to) contact names: the order's own addresses; `contact_name` (the customer's
    contact) or Intacct's default only where the order has no address."""
    found = document_contacts(order, settings)
    ship = found.ship_to.contact_name if found.ship_to else None
    bill = found.bill_to.contact_name if found.bill_to else None
    return ship or contact_name, bill or contact_name


def invoice_for(
    order: Order,
    settings: Settings,
    *,
    customer_id: str,
    outcome: RuleOutcome | None = None,
    contact_name: str | None = None,
) -> SalesTransaction:
    """The Sales Invoice (or `invoice.transaction_definition`) for `order`.

    `customer_id` is the matched/created customer; a rule's customer_id wins over it.
    Bill-to and ship-to are the order's own addresses as contacts (`document_contacts`: create
    them before the invoice); `contact_name` (the customer's contact, `NAME(CCUSTOMERID)`) or
    Intacct's default (the customer's own contacts, when None) stands in only where the order
    has no address, or under `invoice.addresses = "customer"`. `outcome` defaults to evaluating `settings.rules`.
    Raises PermanentError for what a person must fix (no SKU, amounts that do not add up).
    """
    outcome = _outcome(order, settings, outcome)
    body = _order_body(order, settings, outcome)
    issued = order_date(order, settings)
    term, due = _due(issued, settings)
    ship_to, bill_to = _parties(order, settings, contact_name)
    return SalesTransaction(
        transaction_type=settings.invoice.transaction_definition,
        date_created=issued,  # Guide: Date of Issue = order date
        customer_id=outcome.header.customer_id or customer_id,  # Guide: Billed to
        lines=body.lines,
        document_no=invoice_document_no(order, settings),  # Guide: Invoice Number
        reference_no=order.order_number,  # Guide: Reference = order number
        term_name=term,  # Guide: Due Date
        date_due=due,
        message=_message(order.note) if settings.invoice.message_from_note else None,  # Guide: Note
        shipping_method=_shipping_method(order, settings),
        ship_to=ship_to,  # Guide: Customer address (billing and shipping), phone and email
        bill_to=bill_to,
        currency=order.currency,  # empty exchratetype: Intacct Daily Rate
        state=settings.invoice.state,
        subtotals=body.subtotals,  # Guide: Tax amount
    )


def invoice_update_for(
    order: Order,
    previous: SalesTransaction | None,
    settings: Settings,
    *,
    customer_id: str,
    outcome: RuleOutcome | None = None,
    contact_name: str | None = None,
    previous_line_count: int | None = None,
) -> SalesTransactionUpdate:
    """`update_sotransaction` content turning the invoice into `order`'s current state.

    Approach: line i of the new invoice replaces line i (line_num i, 1-based; unchanged lines are
    left out when `previous` is given), extra new lines are added, and surplus old lines are set
    to quantity 0 and price 0 (the XML API cannot delete a line). Subtotals the new invoice lacks
    are set to 0. Header: date, reference, due, message, shipping method, contacts. The customer
    and document number cannot change through an update. Give `previous` (the invoice as last
    sent) or `previous_line_count` (SODOCUMENTENTRIES read back); ValueError without either.
    """
    new = invoice_for(order, settings, customer_id=customer_id, outcome=outcome, contact_name=contact_name)
    count = len(previous.lines) if previous is not None else previous_line_count
    if count is None:
        raise ValueError("invoice_update_for needs the previous invoice or its line count")
    updates: dict[int, SalesLine] = {}
    for i, line in enumerate(new.lines[:count]):
        if previous is None or previous.lines[i] != line:
            updates[i + 1] = line
    for i in range(len(new.lines), count):
        old = previous.lines[i] if previous is not None else None
        updates[i + 1] = SalesLine(
            item_id=old.item_id if old else _service_item(order, settings, "discount_item_id"),
            quantity=ZERO,
            warehouse_id=old.warehouse_id if old else None,
            price=ZERO,
            memo="Removed: no longer on the order",
        )
    subtotals = list(new.subtotals)
    present = {s.description for s in subtotals}
    gone = (
        {s.description for s in previous.subtotals}
        if previous is not None
        else {settings.items.tax_subtotal, *settings.items.tax_subtotals.values()}
    )
    subtotals += [Subtotal(description=d, total=ZERO) for d in sorted(gone - present)]
    return SalesTransactionUpdate(
        date_created=new.date_created,
        reference_no=new.reference_no,
        term_name=new.term_name,
        date_due=new.date_due,
        message=new.message,
        shipping_method=new.shipping_method,
        ship_to=new.ship_to,
        bill_to=new.bill_to,
        line_updates=updates,
        new_lines=new.lines[count:],
        subtotals=subtotals,
    )


def invoice_close_update() -> SalesTransactionUpdate:
    """A cancelled unpaid order under `cancellation.unpaid = "close"`: state Closed."""
    return SalesTransactionUpdate(state="Closed")


# --- credit memos ----------------------------------------------------------------------------


def credit_memo_for(
    refund: Refund,
    order: Order,
    settings: Settings,
    *,
    customer_id: str,
    outcome: RuleOutcome | None = None,
    contact_name: str | None = None,
) -> SalesTransaction:
    """Credit memo (`credit_memo.transaction_definition`) for a refund; totals `refund.amount`.

    Refunded lines (same item and dimensions as on the invoice, the refunded quantity), the
    refunded shipping as a shipping line, the refund lines' tax as the tax subtotal, and what the
    channel did not itemise (or the whole amount, for an amount-only refund or one whose detail
    is incomplete) as one adjustment line (`items.adjustment_item_id`). In a tax-inclusive order,
    refund line amounts are taken as tax-inclusive like the order's lines.
    """
    outcome = _outcome(order, settings, outcome)
    currency = order.currency
    places = intacct_places(currency)
    what = f"Refund {refund.refund_id} of order {order.order_number}"
    target = _target(refund.amount, currency, what)
    header = _dims(outcome.order_dims, warehouse=False)
    by_id = {line.line_id: line for line in order.lines}
    parts: list[_Part] = []
    tax = ZERO
    itemised = refund.detail_complete and (refund.lines or refund.shipping_amount)
    if itemised:
        for rl in refund.lines:
            if rl.quantity <= 0:
                continue  # an amount without units: left to the adjustment line
            line = by_id.get(rl.line_id)
            values = outcome.line(rl.line_id)  # order-level dimensions for a line not on the order
            item_id = values.item_id or item_for_sku(
                rl.sku or (line.sku if line else None), line.kind if line else "product", order, settings,
                name=line.name if line else rl.line_id,
            )  # fmt: skip
            amount = rl.amount - rl.tax if order.taxes_included else rl.amount
            memo = (line.name if line else (rl.sku or rl.line_id)) + " (refunded)"
            unit = unit_for(line, settings) if line else settings.units.default
            dims = _dims(values, warehouse=True)
            if not _restocked(rl, settings):  # the product's own item would put the units back on hand
                item_id, dims, unit = _no_restock_item(order, settings), _dims(values, warehouse=False), None
                memo = f"{memo[: -len(' (refunded)')]} (refunded, not restocked: {rl.sku or item_id})"
            parts.append(_Part("product", item_id, rl.quantity, amount, dims, _memo(memo), None, unit))
            tax += rl.tax
        if refund.shipping_amount:
            parts.append(
                _Part("shipping", _service_item(order, settings, "shipping_item_id"), Decimal(1),
                      refund.shipping_amount, header, "Shipping refunded")
            )  # fmt: skip
        tax += refund.shipping_tax  # reversed on the tax subtotal, not left to the adjustment line
    jurisdictions = _refund_jurisdictions(refund, order, tax, places)
    tax = _round(quantize_money(tax, currency), places)
    if tax > target:
        tax = ZERO  # the channel's line taxes exceed the money returned: leave it to the adjustment
    rounded = [replace(p, amount=_round(p.amount, places)) for p in parts]
    rest = target - sum((p.amount for p in rounded), ZERO) - tax
    if rest or not rounded:
        adjust = _override(order, settings, "adjustment_item_id")
        if adjust is None:
            raise ConfigurationError(
                f"{what} is not itemised (or not fully), so it needs an adjustment line.",
                fix="Set items.adjustment_item_id to a non-inventory Intacct item for refund adjustments.",
            )
        note = "Refund not itemised by the channel" + (f": {refund.reason}" if refund.reason else "")
        rounded.append(_Part("adjustment", adjust, Decimal(1), rest, header, _memo(note)))
    moment = refund.processed_at or order.updated_at
    ship_to, bill_to = _parties(order, settings, contact_name)
    return SalesTransaction(
        transaction_type=settings.credit_memo.transaction_definition,
        date_created=local_date(moment, settings, order.utc_offset_minutes),
        customer_id=outcome.header.customer_id or customer_id,
        lines=_lines(rounded, currency, what),
        document_no=credit_document_no(refund, order, settings),
        reference_no=order.order_number,
        term_name=None,
        date_due=local_date(moment, settings, order.utc_offset_minutes),
        message=_message(refund.reason),
        ship_to=ship_to,
        bill_to=bill_to,
        currency=currency,
        subtotals=_tax_subtotals(tax, settings, header, jurisdictions, places),
    )


def _refund_jurisdictions(refund: Refund, order: Order, tax: Decimal, places: int) -> list[TaxLine]:
    """What a credit memo's tax (`tax`: the refund's line and shipping tax, exact) is split by:
    the refund's own jurisdictions (`Refund.tax_lines`), and for the tax they leave uncovered
    (all of it when the refund does not itemise), the order's in proportion. A remainder under
    half a unit at `places` is the channels' sub-cent rounding, not tax of another jurisdiction."""
    own = [j for j in refund.tax_lines if j.amount]
    rest = tax - sum((j.amount for j in own), ZERO)
    if own and _round(rest, places) <= 0:
        return own
    # Shipping tax the refund does not itemise (Shopify `order_adjustments`) follows the order's
    # shipping jurisdictions where it names them (shipping is often taxed by fewer of them).
    shipping = [j for s in order.shipping_lines for j in s.tax_lines if j.amount]
    ship_tax = min(refund.shipping_tax, rest) if shipping and refund.shipping_tax > 0 else ZERO
    if ship_tax > 0:
        ship_base = sum((j.amount for j in shipping), ZERO)
        own += [j.model_copy(update={"amount": ship_tax * j.amount / ship_base}) for j in shipping]
        rest -= ship_tax
        if _round(rest, places) <= 0:
            return own
    weighted = [j for j in order.tax_lines if j.amount]
    if not own:
        return weighted
    base = sum((j.amount for j in weighted), ZERO)
    if not base:  # the order names no jurisdiction: the rest goes to items.tax_subtotal
        return [*own, TaxLine(title="", amount=rest)]
    return [*own, *(j.model_copy(update={"amount": rest * j.amount / base}) for j in weighted)]


def _restocked(line: RefundLine, settings: Settings) -> bool:
    """Whether the channel put the refunded units back on hand (`credit_memo.restock_unstated`
    when it does not say)."""
    return settings.credit_memo.restock_unstated if line.restock is None else line.restock


def _no_restock_item(order: Order, settings: Settings) -> str:
    """The non-inventory item that credits units the channel did not restock: a line on the
    product's own (inventory) item would put them back on hand in Intacct."""
    item = _override(order, settings, "no_restock_item_id") or _override(order, settings, "adjustment_item_id")
    if item is None:
        raise ConfigurationError(
            f"Order {order.order_number} has refunded units the channel did not restock.",
            fix="Set items.no_restock_item_id (or items.adjustment_item_id) to a non-inventory Intacct item.",
        )
    return item


def cancellation_credit_for(
    order: Order,
    settings: Settings,
    *,
    customer_id: str,
    outcome: RuleOutcome | None = None,
    contact_name: str | None = None,
) -> SalesTransaction:
    """A full credit memo for a cancelled PAID order: the invoice's lines and tax, dated on the
    cancellation, numbered `<prefix><order number>-CANCEL`; its total equals the order total."""
    outcome = _outcome(order, settings, outcome)
    body = _order_body(order, settings, outcome)
    when = local_date(order.cancelled_at or order.updated_at, settings, order.utc_offset_minutes)
    ship_to, bill_to = _parties(order, settings, contact_name)
    return SalesTransaction(
        transaction_type=settings.credit_memo.transaction_definition,
        date_created=when,
        customer_id=outcome.header.customer_id or customer_id,
        lines=body.lines,
        document_no=cancellation_document_no(order, settings),
        reference_no=order.order_number,
        date_due=when,
        message=f"Order {order.order_number} cancelled",
        ship_to=ship_to,
        bill_to=bill_to,
        currency=order.currency,
        subtotals=body.subtotals,
    )


def additional_invoice_for(
    order: Order,
    amount: Decimal,
    tax: Decimal,
    settings: Settings,
    *,
    customer_id: str,
    sequence: int,
    contact_name: str | None = None,
) -> SalesTransaction:
    """What a paid order gained when it was edited afterwards: an invoice of `amount` (tax
    included) numbered `<invoice number>-A<sequence>`, its `tax` share on the tax subtotals like
    the order's, the rest on one `items.adjustment_item_id` line. (A paid invoice cannot be
    updated: its AR record carries the payment.)"""
    outcome = _outcome(order, settings, None)
    currency = order.currency
    places = intacct_places(currency)
    what = f"Addition {sequence} to order {order.order_number}"
    target = _target(amount, currency, what)
    tax = _round(quantize_money(tax, currency), places) if ZERO < tax < target else ZERO
    header = _dims(outcome.order_dims, warehouse=False)
    item = _override(order, settings, "adjustment_item_id")
    if item is None:
        raise ConfigurationError(
            f"{what}: the order was edited after it was paid and its total grew by {target} {currency}; "
            "that amount needs an adjustment line on an additional invoice.",
            fix="Set items.adjustment_item_id to a non-inventory Intacct item (or invoice.after_payment to "
            '"leave" to change such invoices by hand), then replay.',
        )
    part = _Part("adjustment", item, Decimal(1), target - tax, header, _memo(f"Added to order {order.order_number}"))
    issued = local_date(order.updated_at, settings, order.utc_offset_minutes)
    term, due = _due(issued, settings)
    ship_to, bill_to = _parties(order, settings, contact_name)
    number = invoice_document_no(order, settings)
    return SalesTransaction(
        transaction_type=settings.invoice.transaction_definition,
        date_created=issued,
        customer_id=outcome.header.customer_id or customer_id,
        lines=_lines([part], currency, what),
        document_no=f"{number}-A{sequence}" if number else None,
        reference_no=order.order_number,
        term_name=term,
        date_due=due,
        message=f"Order {order.order_number} changed after payment",
        ship_to=ship_to,
        bill_to=bill_to,
        currency=currency,
        state=settings.invoice.state,
        subtotals=_tax_subtotals(tax, settings, header, order.tax_lines, places),
    )


def additional_invoice_controlid(order: Order, sequence: int) -> str:
    return _controlid("so-add", order.connection_id, order.order_id, str(sequence))


# --- payments --------------------------------------------------------------------------------


def payment_for(
    payment: Payment,
    order_customer_id: str,
    settings: Settings,
    *,
    record_key: str,
    order_number: str | None = None,
    received_on: date | None = None,
    utc_offset_minutes: int | None = None,
) -> ArPayment:
    """ARPYMT applying `payment` to the invoice's AR record `record_key` (SODOCUMENT.PRRECORDKEY,
    read again after any invoice update).

    Guide: Payment amount, Payment date (the payment's processed time in `invoice.timezone`, or
    at `utc_offset_minutes` (pass the order's) when that is null, else `received_on`), Payment
    method (+ bank account or undeposited funds account) from `payments.gateways` by gateway
    name, else `payments.default`. DOCNUMBER is the channel's
    payment id; the description carries it in full with the gateway reference.
    """
    method = settings.payments.for_gateway(payment.gateway)
    if payment.processed_at is not None:
        received = local_date(payment.processed_at, settings, utc_offset_minutes)
    elif received_on is not None:
        received = received_on
    else:
        raise ValueError("payment has no processed_at: pass received_on")
    amount = _target(payment.amount, payment.currency, f"Payment {payment.payment_id}")
    bits = [f"{payment.channel} payment {payment.payment_id}"]
    if payment.gateway:
        bits.append(f"via {payment.gateway}")
    if payment.reference:
        bits.append(f"ref {payment.reference}")
    if order_number:
        bits.append(f"for order {order_number}")
    return ArPayment(
        customer_id=order_customer_id,
        payment_method=method.payment_method,
        receipt_date=received,
        currency=payment.currency,
        applications=[PaymentApplication(record_key=record_key, amount=amount)],
        financial_entity=method.bank_account_id,
        undeposited_account=method.undeposited_account,
        document_number=payment_document_number(payment),
        description=_message(" ".join(bits)),
    )


# --- refunds paid out (posting.payout) ---------------------------------------------------------


def debit_memo_controlid(refund: Refund) -> str:
    """controlid of a refund's payout debit memo (`create_aradjustment`): one per refund."""
    return _controlid("dm", refund.connection_id, refund.order_id, refund.refund_id)


def payout_controlid(refund: Refund) -> str:
    """controlid of the ARPYMT applying a refund's credit memo to its payout debit memo."""
    return _controlid("payout", refund.connection_id, refund.order_id, refund.refund_id)


def bounded_reference(text: str, limit: int) -> str:
    """`text` as an Intacct reference of at most `limit` characters (cut with a digest of the
    whole, so two long references stay distinct)."""
    return _bounded(clean_text(text), limit)
