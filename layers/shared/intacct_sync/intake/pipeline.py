"""The one path every canonical event takes onto the queues, from a webhook or the reconcile poll.

Per batch: one state-table read (already-accepted event ids and the latest accepted version of
each order), one enqueue, then one write marking them accepted. The marks are written only after
the enqueue succeeded, so a failed enqueue leaves nothing behind that would block the retry.

Staleness: an order state older than the one already accepted is dropped (a late redelivery never
overwrites newer state). Webhooks accept an equal version (Shopify sends orders/updated and
orders/paid with one updated_at); the poll only enqueues strictly newer states, so polling an
order the webhooks already delivered costs nothing downstream. A cancellation taken from an order
state older than the accepted version is dropped too: a captured "cancelled" body replayed after
the order was re-opened or edited changes nothing (the version records never expire).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import EventQueue
from intacct_sync.state import VERSIONED_TYPES, StateStore

# Checked against the order's accepted version; only VERSIONED_TYPES advance it.
_STALE_CHECKED = VERSIONED_TYPES | {"cancellation"}

log = logging.getLogger(__name__)


@dataclass
class SubmitResult:
    accepted: list[CanonicalEvent] = field(default_factory=list)
    duplicates: list[CanonicalEvent] = field(default_factory=list)
    stale: list[CanonicalEvent] = field(default_factory=list)


class EventPipeline:
    def __init__(self, state: StateStore, queue: EventQueue) -> None:
        self.state = state
        self.queue = queue

    def submit(self, events: Sequence[CanonicalEvent], *, strictly_newer: bool = False) -> SubmitResult:
        """Enqueue the events not seen before and not stale.

        Raises QueueUnavailable / StateUnavailable (transient) when nothing can be promised;
        the caller answers 503 (webhook) or retries later (poll).
        """
        result = SubmitResult()
        if not events:
            return result
        seen, versions = self.state.lookup(
            [e.event_id for e in events], [e.group_id for e in events if e.type in _STALE_CHECKED]
        )
        batch_ids: set[str] = set()
        for e in events:
            if e.event_id in seen or e.event_id in batch_ids:
                result.duplicates.append(e)
                continue
            known = versions.get(e.group_id) if e.type in _STALE_CHECKED else None
            if (
                known is not None
                and e.updated_at is not None
                and (e.updated_at < known or (strictly_newer and e.updated_at == known))
            ):
                result.stale.append(e)
                continue
            batch_ids.add(e.event_id)
            result.accepted.append(e)
        if result.accepted:
            self.queue.publish(result.accepted)
            try:
                self.state.record(result.accepted)
            except Exception:  # enqueued already; FIFO dedup and the consumer cover a repeat
                log.warning("events enqueued but not marked accepted", extra={"events": len(result.accepted)})
        return result
