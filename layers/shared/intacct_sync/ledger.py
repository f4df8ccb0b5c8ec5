"""The sync ledger: per channel order, what was done in Intacct and why (DynamoDB, state table).

One item per order (`ledger#<connection>:<order id>`) holding a JSON document and a version
number; every write is conditional on the version read, so two consumers can never overwrite each
other's progress. Customer matches are cached as `customer#<match key hash>` items, so a known
customer costs no Intacct read. The finance team reads it through `intacct-sync ops`.

Every write also sets, from the entry alone (`index_keys`), the attributes that put it in the
state table's sparse index of pending writeback work (`writeback`: partition `wbq`, sort `wbk`),
and its retention:

- `wbq` = connection id and `wbk` = `d#<last change>`: its document number is still to be written
  back (the writeback reads these a page at a time, oldest change first);
- else `wbq` = connection id and `wbk` = `p#<AR record key>`: an open invoice whose paid state the
  writeback writes when Intacct reports it paid (looked up by that key);
- `wbar` = the AR record key on both while the paid state is pending (projected into the index,
  so an entry still waiting for its number is found by its invoice too);
- `expires` (the table's TTL attribute): a finished entry (paid, credited, deleted, closed,
  skipped) is deleted by DynamoDB `retention_days` after its last change; none with 0 (keep).
- `wbq` = `~waiting` and `wbk` = `w#<oldest wait>` instead, while a payment or refund waits on
  the entry for its invoice (`waiting`, `posting.waiting`): the wait-age check reads the first key
  only; a writeback step the entry has follows once the wait is over, and it never expires.

An entry leaves the index as soon as a write no longer gives it the attributes (the steps done,
or no longer possible), so the scheduled writeback reads only work it has to do, never the
history. One index, not two: CloudFormation adds at most one index to an existing table per
update. Claims (`doc#`) and the customer cache never expire (README, Operations: Retention).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import batched
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from intacct_sync.dynamo import ConditionFailed, DynamoTable
from intacct_sync.environment import ledger_retention_days
from intacct_sync.errors import TransientError

HISTORY_LIMIT = 40
WRITEBACK_INDEX: Final = "writeback"
"""Sparse index of pending writeback work: partition `wbq` (connection), sort `wbk`, with `wbar`."""
DOCUMENT_PREFIX: Final = "d#"
"""`wbk` of an entry whose document number is to be written back: `d#<last change>`."""
PAID_PREFIX: Final = "p#"
"""`wbk` of an open invoice (number written back) whose paid state may be: `p#<AR record key>`."""
WAITING_QUEUE: Final = "~waiting"
"""`wbq` of every entry with a payment or refund waiting for its invoice (no connection id has a `~`)."""
WAITING_PREFIX: Final = "w#"
"""`wbk` of a waiting entry: `w#<when its oldest wait began>` (the oldest is the first key)."""
_PAGE: Final = 100  # BatchGetItem's maximum keys per request

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
WITH_INVOICE: Final = frozenset({"invoiced", "partially_paid", "paid"})
"""Statuses whose order has a live invoice (its number can be written back to the channel)."""
UNPAID: Final = frozenset({"invoiced", "partially_paid"})
FINISHED: Final = frozenset({"paid", "credited", "deleted", "closed", "skipped"})
"""Statuses after which nothing is expected of the order: retention (`expires`) runs from here."""


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


class WaitingEvent(BaseModel):
    """A payment or refund that came before its invoice (or before the invoice state it needs):
    kept with its order until the order poster has that invoice, then queued again (`posting.waiting`)."""

    event: str
    """The canonical event as JSON (`models.events.event_to_json`), exactly as it was delivered."""
    since: datetime
    """When it started waiting (kept across redeliveries of the same payment or refund)."""
    reason: str
    fix: str | None = None


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
    waiting: dict[str, WaitingEvent] = Field(default_factory=dict)
    """Payments and refunds waiting for this order's invoice, by `payment:<id>` / `refund:<id>`
    (`posting.waiting`): applied by the order poster's next success, exactly once."""

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


# --- pending writeback and retention: a pure function of the entry --------------------------


def needs_document_writeback(entry: LedgerEntry) -> bool:
    """The order has a live invoice whose number was not yet written back to the channel."""
    return entry.status in WITH_INVOICE and bool(entry.document_key) and entry.writeback.document_written_at is None


