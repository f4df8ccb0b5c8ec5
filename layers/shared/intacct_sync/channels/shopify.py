"""Shopify webhooks -> canonical events.

Body: the REST resource of the topic, unwrapped, in shop money (`currency`); presentment-currency
twins (`*_set.presentment_money`) are ignored. Timestamps carry offsets.

Topics: orders/create, orders/updated, orders/paid, orders/cancelled, orders/fulfilled,
orders/partially_fulfilled -> Order (+ Cancellation when `cancelled_at`, + one Refund per
`refunds[]`); orders/delete -> Cancellation; refunds/create -> Refund;
order_transactions/create -> Payment when kind is capture/sale and status success. Any other
topic is accepted and yields nothing. Payments come only from transactions: order payloads carry
no transaction ids, so subscribe order_transactions/create.

Dedup key (`event_id`):
- delivered events: shopify:<connection>:<kind>:<topic>:<X-Shopify-Event-Id>, falling back to
  X-Shopify-Webhook-Id, then to <order id>@<updated_at>. The docs disagree on which header is the
  dedup key (channels.md §1.1, unsure); Event-Id is stable across retries *and* across duplicate
  subscriptions, so it is preferred; `ShopifyAdapter.spec.event_id_headers` holds the order.
  The topic is part of the key in case one event id spans several topics.
- derived events use the business identity, so every delivery that carries them dedups to one:
  payment -> transaction id, refund -> refund id, cancellation -> order id; so do deletions
  (orders/delete -> order id), which the consumer confirms through the API before acting.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

from intacct_sync.channels.base import (
    AddressFields,
    ChannelAdapter,
    ChannelSpec,
    Headers,
    Node,
    TaxShare,
    address_from,
    as_object,
    build,
    code_text,
    event_id,
    is_placed,
    load_json_object,
    plain_text,
    tax_lines_from,
    tax_lines_summed,
)
from intacct_sync.channels.errors import InvalidPayload
from intacct_sync.channels.signatures import verify_hmac
from intacct_sync.models.checked import construct_trusted
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import (
    CancellationEvent,
    CanonicalEvent,
    OrderEvent,
    PaymentEvent,
    RefundEvent,
)
from intacct_sync.models.money import MAX_INTEGER_DIGITS, ZERO, in_bounds, to_decimal
from intacct_sync.models.order import (
    Address,
    Cancellation,
    Customer,
    Discount,
    FinancialStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    Refund,
    RefundLine,
    ShippingLine,
    TaxLine,
)
from intacct_sync.models.text import DISALLOWED

CHANNEL: Final = "shopify"
_ORDER, _DELETE, _REFUND, _TRANSACTION = "order", "order_delete", "refund", "transaction"

SPEC: Final = ChannelSpec(
    channel=CHANNEL,
    # The "Events" product sends the same headers without the X- prefix.
    signature_headers=("x-shopify-hmac-sha256", "shopify-hmac-sha256"),
    digest_encoding="base64",
    topic_headers=("x-shopify-topic", "shopify-topic"),
    event_id_headers=(
        "x-shopify-event-id",
        "shopify-event-id",
        "x-shopify-webhook-id",
        "shopify-webhook-id",
    ),
    delivery_id_headers=("x-shopify-webhook-id", "shopify-webhook-id"),
    topics={
        "orders/create": _ORDER,
        "orders/updated": _ORDER,
        "orders/paid": _ORDER,
        "orders/cancelled": _ORDER,
        "orders/fulfilled": _ORDER,
        "orders/partially_fulfilled": _ORDER,
        "orders/delete": _DELETE,
        "refunds/create": _REFUND,
        "order_transactions/create": _TRANSACTION,
    },
    retry_seconds=4 * 3600,  # 8 tries over 4 hours (reference/channels.md)
)

_TRIGGERED_AT: Final = ("x-shopify-triggered-at", "shopify-triggered-at")
_FINANCIAL: Final = {status.value: status for status in FinancialStatus}


class ShopifyAdapter(ChannelAdapter):
    spec = SPEC

    def verify_signature(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        connection: Connection,
        *,
        now: float | None = None,
    ) -> None:
        """HMAC of the raw body with `webhook_secret` (or `previous_webhook_secret`). A connection
        of a Dev Dashboard app may leave `webhook_secret` out: Shopify signs that app's webhooks
        with its client secret, so `client_secret` is the key then (`Connection.signing_secrets`)."""
        verify_hmac(
            raw_body,
            Headers(headers).first(SPEC.signature_headers),
            [secret.get_secret_value().encode("utf-8") for secret in connection.signing_secrets],
            encoding=SPEC.digest_encoding,
            header_name=SPEC.signature_headers[0],
        )

    def parse(self, headers: Mapping[str, str], raw_body: bytes, connection: Connection) -> list[CanonicalEvent]:
        """Turn one Shopify delivery into canonical events; raises InvalidPayload."""
        hdrs = Headers(headers)
        topic = self.topic(hdrs)
        kind = SPEC.topics.get(topic)
        if kind is None:
            return []
        body = load_json_object(raw_body, "body")
        ctx = _Delivery(
            connection=connection,
            topic=topic,
            key=hdrs.first(SPEC.event_id_headers),
            delivery_id=hdrs.first(SPEC.delivery_id_headers),
            occurred_at=_lenient_datetime(hdrs.first(_TRIGGERED_AT)),
        )
        if kind == _ORDER:
            return _order_events(Node(body, "order"), ctx)
        if kind == _DELETE:
            return _deleted(Node(body, "order"), ctx)
        if kind == _REFUND:
            # The topic is not signed: only a body that is a Refund may credit anything (a
            # transaction body re-sent as refunds/create would otherwise read as a 0.00 refund).
            if not isinstance(body.get("refund_line_items"), list) and not isinstance(body.get("transactions"), list):
                raise InvalidPayload("not a Refund: refund_line_items or transactions required", path="refund")
            refund = _refund(Node(body, "refund"), connection, order_currency=None)
            return [_refund_event(refund, ctx)]
        return _transaction(Node(body, "transaction"), ctx)


class _Delivery:
    __slots__ = ("connection", "delivery_id", "key", "occurred_at", "topic")

    def __init__(
        self,
        *,
        connection: Connection,
        topic: str,
        key: str | None,
        delivery_id: str | None,
        occurred_at: datetime | None,
    ) -> None:
        self.connection = connection
        self.topic = topic
        self.key = key
        self.delivery_id = delivery_id
        self.occurred_at = occurred_at

    def envelope(self, kind: str, business_key: str | None, fallback: str) -> dict[str, Any]:
        """Envelope fields; `business_key` (derived events) wins over the delivery's event id."""
        conn = self.connection.id
        if business_key is not None:
            eid = event_id(CHANNEL, conn, kind, business_key)
        else:
            eid = event_id(CHANNEL, conn, kind, self.topic, self.key or fallback)
        return {
            "event_id": eid,
            "connection_id": conn,
            "channel": CHANNEL,
            "topic": self.topic,
            "occurred_at": self.occurred_at,
            "delivery_id": self.delivery_id,
        }


