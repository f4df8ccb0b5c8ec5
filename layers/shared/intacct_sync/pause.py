"""Pause and resume posting per connection (issue 14): a store's orders stop reaching Intacct
during a clean-up, and nothing is lost.

- `intacct-sync ops pause --connection ID [--reason TEXT]` writes the connection's pause item in
  the state table (`pause#<connection>`: id, since, reason, by, state).
- The order and payment consumers read the pause items of the batch's connections (one
  BatchGetItem, cached `CACHE_S` per container, so a pause takes effect within that time) and hold
  every record of a paused connection: the event is stored in the state table as it was decoded
  (`held#<connection>#<message id>`, zlib JSON) and the message is reported done. Holding is the
  ledger-park approach, not the queue: SQS FIFO would block nothing of other connections (one
  message group per order) but a message handed back spends one of the queue's 8 receives each
  time, so a long pause would end in the dead-letter queue. A held item never expires.
  A record whose hold cannot be written is retried, and every later record of its order with it
  (FIFO order kept). A message delivered again while held (same message id) is held once.
- Held items are filed under the sparse `writeback` index of the state table, partition
  `~held#<connection>` (a connection id never starts with `~`), sort key `<group>#<sequence>`
  (the FIFO sequence number SQS gave the message): resume reads them in queue order by one Query
  per page, never by a scan.
- `intacct-sync ops resume --connection ID` marks the pause `resuming`, queues the held events
  again in their order per order group (event id suffixed `~p<pause id>`, so FIFO's 5-minute
  deduplication never drops a copy of an event delivered minutes before, plus the message
  attribute `resume=<pause id>`), deletes each held item once its event is queued, and repeats
  until none is left. While resuming, new events of the connection are still held (behind the
  ones being queued again: the order within an order group is kept); only the re-queued ones,
  carrying the pause id, pass. Then the pause item is deleted, and after `CACHE_S` twice (every
  container has seen that) a last sweep queues what a container with an older cached pause held
  meanwhile. A resume cut short is run again: what was queued and not yet deleted is queued once
  more, and the consumers find it already applied (exactly once in Intacct as for any redelivery).

An event too large to keep in one item (beyond `MAX_HELD_BYTES` compressed: a claim-checked order
with thousands of lines) is held as its queue message, which points at its claim-check object;
that object expires with the bucket's lifecycle (30 days), so resume such a pause within that.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import ValidationError

from intacct_sync.dynamo import ConditionFailed, DynamoTable, TableUnavailable
from intacct_sync.models.events import CanonicalEvent, event_from_json, event_to_json

if TYPE_CHECKING:
    from intacct_sync.queues import SqsEventQueue

log = logging.getLogger(__name__)

CACHE_S: Final = 10.0
"""How long a consumer container trusts the pause state it read (a pause takes effect within it)."""
MAX_HELD_BYTES: Final = 350_000
"""Largest compressed event kept in one held item (DynamoDB items are at most 400 KB)."""
RESUME_ATTRIBUTE: Final = "resume"
INDEX: Final = "writeback"
MAX_ROUNDS: Final = 20
"""Passes over the held items before the pause is lifted anyway (events that keep arriving while
resuming are then taken by the last sweep)."""
_BATCH_GET = 100

State = Literal["paused", "resuming"]


class PauseUnavailable(TableUnavailable):
    """The pause state could not be read or written now."""


@dataclass(frozen=True)
class Pause:
    connection_id: str
    id: str
    """Identifies this pause (its start, epoch milliseconds): re-queued events carry it."""
    since: datetime
    reason: str
    by: str
    state: State = "paused"


@dataclass(frozen=True)
class Held:
    """One held message."""

    pk: str
    connection_id: str
    group: str
    seq: str
    queue: str
    """'orders' or 'payments': the queue it came from."""
    message_id: str
    held_at: datetime
    event: CanonicalEvent | None
    body: str | None
    """The queue message as delivered, when the event itself is not kept (too large, unreadable)."""
    attributes: dict[str, str] = field(default_factory=dict)


def pause_key(connection_id: str) -> str:
    return f"pause#{connection_id}"


def held_partition(connection_id: str) -> str:
    return f"~held#{connection_id}"


def _s(item: Mapping[str, Any], name: str, default: str = "") -> str:
    value = item.get(name, {})
    return str(value.get("S", default)) if isinstance(value, Mapping) else default


def _pause(item: Mapping[str, Any]) -> Pause:
    state = _s(item, "state", "paused")
    return Pause(
        connection_id=_s(item, "c"),
        id=_s(item, "id"),
        since=datetime.fromisoformat(_s(item, "since")),
        reason=_s(item, "reason"),
        by=_s(item, "by"),
        state="resuming" if state == "resuming" else "paused",
    )


class PauseStore(DynamoTable):
    """Pause items and held messages in the state table."""

    unavailable = PauseUnavailable

    # --- the pause item ----------------------------------------------------------------------

    def get(self, connection_id: str) -> Pause | None:
        item = self._call(
            "get_item", TableName=self.table, Key={"pk": {"S": pause_key(connection_id)}}, ConsistentRead=True
        ).get("Item")
        return _pause(item) if item else None

    def get_many(self, connection_ids: Sequence[str], *, consistent: bool = False) -> dict[str, Pause]:
        """The pauses of these connections (one BatchGetItem per 100; unpaused ones left out)."""
        keys = [pause_key(c) for c in dict.fromkeys(connection_ids)]
        found: dict[str, Pause] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: dict[str, Any] = {
                self.table: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH_GET]],
                             "ConsistentRead": consistent}
            }  # fmt: skip
            while pending:
                out = self._call("batch_get_item", RequestItems=pending)
                for item in out.get("Responses", {}).get(self.table, []):
                    p = _pause(item)
                    found[p.connection_id] = p
                pending = out.get("UnprocessedKeys") or {}
        return found

    def pause(self, connection_id: str, *, reason: str, by: str, now: datetime | None = None) -> tuple[Pause, bool]:
        """Pause the connection; returns (the pause, True if this call started it). Pausing a
        paused connection keeps its pause (and its id) as it is."""
        moment = now or datetime.now(UTC)
        pause = Pause(connection_id, str(int(moment.timestamp() * 1000)), moment, reason, by)
        try:
            self._call(
                "put_item",
                TableName=self.table,
                Item={
                    "pk": {"S": pause_key(connection_id)},
                    "c": {"S": connection_id},
                    "id": {"S": pause.id},
                    "since": {"S": moment.isoformat()},
                    "reason": {"S": reason or "-"},
                    "by": {"S": by or "-"},
                    "state": {"S": "paused"},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ConditionFailed:
            existing = self.get(connection_id)
            if existing is not None:
                return existing, False
            return self.pause(connection_id, reason=reason, by=by, now=now)  # resumed meanwhile
        return pause, True

    def set_resuming(self, pause: Pause) -> None:
        self._call(
            "update_item",
            TableName=self.table,
            Key={"pk": {"S": pause_key(pause.connection_id)}},
            UpdateExpression="SET #s = :r",
            ConditionExpression="#i = :i",
            ExpressionAttributeNames={"#s": "state", "#i": "id"},
            ExpressionAttributeValues={":r": {"S": "resuming"}, ":i": {"S": pause.id}},
        )

    def clear(self, pause: Pause) -> bool:
        """Delete the pause item if it is still this pause; False if it was not."""
        try:
            self._call(
                "delete_item",
                TableName=self.table,
                Key={"pk": {"S": pause_key(pause.connection_id)}},
                ConditionExpression="#i = :i",
                ExpressionAttributeNames={"#i": "id"},
                ExpressionAttributeValues={":i": {"S": pause.id}},
            )
        except ConditionFailed:
            return False
        return True

    def list_pauses(self) -> list[Pause]:
        """Every pause (one filtered scan: the CLI's listing only, never the consumers)."""
        found: list[Pause] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :p)",
            "ExpressionAttributeValues": {":p": {"S": "pause#"}},
        }
        while True:
            out = self._call("scan", **kwargs)
            found.extend(_pause(i) for i in out.get("Items", []))
            if not out.get("LastEvaluatedKey"):
                return sorted(found, key=lambda p: p.connection_id)
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    # --- held messages -----------------------------------------------------------------------

    def hold(
        self,
        *,
        connection_id: str,
        group: str,
        seq: str,
        queue: str,
        message_id: str,
        event: CanonicalEvent | None,
        body: str,
        attributes: Mapping[str, str],
        now: datetime | None = None,
    ) -> bool:
        """Store one message; False when it was held already (a redelivery of the same message)."""
        item: dict[str, Any] = {
            "pk": {"S": f"held#{connection_id}#{message_id}"},
            "wbq": {"S": held_partition(connection_id)},
            "wbk": {"S": f"{group}#{seq}"},
            "g": {"S": group},
            "seq": {"S": seq},
            "q": {"S": queue},
            "mid": {"S": message_id},
            "at": {"S": (now or datetime.now(UTC)).isoformat()},
            "attrs": {"S": json.dumps(dict(attributes), sort_keys=True)},
        }
        packed = zlib.compress(event_to_json(event)) if event is not None else None
        if packed is not None and len(packed) <= MAX_HELD_BYTES:
            item["ev"] = {"B": packed}
        else:
            item["body"] = {"S": body}
        try:
            self._call("put_item", TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def held_keys(self, connection_id: str, *, limit: int | None = None) -> Iterator[list[str]]:
        """Pages of held items' keys in queue order (group, then FIFO sequence)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": INDEX,
            "KeyConditionExpression": "wbq = :q",
            "ExpressionAttributeValues": {":q": {"S": held_partition(connection_id)}},
        }
        if limit is not None:
            kwargs["Limit"] = limit
        while True:
            out = self._call("query", **kwargs)
            keys = [i["pk"]["S"] for i in out.get("Items", [])]
            if keys:
                yield keys
            if not out.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def count_held(self, connection_id: str) -> int:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": INDEX,
            "KeyConditionExpression": "wbq = :q",
            "ExpressionAttributeValues": {":q": {"S": held_partition(connection_id)}},
            "Select": "COUNT",
        }
        total = 0
        while True:
            out = self._call("query", **kwargs)
            total += int(out.get("Count", 0))
            if not out.get("LastEvaluatedKey"):
                return total
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def read_held(self, keys: Sequence[str]) -> list[Held]:
        """The held items of these keys, in the order given (ones deleted meanwhile left out)."""
        found: dict[str, Held] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: dict[str, Any] = {
                self.table: {"Keys": [{"pk": {"S": k}} for k in keys[start : start + _BATCH_GET]],
                             "ConsistentRead": True}
            }  # fmt: skip
            while pending:
                out = self._call("batch_get_item", RequestItems=pending)
                for item in out.get("Responses", {}).get(self.table, []):
                    held = _held(item)
                    found[held.pk] = held
                pending = out.get("UnprocessedKeys") or {}
        return [found[k] for k in keys if k in found]

    def delete_held(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 25):
            pending: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": {"pk": {"S": k}}}} for k in keys[start : start + 25]]
            }
            while pending:
                out = self._call("batch_write_item", RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}


def _held(item: Mapping[str, Any]) -> Held:
    event: CanonicalEvent | None = None
    if "ev" in item:
        event = event_from_json(zlib.decompress(item["ev"]["B"]))
    pk = _s(item, "pk")
    return Held(
        pk=pk,
        connection_id=_s(item, "wbq").removeprefix("~held#"),
        group=_s(item, "g"),
        seq=_s(item, "seq"),
        queue=_s(item, "q", "orders"),
        message_id=_s(item, "mid"),
        held_at=datetime.fromisoformat(_s(item, "at")),
        event=event,
        body=_s(item, "body") or None,
        attributes=json.loads(_s(item, "attrs", "{}")),
    )


# --- the consumers' side -------------------------------------------------------------------------


def _attribute(raw: Mapping[str, Any], name: str) -> str | None:
    value = (raw.get("messageAttributes") or {}).get(name) or {}
    text = value.get("stringValue")
    return str(text) if text else None


def _sequence(raw: Mapping[str, Any]) -> str:
    number = (raw.get("attributes") or {}).get("SequenceNumber")
    if number and str(number).isdigit():
        return str(number).rjust(40, "0")
    return str(time.time_ns()).rjust(40, "0")


class PauseGate:
    """Holds the records of paused connections before a batch is posted (see the module doc)."""

    def __init__(
        self,
        store: PauseStore,
        *,
        cache_s: float = CACHE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_s = cache_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Pause | None]] = {}

    def pauses(self, connection_ids: Sequence[str]) -> dict[str, Pause]:
        """The pauses of these connections: cached ones younger than `cache_s`, the rest in one
        BatchGetItem. If that read fails, an older cached answer is used; with none it raises."""
        now = self.clock()
        stale = [c for c in dict.fromkeys(connection_ids) if c not in self._cache or self._cache[c][0] <= now]
        if stale:
            try:
                found = self.store.get_many(stale)
            except TableUnavailable:
                if any(c not in self._cache for c in stale):
                    raise
            else:
                for c in stale:
                    self._cache[c] = (now + self.cache_s, found.get(c))
        return {c: p for c in connection_ids if (p := self._cache[c][1]) is not None}

    def hold_paused(
        self, event: Mapping[str, Any], *, decode: Callable[[str], CanonicalEvent], queue: str
    ) -> tuple[dict[str, Any], list[str]]:
        """(the Lambda event without the records held, message ids to report as failures)."""
        records: list[Mapping[str, Any]] = list(event.get("Records", []))
        if not records:
            return dict(event), []

        def connection_of(r: Mapping[str, Any]) -> str:
            group = str((r.get("attributes") or {}).get("MessageGroupId", ""))
            return _attribute(r, "connection") or group.partition(":")[0]

        try:
            paused = self.pauses([connection_of(r) for r in records])
        except TableUnavailable as exc:
            log.warning(
                "pause state unreadable; will retry",
                extra={"outcome": "retry", "reason": exc.message, "fix": "nothing: the batch is retried"},
            )
            return {**event, "Records": []}, [str(r["messageId"]) for r in records]
        if not paused:
            return dict(event), []
        keep: list[Mapping[str, Any]] = []
        failures: list[str] = []
        failed_groups: set[str] = set()
        held = 0
        for r in records:
            connection = connection_of(r)
            group = str((r.get("attributes") or {}).get("MessageGroupId", r["messageId"]))
            pause = paused.get(connection)
            if group in failed_groups:  # behind a record whose hold failed: retried after it, in order
                failures.append(str(r["messageId"]))
                continue
            if pause is None or _attribute(r, RESUME_ATTRIBUTE) == pause.id:
                keep.append(r)
                continue
            try:
                self._hold(r, connection, group, queue, decode)
                held += 1
            except Exception as exc:  # claim check or table unreachable: retried, with the rest of its order
                log.warning(
                    "paused event not held; will retry",
                    extra={
                        "connection_id": connection,
                        "message_id": r["messageId"],
                        "outcome": "retry",
                        "reason": f"{type(exc).__name__}: {exc}"[:300],
                    },
                )
                failed_groups.add(group)
                failures.append(str(r["messageId"]))
        if held:
            log.info(
                "held while the connection is paused",
                extra={
                    "outcome": "held",
                    "held": held,
                    "connection_id": ",".join(sorted(paused)),
                    "fix": "intacct-sync ops resume --connection <id> queues them again",
                },
            )
        return {**event, "Records": keep}, failures

    def _hold(
        self,
        record: Mapping[str, Any],
        connection: str,
        group: str,
        queue: str,
        decode: Callable[[str], CanonicalEvent],
    ) -> None:
        body = str(record.get("body", ""))
        try:
            decoded: CanonicalEvent | None = decode(body)
        except (ValidationError, ValueError, KeyError):
            decoded = None  # not an event: kept as delivered; after the resume it is parked with its reason
        attributes = {
            k: str(v["stringValue"])
            for k, v in (record.get("messageAttributes") or {}).items()
            if isinstance(v, Mapping) and v.get("stringValue") and k != RESUME_ATTRIBUTE
        }
        self.store.hold(
            connection_id=connection,
            group=group,
            seq=_sequence(record),
            queue=queue,
            message_id=str(record["messageId"]),
            event=decoded,
            body=body,
            attributes=attributes,
        )


# --- resume ---------------------------------------------------------------------------------------


@dataclass
class ResumeReport:
    pause: Pause | None
    queued: int = 0
    rounds: int = 0
    swept: int = 0


def _suffixed(event: CanonicalEvent, pause_id: str) -> CanonicalEvent:
    import hashlib  # noqa: PLC0415

    base = event.event_id if len(event.event_id) <= 100 else hashlib.sha256(event.event_id.encode()).hexdigest()
    return event.model_copy(update={"event_id": f"{base}~p{pause_id}"})


def requeue(held: Sequence[Held], queue: SqsEventQueue, pause_id: str) -> None:
    """Send held messages back to their queues in the order given (FIFO per group), each with
    the `resume` attribute; raises the queue's error (nothing is deleted then)."""
    from intacct_sync.queues import OutgoingMessage, batches, encode, sqs_attribute  # noqa: PLC0415

    messages: list[OutgoingMessage] = []
    for h in held:
        if h.event is not None:
            m = encode(_suffixed(h.event, pause_id), queue.put_claim)
            messages.append(replace(m, attributes={**m.attributes, RESUME_ATTRIBUTE: pause_id}))
        else:  # kept as delivered: same body and attributes, a fresh deduplication id
            attributes = {k: sqs_attribute(v) for k, v in h.attributes.items()}
            messages.append(
                OutgoingMessage(
                    queue=h.queue,
                    body=h.body or "",
                    group_id=h.group,
                    dedup_id=_fifo_id(f"held-{h.message_id}~p{pause_id}"),
                    attributes={**attributes, RESUME_ATTRIBUTE: pause_id},
                )
            )
    for name in ("orders", "payments"):
        for batch in batches([m for m in messages if m.queue == name]):
            _send(queue, name, batch)


def _fifo_id(value: str) -> str:
    import hashlib  # noqa: PLC0415

    return value if len(value) <= 128 else hashlib.sha256(value.encode()).hexdigest()


def _send(queue: SqsEventQueue, name: str, batch: Sequence[Any]) -> None:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from intacct_sync.queues import ATTRIBUTE_TYPE, QueueUnavailable  # noqa: PLC0415

    entries = [
        {
            "Id": str(i),
            "MessageBody": m.body,
            "MessageGroupId": m.group_id,
            "MessageDeduplicationId": m.dedup_id,
            "MessageAttributes": {k: {"DataType": ATTRIBUTE_TYPE, "StringValue": v} for k, v in m.attributes.items()},
        }
        for i, m in enumerate(batch)
    ]
    try:
        result = queue.sqs.send_message_batch(QueueUrl=queue.urls[name], Entries=entries)
    except (BotoCoreError, ClientError) as exc:
        raise QueueUnavailable(f"could not queue held events again ({type(exc).__name__})") from None
    if result.get("Failed"):
        codes = sorted({f.get("Code", "?") for f in result["Failed"]})
        raise QueueUnavailable(
            f"{len(result['Failed'])} of {len(batch)} held events refused by the {name} queue ({codes})"
        )


def resume(
    store: PauseStore,
    queue: SqsEventQueue,
    connection_id: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    settle_s: float = 2 * CACHE_S,
    page: int = 100,
    on_queued: Callable[[int], None] | None = None,
) -> ResumeReport:
    """Queue the connection's held events again and lift its pause (see the module doc).
    Without a pause, still queues what is held (a resume cut short earlier)."""
    pause = store.get(connection_id)
    report = ResumeReport(pause)
    token = pause.id if pause is not None else str(int(time.time() * 1000))
    if pause is not None and pause.state != "resuming":
        try:
            store.set_resuming(pause)
        except ConditionFailed:  # lifted (or replaced) meanwhile: queue what is held, lift nothing
            pause = report.pause = None

    def drain() -> int:
        sent = 0
        for _ in range(MAX_ROUNDS):
            report.rounds += 1
            moved = 0
            for keys in store.held_keys(connection_id, limit=page):
                held = store.read_held(keys)
                if held:
                    requeue(held, queue, token)
                    store.delete_held([h.pk for h in held])
                moved += len(held)
                report.queued += len(held)
                if on_queued is not None:
                    on_queued(report.queued)
            sent += moved
            if moved == 0:
                break
        return sent

    drain()
    if pause is not None:
        store.clear(pause)
        sleep(settle_s)
        report.swept = drain()
    log.info(
        "connection resumed",
        extra={"connection_id": connection_id, "outcome": "resumed", "queued": report.queued, "swept": report.swept},
    )
    return report


_GATES: dict[str, PauseGate] = {}


def gate_for(table: str) -> PauseGate:
    """The container's gate for the stack's state table (its cache lives as long as the container)."""
    if table not in _GATES:
        _GATES[table] = PauseGate(PauseStore(table))
    return _GATES[table]


def forget_gates() -> None:
    """Drop every cached pause state (a new container; tests and the local stack between stacks)."""
    _GATES.clear()
