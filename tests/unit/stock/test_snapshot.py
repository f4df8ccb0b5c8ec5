"""The snapshot documents: sharded, compressed, written only when changed, under the item limit."""

from __future__ import annotations

from intacct_sync.stock.snapshot import SHARDS, InMemorySnapshotStore, StockState, load_state, save_state


def test_round_trip_and_only_changed_shards_are_written() -> None:
    store = InMemorySnapshotStore()
    state = StockState("c1")
    for i in range(1000):
        state.record_pushed(f"SKU-{i}", "L1", i)
        state.targets[f"SKU-{i}"] = [f"gid://shopify/InventoryItem/{i}"]
    state.meta["resolved_at"] = "2030-01-01T00:00:00+00:00"
    assert save_state(store, state) == 1 + 2 * SHARDS
    again = load_state(store, "c1")
    assert again.last_pushed() == state.last_pushed() and again.targets == state.targets
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
        state.targets[sku] = [f"gid://shopify/InventoryItem/{10_000_000 + i}"]
    save_state(store, state)
    assert max(len(v) for v in store.items.values()) < 100_000


def test_connections_do_not_share_documents() -> None:
    store = InMemorySnapshotStore()
    a = StockState("a")
    a.record_pushed("X", "L", 1)
    save_state(store, a)
    assert load_state(store, "b").pushed == {}
