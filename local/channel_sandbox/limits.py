"""Rate limiters: Shopify leaky buckets (GraphQL points, REST calls) and BigCommerce's fixed window.

Both run on a `clock` (seconds): the sandbox passes its own, which tests can freeze and advance.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class LeakyBucket:
    """`available` units out of `size`, restored at `rate` per second (Shopify's model).

    For GraphQL the units are query-cost points; for REST one call takes one unit.
    """

    def __init__(self, size: float, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.rate = rate
        self._clock = clock
        self._available = size
        self._t = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(self.size, self._available + max(0.0, now - self._t) * self.rate)
        self._t = max(self._t, now)

    @property
    def available(self) -> float:
        with self._lock:
            self._refill()
            return self._available

    def take(self, amount: float) -> bool:
        """Take `amount` if available (all or nothing)."""
        with self._lock:
            self._refill()
            if self._available + 1e-9 < amount:
                return False
            self._available -= amount
            return True

    def give(self, amount: float) -> None:
        with self._lock:
            self._refill()
            self._available = min(self.size, self._available + amount)

    def seconds_until(self, amount: float) -> float:
        with self._lock:
            self._refill()
            missing = amount - self._available
            return max(0.0, missing / self.rate) if self.rate > 0 else float("inf")


class FixedWindow:
    """BigCommerce: `quota` requests per `window_ms`, the window starting at its first request."""

    def __init__(self, quota: int, window_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.quota = quota
        self.window_ms = window_ms
        self._clock = clock
        self._start: float | None = None
        self._used = 0
        self._lock = threading.Lock()

    def _roll(self, now: float) -> None:
        # 1 µs of slack: a client that waits exactly the advertised reset finds a new window.
        if self._start is None or (now - self._start) * 1000 >= self.window_ms - 1e-3:
            self._start = now
            self._used = 0

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._roll(now)
            if self._used >= self.quota:
                return False
            self._used += 1
            return True

    def state(self) -> tuple[int, int]:
        """-> (requests left, ms until the window resets, rounded up: waiting that long is enough)."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            assert self._start is not None
            reset = max(0, math.ceil(self.window_ms - (now - self._start) * 1000))
            return max(0, self.quota - self._used), reset
