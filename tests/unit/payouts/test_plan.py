"""What a payout becomes in Intacct (pure): the receipt's lines and the deposit's receipts, or
why it waits; the XML of `record_otherreceipt` / `record_deposit` in the SDKs' element order."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from intacct_sync.errors import ConfigurationError
from intacct_sync.intacct.cash import record_deposit, record_otherreceipt
from intacct_sync.ledger import LedgerEntry, PaymentRecord
from intacct_sync.payouts import plan
from intacct_sync.payouts.model import BalanceTransaction, Kind, Payout
from intacct_sync.payouts.shopify import kind_of
from intacct_sync.settings import PayoutSettings, load_settings

D = Decimal
WHEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
CFG = PayoutSettings(
    enabled=True,
    bank_account_id="BOA",
    fee_account="6100",
    refund_account="1250",
    chargeback_account="6110",
    adjustment_account="6120",
)


def txn(
    kind: Kind, amount: str, fee: str = "0", order: str | None = None, payment: str | None = None
) -> BalanceTransaction:
    return BalanceTransaction(
        transaction_id=f"t-{kind}-{amount}",
        kind=kind,
        channel_type=kind.upper(),
        amount=D(amount),
        fee=D(fee),
        net=D(amount) - D(fee),
        order_id=order,
        order_name=f"#{order}" if order else None,
        payment_id=payment,
        payout_id="9",
    )


def paid_entry(order: str, payment: str, amount: str, recordno: str) -> LedgerEntry:
    e = LedgerEntry(connection_id="shop", order_id=order, channel="shopify", status="paid")
    e.payments[payment] = PaymentRecord(payment_id=payment, amount=D(amount), recordno=recordno, posted_at=WHEN)
    return e


def payout(net: str) -> Payout:
    return Payout("shop", "9", WHEN, "PAID", D(net), "USD")


TXNS = [
    txn("charge", "100.00", "3.20", order="1", payment="p1"),
    txn("refund", "-20.00", order="1"),
    txn("chargeback", "-30.00", "15.00", order="1"),
    txn("adjustment", "0.45"),
]
NET = str(sum((t.net for t in TXNS), D(0)))


def test_the_deposit_is_the_payouts_net_with_one_signed_line_per_account() -> None:
    p = plan.plan(payout(NET), TXNS, {"shop:1": paid_entry("1", "p1", "100.00", "4001")})
    assert isinstance(p, plan.PayoutPlan)
    assert p.payment_keys == ("4001",)
    assert p.lines == {"fee": D("-18.20"), "refund": D("-20.00"), "chargeback": D("-30.00"), "adjustment": D("0.45")}
    assert p.deposit_total == D(NET) == D("32.25")
    receipt = plan.receipt_for(payout(NET), p, CFG, on=date(2026, 11, 24))
    assert receipt is not None and receipt.total == D("-67.75")
    assert [(line.gl_account_no, line.amount) for line in receipt.lines] == [
        ("6100", D("-18.20")),
        ("1250", D("-20.00")),
        ("6110", D("-30.00")),
        ("6120", D("0.45")),
    ]
    deposit = plan.deposit_for(payout(NET), p, "6001", CFG, on=date(2026, 11, 24))
    assert deposit.receipt_keys == ["4001", "6001"] and deposit.deposit_id == "PO-9"


def test_a_payment_not_posted_yet_makes_the_payout_wait_naming_the_order() -> None:
    waiting = plan.plan(payout(NET), TXNS, {})
    assert isinstance(waiting, plan.Waiting)
    assert waiting.orders == ("#1",) and "not posted to Intacct yet (orders #1)" in waiting.reason


def test_a_payment_posted_for_another_amount_leaves_the_difference_on_the_adjustment_line() -> None:
    p = plan.plan(
        payout("96.80"),
        [txn("charge", "100.00", "3.20", "1", "p1")],
        {"shop:1": paid_entry("1", "p1", "99.99", "4001")},
    )
    assert isinstance(p, plan.PayoutPlan)
    assert p.lines == {"fee": D("-3.20"), "adjustment": D("0.01")} and p.deposit_total == D("96.80")


def test_transactions_that_do_not_add_up_to_the_payout_are_refused() -> None:
    with pytest.raises(plan.PayoutMismatch, match=r"net 32\.25 USD, the payout is 32\.26 USD"):
        plan.plan(payout("32.26"), TXNS, {})


@pytest.mark.parametrize(
    ("shopify_type", "kind"),
    [
        ("CHARGE", "charge"),
        ("REFUND", "refund"),
        ("REFUND_FAILURE", "refund"),
        ("DISPUTE_WITHDRAWAL", "chargeback"),
        ("DISPUTE_REVERSAL", "chargeback"),
        ("CHARGEBACK_FEE", "chargeback"),
        ("ADJUSTMENT", "adjustment"),
        ("RESERVED_FUNDS", "adjustment"),
    ],
)
def test_shopify_types_map_to_the_account_kinds(shopify_type: str, kind: str) -> None:
    assert kind_of(shopify_type) == kind


def test_receipt_and_deposit_xml_follow_the_sdk_element_order() -> None:
    p = plan.plan(payout(NET), TXNS, {"shop:1": paid_entry("1", "p1", "100.00", "4001")})
    assert isinstance(p, plan.PayoutPlan)
    receipt = plan.receipt_for(payout(NET), p, CFG, on=date(2026, 11, 24))
    assert receipt is not None
    el = record_otherreceipt(receipt, controlid=plan.receipt_controlid(payout(NET))).element
    assert [c.tag for c in el] == [
        "paymentdate", "payee", "receiveddate", "paymentmethod", "undepglaccountno", "refid", "description",
        "currency", "receiptitems",
    ]  # fmt: skip
    line = el.find("receiptitems/lineitem")
    assert line is not None and [c.tag for c in line] == ["glaccountno", "amount", "memo"]
    dep = record_deposit(plan.deposit_for(payout(NET), p, "6001", CFG, on=date(2026, 11, 24)), controlid="c").element
    assert [c.tag for c in dep] == ["bankaccountid", "depositdate", "depositid", "receiptkeys", "description"]
    when = dep.find("depositdate")
    assert when is not None
    assert ET.tostring(when) == b"<depositdate><year>2026</year><month>11</month><day>24</day></depositdate>"


def test_payouts_enabled_without_its_accounts_is_a_settings_error_naming_them() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings({"payouts": {"enabled": True, "bank_account_id": "BOA"}})
    assert "fee_account, refund_account, chargeback_account, adjustment_account are not set" in err.value.message
    assert "payouts" in err.value.message and "Chart of accounts" in (err.value.fix or "")


def test_journal_mode_credits_the_bank_for_what_the_payments_lost() -> None:
    p = plan.plan(payout(NET), TXNS, {"shop:1": paid_entry("1", "p1", "100.00", "4001")})
    assert isinstance(p, plan.PayoutPlan)
    cfg = CFG.model_copy(update={"fees": "journal_entry", "bank_gl_account": "1010"})
    entry = plan.journal_for(payout(NET), p, cfg, on=date(2026, 11, 24))
    assert entry is not None and entry.reference == "PO-9" and entry.journal == "GJ"
    assert [(x.gl_account_no, x.amount, x.debit) for x in entry.lines] == [
        ("6100", D("18.20"), True),
        ("1250", D("20.00"), True),
        ("6110", D("30.00"), True),
        ("6120", D("0.45"), False),
        ("1010", D("67.75"), False),
    ]
    assert p.payments_total - D("67.75") == D(NET)  # deposit + journal = bank line


def test_journal_mode_needs_the_banks_gl_account() -> None:
    accounts = {k: v for k, v in CFG.model_dump().items() if k.endswith(("_account", "_account_id"))}
    with pytest.raises(ConfigurationError) as err:
        load_settings({"payouts": {**accounts, "enabled": True, "fees": "journal_entry", "bank_gl_account": None}})
    assert "bank_gl_account is not set" in err.value.message


def test_two_charges_on_one_ar_payment_are_refused_not_booked_as_money_never_banked() -> None:
    # Two balance transactions that resolve to the same posted payment would put its RECORDNO in
    # the deposit once while counting its amount twice: the deposit would miss the bank line.
    charges = [
        txn("charge", "100.00", "3.20", order="1", payment="p1"),
        BalanceTransaction(
            transaction_id="t-charge-again",
            kind="charge",
            channel_type="CHARGE",
            amount=D("100.00"),
            fee=D("3.20"),
            net=D("96.80"),
            order_id="1",
            order_name="#1",
            payment_id="p1",
            payout_id="9",
        ),
    ]
    with pytest.raises(plan.PayoutMismatch, match="same AR payment 501"):
        plan.plan(payout("193.60"), charges, {"shop:1": paid_entry("1", "p1", "100.00", "501")})
