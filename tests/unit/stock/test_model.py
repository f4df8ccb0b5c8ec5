"""The pure stock core: figures per (SKU, location) and the delta from the last push."""

from __future__ import annotations

from decimal import Decimal

from intacct_sync.stock.model import OnHand, StockChange, diff, publishable


def rows(*data: tuple[str, str, str, str]) -> list[OnHand]:
    return [OnHand(i, w, Decimal(h), Decimal(o)) for i, w, h, o in data]


def test_warehouses_map_to_channel_locations_and_several_warehouses_are_summed() -> None:
    got = publishable(
        rows(("A", "WH1", "5", "0"), ("A", "WH2", "7", "0"), ("A", "WH3", "100", "0")),
        locations={"WH1": "L1", "WH2": "L1"},
        default_location="default",
    )
    assert got == {("A", "L1"): 12}  # WH3 is not mapped: not published


def test_no_map_sends_every_warehouse_to_the_default_location() -> None:
    got = publishable(rows(("A", "WH1", "5", "0"), ("A", "WH2", "7", "0")), locations=None, default_location="d")
    assert got == {("A", "d"): 12}


def test_on_hold_and_buffer_are_taken_off_and_never_below_zero() -> None:
    data = rows(("A", "W", "10", "3"), ("B", "W", "2", "0"), ("C", "W", "-4", "0"))
    got = publishable(data, locations={"W": "L"}, default_location="d", buffer=3)
    assert got == {("A", "L"): 4, ("B", "L"): 0, ("C", "L"): 0}
    kept = publishable(data, locations={"W": "L"}, default_location="d", subtract_on_hold=False)
    assert kept[("A", "L")] == 10


def test_fractions_round_down() -> None:
    assert publishable(rows(("A", "W", "2.9", "0")), locations=None, default_location="d") == {("A", "d"): 2}


def test_sku_selection_and_item_to_sku_map() -> None:
    got = publishable(
        rows(("ITEM-1", "W", "1", "0"), ("ITEM-2", "W", "1", "0")),
        locations=None,
        default_location="d",
        sku_for=lambda i: {"ITEM-1": "SKU-1"}.get(i, i),
        wants=lambda i: i == "ITEM-1",
    )
    assert got == {("SKU-1", "d"): 1}


def test_diff_lists_only_changes_in_a_stable_order() -> None:
    wanted = {("B", "L"): 1, ("A", "L"): 2, ("C", "L"): 3}
    last = {("A", "L"): 2, ("B", "L"): 5}
    assert diff(wanted, last) == [StockChange("B", "L", 1, 5), StockChange("C", "L", 3, None)]
    assert diff(wanted, wanted) == []


def test_quantities_that_are_no_figure_are_skipped() -> None:
    data = rows(
        ("A", "W", "NaN", "0"), ("B", "W", "Infinity", "0"), ("C", "W", "1E+999999999", "0"), ("D", "W", "7", "0")
    )
    assert publishable(data, locations=None, default_location="d") == {("D", "d"): 7}


def test_whole_and_fractional_quantities_sum_alike() -> None:
    data = rows(("A", "W1", "1.5", "0"), ("A", "W2", "2", "0.25"), ("B", "W1", "3", "1"))
    assert publishable(data, locations=None, default_location="d") == {("A", "d"): 3, ("B", "d"): 2}