def _lenient_datetime(value: str | None) -> datetime | None:
    # X-Shopify-Triggered-At is informational; a malformed one must not reject the delivery.
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# ---------------------------------------------------------------------------------------------
# Orders


def _order_events(n: Node, ctx: _Delivery) -> list[CanonicalEvent]:
    order = _order(n, ctx.connection)
    fallback = f"{order.order_id}@{order.updated_at.isoformat()}"
    events: list[CanonicalEvent] = [
        build(
            OrderEvent,
            "event",
            **ctx.envelope("order", None, fallback),
            updated_at=order.updated_at,
            payload=order,
        )
    ]
    if order.cancelled_at is not None:
        cancellation = build(
            Cancellation,
            n.path,
            connection_id=order.connection_id,
            channel=CHANNEL,
            order_id=order.order_id,
            cancelled_at=order.cancelled_at,
            reason=n.text("cancel_reason"),
            evidence="order_state",
        )
        events.append(
            build(
                CancellationEvent,
                "event",
                **ctx.envelope("cancellation", order.order_id, fallback),
                updated_at=order.updated_at,
                payload=cancellation,
            )
        )
    for refund_node in n.objects("refunds"):
        refund = _refund(refund_node, ctx.connection, order_currency=order.currency)
        events.append(_refund_event(refund, ctx))
    return events


def order_from_json(order_json: object, connection: Connection) -> Order:
    """A Shopify REST order (webhook body, or the `order` of a REST GET, decoded) -> Order.

    For the reconcile poll; raises InvalidPayload naming the field.
    """
    return _order(as_object(order_json, "order"), connection)


