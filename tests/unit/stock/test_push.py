"""The push with in-memory ports: periodic saves write only the shards written since the last one,
the on-hand rows are consumed as a stream, and an Intacct answer cut part-way writes nothing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest

from intacct_sync.channels.api.port import StockRejection, StockRow, StockWriteOptions
from intacct_sync.intacct import ItemTotal
from intacct_sync.intacct.errors import IntacctUnavailable
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, StockConnection, StockSettings
from intacct_sync.stock import InMemorySnapshotStore, push_connection
from intacct_sync.stock.push import SAVE_EVERY
from intacct_sync.stock.snapshot import SHARDS, load_state, shard_of

CONNECTION = Connection.model_validate(
    {
        "id": "bc-1",
        "channel": "bigcommerce",
        "store": "abc123",
        "access_token": "t" * 32,
        "webhook_auth_header": "X-Token",
        "webhook_auth_value": "v" * 32,
    }
)


class Channel:
    """BigCommerce-like: ids are the SKUs, one location, `batch` rows per write."""

    def __init__(self, skus: Sequence[str], batch: int = 10) -> None:
        self.skus = list(skus)
        self.batch = batch
        self.written: list[list[StockRow]] = []

    @property
    def stock_batch_size(self) -> int:
        return self.batch

    def stock_location_key(self, value: str) -> str:
        return value

    def stock_locations(self, *, deadline: Deadline) -> dict[str, str]:
        return {"1": "Main"}

    def crawl_stock_targets(self, cursor: str | None, *, deadline: Deadline) -> tuple[dict[str, list[str]], str | None]:
        page = int(cursor or 0)
        chunk = self.skus[page * 500 : (page + 1) * 500]
        more = (page + 1) * 500 < len(self.skus)
        return {sku: [sku] for sku in chunk}, str(page + 1) if more else None

    def stock_batches(self, rows: Sequence[StockRow]) -> list[list[StockRow]]:
        return [list(rows[i : i + self.batch]) for i in range(0, len(rows), self.batch)]

    def write_stock(
        self, batch: Sequence[StockRow], *, options: StockWriteOptions, deadline: Deadline
    ) -> list[StockRejection]:
        self.written.append(list(batch))
        return []


class Reader:
    """Intacct's on-hand rows as a stream; optionally cut off after `cut_after` rows."""

    def __init__(self, quantities: Mapping[str, int], cut_after: int | None = None) -> None:
        self.quantities = quantities
        self.cut_after = cut_after
        self.consumed = 0

    def iter_item_totals(
        self, *, deadline: Deadline, item_id: str | None = None, warehouse_id: str | None = None
    ) -> Iterator[ItemTotal]:
        for n, (sku, qty) in enumerate(self.quantities.items()):
            if n == self.cut_after:
                raise IntacctUnavailable("Intacct did not answer (ChunkedEncodingError)")
            self.consumed += 1
            yield ItemTotal(sku, "WH-EAST", Decimal(qty), Decimal(0), Decimal(0))

    def item_totals(self, **kwargs: Any) -> list[ItemTotal]:
        raise AssertionError("the push streams the rows")

    def iter_query(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, str]]:
        raise AssertionError("not the configured source")


class RecordingStore(InMemorySnapshotStore):
    def __init__(self) -> None:
        super().__init__()
        self.saves: list[list[str]] = []

    def put(self, items: Mapping[str, bytes]) -> None:
        super().put(items)
        self.saves.append(sorted(items))


def settings() -> Settings:
    conn = StockConnection(locations={"WH-EAST": "1"})
    skus: Any = "all"
    return DEFAULT_SETTINGS.model_copy(update={"stock": StockSettings(connections={"bc-1": conn}, skus=skus)})


def push(reader: Reader, channel: Channel, store: RecordingStore) -> Any:
    return push_connection(CONNECTION, reader, channel, store, settings(), deadline=Deadline.after(60))  # type: ignore[arg-type]


SKUS = [f"SKU-{i:05d}" for i in range(5000)]


def test_periodic_saves_write_only_the_shards_written_since_the_previous_save() -> None:
    store, channel = RecordingStore(), Channel(SKUS)
    report = push(Reader({sku: i % 40 for i, sku in enumerate(SKUS)}), channel, store)
    assert report.complete and report.written == 5000 and report.batches == 500
    pushed_per_save = [sum("#pushed#" in key for key in keys) for keys in store.saves]
    # Every 25 batches, then the end of the run: the shard still being written at a periodic
    # save is left for the next one (the last: batch 500's shard).
    assert len(store.saves) == 500 // SAVE_EVERY + 1
    assert pushed_per_save[-1] == 1
    # 250 figures per save, written shard by shard (78 SKUs a shard): 2 to 4 shards each, never
    # all 64; in all, each shard is encoded and written exactly once.
    assert max(pushed_per_save) <= 4
    assert sum(pushed_per_save) == SHARDS
    written = [row.sku for batch in channel.written for row in batch]
    assert [shard_of(sku) for sku in written] == sorted(shard_of(sku) for sku in written)
    assert sorted(written) == SKUS


def test_a_run_with_nothing_changed_writes_nothing_anywhere() -> None:
    store, channel = RecordingStore(), Channel(SKUS)
    quantities = {sku: i % 40 for i, sku in enumerate(SKUS)}
    push(Reader(quantities), channel, store)
    store.saves.clear()
    channel.written.clear()
    again = push(Reader(quantities), channel, store)
    assert again.changes == [] and again.rows_read == 5000
    assert store.saves == [] and channel.written == []
    quantities["SKU-00123"] += 1
    third = push(Reader(quantities), channel, store)
    assert [(c.sku, c.quantity) for c in third.changes] == [("SKU-00123", quantities["SKU-00123"])]
    assert store.saves == [[f"stock#bc-1#pushed#{shard_of('SKU-00123'):02d}"]]


def test_an_intacct_answer_cut_part_way_writes_nothing_and_keeps_the_snapshot() -> None:
    store, channel = RecordingStore(), Channel(SKUS)
    quantities = dict.fromkeys(SKUS, 1)
    push(Reader(quantities), channel, store)
    before = dict(store.items)
    channel.written.clear()
    store.saves.clear()
    reader = Reader(dict.fromkeys(SKUS, 2), cut_after=3000)
    with pytest.raises(IntacctUnavailable):
        push(reader, channel, store)
    assert reader.consumed == 3000  # rows were streamed into the figures, not gathered first
    assert channel.written == [] and store.saves == [] and store.items == before
    assert load_state(store, "bc-1").pushed_quantity("SKU-00001", "1") == 1
