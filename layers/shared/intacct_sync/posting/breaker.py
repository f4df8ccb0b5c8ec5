"""Intacct outages and throttling of any length: a circuit breaker shared by the whole stack, and
consumers that push their records back without spending the queues' receive budget (issue 13).

The breaker is one item of the state table (`breaker#intacct`): consecutive failed Intacct
requests (`failures`), the time it stays open (`open_until`), since when (`since`), and a
half-open probe slot (`probe_until`). A failure is a request that ended in IntacctTransientError
(HTTP 5xx, 429 / GW-0010, connection refused, "Temporarily Off-line", a session refused with a
transient error) or IntacctOutcomeUnknown (a time-out or a lost answer), after the client's own
retries. `OPEN_AFTER` consecutive failures, with no answer in between, open it for
`BASE_OPEN_S` x 2^(n - OPEN_AFTER), at most `MAX_OPEN_S`; any answer from Intacct closes it.

Consumers (`ConsumerGuard`, used by `posting.consumer.process_batch`):
- read the breaker once per batch (one GetItem). Open: no record is decoded or posted, and every
  record is pushed back (ChangeMessageVisibility) until the breaker's next probe, plus jitter.
  Half-open (the open time passed): one consumer wins the probe slot (a conditional UpdateItem)
  and posts its batch; the others push back for `PROBE_S`. The probe's answer closes the breaker
  or opens it again for twice as long.
- watch every request the poster's Intacct client sends; a wave that opens the breaker ends the
  batch: the records left are pushed back with it.
- log `intacct circuit open` (WARNING) each time a batch is pushed back or the breaker opens:
  the `IntacctOutage` metric filter and alarm (template.yaml) read those lines, so the alarm is
  on while work waits for Intacct; `intacct answers again` when it closes.

The receive budget (the arithmetic). The queues redrive a message to its DLQ on the receive after
its 8th (`RECEIVE_BUDGET`, template `maxReceiveCount`), and that copy carries no reason. SQS
counts every receive, including those whose records are pushed back at once. A push-back lasts
at most `MAX_OPEN_S` + 10 % (990 s), so an outage of H hours costs a waiting record about
H x 3600 / 900 receives: 8 receives cover only about 2 hours, 12-hour visibilities (the SQS
maximum) 4 days at most, and would delay the recovery by up to 12 hours. Neither survives
"any length". So a record that has used `RECYCLE_AT` (6) receives and must wait again is
*recycled*: sent again to its own queue as a new message (same body, group and attributes, a
`recycled` count; deduplication id `recycle-<message id>`) and reported done, so it never reaches
a 7th or 8th failed receive. Its group's later records of the batch are recycled with it, in
order, so the group keeps its order; records of the group still in the queue may now come first,
which the posters already allow (stale states are dropped by version; payments wait in the
ledger). A new message also restarts the 14-day retention. Cost of a day-long outage per waiting
record: about 96 receives, 96 visibility changes (10 per call) and 16 sends.

What still reaches a DLQ without a reason: a message whose every receive crashed the function
(out of memory, killed before `process_batch` answers) 8 times in a row; and a record that must
be recycled while SQS itself refuses the send twice. Transient errors inside `process_batch`
never do: it answers before the Lambda timeout (`reserve_s`), and from the 6th receive on every
retry is recycled.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from intacct_sync.dynamo import ConditionFailed, DynamoTable
from intacct_sync.errors import TransientError
from intacct_sync.intacct.errors import IntacctOutcomeUnknown, IntacctTransientError

if TYPE_CHECKING:
    from intacct_sync.environment import Environment
    from intacct_sync.posting.consumer import Record

log = logging.getLogger(__name__)

BREAKER_KEY: Final = "breaker#intacct"
OPEN_AFTER: Final = 3
"""Consecutive failed Intacct requests (after the client's own retries) that open the breaker."""
BASE_OPEN_S: Final = 30.0
MAX_OPEN_S: Final = 900.0
PROBE_S: Final = 60.0
"""How long the half-open probe's slot is held (others push back this long meanwhile)."""
RECEIVE_BUDGET: Final = 8
"""template.yaml `maxReceiveCount` of the orders and payments queues."""
RECYCLE_AT: Final = RECEIVE_BUDGET - 2
"""From this receive on, a record that must wait again is sent again as a new message."""
MAX_VISIBILITY_S: Final = 43_200
_SQS_BATCH: Final = 10


def open_seconds(failures: int) -> float:
    """How long the breaker stays open after `failures` consecutive failures (0: closed)."""
    if failures < OPEN_AFTER:
        return 0.0
    return min(MAX_OPEN_S, BASE_OPEN_S * float(2 ** min(failures - OPEN_AFTER, 20)))


@dataclass(frozen=True)
class BreakerState:
    failures: int = 0
    open_until: float = 0.0
    since: float | None = None
    probe_until: float = 0.0
    reason: str = ""

    def is_open(self, now: float) -> bool:
        return now < self.open_until

    def half_open(self, now: float) -> bool:
        return self.failures >= OPEN_AFTER and not self.is_open(now)


class IntacctBreaker(DynamoTable):
    """The breaker item in the state table (conditional writes: concurrent consumers agree)."""

    what = "Intacct circuit breaker"

    def __init__(self, table: str, *, client: Any = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(table, client=client)
        self.clock = clock

    def read(self) -> BreakerState:
        item = self._call("get_item", TableName=self.table, Key=_key(), ConsistentRead=True).get("Item") or {}
        return BreakerState(
            failures=int(item.get("failures", {}).get("N", "0")),
            open_until=float(item.get("open_until", {}).get("N", "0")),
            since=float(item["since"]["N"]) if "since" in item else None,
            probe_until=float(item.get("probe_until", {}).get("N", "0")),
            reason=item.get("reason", {}).get("S", ""),
        )

    def failed(self, reason: str) -> BreakerState:
        """Count one failed request; opens (or re-opens, longer) the breaker at `OPEN_AFTER`."""
        now = self.clock()
        out = self._call(
            "update_item",
            TableName=self.table,
            Key=_key(),
            UpdateExpression="SET failures = if_not_exists(failures, :z) + :one, since = if_not_exists(since, :now), "
            "reason = :r",
            ExpressionAttributeValues={
                ":z": {"N": "0"},
                ":one": {"N": "1"},
                ":now": {"N": repr(now)},
                ":r": {"S": reason[:500]},
            },
            ReturnValues="ALL_NEW",
        )
        failures = int(out["Attributes"]["failures"]["N"])
        until = now + open_seconds(failures)
        if until > now:
            with contextlib.suppress(ConditionFailed):  # another consumer opened it as long or longer
                self._call(
                    "update_item",
                    TableName=self.table,
                    Key=_key(),
                    UpdateExpression="SET open_until = :u",
                    ConditionExpression="attribute_not_exists(open_until) OR open_until < :u",
                    ExpressionAttributeValues={":u": {"N": repr(until)}},
                )
        return self.read()

    def closed(self) -> None:
        """Intacct answered: forget the failures (the breaker closes for everyone)."""
        self._call(
            "update_item",
            TableName=self.table,
            Key=_key(),
            UpdateExpression="REMOVE failures, open_until, since, probe_until, reason",
        )

    def claim_probe(self, state: BreakerState) -> bool:
        """Take the half-open probe slot for `PROBE_S`; False when another consumer holds it."""
        now = self.clock()
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=_key(),
                UpdateExpression="SET probe_until = :p",
                ConditionExpression="(attribute_not_exists(probe_until) OR probe_until <= :now) AND failures = :f",
                ExpressionAttributeValues={
                    ":p": {"N": repr(now + PROBE_S)},
                    ":now": {"N": repr(now)},
                    ":f": {"N": str(state.failures)},
                },
            )
        except ConditionFailed:
            return False
        return True


def _key() -> dict[str, Any]:
    return {"pk": {"S": BREAKER_KEY}}


class _Watch:
    """Installed once on a poster's Intacct client: reports each request's fate to the current guard."""

    def __init__(self, execute: Callable[..., Any]) -> None:
        self.execute = execute
        self.guard: ConsumerGuard | None = None

    def __call__(self, functions: Any, *, deadline: Any, transaction: bool = False) -> Any:
        guard = self.guard
        try:
            out = self.execute(functions, deadline=deadline, transaction=transaction)
        except (IntacctTransientError, IntacctOutcomeUnknown) as exc:
            # Our own deadline running out is not Intacct's outage.
            if guard is not None and deadline.remaining() > 1.0:
                guard.request_failed(exc.message)
            raise
        if guard is not None:
            guard.request_answered()
        return out


def watch(client: Any, guard: ConsumerGuard) -> None:
    """Make `client.execute` (an IntacctClient's, or any object's with that signature) report to `guard`."""
    current = getattr(client, "execute", None)
    if isinstance(current, _Watch):
        current.guard = guard
        return
    if current is None:
        return
    wrapped = _Watch(current)
    wrapped.guard = guard
    setattr(client, "execute", wrapped)  # noqa: B010 - an instance attribute over the method, on purpose


class ConsumerGuard:
    """One batch's view of the breaker, and the push-back / recycle of its records (SQS)."""

    def __init__(
        self,
        breaker: IntacctBreaker,
        queue_url: str,
        *,
        sqs: Any = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.breaker = breaker
        self.queue_url = queue_url
        self._sqs = sqs
        self.rng = rng
        self.state = BreakerState()
        self.pause_s: float | None = None
        """Set when the breaker is (or became) open: the batch stops and its records wait this long."""
        self._failed = False
        self._answered = False

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3  # noqa: PLC0415

            self._sqs = boto3.client("sqs")
        return self._sqs

    # --- the breaker -------------------------------------------------------------------------

    def begin(self) -> float | None:
        """Before the batch: the push-back in seconds when it must not call Intacct (else None)."""
        try:
            self.state = self.breaker.read()
        except TransientError as exc:  # the state table is unreadable: do not block the work on it
            log.warning("circuit breaker not readable; posting anyway", extra={"reason": exc.message})
            return None
        now = self.breaker.clock()
        if self.state.is_open(now):
            self.pause_s = self.state.open_until - now
        elif self.state.half_open(now) and not self._try_probe():
            self.pause_s = max(self.state.probe_until - now, 1.0) if self.state.probe_until > now else PROBE_S
        if self.pause_s is not None:
            self._log_open("deferred")
        return self.pause_s

    def _try_probe(self) -> bool:
        try:
            won = self.breaker.claim_probe(self.state)
        except TransientError:
            return True
        if won:
            log.info("intacct circuit half-open: probing", extra={"failures": self.state.failures})
        return won

    def request_failed(self, reason: str) -> None:
        self._failed = True
        try:
            self.state = self.breaker.failed(reason)
        except TransientError as exc:
            log.warning("circuit breaker not writable", extra={"reason": exc.message})
            return
        now = self.breaker.clock()
        if self.state.is_open(now):
            first = self.pause_s is None
            self.pause_s = self.state.open_until - now
            if first:
                self._log_open("opened")

    def request_answered(self) -> None:
        self._answered = True
        if self.state.failures or self._failed:
            try:
                self.breaker.closed()
            except TransientError:
                return
            since = self.state.since
            log.warning(
                "intacct answers again",
                extra={
                    "outcome": "resumed",
                    "outage_s": round(self.breaker.clock() - since) if since is not None else None,
                },
            )
            self.state, self._failed = BreakerState(), False

    def _log_open(self, what: str) -> None:
        now = self.breaker.clock()
        log.warning(
            "intacct circuit open",
            extra={
                "outcome": what,
                "failures": self.state.failures,
                "open_s": round(max(self.state.open_until - now, 0)),
                "outage_s": round(now - self.state.since) if self.state.since is not None else None,
                "reason": self.state.reason,
            },
        )

    # --- the records ---------------------------------------------------------------------------

    def settle(self, failed: Sequence[Record]) -> list[Record]:
        """The batch's records that must be tried again: recycled (from `RECYCLE_AT` receives
        on, with their group's later ones) or pushed back while the breaker is open. Returns the
        records still to report as failures (recycled ones are done)."""
        recycle_groups = {r.group_id for r in failed if r.receive_count >= RECYCLE_AT}
        recycle = [r for r in failed if r.group_id in recycle_groups]
        keep = [r for r in failed if r.group_id not in recycle_groups]
        sent = self._recycle(recycle) if recycle else set()
        still = keep + [r for r in recycle if r.message_id not in sent]
        if self.pause_s is not None and still:
            self._push_back(still, self.pause_s)
        return still

    def _push_back(self, records: Sequence[Record], seconds: float) -> None:
        for start in range(0, len(records), _SQS_BATCH):
            chunk = records[start : start + _SQS_BATCH]
            entries = []
            for i, r in enumerate(chunk):
                receipt = r.raw.get("receiptHandle")
                if not receipt:
                    continue
                delay = int(min(MAX_VISIBILITY_S, max(1.0, seconds) * (1 + 0.1 * self.rng())))
                entries.append({"Id": str(i), "ReceiptHandle": receipt, "VisibilityTimeout": delay})
            if not entries:
                continue
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # the queue's own visibility timeout applies instead
                log.warning("records not pushed back", extra={"reason": f"{type(exc).__name__}"})

    def _recycle(self, records: Sequence[Record]) -> set[str]:
        """Send `records` again as new messages, in order; the message ids that went."""
        sent: set[str] = set()
        for start in range(0, len(records), _SQS_BATCH):
            chunk = records[start : start + _SQS_BATCH]
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": r.body,
                    "MessageGroupId": r.group_id,
                    "MessageDeduplicationId": f"recycle-{r.message_id}"[:128],
                    "MessageAttributes": _attributes(r),
                }
                for i, r in enumerate(chunk)
            ]
            try:
                result = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                log.warning("records not recycled; retried", extra={"reason": type(exc).__name__})
                break
            ok = {int(e["Id"]) for e in result.get("Successful", [])}
            sent.update(chunk[i].message_id for i in ok)
            if len(ok) < len(chunk):
                break  # keep the group's order: what follows a refused one is not sent
        for r in records:
            if r.message_id in sent:
                log.info(
                    "recycled",
                    extra={
                        "outcome": "recycled",
                        "message_id": r.message_id,
                        "receive_count": r.receive_count,
                        "recycled": int(_attributes(r)["recycled"]["StringValue"]),
                    },
                )
        return sent


