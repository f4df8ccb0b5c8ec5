"""The reconcile poll: catch orders whose webhooks never arrived (WooCommerce never retries a
failed delivery; Shopify does not guarantee delivery; bodies over 4 MiB are refused at intake).

Per connection: list orders changed since the stored watermark (less an overlap, since channel
clocks and listing indexes lag), and submit their current states through the same pipeline as
webhooks, keeping only states strictly newer than what was already accepted. The watermark moves
to the run's start time only after every page was submitted; a run cut short by the deadline
saves the newest state it submitted, so the next run resumes there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.retry import Deadline
from intacct_sync.state import StateStore

log = logging.getLogger(__name__)

OVERLAP = timedelta(minutes=10)
FIRST_RUN_LOOKBACK = timedelta(days=1)
BATCH = 25


class OrderLister(Protocol):
    """What the poll needs of a channel API client."""

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[CanonicalEvent]: ...


@dataclass
class ReconcileResult:
    connection_id: str
    since: datetime
    seen: int = 0
    queued: int = 0
    complete: bool = False


def reconcile_connection(
    connection_id: str,
    client: OrderLister,
    pipeline: EventPipeline,
    state: StateStore,
    *,
    now: datetime,
    deadline: Deadline,
    reserve_s: float = 5.0,
    on_batch: Callable[[int], None] | None = None,
) -> ReconcileResult:
    """Poll one connection; raises only transient errors (the schedule retries next run)."""
    watermark = state.get_watermark(connection_id)
    since = (watermark or now - FIRST_RUN_LOOKBACK) - OVERLAP
    result = ReconcileResult(connection_id, since)
    newest: datetime | None = None
    batch: list[CanonicalEvent] = []

    def flush() -> None:
        nonlocal newest
        if not batch:
            return
        submitted = pipeline.submit(batch, strictly_newer=True)
        result.queued += len(submitted.accepted)
        for e in batch:
            if e.updated_at is not None and (newest is None or e.updated_at > newest):
                newest = e.updated_at
        if on_batch:
            on_batch(len(submitted.accepted))
        batch.clear()

    for event in client.iter_orders_changed_since(since, deadline=deadline):
        result.seen += 1
        batch.append(event)
        if len(batch) >= BATCH:
            flush()
            if deadline.remaining() < reserve_s:
                break
    else:
        flush()
        result.complete = True
    if result.complete:
        state.set_watermark(connection_id, now)
    elif newest is not None:
        # Listings come oldest-modified first, so everything before `newest` was submitted.
        state.set_watermark(connection_id, newest + OVERLAP)
    log.info(
        "reconcile",
        extra={
            "connection": connection_id,
            "since": since.isoformat(),
            "seen": result.seen,
            "queued": result.queued,
            "complete": result.complete,
        },
    )
    return result
