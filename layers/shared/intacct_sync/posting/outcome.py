"""What became of one queued event: done, retry later (transient), or park (permanent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Outcome:
    status: Literal["done", "retry", "park"]
    reason: str = ""
    fix: str | None = None
    posted: bool = False
    """True when a document was written to Intacct for this event (the Posted metrics count these)."""

    @classmethod
    def done(cls, reason: str = "") -> Outcome:
        return cls("done", reason)

    @classmethod
    def wrote(cls, reason: str) -> Outcome:
        """Done, and a document was created, updated, deleted or applied in Intacct."""
        return cls("done", reason, posted=True)

    @classmethod
    def retry(cls, reason: str, fix: str | None = None) -> Outcome:
        return cls("retry", reason, fix)

    @classmethod
    def park(cls, reason: str, fix: str | None = None) -> Outcome:
        return cls("park", reason, fix)
