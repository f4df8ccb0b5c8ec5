"""Holds: requests kept waiting until a given number of them have arrived (both sandboxes).

A test that needs requests in flight together arms a hold instead of hoping that threads and
latency overlap. Each sandbox says which requests a hold matches (`Hold.matches` of its own
subclass) and where in a request's handling it waits; counting arrivals, waiting and timing out
are the same for both and live here. `timeout_s` (from the first arrival) only guards against a
test that never sends enough: the held requests then go on and `timed_out` is set.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


class Hold:
    """Requests held until `arrivals` of them have arrived; `cond` is the sandbox's condition."""

    def __init__(self, arrivals: int, timeout_s: float, cond: threading.Condition) -> None:
        if arrivals < 1:
            raise ValueError("arrivals must be >= 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.arrivals = arrivals
        self.timeout_s = timeout_s
        self.arrived = 0
        self.done = False
        """Over: reached, released by hand, or timed out."""
        self.timed_out = False
        self._first_at: float | None = None
        self._cond = cond

    @property
    def reached(self) -> bool:
        return self.arrived >= self.arrivals

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the hold is over; True if it was over because `arrivals` were reached."""
        with self._cond:
            self._cond.wait_for(lambda: self.done, timeout=self.timeout_s + 5 if timeout_s is None else timeout_s)
            return self.reached

    def state(self) -> dict[str, Any]:
        """What `to_dict` adds after the sandbox's own matching fields."""
        return {"arrived": self.arrived, "reached": self.reached, "done": self.done, "timed_out": self.timed_out}


def arrive[H: Hold](holds: Sequence[H], matches: Callable[[H], bool]) -> list[H]:
    """Count one request toward every pending hold it matches; the holds it must now wait on.
    The caller holds the holds' condition (and notifies it)."""
    waits: list[H] = []
    for h in holds:
        if h.done or not matches(h):
            continue
        h.arrived += 1
        if h._first_at is None:
            h._first_at = time.monotonic()
        if h.reached:
            h.done = True
        else:
            waits.append(h)
    return waits


def wait_out(cond: threading.Condition, holds: Sequence[Hold], who: str) -> None:
    """Wait until each hold is over, or times out (said on stderr as `[who] …`). The caller holds
    `cond`."""
    for h in holds:
        end = (h._first_at or time.monotonic()) + h.timeout_s
        while not h.done:
            left = end - time.monotonic()
            if left <= 0:
                h.done = h.timed_out = True
                print(
                    f"[{who}] hold of {h.arrivals} timed out after {h.timeout_s} s with {h.arrived} arrival(s)",
                    file=sys.stderr,
                )
                cond.notify_all()
                break
            cond.wait(left)


class HoldsMixin:
    """A sandbox's list of armed holds: `_holds`, guarded by `_cond` (over `_lock`)."""

    _lock: threading.Lock
    _cond: threading.Condition
    _holds: list[Any]

    @property
    def holds(self) -> list[Any]:
        """Every hold armed since the last reset (pending ones have `done` False)."""
        with self._lock:
            return list(self._holds)

    def release_holds(self) -> None:
        """End every pending hold now: the requests it holds go on."""
        with self._cond:
            for h in self._holds:
                h.done = True
            self._cond.notify_all()
