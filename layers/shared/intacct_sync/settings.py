"""Sync settings: customer match, invoice and credit memo, items, units, payments, rules.

In AWS they are the JSON of an SSM parameter; locally a file. `load_settings` validates them
once, at load, and turns every problem into a `ConfigurationError` naming the key path
(`invoice.numbering.mode`, `rules[2] "EU orders".when.sku[0]`) and how to fix it. Every key is
documented, with an example, in docs/settings.md. The settings hold no secrets.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from intacct_sync.errors import ConfigurationError
from intacct_sync.models.order import Channel
from intacct_sync.posting.rules import Rule, validate_glob

CUSTOMER_ID_MAX: Final = 20
"""Assumed CUSTOMERID length limit (Intacct's customer ID field; the docs do not state it)."""
CUSTOMER_ID_PREFIX_MAX: Final = 8
"""Leaves room for the 12-character hash of `posting.customers.customer_id_for`."""

_Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
_Glob = Annotated[str, AfterValidator(validate_glob)]


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a known IANA time zone: use a name like 'UTC', 'Europe/Berlin' or "
            "'America/New_York' (on Lambda the tzdata package must be in the layer)"
        ) from None
    return name


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


# --- customer --------------------------------------------------------------------------------


class CustomerSettings(_Section):
    match: Literal["customer_name", "first_last", "company", "single"] = "customer_name"
    """How an order finds its Intacct customer (the guide's "customer match")."""
    single_customer_id: _Id | None = None
    """With match=single: the one CUSTOMERID every order is billed to."""
    id_prefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{0,8}$")] = "WEB-"
    """Prefix of the CUSTOMERID of customers the sync creates (at most 8 characters)."""
    guest_without_name: Literal["email", "single", "reject"] = "email"
    """An order with no name to match on (guest checkout without address): use the e-mail
    address as the name (else `guest_customer_id` if set), bill `guest_customer_id`, or park it."""
    guest_customer_id: _Id | None = None
    """The CUSTOMERID for such orders (required with guest_without_name=single)."""

    @model_validator(mode="after")
    def _pairs(self) -> CustomerSettings:
        if self.match == "single" and self.single_customer_id is None:
            raise ValueError('match is "single": set single_customer_id to the Intacct CUSTOMERID to bill')
        if self.guest_without_name == "single" and self.guest_customer_id is None:
            raise ValueError('guest_without_name is "single": set guest_customer_id to the Intacct CUSTOMERID')
        return self


# --- invoice and credit memo ----------------------------------------------------------------


# Intacct's standard Order Entry definitions that create no AR record (see the order poster).
_NOT_AR = frozenset({"sales order", "sales quote"})


class Numbering(_Section):
    mode: Literal["order_number", "intacct"] = "order_number"
    """order_number: the document number is prefix + the channel's order number; intacct: no
    documentno is sent and the transaction definition numbers the document."""
    prefix: Annotated[str, StringConstraints(max_length=20)] = ""
    prefix_by_connection: dict[str, Annotated[str, StringConstraints(max_length=20)]] = Field(default_factory=dict)
    """A prefix per connection id (two stores can both have an order 1001)."""

    def prefix_for(self, connection_id: str) -> str:
        return self.prefix_by_connection.get(connection_id, self.prefix)


