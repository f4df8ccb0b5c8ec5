"""WooCommerce webhooks -> canonical events.

Body: the REST v3 order as it is *when the delivery runs* (not when the event fired). Dates are
read from the `*_gmt` fields, which are naive UTC: they are taken as UTC (the site-local twins
are ignored). Amounts in the REST order are tax-exclusive whatever `prices_include_tax` says
(line `subtotal`/`total`, `shipping_total`), so canonical orders have `taxes_included=False`
and the tax is added on top; this is what makes them add up to `total` to the cent.

Topics: order.created / order.updated / order.restored -> Order, plus the events derived from
its state (WooCommerce has no paid/cancelled/refunded topics):
- Payment when `date_paid_gmt` is set (one per order: payment_id "<order id>-paid", amount =
  total, reference = transaction_id);
- Cancellation when status is cancelled;
- one Refund per `refunds[]` entry (total only: `detail_complete=False`).
order.deleted (body `{"id": …}`) -> Cancellation with reason "deleted". action.woocommerce_*order*
topics (body `{"action", "arg": order id}`) -> OrderReference. Other topics yield nothing.
The ping sent when a webhook is saved (form body `webhook_id=<id>`, unsigned) is a `Ping`.

Dedup key: the delivery id is a hash of (webhook id, current second), not unique, and there is
no event id, so the key is built from the state:
  woocommerce:<connection>:order:<topic>:<order id>:<date_modified_gmt>:<digest of the Order>
i.e. resource id + modification time + topic, plus a digest of the canonical order so that two
different states saved within the same second never share a key, while redeliveries (and the
identical bodies of several quick updates) do. Derived events use business ids (payment:
order id, refund: refund id, cancellation: order id); deletions use the order id alone (a
replayed deletion is a duplicate; the consumer confirms it through the API before acting).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from intacct_sync.channels.base import (
    AddressFields,
    ChannelAdapter,
    ChannelSpec,
    Headers,
    Node,
    Ping,
    TaxShare,
    address_from,
    as_object,
    build,
    code_text,
    customer_from_billing,
    event_id,
    is_placed,
    load_json_object,
    plain_text,
    state_digest,
    tax_lines_from,
    tax_lines_summed,
)
from intacct_sync.models.checked import construct_trusted
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import (
    CancellationEvent,
    CanonicalEvent,
    OrderEvent,
    OrderReferenceEvent,
    PaymentEvent,
    RefundEvent,
)
from intacct_sync.models.money import MAX_INTEGER_DIGITS, ZERO, decimal_places, to_decimal
from intacct_sync.models.order import (
    Address,
    Cancellation,
    Discount,
    FinancialStatus,
    Order,
    OrderLine,
    OrderReference,
    OrderStatus,
    Payment,
    Refund,
    RefundLine,
    ShippingLine,
    TaxLine,
)
from intacct_sync.models.text import DISALLOWED

CHANNEL: Final = "woocommerce"
_ORDER, _DELETE, _ACTION = "order", "order_delete", "action"

SPEC: Final = ChannelSpec(
    channel=CHANNEL,
    signature_headers=("x-wc-webhook-signature",),
    digest_encoding="base64",
    topic_headers=("x-wc-webhook-topic",),
    event_id_headers=(),  # none is unique: see the module docstring
    # Current WooCommerce sends X-WC-Webhook-Delivery-ID; the docs still say X-WC-Delivery-ID.
    delivery_id_headers=("x-wc-webhook-delivery-id", "x-wc-delivery-id"),
    topics={
        "order.created": _ORDER,
        "order.updated": _ORDER,
        "order.restored": _ORDER,
        "order.deleted": _DELETE,
    },
    retry_seconds=None,  # WooCommerce never retries a failed delivery
)

NOT_PLACED: Final = frozenset({"pending", "failed", "checkout-draft", "draft", "auto-draft", "trash"})
"""Default: abandoned checkouts are not orders to invoice (DESIGN §1)."""

_STATUS: Final = {
    "pending": OrderStatus.OPEN,
    "processing": OrderStatus.OPEN,
    "on-hold": OrderStatus.ON_HOLD,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.CLOSED,
    "failed": OrderStatus.FAILED,
    "checkout-draft": OrderStatus.ABANDONED,
    "trash": OrderStatus.DELETED,
}
_NO_PAYMENT: Final = frozenset({"pending", "failed", "checkout-draft", "trash"})
_PING_PREFIX: Final = b"webhook_id="
_UNIT_PRICE_PLACES: Final = Decimal("0.000001")
_SMALL: Final = 10**15
"""Integers strictly within ±this are exact amounts as they are (`to_decimal`'s bounds)."""
_DEFAULT_KIND: Final = frozenset({"kind"})
"""A line item's `kind` is the model's default, which `build` is not given (not in the fields set)."""


class WooCommerceAdapter(ChannelAdapter):
    spec = SPEC

    def detect_ping(self, headers: Mapping[str, str], raw_body: bytes) -> Ping | None:
        """The unsigned `webhook_id=<digits>` form post WooCommerce sends when a hook is saved."""
        body = raw_body.strip()
        if not body.startswith(_PING_PREFIX) or len(body) > 64:
            return None
        webhook_id = body[len(_PING_PREFIX) :]
        if not (webhook_id.isdigit() and webhook_id.isascii()):
            return None
        return Ping(channel=CHANNEL, webhook_id=webhook_id.decode("ascii"))

    def parse(self, headers: Mapping[str, str], raw_body: bytes, connection: Connection) -> list[CanonicalEvent]:
        """Turn one WooCommerce delivery into canonical events; raises InvalidPayload."""
        hdrs = Headers(headers)
        topic = self.topic(hdrs)
        delivery_id = hdrs.first(SPEC.delivery_id_headers)
        kind = SPEC.topics.get(topic)
        if kind is None and topic.startswith("action.") and "order" in topic:
            kind = _ACTION
        if kind is None:
            return []
        body = load_json_object(raw_body, "body")
        if kind == _ORDER:
            return _order_events(Node(body, "order"), connection, topic=topic, delivery_id=delivery_id)
        if kind == _DELETE:
            return _deleted(Node(body, "order"), connection, topic, delivery_id)
        return _action(Node(body, "body"), connection, topic, delivery_id)


def _envelope(connection: Connection, topic: str, delivery_id: str | None, *key: str) -> dict[str, Any]:
    return {
        "event_id": event_id(CHANNEL, connection.id, *key),
        "connection_id": connection.id,
        "channel": CHANNEL,
        "topic": topic,
        "delivery_id": delivery_id,
    }


# ---------------------------------------------------------------------------------------------
# Orders


def order_events(
    order_json: object,
    connection: Connection,
    *,
    topic: str = "order.updated",
    delivery_id: str | None = None,
) -> list[CanonicalEvent]:
    """A REST v3 order (decoded) -> Order event plus derived Payment / Cancellation / Refund.

    What the reconcile poll calls with an order from GET /wc/v3/orders: with the default topic
    a polled state already delivered as order.updated gets the same event ids, so it dedups.
    """
    return _order_events(as_object(order_json, "order"), connection, topic=topic, delivery_id=delivery_id)


def _order_events(n: Node, connection: Connection, *, topic: str, delivery_id: str | None) -> list[CanonicalEvent]:
    order = _order(n, connection)
    date_paid = n.opt_date_time("date_paid_gmt", naive_is_utc=True)
    stamp = order.updated_at.isoformat()
    events: list[CanonicalEvent] = [
        build(
            OrderEvent,
            "event",
            **_envelope(connection, topic, delivery_id, "order", topic, order.order_id, stamp, state_digest(order)),
            occurred_at=order.updated_at,
            updated_at=order.updated_at,
            payload=order,
        )
    ]
    if date_paid is not None and (order.channel_status or "") not in _NO_PAYMENT:
        payment = build(
            Payment,
            n.path,
            connection_id=connection.id,
            channel=CHANNEL,
            order_id=order.order_id,
            payment_id=f"{order.order_id}-paid",
            kind="sale",
            amount=order.total,
            currency=order.currency,
            gateway=order.gateway,
            reference=n.text("transaction_id", max_len=255),
            processed_at=date_paid,
        )
        events.append(
            build(
                PaymentEvent,
                "event",
                **_envelope(connection, topic, delivery_id, "payment", payment.payment_id),
                occurred_at=date_paid,
                updated_at=order.updated_at,
                payload=payment,
            )
        )
    if order.status is OrderStatus.CANCELLED:
        cancellation = build(
            Cancellation,
            n.path,
            connection_id=connection.id,
            channel=CHANNEL,
            order_id=order.order_id,
            cancelled_at=order.cancelled_at,
            evidence="order_state",
        )
        events.append(
            build(
                CancellationEvent,
                "event",
                **_envelope(connection, topic, delivery_id, "cancellation", order.order_id),
                occurred_at=order.cancelled_at,
                updated_at=order.updated_at,
                payload=cancellation,
            )
        )
    for refund_node in n.objects("refunds"):
        refund = build(
            Refund,
            refund_node.path,
            connection_id=connection.id,
            channel=CHANNEL,
            refund_id=refund_node.id("id"),
            order_id=order.order_id,
            amount=abs(refund_node.decimal("total")),  # REST gives refunds as negative totals
            currency=order.currency,
            reason=refund_node.free_text("reason"),
            detail_complete=False,
        )
        events.append(
            build(
                RefundEvent,
                "event",
                **_envelope(connection, topic, delivery_id, "refund", refund.refund_id),
                updated_at=order.updated_at,
                payload=refund,
            )
        )
    return events


def refund_detail(refund_json: object, connection: Connection, *, order_id: str, currency: str) -> Refund:
    """`GET /wc/v3/orders/{id}/refunds/{refund_id}` (decoded) -> the Refund with its lines,
    shipping and tax (`detail_complete=True`). Refund line and shipping amounts are negative
    and tax-exclusive like the order's; a refund line names the order line it refunds in its
    `_refunded_item_id` meta. WooCommerce does not report whether the units were restocked
    (`api_restock` is write-only), so `restock` stays None. The body has no currency: the
    order's is passed in. Its tax per jurisdiction is the items' `taxes[]` by rate id, named by
    the refund's own `tax_lines[]` (WooCommerce 4.9+); a rate they do not name is split like the
    order's tax."""
    n = as_object(refund_json, "refund")
    lines = [_refund_line(item) for item in (*n.objects("line_items"), *n.objects("fee_lines"))]
    shipping = n.objects("shipping_lines")
    return build(
        Refund,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        refund_id=n.id("id"),
        order_id=order_id,
        amount=abs(n.decimal("amount")),
        currency=currency.upper(),
        lines=tuple(lines),
        shipping_amount=sum((abs(s.opt_decimal("total")) for s in shipping), ZERO),
        shipping_tax=sum((abs(s.opt_decimal("total_tax")) for s in shipping), ZERO),
        tax_lines=_refund_taxes(n),
        reason=n.free_text("reason"),
        processed_at=n.opt_date_time("date_created_gmt", naive_is_utc=True),
    )


def _refund_taxes(n: Node) -> tuple[TaxLine, ...]:
    """A refund's `line_items[]`, `fee_lines[]` and `shipping_lines[]` `taxes[]` ({id: rate id,
    total}, negative) per jurisdiction, named by the refund's `tax_lines[]` {rate_id, label,
    rate_code, rate_percent}."""
    rates = {t.opt_id("rate_id"): t for t in n.objects("tax_lines")}
    shares: list[TaxShare] = []
    for item in (*n.objects("line_items"), *n.objects("fee_lines"), *n.objects("shipping_lines")):
        for tax in item.objects("taxes"):
            rate = rates.get(tax.opt_id("id"))
            if rate is None or not tax.opt_decimal("total"):
                continue  # unnamed: left to the order's split
            code = rate.text("rate_code", max_len=255)
            title = rate.text("label", max_len=255) or code
            if title is None:
                continue
            percent = rate.opt_decimal("rate_percent") if rate.get("rate_percent") is not None else None
            shares.append(TaxShare(tax.path, title, code, percent, abs(tax.opt_decimal("total"))))
    return tax_lines_summed(shares)


def _refund_line(n: Node) -> RefundLine:
    refunded = next((str(m.get("value")) for m in n.objects("meta_data") if m.get("key") == "_refunded_item_id"), None)
    # Fee refunds have no quantity; `refund_total` is the positive twin of `total` in newer versions.
    total = n.decimal("total") if n.has("total") else -n.opt_decimal("refund_total")
    return build(
        RefundLine,
        n.path,
        line_id=refunded or n.id("id"),
        sku=n.text("sku", max_len=255),
        quantity=abs(n.opt_decimal("quantity", Decimal(-1))),
        amount=abs(total),
        tax=abs(n.opt_decimal("total_tax")),
    )


def order_from_json(order_json: object, connection: Connection) -> Order:
    """A WooCommerce REST v3 order (decoded) -> canonical Order; raises InvalidPayload."""
    return _order(as_object(order_json, "order"), connection)


def _order(n: Node, connection: Connection) -> Order:
    order_id = n.id("id")
    status = n.text("status") or ""
    currency = n.required_text("currency").upper()
    created_at = n.date_time("date_created_gmt", naive_is_utc=True)
    updated_at = n.opt_date_time("date_modified_gmt", naive_is_utc=True) or created_at
    date_paid = n.opt_date_time("date_paid_gmt", naive_is_utc=True)
    billing_node = n.obj("billing")
    billing = _address(billing_node)
    shipping = _address(n.obj("shipping"))

    products = [_line(item) for item in n.objects("line_items")]
    fees = [_fee(item) for item in n.objects("fee_lines")]
    shipping_lines = tuple(_shipping_line(item) for item in n.objects("shipping_lines"))
    discounts = tuple(
        build(
            Discount,
            coupon.path,
            code=coupon.text("code", max_len=255),
            amount=coupon.opt_decimal("discount"),
            kind="coupon",
            allocated=True,  # coupon amounts are already in the lines' subtotal - total
        )
        for coupon in n.objects("coupon_lines")
    )
    total = n.decimal("total")
    refunded = sum((abs(r.decimal("total")) for r in n.objects("refunds")), ZERO)

    customer_id = n.opt_id("customer_id")  # 0 = guest
    return build(
        Order,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        order_id=order_id,
        order_number=n.text("number", max_len=255) or order_id,
        created_at=created_at,
        updated_at=updated_at,
        currency=currency,
        customer=customer_from_billing(f"{n.path}.billing", billing_node, billing, customer_id),
        billing_address=billing,
        shipping_address=shipping,
        lines=(*products, *fees),
        shipping_lines=shipping_lines,
        discounts=discounts,
        taxes_included=False,
        subtotal=sum((line.net for line in products), ZERO),
        total_tax=n.opt_decimal("total_tax"),
        total_shipping=n.opt_decimal("shipping_total"),
        total_discount=n.opt_decimal("discount_total"),
        total=total,
        note=n.free_text("customer_note"),
        financial_status=_financial(status, date_paid, refunded, total),
        status=_STATUS.get(status, OrderStatus.UNKNOWN),
        channel_status=status or None,
        cancelled_at=updated_at if status == "cancelled" else None,
        placed=is_placed(status, connection, lambda s: (s or "") not in NOT_PLACED),
        gateway=n.text("payment_method", max_len=255) or n.text("payment_method_title", max_len=255),
        tax_lines=tax_lines_from(
            n.objects("tax_lines"),
            title="label",
            code="rate_code",
            rate="rate_percent",
            amounts=("tax_total", "shipping_tax_total"),
        ),
        utc_offset_minutes=_store_offset(n),
    )


def _store_offset(n: Node) -> int | None:
    """The store's UTC offset when the order was placed: `date_created` (site-local, no offset)
    minus `date_created_gmt`, to the quarter hour; None when either is missing or odd."""
    local, gmt = n.get("date_created"), n.get("date_created_gmt")
    if not isinstance(local, str) or not isinstance(gmt, str):
        return None
    try:
        delta = datetime.fromisoformat(local.strip()) - datetime.fromisoformat(gmt.strip())
    except (ValueError, TypeError):
        return None  # aware/naive mix or not a date: the _gmt field alone dates the order
    minutes = round(delta.total_seconds() / 900) * 15
    return minutes if abs(minutes) <= 14 * 60 else None


def _financial(status: str, date_paid: object, refunded: Decimal, total: Decimal) -> FinancialStatus:
    if status == "refunded":
        return FinancialStatus.REFUNDED
    if date_paid is not None:
        if refunded > 0:
            return FinancialStatus.REFUNDED if refunded >= total else FinancialStatus.PARTIALLY_REFUNDED
        return FinancialStatus.PAID
    if status in ("failed", "cancelled"):
        return FinancialStatus.VOIDED
    if status in ("pending", "on-hold", "processing", "checkout-draft", "completed"):
        # processing/completed without date_paid: cash on delivery and similar, still owed.
        return FinancialStatus.PENDING
    return FinancialStatus.UNKNOWN


ADDRESS = AddressFields(line1="address_1", line2="address_2", postal_code="postcode", country="country")


def _address(n: Node | None) -> Address | None:
    return address_from(n, ADDRESS)


def _unit_price(subtotal: Decimal, quantity: Decimal) -> Decimal:
    if quantity == 0:
        return subtotal
    unit = subtotal / quantity
    if decimal_places(unit) > 6:
        # Not exact (10.00 / 3): keep 6 places; `subtotal` stays the exact figure to post.
        unit = unit.quantize(_UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
    return unit


def _line(n: Node) -> OrderLine:
    raw = n.raw
    # Each read below takes the usual JSON shape straight and leaves anything else to the Node
    # getter, which reads it the same way or names the field at fault (same order of checks).
    value: Any = raw.get("quantity")
    quantity = Decimal(value) if type(value) is int and -_SMALL < value < _SMALL else n.decimal("quantity")
    given = raw.get("subtotal")
    try:
        subtotal = to_decimal(given)  # before discounts, ex tax
    except (ValueError, TypeError):
        subtotal = n.decimal("subtotal")  # raises, naming the field
    value = raw.get("total")  # after discounts, ex tax; the same text (no discount): the same Decimal
    try:
        total = subtotal if value is None or (value == given and type(value) is str) else to_decimal(value)
    except (ValueError, TypeError):
        total = n.opt_decimal("total", subtotal)  # "" (the default) or raises
    value = raw.get("total_tax")
    try:
        tax = ZERO if value is None else to_decimal(value)
    except (ValueError, TypeError):
        tax = n.opt_decimal("total_tax")
    line_id = str(value) if type(value := raw.get("id")) is int else n.id("id")
    value = raw.get("sku")
    sku = None if value is None or value == "" else code_text(value, 255) or n.text("sku", max_len=255)
    name = plain_text(raw.get("name")) or n.text("name") or "(no name)"
    value = raw.get("product_id")
    product_id = (str(value) if value else None) if type(value) is int else n.opt_id("product_id")
    value = raw.get("variation_id")
    variant_id = (str(value) if value else None) if type(value) is int else n.opt_id("variation_id")
    unit_price = _unit_price(subtotal, quantity)
    discount = subtotal - total
    taxes = raw.get("taxes")
    if taxes is None or (type(taxes) is list and (not taxes or all(type(item) is dict for item in taxes))):
        taxed = bool(taxes)
    else:
        taxed = bool(n.objects("taxes"))  # raises, naming the entry
    taxable = taxed or tax != 0
    # What was read holds the model's rules (`_line_model`): built without validation.
    if _line_model(name, unit_price, discount):
        return construct_trusted(
            OrderLine,
            {
                "line_id": line_id,
                "kind": "product",
                "sku": sku,
                "name": name,
                "product_id": product_id,
                "variant_id": variant_id,
                "quantity": quantity,
                "unit_price": unit_price,
                "subtotal": subtotal,
                "discount": discount,
                "tax": tax,
                "taxable": taxable,
            },
            _DEFAULT_KIND,
        )
    return build(
        OrderLine,
        n,
        line_id=line_id,
        sku=sku,
        name=name,
        product_id=product_id,
        variant_id=variant_id,
        quantity=quantity,
        unit_price=unit_price,
        subtotal=subtotal,
        discount=discount,
        tax=tax,
        taxable=taxable,
    )


def _line_model(name: str, unit_price: Decimal, discount: Decimal) -> bool:
    """Whether `_line`'s values are as the OrderLine model holds them, so that `build` would keep
    them as they are (`construct_checked`) and validation can be skipped.

    What `_line` read already is: ids are printable text (`Node.id`, or an integer written out),
    the SKU passed the code rule (`Node.text`), the quantity, subtotal, total and tax are bounded
    Decimals (`to_decimal`: |x| < 10^15, at most 12 decimal places), the flag a boolean. Left to
    check, as the model would: the name (free text: a character SQS/XML cannot carry is for
    validation to drop) and the size of what is computed. The discount is the exact difference of
    two bounded amounts (at most 28 digits, within the default context's precision), so it has at
    most 12 places and only its size can be out; the unit price has at most 6 places
    (`_unit_price`), so again only its size. `tests/unit/channels/test_woocommerce_fast_lines.py`
    holds this to validation's result."""
    return (
        (discount.adjusted() < MAX_INTEGER_DIGITS or discount.is_zero())
        and (unit_price.adjusted() < MAX_INTEGER_DIGITS or unit_price.is_zero())
        and ((name.isascii() and name.isprintable()) or DISALLOWED.search(name) is None)
    )


def _fee(n: Node) -> OrderLine:
    total = n.decimal("total")
    return build(
        OrderLine,
        n.path,
        line_id=n.id("id"),
        kind="fee",
        name=n.text("name") or "Fee",
        quantity=Decimal(1),
        unit_price=total,
        subtotal=total,
        tax=n.opt_decimal("total_tax"),
        taxable=n.text("tax_status") == "taxable",
    )


def _shipping_line(n: Node) -> ShippingLine:
    return build(
        ShippingLine,
        n.path,
        title=n.text("method_title") or n.text("method_id") or "Shipping",
        code=n.text("method_id", max_len=255),
        price=n.decimal("total"),
        tax=n.opt_decimal("total_tax"),
    )


def _deleted(n: Node, connection: Connection, topic: str, delivery_id: str | None) -> list[CanonicalEvent]:
    """order.deleted: a `deletion_notice` (the topic is not signed) the consumer confirms through
    the API; one per order, whatever the delivery id says."""
    order_id = n.id("id")
    cancellation = build(
        Cancellation,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        order_id=order_id,
        reason="order deleted (trashed) in WooCommerce",
    )
    return [
        build(
            CancellationEvent,
            "event",
            **_envelope(connection, topic, delivery_id, "order_deleted", order_id),
            payload=cancellation,
        )
    ]


def _action(n: Node, connection: Connection, topic: str, delivery_id: str | None) -> list[CanonicalEvent]:
    order_id = n.id("arg")
    reference = build(
        OrderReference,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        order_id=order_id,
        scope=topic,
    )
    return [
        build(
            OrderReferenceEvent,
            "event",
            **_envelope(connection, topic, delivery_id, "reference", topic, order_id, delivery_id or "-"),
            payload=reference,
        )
    ]


ADAPTER: Final = WooCommerceAdapter()
verify_signature = ADAPTER.verify_signature
parse = ADAPTER.parse
detect_ping = ADAPTER.detect_ping
