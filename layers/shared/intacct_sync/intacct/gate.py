"""A stack-wide cap on concurrent Intacct requests (default 2, Intacct's usual per-company limit).

Every function that calls Intacct passes `DynamoSemaphore(...).hold` as the client's `gate`: each
HTTP request first leases one of N slot items in the state table (conditional put), and frees it
after. A lease expires on its own after `lease_s`, so a crashed function cannot hold a slot
forever. The conditional put is the whole guarantee: never more than N holders, whatever the
waiting below does.

Waiting is informed, not blind polling:

- a caller first tries the slot its gate freed last (free unless someone took it since), so
  callers no more numerous than the slots each keep their own slot and never collide;
- a put that finds the slot busy reads the holder's item back (`ReturnValuesOnConditionCheckFailure`):
  when it was taken and when its lease ends. The caller sleeps until that holder is expected to be
  done (when it was taken + how long this gate's own requests hold a slot, a running average), at
  most until its lease ends, with jitter so waiters do not wake together, then tries only that
  slot (and any other whose expected end has passed);
- a holder still there at its expected end gets exponentially longer waits (bounded), and a
  caller gives up (`NoIntacctSlot`, retried later) only when its deadline would pass.

`stats` counts conditional puts (`attempts`), slots taken and sleeps, for the bench and metrics.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from intacct_sync.dynamo import ConditionFailed, DynamoTable
from intacct_sync.errors import TransientError

MIN_WAIT_S = 0.05
"""Shortest sleep between tries (a few DynamoDB round trips)."""
MAX_WAIT_S = 2.0
"""Longest sleep between tries of a slot whose holder overran its expected end."""
JITTER = 0.25
"""Sleeps are stretched by a random 0-25 %, so waiters expecting the same release spread out."""


class NoIntacctSlot(TransientError):
    """Every slot stayed busy until the deadline: retry the work later."""


@dataclass
class GateStats:
    acquired: int = 0
    """Slots taken (one per Intacct HTTP request)."""
    attempts: int = 0
    """Conditional puts: one per slot taken, plus one per busy slot tried."""
    waits: int = 0
    """Sleeps because every slot tried was busy."""
    waited_s: float = 0.0


@dataclass
class _Busy:
    """What a failed put read back about a slot's holder."""

    holder: str
    taken_at: float
    lease_until: float
    misses: int = 0
    """Tries that found this same holder still there after its expected end."""
    next_try: float = 0.0