class InvoiceSettings(_Section):
    transaction_definition: _Id = "Sales Invoice"
    """The Order Entry transaction definition to create: one that posts to Accounts Receivable
    (payments are applied to its AR record). Sales Order and Sales Quote do not, and are refused."""
    numbering: Numbering = Numbering()
    term_name: _Id | None = None
    """A payment term of the company (e.g. "Net 30"); wins over due_days."""
    due_days: Annotated[int, Field(ge=0, le=3650)] | None = 0
    """Due date = invoice date + this many days, when no term_name."""
    state: Literal["Draft", "Pending", "Closed"] | None = None
    """State to create in; null = the transaction definition's default."""
    message_from_note: bool = True
    """Copy the customer's order note into the invoice message."""
    timezone: Annotated[str, AfterValidator(_zone)] | None = None
    """IANA zone in which the order's time becomes the invoice date; null = the zone the order
    was placed in (the UTC offset the channel's own timestamp carries), UTC when it has none."""
    shipping_methods: dict[str, _Id] = Field(default_factory=dict)
    """Channel shipping method (title or code, case-insensitive) -> Intacct Ship Via name for the
    header's shippingmethod; unmapped methods are left off the header (they stay on the shipping line)."""
    after_payment: Literal["adjust", "leave"] = "adjust"
    """An order changed after it was paid: `adjust` invoices what it gained on an additional
    invoice `<number>-A<n>` (what it lost is credited when the channel refunds it); `leave` only
    notes it in the ledger for a person."""
    total_mismatch: Literal["reject", "adjust"] = "reject"
    """When an order's parts do not add up to its total: park it, or post the difference as an
    adjustment line (items.adjustment_item_id)."""
    addresses: Literal["order", "customer"] = "order"
    """Bill-to and ship-to of invoices and credit memos: "order" = the order's own billing and
    shipping address, phone and e-mail, as one Intacct CONTACT per distinct address (created
    once, never changed); "customer" = none sent, Intacct uses the customer's own contacts."""

    @field_validator("transaction_definition")
    @classmethod
    def _posts_to_ar(cls, value: str) -> str:
        if value.strip().lower() in _NOT_AR:
            raise ValueError(
                f"'{value}' does not post to Accounts Receivable, so no payment could ever be applied to it: use a "
                'definition that does (e.g. "Sales Invoice"); convert orders to invoices in Intacct if you need '
                "Sales Orders as well"
            )
        return value

    @model_validator(mode="after")
    def _due(self) -> InvoiceSettings:
        if self.term_name is None and self.due_days is None:
            raise ValueError(
                "term_name and due_days are both empty: give one (Intacct needs a term or a due date on an invoice)"
            )
        return self


class CreditMemoSettings(_Section):
    transaction_definition: _Id = "Sales Credit Memo"
    numbering: Numbering = Numbering(prefix="CM-")
    """order_number: prefix + order number + "-" + refund id; intacct: Intacct numbers it."""
    restock_unstated: bool = True
    """Refunded units whose channel does not say whether they went back on hand (WooCommerce's
    REST API does not report `restock_items`): true credits them on their own item (the credit
    memo puts them back on hand), false on `items.no_restock_item_id` (no inventory effect)."""
    created_from: bool = False
    """Send `<createdfrom>` = the order's invoice on every credit memo, linking (converting) it in
    Intacct. The credit memo definition must allow conversion from the invoice definition, and a
    converted invoice can no longer be updated or deleted: off unless the company is set up so."""


# --- items and units -------------------------------------------------------------------------


class SkuPattern(_Section):
    pattern: _Glob
    item_id: _Id


class ItemOverrides(_Section):
    """Per-channel or per-connection replacements of the item settings (unset = inherit)."""

    shipping_item_id: _Id | None = None
    discount_item_id: _Id | None = None
    adjustment_item_id: _Id | None = None
    no_restock_item_id: _Id | None = None
    fee_item_id: _Id | None = None
    fallback_item_id: _Id | None = None
    gift_card_item_id: _Id | None = None
    tip_item_id: _Id | None = None
    duty_item_id: _Id | None = None
    sku_map: dict[str, _Id] = Field(default_factory=dict)
    sku_patterns: tuple[SkuPattern, ...] = ()


