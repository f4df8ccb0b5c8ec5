"""The dry-run CLI: which rule applied and why the others did not, the invoice, the totals."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from intacct_sync.cli.rules import main
from intacct_sync.settings import DEFAULT_SETTINGS

FIXTURES = Path("tests/fixtures/channels")


def run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    data = DEFAULT_SETTINGS.model_dump(mode="json")
    data["items"]["no_sku"] = "fallback"
    data["items"]["fallback_item_id"] = "MUG-01"
    data["rules"].insert(
        0, {"name": "VIP class", "when": {"tag": ["vip"], "channel": "shopify"}, "set": {"class_id": "WEB"}}
    )
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data))
    return path


def test_dry_run_shows_rules_applied_and_why_not_and_the_invoice(settings_file: Path) -> None:
    code, out, _ = run(
        [
            "--settings",
            str(settings_file),
            "--order",
            str(FIXTURES / "shopify/orders_paid_us_tax_exclusive_discount.json"),
            "--channel",
            "shopify",
        ]
    )
    assert code == 0
    assert "[0] 'VIP class': APPLIED -> class_id=WEB" in out
    assert "[1] 'West coast ships from WH-WEST': not applied: shipping_region: shipping region is 'KY'" in out
    assert "[2] 'Everything else ships from WH-EAST': APPLIED -> warehouse_id=WH-EAST, location_id=100" in out
    assert "Invoice: Sales Invoice 1001" in out
    assert "IPOD2008GREEN" in out and "WH-EAST" in out and "SALES" in out
    assert "subtotal Tax: 23.28" in out
    assert "total as Intacct computes it: 421.28  channel total: 421.28  OK" in out


@pytest.mark.parametrize(
    ("channel", "name"),
    [
        ("woocommerce", "order_updated_eu_vat_coupon_partial_refund.json"),
        ("shopify", "orders_create_jpy_bank_transfer.json"),
        ("bigcommerce", "order_fetch_us_coupon.json"),
    ],
)
def test_dry_run_for_each_channel_totals_match(settings_file: Path, channel: str, name: str) -> None:
    code, out, err = run(
        [
            "--settings",
            str(settings_file),
            "--order",
            str(FIXTURES / channel / name),
            "--channel",
            channel,
            "--connection",
            "c1",
        ]
    )
    assert code == 0, err
    assert "connection c1" in out and out.rstrip().endswith("OK")


def test_bad_settings_exit_2_with_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"rules": [{"name": "x", "when": {"order_total": {"min": 9, "max": 1}}, "set": {"class_id": "WEB"}}]}'
    )
    code, _, err = run(["--settings", str(bad), "--order", "nope.json", "--channel", "shopify"])
    assert code == 2
    assert "rules[0] 'x'.when.order_total" in err and "fix: rules[0] 'x'.when.order_total: swap them" in err


def test_unpostable_order_exit_4_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text("{}")
    code, _, err = run(
        [
            "--settings",
            str(path),
            "--order",
            str(FIXTURES / "woocommerce/order_created_guest_no_sku.json"),
            "--channel",
            "woocommerce",
        ]
    )
    assert code == 4 and "has no SKU" in err and "fix:" in err


def test_unreadable_order_exit_3(tmp_path: Path, settings_file: Path) -> None:
    junk = tmp_path / "o.json"
    junk.write_text("{not json")
    assert run(["--settings", str(settings_file), "--order", str(junk), "--channel", "shopify"])[0] == 3
    assert run(["--settings", str(settings_file), "--order", str(junk) + "x", "--channel", "bigcommerce"])[0] == 3


def test_dry_run_prints_the_bill_to_and_the_ship_to(settings_file: Path) -> None:
    code, out, _ = run(
        [
            "--settings",
            str(settings_file),
            "--order",
            str(FIXTURES / "shopify/orders_paid_gift_shipped_elsewhere.json"),
            "--channel",
            "shopify",
        ]
    )
    assert code == 0
    assert (
        "Bill to: Bob Norman, Chestnut Street 92, Louisville, KY, 40202, US, 555-625-1199, "
        "bob.norman@mail.example.com" in out
    )
    assert (
        "Ship to: Alice Norman, Norman & Daughters, 12 Oak Avenue, Apt 3, Cincinnati, OH, 45202, US, "
        "+1 513-555-0199, bob.norman@mail.example.com" in out
    )
