"""Reading on-hand per item and warehouse from Intacct, from the configured source.

The reference marks every candidate unsure (intacct-xml-api.md §6): `get_icitemtotals` is the
default; `query` reads any object page by page with configurable field names (the sandbox and,
per the docs, ITEMWAREHOUSEINFO). Check a real company with
`IntacctClient.lookup("ITEMWAREHOUSEINFO")` before switching (docs/settings.md, `stock.source`).

Either way the rows are yielded as they come, never gathered in a list: `get_icitemtotals` has no
paging, so its one answer is read and parsed as a stream (`IntacctClient.iter_item_totals`);
`query` is read a page (`stock.source.page_size` records) at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Protocol

from intacct_sync.intacct import ItemTotal, Record
from intacct_sync.retry import Deadline
from intacct_sync.settings import StockSource
from intacct_sync.stock.model import OnHand


class OnHandReader(Protocol):
    """The part of `IntacctClient` the stock push uses. A reader that also has
    `iter_item_totals` (the client does) is read as a stream; `item_totals` is the fallback."""

    def item_totals(
        self, *, deadline: Deadline, item_id: str | None = None, warehouse_id: str | None = None
    ) -> Iterable[ItemTotal]: ...

    def iter_query(
        self, obj: str, fields: Sequence[str], *, deadline: Deadline, page_size: int = 1000
    ) -> Iterator[Record]: ...


def _number(text: str | None) -> Decimal:
    try:
        return Decimal(text or 0)
    except InvalidOperation:
        return Decimal(0)


def read_on_hand(reader: OnHandReader, source: StockSource, *, deadline: Deadline) -> Iterator[OnHand]:
    """Every (item, warehouse) on-hand row of the company, one at a time."""
    if source.kind == "get_icitemtotals":
        streamed = getattr(reader, "iter_item_totals", None)
        totals: Iterable[ItemTotal] = (
            streamed(deadline=deadline) if callable(streamed) else reader.item_totals(deadline=deadline)
        )
        for total in totals:
            yield OnHand(total.item_id, total.warehouse_id, total.on_hand, total.on_hold)
        return
    fields = [source.item_field, source.warehouse_field, source.on_hand_field]
    if source.on_hold_field:
        fields.append(source.on_hold_field)
    for record in reader.iter_query(source.object, fields, deadline=deadline, page_size=source.page_size):
        item, warehouse = record.get(source.item_field), record.get(source.warehouse_field)
        if not item or not warehouse:
            continue
        yield OnHand(
            item,
            warehouse,
            _number(record.get(source.on_hand_field)),
            _number(record.get(source.on_hold_field)) if source.on_hold_field else Decimal(0),
        )
