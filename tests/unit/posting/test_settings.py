"""Settings: defaults that work against the sandbox seed, and errors that name the key and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from intacct_sync.errors import ConfigurationError
from intacct_sync.settings import DEFAULT_SETTINGS, load_settings, load_settings_file

SEED = json.loads(Path("local/intacct_sandbox/seed.json").read_text())["companies"][0]


def error(raw: object) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as exc:
        load_settings(raw)  # type: ignore[arg-type]
    return exc.value


def test_empty_settings_are_the_documented_defaults() -> None:
    s = load_settings("{}")
    assert s.customer.match == "customer_name"
    assert s.invoice.transaction_definition == "Sales Invoice"
    assert s.invoice.numbering.mode == "order_number"
    assert s.credit_memo.transaction_definition == "Sales Credit Memo"
    assert s.items.tax_subtotal == "Tax"
    assert s.units.default == "Each"
    assert s.cancellation.unpaid == "delete"
    assert s.rules == ()


def test_default_settings_name_only_things_that_exist_in_the_sandbox_seed() -> None:
    items = {i["ITEMID"] for i in SEED["items"]}
    s = DEFAULT_SETTINGS
    assert {
        s.items.shipping_item_id,
        s.items.discount_item_id,
        s.items.adjustment_item_id,
        s.items.fee_item_id,
    } <= items
    assert s.items.fee_item_id is not None  # fee lines have a default item, like shipping and discounts
    definitions = {d["name"]: d for d in SEED["transaction_definitions"]}
    assert s.invoice.transaction_definition in definitions
    assert s.credit_memo.transaction_definition in definitions
    assert s.items.tax_subtotal in definitions["Sales Invoice"]["subtotals"]
    banks = {b["id"] for b in SEED["bank_accounts"]}
    undeposited = {a["accountno"] for a in SEED["undeposited_accounts"]}
    for method in [s.payments.default, *s.payments.gateways.values()]:
        assert method.payment_method in SEED["payment_methods"]
        assert method.bank_account_id in banks or method.undeposited_account in undeposited
    warehouses = {w["WAREHOUSEID"] for w in SEED["warehouses"]}
    locations = {loc["LOCATIONID"] for loc in SEED["locations"]}
    departments = {d["DEPARTMENTID"] for d in SEED["departments"]}
    for rule in s.rules:
        assert rule.set.warehouse_id in warehouses | {None}
        assert rule.set.location_id in locations | {None}
        assert rule.set.department_id in departments | {None}


def test_settings_docs_mention_every_key() -> None:
    doc = Path("docs/settings.md").read_text()
    data = DEFAULT_SETTINGS.model_dump(mode="json")
    for section, values in data.items():
        assert f"`{section}`" in doc
        if isinstance(values, dict):
            for key in values:
                assert f"`{section}.{key}`" in doc, f"{section}.{key} undocumented"


def test_unknown_key_names_its_path_and_the_allowed_keys() -> None:
    e = error({"customer": {"mach": "company"}})
    assert "customer.mach: unknown key" in e.message
    assert e.fix is not None and "keys allowed here: match, single_customer_id" in e.fix


def test_unknown_top_level_section_lists_the_sections() -> None:
    e = error({"invoices": {}})
    assert "invoices: unknown key" in e.message
    assert e.fix is not None and "customer, invoice, credit_memo" in e.fix


def test_wrong_choice_names_the_allowed_values() -> None:
    e = error({"invoice": {"numbering": {"mode": "next"}}})
    assert "invoice.numbering.mode" in e.message
    assert e.fix is not None and "'order_number' or 'intacct'" in e.fix


def test_single_customer_mode_needs_the_customer_id() -> None:
    e = error({"customer": {"match": "single"}})
    assert e.message.startswith('Invalid settings: customer: match is "single"')
    assert e.fix is not None and "single_customer_id" in e.fix
    assert (
        load_settings({"customer": {"match": "single", "single_customer_id": "C-1001"}}).customer.single_customer_id
        == "C-1001"
    )


def test_guest_single_needs_a_guest_customer() -> None:
    assert "guest_customer_id" in (error({"customer": {"guest_without_name": "single"}}).fix or "")


def test_customer_id_prefix_is_limited_so_ids_fit_intacct() -> None:
    e = error({"customer": {"id_prefix": "MUCH-TOO-LONG-"}})
    assert "customer.id_prefix" in e.message


def test_invoice_needs_a_term_or_due_days() -> None:
    e = error({"invoice": {"term_name": None, "due_days": None}})
    assert "invoice: term_name and due_days are both empty" in e.message


def test_unknown_time_zone_is_refused_with_examples() -> None:
    e = error({"invoice": {"timezone": "Mars/Olympus"}})
    assert "invoice.timezone: 'Mars/Olympus' is not a known IANA time zone" in e.message
    assert "Europe/Berlin" in (e.fix or "")


def test_fallback_policy_needs_a_fallback_item() -> None:
    assert "fallback_item_id" in (error({"items": {"no_sku": "fallback"}}).fix or "")


def test_bad_sku_pattern_in_items_is_refused() -> None:
    e = error({"items": {"sku_patterns": [{"pattern": "TSHIRT-[SM", "item_id": "X"}]}})
    assert "items.sku_patterns[0].pattern" in e.message


def test_payment_method_needs_exactly_one_money_source() -> None:
    e = error({"payments": {"gateways": {"stripe": {"payment_method": "Credit Card"}}}})
    assert "payments.gateways.stripe" in e.message
    assert "exactly one of bank_account_id or undeposited_account" in (e.fix or "")
    e = error({"payments": {"default": {"bank_account_id": "BOA", "undeposited_account": "1200"}}})
    assert "payments.default" in e.message


def test_gateway_names_are_case_insensitive_and_unique() -> None:
    s = load_settings({"payments": {"gateways": {"Stripe": {"bank_account_id": "BOA"}}}})
    assert s.payments.for_gateway("stripe").bank_account_id == "BOA"
    assert s.payments.for_gateway("paypal") == s.payments.default
    assert (
        "differ only in case"
        in error(
            {"payments": {"gateways": {"Stripe": {"bank_account_id": "BOA"}, "stripe": {"bank_account_id": "BOA"}}}}
        ).message
    )


def test_cancellation_policy_is_delete_or_close() -> None:
    assert load_settings({"cancellation": {"unpaid": "close"}}).cancellation.unpaid == "close"
    assert "cancellation.unpaid" in error({"cancellation": {"unpaid": "void"}}).message


def test_several_problems_are_reported_together() -> None:
    e = error({"customer": {"match": "nobody"}, "items": {"shiping_item_id": "X"}})
    assert "customer.match" in e.message and "items.shiping_item_id" in e.message


def test_invalid_json_names_line_and_column() -> None:
    e = error('{"customer": {"match": "company",}}')
    assert "line 1, column" in e.message


def test_settings_must_be_an_object() -> None:
    assert "JSON object" in error("[1, 2]").message


def test_settings_are_frozen() -> None:
    with pytest.raises(Exception, match="frozen"):
        DEFAULT_SETTINGS.invoice.transaction_definition = "Sales Order"  # type: ignore[misc]


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Cannot read settings file"):
        load_settings_file(tmp_path / "nope.json")


def test_json_numbers_are_read_exactly() -> None:
    s = load_settings('{"rules": [{"name": "big", "when": {"order_total": {"min": 0.1}}, "set": {"class_id": "WEB"}}]}')
    assert str(s.rules[0].when.order_total.min) == "0.1"  # type: ignore[union-attr]


def test_a_definition_that_posts_no_ar_record_is_refused_with_the_fix() -> None:
    for name in ("Sales Order", "sales quote"):
        exc = error({"invoice": {"transaction_definition": name}})
        assert "invoice.transaction_definition" in exc.message
        assert "Accounts Receivable" in exc.message
