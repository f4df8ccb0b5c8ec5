"""Shopify's idempotency key and userError row parsing (pure helpers of the stock writes)."""

from __future__ import annotations

from intacct_sync.channels.api.shopify import _row_index, idempotency_key


def test_the_key_is_stable_for_one_batch_in_one_run_and_differs_otherwise() -> None:
    batch = {"quantities": [{"inventoryItemId": "gid://shopify/InventoryItem/1", "quantity": 3}]}
    other = {"quantities": [{"inventoryItemId": "gid://shopify/InventoryItem/1", "quantity": 4}]}
    assert idempotency_key("run-1", batch) == idempotency_key("run-1", dict(batch))
    assert idempotency_key("run-1", batch) != idempotency_key("run-1", other)
    assert idempotency_key("run-1", batch) != idempotency_key("run-2", batch)  # same figures, a later run


def test_user_error_field_names_the_row() -> None:
    assert _row_index(["input", "quantities", "3", "locationId"]) == 3
    assert _row_index(["input", "name"]) is None
    assert _row_index(None) is None