def _order(n: Node, connection: Connection) -> Order:
    order_id = n.id("id")
    currency = (n.required_text("currency")).upper()
    created_at = n.date_time("created_at")
    customer_node = n.obj("customer")
    billing = _address(n.obj("billing_address"))
    shipping = _address(n.obj("shipping_address"))

    refunded = _refunded_quantities(n)
    allocated = _Allocated()
    lines = _with_tips(n, tuple(_line(item, refunded, allocated) for item in n.objects("line_items")))
    lines += _duties(n, lines)
    shipping_lines = tuple(_shipping_line(item) for item in n.objects("shipping_lines"))
    discounts = _discounts(n, allocated)

    financial = _FINANCIAL.get(n.text("financial_status") or "", FinancialStatus.UNKNOWN)
    cancelled_at = n.opt_date_time("cancelled_at")
    if cancelled_at is not None:
        status = OrderStatus.CANCELLED
    elif n.has("closed_at"):
        status = OrderStatus.CLOSED
    elif n.text("fulfillment_status") == "fulfilled":
        status = OrderStatus.COMPLETED
    else:
        status = OrderStatus.OPEN

    total_shipping = _set_amount(n.obj("total_shipping_price_set"))
    if total_shipping is None:
        total_shipping = sum((s.price for s in shipping_lines), ZERO)
    name = n.text("name")
    order_number = name.lstrip("#") if name else None

    return build(
        Order,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        order_id=order_id,
        order_number=order_number or n.text("order_number") or order_id,
        created_at=created_at,
        processed_at=n.opt_date_time("processed_at"),
        updated_at=n.opt_date_time("updated_at") or created_at,
        currency=currency,
        presentment_currency=(n.text("presentment_currency") or currency).upper(),
        presentment_total=_set_amount(n.obj("total_price_set"), "presentment_money"),
        customer=_customer(n, customer_node, billing, shipping),
        billing_address=billing,
        shipping_address=shipping,
        lines=lines,
        shipping_lines=shipping_lines,
        discounts=discounts,
        taxes_included=n.flag("taxes_included"),
        subtotal=n.decimal("subtotal_price")
        if n.get("subtotal_price") not in (None, "")
        else sum((x.net for x in lines), ZERO),
        total_tax=n.opt_decimal("total_tax"),
        total_shipping=total_shipping,
        total_discount=n.opt_decimal("total_discounts"),
        total=n.decimal("total_price"),
        note=n.free_text("note"),
        tags=tuple(tag.strip() for tag in (n.text("tags") or "").split(",") if tag.strip()),
        financial_status=financial,
        status=status,
        channel_status=n.text("financial_status"),
        cancelled_at=cancelled_at,
        placed=is_placed(n.text("financial_status"), connection, lambda _status: True),
        gateway=_gateway(n),
        test=n.flag("test"),
        tax_lines=_jurisdictions(n),
        # The placed time's own offset: Shopify writes times in the shop's time zone.
        utc_offset_minutes=n.utc_offset_minutes("processed_at" if n.get("processed_at") else "created_at"),
    )


def _jurisdictions(n: Node) -> tuple[TaxLine, ...]:
    """The order's `tax_lines[]` (one per tax title and rate, summed over lines and shipping);
    when a payload lacks them, the lines' and shipping lines' own `tax_lines[]`."""
    found = tax_lines_from(n.objects("tax_lines"), title="title", rate="rate", amounts=("price",))
    if found:
        return found
    parts = [*n.objects("line_items"), *n.objects("shipping_lines")]
    return tax_lines_from(
        [t for part in parts for t in part.objects("tax_lines")], title="title", rate="rate", amounts=("price",)
    )


def _set_amount(money_set: Node | None, which: str = "shop_money") -> Decimal | None:
    if money_set is None:
        return None
    shop = money_set.obj(which)
    return None if shop is None else shop.decimal("amount")


ADDRESS = AddressFields(
    line1="address1",
    line2="address2",
    postal_code="zip",
    country="country_code",
    regions=("province_code", "province"),
    full_name="name",
)


def _address(n: Node | None) -> Address | None:
    return address_from(n, ADDRESS)


