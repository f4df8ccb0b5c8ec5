"""Typed inputs for the Intacct writes the product makes.

Values only: builders in `functions.py` turn them into XML in the DTD's element order. Money
and quantities are `Decimal` and are written exactly as given (round before building).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal


@dataclass(frozen=True)
class SalesLine:
    """A `<sotransitem>`; fields in DTD order."""

    item_id: str
    quantity: Decimal
    item_desc: str | None = None
    taxable: bool | None = None
    warehouse_id: str | None = None
    unit: str | None = None
    discount_percent: Decimal | None = None
    price: Decimal | None = None
    discsurcharge_memo: str | None = None
    location_id: str | None = None
    department_id: str | None = None
    memo: str | None = None
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    project_id: str | None = None
    class_id: str | None = None


@dataclass(frozen=True)
class Subtotal:
    """A `<subtotal>`: `description` must name a subtotal of the transaction definition."""

    description: str
    total: Decimal
    absval: Decimal | None = None
    percentval: Decimal | None = None
    location_id: str | None = None
    department_id: str | None = None
    class_id: str | None = None


@dataclass(frozen=True)
class SalesTransaction:
    """`create_sotransaction`: a Sales Invoice, Sales Order or credit memo.

    `currency` with no `exchange_rate` sends an empty `<exchratetype/>` (Intacct Daily Rate).
    `bill_to`/`ship_to` name existing contacts (a customer's own is `NAME(CCUSTOMERID)`).
    """

    transaction_type: str
    date_created: date
    customer_id: str
    lines: Sequence[SalesLine]
    created_from: str | None = None
    document_no: str | None = None
    reference_no: str | None = None
    term_name: str | None = None
    date_due: date | None = None
    message: str | None = None
    shipping_method: str | None = None
    ship_to: str | None = None
    bill_to: str | None = None
    external_id: str | None = None
    base_currency: str | None = None
    currency: str | None = None
    exchange_rate_type: str | None = None
    exchange_rate: Decimal | None = None
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    state: str | None = None
    project_id: str | None = None
    subtotals: Sequence[Subtotal] = ()


@dataclass(frozen=True)
class SalesTransactionUpdate:
    """`update_sotransaction`: header fields to change, lines to change or add, subtotals.

    `line_updates` maps 1-based line numbers to replacement lines. An update re-creates the
    invoice's AR record: read PRRECORDKEY again before applying a payment.
    """

    date_created: date | None = None
    reference_no: str | None = None
    term_name: str | None = None
    date_due: date | None = None
    message: str | None = None
    shipping_method: str | None = None
    ship_to: str | None = None
    bill_to: str | None = None
    external_id: str | None = None
    custom_fields: Mapping[str, str] = field(default_factory=dict)
    state: str | None = None
    line_updates: Mapping[int, SalesLine] = field(default_factory=dict)
    new_lines: Sequence[SalesLine] = ()
    subtotals: Sequence[Subtotal] = ()


@dataclass(frozen=True)
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None


@dataclass(frozen=True)
class Contact:
    """A DISPLAYCONTACT; `print_as` is the one required field."""

    print_as: str
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: Address | None = None
    contact_name: str | None = None


@dataclass(frozen=True)
class CustomerRecord:
    """Generic `create` of a CUSTOMER."""

    customer_id: str
    name: str
    display_contact: Contact
    status: str = "active"
    term_name: str | None = None
    ship_to_contact: str | None = None
    bill_to_contact: str | None = None


@dataclass(frozen=True)
class PaymentApplication:
    """An ARPYMTDETAIL: `record_key` is the ARINVOICE RECORDNO (= SODOCUMENT.PRRECORDKEY)."""

    record_key: str
    amount: Decimal


@dataclass(frozen=True)
class CreditApplication:
    """An ARPYMTDETAIL that pays a debit memo (`debit_memo_key`, POSADJKEY: an ARADJUSTMENT
    RECORDNO) with a credit instead of cash: `credit_key` is the credit's AR record, named by
    `credit_field` (ADJUSTMENTKEY for a credit memo, NEGATIVEINVOICEKEY for a negative invoice)."""

    debit_memo_key: str
    credit_key: str
    amount: Decimal
    credit_field: Literal["ADJUSTMENTKEY", "NEGATIVEINVOICEKEY"] = "ADJUSTMENTKEY"


@dataclass(frozen=True)
class ArAdjustmentLine:
    """A `<lineitem>` of `create_aradjustment`: positive amount = debit memo, negative = credit."""

    gl_account_no: str
    amount: Decimal
    memo: str | None = None
    location_id: str | None = None
    department_id: str | None = None


@dataclass(frozen=True)
class ArAdjustment:
    """`create_aradjustment` (legacy): an AR debit or credit memo on the customer's account.
    `currency` with no `exchange_rate` sends an empty `<exchratetype/>` (Intacct Daily Rate)."""

    customer_id: str
    date_created: date
    lines: Sequence[ArAdjustmentLine]
    adjustment_no: str | None = None
    description: str | None = None
    currency: str | None = None
    exchange_rate_type: str | None = None
    exchange_rate: Decimal | None = None


@dataclass(frozen=True)
class ArPayment:
    """Generic `create` of an ARPYMT applied to invoices (cash) and/or debit memos (credits).

    Exactly one money source: `financial_entity` (bank account ID) or `undeposited_account`
    (undeposited-funds GL account).
    """

    customer_id: str
    payment_method: str
    receipt_date: date
    currency: str
    applications: Sequence[PaymentApplication]
    financial_entity: str | None = None
    undeposited_account: str | None = None
    document_number: str | None = None
    description: str | None = None
    credits: Sequence[CreditApplication] = ()

    def __post_init__(self) -> None:
        if (self.financial_entity is None) == (self.undeposited_account is None):
            raise ValueError("an ARPYMT takes exactly one of financial_entity or undeposited_account")
        if not self.applications and not self.credits:
            raise ValueError("an ARPYMT must be applied to at least one invoice or debit memo")
