"""`intacct-sync ops status --order <number>`: the number finance sees finds the ledger entry
(moto's state table, entries written by DynamoLedger), with one item read when the number is the
id, one filtered scan otherwise; several matches are listed; none gets a hint."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intacct_sync.cli import ops
from intacct_sync.ledger import DynamoLedger, LedgerEntry
from tests.aws import Stack


class Counting:
    """The DynamoDB client, counting the operations called (a paginator's scan included).
    `ops status` ends with one get_item: the order's connection's pause item (issue 14)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name == "get_paginator":
            self.calls.append("scan")
        elif callable(attr):
            self.calls.append(name)
        return attr


def save(aws: Stack, connection: str, order_id: str, number: str | None, channel: str = "shopify") -> LedgerEntry:
    entry = LedgerEntry(
        connection_id=connection, order_id=order_id, channel=channel, order_number=number, status="invoiced"
    )
    entry.document_key = f"Sales Invoice-{number or order_id}"
    DynamoLedger(aws.table, client=aws.dynamodb).put(entry)
    return entry


@pytest.fixture
def ledger(aws: Stack) -> Stack:
    save(aws, "shopify-main", "450789469", "1001")  # Shopify: name '#1001', id 450789469
    save(aws, "shopify-main", "450789470", "1002")
    save(aws, "woo-main", "1001", "1001", "woocommerce")  # the same number in another store
    save(aws, "bc-main", "118", "118", "bigcommerce")  # BigCommerce: the id is the number
    save(aws, "woo-main", "2000", "W-1500", "woocommerce")  # a sequential-numbers plugin
    save(aws, "woo-main", "1500", "W-2000", "woocommerce")
    save(aws, "shopify-main", "450789471", None)  # a payment arrived before its order
    return aws


def status(aws: Stack, *args: str, client: Any = None) -> int:
    return ops.main(["--table", aws.table, "status", *args], clients={"dynamodb": client or aws.dynamodb})


@pytest.mark.parametrize("number", ["#1001", "1001", " #1001 "])
def test_the_shopify_name_finds_the_order(ledger: Stack, number: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--connection", "shopify-main", "--order", number) == 0
    out = capsys.readouterr().out
    assert out.startswith("order 1001 (shopify, connection shopify-main, id 450789469)")
    assert "Sales Invoice-1001" in out


def test_a_bigcommerce_number_is_its_id_one_read_no_scan(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    client = Counting(ledger.dynamodb)
    assert status(ledger, "--connection", "bc-main", "--order", "118", client=client) == 0
    assert "order 118 (bigcommerce" in capsys.readouterr().out
    assert client.calls == ["batch_get_item", "get_item"]


def test_a_woocommerce_number_that_is_not_the_id(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # order id 1500 exists but carries number W-2000: the number W-1500 is order 2000's
    assert status(ledger, "--connection", "woo-main", "--order", "W-1500") == 0
    assert "id 2000)" in capsys.readouterr().out


def test_the_number_wins_over_an_id_that_looks_the_same(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    save(ledger, "woo-main", "3000", "1500", "woocommerce")  # number 1500 is order 3000; id 1500 is W-2000
    assert status(ledger, "--connection", "woo-main", "--order", "1500") == 0
    assert "id 3000)" in capsys.readouterr().out


def test_the_internal_id_still_works_as_order(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """The option's earlier meaning: a number no entry carries is tried as the internal id."""
    assert status(ledger, "--connection", "shopify-main", "--order", "450789469") == 0
    assert "id 450789469)" in capsys.readouterr().out


def test_order_id_reads_one_item(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    client = Counting(ledger.dynamodb)
    assert status(ledger, "--connection", "shopify-main", "--order-id", "450789471", client=client) == 0
    assert "order 450789471 (shopify" in capsys.readouterr().out
    assert client.calls == ["batch_get_item", "get_item"]
    assert status(ledger, "--connection", "shopify-main", "--order-id", "gid://shopify/Order/450789469") == 0


def test_the_scan_stays_on_the_connection(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    client = Counting(ledger.dynamodb)
    assert status(ledger, "--connection", "woo-main", "--order", "#1001", client=client) == 0
    assert "id 1001)" in capsys.readouterr().out and client.calls == ["batch_get_item", "get_item"]
    assert status(ledger, "--connection", "shopify-main", "--order", "1002", client=client) == 0
    assert "id 450789470)" in capsys.readouterr().out


def test_several_matches_are_listed(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--order", "#1001") == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "2 ledger entries match order number 1001 on any connection:"
    assert "--connection shopify-main --order-id 450789469   #1001  shopify  invoiced" in out
    assert "--connection woo-main --order-id 1001   #1001  woocommerce  invoiced" in out
    assert "intacct-sync ops status --connection <id> --order-id <id>" in out


def test_several_matches_as_json(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--order", "1001", "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert sorted(d["connection_id"] for d in data) == ["shopify-main", "woo-main"]


def test_one_match_as_json(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--connection", "shopify-main", "--order", "#1002", "--json") == 0
    assert json.loads(capsys.readouterr().out)["order_id"] == "450789470"


def test_without_a_connection_one_match_is_shown(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--order", "118") == 0
    assert "connection bc-main" in capsys.readouterr().out


def test_not_found_says_where_to_look(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--connection", "shopify-main", "--order", "#4242") == 1
    out = capsys.readouterr().out
    assert out.startswith("no ledger entry for order number 4242 on connection shopify-main")
    assert "--connection" in out and "ops parked" in out and "webhook" in out
    assert status(ledger, "--connection", "shopify-main", "--order-id", "1") == 1
    assert "no ledger entry for order id 1 on connection shopify-main" in capsys.readouterr().out


def test_not_found_as_json_is_an_empty_list(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--order", "4242", "--json") == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no ledger entry" in captured.err


def test_the_scan_reports_progress_when_asked(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert status(ledger, "--order", "1002", "--progress") == 0
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "searching the ledger (items read): 7"
    assert status(ledger, "--order", "1002") == 0
    assert capsys.readouterr().err == ""


def test_the_table_comes_from_the_environment(
    ledger: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STATE_TABLE", ledger.table)
    assert ops.main(["status", "--connection", "bc-main", "--order", "118"]) == 0
    assert "order 118" in capsys.readouterr().out
    monkeypatch.delenv("STATE_TABLE")
    with pytest.raises(SystemExit) as info:
        ops.main(["status", "--connection", "bc-main", "--order", "118"])
    assert info.value.code == 2
    assert "give --stack or --table (or set STATE_TABLE)" in capsys.readouterr().err


def test_parked_by_connection(ledger: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    entry = DynamoLedger(ledger.table, client=ledger.dynamodb).get("woo-main", "1001")
    assert entry is not None
    entry.fail("permanent", "SKU X is not an Intacct item", "map it", None)
    DynamoLedger(ledger.table, client=ledger.dynamodb).put(entry)
    assert ops.main(["--table", ledger.table, "parked", "--connection", "shopify-main"]) == 0
    assert capsys.readouterr().out.strip() == "0 parked order(s)"
    assert ops.main(["--table", ledger.table, "parked", "--connection", "woo-main"]) == 0
    out = capsys.readouterr().out
    assert "woo-main:1001 #1001: SKU X is not an Intacct item" in out and "1 parked order(s)" in out


def test_find_by_order_number_checks_the_field_not_just_the_text(aws: Stack) -> None:
    """The server-side filter looks for `"order_number":"1001"` in the stored document; the
    entries it returns are checked field by field."""
    ledger = DynamoLedger(aws.table, client=aws.dynamodb)
    save(aws, "c", "1", "1001")
    save(aws, "c", "2", "10011")
    save(aws, "c2", "3", "1001")
    entry = LedgerEntry(connection_id="c", order_id="4", channel="shopify", order_number="9")
    entry.note("memo", '"order_number":"1001"')  # the text, elsewhere in the document
    ledger.put(entry)
    assert [e.order_id for e in ledger.find_by_order_number("1001", "c")] == ["1"]
    assert sorted(e.order_id for e in ledger.find_by_order_number("1001")) == ["1", "3"]
