"""Payments and refunds that wait in the ledger for their invoice, without a clock (issue 13).

A payment or refund that arrives before the invoice it applies to exists (the order not received
yet, parked, or not placed yet) is not retried through SQS, where every wait would cost one of the queue's receives
and, once they ran out, send it to the dead-letter queue without a reason. Instead:

1. The payment consumer stores the event, exactly as delivered, in its order's ledger entry
   (`LedgerEntry.waiting`, keyed `payment:<id>` / `refund:<id>`, with since / reason / fix) and
   reports the message done. The same payment delivered again while it waits replaces the stored
   copy (its `since` is kept): one wait per payment, however often it is delivered.
2. The order poster, after every successful ledger write of an order with an invoice and waits,
   queues the waiting events again onto the payments queue (`OrderPoster.forward`, the events'
   ids suffixed `~w<entry version>`, so SQS FIFO's 5-minute deduplication never drops a copy).
   If that send fails the order's own message is retried, and its redelivery queues them again.
3. The payment consumer handles the copy like any delivery: applied (the ledger's `payments` /
   `refunds` hold its id, so any later copy or delivery is a duplicate: exactly once), parked
   with its reason, or waiting again (still behind the invoice). A wait is removed from the entry
   only when its event is done or parked, never on a transient retry.
4. Only the wait for an invoice that does not exist yet (the order not received, parked, or not
   placed yet) is kept in the ledger: while there is no invoice every later payment or refund of
   the order waits too, after it. Once the invoice exists, the payment consumer applies an order's
   waits first, oldest first, from the ledger, before any other event of that order
   (`PaymentPoster._drain_waits`): queue order is kept whatever order the copies arrive in (a
   refund is never credited before the payment it follows). A payment waiting for
   an invoice *update* (an order edit still queued, an update whose answer was lost) or for a
   deleted invoice to come back is retried through SQS as before, so the payments and refunds
   behind it in its FIFO group stay behind it (a refund credited before the additional invoice it
   follows would be capped); `posting.breaker` keeps such retries from reaching the DLQ.

No time limit: a wait ends when its invoice exists. An entry with waits is filed under the
`~waiting` partition of the ledger's sparse `writeback` index by its oldest wait, so the wait-age
check (`report_oldest`) reads one index key, never the history, and the entry never expires
(retention) while something waits on it.

A wait is kept in the entry only while the entry's waits stay under `MAX_WAITING_BYTES` of JSON
(DynamoDB items are at most 400 KB); beyond that a payment is retried through SQS as before (a
refund with thousands of lines, in practice never).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Final

from intacct_sync import logs
from intacct_sync.ledger import LedgerEntry, WaitingEvent
from intacct_sync.models.events import CanonicalEvent, PaymentEvent, RefundEvent, event_from_json, event_to_json
from intacct_sync.posting.outcome import Outcome

log = logging.getLogger(__name__)

MAX_WAITING_BYTES: Final = 200_000
WAITING: Final = "waiting for its invoice"
"""The start of the reason of an Outcome for an event that now waits in the ledger."""


def key_of(event: CanonicalEvent) -> str | None:
    """`payment:<id>` / `refund:<id>`: what one wait is kept under (None: not money)."""
    if isinstance(event, PaymentEvent):
        return f"payment:{event.payload.payment_id}"
    if isinstance(event, RefundEvent):
        return f"refund:{event.payload.refund_id}"
    return None


def wait(
    entry: LedgerEntry, event: CanonicalEvent, reason: str, fix: str | None, *, now: datetime | None = None
) -> bool:
    """Keep `event` waiting on `entry`; False when it does not fit (the caller retries instead)."""
    key = key_of(event)
    if key is None:
        return False
    data = event_to_json(event).decode()
    others = sum(len(w.event) for k, w in entry.waiting.items() if k != key)
    if others + len(data) > MAX_WAITING_BYTES:
        return False
    before = entry.waiting.get(key)
    since = before.since if before is not None else (now or datetime.now(UTC))
    entry.waiting = {**entry.waiting, key: WaitingEvent(event=data, since=since, reason=reason, fix=fix)}
    if before is None:
        entry.note("waiting for its invoice", f"{key}: {reason}")
    return True


def forget(entry: LedgerEntry, event: CanonicalEvent) -> bool:
    """Remove `event`'s wait (it was applied, found a duplicate or parked); True if there was one."""
    key = key_of(event)
    if key is None or key not in entry.waiting:
        return False
    entry.waiting = {k: w for k, w in entry.waiting.items() if k != key}
    return True


def ready(entry: LedgerEntry) -> bool:
    """The order has an invoice (or was skipped as a test order): its waits can be tried again."""
    return bool(entry.waiting) and (entry.document_key is not None or entry.test_order)


def copies(entry: LedgerEntry) -> list[CanonicalEvent]:
    """The waiting events as new queue messages: their event ids suffixed with the entry's version
    (a fresh SQS deduplication id per ledger write; the payment and refund ids are unchanged)."""
    out: list[CanonicalEvent] = []
    for w in entry.waiting.values():
        event = event_from_json(w.event)
        base = event.event_id if len(event.event_id) <= 100 else hashlib.sha256(event.event_id.encode()).hexdigest()
        out.append(event.model_copy(update={"event_id": f"{base}~w{entry.version}"}))
    return out


def release(entry: LedgerEntry, outcome: Outcome, send: Callable[[Sequence[CanonicalEvent]], object] | None) -> Outcome:
    """After the order poster wrote `entry` (outcome done): queue its waiting events again.
    A failed send turns the order's outcome into a retry, so its redelivery sends them again."""
    if outcome.status != "done" or send is None or not ready(entry):
        return outcome
    events = copies(entry)
    try:
        send(events)
    except Exception as exc:  # any failure: the order's message is retried, the waits kept
        log.warning(
            "waiting payments not queued again",
            extra={**logs.order_keys(entry), "outcome": "retry", "reason": f"{type(exc).__name__}: {exc}"[:500]},
        )
        return Outcome.retry(
            f"the {len(events)} payment(s) waiting for order {entry.order_number or entry.order_id}'s invoice "
            "could not be queued again",
            fix="Nothing to do: the order's message is retried and queues them again.",
        )
    log.info(
        "waiting payments queued again",
        extra={**logs.order_keys(entry), "outcome": "requeued", "waiting": sorted(entry.waiting)[:20]},
    )
    return outcome


def report_oldest(entries: Sequence[LedgerEntry], *, now: datetime | None = None) -> float | None:
    """Log the oldest wait (`entries` from `Ledger.waiting_entries(limit=1)`): the line the
    `PaymentWaitAge` metric filter reads. Returns its age in seconds (None: nothing waits)."""
    if not entries:
        return None
    entry = entries[0]
    key, oldest = min(entry.waiting.items(), key=lambda kv: kv[1].since)
    age = ((now or datetime.now(UTC)) - oldest.since).total_seconds()
    log.info(
        "oldest waiting payment",
        extra={
            **logs.order_keys(entry),
            "waiting_s": round(age),
            "waiting": key,
            "reason": oldest.reason,
            "fix": oldest.fix,
        },
    )
    return age