def needs_paid_writeback(entry: LedgerEntry) -> bool:
    """The order's invoice is open (the channel has not reported it paid) and the writeback has
    not marked it paid: once Intacct shows the invoice (`ar_record_key`) paid, the writeback does."""
    return (
        entry.status in UNPAID
        and bool(entry.document_key)
        and bool(entry.ar_record_key)
        and entry.writeback.paid_written_at is None
    )


def change_text(moment: datetime) -> str:
    """A change time as fixed-width UTC text (string order is time order): `wbk` after `d#`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class IndexKeys:
    """The attributes a ledger item carries besides its document (None: absent)."""

    queue: str | None = None
    """`wbq`: the connection id, while a writeback step is pending (the index's partition key)."""
    step: str | None = None
    """`wbk`: `d#<change time>` (document number pending) or `p#<AR record key>` (paid state)."""
    ar: str | None = None
    """`wbar`: the AR record key, while the paid state may be written back."""
    expires: int | None = None
    """`expires`: epoch seconds after which DynamoDB deletes the finished entry (TTL)."""


def index_keys(entry: LedgerEntry, *, changed_at: datetime, retention_days: int) -> IndexKeys:
    """What the entry's item carries for the writeback index and retention, from its own state.

    A finished entry expires `retention_days` after `changed_at` (its last change), also when its
    document number was never written back: the writeback is off by default, and a label on a
    year-old channel order is not worth keeping the entry past the retention finance chose."""
    doc = needs_document_writeback(entry)
    ar = entry.ar_record_key if needs_paid_writeback(entry) else None
    step = None
    if doc:
        step = DOCUMENT_PREFIX + change_text(changed_at)
    elif ar:
        step = PAID_PREFIX + ar
    expires = None
    if retention_days > 0 and entry.status in FINISHED and not entry.waiting:
        expires = int((changed_at + timedelta(days=retention_days)).timestamp())
    if entry.waiting:
        # A payment waits for this order: the entry is filed under the one `WAITING_QUEUE`
        # partition by when its oldest wait began (the wait-age alarm reads the first key only);
        # a pending writeback step follows once the wait is over.
        since = min(w.since for w in entry.waiting.values())
        return IndexKeys(queue=WAITING_QUEUE, step=WAITING_PREFIX + change_text(since), ar=None, expires=None)
    return IndexKeys(queue=entry.connection_id if step else None, step=step, ar=ar, expires=expires)


def _awaiting_paid(entry: LedgerEntry | None, connection_id: str, ar_record_key: str) -> LedgerEntry | None:
    """`entry` if it is the connection's, on that AR record, with its paid state still to write
    back (read again after the index pointed at it: the index lags writes); else None."""
    if entry is None or entry.connection_id != connection_id or entry.ar_record_key != ar_record_key:
        return None
    return entry if needs_paid_writeback(entry) else None


def _attributes(keys: IndexKeys) -> dict[str, Any]:
    """`keys` as DynamoDB attribute values (the absent ones left out)."""
    out: dict[str, Any] = {}
    if keys.queue is not None and keys.step is not None:
        out["wbq"], out["wbk"] = {"S": keys.queue}, {"S": keys.step}
    if keys.ar is not None:
        out["wbar"] = {"S": keys.ar}
    if keys.expires is not None:
        out["expires"] = {"N": str(keys.expires)}
    return out


INDEX_ATTRIBUTES: Final = ("wbq", "wbk", "wbar", "expires")


@dataclass
class ReindexReport:
    read: int = 0
    """Ledger items read."""
    changed: int = 0
    """Items whose index or retention attributes were (or, dry run, would be) rewritten."""
    raced: int = 0
    """Items changed meanwhile by a consumer (whose write set the attributes itself)."""


class Ledger(Protocol):
    def get_many(self, keys: list[tuple[str, str]]) -> dict[str, LedgerEntry]:
        """Entries by `connection:order` key for (connection_id, order_id) pairs that exist."""
        ...

    def put(self, entry: LedgerEntry) -> None:
        """Write if nobody wrote since `entry.version` was read (then bumps it); else LedgerConflict."""
        ...

    def customer(self, match_key: str) -> str | None: ...

    def customer_many(self, match_keys: Sequence[str]) -> dict[str, str]:
        """`customer` for many keys in one round trip: the cached ids, by match key, of those cached."""
        ...

    def remember_customer(self, match_key: str, customer_id: str) -> None: ...

    def claim_document(self, document: str, owner: str) -> str:
        """Record that the Intacct document `document` (a DOCID such as `Sales Invoice-1001`)
        belongs to the ledger entry `owner` (`connection:order`). The first claim wins for good;
        returns the owner holding it, so a caller that gets another owner back must not adopt,
        update or pay against that document."""
        ...


class DynamoLedger(DynamoTable):
    what = "ledger"

    def __init__(self, table: str, *, client: Any = None, retention_days: int | None = None) -> None:
        """`retention_days`: how long finished entries are kept (0: for ever); None reads
        LEDGER_RETENTION_DAYS (template parameter `LedgerRetentionDays`)."""
        super().__init__(table, client=client)
        self.retention_days = ledger_retention_days() if retention_days is None else retention_days

    def get_many(self, keys: list[tuple[str, str]]) -> dict[str, LedgerEntry]:
        found = self._get_items([f"ledger#{c}:{o}" for c, o in keys])
        return {entry.key: entry for entry in found.values()}

    def _get_items(self, pks: Sequence[str]) -> dict[str, LedgerEntry]:
        """Entries by item key (`ledger#...`), read consistently, 100 keys per BatchGetItem."""
        wanted = list(dict.fromkeys(pks))
        out: dict[str, LedgerEntry] = {}
        for start in range(0, len(wanted), _PAGE):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": k}} for k in wanted[start : start + _PAGE]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                res = self._call("batch_get_item", RequestItems=pending)
                for item in res.get("Responses", {}).get(self.table, []):
                    entry = LedgerEntry.model_validate_json(item["doc"]["S"])
                    entry.version = int(item["version"]["N"])
                    out[item["pk"]["S"]] = entry
                pending = res.get("UnprocessedKeys") or {}
        return out

    def put(self, entry: LedgerEntry) -> None:
        new_version = entry.version + 1
        doc = entry.model_copy(update={"version": new_version}).model_dump_json()
        condition = "attribute_not_exists(pk)" if entry.version == 0 else "version = :expected"
        values: dict[str, Any] = {":expected": {"N": str(entry.version)}} if entry.version else {}
        now = datetime.now(UTC)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Item": {
                "pk": {"S": f"ledger#{entry.key}"},
                "doc": {"S": doc},
                "version": {"N": str(new_version)},
                "status": {"S": entry.status},
                "updated": {"S": now.isoformat()},
                # A whole-item put: an attribute left out here is removed (the entry leaves an index).
                **_attributes(index_keys(entry, changed_at=now, retention_days=self.retention_days)),
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

    def documents_to_write_back(self, connection_id: str, *, page_size: int = _PAGE) -> Iterator[list[LedgerEntry]]:
        """The connection's entries whose document number is to be written back, a page at a time,
        least recently changed first (the `d#` keys of the `writeback` index: only those entries).

        Entries changed after the first page was read are left to the next run, so an entry the
        caller writes back (or fails to) is not met twice. Each page is re-read consistently by
        key (BatchGetItem) and only entries still pending are yielded: the index lags writes."""
        before = DOCUMENT_PREFIX + change_text(datetime.now(UTC))
        condition = "wbq = :c AND wbk BETWEEN :from AND :to"
        values = {":c": {"S": connection_id}, ":from": {"S": DOCUMENT_PREFIX}, ":to": {"S": before}}
        for items in self._query(condition, values, page_size=page_size):
            pks = [item["pk"]["S"] for item in items]
            found = self._get_items(pks)
            page = [e for pk in pks if (e := found.get(pk)) is not None]
            page = [e for e in page if e.connection_id == connection_id and needs_document_writeback(e)]
            if page:
                yield page

    def awaiting_paid_writeback(
        self, connection_id: str, ar_record_keys: Iterable[str]
    ) -> Iterator[LedgerEntry | None]:
        """For each AR record key (ARINVOICE RECORDNO) in turn, the connection's entry whose open
        invoice it is and whose paid state is still to be written back, or None (not ours, paid
        on the channel, done before).

        Reads only pending work: once, the `d#` keys with their `wbar` (entries still waiting for
        their number: after the document step, what it could not do), then per key the `p#<key>`
        index key, and the entries found by key (BatchGetItem, consistent), 100 keys at a time."""
        queued: dict[str, str] | None = None
        for chunk in batched(ar_record_keys, _PAGE):
            if queued is None:
                values = {":c": {"S": connection_id}, ":d": {"S": DOCUMENT_PREFIX}}
                queued = {
                    item["wbar"]["S"]: item["pk"]["S"]
                    for items in self._query("wbq = :c AND begins_with(wbk, :d)", values)
                    for item in items
                    if "wbar" in item
                }
            pks: dict[str, str] = {}
            for ar in dict.fromkeys(k for k in chunk if k):
                pk = queued.get(ar)
                if pk is None:
                    values = {":c": {"S": connection_id}, ":k": {"S": PAID_PREFIX + ar}}
                    pk = next(
                        (i["pk"]["S"] for items in self._query("wbq = :c AND wbk = :k", values) for i in items), None
                    )
                if pk is not None:
                    pks[ar] = pk
            found = self._get_items(list(pks.values()))
            for ar in chunk:
                yield _awaiting_paid(found.get(pks.get(ar, "")), connection_id, ar)

    def _query(
        self, condition: str, values: dict[str, Any], *, page_size: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The `writeback` index's items matching `condition`, a page at a time."""
        start: dict[str, Any] | None = None
        while True:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": WRITEBACK_INDEX,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
            if page_size:
                kwargs["Limit"] = page_size
            if start:
                kwargs["ExclusiveStartKey"] = start
            res = self._call("query", **kwargs)
            yield res.get("Items", [])
            start = res.get("LastEvaluatedKey")
            if not start:
                return

    def waiting_entries(self, *, limit: int | None = None) -> list[LedgerEntry]:
        """Entries with a payment or refund waiting, oldest wait first (the `~waiting` keys of the
        `writeback` index: only those entries, never the history); `limit=1` is the wait-age check."""
        values = {":q": {"S": WAITING_QUEUE}, ":w": {"S": WAITING_PREFIX}}
        pks: list[str] = []
        for items in self._query("wbq = :q AND begins_with(wbk, :w)", values, page_size=limit):
            pks += [item["pk"]["S"] for item in items]
            if limit is not None and len(pks) >= limit:
                break
        found = self._get_items(pks[:limit] if limit is not None else pks)
        return [e for pk in pks if (e := found.get(pk)) is not None and e.waiting][:limit]

    def reindex(self, *, dry_run: bool = False, on_page: Callable[[int], None] | None = None) -> ReindexReport:
        """Give every ledger item the index and retention attributes its entry calls for (a one-off
        after upgrading a stack whose items predate them: `intacct-sync ops reindex`).

        One scan of the table, a page at a time (memory stays flat); an item whose attributes
        differ is updated in place, on condition that its version is unchanged; a finished entry's
        retention counts from its last change (`updated`). Safe to repeat and to run while the
        stack works: an entry written meanwhile got its attributes from that write."""
        report = ReindexReport()
        names = {"#v": "version", "#u": "updated", "#e": "expires"}
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "ledger#"}},
            ProjectionExpression="pk, doc, #v, #u, wbq, wbk, wbar, #e",
            ExpressionAttributeNames=names,
        ):
            for item in page.get("Items", []):
                report.read += 1
                self._reindex_item(item, report, dry_run=dry_run)
            if on_page is not None:
                on_page(report.read)
        return report

    def _reindex_item(self, item: dict[str, Any], report: ReindexReport, *, dry_run: bool) -> None:
        entry = LedgerEntry.model_validate_json(item["doc"]["S"])
        try:
            changed_at = datetime.fromisoformat(item["updated"]["S"])
        except (KeyError, ValueError):
            changed_at = datetime.now(UTC)
        if changed_at.tzinfo is None:
            changed_at = changed_at.replace(tzinfo=UTC)
        wanted = _attributes(index_keys(entry, changed_at=changed_at, retention_days=self.retention_days))
        present = {k: item[k] for k in INDEX_ATTRIBUTES if k in item}
        if present == wanted:
            return
        report.changed += 1
        if dry_run:
            return
        clauses = []
        if wanted:
            clauses.append("SET " + ", ".join(f"#{k} = :{k}" for k in wanted))
        if removed := [f"#{k}" for k in INDEX_ATTRIBUTES if k not in wanted]:
            clauses.append("REMOVE " + ", ".join(removed))
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": item["pk"]},
                UpdateExpression=" ".join(clauses),
                ConditionExpression="#version = :version",
                ExpressionAttributeNames={f"#{k}": k for k in (*INDEX_ATTRIBUTES, "version")},
                ExpressionAttributeValues={f":{k}": v for k, v in wanted.items()} | {":version": item["version"]},
            )
        except ConditionFailed:
            report.changed -= 1
            report.raced += 1

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

    def customer_many(self, match_keys: Sequence[str]) -> dict[str, str]:
        """One BatchGetItem per 100 keys (a wave's customers and contacts), not a GetItem each."""
        by_pk = {f"customer#{match_hash(k)}": k for k in dict.fromkeys(match_keys)}
        wanted = list(by_pk)
        out: dict[str, str] = {}
        for start in range(0, len(wanted), _PAGE):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": pk}} for pk in wanted[start : start + _PAGE]],
                    "ProjectionExpression": "pk, customer_id",
                }
            }
            while pending:
                res = self._call("batch_get_item", RequestItems=pending)
                for item in res.get("Responses", {}).get(self.table, []):
                    out[by_pk[item["pk"]["S"]]] = item["customer_id"]["S"]
                pending = res.get("UnprocessedKeys") or {}
        return out

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

    def __init__(self, *, retention_days: int = 0) -> None:
        self._lock = threading.Lock()
        self.retention_days = retention_days
        self.entries: dict[str, tuple[int, str]] = {}
        self.customers: dict[str, str] = {}
        self.documents: dict[str, str] = {}
        self.index: dict[str, IndexKeys] = {}
        """The attributes DynamoLedger would store beside each entry (`index_keys`), by entry key."""
        self._pending: dict[str, dict[str, IndexKeys]] = {}  # connection -> entry key -> its index keys

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
            self._reindex(entry)

    def _reindex(self, entry: LedgerEntry) -> None:
        keys = index_keys(entry, changed_at=datetime.now(UTC), retention_days=self.retention_days)
        self.index[entry.key] = keys
        for pending in self._pending.values():  # its connection's, or the `~waiting` partition
            pending.pop(entry.key, None)
        if keys.queue is not None:
            self._pending.setdefault(keys.queue, {})[entry.key] = keys

    def documents_to_write_back(self, connection_id: str, *, page_size: int = _PAGE) -> Iterator[list[LedgerEntry]]:
        """As DynamoLedger's: pages of entries still pending, least recently changed first."""
        before = DOCUMENT_PREFIX + change_text(datetime.now(UTC))
        with self._lock:
            queued = sorted(
                (k.step, key)
                for key, k in self._pending.get(connection_id, {}).items()
                if k.step and DOCUMENT_PREFIX <= k.step <= before
            )
        for start in range(0, len(queued), page_size):
            keys = [key for _, key in queued[start : start + page_size]]
            found = self.get_many([(c, o) for c, _, o in (k.partition(":") for k in keys)])
            page = [e for k in keys if (e := found.get(k)) is not None and needs_document_writeback(e)]
            if page:
                yield page

    def awaiting_paid_writeback(
        self, connection_id: str, ar_record_keys: Iterable[str]
    ) -> Iterator[LedgerEntry | None]:
        """As DynamoLedger's: per AR record key, the entry awaiting its paid state, or None."""
        with self._lock:
            by_ar = {k.ar: key for key, k in self._pending.get(connection_id, {}).items() if k.ar}
        for ar in ar_record_keys:
            key = by_ar.get(ar)
            entry = self.get_many([(connection_id, key.partition(":")[2])]).get(key) if key else None
            yield _awaiting_paid(entry, connection_id, ar)

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

    def waiting_entries(self, *, limit: int | None = None) -> list[LedgerEntry]:
        """As DynamoLedger's: entries with a payment or refund waiting, oldest wait first."""
        with self._lock:
            keys = sorted((k.step or "", key) for key, k in self._pending.get(WAITING_QUEUE, {}).items())
        found = self.get_many([(c, o) for c, _, o in (key.partition(":") for _, key in keys)])
        return [e for _, key in keys if (e := found.get(key)) is not None and e.waiting][:limit]

    def customer(self, match_key: str) -> str | None:
        return self.customers.get(match_key)

    def customer_many(self, match_keys: Sequence[str]) -> dict[str, str]:
        return {k: self.customers[k] for k in match_keys if k in self.customers}

    def remember_customer(self, match_key: str, customer_id: str) -> None:
        self.customers[match_key] = customer_id

    def claim_document(self, document: str, owner: str) -> str:
        with self._lock:
            return self.documents.setdefault(document, owner)
