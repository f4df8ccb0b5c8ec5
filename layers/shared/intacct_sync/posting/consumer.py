"""SQS FIFO batches to posting work, and the answers back to the event source mapping.

- Records of one message group (one order) are handled strictly in order: once one must be
  retried, it and every later record of that group are reported as failures, so SQS redelivers
  them in order. Records of other groups are unaffected (one bad order never blocks the others).
- Records are handed to the poster in waves (the next record of every group at once), so a
  backlog becomes a few Intacct requests carrying several orders each.
- A permanent failure is parked: the message is copied to the dead-letter queue with its reason
  (message attributes) and reported done, so it stops blocking its group; the ledger says why.
  `intacct-sync ops replay` moves parked messages back after the fix.
- With a `guard` (`posting.breaker.ConsumerGuard`: the stack-wide Intacct circuit breaker), a
  batch that finds Intacct out (or makes it so) pushes its records back until the breaker's
  next probe, and a record that must be retried from its 6th receive on is recycled as a new
  message: transient failures never use up the queue's receive budget (the arithmetic is in
  `posting.breaker`), so only permanent errors reach the dead-letter queues, with their reason.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from intacct_sync import logs
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.posting.outcome import Outcome
from intacct_sync.retry import Deadline

if TYPE_CHECKING:
    from intacct_sync.posting.breaker import ConsumerGuard

log = logging.getLogger(__name__)

Poster = Callable[[Sequence[CanonicalEvent], Deadline], Mapping[str, Outcome]]
"""Handles one wave (at most one event per order); returns an Outcome per event_id."""


@dataclass
class Record:
    message_id: str
    group_id: str
    body: str
    receive_count: int
    raw: Mapping[str, Any]


def records_of(event: Mapping[str, Any]) -> list[Record]:
    out = []
    for r in event.get("Records", []):
        attrs = r.get("attributes", {})
        out.append(
            Record(
                message_id=r["messageId"],
                group_id=attrs.get("MessageGroupId", r["messageId"]),
                body=r.get("body", ""),
                receive_count=int(attrs.get("ApproximateReceiveCount", "1")),
                raw=r,
            )
        )
    return out


def process_batch(
    event: Mapping[str, Any],
    *,
    decode: Callable[[str], CanonicalEvent],
    poster: Poster,
    park: Callable[[Record, Outcome], None],
    deadline: Deadline,
    on_outcome: Callable[[CanonicalEvent | None, Outcome], None] | None = None,
    reserve_s: float = 5.0,
    guard: ConsumerGuard | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Run a batch; returns the `batchItemFailures` answer (ReportBatchItemFailures)."""
    records = records_of(event)
    if guard is None:
        failures = _run(
            records,
            decode=decode,
            poster=poster,
            park=park,
            deadline=deadline,
            on_outcome=on_outcome,
            reserve_s=reserve_s,
            guard=None,
        )
    elif records and guard.begin() is not None:  # Intacct is out: nothing decoded, nothing posted
        failures = [r.message_id for r in records]
    else:
        failures = _run(
            records,
            decode=decode,
            poster=poster,
            park=park,
            deadline=deadline,
            on_outcome=on_outcome,
            reserve_s=reserve_s,
            guard=guard,
        )
    if guard is not None and failures:
        by_id = {r.message_id: r for r in records}
        failures = [r.message_id for r in guard.settle([by_id[m] for m in failures])]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failures]}