def _customer(n: Node, customer: Node | None, billing: Address | None, shipping: Address | None) -> Customer:
    # Protected customer data may be redacted (null): fall back field by field.
    contact = billing or shipping
    first = customer.text("first_name") if customer else None
    last = customer.text("last_name") if customer else None
    if first is None and last is None and contact is not None and contact.name:
        first, _, rest = contact.name.partition(" ")
        last = rest or None
    default_address = customer.obj("default_address") if customer else None
    return build(
        Customer,
        f"{n.path}.customer",
        customer_id=customer.opt_id("id") if customer else None,
        email=(customer.text("email") if customer else None) or n.text("email") or n.text("contact_email"),
        first_name=first,
        last_name=last,
        company=(contact.company if contact else None)
        or (default_address.text("company") if default_address else None),
        phone=(customer.text("phone") if customer else None) or n.text("phone") or (contact.phone if contact else None),
        is_guest=customer is None,
    )


def _allocations(n: Node) -> Decimal:
    return n.total("discount_allocations", "amount")


def _tax_lines(n: Node) -> Decimal:
    return n.total("tax_lines", "price")


def _refunded_quantities(n: Node) -> dict[str, Decimal]:
    """Units of each line in the order's refunds (credited by their own credit memos)."""
    units: dict[str, Decimal] = {}
    for refund in n.objects("refunds"):
        for item in refund.objects("refund_line_items"):
            line_id = item.id("line_item_id")
            units[line_id] = units.get(line_id, ZERO) + item.opt_decimal("quantity")
    return units


class _Allocated:
    """The line items' discount allocations by application index, summed while `_line` reads
    them (so `_discounts` does not parse them again); `ok` false once one was not read that way."""

    __slots__ = ("amounts", "ok")

    def __init__(self) -> None:
        self.amounts: dict[int, Decimal] = {}
        self.ok = True

    def line(self, allocations: object) -> Decimal | None:
        """The sum of one line's `discount_allocations[].amount` in the usual shape (what
        `Node.total` gives), its amounts added by index; None for anything else."""
        if type(allocations) is not list:
            self.ok = False
            return None
        total = ZERO
        found: list[tuple[int, Decimal]] = []
        for allocation in allocations:
            value = allocation.get("amount") if type(allocation) is dict else None
            if type(value) is not str and type(value) is not int:
                self.ok = False
                return None
            try:
                amount = to_decimal(value)
            except ValueError:
                self.ok = False
                return None
            total += amount
            index = allocation.get("discount_application_index")
            if index is not None:
                if type(index) is not int:
                    self.ok = False
                    return None
                found.append((index, amount))
        amounts = self.amounts
        for index, amount in found:
            amounts[index] = amounts.get(index, ZERO) + amount
        return total


def _line(n: Node, refunded: Mapping[str, Decimal], allocated: _Allocated | None = None) -> OrderLine:
    """The line as the order now stands: `current_quantity` (REST 2024-01+, after removals by
    order edits) plus the units refunded, which stay on the invoice and are credited by the
    refund's credit memo. Removed units leave the invoice with their share of the line's
    discount and tax."""
    raw = n.raw
    # Each read below takes the usual JSON shape straight and leaves anything else to the Node
    # getter, which reads it the same way or names the field at fault (same order of checks).
    line_id = str(value) if type(value := raw.get("id")) is int else n.id("id")
    quantity_json: Any = raw.get("quantity")
    whole = type(quantity_json) is int and 0 <= quantity_json < _SMALL
    ordered = Decimal(quantity_json) if whole else n.decimal("quantity")
    quantity = ordered
    current = raw.get("current_quantity")
    # The usual line, untouched since it was ordered, needs no second parse: min() would give `ordered`.
    if current is not None and not (type(current) is int and current == quantity_json and line_id not in refunded):
        quantity = min(ordered, n.decimal("current_quantity") + refunded.get(line_id, ZERO))
    try:
        price = to_decimal(raw.get("price"))
    except (ValueError, TypeError):
        price = n.decimal("price")  # raises, naming the field
    allocations = raw.get("discount_allocations")
    if allocations is None:
        discount = n.opt_decimal("total_discount")
    else:
        read = allocated.line(allocations) if allocated is not None and allocated.ok else None
        discount = read if read is not None else _allocations(n)
    tax = _summed(raw.get("tax_lines"), "price")
    if tax is None:
        tax = _tax_lines(n)
    if quantity != ordered:
        share = quantity / ordered if ordered else ZERO
        discount, tax = discount * share, tax * share
    gift_card = raw.get("gift_card")
    taxable = raw.get("taxable")
    fields = {
        "line_id": line_id,
        "kind": "gift_card" if (gift_card if type(gift_card) is bool else n.flag("gift_card")) else "product",
        "sku": code_text(raw.get("sku")) or n.text("sku"),
        "name": plain_text(raw.get("name")) or n.text("name") or n.text("title") or "(no title)",
        "product_id": str(value) if type(value := raw.get("product_id")) is int and value else n.opt_id("product_id"),
        "variant_id": str(value) if type(value := raw.get("variant_id")) is int and value else n.opt_id("variant_id"),
        "quantity": quantity,
        "unit_price": price,
        "subtotal": price * quantity,
        "discount": discount,
        "tax": tax,
        "taxable": taxable if type(taxable) is bool else n.flag("taxable", True),
    }
    line = _line_model(fields, ordered, whole=whole)
    return line if line is not None else build(OrderLine, n, **fields)


