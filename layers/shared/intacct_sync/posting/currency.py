"""Money in the invoice's currency. Pure.

An invoice is in the order's currency (the shop's / transactional currency, `Order.currency`).
A channel can report a payment or refund in the currency the customer saw instead (Shopify
transactions are in the presentment currency: `amount` + `currency`); posting that figure as it
is would apply 390.00 EUR to a USD invoice, or credit 50.00 USD for a 50 EUR refund. Such an
amount is converted at the order's own rate (its total in the shop currency over its total in
the presentment currency, both stated by the channel), so a payment of the whole presentment
total is exactly the invoice total. Any other mismatch is refused with the reason: never a
document in the wrong currency.
"""

from __future__ import annotations

from decimal import Decimal

from intacct_sync.errors import PermanentError
from intacct_sync.models.money import quantize_money
from intacct_sync.models.order import Order


def to_invoice_currency(
    amount: Decimal, currency: str, invoice_currency: str, order: Order | None, *, what: str
) -> Decimal:
    """`amount` (in `currency`) in `invoice_currency`, rounded to its minor unit.

    Same currency: unchanged. The order's presentment currency: at the order's rate (the whole
    presentment total is the order total exactly). Otherwise PermanentError naming both."""
    if currency.upper() == invoice_currency.upper():
        return amount
    if (
        order is not None
        and order.currency.upper() == invoice_currency.upper()
        and order.presentment_currency is not None
        and order.presentment_currency.upper() == currency.upper()
        and order.presentment_total
    ):
        if amount == order.presentment_total:
            return order.total
        return quantize_money(amount * order.total / order.presentment_total, invoice_currency)
    raise PermanentError(
        f"{what} is in {currency.upper()} but its invoice is in {invoice_currency.upper()}, and the order states "
        f"no {currency.upper()} total to convert it at",
        fix="Post it by hand in Intacct in the invoice's currency (or check the channel's currency settings), "
        "then mark it synced.",
    )
