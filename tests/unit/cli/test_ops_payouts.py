"""`intacct-sync ops payouts`: payouts not deposited yet with their reason and fix, and with
`--all` the deposited ones with bank line = deposit (moto's state table, records written by
DynamoPayoutStore, the store the scheduled job uses)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from intacct_sync.cli import ops
from intacct_sync.cli.payouts import describe
from intacct_sync.payouts.ledger import DynamoPayoutStore, PayoutRecord
from tests.aws import Stack

WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def payouts(aws: Stack) -> DynamoPayoutStore:
    store = DynamoPayoutStore(aws.table, client=aws.dynamodb, retention_days=0)
    waiting = PayoutRecord(
        connection_id="shop-main", payout_id="623721858", issued_at=WHEN, net=Decimal("61.06"), currency="USD"
    )
    waiting.waiting_since = WHEN
    waiting.reason = "1 of its payments is not posted to Intacct yet (orders #7002)"
    waiting.fix = "Nothing to do while orders are flowing."
    store.put(waiting)
    done = PayoutRecord(
        connection_id="shop-main", payout_id="623721859", issued_at=WHEN, net=Decimal("10.00"), currency="USD"
    )
    done.status, done.deposit_key, done.deposit_total = "deposited", "7001", Decimal("10.00")
    store.put(done)
    return store


def run(aws: Stack, *args: str) -> int:
    return ops.main(["--table", aws.table, "payouts", *args], clients={"dynamodb": aws.dynamodb})


def test_a_waiting_payout_is_listed_with_the_orders_it_waits_for_and_the_fix(
    aws: Stack, payouts: DynamoPayoutStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert payouts.open_payouts("shop-main").keys() == {"623721858"}
    assert run(aws) == 0
    out = capsys.readouterr().out
    assert "shop-main payout 623721858 (2026-11-24): 61.06 USD waiting since" in out
    assert "orders #7002" in out and "fix: Nothing to do while orders are flowing." in out
    assert "623721859" not in out
    assert out.strip().endswith("1 payout(s) waiting, 0 failed")


def test_all_lists_the_deposited_ones_with_bank_line_equal_to_deposit(
    aws: Stack, payouts: DynamoPayoutStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(aws, "--all", "--connection", "shop-main") == 0
    out = capsys.readouterr().out
    assert "payout 623721859 (2026-11-24): 10.00 USD deposited: bank line 10.00 = deposit 10.00" in out
    assert run(aws, "--json") == 0
    [record] = json.loads(capsys.readouterr().out)
    assert record["payout_id"] == "623721858" and record["status"] == "waiting"


def test_a_payout_booked_with_a_journal_entry_shows_deposit_plus_journal() -> None:
    r = PayoutRecord(connection_id="shop", payout_id="1", issued_at=WHEN, net=Decimal("32.25"), currency="USD")
    r.status, r.deposit_key, r.deposit_total = "deposited", "7001", Decimal("100.00")
    r.journal_key, r.journal_total = "8001", Decimal("-67.75")
    assert describe(r).endswith(
        "deposited: bank line 32.25 = deposit 100.00 + journal entry -67.75 (Intacct deposit 7001, journal entry 8001)"
    )