def _run(
    records: list[Record],
    *,
    decode: Callable[[str], CanonicalEvent],
    poster: Poster,
    park: Callable[[Record, Outcome], None],
    deadline: Deadline,
    on_outcome: Callable[[CanonicalEvent | None, Outcome], None] | None,
    reserve_s: float,
    guard: ConsumerGuard | None,
) -> list[str]:
    """The batch's waves; returns the message ids to report as failures, in batch order."""
    notify = on_outcome or (lambda _e, _o: None)
    groups: OrderedDict[str, deque[tuple[Record, CanonicalEvent]]] = OrderedDict()
    failures: list[str] = []
    blocked: set[str] = set()  # groups with an unreadable record: it and later ones wait
    for record in records:
        if record.group_id in blocked:
            failures.append(record.message_id)
            continue
        try:
            decoded = decode(record.body)
        except (ValidationError, ValueError, KeyError) as exc:
            outcome = Outcome.park(
                f"message is not a canonical event ({type(exc).__name__})",
                fix="It was not written by this version's webhook or reconcile function: inspect it in the "
                "dead-letter queue, then delete it, or let the reconcile poll fetch the order again.",
            )
            connection_id, _, order_id = record.group_id.partition(":")
            with logs.context(message_id=record.message_id, connection_id=connection_id, order_id=order_id):
                park(record, outcome)
            notify(None, outcome)
            continue
        except Exception as exc:  # claim check unreadable now (S3): retry, keeping the order
            log.warning(
                "could not read message; will retry",
                extra={"message_id": record.message_id, "outcome": "retry", "reason": type(exc).__name__},
            )
            blocked.add(record.group_id)
            failures.append(record.message_id)
            continue
        groups.setdefault(record.group_id, deque()).append((record, decoded))

    def fail_rest(group: deque[tuple[Record, CanonicalEvent]]) -> None:
        failures.extend(r.message_id for r, _ in group)
        group.clear()

    while any(groups.values()):
        if deadline.remaining() < reserve_s or (guard is not None and guard.pause_s is not None):
            for group in groups.values():
                fail_rest(group)
            break
        wave = [group.popleft() for group in groups.values() if group]
        events = [e for _, e in wave]
        # Lines logged while the wave posts (one Intacct request carries several orders) name them all.
        with logs.context(
            connection_id=",".join(sorted({e.connection_id for e in events})),
            order_id=",".join(e.order_id for e in events)[:1000],
        ):
            outcomes = poster(events, deadline)
        for record, decoded in wave:
            outcome = outcomes.get(decoded.event_id) or Outcome.retry("no outcome from the poster")
            notify(decoded, outcome)
            with logs.context(**_event_keys(record, decoded)):
                if outcome.status == "retry":
                    log.warning("will retry", extra={"outcome": "retry", "reason": outcome.reason, "fix": outcome.fix})
                    failures.append(record.message_id)
                    fail_rest(groups[record.group_id])
                elif outcome.status == "park":
                    park(record, outcome)
                else:
                    log.info(
                        "posted" if outcome.posted else "nothing to post",
                        extra={"outcome": "posted" if outcome.posted else "unchanged", "reason": outcome.reason},
                    )
    order = {r.message_id: i for i, r in enumerate(records)}
    return sorted(failures, key=order.__getitem__)


def _event_keys(record: Record, event: CanonicalEvent) -> dict[str, str | None]:
    """What every line about this event carries: who, which order (id and the number finance sees), what."""
    return {
        **logs.order_keys(event),
        "topic": event.topic[:64],
        "event_type": event.type,
        "message_id": record.message_id,
    }


class DeadLetterParking:
    """Copies a parked message to its dead-letter queue with the reason as attributes."""

    def __init__(self, dlq_url: str, *, sqs: Any = None) -> None:
        self.dlq_url = dlq_url
        self._sqs = sqs

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3  # noqa: PLC0415

            self._sqs = boto3.client("sqs")
        return self._sqs

    def __call__(self, record: Record, outcome: Outcome) -> None:
        attrs = {
            "parked_reason": outcome.reason[:1000] or "unknown",
            "parked_fix": (outcome.fix or "")[:1000] or "-",
            "source_message_id": record.message_id,
        }
        for name, value in (record.raw.get("messageAttributes") or {}).items():
            if name not in attrs and "stringValue" in value:
                attrs[name] = value["stringValue"]
        self.sqs.send_message(
            QueueUrl=self.dlq_url,
            MessageBody=record.body,
            MessageGroupId=record.group_id,
            MessageDeduplicationId=f"park-{record.message_id}"[:128],
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()},
        )
        log.warning("parked", extra={"outcome": "parked", "reason": outcome.reason, "fix": outcome.fix})