def _line_model(fields: dict[str, Any], ordered: Decimal, *, whole: bool) -> OrderLine | None:
    """The OrderLine of `_line`'s fields without validation, or None to leave them to `build`.

    What `_line` read is already as the model holds it: ids are printable text (`Node.id`, or an
    integer written out), the SKU passed the code rule (`Node.text`), the ordered quantity and the
    price are bounded Decimals (`to_decimal`), the flags booleans, `kind` one of its values. Only
    what is computed or may still need cleaning is checked here, as the model would: the amounts
    (`in_bounds`) and the name (free text: a character SQS/XML cannot carry is for validation to
    drop). When the quantity is the ordered one, the discount and the tax are sums of bounded
    amounts (`Node.total`, `to_decimal`): at most 12 decimal places, as exact Decimal sums (or
    sums rounded to fewer places) of such amounts are, so only their size is left to check; so is
    the subtotal's, the price times a whole quantity (`whole`). `tests/unit/
    test_intake_serialisation.py` holds this to validation's result."""
    name = fields["name"]
    quantity = fields["quantity"]
    subtotal, discount, tax = fields["subtotal"], fields["discount"], fields["tax"]
    sums = quantity is ordered
    if (
        (sums or in_bounds(quantity))
        and (
            (subtotal.adjusted() < MAX_INTEGER_DIGITS or subtotal.is_zero()) if sums and whole else in_bounds(subtotal)
        )
        and (
            (discount.adjusted() < MAX_INTEGER_DIGITS or discount.is_zero())
            and (tax.adjusted() < MAX_INTEGER_DIGITS or tax.is_zero())
            if sums
            else in_bounds(discount) and in_bounds(tax)
        )
        and ((name.isascii() and name.isprintable()) or DISALLOWED.search(name) is None)
    ):
        return construct_trusted(OrderLine, fields)
    return None


def _summed(items: object, field: str) -> Decimal | None:
    """`Node.total` of the usual shape (a list of objects whose `field` is text or an integer
    `to_decimal` reads; none: 0); None for anything else, for `Node.total` to read."""
    if items is None:
        return ZERO
    if type(items) is not list:
        return None
    total = ZERO
    for item in items:
        value = item.get(field) if type(item) is dict else None
        if type(value) is not str and type(value) is not int:
            return None
        try:
            total += to_decimal(value)
        except ValueError:
            return None
    return total


_SMALL: Final = 10**15
"""Integers below this are exact amounts as they are (`to_decimal`'s bounds)."""


def _with_tips(n: Node, lines: tuple[OrderLine, ...]) -> tuple[OrderLine, ...]:
    """Tips (`total_tip_received`, inside `total_price`) as lines of kind "tip": the line items
    that carry them when the order has such (no product, titled "Tip", adding up to the tip),
    else one line of the whole tip. Whether Shopify lists a tip as a line item is unsure."""
    tip = n.opt_decimal("total_tip_received")
    if not tip:
        return lines
    carriers = [i for i, line in enumerate(lines) if _is_tip_line(line)]
    if carriers and sum((lines[i].net for i in carriers), ZERO) == tip:
        return tuple(line.model_copy(update={"kind": "tip"}) if i in carriers else line for i, line in enumerate(lines))
    return (*lines, _charge_line(f"{n.path}.total_tip_received", "tip", "tip", "Tip", tip))


def _is_tip_line(line: OrderLine) -> bool:
    return line.product_id is None and line.variant_id is None and line.name.strip().casefold() == "tip"


