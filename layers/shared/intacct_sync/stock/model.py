"""The pure part of the stock push: Intacct on-hand rows -> figures per (SKU, channel location),
and the difference from what was last pushed. Values in, values out; no I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Key = tuple[str, str]
"""(channel SKU, channel location key)."""
_MAX_DIGITS = 15
"""On-hand quantities are below 10**15; a larger one is a broken answer (and would be a huge int)."""


@dataclass(frozen=True, slots=True)
class OnHand:
    """One Intacct item in one warehouse."""

    item_id: str
    warehouse_id: str
    on_hand: Decimal
    on_hold: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class StockChange:
    sku: str
    location: str
    quantity: int
    previous: int | None
    """What was last pushed; None: never pushed (or forgotten)."""


def _figure(quantity: Decimal) -> bool:
    return quantity.is_finite() and quantity.adjusted() < _MAX_DIGITS


def publishable(
    rows: Iterable[OnHand],
    *,
    locations: Mapping[str, str] | None,
    default_location: str,
    buffer: int = 0,
    subtract_on_hold: bool = True,
    sku_for: Callable[[str], str] = str,
    wants: Callable[[str], bool] = lambda _: True,
) -> dict[Key, int]:
    """The whole units to publish per (SKU, location).

    `locations` maps Intacct warehouse -> channel location; warehouses not in it are ignored;
    None sends every warehouse to `default_location`. Several warehouses feeding one location
    are summed, the on-hold quantity is taken off (when asked), then the safety `buffer`; the
    result is rounded down (a fraction of a unit cannot be sold) and never below 0. A row whose
    quantity is not a finite number of at most 15 digits before the point is skipped.

    `rows` is consumed as it comes (a stream is never held whole); the totals become the figures
    in place, so one dict of the catalogue's size exists at a time.
    """
    totals: dict[Key, Any] = {}
    for row in rows:
        if not wants(row.item_id):
            continue
        location = default_location if locations is None else locations.get(row.warehouse_id)
        if location is None:
            continue
        if not (_figure(row.on_hand) and (not subtract_on_hold or _figure(row.on_hold))):
            continue  # NaN, Infinity or 1E+999999999 from a broken answer is no figure
        amount = row.on_hand - row.on_hold if subtract_on_hold else row.on_hand
        whole = int(amount)
        value = whole if whole == amount else amount  # an int is a third of a Decimal's size
        key = (sku_for(row.item_id), location)
        before = totals.get(key)
        totals[key] = value if before is None else before + value
    for key, total in totals.items():
        totals[key] = max(0, math.floor(total) - buffer)
    return totals


def diff(wanted: Mapping[Key, int], last: Mapping[Key, int]) -> list[StockChange]:
    """Only what differs from the last pushed figure, in a stable order (SKU, location): a run
    cut short resumes where it stopped, because what it wrote is no longer a change.

    Only the changed keys are collected and sorted: a run with few changes costs a lookup per
    figure and nothing the size of the catalogue."""
    changed: list[tuple[Key, int, int | None]] = []
    for key, quantity in wanted.items():
        before = last.get(key)  # one lookup per figure: at 200,000 SKUs each is a cache miss
        if before != quantity:
            changed.append((key, quantity, before))
    changed.sort()  # by key: the keys are unique, so the other items are never compared
    return [StockChange(sku, location, quantity, before) for (sku, location), quantity, before in changed]


@dataclass
class PushReport:
    """What one push of one connection did (or, with dry_run, would do)."""

    connection_id: str
    dry_run: bool = False
    rows_read: int = 0
    """Intacct on-hand rows read."""
    figures: int = 0
    """(SKU, location) figures computed."""
    changes: list[StockChange] = field(default_factory=list)
    """Every change found (dry run: what would be written)."""
    written: int = 0
    batches: int = 0
    channel_calls: int = 0
    """HTTP requests made to the channel (catalogue crawl + writes), including retries."""
    rejected: dict[str, str] = field(default_factory=dict)
    """"sku@location" -> why the channel refused it."""
    unknown_in_channel: list[str] = field(default_factory=list)
    """Intacct items to publish with no SKU in the channel."""
    unknown_in_intacct: list[str] = field(default_factory=list)
    """Channel SKUs with no Intacct figure (only when every item is published)."""
    complete: bool = True
    """False: the run stopped for lack of time (or a channel error); the next run continues."""
    crawl_pending: bool = False
    """The SKU -> channel id crawl is not finished (checkpointed, resumes next run)."""
    error: str | None = None

    def summary(self) -> dict[str, object]:
        return {
            "connection": self.connection_id,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "figures": self.figures,
            "changes": len(self.changes),
            "written": self.written,
            "batches": self.batches,
            "channel_calls": self.channel_calls,
            "rejected": len(self.rejected),
            "unknown_in_channel": len(self.unknown_in_channel),
            "unknown_in_intacct": len(self.unknown_in_intacct),
            "complete": self.complete,
            "crawl_pending": self.crawl_pending,
            "error": self.error,
        }
