"""What a payout becomes in Intacct (pure functions: values in, values out).

A payout's charges are customer payments the payment consumer already posted as AR payments
into undeposited funds (the ledger holds their RECORDNOs); everything else in it (processing
fees, refunds, disputes, adjustments) is booked by one other receipt into the same undeposited
funds account, one signed line per GL account. The deposit then moves those payments and that
receipt to the bank account: its total is the payout's net, the bank line, to the cent.

Intacct cannot put a line of its own in a deposit (`record_deposit` takes receipt keys only;
Intacct/intacct-sdk-php `DepositCreate`), hence the receipt. A payout whose payments are not all
posted yet waits: nothing is sent until every charge's payment has its Intacct key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final

from intacct_sync.intacct.cash import Deposit, JournalEntry, JournalLine, OtherReceipt, ReceiptLine
from intacct_sync.ledger import LedgerEntry
from intacct_sync.payouts.model import BalanceTransaction, Payout
from intacct_sync.settings import PayoutSettings

CENT: Final = Decimal("0.01")
DEPOSIT_ID_MAX: Final = 30
"""Assumed like a payment's reference (the deposit ID's limit is not documented)."""
ACCOUNT_KINDS: Final = ("fee", "refund", "chargeback", "adjustment")


class PayoutMismatch(ValueError):
    """The balance transactions do not add up to the payout (or belong to another one)."""


@dataclass(frozen=True)
class Waiting:
    reason: str
    orders: tuple[str, ...]


@dataclass(frozen=True)
class PayoutPlan:
    payment_keys: tuple[str, ...]
    payments_total: Decimal
    lines: dict[str, Decimal] = field(default_factory=dict)
    """Signed amount per account kind: fee, refund, chargeback, adjustment (zero ones left out)."""

    @property
    def receipt_total(self) -> Decimal:
        return sum(self.lines.values(), Decimal(0))

    @property
    def deposit_total(self) -> Decimal:
        return self.payments_total + self.receipt_total


def store_tag(connection_id: str) -> str:
    return hashlib.sha256(connection_id.encode("utf-8")).hexdigest()[:6]


def receipt_controlid(payout: Payout) -> str:
    return f"po-rcpt-{store_tag(payout.connection_id)}-{payout.payout_id}"[:80]


def deposit_controlid(payout: Payout) -> str:
    return f"po-dep-{store_tag(payout.connection_id)}-{payout.payout_id}"[:80]


def journal_controlid(payout: Payout) -> str:
    return f"po-je-{store_tag(payout.connection_id)}-{payout.payout_id}"[:80]


def reference(payout: Payout) -> str:
    """The receipt's refid and the deposit's ID: how both are found again after a lost answer,
    and what a bank line is matched by."""
    return f"PO-{payout.payout_id}"[:DEPOSIT_ID_MAX]


def check(payout: Payout, transactions: Sequence[BalanceTransaction]) -> None:
    """Raise PayoutMismatch unless the transactions are this payout's and net to its amount."""
    foreign = [t.transaction_id for t in transactions if t.payout_id not in (None, payout.payout_id)]
    if foreign:
        raise PayoutMismatch(f"balance transactions {', '.join(foreign[:5])} belong to another payout")
    total = sum((t.net for t in transactions), Decimal(0))
    if total.quantize(CENT) != payout.net.quantize(CENT):
        raise PayoutMismatch(
            f"its {len(transactions)} balance transactions net {total} {payout.currency}, the payout is "
            f"{payout.net} {payout.currency}"
        )


def plan(
    payout: Payout, transactions: Sequence[BalanceTransaction], entries: Mapping[str, LedgerEntry]
) -> PayoutPlan | Waiting:
    """The deposit's payments and the receipt's lines, or why the payout must wait.

    `entries`: ledger entries by `connection:order id` for the orders the charges belong to.
    A charge's payment is posted when its order's entry records the payment id with a RECORDNO;
    a payment posted for another amount (a currency conversion) leaves the difference on the
    adjustment line, so the deposit is still the payout's net."""
    check(payout, transactions)
    keys: list[str] = []
    paid = Decimal(0)
    missing: list[str] = []
    lines: dict[str, Decimal] = {}

    def add(kind: str, amount: Decimal) -> None:
        if amount:
            lines[kind] = lines.get(kind, Decimal(0)) + amount

    for t in transactions:
        add("fee", -t.fee)
        if t.kind != "charge":
            add(t.kind, t.amount)
            continue
        entry = entries.get(f"{payout.connection_id}:{t.order_id}") if t.order_id else None
        record = entry.payments.get(t.payment_id or "") if entry is not None else None
        if record is None or not record.recordno:
            missing.append(t.order_name or t.order_id or t.transaction_id)
            continue
        if record.recordno in keys:  # counted once in the deposit: counting it twice here books money never banked
            raise PayoutMismatch(
                f"charges {t.transaction_id} and another of this payout map to the same AR payment "
                f"{record.recordno} (order {t.order_name or t.order_id}): the payout is not booked; check the "
                "order's payments in the channel, then run the payouts job again"
            )
        keys.append(record.recordno)
        paid += record.amount
        add("adjustment", t.amount - record.amount)
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        return Waiting(
            reason=f"{len(missing)} of its payments {'is' if len(missing) == 1 else 'are'} not posted to Intacct "
            f"yet (orders {shown})",
            orders=tuple(missing),
        )
    return PayoutPlan(
        payment_keys=tuple(keys),
        payments_total=paid,
        lines={k: v for k, v in lines.items() if v},
    )