def _duties(n: Node, lines: tuple[OrderLine, ...]) -> tuple[OrderLine, ...]:
    """Import duties (inside `total_price`) as lines of kind "duty": one per `line_items[].duties[]`
    entry (shop money: `price_set.shop_money`, else `shop_money`), for lines still on the order;
    when no line itemises them, one line of `current_total_duties_set` (else the original)."""
    on_order: dict[str, OrderLine] | None = None
    found: list[OrderLine] = []
    for item in n.objects("line_items"):
        if item.raw.get("duties") in (None, []):  # nearly every line: nothing to read
            continue
        if on_order is None:
            on_order = {line.line_id: line for line in lines if line.quantity > 0}
        line = on_order.get(item.id("id")) if item.has("id") else None
        if line is None:
            continue
        for duty in item.objects("duties"):
            amount = _set_amount(duty.obj("price_set"))
            if amount is None:
                amount = _set_amount(duty)  # REST: shop_money / presentment_money on the duty itself
            if not amount:
                continue
            code = duty.text("harmonized_system_code")
            found.append(
                _charge_line(
                    duty.path,
                    f"{line.line_id}:duty:{duty.text('id') or len(found)}",
                    "duty",
                    f"Duties on {line.name}" + (f" (HS {code})" if code else ""),
                    amount,
                    tax=_tax_lines(duty),
                )
            )
    if found:
        return tuple(found)
    total = _set_amount(n.obj("current_total_duties_set"))
    if total is None:
        total = _set_amount(n.obj("original_total_duties_set"))
    if not total:
        return ()
    return (_charge_line(f"{n.path}.current_total_duties_set", "duties", "duty", "Duties", total),)


def _charge_line(
    path: str, line_id: str, kind: Literal["tip", "duty"], name: str, amount: Decimal, *, tax: Decimal = ZERO
) -> OrderLine:
    """One untaxed line of a charge that is not a product (a tip, duties)."""
    return build(
        OrderLine,
        path,
        line_id=line_id,
        kind=kind,
        name=name,
        quantity=Decimal(1),
        unit_price=amount,
        subtotal=amount,
        tax=tax,
        taxable=False,
    )


def _shipping_line(n: Node) -> ShippingLine:
    return build(
        ShippingLine,
        n.path,
        title=n.text("title") or n.text("code") or "Shipping",
        code=n.text("code"),
        price=n.decimal("price"),
        tax=_tax_lines(n),
        discount=_allocations(n),
        tax_lines=tax_lines_from(n.objects("tax_lines"), title="title", rate="rate", amounts=("price",)),
    )


def _allocated(items: list[Node], amounts: dict[int, Decimal] | None = None) -> dict[int, Decimal] | None:
    """The allocations' amounts by discount application index (added to `amounts`), read
    straight from the JSON in the usual shape (integer indexes, amounts `to_decimal` reads); None
    for anything else."""
    amounts = {} if amounts is None else amounts
    for item in items:
        allocations = item.raw.get("discount_allocations")
        if allocations is None:
            continue
        if type(allocations) is not list:
            return None
        for allocation in allocations:
            if type(allocation) is not dict:
                return None
            index = allocation.get("discount_application_index")
            if index is None:
                continue
            if type(index) is not int:
                return None
            try:
                value = to_decimal(allocation.get("amount"))
            except (ValueError, TypeError):
                return None
            amounts[index] = amounts.get(index, ZERO) + value
    return amounts


def _discounts(n: Node, lines: _Allocated | None = None) -> tuple[Discount, ...]:
    """One Discount per discount application, its amount summed from the allocations (lines and
    shipping); when a payload has no allocations, the discount_codes list instead."""
    applications = n.objects("discount_applications")
    items = [*n.objects("line_items"), *n.objects("shipping_lines")]
    if lines is not None and lines.ok:  # the line items' were summed as `_line` read them
        amounts = _allocated(n.objects("shipping_lines"), dict(lines.amounts))
    else:
        amounts = _allocated(items)
    if amounts is None:  # something unusual: the field-by-field reading names the field at fault
        amounts = {}
        for item in items:
            for allocation in item.objects("discount_allocations"):
                index = allocation.opt_int("discount_application_index")
                if index is not None:
                    amounts[index] = amounts.get(index, ZERO) + allocation.decimal("amount")
    if applications and amounts:
        result = []
        for index, app in enumerate(applications):
            app_type = app.text("type")
            result.append(
                build(
                    Discount,
                    app.path,
                    code=app.text("code") if app_type == "discount_code" else None,
                    title=app.text("title") or app.text("description"),
                    amount=amounts.get(index, ZERO),
                    kind=app_type,
                    allocated=True,
                )
            )
        return tuple(result)
    return tuple(
        build(
            Discount,
            code.path,
            code=code.text("code"),
            amount=code.opt_decimal("amount"),
            kind=code.text("type"),
            allocated=True,
        )
        for code in n.objects("discount_codes")
    )


