"""One ledger record per payout (state table), and each connection's open payouts and watermark.

Items (partition key `pk`):
- `payout#<connection>:<payout id>`: the record (`doc`, JSON) and its `version`; every write is
  conditional on the version read. It says what was done in Intacct (the fee receipt's key as
  soon as it is known, then the deposit's), so no step is ever sent twice, and why a payout waits.
- `payouts#<connection>`: `open` = map payout id -> when it was first seen, of every payout not
  deposited yet (waiting for its payments, or failed); `wm` = where the next read of the
  channel's payouts starts. The scheduled run reads this one item and the open payouts by key:
  never the history, so its cost does not grow with the ledger.

Deposited records expire (`expires`, the table's TTL) `retention_days` after they were deposited
(0: kept); open ones never do.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from intacct_sync.dynamo import ConditionFailed, DynamoTable
from intacct_sync.environment import ledger_retention_days
from intacct_sync.ledger import HISTORY_LIMIT, HistoryItem, LedgerConflict

Status = Literal["waiting", "failed", "partly_booked", "deposited", "skipped"]
OPEN: frozenset[str] = frozenset({"waiting", "failed", "partly_booked"})
_PAGE = 100


class PayoutRecord(BaseModel):
    model_config = ConfigDict(validate_assignment=True)

    connection_id: str
    payout_id: str
    issued_at: datetime
    net: Decimal
    """The payout's net amount: the bank line."""
    currency: str
    status: Status = "waiting"
    reason: str | None = None
    fix: str | None = None
    first_seen: datetime = Field(default_factory=lambda: datetime.now(UTC))
    waiting_since: datetime | None = None
    receipt_key: str | None = None
    """RECORDNO of the other receipt holding the payout's fees, refunds, disputes, adjustments."""
    receipt_total: Decimal | None = None
    payment_keys: list[str] = Field(default_factory=list)
    """RECORDNOs of the AR payments the payout settles (the deposit's other receipt keys)."""
    lines: dict[str, Decimal] = Field(default_factory=dict)
    """What the receipt books per account kind (fee, refund, chargeback, adjustment)."""
    deposit_key: str | None = None
    deposit_total: Decimal | None = None
    journal_key: str | None = None
    """RECORDNO of the journal entry (`payouts.fees = "journal_entry"`), set once it is posted."""
    journal_total: Decimal | None = None
    """What the journal entry put into (+) or took out of (-) the bank's GL account."""
    deposited_at: datetime | None = None
    history: list[HistoryItem] = Field(default_factory=list)
    version: int = 0

    @property
    def key(self) -> str:
        return f"{self.connection_id}:{self.payout_id}"

    @property
    def open(self) -> bool:
        return self.status in OPEN

    def note(self, action: str, detail: str = "") -> None:
        self.history = [*self.history, HistoryItem(at=datetime.now(UTC), action=action, detail=detail)][-HISTORY_LIMIT:]


