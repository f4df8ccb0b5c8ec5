"""The sync ledger: per channel order, what was done in Intacct and why (DynamoDB, state table).

One item per order (`ledger#<connection>:<order id>`) holding a JSON document and a version
number; every write is conditional on the version read, so two consumers can never overwrite each
other's progress. Customer matches are cached as `customer#<match key hash>` items, so a known
customer costs no Intacct read. The finance team reads it through `intacct-sync ops`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from intacct_sync.dynamo import ConditionFailed, DynamoTable
from intacct_sync.errors import TransientError

HISTORY_LIMIT = 40

Status = Literal[
    "received",  # seen, nothing posted yet
    "skipped",  # not placed (abandoned checkout) or nothing to post
    "invoiced",  # invoice in Intacct, amount due
    "partially_paid",
    "paid",
    "deleted",  # unpaid order cancelled: invoice deleted
    "closed",  # unpaid order cancelled: invoice closed
    "credited",  # paid order cancelled or fully refunded: credit memo posted
    "parked",  # a permanent error stops it: see last_error, fix, then replay
]


class LedgerConflict(TransientError):
    """Someone else updated the entry since it was read: re-read and retry."""


class PaymentRecord(BaseModel):
    payment_id: str
    amount: Decimal
    recordno: str | None = None
    posted_at: datetime
    applied: dict[str, Decimal] = Field(default_factory=dict)
    """AR record key -> amount, when the payment was split over the invoice and additional ones
    (empty: all on the invoice)."""


class RefundRecord(BaseModel):
    refund_id: str
    amount: Decimal
    document_key: str | None = None
    posted_at: datetime
    credited: bool = True
    """False when no credit memo was posted for it (the invoice was already credited in full by
    the cancellation, or deleted): recorded so a redelivery is a duplicate, counted nowhere."""


class PayoutRecord(BaseModel):
    """A refund's money paid back to the customer (`refunds.payout = "debit_memo"`): the debit
    memo on the payout account and the ARPYMT applying the refund's credit memo to it. Each key
    is recorded as soon as it is known, so no step is ever sent twice."""

    refund_id: str
    amount: Decimal
    customer_id: str
    adjustment_no: str
    credit_document: str | None = None
    """The credit memo's DOCID whose AR record (`credit_ar_key`) is applied."""
    credit_ar_key: str | None = None
    debit_memo_key: str | None = None
    """RECORDNO of the debit memo (ARADJUSTMENT)."""
    payment_key: str | None = None
    """RECORDNO of the ARPYMT applying the credit to the debit memo: set = paid out."""
    dated: date
    """The credit memo's date: the debit memo and the ARPYMT carry it too."""
    currency: str | None = None
    posted_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.payment_key is not None


class ExtraInvoice(BaseModel):
    """An additional invoice for what a paid order gained when edited afterwards."""

    document_key: str
    ar_record_key: str | None = None
    amount: Decimal
    posted_at: datetime


class ErrorRecord(BaseModel):
    at: datetime
    kind: Literal["permanent", "transient"]
    message: str
    fix: str | None = None
    event_id: str | None = None


class HistoryItem(BaseModel):
    at: datetime
    action: str
    detail: str = ""


class WritebackRecord(BaseModel):
    """What was written back to the channel order (issue 5): each step at most once."""

    document_number: str | None = None
    document_written_at: datetime | None = None
    paid_written_at: datetime | None = None


