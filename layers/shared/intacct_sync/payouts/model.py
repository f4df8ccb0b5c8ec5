"""The canonical payout: what reached (or will reach) the bank, and the balance transactions in it.

Money is Decimal, signed as the processor reports it: a charge's `amount` is the customer's
payment (positive), a refund or a dispute withdrawal negative; `fee` is what the processor kept
(positive); `net` = amount - fee. The payout's `net` is the bank line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal

Kind = Literal["charge", "refund", "chargeback", "adjustment"]
KINDS: Final[tuple[Kind, ...]] = ("charge", "refund", "chargeback", "adjustment")


@dataclass(frozen=True)
class BalanceTransaction:
    transaction_id: str
    kind: Kind
    channel_type: str
    """The processor's own type name (Shopify `CHARGE`, `DISPUTE_WITHDRAWAL`, ...)."""
    amount: Decimal
    fee: Decimal
    net: Decimal
    order_id: str | None = None
    order_name: str | None = None
    payment_id: str | None = None
    """The channel transaction the payment consumer posted as an AR payment (charges)."""
    payout_id: str | None = None
    test: bool = False


@dataclass(frozen=True)
class Payout:
    connection_id: str
    payout_id: str
    issued_at: datetime
    status: str
    """The processor's status (Shopify: SCHEDULED, IN_TRANSIT, PAID, FAILED, CANCELED)."""
    net: Decimal
    currency: str

    @property
    def paid(self) -> bool:
        return self.status.upper() == "PAID"

    @property
    def final(self) -> bool:
        """Nothing more will happen to it (paid out, or failed / cancelled: never a bank line)."""
        return self.status.upper() in ("PAID", "FAILED", "CANCELED", "CANCELLED")