def _gateway(n: Node) -> str | None:
    names = n.get("payment_gateway_names")
    if isinstance(names, list):
        for name in names:
            if isinstance(name, str) and name.strip():
                return name.strip()[:255]
    return n.text("gateway", max_len=255)


def _deleted(n: Node, ctx: _Delivery) -> list[CanonicalEvent]:
    """orders/delete: only the (unsigned) topic says the order is gone, so the Cancellation is a
    `deletion_notice` the consumer confirms through the API. One per order, whatever the id
    headers say: a replay with a fresh X-Shopify-Webhook-Id is a duplicate."""
    order_id = n.id("id")
    cancellation = build(
        Cancellation,
        n.path,
        connection_id=ctx.connection.id,
        channel=CHANNEL,
        order_id=order_id,
        reason="order deleted in Shopify",
    )
    return [
        build(
            CancellationEvent,
            "event",
            **ctx.envelope("order_deleted", order_id, order_id),
            payload=cancellation,
        )
    ]


# ---------------------------------------------------------------------------------------------
# Refunds and transactions


def refund_from_json(refund_json: object, connection: Connection, *, order_currency: str | None = None) -> Refund:
    """A Shopify Refund (refunds/create body or an element of order.refunds[], decoded)."""
    return _refund(as_object(refund_json, "refund"), connection, order_currency=order_currency)


def _refund(n: Node, connection: Connection, *, order_currency: str | None) -> Refund:
    every = [t for t in n.objects("transactions") if t.text("kind") == "refund"]
    refund_transactions = [t for t in every if t.text("status") in (None, "success")]
    amount = sum((t.decimal("amount") for t in refund_transactions), ZERO)
    currency = next((t.text("currency") for t in refund_transactions if t.text("currency")), None)
    status = _refund_status([t.text("status") for t in every])
    # Refunds from before restock_type existed say it once for the whole refund.
    whole_restock = n.flag("restock") if n.get("restock") is not None else None

    lines = []
    taxes: list[TaxShare] = []
    for item in n.objects("refund_line_items"):
        line = item.obj("line_item")
        quantity = item.decimal("quantity")
        fallback = line.decimal("price") * quantity if line is not None and line.has("price") else ZERO
        if currency is None:
            currency = _set_currency(item.obj("subtotal_set"))
        taxes += _tax_shares(_shop(item, "total_tax", ZERO), line)
        lines.append(
            build(
                RefundLine,
                item.path,
                line_id=item.id("line_item_id"),
                sku=line.text("sku") if line is not None else None,
                quantity=quantity,
                # Shop money (the invoice's currency); the plain fields are the fallback.
                amount=_shop(item, "subtotal", fallback),
                tax=_shop(item, "total_tax", ZERO),
                restock=_restocked(item.text("restock_type"), whole_restock),
            )
        )

    # order_adjustments amounts are negative for money going back to the customer; a shipping
    # refund's tax is apart from its amount (`tax_amount`).
    adjustments = [a for a in n.objects("order_adjustments") if a.text("kind") == "shipping_refund"]
    shipping = -sum((_shop(a, "amount", ZERO) for a in adjustments), ZERO)
    shipping_tax = -sum((_shop(a, "tax_amount", ZERO) for a in adjustments), ZERO)
    shipping_lines = n.objects("refund_shipping_lines")
    if shipping_lines:
        shipping = sum((_set_amount(s.obj("subtotal_amount_set")) or ZERO for s in shipping_lines), ZERO)
        # Its tax field's name is unsure (README facts table): the adjustments' tax otherwise.
        lines_tax = sum((_set_amount(s.obj("total_tax_amount_set")) or ZERO for s in shipping_lines), ZERO)
        shipping_tax = lines_tax or shipping_tax
        for s in shipping_lines:
            taxes += _tax_shares(_set_amount(s.obj("total_tax_amount_set")) or ZERO, s.obj("shipping_line"))

    return build(
        Refund,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        refund_id=n.id("id"),
        order_id=n.id("order_id"),
        amount=amount,
        # "XXX" is ISO 4217's "no currency": a refund with no money and no currency anywhere.
        currency=(currency or order_currency or "XXX").upper(),
        lines=tuple(lines),
        shipping_amount=shipping,
        shipping_tax=shipping_tax,
        # order_adjustments name no jurisdiction: their tax is split like the order's.
        tax_lines=tax_lines_summed(taxes),
        reason=n.free_text("note"),
        processed_at=n.opt_date_time("processed_at") or n.opt_date_time("created_at"),
        status=status,
        test=any(t.flag("test") for t in refund_transactions),
    )