class DynamoSemaphore(DynamoTable):
    what = "Intacct slot table"

    def __init__(
        self,
        table: str,
        *,
        slots: int = 2,
        name: str = "intacct",
        lease_s: float = 90.0,
        wait_s: Callable[[], float] | None = None,
        client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        typical_hold_s: float = 0.5,
    ) -> None:
        """`wait_s()` gives how long a caller may wait for a slot (e.g. the deadline's remaining).

        `clock` is wall-clock time (leases are compared across functions); `typical_hold_s` seeds
        the running estimate of how long a request holds a slot until this gate has measured one.
        """
        if slots < 1:
            raise ValueError("the Intacct concurrency cap is at least 1")
        super().__init__(table, client=client)
        self.slots, self.name, self.lease_s = slots, name, lease_s
        self.wait_s = wait_s or (lambda: 30.0)
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - spreading load, not security
        self.holder = f"{uuid.uuid4().hex}"
        self.stats = GateStats()
        self._lock = threading.Lock()
        self._counter = 0
        self._hold_s = typical_hold_s
        self._last_freed: int | None = None

    # --- one slot ---------------------------------------------------------------------------

    def _try(self, slot: int, token: str) -> _Busy | None:
        """Take `slot` (None), or what its current holder's item says."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - botocore on first use

        now = self.clock()
        with self._lock:
            self.stats.attempts += 1
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": self._pk(slot)},
                    "holder": {"S": token},
                    "taken_at": {"N": f"{now:.3f}"},
                    "lease_until": {"N": f"{now + self.lease_s:.3f}"},
                    "expires": {"N": str(int(now + self.lease_s + 3600))},
                },
                ConditionExpression="attribute_not_exists(holder) OR lease_until < :now",
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code != "ConditionalCheckFailedException":
                raise self.unavailable(f"{self.what} put_item failed ({code})") from None
            return self._busy(exc.response.get("Item") or {}, now)
        except BotoCoreError as exc:
            raise self.unavailable(f"{self.what} unreachable ({type(exc).__name__})") from None
        return None

    def _busy(self, item: dict[str, Any], now: float) -> _Busy:
        def number(key: str) -> float | None:
            raw = item.get(key, {}).get("N")
            return float(raw) if raw is not None else None

        lease_until = number("lease_until") or now + self.lease_s
        taken_at = number("taken_at")  # absent on items an older version wrote
        return _Busy(
            holder=str(item.get("holder", {}).get("S", "")),
            taken_at=taken_at if taken_at is not None else lease_until - self.lease_s,
            lease_until=lease_until,
        )

    def _release(self, slot: int, token: str) -> None:
        with contextlib.suppress(ConditionFailed):  # lease expired and was taken over: nothing to free
            self._call(
                "delete_item",
                TableName=self.table,
                Key={"pk": {"S": self._pk(slot)}},
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": token}},
            )

    def _pk(self, slot: int) -> str:
        return f"sem#{self.name}#{slot}"

    # --- waiting ----------------------------------------------------------------------------

    def _first_choices(self) -> list[int]:
        """The slot this gate freed last first (it is free unless taken since), then the others."""
        with self._lock:
            hint = self._last_freed
        start = hint if hint is not None else self.rng.randrange(self.slots)
        return [(start + i) % self.slots for i in range(self.slots)]

    def _schedule(self, seen: _Busy, before: _Busy | None, now: float) -> _Busy:
        """When to try a busy slot again: when its holder should be done, at the latest when its
        lease ends; a holder found again after that time waits twice as long each time."""
        with self._lock:
            hold_s = self._hold_s
        if before is not None and before.holder == seen.holder and now >= before.next_try:
            seen.misses = before.misses + 1
            at = now + min(MAX_WAIT_S, max(MIN_WAIT_S, hold_s / 2) * 2 ** (seen.misses - 1))
        else:
            at = max(seen.taken_at + hold_s, now + MIN_WAIT_S)
        seen.next_try = min(at, max(seen.lease_until, now + MIN_WAIT_S))
        return seen

    def _freed(self, slot: int, held_s: float) -> None:
        with self._lock:
            self._last_freed = slot
            self._hold_s = 0.7 * self._hold_s + 0.3 * max(0.0, held_s)

    @contextlib.contextmanager
    def hold(self) -> Iterator[int]:
        """Lease a slot for the duration of the block; raises NoIntacctSlot when none frees up."""
        with self._lock:
            self._counter += 1
            token = f"{self.holder}-{self._counter}"
        give_up = self.clock() + max(0.0, self.wait_s())
        busy: dict[int, _Busy] = {}
        order = self._first_choices()
        last_try = False
        while True:
            for slot in order:
                seen = self._try(slot, token)
                if seen is None:
                    taken = self.clock()
                    with self._lock:
                        self.stats.acquired += 1
                    try:
                        yield slot
                    finally:
                        self._release(slot, token)
                        self._freed(slot, self.clock() - taken)
                    return
                busy[slot] = self._schedule(seen, busy.get(slot), self.clock())
            # Every slot tried is busy: sleep until the first expected to free, then try the slots due.
            now = self.clock()
            first = min(busy.values(), key=lambda b: b.next_try).next_try
            delay = max(0.0, first - now) * (1 + self.rng.uniform(0, JITTER))
            if now + delay > give_up:  # a holder may still finish early: one last try at the deadline
                if last_try or now >= give_up:
                    raise NoIntacctSlot(
                        f"all {self.slots} Intacct request slots stayed busy",
                        fix="The Intacct concurrency cap (INTACCT_MAX_CONCURRENCY) was reached; it is retried.",
                    )
                delay, last_try = give_up - now, True
            if delay > 0:
                with self._lock:
                    self.stats.waits += 1
                    self.stats.waited_s += delay
                self.sleep(delay)
            now = self.clock()
            order = sorted((s for s, b in busy.items() if b.next_try <= now), key=lambda s: busy[s].next_try)
            if not order:  # woke early (a real sleep is never short, a fake one may be)
                order = [min(busy, key=lambda s: busy[s].next_try)]
