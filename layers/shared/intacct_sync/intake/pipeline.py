"""The one path every canonical event takes onto the queues, from a webhook or the reconcile poll.

Webhook deliveries: two AWS calls, claim, then send.

1. Claim: one UpdateItem on the order's item in the state table (`intacct_sync.state`). It adds a
   claim `p<now>` for every event id of the delivery (`if_not_exists`: a claim already there is
   kept as it is) and sets the order's version `v` to the state carried, on condition that `v` is
   not newer than the oldest state the delivery carries; it answers with the item as it was
   (`ALL_OLD`, also when the condition fails). From that answer alone: an event whose claim was not
   there is new; one whose claim says sent (`s…`) is a duplicate; one claimed but not known to be
   sent was claimed by a delivery that may have died before its send. A state older than `v` is
   stale: the condition fails, nothing is written, and only when the delivery also carries an event
   that is not stale and not yet claimed (a new refund in an old order body: rare) does a second
   write claim it.
2. Send: one SendMessageBatch with the new events. A payment or refund new in a delivery that
   also sends its order's state (a WooCommerce order first seen paid, with its payment) travels
   on the orders queue right behind that state ("carried"), so the delivery still sends to one
   queue; the order consumer hands it on to the payments queue (`OrderPoster`: through this
   pipeline, below). (One call per queue, per 10 messages and per 256 KiB; an event stored by
   claim check costs one more.)

A duplicate or a stale delivery costs the first call only (a redelivery of a claim not known to be
sent: see below). When the claim finds the order's item holding more than `MAX_CLAIMS` claims, a
third call after the send prunes it (superseded states, claims past `DEDUP_DAYS`, the oldest): an
order updated hundreds of times pays that once per few dozen deliveries, any other order never.

Why no event is lost:
- The claim fails (DynamoDB unavailable, throttled): nothing is written; 503, the channel retries.
- The send fails (SQS or the claim-check bucket): this delivery's own claims are removed again (one
  more UpdateItem, only where they are untouched) and the answer is 503; the retry is a new
  delivery. If the removal fails too, the retry finds the claims as after a crash:
- A crash between claim and send (time-out, runtime killed): the claims stay `p…`. The channel
  retries a delivery that got no 2xx (Shopify for 4 hours, BigCommerce for 48: `ChannelSpec.
  retry_seconds`); the retry finds all its events claimed and none known to be sent, so it sends
  them again. WooCommerce never retries: for it the reconcile poll sends again an order state, or an
  event, whose claim is not known to be sent; for the others it does so once the channel's retries
  are over.
- A crash after the send: as a success.
- `v` advances with the claim, before the send, so a state older than a claimed one is refused even
  while the claimed one may not be on the queue yet. It will be (retried or polled as above), and
  it supersedes the refused one; the consumers apply only the newest state anyway.

Why no duplicate:
- `if_not_exists` lets exactly one delivery add an event's claim; only that delivery sends it as new.
- A carried payment or refund keeps its claim `p…` (it is not on the payments queue yet), so every
  path above that sends unsent claims again still does. The order consumer hands it on with
  `submit` (as a delivery): its claim not known to be sent, it is sent to the payments queue and
  marked sent; marked sent already (a retry or the poll sent it there first), it is dropped as a
  duplicate; gone (pruned), it is claimed and sent. Only the new events of a delivery are
  carried; a re-send and the poll put every event on its own queue before marking it sent, so a
  claim marked sent always means "on its own queue". The payment consumer applies a payment id
  once (its ledger), so a copy the queue did not drop changes nothing.
- Events are sent again only when their claims are not known to be sent: by a delivery that brings
  nothing new (a redelivery, a retry after a crash) and by the poll. SQS FIFO drops a copy sent
  within 5 minutes of the first (the dedup id is the event id); a later copy reaches a consumer,
  which ignores an event id and order version it already applied, so no document is made twice.
  After a re-send the claims are marked sent (a third call, only on that path), so later copies
  of the delivery cost one call and send nothing.
- A delivery with new events sends only those: events it carries that are claimed but not known to
  be sent (an order body repeating a refund claimed by refunds/create) are left to their own
  delivery's retry or to the poll, which keeps such deliveries at two calls.

The reconcile poll (`strictly_newer=True`) has no two-call budget; it sends first and records
after, so it never leaves a claim that was not sent:
1. One BatchGetItem per 100 orders. Dropped: states older than `v`; events whose claims say sent;
   a state equal to `v`, or an event already claimed, when it is known to be sent or the channel
   is still retrying the delivery that claimed it (so polling an order the webhooks delivered
   costs nothing downstream).
2. SendMessageBatch of the rest. That includes a state equal to `v` or an event claimed by a
   WooCommerce delivery, not known to be sent: the delivery may have died between its claim and its
   send, and WooCommerce never retries. So the first poll after a WooCommerce webhook sends that
   state once more, which the order consumer finds unchanged: the price of the webhook's two calls.
3. One UpdateItem per order: the events sent, and the webhook claims of the same state, marked
   sent; `v` advanced; superseded, expired and surplus claims pruned. A crash before it: the next
   poll sends the state again.

Staleness: an order state older than the newest claimed one is dropped (a late redelivery never
overwrites newer state). Webhooks accept an equal version (Shopify sends orders/updated and
orders/paid with one updated_at); the poll only sends an equal one not known to be sent. A
cancellation taken from an order state older than `v` is dropped too: a captured "cancelled" body
replayed after the order was re-opened or edited changes nothing (the order items never expire).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from intacct_sync.errors import TransientError
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import ORDER_QUEUE_TYPES, EventQueue
from intacct_sync.state import (
    MAX_CLAIMS,
    VERSIONED_TYPES,
    Claim,
    OrderState,
    StateStore,
    StateUnavailable,
    claim_name,
    claim_value,
    prunable,
    version_text,
)

# Checked against the order's version; only VERSIONED_TYPES advance it.
_STALE_CHECKED = VERSIONED_TYPES | {"cancellation"}
_CLAIM_ATTEMPTS = 3

log = logging.getLogger(__name__)


@dataclass
class SubmitResult:
    accepted: list[CanonicalEvent] = field(default_factory=list)
    """New events, now on the queue."""
    duplicates: list[CanonicalEvent] = field(default_factory=list)
    stale: list[CanonicalEvent] = field(default_factory=list)
    resent: list[CanonicalEvent] = field(default_factory=list)
    """Claimed before but not known to be sent: sent again (a redelivery; answered as a duplicate)."""


@dataclass
class _Claimed:
    """One order's part of a delivery after its claim."""

    group: str
    before: OrderState
    ours: dict[str, str] = field(default_factory=dict)
    """Claims this delivery added (name -> value): removed again if the send fails."""
    version: str | None = None
    send: list[CanonicalEvent] = field(default_factory=list)
    resent: list[CanonicalEvent] = field(default_factory=list)