class ItemSettings(_Section):
    shipping_item_id: _Id = "SHIPPING"
    discount_item_id: _Id = "DISCOUNT"
    adjustment_item_id: _Id | None = None
    """Item of amount-only refund lines and of total adjustments (total_mismatch=adjust)."""
    no_restock_item_id: _Id | None = None
    """Non-inventory item of refunded units the channel did not put back on hand (Shopify
    `restock_type: no_restock`): the credit memo credits their value without restocking them.
    null = `adjustment_item_id`."""
    fee_item_id: _Id | None = "FEE"
    """Item for fee lines without SKU (WooCommerce fees, BigCommerce fees and gift wrapping);
    null = such lines follow `no_sku`."""
    gift_card_item_id: _Id = "GIFTCARD"
    """Item of gift cards sold (Shopify `line_items[].gift_card`): a non-inventory item whose GL
    account is the gift card liability, so the sale is not booked as revenue (its SKU is ignored)."""
    tip_item_id: _Id = "TIPS"
    """Item of tips the customer added (Shopify `total_tip_received` / tip line items)."""
    duty_item_id: _Id = "DUTIES"
    """Item of import duties collected with the order (Shopify `line_items[].duties[]`)."""
    tax_subtotal: _Id = "Tax"
    """Description of the tax subtotal on the transaction definitions (every tax not mapped by
    `tax_subtotals`)."""
    tax_subtotals: dict[_Id, _Id] = Field(default_factory=dict)
    """Channel tax title or code (Shopify `title`, WooCommerce `label` or `rate_code`, BigCommerce
    `name`; case-insensitive) -> the description of the subtotal it posts to: one subtotal per
    jurisdiction (GST, PST). Each description must exist on the transaction definitions."""
    sku_map: dict[str, _Id] = Field(default_factory=dict)
    """Exact SKU -> Intacct ITEMID."""
    sku_patterns: tuple[SkuPattern, ...] = ()
    """Ordered glob patterns -> ITEMID, tried after sku_map."""
    no_sku: Literal["reject", "fallback"] = "reject"
    fallback_item_id: _Id | None = None
    overrides: dict[str, ItemOverrides] = Field(default_factory=dict)
    """Keyed by connection id or channel name; a connection's entry beats its channel's."""

    @model_validator(mode="after")
    def _fallback(self) -> ItemSettings:
        if self.no_sku == "fallback" and self.fallback_item_id is None:
            raise ValueError('no_sku is "fallback": set fallback_item_id to the Intacct item for lines without SKU')
        return self


class UnitPattern(_Section):
    pattern: _Glob
    unit: _Id


class UnitSettings(_Section):
    default: _Id | None = "Each"
    """Unit of product lines; null sends none (the item's default unit)."""
    by_sku: tuple[UnitPattern, ...] = ()
    """Ordered SKU glob patterns -> Intacct unit, tried before the default."""


# --- payments and cancellation ---------------------------------------------------------------


class PaymentMethod(_Section):
    payment_method: Literal[
        "Printed Check", "Cash", "EFT", "Credit Card", "Online Charge Card", "Online ACH Debit", "Online"
    ] = "Credit Card"
    bank_account_id: _Id | None = None
    """Checking/savings account ID (ARPYMT FINANCIALENTITY)."""
    undeposited_account: _Id | None = None
    """Undeposited funds GL account number (ARPYMT UNDEPOSITEDACCOUNTNO)."""

    @model_validator(mode="after")
    def _one_source(self) -> PaymentMethod:
        if (self.bank_account_id is None) == (self.undeposited_account is None):
            raise ValueError("needs one money source: give exactly one of bank_account_id or undeposited_account")
        return self


