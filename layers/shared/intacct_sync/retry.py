"""Deadlines and backoff shared by every outbound client (Intacct, channel APIs).

A Lambda has a hard time limit; retries must fit inside what is left of it, with a margin
for the work that follows (ledger write, batch response).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class _LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """A point in monotonic time after which no new attempt may start."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    @classmethod
    def from_context(cls, context: _LambdaContext, *, reserve_s: float = 2.0) -> Deadline:
        """The Lambda's remaining time less `reserve_s` kept for the caller's own bookkeeping."""
        return cls.after(max(0.0, context.get_remaining_time_in_millis() / 1000 - reserve_s))

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog's recommended variant)."""

    base_s: float = 0.25
    cap_s: float = 8.0
    max_attempts: int = 6

    def delay(self, attempt: int, *, rng: Callable[[], float] = random.random) -> float:
        """Delay before retry number `attempt` (1 = first retry)."""
        return rng() * min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