def _accounts(settings: PayoutSettings) -> dict[str, str | None]:
    return {
        "fee": settings.fee_account,
        "refund": settings.refund_account,
        "chargeback": settings.chargeback_account,
        "adjustment": settings.adjustment_account,
    }


_LABELS: Final = {"fee": "Processing fees", "refund": "Refunds", "chargeback": "Disputes", "adjustment": "Adjustments"}


def _account(settings: PayoutSettings, kind: str) -> str:
    account = _accounts(settings)[kind]
    if account is None:  # the settings loader refuses payouts.enabled without them
        raise ValueError(f"payouts.{kind}_account is not set")
    return account


def journal_for(payout: Payout, p: PayoutPlan, settings: PayoutSettings, *, on: date) -> JournalEntry | None:
    """`payouts.fees = "journal_entry"`: the fees, refunds, disputes and adjustments as a journal
    entry against the bank's GL account (money out of the bank: credit it, debit the account the
    money went to), so deposit (payments) + journal = the bank line. None when there is none."""
    lines: list[JournalLine] = []
    for kind in ACCOUNT_KINDS:
        amount = p.lines.get(kind, Decimal(0)).quantize(CENT)
        if amount:
            memo = f"{_LABELS[kind]}, payout {payout.payout_id}"
            lines.append(JournalLine(_account(settings, kind), abs(amount), debit=amount < 0, memo=memo))
    if not lines:
        return None
    bank = p.receipt_total.quantize(CENT)
    if bank:
        if settings.bank_gl_account is None:  # refused by the settings loader in this mode
            raise ValueError("payouts.bank_gl_account is not set")
        memo = f"{settings.payer} payout {payout.payout_id}: net of payments"
        lines.append(JournalLine(settings.bank_gl_account, abs(bank), debit=bank > 0, memo=memo))
    return JournalEntry(
        journal=settings.journal,
        posting_date=on,
        title=f"{settings.payer} payout {payout.payout_id}: fees, refunds, disputes, adjustments",
        lines=lines,
        reference=reference(payout),
        currency=payout.currency or None,
    )


def receipt_for(payout: Payout, p: PayoutPlan, settings: PayoutSettings, *, on: date) -> OtherReceipt | None:
    """The other receipt booking the payout's fees, refunds, disputes and adjustments (None when
    the payout holds only payments)."""
    lines = []
    for kind in ACCOUNT_KINDS:
        amount = p.lines.get(kind)
        if not amount:
            continue
        lines.append(
            ReceiptLine(
                gl_account_no=_account(settings, kind),
                amount=amount.quantize(CENT),
                memo=f"{_LABELS[kind]}, payout {payout.payout_id}",
            )
        )
    if not lines:
        return None
    return OtherReceipt(
        payer=settings.payer,
        payment_date=on,
        received_date=on,
        payment_method=settings.payment_method,
        undeposited_account=settings.undeposited_account,
        lines=lines,
        reference=reference(payout),
        description=f"{settings.payer} payout {payout.payout_id}: fees, refunds, disputes, adjustments",
        currency=payout.currency or None,
    )


def deposit_for(
    payout: Payout, p: PayoutPlan, receipt_key: str | None, settings: PayoutSettings, *, on: date
) -> Deposit:
    keys = [*p.payment_keys, *([receipt_key] if receipt_key else [])]
    if settings.bank_account_id is None:  # refused by the settings loader when enabled
        raise ValueError("payouts.bank_account_id is not set")
    return Deposit(
        bank_account_id=settings.bank_account_id,
        deposit_date=on,
        deposit_id=reference(payout),
        receipt_keys=keys,
        description=f"{settings.payer} payout {payout.payout_id} ({payout.net} {payout.currency})",
    )