class LedgerEntry(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    connection_id: str
    order_id: str
    channel: str
    order_number: str | None = None
    status: Status = "received"
    source_updated_at: datetime | None = None
    customer_id: str | None = None
    document_key: str | None = None
    ar_record_key: str | None = None
    invoice_total: Decimal | None = None
    invoice_hash: str | None = None
    invoice_lines: int | None = None
    invoice_tax: Decimal | None = None
    """Tax on the invoice as last written (an additional invoice carries only the tax it adds)."""
    extra_invoices: list[ExtraInvoice] = Field(default_factory=list)
    invoice_updates: int = 0
    """How many updates were applied to the invoice: part of each update's controlid, so a later
    update with the same content as an earlier one (A -> B -> A) is a new operation."""
    currency: str | None = None
    utc_offset_minutes: int | None = None
    """The order's own UTC offset (where it was placed): its payments are dated in it too."""
    payments: dict[str, PaymentRecord] = Field(default_factory=dict)
    refunds: dict[str, RefundRecord] = Field(default_factory=dict)
    payouts: dict[str, PayoutRecord] = Field(default_factory=dict)
    """Refunds paid out (by refund id), when `refunds.payout` records them."""
    last_error: ErrorRecord | None = None
    writeback: WritebackRecord = Field(default_factory=WritebackRecord)
    history: list[HistoryItem] = Field(default_factory=list)
    version: int = 0

    @property
    def key(self) -> str:
        return f"{self.connection_id}:{self.order_id}"

    reopened: int = 0
    """How often the order was placed again after its invoice was deleted or closed; each time
    a new invoice `<number>-R<n>` is created (the first stays as it was)."""
    update_in_doubt: bool = False
    """An invoice update was sent and its answer lost: Intacct may hold the new version (and a new
    AR record key) while this entry still shows the old one. Payments wait until the update is
    sent again and settles (its controlid makes that safe)."""
    test_order: bool = False
    """The order was made in the channel's test mode and skipped (`test_orders = "skip"`): its
    payments and refunds are finished as skipped too, never left waiting for an invoice."""
    cash_change: dict[str, Decimal] = Field(default_factory=dict)
    """POS cash netting (`posting.cash_change`), per channel transaction id: + change handed back,
    - cash tendered beyond what was posted. The sum is change not yet matched (>0) or expected (<0)."""
    settled_in_intacct: bool = False
    """The invoice was settled in Intacct itself (a bank transfer recorded there) and the
    writeback marked the channel order paid: a payment the channel then reports is that echo."""

    @property
    def paid_total(self) -> Decimal:
        return sum((p.amount for p in self.payments.values()), Decimal(0))

    @property
    def booked_total(self) -> Decimal:
        """What the order's invoices add up to: the invoice and any additional ones."""
        return (self.invoice_total or Decimal(0)) + sum((x.amount for x in self.extra_invoices), Decimal(0))

    def due_by_record(self) -> list[tuple[str, Decimal]]:
        """(AR record key, amount still due) of the invoice, then each additional invoice."""
        paid: dict[str, Decimal] = {}
        for p in self.payments.values():
            for key, amount in (p.applied or {self.ar_record_key or "": p.amount}).items():
                paid[key] = paid.get(key, Decimal(0)) + amount
        records = [(self.ar_record_key or "", self.invoice_total or Decimal(0))]
        records += [(x.ar_record_key or "", x.amount) for x in self.extra_invoices]
        return [(key, total - paid.get(key, Decimal(0))) for key, total in records]

    @property
    def credited_total(self) -> Decimal:
        """What credit memos (refunds and a cancellation) have credited: never above the invoice."""
        return sum((r.amount for r in self.refunds.values() if r.credited), Decimal(0))

    def note(self, action: str, detail: str = "") -> None:
        self.history = [*self.history, HistoryItem(at=datetime.now(UTC), action=action, detail=detail)][-HISTORY_LIMIT:]

    def fail(
        self, kind: Literal["permanent", "transient"], message: str, fix: str | None, event_id: str | None
    ) -> None:
        self.last_error = ErrorRecord(at=datetime.now(UTC), kind=kind, message=message, fix=fix, event_id=event_id)
        if kind == "permanent":
            self.status = "parked"
        self.note(f"error ({kind})", message)


def match_hash(match_key: str) -> str:
    return hashlib.sha256(match_key.encode()).hexdigest()[:32]


class Ledger(Protocol):
    def get_many(self, keys: list[tuple[str, str]]) -> dict[str, LedgerEntry]:
        """Entries by `connection:order` key for (connection_id, order_id) pairs that exist."""
        ...

    def put(self, entry: LedgerEntry) -> None:
        """Write if nobody wrote since `entry.version` was read (then bumps it); else LedgerConflict."""
        ...

    def customer(self, match_key: str) -> str | None: ...

    def remember_customer(self, match_key: str, customer_id: str) -> None: ...

    def claim_document(self, document: str, owner: str) -> str:
        """Record that the Intacct document `document` (a DOCID such as `Sales Invoice-1001`)
        belongs to the ledger entry `owner` (`connection:order`). The first claim wins for good;
        returns the owner holding it, so a caller that gets another owner back must not adopt,
        update or pay against that document."""
        ...


class DynamoLedger(DynamoTable):
    what = "ledger"

    def get_many(self, keys: list[tuple[str, str]]) -> dict[str, LedgerEntry]:
        wanted = list(dict.fromkeys(f"{c}:{o}" for c, o in keys))
        out: dict[str, LedgerEntry] = {}
        for start in range(0, len(wanted), 100):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": f"ledger#{k}"}} for k in wanted[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                res = self._call("batch_get_item", RequestItems=pending)
                for item in res.get("Responses", {}).get(self.table, []):
                    entry = LedgerEntry.model_validate_json(item["doc"]["S"])
                    entry.version = int(item["version"]["N"])
                    out[entry.key] = entry
                pending = res.get("UnprocessedKeys") or {}
        return out

    def put(self, entry: LedgerEntry) -> None:
        new_version = entry.version + 1
        doc = entry.model_copy(update={"version": new_version}).model_dump_json()
        condition = "attribute_not_exists(pk)" if entry.version == 0 else "version = :expected"
        values: dict[str, Any] = {":expected": {"N": str(entry.version)}} if entry.version else {}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                "pk": {"S": f"ledger#{entry.key}"},
                "doc": {"S": doc},
                "version": {"N": str(new_version)},
                "status": {"S": entry.status},
                "updated": {"S": datetime.now(UTC).isoformat()},
            },
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._call("put_item", **kwargs)
        except ConditionFailed:
            raise LedgerConflict("ledger entry changed concurrently") from None
        entry.version = new_version

    def get(self, connection_id: str, order_id: str) -> LedgerEntry | None:
        return self.get_many([(connection_id, order_id)]).get(f"{connection_id}:{order_id}")

    def list_entries(
        self, status: str | None = None, *, on_page: Callable[[int], None] | None = None
    ) -> list[LedgerEntry]:
        """Every ledger entry (a scan: for the operator CLI, not the hot path). `on_page` gets the
        count of items read so far after each page (progress)."""
        return self._scan("begins_with(pk, :p)", {":p": {"S": "ledger#"}}, on_page, status=status)

    def find_by_order_number(
        self, order_number: str, connection_id: str | None = None, *, on_page: Callable[[int], None] | None = None
    ) -> list[LedgerEntry]:
        """The entries whose `order_number` is `order_number` (of one connection, or of all).

        The table is keyed by the channel's order id only, so this is a Scan filtered on the
        server (the key's connection prefix and the number inside the stored document): it reads
        the whole table once. For the operator CLI on demand; never call it from a scheduled job."""
        prefix = f"ledger#{connection_id}:" if connection_id else "ledger#"
        needle = '"order_number":' + json.dumps(order_number, ensure_ascii=False)
        values = {":p": {"S": prefix}, ":n": {"S": needle}}
        found = self._scan("begins_with(pk, :p) AND contains(doc, :n)", values, on_page)
        return [
            e
            for e in found
            if e.order_number == order_number and (connection_id is None or e.connection_id == connection_id)
        ]

    def _scan(
        self,
        condition: str,
        values: dict[str, Any],
        on_page: Callable[[int], None] | None,
        *,
        status: str | None = None,
    ) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        scanned = 0
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table, FilterExpression=condition, ExpressionAttributeValues=values
        ):
            scanned += int(page.get("ScannedCount", 0))
            for item in page.get("Items", []):
                entry = LedgerEntry.model_validate_json(item["doc"]["S"])
                entry.version = int(item["version"]["N"])
                if status is None or entry.status == status:
                    out.append(entry)
            if on_page is not None:
                on_page(scanned)
        return out

    def customer(self, match_key: str) -> str | None:
        item = self._call("get_item", TableName=self.table, Key={"pk": {"S": f"customer#{match_hash(match_key)}"}}).get(
            "Item"
        )
        return item["customer_id"]["S"] if item else None

    def remember_customer(self, match_key: str, customer_id: str) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item={"pk": {"S": f"customer#{match_hash(match_key)}"}, "customer_id": {"S": customer_id}},
        )

    def claim_document(self, document: str, owner: str) -> str:
        out = self._call(
            "update_item",
            TableName=self.table,
            Key={"pk": {"S": f"doc#{match_hash(document)}"}},
            UpdateExpression="SET #o = if_not_exists(#o, :o), document = if_not_exists(document, :d)",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":o": {"S": owner}, ":d": {"S": document}},
            ReturnValues="ALL_NEW",
        )
        holder: str = out["Attributes"]["owner"]["S"]
        return holder


