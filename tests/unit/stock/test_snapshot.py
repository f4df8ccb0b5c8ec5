"""The snapshot documents: sharded, compressed, only dirty shards written, under the item limit."""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping

import pytest

from intacct_sync.stock import snapshot
from intacct_sync.stock.snapshot import (
    SHARDS,
    InMemorySnapshotStore,
    StockState,
    load_state,
    save_state,
    shard_of,
)


def test_round_trip_and_only_changed_shards_are_written() -> None:
    store = InMemorySnapshotStore()
    state = StockState("c1")
    for i in range(1000):
        state.record_pushed(f"SKU-{i}", "L1", i)
        state.set_targets(f"SKU-{i}", [f"gid://shopify/InventoryItem/{i}"])
    state.meta["resolved_at"] = "2030-01-01T00:00:00+00:00"
    assert save_state(store, state) == 1 + 2 * SHARDS
    again = load_state(store, "c1")
    assert again.last_pushed() == state.last_pushed()
    assert again.targets_of("SKU-5") == ("gid://shopify/InventoryItem/5",) and again.target_count() == 1000
    assert save_state(store, again) == 0
    again.record_pushed("SKU-7", "L1", 99)
    assert save_state(store, again) == 1


def test_50000_skus_stay_far_below_the_400_kb_item_limit() -> None:
    store = InMemorySnapshotStore()
    state = StockState("big")
    for i in range(50_000):
        sku = f"SKU-{i:06d}"
        state.record_pushed(sku, "gid://shopify/Location/70000000001", i % 500)
        state.record_pushed(sku, "gid://shopify/Location/70000000002", i % 300)
        state.set_targets(sku, [f"gid://shopify/InventoryItem/{10_000_000 + i}"])
    save_state(store, state)
    assert max(len(v) for v in store.items.values()) < 100_000


def test_connections_do_not_share_documents() -> None:
    store = InMemorySnapshotStore()
    a = StockState("a")
    a.record_pushed("X", "L", 1)
    save_state(store, a)
    assert len(load_state(store, "b").last_pushed()) == 0


class RecordingStore(InMemorySnapshotStore):
    """Remembers the keys of every put (one put per save)."""

    def __init__(self) -> None:
        super().__init__()
        self.saves: list[list[str]] = []

    def put(self, items: Mapping[str, bytes]) -> None:
        super().put(items)
        self.saves.append(sorted(items))


def _loaded(n: int = 2000) -> tuple[RecordingStore, StockState]:
    store = RecordingStore()
    state = StockState("c1")
    for i in range(n):
        sku = f"SKU-{i:05d}"
        state.record_pushed(sku, "gid://shopify/Location/1", i % 50)
        state.set_targets(sku, [f"gid://shopify/InventoryItem/{i}"])
    state.meta["resolved_at"] = "2030-01-01T00:00:00+00:00"
    save_state(store, state)
    store.saves.clear()
    return store, load_state(store, "c1")


def test_one_sku_changed_writes_only_its_pushed_shard() -> None:
    store, state = _loaded()
    state.record_pushed("SKU-00042", "gid://shopify/Location/1", 999)
    assert save_state(store, state) == 1
    assert store.saves == [[state.key("pushed", shard_of("SKU-00042"))]]
    assert load_state(store, "c1").pushed_quantity("SKU-00042", "gid://shopify/Location/1") == 999


def test_nothing_changed_writes_nothing_and_encodes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    store, state = _loaded()
    for i in range(2000):  # the same figures again: not a change
        state.record_pushed(f"SKU-{i:05d}", "gid://shopify/Location/1", i % 50)
    encoded: list[object] = []
    original = snapshot._encode

    def encode(value: object) -> bytes:
        encoded.append(value)
        return original(value)

    monkeypatch.setattr(snapshot, "_encode", encode)
    assert save_state(store, state) == 0
    assert store.saves == []
    assert encoded == [state.meta]  # only the small meta document is compared


def test_a_recrawl_that_finds_the_same_map_rewrites_no_ids_shard() -> None:
    store, state = _loaded()
    state.start_crawl()
    for i in range(2000):
        state.add_crawled({f"SKU-{i:05d}": [f"gid://shopify/InventoryItem/{i}"]})
    state.finish_crawl()
    assert save_state(store, state) == 0
    state.start_crawl()
    state.add_crawled({"SKU-00007": ["gid://shopify/InventoryItem/7", "gid://shopify/InventoryItem/70"]})
    state.add_crawled({f"SKU-{i:05d}": [f"gid://shopify/InventoryItem/{i}"] for i in range(2000) if i != 7})
    state.finish_crawl()
    assert save_state(store, state) == 1
    assert store.saves == [[state.key("ids", shard_of("SKU-00007"))]]
    assert load_state(store, "c1").targets_of("SKU-00007") == (
        "gid://shopify/InventoryItem/7",
        "gid://shopify/InventoryItem/70",
    )


def test_a_crawl_in_progress_is_saved_then_emptied_when_it_completes() -> None:
    store, state = _loaded(10)
    state.start_crawl()
    state.add_crawled({"NEW-1": ["gid://shopify/InventoryItem/100"]})
    save_state(store, state)
    assert store.saves == [[state.key("crawl", shard_of("NEW-1"))]]
    resumed = load_state(store, "c1")
    resumed.add_crawled({"NEW-2": ["gid://shopify/InventoryItem/101"]})
    resumed.finish_crawl()
    save_state(store, resumed)
    final = load_state(store, "c1")
    assert sorted(final.target_skus()) == ["NEW-1", "NEW-2"]
    assert not any(
        json.loads(zlib.decompress(store.items[final.key("crawl", s)]))
        for s in range(SHARDS)
        if final.key("crawl", s) in store.items
    )


def test_documents_keep_the_stored_layout() -> None:
    state = StockState("c1")
    state.record_pushed("A", "L1", 1)
    state.record_pushed("A", "L2", 2)
    state.set_targets("A", ["A"])  # BigCommerce: the id is the SKU
    state.set_targets("B", ["x", "y"])
    docs = {k: json.loads(zlib.decompress(v)) for k, v in state.documents().items()}
    assert docs[state.key("pushed", shard_of("A"))] == {"A": {"L1": 1, "L2": 2}}
    assert docs[state.key("ids", shard_of("A"))]["A"] == ["A"]
    assert docs[state.key("ids", shard_of("B"))]["B"] == ["x", "y"]


def test_forgetting_a_figure_rewrites_its_shard() -> None:
    store, state = _loaded(10)
    state.forget_pushed("SKU-00003", "gid://shopify/Location/1")
    state.forget_pushed("SKU-00003", "gid://shopify/Location/1")  # already gone: no-op
    assert save_state(store, state) == 1
    assert load_state(store, "c1").pushed_quantity("SKU-00003", "gid://shopify/Location/1") is None
