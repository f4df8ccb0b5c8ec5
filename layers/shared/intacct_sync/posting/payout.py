"""Refunds paid out to the customer (`refunds.payout = "debit_memo"`): the balancing adjustment.

The XML API has no customer-refund object (Sage added one to the REST API only). A credit memo
alone leaves a paid order's customer with a credit balance, and the cash the refund paid out is
not recorded. Intacct's documented way ("AR Payments": "Create a payment against a debit memo
line by applying a credit memo line") is a debit memo (`create_aradjustment`, a positive amount)
whose line is the account the money left (`refunds.payout_account`), and an ARPYMT without cash
that applies the refund's credit memo to it: `POSADJKEY` = the debit memo, `ADJUSTMENTKEY` (or
`NEGATIVEINVOICEKEY`: `refunds.credit_key`) = the credit memo's AR record. The customer's balance
is back where it was before the refund, the payout account shows the money out.

Pure functions; the payment poster sends them, once each (deterministic controlids, the ledger's
`PayoutRecord`, a lookup by adjustment number / DOCNUMBER before anything is sent again).
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

from intacct_sync.intacct.documents import ArAdjustment, ArAdjustmentLine, ArPayment, CreditApplication
from intacct_sync.models.order import Refund
from intacct_sync.posting import mapping
from intacct_sync.settings import Settings

ADJUSTMENT_NO_MAX = mapping.DOCNO_MAX
"""Assumed like the document number (the adjustment number's limit is undocumented)."""


def adjustment_no(refund: Refund, credit_document_no: str | None) -> str:
    """The debit memo's number: `RF-` + its credit memo's number (claimed by the order, so no
    two orders share it), or, when Intacct numbers credit memos, `RF-<order id>-<refund id>`
    with a digest of the connection (two stores' order ids can be equal)."""
    if credit_document_no:
        return mapping.bounded_reference(f"RF-{credit_document_no}", ADJUSTMENT_NO_MAX)
    store = hashlib.sha256(refund.connection_id.encode("utf-8")).hexdigest()[:6]
    return mapping.bounded_reference(f"RF-{refund.order_id}-{refund.refund_id}~{store}", ADJUSTMENT_NO_MAX)


def payment_document_number(refund: Refund) -> str:
    """DOCNUMBER of the ARPYMT applying the credit: `RF-` + the refund id (30 characters)."""
    return mapping.bounded_reference(f"RF-{refund.refund_id}", mapping.PAYMENT_DOCNUMBER_MAX)


def debit_memo_for(
    refund: Refund,
    amount: Decimal,
    customer_id: str,
    settings: Settings,
    *,
    number: str,
    on: date,
    currency: str | None,
    order_number: str | None = None,
) -> ArAdjustment:
    """The debit memo recording `amount` paid back: one line on `refunds.payout_account`."""
    account = settings.refunds.payout_account
    if account is None:  # the settings loader refuses payout=debit_memo without it
        raise ValueError("refunds.payout_account is not set")
    what = f"{refund.channel} refund {refund.refund_id}" + (f" of order {order_number}" if order_number else "")
    return ArAdjustment(
        customer_id=customer_id,
        date_created=on,
        lines=[ArAdjustmentLine(gl_account_no=account, amount=amount, memo=f"Paid out: {what}")],
        adjustment_no=number,
        description=f"Refund paid out: {what}",
        currency=currency,
    )


def payout_for(
    refund: Refund,
    amount: Decimal,
    customer_id: str,
    settings: Settings,
    *,
    debit_memo_key: str,
    credit_ar_key: str,
    on: date,
    currency: str,
) -> ArPayment:
    """The ARPYMT without cash that applies the refund's credit memo (`credit_ar_key`,
    SODOCUMENT.PRRECORDKEY) to its debit memo (`debit_memo_key`). Method and account are
    `payments.default`'s: the documented example carries one, and no money moves through it."""
    method = settings.payments.default
    return ArPayment(
        customer_id=customer_id,
        payment_method=method.payment_method,
        receipt_date=on,
        currency=currency,
        applications=(),
        credits=[
            CreditApplication(
                debit_memo_key=debit_memo_key,
                credit_key=credit_ar_key,
                amount=amount,
                credit_field=settings.refunds.credit_key,
            )
        ],
        financial_entity=method.bank_account_id,
        undeposited_account=method.undeposited_account,
        document_number=payment_document_number(refund),
        description=f"Refund {refund.refund_id} paid out: credit memo applied to its debit memo",
    )