class PaymentSettings(_Section):
    default: PaymentMethod = PaymentMethod(undeposited_account="1200")
    gateways: dict[str, PaymentMethod] = Field(default_factory=dict)
    """Gateway name as the channel reports it (case-insensitive) -> method and account."""
    gift_card: PaymentMethod = PaymentMethod(payment_method="Cash", undeposited_account="2150")
    """Gift card redemptions: the money comes off the gift card liability, not into cash. Used for
    the gateways of `gift_card_gateways` unless `gateways` names them."""
    gift_card_gateways: tuple[_Id, ...] = ("gift_card",)
    """Gateway names (case-insensitive) that are gift card redemptions (Shopify `gift_card`)."""
    cash_gateways: tuple[_Id, ...] = ("cash",)
    """Gateway names (case-insensitive) of cash taken at a till (Shopify POS `cash`): a sale above
    what is due is cash tendered, netted with the `change` handed back (`posting.cash_change`)."""

    @model_validator(mode="after")
    def _unique(self) -> PaymentSettings:
        seen: dict[str, str] = {}
        for name in self.gateways:
            key = name.strip().casefold()
            if key in seen:
                raise ValueError(f"gateways {seen[key]!r} and {name!r} differ only in case: keep one")
            seen[key] = name
        return self

    def for_gateway(self, gateway: str | None) -> PaymentMethod:
        if gateway:
            key = gateway.strip().casefold()
            for name, method in self.gateways.items():
                if name.strip().casefold() == key:
                    return method
            if self.is_gift_card(gateway):
                return self.gift_card
        return self.default

    def is_gift_card(self, gateway: str | None) -> bool:
        return bool(gateway) and _named(gateway, self.gift_card_gateways)

    def is_cash(self, gateway: str | None) -> bool:
        return bool(gateway) and _named(gateway, self.cash_gateways)


def _named(gateway: str | None, names: tuple[str, ...]) -> bool:
    key = (gateway or "").strip().casefold()
    return any(name.strip().casefold() == key for name in names)


class RefundSettings(_Section):
    """How money a refund paid back to the customer is recorded (the XML API has no customer
    refund object: a debit memo on the payout account, settled by the refund's credit memo)."""

    payout: Literal["none", "debit_memo"] = "none"
    """none: only the credit memo is posted (the customer keeps a credit balance in Intacct until
    someone records the refund by hand); debit_memo: each credited refund also gets an AR debit
    memo on `payout_account` and an ARPYMT applying the credit memo to it."""
    payout_account: _Id | None = None
    """GL account the money went out of (the debit memo line's account): the undeposited funds
    or bank account the payments went into, or a refunds clearing account."""
    credit_key: Literal["ADJUSTMENTKEY", "NEGATIVEINVOICEKEY"] = "ADJUSTMENTKEY"
    """How the credit memo's AR record is applied: as a credit memo (ARADJUSTMENT) or a negative
    invoice (ARINVOICE); which one a posted Order Entry credit memo is depends on the company."""

    @model_validator(mode="after")
    def _account(self) -> RefundSettings:
        if self.payout == "debit_memo" and self.payout_account is None:
            raise ValueError(
                'payout is "debit_memo": set payout_account to the GL account refunds are paid from '
                "(e.g. the undeposited funds account the payments go to)"
            )
        return self


class CancellationSettings(_Section):
    unpaid: Literal["delete", "close"] = "delete"
    """A cancelled order with no payment: delete its invoice, or close it (state Closed)."""