def _attributes(record: Record) -> dict[str, dict[str, str]]:
    attrs: Mapping[str, Any] = record.raw.get("messageAttributes") or {}
    out = {
        name: {"DataType": "String", "StringValue": str(value["stringValue"])}
        for name, value in attrs.items()
        if value.get("stringValue") is not None and name != "recycled"
    }
    before = attrs.get("recycled", {}).get("stringValue") or "0"
    out["recycled"] = {"DataType": "String", "StringValue": str(int(before) + 1 if before.isdigit() else 1)}
    return out


def guard_for(env: Environment, poster: object, kind: str) -> ConsumerGuard | None:
    """The guard a consumer handler runs its batch with: the stack's breaker (state table), its
    own queue (push-back and recycling), watching the poster's Intacct client."""
    queue_url = env.orders_queue_url if kind == "orders" else env.payments_queue_url
    if not env.state_table or not queue_url:
        return None
    guard = ConsumerGuard(IntacctBreaker(env.state_table), queue_url)
    client = getattr(poster, "client", None)
    if client is not None:
        watch(client, guard)
    report_waits(env.state_table)
    return guard


_WAITS_REPORTED = [0.0]
WAITS_EVERY_S: Final = 300.0


def report_waits(table: str, *, ledger: Any = None, clock: Callable[[], float] = time.time) -> None:
    """At most every `WAITS_EVERY_S` per container: log the oldest payment waiting for its
    invoice (one Query of one index key: `posting.waiting.report_oldest`), for the wait-age alarm."""
    now = clock()
    if now - _WAITS_REPORTED[0] < WAITS_EVERY_S:
        return
    _WAITS_REPORTED[0] = now
    from intacct_sync.ledger import DynamoLedger  # noqa: PLC0415
    from intacct_sync.posting.waiting import report_oldest  # noqa: PLC0415

    try:
        report_oldest((ledger or DynamoLedger(table)).waiting_entries(limit=1))
    except TransientError as exc:
        log.warning("waiting payments not readable", extra={"reason": exc.message})
