"""Canonical models: what every channel's data becomes, and what travels on the queues.

The names below load on first use (PEP 562): importing one submodule (`models.money`,
`models.text`, `models.connection`) builds only the pydantic classes that one needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intacct_sync.models.connection import Connection
    from intacct_sync.models.events import (
        CancellationEvent,
        CanonicalEvent,
        OrderEvent,
        OrderReferenceEvent,
        PaymentEvent,
        RefundEvent,
        event_from_json,
        event_to_json,
    )
    from intacct_sync.models.money import minor_units, quantize_money, to_decimal
    from intacct_sync.models.order import (
        Address,
        Cancellation,
        Channel,
        Customer,
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
        TotalsCheck,
    )

_SOURCE = {
    "Connection": "connection",
    **dict.fromkeys(
        (
            "CancellationEvent",
            "CanonicalEvent",
            "OrderEvent",
            "OrderReferenceEvent",
            "PaymentEvent",
            "RefundEvent",
            "event_from_json",
            "event_to_json",
        ),
        "events",
    ),
    **dict.fromkeys(("minor_units", "quantize_money", "to_decimal"), "money"),
    **dict.fromkeys(
        (
            "Address",
            "Cancellation",
            "Channel",
            "Customer",
            "Discount",
            "FinancialStatus",
            "Order",
            "OrderLine",
            "OrderReference",
            "OrderStatus",
            "Payment",
            "Refund",
            "RefundLine",
            "ShippingLine",
            "TotalsCheck",
        ),
        "order",
    ),
}


def __getattr__(name: str) -> Any:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCE})


__all__ = [
    "Address",
    "Cancellation",
    "CancellationEvent",
    "CanonicalEvent",
    "Channel",
    "Connection",
    "Customer",
    "Discount",
    "FinancialStatus",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OrderReference",
    "OrderReferenceEvent",
    "OrderStatus",
    "Payment",
    "PaymentEvent",
    "Refund",
    "RefundEvent",
    "RefundLine",
    "ShippingLine",
    "TotalsCheck",
    "event_from_json",
    "event_to_json",
    "minor_units",
    "quantize_money",
    "to_decimal",
]
