"""What became of one queued event: done, retry later (transient), or park (permanent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Outcome:
    status: Literal["done", "retry", "park"]
    reason: str = ""
    fix: str | None = None

    @classmethod
    def done(cls, reason: str = "") -> Outcome:
        return cls("done", reason)

    @classmethod
    def retry(cls, reason: str, fix: str | None = None) -> Outcome:
        return cls("retry", reason, fix)

    @classmethod
    def park(cls, reason: str, fix: str | None = None) -> Outcome:
        return cls("park", reason, fix)