class PayoutStore(Protocol):
    def get_many(self, connection_id: str, payout_ids: list[str]) -> dict[str, PayoutRecord]: ...

    def put(self, record: PayoutRecord) -> None:
        """Write if nobody wrote since `record.version` was read (then bumps it); else LedgerConflict.
        Keeps the connection's open list in step (open: listed; deposited or skipped: not)."""
        ...

    def open_payouts(self, connection_id: str) -> dict[str, datetime]:
        """Payout id -> first seen, of the connection's payouts not deposited yet."""
        ...

    def watermark(self, connection_id: str) -> datetime | None: ...

    def set_watermark(self, connection_id: str, moment: datetime) -> None: ...

    def list_records(self, connection_id: str | None = None) -> list[PayoutRecord]:
        """Every payout record (of one connection): a scan, for the operator CLI only."""
        ...


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class DynamoPayoutStore(DynamoTable):
    what = "state table (payouts)"

    def __init__(self, table: str, *, client: Any = None, retention_days: int | None = None) -> None:
        super().__init__(table, client=client)
        self.retention_days = ledger_retention_days() if retention_days is None else retention_days

    def get_many(self, connection_id: str, payout_ids: list[str]) -> dict[str, PayoutRecord]:
        wanted = list(dict.fromkeys(payout_ids))
        out: dict[str, PayoutRecord] = {}
        for start in range(0, len(wanted), _PAGE):
            keys = [{"pk": {"S": f"payout#{connection_id}:{p}"}} for p in wanted[start : start + _PAGE]]
            pending: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while pending:
                res = self._call("batch_get_item", RequestItems=pending)
                for item in res.get("Responses", {}).get(self.table, []):
                    record = PayoutRecord.model_validate_json(item["doc"]["S"])
                    record.version = int(item["version"]["N"])
                    out[record.payout_id] = record
                pending = res.get("UnprocessedKeys") or {}
        return out

    def put(self, record: PayoutRecord) -> None:
        new_version = record.version + 1
        doc = record.model_copy(update={"version": new_version}).model_dump_json()
        item: dict[str, Any] = {
            "pk": {"S": f"payout#{record.key}"},
            "doc": {"S": doc},
            "version": {"N": str(new_version)},
            "status": {"S": record.status},
        }
        if not record.open and self.retention_days > 0:
            gone = (record.deposited_at or datetime.now(UTC)) + timedelta(days=self.retention_days)
            item["expires"] = {"N": str(int(gone.timestamp()))}
        kwargs: dict[str, Any] = {"TableName": self.table, "Item": item}
        if record.version == 0:
            kwargs["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kwargs["ConditionExpression"] = "version = :expected"
            kwargs["ExpressionAttributeValues"] = {":expected": {"N": str(record.version)}}
        try:
            self._call("put_item", **kwargs)
        except ConditionFailed:
            raise LedgerConflict("payout record changed concurrently") from None
        record.version = new_version
        self._list(record)

    def _list(self, record: PayoutRecord) -> None:
        key = {"pk": {"S": f"payouts#{record.connection_id}"}}
        names = {"#o": "open", "#p": record.payout_id}
        if record.open:
            # SET on a nested path needs the map to exist: create it first, then add the entry.
            self._call(
                "update_item",
                TableName=self.table,
                Key=key,
                UpdateExpression="SET #o = if_not_exists(#o, :empty)",
                ExpressionAttributeNames={"#o": "open"},
                ExpressionAttributeValues={":empty": {"M": {}}},
            )
            self._call(
                "update_item",
                TableName=self.table,
                Key=key,
                UpdateExpression="SET #o.#p = if_not_exists(#o.#p, :since)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":since": {"S": _text(record.first_seen)}},
            )
        else:
            try:
                self._call(
                    "update_item",
                    TableName=self.table,
                    Key=key,
                    UpdateExpression="REMOVE #o.#p",
                    ConditionExpression="attribute_exists(#o)",
                    ExpressionAttributeNames=names,
                )
            except ConditionFailed:  # never listed
                return

    def open_payouts(self, connection_id: str) -> dict[str, datetime]:
        item = self._call(
            "get_item", TableName=self.table, Key={"pk": {"S": f"payouts#{connection_id}"}}, ConsistentRead=True
        ).get("Item")
        listed = (item or {}).get("open", {}).get("M", {})
        return {pid: datetime.fromisoformat(v["S"]) for pid, v in listed.items()}

    def watermark(self, connection_id: str) -> datetime | None:
        item = self._call(
            "get_item", TableName=self.table, Key={"pk": {"S": f"payouts#{connection_id}"}}, ConsistentRead=True
        ).get("Item")
        value = (item or {}).get("wm", {}).get("S")
        return datetime.fromisoformat(value) if value else None

    def set_watermark(self, connection_id: str, moment: datetime) -> None:
        self._call(
            "update_item",
            TableName=self.table,
            Key={"pk": {"S": f"payouts#{connection_id}"}},
            UpdateExpression="SET wm = :w",
            ExpressionAttributeValues={":w": {"S": _text(moment)}},
        )

    def list_records(self, connection_id: str | None = None) -> list[PayoutRecord]:
        prefix = f"payout#{connection_id}:" if connection_id else "payout#"
        out: list[PayoutRecord] = []
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": prefix}},
        ):
            for item in page.get("Items", []):
                record = PayoutRecord.model_validate_json(item["doc"]["S"])
                record.version = int(item["version"]["N"])
                out.append(record)
        return sorted(out, key=lambda r: (r.connection_id, r.issued_at))


class InMemoryPayoutStore:
    """The same contract in memory (unit tests, benches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: dict[str, tuple[int, str]] = {}
        self.open: dict[str, dict[str, datetime]] = {}
        self.watermarks: dict[str, datetime] = {}

    def get_many(self, connection_id: str, payout_ids: list[str]) -> dict[str, PayoutRecord]:
        out: dict[str, PayoutRecord] = {}
        with self._lock:
            for pid in payout_ids:
                found = self.records.get(f"{connection_id}:{pid}")
                if found is not None:
                    record = PayoutRecord.model_validate_json(found[1])
                    record.version = found[0]
                    out[pid] = record
        return out

    def put(self, record: PayoutRecord) -> None:
        with self._lock:
            if self.records.get(record.key, (0, ""))[0] != record.version:
                raise LedgerConflict("payout record changed concurrently")
            record.version += 1
            self.records[record.key] = (record.version, record.model_dump_json())
            listed = self.open.setdefault(record.connection_id, {})
            if record.open:
                listed.setdefault(record.payout_id, record.first_seen)
            else:
                listed.pop(record.payout_id, None)

    def open_payouts(self, connection_id: str) -> dict[str, datetime]:
        with self._lock:
            return dict(self.open.get(connection_id, {}))

    def watermark(self, connection_id: str) -> datetime | None:
        return self.watermarks.get(connection_id)

    def set_watermark(self, connection_id: str, moment: datetime) -> None:
        self.watermarks[connection_id] = moment

    def list_records(self, connection_id: str | None = None) -> list[PayoutRecord]:
        with self._lock:
            keys = [k for k in self.records if connection_id is None or k.startswith(f"{connection_id}:")]
        out: list[PayoutRecord] = []
        for k in keys:
            c, _, p = k.partition(":")
            out += self.get_many(c, [p]).values()
        return sorted(out, key=lambda r: (r.connection_id, r.issued_at))
