"""The state table (DynamoDB): which events were already accepted, the latest accepted version
of each order, and each connection's reconcile watermark.

Items (partition key `pk`):
- `event#<event id>`: an accepted event (dedup beyond FIFO's 5-minute window); expires after
  `DEDUP_DAYS` (longer than any channel retries or the reconcile look-back).
- `version#<connection>:<order id>`: `v` = the newest order state accepted (ISO-8601 UTC,
  fixed width, so string order is time order); written only after the event was enqueued.
- `watermark#<connection>`: `v` = where the next reconcile poll starts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from intacct_sync.dynamo import ConditionFailed, DynamoTable, TableUnavailable
from intacct_sync.models.events import CanonicalEvent

DEDUP_DAYS = 35
_BATCH_GET = 100
_BATCH_WRITE = 25
VERSIONED_TYPES = frozenset({"order", "order_reference"})


class StateUnavailable(TableUnavailable):
    """The state table could not be read or written now."""


def version_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_version(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class StateStore(Protocol):
    def lookup(self, event_ids: Sequence[str], group_ids: Sequence[str]) -> tuple[set[str], dict[str, datetime]]:
        """(event ids already accepted, latest accepted version per order group)."""
        ...

    def record(self, events: Sequence[CanonicalEvent]) -> None:
        """Mark events accepted and advance their orders' versions (never backwards)."""
        ...

    def get_watermark(self, connection_id: str) -> datetime | None: ...

    def set_watermark(self, connection_id: str, moment: datetime) -> None: ...


class DynamoStateStore(DynamoTable):
    unavailable = StateUnavailable

    def lookup(self, event_ids: Sequence[str], group_ids: Sequence[str]) -> tuple[set[str], dict[str, datetime]]:
        keys = [f"event#{e}" for e in dict.fromkeys(event_ids)] + [f"version#{g}" for g in dict.fromkeys(group_ids)]
        seen: set[str] = set()
        versions: dict[str, datetime] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH_GET]],
                    "ConsistentRead": True,
                }
            }
            while pending:
                out = self._call("batch_get_item", RequestItems=pending)
                for item in out.get("Responses", {}).get(self.table, []):
                    pk = item["pk"]["S"]
                    kind, _, ident = pk.partition("#")
                    if kind == "event":
                        seen.add(ident)
                    elif kind == "version" and "v" in item:
                        versions[ident] = parse_version(item["v"]["S"])
                pending = out.get("UnprocessedKeys") or {}
        return seen, versions

    def record(self, events: Sequence[CanonicalEvent]) -> None:
        expires = str(int(time.time()) + DEDUP_DAYS * 86400)
        puts = [
            {"PutRequest": {"Item": {"pk": {"S": f"event#{e.event_id}"}, "expires": {"N": expires}}}}
            for e in {e.event_id: e for e in events}.values()
        ]
        for start in range(0, len(puts), _BATCH_WRITE):
            pending: dict[str, Any] = {self.table: puts[start : start + _BATCH_WRITE]}
            while pending:
                pending = self._call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}
        for group, moment in _newest_versions(events).items():
            self._advance(f"version#{group}", version_text(moment))

    def _advance(self, pk: str, value: str) -> None:
        with contextlib.suppress(ConditionFailed):  # a newer version is already recorded: keep it
            self._call(
                "update_item",
                TableName=self.table,
                Key={"pk": {"S": pk}},
                UpdateExpression="SET v = :v",
                ConditionExpression="attribute_not_exists(v) OR v < :v",
                ExpressionAttributeValues={":v": {"S": value}},
            )

    def get_watermark(self, connection_id: str) -> datetime | None:
        item = self._call(
            "get_item",
            TableName=self.table,
            Key={"pk": {"S": f"watermark#{connection_id}"}},
            ConsistentRead=True,
        ).get("Item")
        return parse_version(item["v"]["S"]) if item else None

    def set_watermark(self, connection_id: str, moment: datetime) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item={"pk": {"S": f"watermark#{connection_id}"}, "v": {"S": version_text(moment)}},
        )


def _newest_versions(events: Iterable[CanonicalEvent]) -> dict[str, datetime]:
    newest: dict[str, datetime] = {}
    for e in events:
        if e.type in VERSIONED_TYPES and e.updated_at is not None:
            current = newest.get(e.group_id)
            if current is None or e.updated_at > current:
                newest[e.group_id] = e.updated_at
    return newest


class InMemoryStateStore:
    """The same contract in memory (unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: set[str] = set()
        self.versions: dict[str, datetime] = {}
        self.watermarks: dict[str, datetime] = {}

    def lookup(self, event_ids: Sequence[str], group_ids: Sequence[str]) -> tuple[set[str], dict[str, datetime]]:
        with self._lock:
            return (
                {e for e in event_ids if e in self.events},
                {g: self.versions[g] for g in group_ids if g in self.versions},
            )

    def record(self, events: Sequence[CanonicalEvent]) -> None:
        with self._lock:
            self.events.update(e.event_id for e in events)
            for group, moment in _newest_versions(events).items():
                if group not in self.versions or self.versions[group] < moment:
                    self.versions[group] = moment

    def get_watermark(self, connection_id: str) -> datetime | None:
        return self.watermarks.get(connection_id)

    def set_watermark(self, connection_id: str, moment: datetime) -> None:
        self.watermarks[connection_id] = moment
