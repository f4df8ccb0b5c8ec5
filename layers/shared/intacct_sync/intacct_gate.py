"""Whether a scheduled job may start its Intacct part now (issue 13).

The stock push reads Intacct's on-hand figures and the writeback polls Intacct for paid invoices.
While the stack's Intacct circuit breaker is open (`posting.breaker`, the state table item
`breaker#intacct`, opened by the consumers after repeated failed requests), they leave Intacct
alone: the stock push skips the connection, the writeback still writes document numbers back (no
Intacct call) and skips its paid poll, each with a WARNING line saying so (`outcome: skipped`);
the next scheduled run tries again. Nothing is lost: the snapshot and the paid watermark stay
where they were. Half-open (the open time has passed) they go ahead: one scheduled request is a
probe no larger than a consumer's. A breaker that cannot be read does not block a job.

Within one run, an Intacct request that failed after the client's own retries stops the Intacct
part of the connections after it too (`RunGate`): a run does not hammer Intacct once per
connection while it is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final

from intacct_sync.errors import TransientError
from intacct_sync.intacct.errors import IntacctOutcomeUnknown, IntacctTransientError

log = logging.getLogger(__name__)

IntacctCheck = Callable[[], str | None]
"""Why Intacct must be left alone now (a reason to log), or None: go ahead."""

SKIP_FIX: Final = (
    "Nothing to do: the next scheduled run tries again; Intacct's state is the intacct-unavailable alarm "
    "(the consumers resume by themselves too)."
)


def breaker_check(table: str, *, client: Any = None, clock: Callable[[], float] | None = None) -> IntacctCheck:
    """An `IntacctCheck` reading the stack's circuit breaker (one GetItem per call)."""
    from intacct_sync.posting.breaker import IntacctBreaker  # noqa: PLC0415 - first run, not import

    breaker = IntacctBreaker(table, client=client)
    if clock is not None:
        breaker.clock = clock

    def check() -> str | None:
        try:
            state = breaker.read()
        except TransientError as exc:
            log.warning("circuit breaker not readable; going ahead", extra={"reason": exc.message})
            return None
        now = breaker.clock()
        if not state.is_open(now):
            return None
        why = state.reason or f"{state.failures} failed requests in a row"
        return (
            f"Intacct is unavailable ({why}); the stack's circuit breaker stays open "
            f"{round(state.open_until - now)} s more"
        )

    return check


def is_intacct_outage(exc: BaseException) -> bool:
    """An Intacct request that failed for a transient reason after the client's retries."""
    return isinstance(exc, IntacctTransientError | IntacctOutcomeUnknown)


class RunGate:
    """One scheduled run's view: the breaker (read until it says open) plus what this run saw."""

    def __init__(self, check: IntacctCheck | None = None) -> None:
        self._check = check
        self.down: str | None = None

    def closed_reason(self) -> str | None:
        """Why this connection's Intacct part must be skipped, or None."""
        if self.down is None and self._check is not None:
            self.down = self._check()
        return self.down

    def failed(self, exc: BaseException) -> None:
        """An Intacct request of this run failed (transient): the connections after it skip Intacct."""
        if self.down is None and is_intacct_outage(exc):
            self.down = f"Intacct did not answer earlier in this run ({getattr(exc, 'message', type(exc).__name__)})"