def _event_version(event: CanonicalEvent) -> str | None:
    """The order state an event carries, recorded in its claim (order states only)."""
    if event.type in VERSIONED_TYPES and event.updated_at is not None:
        return version_text(event.updated_at)
    return None


def _checked_version(event: CanonicalEvent) -> str | None:
    if event.type in _STALE_CHECKED and event.updated_at is not None:
        return version_text(event.updated_at)
    return None


def _by_group(events: Sequence[CanonicalEvent]) -> Iterator[tuple[str, list[CanonicalEvent]]]:
    groups: dict[str, list[CanonicalEvent]] = {}
    for e in events:
        groups.setdefault(e.group_id, []).append(e)
    yield from groups.items()


def _carried(events: list[CanonicalEvent]) -> Iterator[CanonicalEvent]:
    """The payments and refunds of one order's new events that ride on the orders queue: those
    sent with an event for the orders queue (its order's state), so one delivery sends to one
    queue (module docstring)."""
    if any(e.type in ORDER_QUEUE_TYPES for e in events):
        yield from (e for e in events if e.type not in ORDER_QUEUE_TYPES)


def channel_retry_seconds(channel: str) -> int | None:
    """How long `channel` retries a delivery that got no 2xx (None: never)."""
    from intacct_sync.channels import ADAPTERS  # noqa: PLC0415 - only the poll asks

    adapter = ADAPTERS.get(channel)  # type: ignore[call-overload]
    return adapter.spec.retry_seconds if adapter is not None else None