class InMemoryLedger:
    """The same contract in memory (unit tests and benches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: dict[str, tuple[int, str]] = {}
        self.customers: dict[str, str] = {}
        self.documents: dict[str, str] = {}

    def get_many(self, keys: list[tuple[str, str]]) -> dict[str, LedgerEntry]:
        out: dict[str, LedgerEntry] = {}
        with self._lock:
            for c, o in keys:
                k = f"{c}:{o}"
                if k in self.entries:
                    version, doc = self.entries[k]
                    entry = LedgerEntry.model_validate_json(doc)
                    entry.version = version
                    out[k] = entry
        return out

    def get(self, connection_id: str, order_id: str) -> LedgerEntry | None:
        return self.get_many([(connection_id, order_id)]).get(f"{connection_id}:{order_id}")

    def put(self, entry: LedgerEntry) -> None:
        with self._lock:
            current = self.entries.get(entry.key, (0, ""))[0]
            if current != entry.version:
                raise LedgerConflict("ledger entry changed concurrently")
            self.entries[entry.key] = (entry.version + 1, entry.model_dump_json())
            entry.version += 1

    def list_entries(
        self, status: str | None = None, *, on_page: Callable[[int], None] | None = None
    ) -> list[LedgerEntry]:
        pairs = [(c, o) for c, _, o in (k.partition(":") for k in self.entries)]
        out = [e for e in self.get_many(pairs).values() if status is None or e.status == status]
        if on_page is not None:
            on_page(len(pairs))
        return out

    def find_by_order_number(
        self, order_number: str, connection_id: str | None = None, *, on_page: Callable[[int], None] | None = None
    ) -> list[LedgerEntry]:
        return [
            e
            for e in self.list_entries(on_page=on_page)
            if e.order_number == order_number and (connection_id is None or e.connection_id == connection_id)
        ]

    def customer(self, match_key: str) -> str | None:
        return self.customers.get(match_key)

    def remember_customer(self, match_key: str, customer_id: str) -> None:
        self.customers[match_key] = customer_id

    def claim_document(self, document: str, owner: str) -> str:
        with self._lock:
            return self.documents.setdefault(document, owner)
