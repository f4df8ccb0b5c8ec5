"""The reconcile poll: catch orders whose webhooks never arrived (WooCommerce never retries a
failed delivery; Shopify does not guarantee delivery; bodies over 4 MiB are refused at intake).

Per connection: list orders changed since the stored watermark (less an overlap, since channel
clocks and listing indexes lag), and submit their current states through the same pipeline as
webhooks, keeping only states strictly newer than what was already accepted. The watermark moves
to the run's start time only after every page was submitted; a run cut short by the deadline
saves the newest state it submitted, so the next run resumes there.

One bad order never stops a poll: an order the adapter cannot read is skipped by the client
(logged with the field), and an event the queue cannot take for a permanent reason is skipped here
(logged with the order and the reason) while the rest of the batch is queued. Anything else that
goes wrong is raised as a `SyncError` (after saving the progress made), so the scheduled handler,
which catches `SyncError` per connection, always goes on to the next connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from intacct_sync import logs
from intacct_sync.errors import PermanentError, SyncError, TransientError
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


class ReconcileFailed(PermanentError):
    """A connection's poll stopped on an unexpected error (the next connection is still polled)."""


@dataclass
class ReconcileResult:
    connection_id: str
    since: datetime
    seen: int = 0
    queued: int = 0
    skipped: int = 0
    complete: bool = False


def _submit_each(pipeline: EventPipeline, events: list[CanonicalEvent], result: ReconcileResult) -> int:
    """The batch was refused for a permanent reason: queue what can be, skip (and log) the poison."""
    queued = 0
    for e in events:
        try:
            queued += len(pipeline.submit([e], strictly_newer=True).accepted)
        except TransientError:
            raise
        except Exception as exc:  # one order's failure must not stop the poll
            result.skipped += 1
            log.error(
                "reconcile skipped an event the queue cannot take",
                extra={
                    **logs.order_keys(e),
                    "event_id": e.event_id,
                    "outcome": "skipped",
                    "field": getattr(exc, "path", None),
                    "reason": exc.message if isinstance(exc, SyncError) else type(exc).__name__,
                    "fix": "the order is refused as the channel sends it now; check it in the channel "
                    "(the reason names the field); the next change to the order is polled again",
                },
            )
    return queued


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
    """Poll one connection. Raises only `SyncError`s: transient ones (the schedule retries next
    run) and `ReconcileFailed` for anything unexpected; either way the progress made is saved."""
    watermark = state.get_watermark(connection_id)
    since = (watermark or now - FIRST_RUN_LOOKBACK) - OVERLAP
    result = ReconcileResult(connection_id, since)
    newest: datetime | None = None
    batch: list[CanonicalEvent] = []

    def flush() -> None:
        nonlocal newest
        if not batch:
            return
        try:
            accepted = len(pipeline.submit(batch, strictly_newer=True).accepted)
        except TransientError:
            raise
        except Exception:  # narrowed down event by event below
            accepted = _submit_each(pipeline, batch, result)
        result.queued += accepted
        for e in batch:
            if e.updated_at is not None and (newest is None or e.updated_at > newest):
                newest = e.updated_at
        if on_batch:
            on_batch(accepted)
        batch.clear()

    def save_progress() -> None:
        if result.complete:
            state.set_watermark(connection_id, now)
        elif newest is not None:
            # Listings come oldest-modified first, so everything before `newest` was submitted.
            state.set_watermark(connection_id, newest + OVERLAP)

    try:
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
    except Exception as exc:
        batch.clear()
        try:
            save_progress()
        except Exception:  # the original error is the one to report
            log.warning("reconcile could not save its progress", extra={"connection_id": connection_id})
        if isinstance(exc, SyncError):
            raise
        raise ReconcileFailed(
            f"reconcile of connection {connection_id} stopped on an unexpected {type(exc).__name__}",
            fix="see the log line before this one; the next run resumes from the saved watermark",
        ) from exc
    save_progress()
    log.info(
        "reconcile",
        extra={
            "connection_id": connection_id,
            "outcome": "complete" if result.complete else "partial",
            "since": since.isoformat(),
            "seen": result.seen,
            "queued": result.queued,
            "skipped": result.skipped,
            "complete": result.complete,
        },
    )
    return result