class EventPipeline:
    def __init__(
        self,
        state: StateStore,
        queue: EventQueue,
        *,
        clock: Callable[[], float] = time.time,
        retry_seconds: Callable[[str], int | None] = channel_retry_seconds,
    ) -> None:
        self.state = state
        self.queue = queue
        self.clock = clock
        self.retry_seconds = retry_seconds

    def submit(self, events: Sequence[CanonicalEvent], *, strictly_newer: bool = False) -> SubmitResult:
        """Enqueue the events not seen before and not stale (see the module docstring).

        Raises QueueUnavailable / StateUnavailable (transient) when nothing can be promised;
        the caller answers 503 (webhook) or retries later (poll).
        """
        if not events:
            return SubmitResult()
        return self._poll(events) if strictly_newer else self._deliver(events)

    # --- webhook deliveries: claim, then send ------------------------------------------------------

    def _deliver(self, events: Sequence[CanonicalEvent]) -> SubmitResult:
        result = SubmitResult()
        now = int(self.clock())
        claimed = [self._claim(group, evs, now, result) for group, evs in _by_group(events)]
        to_send = [e for c in claimed for e in c.send]
        if to_send:
            carried = frozenset(e.event_id for c in claimed if not c.resent for e in _carried(c.send))
            try:
                if carried:
                    self.queue.publish(to_send, carried=carried)
                else:
                    self.queue.publish(to_send)
            except Exception:
                for c in claimed:
                    self._release(c)
                raise
        for c in claimed:
            self._settle_after_send(c, now)
        return result

    def _claim(self, group: str, events: list[CanonicalEvent], now: int, result: SubmitResult) -> _Claimed:
        pending: list[CanonicalEvent] = []
        ids: set[str] = set()
        for e in events:
            if e.event_id in ids:
                result.duplicates.append(e)
            else:
                ids.add(e.event_id)
                pending.append(e)
        for _ in range(_CLAIM_ATTEMPTS):
            values = {
                claim_name(e.event_id): claim_value(sent=False, at=now, version=_event_version(e)) for e in pending
            }
            versions = [v for e in pending if (v := _event_version(e)) is not None]
            checked = [v for e in pending if (v := _checked_version(e)) is not None]
            version = max(versions) if versions else None
            written, before = self.state.claim(
                group, values, version=version, not_older_than=min(checked) if checked else None
            )
            if written:
                return self._classify(_Claimed(group, before, version=version), pending, values, result)
            newest = before.version or ""
            stale = [e for e in pending if (v := _checked_version(e)) is not None and v < newest]
            result.stale.extend(stale)
            pending = [e for e in pending if all(e is not s for s in stale)]
            if all(claim_name(e.event_id) in before.claims for e in pending):
                # Nothing left to claim (possibly nothing at all): `before` is the item as it is.
                return self._classify(_Claimed(group, before), pending, {}, result)
        raise StateUnavailable(f"the state of order {group} kept changing during the claim; retry")

    @staticmethod
    def _classify(
        claimed: _Claimed, events: list[CanonicalEvent], values: dict[str, str], result: SubmitResult
    ) -> _Claimed:
        new: list[CanonicalEvent] = []
        unsent: list[CanonicalEvent] = []
        for e in events:
            name = claim_name(e.event_id)
            existing = claimed.before.claims.get(name)
            if existing is None:
                new.append(e)
                claimed.ours[name] = values[name]
            elif existing.sent:
                result.duplicates.append(e)
            else:
                unsent.append(e)
        result.accepted.extend(new)
        if new:
            # Their own deliveries' retries (or the poll) send them if they never went out.
            result.duplicates.extend(unsent)
            claimed.send = new
        else:
            result.resent.extend(unsent)
            claimed.send = claimed.resent = unsent
        return claimed

    def _release(self, claimed: _Claimed) -> None:
        if not claimed.ours:
            return
        try:
            self.state.release(claimed.group, claimed.ours)
        except TransientError as exc:
            # The claims stay: the channel's retry finds them unsent and sends again.
            log.warning("claims of a failed send not removed", extra={"reason": exc.message})

    def _settle_after_send(self, claimed: _Claimed, now: int) -> None:
        """Mark re-sent claims sent (no later redelivery sends them again); trim a full item."""
        sent: dict[str, str] = {}
        for e in claimed.resent:
            old = claimed.before.claims[claim_name(e.event_id)]
            sent[claim_name(e.event_id)] = claim_value(sent=True, at=old.at, version=old.version)
        claims = len(claimed.before.claims) + len(claimed.ours)
        if not sent and claims <= MAX_CLAIMS:
            return
        after = OrderState(
            version=max(filter(None, (claimed.before.version, claimed.version)), default=None),
            claims={**claimed.before.claims, **{k: Claim.parse(v) for k, v in claimed.ours.items()}},
        )
        remove = prunable(after, now=now, keep=frozenset(sent) | frozenset(claimed.ours))
        if not sent and not remove:
            return
        try:
            self.state.settle(claimed.group, sent, version=None, remove=remove)
        except TransientError as exc:  # the events are queued; a later delivery settles them
            log.warning("claims not settled", extra={"reason": exc.message})

    # --- the reconcile poll: read, send, record ----------------------------------------------------

    def _poll(self, events: Sequence[CanonicalEvent]) -> SubmitResult:
        result = SubmitResult()
        now = int(self.clock())
        states = self.state.read(list(dict.fromkeys(e.group_id for e in events)))
        ids: set[str] = set()
        for e in events:
            if e.event_id in ids:
                result.duplicates.append(e)
                continue
            ids.add(e.event_id)
            state = states.get(e.group_id) or OrderState()
            retried = self._retried_since(e.channel, now)
            checked = _checked_version(e)
            if (
                checked is not None
                and state.version is not None
                and (checked < state.version or (checked == state.version and state.covered(checked, retried)))
            ):
                result.stale.append(e)
                continue
            existing = state.claims.get(claim_name(e.event_id))
            if existing is not None and (existing.sent or (retried is not None and existing.at >= retried)):
                result.duplicates.append(e)
                continue
            result.accepted.append(e)
        if not result.accepted:
            return result
        self.queue.publish(result.accepted)
        for group, sent_events in _by_group(result.accepted):
            try:
                self._record_sent(group, sent_events, states.get(group) or OrderState(), now)
            except TransientError as exc:  # enqueued already; a repeat is absorbed downstream
                log.warning("events enqueued but not recorded as sent", extra={"reason": exc.message})
        return result

    def _retried_since(self, channel: str, now: int) -> int | None:
        """Claims made since this time (epoch seconds) are still the channel's to retry if their
        delivery died; None: the channel never retries."""
        seconds = self.retry_seconds(channel)
        return None if seconds is None else now - seconds

    def _record_sent(self, group: str, events: list[CanonicalEvent], state: OrderState, now: int) -> None:
        versions = [v for e in events if (v := _event_version(e)) is not None]
        version = max(versions) if versions else None
        sent = {claim_name(e.event_id): claim_value(sent=True, at=now, version=_event_version(e)) for e in events}
        for name, c in state.claims.items():
            if not c.sent and version is not None and c.version == version and name not in sent:
                sent[name] = claim_value(sent=True, at=c.at, version=c.version)  # that state is on the queue now
        after = OrderState(
            version=max(filter(None, (state.version, version)), default=None),
            claims={**state.claims, **{k: Claim.parse(v) for k, v in sent.items()}},
        )
        self.state.settle(group, sent, version=version, remove=prunable(after, now=now, keep=frozenset(sent)))