def _tax_shares(tax: Decimal, refunded: Node | None) -> list[TaxShare]:
    """`tax` (what a refund line or refund shipping line returns) over the jurisdictions of the
    line it refunds (its `tax_lines[]`, each that line's whole tax) by their amounts: the refunded
    share whatever the quantity. The last takes the remainder, so the shares add up to `tax`."""
    named = [(t, _shop(t, "price", ZERO)) for t in (refunded.objects("tax_lines") if refunded else [])]
    named = [(t, amount) for t, amount in named if amount and t.text("title")]
    base = sum((amount for _, amount in named), ZERO)
    if not tax or not base:
        return []
    shares: list[TaxShare] = []
    left = tax
    for i, (t, amount) in enumerate(named):
        share = left if i == len(named) - 1 else tax * amount / base
        left -= share
        rate = t.opt_decimal("rate") if t.get("rate") is not None else None
        shares.append(TaxShare(t.path, t.text("title") or "", None, rate, share))
    return shares


def _refund_status(statuses: list[str | None]) -> Literal["success", "pending", "failed"]:
    """A refund waits while any of its refund transactions is pending; it failed when every
    one failed (`failure`/`error`); no transaction at all (a restock-only refund) is settled."""
    if "pending" in statuses:
        return "pending"
    if statuses and all(s in ("failure", "error") for s in statuses):
        return "failed"
    return "success"


def _restocked(restock_type: str | None, whole: bool | None) -> bool | None:
    """`restock_type` `no_restock` keeps the units off hand; `cancel`, `return` and
    `legacy_restock` put them back. Without it, the refund's own `restock` flag."""
    if restock_type is not None:
        return restock_type != "no_restock"
    return whole


def _shop(n: Node, field: str, fallback: Decimal) -> Decimal:
    """`<field>_set.shop_money.amount`, else `<field>`, else `fallback`."""
    shop = _set_amount(n.obj(f"{field}_set"))
    return shop if shop is not None else n.opt_decimal(field, fallback)


def _set_currency(money_set: Node | None) -> str | None:
    if money_set is None:
        return None
    shop = money_set.obj("shop_money")
    return None if shop is None else shop.text("currency_code")


def _refund_event(refund: Refund, ctx: _Delivery) -> CanonicalEvent:
    return build(
        RefundEvent,
        "event",
        **ctx.envelope("refund", refund.refund_id, refund.refund_id),
        updated_at=refund.processed_at,
        payload=refund,
    )


def payment_from_transaction(transaction_json: object, connection: Connection) -> Payment | None:
    """A Transaction (decoded) -> Payment when a successful capture/sale (or POS cash `change`,
    netted from its sale by `posting.cash_change`), else None."""
    return _payment(as_object(transaction_json, "transaction"), connection)


def _payment(n: Node, connection: Connection) -> Payment | None:
    kind = n.text("kind")
    if kind not in ("capture", "sale", "change") or n.text("status") != "success":
        return None
    return build(
        Payment,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        order_id=n.id("order_id"),
        payment_id=n.id("id"),
        kind=kind,
        amount=n.decimal("amount"),
        currency=n.required_text("currency").upper(),
        gateway=n.text("gateway", max_len=255),
        reference=n.text("authorization", max_len=255),
        processed_at=n.opt_date_time("processed_at") or n.opt_date_time("created_at"),
        test=n.flag("test"),
    )


def _transaction(n: Node, ctx: _Delivery) -> list[CanonicalEvent]:
    payment = _payment(n, ctx.connection)
    if payment is None:
        return []
    return [
        build(
            PaymentEvent,
            "event",
            **ctx.envelope("payment", payment.payment_id, payment.payment_id),
            updated_at=payment.processed_at,
            payload=payment,
        )
    ]


ADAPTER: Final = ShopifyAdapter()
verify_signature = ADAPTER.verify_signature
parse = ADAPTER.parse
