"""Re-sync one order and backfill a date range (issue 14): the channel's current state of orders,
submitted through the same pipeline as webhooks and the reconcile poll.

Re-sync (`intacct-sync ops resync`): one order is fetched from the channel API (its state, and
its payments and refunds where the channel lists them with it) and every event is queued,
including those the pipeline already knows: the order consumer re-plans an order state equal to
the one it applied (only older states are stale) and posts whatever is missing in Intacct (a
parked invoice, a payment lost to an outage), and ignores what is already there (the ledger's
document, payment and refund ids; deterministic controlids). New events go through the
pipeline's delivery path (claimed, then sent); events it already knows are sent again with their
event ids suffixed `~s<run>`, so SQS FIFO's 5-minute deduplication never drops them.

Backfill (`intacct-sync ops backfill`): the channel's orders changed since `--since` are listed
(oldest change first, the reconcile poll's listing, paced by the channel's rate limits), those
placed from `--since` to `--until` are kept with their payments and refunds, and submitted in
batches through the pipeline's poll path (`strictly_newer=True`), so a second run queues nothing
the first one queued and a backfill over orders the webhooks delivered costs nothing downstream.
After each batch the checkpoint `backfill#<connection>` in the state table records the newest
change submitted; a run with the same range continues from there (an interrupted run loses at most
one batch's work, which the pipeline then drops as duplicates).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from intacct_sync.dynamo import DynamoTable
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.models.events import CanonicalEvent, OrderEvent, OrderReferenceEvent
from intacct_sync.retry import Deadline

log = logging.getLogger(__name__)

BATCH = 25
LISTED_PER_CHECKPOINT = 500
"""A checkpoint is also saved after this many listed events (a long run of orders out of range)."""
REWIND = timedelta(seconds=1)
"""A continued backfill lists from this much before its checkpoint (channel dates have whole seconds)."""


class OrderSource(Protocol):
    """What re-sync and backfill need of a channel API client."""

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]: ...

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]: ...


# --- re-sync ---------------------------------------------------------------------------------------


@dataclass
class ResyncResult:
    order_id: str
    events: list[CanonicalEvent] = field(default_factory=list)
    new: int = 0
    """Events the pipeline had not seen: claimed and queued as a delivery."""
    again: int = 0
    """Events it knew (claimed before, or stale): queued again under a suffixed id."""


def _suffixed(event: CanonicalEvent, run: str) -> CanonicalEvent:
    base = event.event_id if len(event.event_id) <= 100 else hashlib.sha256(event.event_id.encode()).hexdigest()
    return event.model_copy(update={"event_id": f"{base}~s{run}"})


def resync_order(
    source: OrderSource,
    pipeline: EventPipeline,
    order_id: str,
    *,
    deadline: Deadline,
    run: str | None = None,
) -> ResyncResult:
    """Fetch the order's current state and queue all of it (see the module doc). Raises the
    channel client's errors (ChannelNotFound: no such order) and the queue's."""
    events = source.fetch_order_events(order_id, deadline=deadline)
    result = ResyncResult(order_id, events)
    if not events:
        return result
    submitted = pipeline.submit(events)
    result.new = len(submitted.accepted)
    # A re-sent claim went out under its own id: FIFO drops it if that id was sent in the last 5
    # minutes, so it is sent again suffixed as well (the consumers apply it once either way).
    sent = {e.event_id for e in submitted.accepted}
    tag = run or str(int(time.time() * 1000))
    known = [_suffixed(e, tag) for e in events if e.event_id not in sent]
    known = list({e.event_id: e for e in known}.values())
    if known:
        pipeline.queue.publish(known)
    result.again = len(known)
    log.info(
        "order re-synced",
        extra={
            "connection_id": events[0].connection_id,
            "order_id": order_id,
            "outcome": "queued",
            "new": result.new,
            "again": result.again,
        },
    )
    return result


# --- backfill --------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    connection_id: str
    since: datetime
    until: datetime
    done_through: datetime | None = None
    """The newest change submitted (the listing goes oldest change first)."""
    seen: int = 0
    queued: int = 0
    finished: bool = False


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _dt(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class CheckpointStore(DynamoTable):
    """`backfill#<connection>` items in the state table."""

    def get(self, connection_id: str) -> Checkpoint | None:
        item = self._call(
            "get_item", TableName=self.table, Key={"pk": {"S": f"backfill#{connection_id}"}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        s = {k: v.get("S", v.get("N", "")) for k, v in item.items()}
        since, until = _dt(s.get("since", "")), _dt(s.get("until", ""))
        if since is None or until is None:  # not a checkpoint this version wrote: start afresh
            return None
        return Checkpoint(
            connection_id=connection_id,
            since=since,
            until=until,
            done_through=_dt(s.get("done", "")),
            seen=int(s.get("seen", "0") or 0),
            queued=int(s.get("queued", "0") or 0),
            finished=s.get("finished") == "1",
        )

    def put(self, cp: Checkpoint) -> None:
        self._call(
            "put_item",
            TableName=self.table,
            Item={
                "pk": {"S": f"backfill#{cp.connection_id}"},
                "since": {"S": _iso(cp.since)},
                "until": {"S": _iso(cp.until)},
                "done": {"S": _iso(cp.done_through)},
                "seen": {"N": str(cp.seen)},
                "queued": {"N": str(cp.queued)},
                "finished": {"S": "1" if cp.finished else "0"},
                "at": {"S": _iso(datetime.now(UTC))},
            },
        )


def _placed_at(event: CanonicalEvent) -> datetime | None:
    if isinstance(event, OrderEvent):
        return event.payload.created_at
    if isinstance(event, OrderReferenceEvent):
        return event.payload.created_at
    return None


def backfill(
    source: OrderSource,
    pipeline: EventPipeline,
    checkpoints: CheckpointStore,
    connection_id: str,
    *,
    since: datetime,
    until: datetime,
    deadline: Deadline,
    restart: bool = False,
    on_batch: Callable[[Checkpoint], None] | None = None,
) -> Checkpoint:
    """Submit the orders placed in [since, until) (see the module doc); returns the checkpoint
    as saved. A run with the range of an unfinished checkpoint continues it (unless `restart`)."""
    saved = None if restart else checkpoints.get(connection_id)
    if saved is not None and saved.since == since and saved.until == until and not saved.finished:
        cp = saved
    else:
        cp = Checkpoint(connection_id, since, until)
    start = cp.done_through - REWIND if cp.done_through is not None else since
    batch: list[CanonicalEvent] = []
    newest: datetime | None = cp.done_through  # of every event listed so far (kept or not)

    def flush() -> None:
        if batch:
            cp.queued += len(pipeline.submit(batch, strictly_newer=True).accepted)
            batch.clear()
        cp.done_through = newest
        checkpoints.put(cp)
        if on_batch is not None:
            on_batch(cp)

    keep: dict[str, bool] = {}
    for listed, event in enumerate(source.iter_orders_changed_since(start, deadline=deadline), start=1):
        placed = _placed_at(event)
        if placed is not None:
            cp.seen += 1
            keep[event.group_id] = since <= placed < until
        if event.updated_at is not None and (newest is None or event.updated_at > newest):
            newest = event.updated_at
        if keep.get(event.group_id, False):
            batch.append(event)
        if len(batch) >= BATCH or listed % LISTED_PER_CHECKPOINT == 0:
            flush()
    flush()
    cp.finished = True
    checkpoints.put(cp)
    log.info(
        "backfill",
        extra={
            "connection_id": connection_id,
            "outcome": "complete",
            "since": _iso(since),
            "until": _iso(until),
            "seen": cp.seen,
            "queued": cp.queued,
        },
    )
    return cp


def parse_day(text: str) -> datetime:
    """`2026-11-01` (midnight UTC) or an ISO-8601 time with its offset."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