class PayoutSettings(_Section):
    """Payouts into Intacct (`intacct_sync.payouts`): each Shopify Payments payout becomes one
    deposit of the AR payments it settles, with its fees, refunds, chargebacks and adjustments
    booked to GL accounts, so the deposit equals the bank line."""

    enabled: bool = False
    bank_account_id: _Id | None = None
    """Intacct bank account (checking account ID) the payouts reach (`record_deposit` bankaccountid)."""
    undeposited_account: _Id = "1200"
    """Undeposited funds GL account the payout's fee receipt is recorded to before the deposit;
    the payments it deposits must have gone there too (`payments.default.undeposited_account`)."""
    fee_account: _Id | None = None
    """GL account of processing fees (an expense: the receipt line takes them out)."""
    refund_account: _Id | None = None
    """GL account of refunds paid out of the payout: where refunds are recorded as paid
    (`refunds.payout_account` when refunds are paid out by debit memo), else a clearing account."""
    chargeback_account: _Id | None = None
    """GL account of disputes and chargebacks (withdrawn and reversed amounts)."""
    adjustment_account: _Id | None = None
    """GL account of adjustments, reserves and anything else in a payout that is not a charge."""
    payment_method: Literal["EFT", "Cash", "Printed Check", "Credit Card"] = "EFT"
    """Payment method of the fee receipt (`record_otherreceipt` paymentmethod)."""
    payer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] = "Shopify Payments"
    lookback_days: Annotated[int, Field(ge=1, le=120)] = 14
    """How far back the first run reads payouts (and the overlap every run re-reads)."""
    max_wait_hours: Annotated[int, Field(ge=1, le=24 * 60)] = 72
    """A payout waiting longer than this for its payments logs "payout waiting too long" (alarm)."""
    shopify_transactions_filter: Literal["payments_transfer_id", "payout_id"] = "payments_transfer_id"
    """The search key selecting one payout's balance transactions (unsure: see README, Payouts)."""
    stripe_payer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] = "Stripe"
    """`payer` of the payouts of connections read from Stripe (`stripe_secret_key`)."""
    stripe_order_metadata_keys: Annotated[
        tuple[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)], ...],
        Field(min_length=1, max_length=5),
    ] = ("order_id",)
    """Metadata keys of a Stripe charge (or its PaymentIntent) naming the store's order, first
    found wins (WooCommerce Stripe Gateway: `order_id`; BigCommerce: unsure, README facts table)."""
    stripe_order_description_pattern: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    """When no metadata key names the order: a regular expression with one group, searched in the
    charge's (then its PaymentIntent's) `description`, whose group is the order id (`Order #?(\\d+)`)."""
    fees: Literal["receipt", "journal_entry"] = "receipt"
    """How the non-payment part of a payout is booked: `receipt` (one other receipt deposited with
    the payments: deposit = bank line), or `journal_entry` (the deposit holds the payments only and
    a journal entry takes the fees etc. off `bank_gl_account`: deposit + journal = bank line)."""
    bank_gl_account: _Id | None = None
    """GL account of the bank account (its cash account), for `fees = "journal_entry"`."""
    journal: _Id = "GJ"
    """Journal symbol of that journal entry."""

    @field_validator("stripe_order_description_pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"is not a regular expression: {exc}") from None
        if groups != 1:
            raise ValueError('must have exactly one group (the order id), e.g. "Order #?(\\d+)"')
        return value

    @model_validator(mode="after")
    def _accounts(self) -> PayoutSettings:
        if self.enabled:
            needed = ("bank_account_id", "fee_account", "refund_account", "chargeback_account", "adjustment_account")
            missing = [name for name in needed if getattr(self, name) is None]
            if self.fees == "journal_entry" and self.bank_gl_account is None:
                missing.append("bank_gl_account")
            if missing:
                raise ValueError(
                    f"enabled is true but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
                    "name the Intacct bank account ID and the GL account numbers (General Ledger > Chart of "
                    "accounts) each part of a payout is booked to, or set enabled to false"
                )
        return self


# --- stock push and writeback (issue 5) ------------------------------------------------------


class StockSource(_Section):
    """Where on-hand per item and warehouse comes from. The reference marks every candidate
    unsure (intacct-xml-api.md §6): check a real company with `lookup` before switching."""

    kind: Literal["get_icitemtotals", "query"] = "get_icitemtotals"
    """get_icitemtotals: the legacy function (all rows in one answer); query: a paged `query` on
    `object` with the field names below."""
    object: _Id = "ITEMWAREHOUSEINFO"
    item_field: _Id = "ITEMID"
    warehouse_field: _Id = "WAREHOUSEID"
    on_hand_field: _Id = "QTYONHAND"
    on_hold_field: _Id | None = "QTYONHOLD"
    """null: the object has no on-hold figure (then subtract_on_hold has no effect)."""
    page_size: Annotated[int, Field(ge=1, le=1000)] = 1000


class StockConnection(_Section):
    """One connection's stock push."""

    enabled: bool = True
    locations: dict[_Id, _Id] = Field(default_factory=dict)
    """Intacct WAREHOUSEID -> channel location (Shopify location id, numeric or gid; BigCommerce
    location id; WooCommerce has one figure per product: use "default"). Several warehouses may
    feed one location (summed); warehouses not listed are not published. Empty: WooCommerce sums
    every warehouse; Shopify and BigCommerce need the map."""
    safety_buffer: Annotated[int, Field(ge=0)] | None = None
    """Overrides stock.safety_buffer for this connection."""


class ShopifyStock(_Section):
    quantity_name: Literal["available", "on_hand"] = "available"
    reason: _Id = "correction"
    reference_uri: _Id = "gid://intacct-sync/StockSync"


class StockSettings(_Section):
    source: StockSource = StockSource()
    safety_buffer: Annotated[int, Field(ge=0)] = 0
    """Units held back from every published figure (never below 0)."""
    subtract_on_hold: bool = True
    """Publish on hand minus on hold."""
    skus: Literal["all"] | tuple[_Id, ...] = "all"
    """Which items are published: "all", or a list of Intacct ITEMIDs."""
    item_sku_map: dict[_Id, _Id] = Field(default_factory=dict)
    """Intacct ITEMID -> channel SKU where they differ (default: the same text)."""
    connections: dict[_Id, StockConnection] = Field(default_factory=dict)
    """Keyed by connection id; a connection not listed is not pushed to."""
    shopify: ShopifyStock = ShopifyStock()
    resolve_every_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 24
    """How often the SKU -> channel id map is re-read from the channel (new products)."""

    def sku_for(self, item_id: str) -> str:
        return self.item_sku_map.get(item_id, item_id)

    def wants(self, item_id: str) -> bool:
        return self.skus == "all" or item_id in self.skus


class ShopifyMetafield(_Section):
    namespace: _Id = "intacct"
    key: _Id = "document_number"


class WritebackSettings(_Section):
    enabled: bool = False
    """Turn the writeback on (the function does nothing while false)."""
    shopify_tag_prefix: Annotated[str, StringConstraints(max_length=20)] | None = "intacct:"
    """Tag `<prefix><document number>` added to the order; null: no tag."""
    shopify_metafield: ShopifyMetafield | None = None
    """Also (or instead) set this order metafield to the document number."""
    woocommerce_meta_key: _Id | None = "_intacct_document_number"
    woocommerce_note: bool = True
    """Add a private order note naming the document."""
    bigcommerce_staff_note: bool = True
    mark_paid: bool = True
    """Mark the channel order paid when Intacct shows its invoice fully paid."""
    woocommerce_paid_status: Literal["processing", "completed"] = "processing"
    bigcommerce_paid_status_id: Literal[10, 11] = 11
    """11 Awaiting Fulfillment, 10 Completed."""
    lookback_days: Annotated[int, Field(ge=1, le=365)] = 7
    """First run: invoices modified this many days back are checked for payment."""


# --- the whole -------------------------------------------------------------------------------


class Settings(_Section):
    test_orders: Literal["skip", "post"] = "skip"
    """Orders made in the channel's test mode (Shopify `test: true`, test transactions): "skip"
    posts neither them nor their payments and refunds (recorded in the ledger); "post" books them."""
    customer: CustomerSettings = CustomerSettings()
    invoice: InvoiceSettings = InvoiceSettings()
    credit_memo: CreditMemoSettings = CreditMemoSettings()
    items: ItemSettings = ItemSettings()
    units: UnitSettings = UnitSettings()
    payments: PaymentSettings = PaymentSettings()
    refunds: RefundSettings = RefundSettings()
    cancellation: CancellationSettings = CancellationSettings()
    rules: tuple[Rule, ...] = ()
    stock: StockSettings = StockSettings()
    writeback: WritebackSettings = WritebackSettings()
    payouts: PayoutSettings = PayoutSettings()

    def item_overrides(self, connection_id: str, channel: Channel) -> list[ItemOverrides]:
        """The overrides that apply, most specific first."""
        return [o for key in (connection_id, channel) if (o := self.items.overrides.get(key)) is not None]


# --- loading ---------------------------------------------------------------------------------


def load_settings(raw: str | bytes | Mapping[str, Any]) -> Settings:
    """Parse and validate settings JSON (or an already decoded mapping).

    Raises `ConfigurationError` naming every wrong key path and how to fix it. JSON numbers are
    read as Decimal (money bounds stay exact).
    """
    data: Any
    if isinstance(raw, str | bytes):
        try:
            data = json.loads(raw, parse_float=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f" at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise ConfigurationError(
                f"Settings are not valid JSON{where}.",
                fix="Correct the JSON syntax (a missing comma or quote is the usual cause).",
            ) from None
    else:
        data = raw
    if not isinstance(data, Mapping):
        raise ConfigurationError(
            "Settings must be a JSON object.", fix='Wrap the settings in { }: {"customer": {...}, "rules": [...]}.'
        )
    try:
        return Settings.model_validate(dict(data))
    except ValidationError as exc:
        raise _configuration_error(exc, data) from None


def load_settings_file(path: str | Path) -> Settings:
    """`load_settings` of a file; a missing file is a ConfigurationError too."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read settings file {str(path)!r}: {exc.strerror}.", fix="Check the path."
        ) from None
    return load_settings(raw)


_DEFAULT_FILE: Final = Path(__file__).with_name("default_settings.json")
DEFAULT_SETTINGS: Final[Settings] = load_settings_file(_DEFAULT_FILE)
"""Settings that work against the local Intacct sandbox seed (local/intacct_sandbox/seed.json)."""


# --- error messages --------------------------------------------------------------------------


def _rule_label(data: Any, index: int) -> str:
    rules = data.get("rules") if isinstance(data, Mapping) else None
    name = None
    if isinstance(rules, list) and 0 <= index < len(rules) and isinstance(rules[index], Mapping):
        candidate = rules[index].get("name")
        name = candidate if isinstance(candidate, str) else None
    return f"rules[{index}]" + (f" {name[:60]!r}" if name else "")


def _path(loc: tuple[int | str, ...], data: Any) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, str):
            parts.append(part)
        elif i == 1 and loc[0] == "rules":
            parts[-1] = _rule_label(data, part)
        elif parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(f"[{part}]")
    return ".".join(parts) or "(top level)"


def _unwrap(tp: Any) -> list[Any]:
    """The model / container types a field annotation can hold."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose keys are valid at `loc` (for 'allowed keys here')."""
    current: list[Any] = [Settings]
    for part in loc:
        nxt: list[Any] = []
        for tp in current:
            origin = typing.get_origin(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
                fld = tp.model_fields.get(part)
                if fld is not None:
                    nxt.extend(_unwrap(fld.annotation))
            elif origin in (tuple, list) and isinstance(part, int):
                nxt.extend(_unwrap(typing.get_args(tp)[0]))
            elif origin is dict and isinstance(part, str):
                nxt.extend(_unwrap(typing.get_args(tp)[1]))
        current = nxt
    models = [t for t in current if isinstance(t, type) and issubclass(t, BaseModel)]
    return models[0] if models else None


def _problem(err: Mapping[str, Any], data: Any) -> tuple[str, str, str]:
    """(key path, what is wrong, how to fix it) for one pydantic error."""
    loc = tuple(err["loc"])
    path = _path(loc, data)
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = ", ".join(model.model_fields) if model else "see docs/settings.md"
        return path, "unknown key", f"remove {loc[-1]!r} or correct its spelling; keys allowed here: {allowed}"
    if kind == "missing":
        return path, "required", f"add {loc[-1]!r} (see docs/settings.md)"
    if kind == "literal_error":
        return path, msg, f"use one of {err.get('ctx', {}).get('expected', 'the documented values')}"
    if kind in ("value_error", "assertion_error"):
        what, _, how = msg.partition(": ")
        return path, what, how or what
    return path, msg, "see docs/settings.md for the allowed values"


def _configuration_error(exc: ValidationError, data: Any) -> ConfigurationError:
    problems = [_problem(err, data) for err in exc.errors(include_url=False, include_input=False)]
    message = "Invalid settings: " + "; ".join(f"{path}: {what}" for path, what, _ in problems) + "."
    fix = "; ".join(f"{path}: {how}" for path, _, how in problems) + "."
    return ConfigurationError(message, fix=fix)
