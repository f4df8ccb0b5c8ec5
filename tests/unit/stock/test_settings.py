"""The stock and writeback sections of the settings."""

from __future__ import annotations

import pytest

from intacct_sync.errors import ConfigurationError
from intacct_sync.settings import load_settings


def test_stock_and_writeback_sections_load_with_defaults() -> None:
    s = load_settings(
        {
            "stock": {
                "source": {"kind": "query", "object": "ITEMWAREHOUSEINFO", "on_hand_field": "QTYONHAND"},
                "safety_buffer": 2,
                "skus": ["MUG-01"],
                "connections": {"shop": {"locations": {"WH-EAST": "70000000001"}}},
            },
            "writeback": {"enabled": True, "bigcommerce_paid_status_id": 10},
        }
    )
    assert s.stock.wants("MUG-01") and not s.stock.wants("OTHER")
    assert s.stock.connections["shop"].locations == {"WH-EAST": "70000000001"}
    assert s.writeback.shopify_tag_prefix == "intacct:"


def test_wrong_stock_key_names_the_path() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({"stock": {"source": {"kind": "magic"}}})
    assert "stock.source.kind" in err.value.message
    with pytest.raises(ConfigurationError) as err:
        load_settings({"writeback": {"bigcommerce_paid_status_id": 3}})
    assert "writeback.bigcommerce_paid_status_id" in err.value.message
