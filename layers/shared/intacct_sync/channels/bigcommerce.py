"""BigCommerce webhooks -> order references; the follow-up REST fetch -> canonical events.

Callbacks are ID-only (`{scope, store_id, data:{type,id,...}, hash, created_at, producer}`), so
the webhook yields an `OrderReference` and the consumer fetches the order, then calls
`order_events(order, products, shipping_addresses, transactions, connection=..., taxes_json=...,
refunds_json=...)`: the order, its payments and its refunds (a refund/created callback reaches
Intacct this way, as the refund the API shows). Handled scopes:
store/order/created, updated, archived, statusUpdated, refund/created, transaction/created,
transaction/updated; other scopes yield nothing.

Authentication (channels.md §3.1 is unsure whether every store/hook is signed with Standard
Webhooks), so it is configured per connection, and everything configured is required:
- `webhook_secret` set -> Standard Webhooks signature (webhook-id / webhook-timestamp /
  webhook-signature; key = the app client secret's raw bytes, or a 'whsec_' base64 key;
  timestamp within `signature_tolerance_seconds`);
- `webhook_auth_header` + `webhook_auth_value` set -> that custom header (set in the hook's
  `headers` at subscription) must carry that value;
- neither -> every delivery is rejected (fail closed).

Dedup key: bigcommerce:<connection>:<scope>:<webhook-id> when the Standard Webhooks id is there
(stable across retries by that spec); otherwise <hash>@<created_at>. The body `hash` alone is not
enough: the docs' samples show the same hash for created/updated/archived of one order, i.e. it
is a hash of `data` ({type,id}) and repeats across genuinely different events of the order.

Follow-up order (REST v2): money strings like "225.0000", RFC 2822 dates. Line discounts are
left at zero and the order's `discount_amount` and `coupon_discount` become unallocated
order-level discounts, which is how BigCommerce's own totals add up. Bundled child products
(`parent_order_product_id` set) are skipped: their parent carries the price.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from intacct_sync.channels.base import (
    AddressFields,
    ChannelAdapter,
    ChannelSpec,
    Headers,
    Node,
    address_from,
    as_object,
    build,
    customer_from_billing,
    event_id,
    load_json_object,
    now_seconds,
    state_digest,
    tax_lines_from,
)
from intacct_sync.channels.errors import InvalidPayload, WebhookSecretMissing
from intacct_sync.channels.signatures import (
    standard_webhooks_key,
    verify_shared_header,
    verify_standard_webhooks,
)
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import (
    CancellationEvent,
    CanonicalEvent,
    OrderEvent,
    OrderReferenceEvent,
    PaymentEvent,
    RefundEvent,
)
from intacct_sync.models.money import ZERO
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
)

CHANNEL: Final = "bigcommerce"

SPEC: Final = ChannelSpec(
    channel=CHANNEL,
    signature_headers=("webhook-signature",),
    digest_encoding="base64",
    topic_headers=(),  # the scope is in the body
    event_id_headers=("webhook-id",),
    delivery_id_headers=("webhook-id",),
    topics=dict.fromkeys(
        (
            "store/order/created",
            "store/order/updated",
            "store/order/archived",
            "store/order/statusUpdated",
            "store/order/refund/created",
            "store/order/transaction/created",
            "store/order/transaction/updated",
        ),
        "reference",
    ),
    retry_seconds=48 * 3600,  # 11 retries over about 48 hours
)

INCOMPLETE: Final = 0
"""Status id of an abandoned checkout (DESIGN §1)."""
DECLINED: Final = 6
"""Status id of an order whose payment was declined (WooCommerce's `failed`)."""
NOT_PLACED: Final = frozenset({INCOMPLETE, DECLINED})
"""Statuses not invoiced by default; a connection's `placed_statuses` replaces the rule."""

_STATUS: Final = {
    0: OrderStatus.ABANDONED,  # Incomplete
    1: OrderStatus.OPEN,  # Pending
    2: OrderStatus.COMPLETED,  # Shipped
    3: OrderStatus.OPEN,  # Partially Shipped
    4: OrderStatus.CLOSED,  # Refunded
    5: OrderStatus.CANCELLED,
    6: OrderStatus.FAILED,  # Declined
    7: OrderStatus.OPEN,  # Awaiting Payment
    8: OrderStatus.OPEN,  # Awaiting Pickup
    9: OrderStatus.OPEN,  # Awaiting Shipment
    10: OrderStatus.COMPLETED,
    11: OrderStatus.OPEN,  # Awaiting Fulfillment
    12: OrderStatus.ON_HOLD,  # Manual Verification Required
    13: OrderStatus.ON_HOLD,  # Disputed
    14: OrderStatus.OPEN,  # Partially Refunded
}
_PAYMENT_STATUS: Final = {
    "captured": FinancialStatus.PAID,
    "paid": FinancialStatus.PAID,
    "authorized": FinancialStatus.AUTHORIZED,
    "pending": FinancialStatus.PENDING,
    "partially refunded": FinancialStatus.PARTIALLY_REFUNDED,
    "partially_refunded": FinancialStatus.PARTIALLY_REFUNDED,
    "refunded": FinancialStatus.REFUNDED,
    "void": FinancialStatus.VOIDED,
    "voided": FinancialStatus.VOIDED,
    "declined": FinancialStatus.VOIDED,
}
_PAYMENT_EVENTS: Final = {"purchase": "sale", "capture": "capture"}


class BigCommerceAdapter(ChannelAdapter):
    spec = SPEC

    def verify_signature(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        connection: Connection,
        *,
        now: float | None = None,
    ) -> None:
        """Require every configured check (Standard Webhooks and/or shared header); none = 401."""
        hdrs = Headers(headers)
        if connection.webhook_secret is None and connection.webhook_auth_header is None:
            raise WebhookSecretMissing(
                "BigCommerce connection has neither webhook_secret nor webhook_auth_header",
                fix="set webhook_secret (app client secret) and/or webhook_auth_header + "
                "webhook_auth_value (the header given when subscribing the hook)",
            )
        if connection.webhook_secret is not None:
            keys = [
                standard_webhooks_key(secret.get_secret_value())
                for secret in (connection.webhook_secret, connection.previous_webhook_secret)
                if secret is not None and secret.get_secret_value()
            ]
            verify_standard_webhooks(
                hdrs,
                raw_body,
                keys,
                now=now_seconds() if now is None else now,
                tolerance_seconds=connection.signature_tolerance_seconds,
            )
        if connection.webhook_auth_header is not None and connection.webhook_auth_value is not None:
            verify_shared_header(hdrs, connection.webhook_auth_header, connection.webhook_auth_value.get_secret_value())

    def parse(self, headers: Mapping[str, str], raw_body: bytes, connection: Connection) -> list[CanonicalEvent]:
        """A callback -> [OrderReference event] (or [] for scopes not handled)."""
        hdrs = Headers(headers)
        n = Node(load_json_object(raw_body, "callback"), "callback")
        scope = n.required_text("scope")
        if scope not in SPEC.topics:
            return []
        data = n.obj("data")
        if data is None:
            raise InvalidPayload("required, got nothing", path="callback.data")
        order_id = data.id("order_id") if data.has("order_id") else data.id("id")
        created_at = _unix(n, "created_at")
        refund = data.obj("refund")
        status = data.obj("status")
        reference = build(
            OrderReference,
            n.path,
            connection_id=connection.id,
            channel=CHANNEL,
            order_id=order_id,
            scope=scope,
            refund_id=refund.opt_id("refund_id") if refund else None,
            transaction_id=data.text("transaction_id", max_len=255),
            previous_status_id=status.opt_int("previous_status_id") if status else None,
            new_status_id=status.opt_int("new_status_id") if status else None,
            created_at=created_at,
        )
        webhook_id = hdrs.first(SPEC.event_id_headers)
        body_hash = n.text("hash", max_len=128)
        if webhook_id is not None:
            key = webhook_id
        elif body_hash is not None:
            key = f"{body_hash}@{n.get('created_at')}"
        else:
            key = hashlib.sha256(raw_body).hexdigest()
        return [
            build(
                OrderReferenceEvent,
                "event",
                event_id=event_id(CHANNEL, connection.id, scope, key),
                connection_id=connection.id,
                channel=CHANNEL,
                topic=scope,
                occurred_at=created_at,
                delivery_id=webhook_id,
                payload=reference,
            )
        ]


def _unix(n: Node, key: str) -> datetime | None:
    value = n.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**11:
        raise InvalidPayload("expected a unix timestamp (seconds)", path=n.at(key))
    return datetime.fromtimestamp(value, UTC)


# ---------------------------------------------------------------------------------------------
# The follow-up fetch (called by the consumer, not the webhook)


def _root(value: object, path: str) -> Node:
    return as_object(value, path)


def _items(value: object, path: str) -> list[Node]:
    """A REST collection: a JSON array, or v3's {"data": [...]} wrapper; None -> []."""
    if value is None:
        return []
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    if not isinstance(value, list):
        raise InvalidPayload("expected an array (or an object with a data array)", path=path)
    return [as_object(item, f"{path}[{i}]") for i, item in enumerate(value)]


def parse_order(
    order_json: object,
    products_json: object,
    shipping_addresses_json: object,
    *,
    connection: Connection,
    taxes_json: object = None,
) -> Order:
    """GET v2/orders/{id}, its /products, /shipping_addresses and /taxes -> canonical Order.

    Inputs are decoded JSON (json.loads; floats are read via str, Decimals taken as they are).
    `/taxes` (one entry per taxed line and jurisdiction) gives the tax per jurisdiction, summed
    by `name`. Transactions become Payment events in `order_events`. Raises InvalidPayload.
    """
    n = _root(order_json, "order")
    order_id = n.id("id")
    # The transactional currency (what the amounts are in and the shopper pays in), not the
    # display currency `currency_code` (orders.v2: "can be different from the transactional").
    currency = (n.text("default_currency_code") or n.required_text("currency_code")).upper()
    created_at = n.date_time("date_created")
    inclusive = n.flag("is_tax_inclusive_pricing")
    suffix = "inc_tax" if inclusive else "ex_tax"
    billing_node = n.obj("billing_address")
    billing = _address(billing_node)
    shipping_nodes = _items(shipping_addresses_json, "shipping_addresses")
    shipping_address = _address(shipping_nodes[0]) if shipping_nodes else None

    products = [
        _line(p, suffix)
        for p in _items(products_json, "products")
        if not (p.has("parent_order_product_id") or p.flag("is_bundled_product"))
    ]
    fees = [_fee(fee, suffix) for fee in n.objects("fees")]
    wrapping = n.opt_decimal(f"wrapping_cost_{suffix}")
    if wrapping:
        fees.append(
            build(
                OrderLine,
                n.path,
                line_id="wrapping",
                kind="fee",
                name="Gift wrapping",
                quantity=Decimal(1),
                unit_price=wrapping,
                subtotal=wrapping,
                tax=n.opt_decimal("wrapping_cost_tax"),
            )
        )

    shipping_lines = [
        build(
            ShippingLine,
            s.path,
            title=s.text("shipping_method") or "Shipping",
            price=s.opt_decimal(f"cost_{suffix}"),
            tax=s.opt_decimal("cost_tax"),
        )
        for s in shipping_nodes
    ]
    shipping_total = n.opt_decimal(f"shipping_cost_{suffix}")
    if not shipping_nodes and shipping_total:
        shipping_lines.append(
            build(
                ShippingLine,
                n.path,
                title="Shipping",
                price=shipping_total,
                tax=n.opt_decimal("shipping_cost_tax"),
            )
        )
    handling = n.opt_decimal(f"handling_cost_{suffix}")
    if handling:
        shipping_lines.append(
            build(
                ShippingLine,
                n.path,
                title="Handling",
                code="handling",
                price=handling,
                tax=n.opt_decimal("handling_cost_tax"),
            )
        )

    coupon_codes = sorted(
        {
            code
            for p in _items(products_json, "products")
            for d in p.objects("applied_discounts")
            if (code := d.text("code", max_len=255))
        }
    )
    discounts = []
    coupon = n.opt_decimal("coupon_discount")
    if coupon:
        discounts.append(
            build(
                Discount,
                n.path,
                code=", ".join(coupon_codes) or None,
                amount=coupon,
                kind="coupon",
                allocated=False,
            )
        )
    other = n.opt_decimal("discount_amount")
    if other:
        discounts.append(build(Discount, n.path, amount=other, kind="discount", allocated=False))

    status_id = n.opt_int("status_id")
    status_name = n.text("status", max_len=255)
    payment_status = (n.text("payment_status") or "").lower()
    financial = _PAYMENT_STATUS.get(payment_status, FinancialStatus.UNKNOWN)
    if status_id == 4:
        financial = FinancialStatus.REFUNDED
    elif status_id == 14:
        financial = FinancialStatus.PARTIALLY_REFUNDED
    elif financial is FinancialStatus.UNKNOWN and not payment_status:
        financial = FinancialStatus.PENDING
    updated_at = n.opt_date_time("date_modified") or created_at
    customer_id = n.opt_id("customer_id")  # 0 = guest

    return build(
        Order,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        order_id=order_id,
        order_number=order_id,
        created_at=created_at,
        updated_at=updated_at,
        currency=currency,
        customer=customer_from_billing(f"{n.path}.billing_address", billing_node, billing, customer_id),
        billing_address=billing,
        shipping_address=shipping_address,
        lines=(*products, *fees),
        shipping_lines=tuple(shipping_lines),
        discounts=tuple(discounts),
        taxes_included=inclusive,
        subtotal=n.opt_decimal(f"subtotal_{suffix}"),
        total_tax=n.opt_decimal("total_tax"),
        total_shipping=shipping_total + handling,
        total_discount=coupon + other,
        total=n.decimal("total_inc_tax"),
        note=n.free_text("customer_message"),
        financial_status=financial,
        status=_STATUS.get(status_id, OrderStatus.UNKNOWN) if status_id is not None else OrderStatus.UNKNOWN,
        channel_status=status_name,
        cancelled_at=updated_at if status_id == 5 else None,
        placed=_placed(status_id, status_name, connection),
        gateway=n.text("payment_method", max_len=255),
        tax_lines=tax_lines_from(_items(taxes_json, "taxes"), title="name", rate="rate", amounts=("line_amount",)),
        utc_offset_minutes=n.utc_offset_minutes("date_created"),
    )


def _placed(status_id: int | None, status_name: str | None, connection: Connection) -> bool:
    if connection.placed_statuses is not None:
        allowed = {s.lower() for s in connection.placed_statuses}
        return (status_name or "").lower() in allowed or str(status_id) in allowed
    return status_id not in NOT_PLACED


ADDRESS = AddressFields(line1="street_1", line2="street_2", postal_code="zip", country="country_iso2")


def _address(n: Node | None) -> Address | None:
    return address_from(n, ADDRESS)


def _line(n: Node, suffix: str) -> OrderLine:
    tax = n.opt_decimal("total_tax")
    return build(
        OrderLine,
        n.path,
        line_id=n.id("id"),
        sku=n.text("sku", max_len=255),
        name=n.text("name") or "(no name)",
        product_id=n.opt_id("product_id"),
        variant_id=n.opt_id("variant_id"),
        quantity=n.decimal("quantity"),
        unit_price=n.decimal(f"price_{suffix}"),
        subtotal=n.decimal(f"total_{suffix}"),
        tax=tax,
        taxable=tax != 0,
    )


def _fee(n: Node, suffix: str) -> OrderLine:
    # The docs' sample spells it both cost_ex_tax and cost_exc_tax.
    key = f"cost_{suffix}"
    if not n.has(key) and suffix == "ex_tax":
        key = "cost_exc_tax"
    amount = n.decimal(key)
    return build(
        OrderLine,
        n.path,
        line_id=f"fee-{n.id('id')}",
        kind="fee",
        name=n.text("display_name_merchant") or n.text("display_name_customer") or "Fee",
        quantity=Decimal(1),
        unit_price=amount,
        subtotal=amount,
        tax=n.opt_decimal("cost_tax"),
    )


def payments_from_transactions(transactions_json: object, order: Order, connection: Connection) -> list[Payment]:
    """v3 /orders/{id}/transactions -> Payments for successful purchase/capture transactions."""
    payments = []
    for t in _items(transactions_json, "transactions"):
        kind = _PAYMENT_EVENTS.get(t.text("event") or "")
        if kind is None or t.text("status") != "ok":
            continue
        payments.append(
            build(
                Payment,
                t.path,
                connection_id=connection.id,
                channel=CHANNEL,
                order_id=order.order_id,
                payment_id=t.id("id"),
                kind=kind,
                amount=t.decimal("amount"),
                currency=(t.text("currency") or order.currency).upper(),
                gateway=t.text("gateway", max_len=255),
                reference=t.text("gateway_transaction_id", max_len=255),
                processed_at=t.opt_date_time("date_created"),
                test=t.flag("test"),
            )
        )
    return payments


def order_events(
    order_json: object,
    products_json: object,
    shipping_addresses_json: object,
    transactions_json: object,
    *,
    connection: Connection,
    topic: str = "store/order/updated",
    taxes_json: object = None,
    refunds_json: object = None,
) -> list[CanonicalEvent]:
    """The consumer's follow-up fetch -> Order event + Payment and Refund events (+ Cancellation).

    Order event id: bigcommerce:<connection>:order:<order id>:<date_modified>:<state digest>;
    payments: the transaction id; refunds: the refund id; cancellation: the order id.
    """
    order = parse_order(
        order_json, products_json, shipping_addresses_json, connection=connection, taxes_json=taxes_json
    )
    base: dict[str, Any] = {"connection_id": connection.id, "channel": CHANNEL, "topic": topic}
    events: list[CanonicalEvent] = [
        build(
            OrderEvent,
            "event",
            **base,
            event_id=event_id(
                CHANNEL,
                connection.id,
                "order",
                order.order_id,
                order.updated_at.isoformat(),
                state_digest(order),
            ),
            occurred_at=order.updated_at,
            updated_at=order.updated_at,
            payload=order,
        )
    ]
    for payment in payments_from_transactions(transactions_json, order, connection):
        events.append(
            build(
                PaymentEvent,
                "event",
                **base,
                event_id=event_id(CHANNEL, connection.id, "payment", payment.payment_id),
                occurred_at=payment.processed_at,
                updated_at=payment.processed_at,
                payload=payment,
            )
        )
    for refund in refunds_from(refunds_json, order, connection):
        events.append(
            build(
                RefundEvent,
                "event",
                **base,
                event_id=event_id(CHANNEL, connection.id, "refund", refund.refund_id),
                occurred_at=refund.processed_at,
                updated_at=refund.processed_at,
                payload=refund,
            )
        )
    if order.status is OrderStatus.CANCELLED:
        cancellation = build(
            Cancellation,
            "order",
            connection_id=connection.id,
            channel=CHANNEL,
            order_id=order.order_id,
            cancelled_at=order.cancelled_at,
            evidence="order_state",  # read from the API, never from the callback
        )
        events.append(
            build(
                CancellationEvent,
                "event",
                **base,
                event_id=event_id(CHANNEL, connection.id, "cancellation", order.order_id),
                occurred_at=order.cancelled_at,
                updated_at=order.updated_at,
                payload=cancellation,
            )
        )
    return events


def parse_refund(refund_json: object, order: Order, connection: Connection) -> Refund:
    """v3 /orders/{id}/payment_actions/refunds[...] (one refund: `data`, or its content) -> Refund.

    `total_amount` is the money returned (tax included) and `total_tax` the tax in it. PRODUCT
    items map to their order line (`item_id` = order product id): `requested_amount` when given,
    else the refunded `quantity` at the line's unit price (BigCommerce sends null for a refund by
    quantity). SHIPPING and HANDLING items become `shipping_amount` (null = the whole charge),
    FEE items their fee line; GIFT_WRAPPING and ORDER (amount-only) items are left to the credit
    memo's adjustment line. `total_tax` is spread over the refunded lines by amount (the API gives
    it only in total). Amounts are tax-inclusive in a tax-inclusive order, like its lines.
    """
    root = refund_json.get("data", refund_json) if isinstance(refund_json, dict) else refund_json
    n = _root(root, "refund")
    by_id = {line.line_id: line for line in order.lines}
    lines: list[dict[str, Any]] = []
    shipping = ZERO
    for item in n.objects("items"):
        item_type = (item.text("item_type") or "").upper()
        requested = item.get("requested_amount")
        given = None if requested is None or requested == "" else item.decimal("requested_amount")
        if item_type in ("SHIPPING", "HANDLING"):
            handling = item_type == "HANDLING"
            whole = sum((s.price for s in order.shipping_lines if (s.code == "handling") == handling), ZERO)
            shipping += whole if given is None else given
        elif item_type in ("PRODUCT", "FEE"):
            line_id = item.id("item_id") if item_type == "PRODUCT" else f"fee-{item.id('item_id')}"
            line = by_id.get(line_id)
            quantity = item.opt_decimal("quantity", Decimal(1) if item_type == "FEE" else ZERO)
            if given is not None:
                amount = given
            elif line is not None and line.quantity:
                amount = line.subtotal / line.quantity * quantity
            else:
                amount = ZERO  # nothing to price it by: the adjustment line takes it
            sku = line.sku if line else None
            lines.append({"line_id": line_id, "sku": sku, "quantity": quantity, "amount": amount, "at": item.path})
    total_tax = n.opt_decimal("total_tax")
    weights = [abs(line["amount"]) for line in lines]
    base = sum(weights, ZERO)
    taxes = [total_tax * w / base if base else ZERO for w in weights]
    return build(
        Refund,
        n.path,
        connection_id=connection.id,
        channel=CHANNEL,
        refund_id=n.id("id"),
        order_id=n.opt_id("order_id") or order.order_id,
        amount=n.decimal("total_amount"),
        currency=order.currency,
        lines=tuple(build(RefundLine, line.pop("at"), **line, tax=tax) for line, tax in zip(lines, taxes, strict=True)),
        shipping_amount=shipping,
        reason=n.free_text("reason"),
        processed_at=n.opt_date_time("created"),
    )


def refunds_from(refunds_json: object, order: Order, connection: Connection) -> list[Refund]:
    """v3 /orders/{id}/payment_actions/refunds -> Refunds, leaving out those whose every refund
    payment the provider declined (no money went back)."""
    refunds = []
    for r in _items(refunds_json, "refunds"):
        payments = r.objects("payments")
        if payments and all(p.flag("is_declined") for p in payments):
            continue
        refunds.append(parse_refund(r.raw, order, connection))
    return refunds


ADAPTER: Final = BigCommerceAdapter()
verify_signature = ADAPTER.verify_signature
parse = ADAPTER.parse
