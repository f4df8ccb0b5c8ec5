"""The canonical order: one shape for every channel.

Amount conventions (the same for every channel, so downstream code never branches on channel):

- `OrderLine.subtotal` is quantity x unit price before any discount, as the channel states it;
  `OrderLine.discount` and `ShippingLine.discount` are the discounts allocated to that line
  (totals for the line, not per unit).
- `Order.discounts` lists the order's discounts. A discount with `allocated=True` is already
  inside the line/shipping discounts (Shopify, WooCommerce coupons) and is informational; one with
  `allocated=False` (BigCommerce order-level discounts) still has to be subtracted once.
- When `taxes_included` is true, line and shipping amounts include tax and `tax` fields say how
  much of them is tax; otherwise tax is added on top.
- Amounts are exact channel values; rounding happens once, in `check_totals` and downstream.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from intacct_sync.models.money import (
    AMOUNT,
    MAX_INTEGER_DIGITS,
    MAX_PLACES,
    ZERO,
    CountryCode,
    CurrencyCode,
    Money,
    Quantity,
    UtcDatetime,
    amount,
    in_bounds,
    quantize_money,
)
from intacct_sync.models.text import DISALLOWED, FREE_TEXT_FIELDS, clean_text, first_disallowed

Channel = Literal["shopify", "woocommerce", "bigcommerce"]


class Frozen(BaseModel):
    """Base of every canonical model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    _text_fields: ClassVar[tuple[str, ...]] = ()
    """The fields that can hold text (str, tuple of str): the only ones the text check reads."""
    _amount_fields: ClassVar[tuple[str, ...]] = ()
    """The fields typed `Money` / `Quantity`."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        fields = cls.model_fields.items()
        cls._text_fields = tuple(name for name, f in fields if _holds_text(f.annotation))
        cls._amount_fields = tuple(name for name, f in fields if AMOUNT in f.metadata or _holds_amount(f.annotation))

    @model_validator(mode="before")
    @classmethod
    def _check_inputs(cls, data: Any) -> Any:
        """The models' input check, one call per model whatever path built it (webhook, poll,
        consumer), naming the offending field (`ctx["field"]`, read by the adapters' `build`):

        - amounts (`Money`, `Quantity`): `money.amount`, bounds-checked, never float;
        - text, the model-level guard of `intacct_sync.models.text`: no string SQS or Intacct
          cannot carry gets in. Free-text fields are cleaned; any other field is refused, because
          dropping a character would turn one identifier into another."""
        if not isinstance(data, dict):
            return data
        for name in cls._amount_fields:
            value = data.get(name)
            if value is None:
                continue
            if (
                type(value) is Decimal
                and value.is_finite()
                and (value.adjusted() < MAX_INTEGER_DIGITS or value.is_zero())
            ):
                # `in_bounds`, inline (every amount of every model): the places from the text.
                text = str(value)
                if "E" not in text:
                    dot = text.find(".")
                    if dot < 0 or len(text) - dot - 1 <= MAX_PLACES:
                        continue
                elif in_bounds(value):
                    continue
            try:
                checked = amount(value)
            except ValueError as exc:
                raise PydanticCustomError("amount", "{reason}", {"field": name, "reason": str(exc)}) from None
            if checked is not value:
                data = dict(data)
                data[name] = checked
        # Hot path: only the fields that can hold text, and nearly every string is printable ASCII,
        # which SQS and XML always carry (str methods in C, no regex). A string given to a field of
        # another type (date, enum, literal) must parse as that type, so it cannot smuggle such a
        # character in.
        for name in cls._text_fields:
            v = data.get(name)
            if v is None:
                continue
            if type(v) is str:
                if v.isascii() and v.isprintable():
                    continue
                break
            if isinstance(v, tuple | list) and not all(
                type(i) is not str or (i.isascii() and i.isprintable()) for i in v
            ):
                break
        else:
            return data
        cleaned: dict[str, Any] | None = None
        for name, value in data.items():
            if isinstance(value, str):
                if DISALLOWED.search(value) is None:
                    continue
                fixed: Any = _fix(name, value)
            elif isinstance(value, tuple | list) and any(
                isinstance(item, str) and DISALLOWED.search(item) for item in value
            ):
                fixed = type(value)(_fix(name, item) if isinstance(item, str) else item for item in value)
            else:
                continue
            cleaned = cleaned if cleaned is not None else dict(data)
            cleaned[name] = fixed
        return data if cleaned is None else cleaned


def _holds_text(annotation: Any) -> bool:
    """Whether a field of this type can hold a str (a Literal's values are fixed: no)."""
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Literal or origin is None:
        return False
    return any(_holds_text(arg) for arg in get_args(annotation) if arg is not Ellipsis)


def _holds_amount(annotation: Any) -> bool:
    """Whether this type is `Money`/`Quantity`, or a union with one (`Money | None`)."""
    origin = get_origin(annotation)
    if origin is None:
        return False
    args = get_args(annotation)
    return AMOUNT in args[1:] if origin is Annotated else any(_holds_amount(arg) for arg in args)


def _fix(name: str, value: str) -> str:
    if name in FREE_TEXT_FIELDS:
        return clean_text(value)
    raise PydanticCustomError(
        "unsafe_text",
        "contains {char}, which SQS and Intacct XML cannot carry: send the value as valid Unicode text",
        {"field": name, "char": first_disallowed(value) or "?"},
    )


class FinancialStatus(StrEnum):
    PENDING = "pending"
    AUTHORIZED = "authorized"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    UNKNOWN = "unknown"


class OrderStatus(StrEnum):
    OPEN = "open"  # placed (or awaiting payment) and not finished
    ON_HOLD = "on_hold"  # waiting on the merchant (bank transfer, manual review, dispute)
    COMPLETED = "completed"  # fulfilled / shipped / completed
    CLOSED = "closed"  # archived or fully refunded
    CANCELLED = "cancelled"
    FAILED = "failed"  # payment failed or declined
    ABANDONED = "abandoned"  # checkout draft / incomplete: never placed
    DELETED = "deleted"
    UNKNOWN = "unknown"


class Address(Frozen):
    name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    """State/province code where the channel gives one (Shopify, WooCommerce), else its name."""
    postal_code: str | None = None
    country_code: CountryCode | None = None
    phone: str | None = None
    email: str | None = None
    """The address's own e-mail where the channel gives one (WooCommerce billing, BigCommerce
    billing and shipping addresses); the order's e-mail is `Customer.email`."""


class Customer(Frozen):
    customer_id: str | None = None
    """The channel's customer id; None for guests."""
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    is_guest: bool


class OrderLine(Frozen):
    line_id: str
    kind: Literal["product", "fee", "gift_card", "tip", "duty"] = "product"
    """gift_card: a gift card sold (a liability, `items.gift_card_item_id`); tip and duty: money
    collected for the staff or the customs authority (`items.tip_item_id`, `items.duty_item_id`),
    inside the order total like the product lines."""
    sku: str | None = None
    name: str
    product_id: str | None = None
    variant_id: str | None = None
    quantity: Quantity
    unit_price: Money
    """Price of one unit before discounts (tax included when the order's `taxes_included`)."""
    subtotal: Money
    """quantity x unit price before discounts, as the channel states it (the figure to post)."""
    discount: Money = ZERO
    tax: Money = ZERO
    taxable: bool = True

    @property
    def net(self) -> Decimal:
        """Line amount after its discounts (exact, unrounded)."""
        return self.subtotal - self.discount


class ShippingLine(Frozen):
    title: str
    """Shipping method as shown to the customer."""
    code: str | None = None
    price: Money
    tax: Money = ZERO
    discount: Money = ZERO
    tax_lines: tuple[TaxLine, ...] = ()
    """The shipping's own tax per jurisdiction where the channel itemises it (Shopify
    `shipping_lines[].tax_lines[]`): a shipping refund that names no jurisdiction is credited by
    these rather than by the whole order's."""

    @property
    def net(self) -> Decimal:
        return self.price - self.discount


class Discount(Frozen):
    code: str | None = None
    title: str | None = None
    amount: Money
    kind: str | None = None
    """Channel's discount type (percentage, fixed_amount, coupon, manual, automatic...)."""
    allocated: bool = True
    """True when the amount is already inside line/shipping `discount` fields."""


class TaxLine(Frozen):
    """One tax jurisdiction of the order, as the channel itemises it (Shopify order `tax_lines[]`,
    WooCommerce `tax_lines[]`, BigCommerce `/orders/{id}/taxes` summed by name)."""

    title: str
    """The channel's name for the tax (Shopify `title`, WooCommerce `label`, BigCommerce `name`)."""
    code: str | None = None
    """The channel's code for it where it has one (WooCommerce `rate_code`, e.g. CA-BC-PST-1)."""
    rate: Decimal | None = None
    """As the channel states it (Shopify a fraction 0.05, WooCommerce a percentage 5); informational."""
    amount: Money
    """Tax of this jurisdiction on the whole order (lines and shipping), or on the whole refund
    in `Refund.tax_lines`."""


class TotalsCheck(Frozen):
    """Result of `Order.check_totals`: what the parts add up to next to what the channel says."""

    currency: CurrencyCode
    lines_net: Money
    shipping_net: Money
    unallocated_discounts: Money
    tax_added: Money
    expected_total: Money
    stated_total: Money
    difference: Money
    """stated - expected, both rounded to the currency's minor unit; zero when consistent."""
    tax_difference: Money
    """total_tax - (line taxes + shipping taxes), rounded; informational (some channels only
    report tax at order level)."""

    @property
    def ok(self) -> bool:
        return self.difference == 0


class Order(Frozen):
    connection_id: str
    channel: Channel
    order_id: str
    """The channel's stable id."""
    order_number: str
    """The number the merchant sees (Shopify name without '#', WooCommerce number, BigCommerce id)."""
    created_at: UtcDatetime
    processed_at: UtcDatetime | None = None
    """When the order was placed, if the channel distinguishes it from created_at (invoice date)."""
    updated_at: UtcDatetime
    currency: CurrencyCode
    """The currency of every amount of the order and of its invoice: the shop's (Shopify
    `currency`), the transactional one (BigCommerce `default_currency_code`)."""
    presentment_currency: CurrencyCode | None = None
    presentment_total: Money | None = None
    """What the customer saw and paid in, when the channel states it apart (Shopify
    `presentment_currency`, `total_price_set.presentment_money`): payments and refunds made in
    it are converted at the order's own rate (see `posting.currency`)."""
    customer: Customer
    billing_address: Address | None = None
    shipping_address: Address | None = None
    lines: tuple[OrderLine, ...]
    shipping_lines: tuple[ShippingLine, ...] = ()
    discounts: tuple[Discount, ...] = ()
    taxes_included: bool
    subtotal: Money
    """Lines after their discounts, before shipping and tax (as the channel states it)."""
    total_tax: Money
    total_shipping: Money
    total_discount: Money
    total: Money
    note: str | None = None
    tags: tuple[str, ...] = ()
    financial_status: FinancialStatus
    status: OrderStatus
    channel_status: str | None = None
    """The channel's own status string, for rules and messages."""
    cancelled_at: UtcDatetime | None = None
    placed: bool
    """Counts as a placed order (DESIGN §1): abandoned checkouts are not."""
    gateway: str | None = None
    test: bool = False
    tax_lines: tuple[TaxLine, ...] = ()
    """The order's tax per jurisdiction when the channel itemises it (their sum is about
    `total_tax`; the mapping splits the rounded `total_tax` by them)."""
    utc_offset_minutes: int | None = None
    """The UTC offset the channel stated the order's placed time in (Shopify `created_at`'s
    offset, WooCommerce `date_created` minus `date_created_gmt`, BigCommerce's RFC 2822 zone):
    the invoice is dated in it unless `invoice.timezone` is set. None when unknown."""

    def check_totals(self) -> TotalsCheck:
        """Add the parts up and compare with `total`, to the currency's minor unit.

        lines (after line discounts) + shipping (after shipping discounts) - unallocated
        order discounts + tax (only when not included) must equal total. Never raises: a
        mismatch is returned for the caller to report.
        """
        lines_net = sum((line.net for line in self.lines), ZERO)
        shipping_net = sum((s.net for s in self.shipping_lines), ZERO)
        unallocated = sum((d.amount for d in self.discounts if not d.allocated), ZERO)
        tax_added = ZERO if self.taxes_included else self.total_tax
        expected = quantize_money(lines_net + shipping_net - unallocated + tax_added, self.currency)
        stated = quantize_money(self.total, self.currency)
        parts_tax = sum((line.tax for line in self.lines), ZERO) + sum((s.tax for s in self.shipping_lines), ZERO)
        return TotalsCheck(
            currency=self.currency,
            lines_net=lines_net,
            shipping_net=shipping_net,
            unallocated_discounts=unallocated,
            tax_added=tax_added,
            expected_total=expected,
            stated_total=stated,
            difference=stated - expected,
            tax_difference=quantize_money(self.total_tax - parts_tax, self.currency),
        )


class Payment(Frozen):
    connection_id: str
    channel: Channel
    order_id: str
    payment_id: str
    """Unique per channel transaction (stable across redeliveries)."""
    kind: Literal["capture", "sale", "change"]
    """change: cash handed back to a customer who tendered more than was due (Shopify POS); it
    reduces the cash sale it belongs to and is never posted as a payment (`posting.cash_change`)."""
    amount: Money
    currency: CurrencyCode
    gateway: str | None = None
    reference: str | None = None
    """Gateway's transaction reference (authorization / charge id), if any."""
    processed_at: UtcDatetime | None = None
    test: bool = False


class RefundLine(Frozen):
    line_id: str
    """The order line refunded (OrderLine.line_id)."""
    sku: str | None = None
    quantity: Quantity
    amount: Money
    """Refunded amount for the line (tax included when the order's `taxes_included`, like the
    order's lines)."""
    tax: Money = ZERO
    restock: bool | None = None
    """Whether the channel put the units back on hand (Shopify `restock_type` other than
    `no_restock`); None when the channel does not say (WooCommerce's REST API): then
    `credit_memo.restock_unstated` decides."""


class Refund(Frozen):
    connection_id: str
    channel: Channel
    refund_id: str
    order_id: str
    amount: Money
    """Money returned to the customer (positive)."""
    currency: CurrencyCode
    lines: tuple[RefundLine, ...] = ()
    shipping_amount: Money = ZERO
    shipping_tax: Money = ZERO
    """Tax on the refunded shipping (Shopify `order_adjustments[].tax_amount`, WooCommerce refund
    `shipping_lines[].total_tax`): reversed on the tax subtotal, not as a discount."""
    tax_lines: tuple[TaxLine, ...] = ()
    """The refund's own tax per jurisdiction, as far as the channel itemises it (Shopify refund
    lines' share of their `line_item.tax_lines[]`, WooCommerce refund `taxes[]` by rate): the
    credit memo's tax subtotals follow them. Tax of the lines and shipping they do not cover
    (none at all when empty) is split like the order's (`Order.tax_lines`)."""
    reason: str | None = None
    processed_at: UtcDatetime | None = None
    test: bool = False
    """Made in the channel's test mode (Shopify refund transactions' `test`)."""
    detail_complete: bool = True
    """False when the channel payload only gave the total (WooCommerce order.refunds[]): lines
    and shipping split must be fetched before a line-level credit memo is built."""
    status: Literal["success", "pending", "failed"] = "success"
    """The outcome of the money's return (Shopify refund transactions' `status`): a pending
    refund waits for its outcome, a failed one is never credited."""


class Cancellation(Frozen):
    connection_id: str
    channel: Channel
    order_id: str
    cancelled_at: UtcDatetime | None = None
    reason: str | None = None
    evidence: Literal["order_state", "deletion_notice"] = "deletion_notice"
    """What says the order is gone. `order_state`: the order's own state says cancelled (a signed
    body or an API read of it). `deletion_notice`: only the delivery's topic header says so (an
    `orders/delete` / `order.deleted` body is just `{"id": …}`, and the topic is not signed), so the
    consumer confirms through the channel API before it deletes, closes or credits anything. The
    default is the cautious one: a message without the field is confirmed first."""


class OrderReference(Frozen):
    """An ID-only callback (BigCommerce): the consumer must fetch the order before acting."""

    connection_id: str
    channel: Channel
    order_id: str
    scope: str
    """The callback's scope / event type (e.g. store/order/statusUpdated)."""
    refund_id: str | None = None
    transaction_id: str | None = None
    previous_status_id: int | None = None
    new_status_id: int | None = None
    created_at: UtcDatetime | None = None
