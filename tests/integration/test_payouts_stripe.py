"""Stripe payouts of WooCommerce and BigCommerce stores (issue 14) against both sandboxes: the
payout and its balance transactions are read from the channel sandbox's Stripe API, each charge
is mapped to the AR payment the payment consumer posted for its order, and the payout becomes
one Intacct deposit equal to the bank line, exactly once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from intacct_sync.channels.api.http import Pacer
from intacct_sync.connections import InMemoryConnections
from intacct_sync.intacct import query as q
from intacct_sync.models.connection import Connection
from intacct_sync.models.order import Order
from intacct_sync.payouts import stripe as stripe_source
from intacct_sync.payouts.ledger import InMemoryPayoutStore, PayoutRecord
from intacct_sync.payouts.run import PayoutPoster, PayoutSource, PayoutsReport, payouts_all, source_for
from intacct_sync.retry import Backoff, Deadline
from local.channel_sandbox import ChannelFault, ChannelSandbox
from local.channel_sandbox import stripe as sbstripe
from local.intacct_sandbox import IntacctSandbox
from tests.aws import FakeContext, Stack
from tests.conftest import RecordingSleep
from tests.integration import test_lambda_logging as lambda_logging
from tests.integration.test_doctor import Run
from tests.integration.test_lambda_logging import Lines, import_function
from tests.integration.test_payouts import NOW, PAYOUTS, SETTINGS
from tests.integration.test_posting_consumers import Harness, order_event, payment_event, shirt_order
from tests.unit.posting.factories import line, order, settings

D = Decimal
WOO, BC = "demo-woo", "demostore"
ARRIVES = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


class StripeBooks:
    """A store selling through Stripe: its orders and charges in the channel sandbox, the order
    and payment posters (Harness), the payout poster, and what Intacct holds."""

    def __init__(self, cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep, channel: str) -> None:
        self.cs, self.sandbox, self.channel = cs, sandbox, channel
        self.store_key = WOO if channel == "woocommerce" else BC
        self.connection_id = f"{channel[:3]}-stripe"
        self.h = Harness(sandbox, sleeps)
        self.store = InMemoryPayoutStore()
        secret = sbstripe.connection_secret(cs, channel, self.store_key, self.connection_id)
        self.connection = Connection.model_validate(secret)
        self.poster = PayoutPoster(self.h.client, self.h.ledger, self.store, SETTINGS, clock=lambda: NOW)
        self.orders: dict[str, Order] = {}
        self.payment_ids: dict[str, str] = {}
        self.charges: dict[str, str] = {}
        self.txns: dict[str, str] = {}

    def source(self) -> PayoutSource:
        options = {"backoff": Backoff(base_s=0.01, cap_s=0.05), "sleep": lambda _: None, "pacer": Pacer()}
        return source_for(self.connection, self.poster.settings, **options)

    def _on(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return sbstripe.on(self.cs, self.channel, self.store_key, fn, *args, **kw)

    def sell(self, order_id: str, *, fee: str, o: Order | None = None, **charge: Any) -> Order:
        """An order placed and paid by card through Stripe on the channel."""
        o = o or shirt_order(order_id, connection_id=self.connection_id, channel=self.channel)
        if self.channel == "woocommerce":
            self.cs.put_order(
                "woocommerce",
                self.store_key,
                {"id": int(order_id), "number": order_id, "status": "processing", "total": str(o.total)}
                | {"currency": o.currency, "payment_method": "stripe"},
            )
        else:
            bundle = copy.deepcopy(next(b for b in self.cs.seed["bigcommerce"][BC]["orders"] if b["transactions"]))
            bundle["order"] |= {"id": int(order_id), "total_inc_tax": str(o.total), "currency_code": o.currency}
            bundle["transactions"] = []
            self.cs.put_order("bigcommerce", self.store_key, bundle)
        made = self._on(sbstripe.charge_order, int(order_id), fee=fee, **charge)
        self.charges[order_id] = made["charge"]["id"]
        self.txns[order_id] = made["balance_transaction"]["id"]
        if self.channel == "woocommerce":
            self.payment_ids[order_id] = f"{order_id}-paid"
        else:
            with self.cs.world.lock:  # the v3 transaction charge_order recorded: the payment's id
                txn = self.cs.world.store("bigcommerce", self.store_key).orders[int(order_id)].transactions[-1]
            self.payment_ids[order_id] = str(txn["id"])
        self.orders[order_id] = o
        return o

    def book(self, order_id: str) -> None:
        """The order consumer and the payment consumer post the order and its payment."""
        o = self.orders[order_id]
        self.h.post(order_event(o))
        self.h.pay(payment_event(o, self.payment_ids[order_id], str(o.total), gateway="stripe"))

    def payout(self, **kw: Any) -> dict[str, Any]:
        po: dict[str, Any] = self._on(sbstripe.add_payout, arrival_date=ARRIVES, **kw)
        return po

    def run(self) -> PayoutsReport:
        return self.poster.run_connection(self.connection, self.source(), deadline=Deadline.after(30))

    def rows(self, obj: str, fields: list[str], **eq: str) -> list[dict[str, str]]:
        flt = q.and_(*(q.eq(k, v) for k, v in eq.items())) if len(eq) > 1 else q.eq(*next(iter(eq.items())))
        return list(self.h.client.iter_query(obj, fields, filter=flt, deadline=Deadline.after(30)))

    def deposits(self) -> list[dict[str, str]]:
        return self.rows("DEPOSIT", ["RECORDNO", "TOTALENTERED", "FINANCIALENTITY", "DOCNUMBER"], FINANCIALENTITY="BOA")

    def writes_since(self, mark: int) -> list[str]:
        return [f.name for r in self.sandbox.requests[mark:] for f in r.functions if f.name.startswith("record_")]

    def record(self, payout_id: str) -> PayoutRecord:
        return self.store.get_many(self.connection_id, [payout_id])[payout_id]

    def stripe_requests(self) -> list[Any]:
        return [r for r in self.cs.requests if r.channel == "stripe"]


def _books(cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep, channel: str) -> StripeBooks:
    return StripeBooks(cs, sandbox, sleeps, channel)


@pytest.fixture
def woo(cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> StripeBooks:
    return _books(cs, sandbox, sleeps, "woocommerce")


@pytest.fixture
def bc(cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> StripeBooks:
    return _books(cs, sandbox, sleeps, "bigcommerce")


def _fees_refund_dispute(b: StripeBooks) -> dict[str, Any]:
    """Two card sales (56.68 each, 1.94 fee), a 10.00 refund of the first, a dispute of the
    second (its 56.68 and a 15.00 fee withdrawn) and a 0.50 Radar fee, paid out together."""
    b.sell("7001", fee="1.94")
    b.sell("7002", fee="1.94")
    b._on(sbstripe.refund, b.charges["7001"], "10.00")
    b._on(sbstripe.dispute, b.charges["7002"], fee="15.00")
    b._on(sbstripe.stripe_fee, "0.50")
    return b.payout()


@pytest.mark.parametrize("channel", ["woocommerce", "bigcommerce"])
def test_a_stripe_payout_with_fees_a_refund_and_a_dispute_is_one_deposit_equal_to_the_bank_line(
    cs: ChannelSandbox, sandbox: IntacctSandbox, sleeps: RecordingSleep, channel: str
) -> None:
    b = _books(cs, sandbox, sleeps, channel)
    payout = _fees_refund_dispute(b)
    b.book("7001")
    b.book("7002")
    mark = len(b.sandbox.requests)
    report = b.run()
    assert report.deposited == [payout["id"]] and not report.failed and not report.waiting, report
    assert b.writes_since(mark) == ["record_otherreceipt", "record_deposit"]

    bank_line = D(payout["amount"]) / 100  # the payout's amount in cents: what reaches the bank
    assert bank_line == D("56.68") * 2 - D("1.94") * 2 - D("10.00") - D("56.68") - D("15.00") - D("0.50")
    [deposit] = b.deposits()
    assert D(deposit["TOTALENTERED"]) == bank_line  # to the cent
    assert deposit["DOCNUMBER"] == f"PO-{payout['id']}"
    record = b.record(payout["id"])
    assert record.status == "deposited" and record.deposit_total == bank_line and record.currency == "USD"
    assert record.lines == {"fee": D("-19.38"), "refund": D("-10.00"), "chargeback": D("-56.68")}
    assert sorted(record.payment_keys) == sorted(
        b.h.ledger.get_many([(b.connection_id, o)])[f"{b.connection_id}:{o}"].payments[b.payment_ids[o]].recordno or ""
        for o in ("7001", "7002")
    )
    [receipt] = b.rows("OTHERRECEIPTS", ["RECORDNO", "TOTALENTERED", "PAYEE"], DOCNUMBER=f"PO-{payout['id']}")
    assert D(receipt["TOTALENTERED"]) == D("-86.06") and receipt["PAYEE"] == "Stripe"
    calls = [(r.method, r.path, r.query.get("expand[]")) for r in b.stripe_requests()]
    assert ("GET", "/v1/balance_transactions", "data.source") in calls
    assert all(r.status == 200 for r in b.stripe_requests())


def test_a_bigcommerce_charge_is_the_order_transaction_carrying_its_stripe_id(bc: StripeBooks) -> None:
    """An order paid partly by store credit and partly by card: the Stripe charge is the card
    payment, found by its PaymentIntent id in the transaction's gateway_transaction_id."""
    o = shirt_order("7001", connection_id=bc.connection_id, channel="bigcommerce")
    bc.sell("7001", fee="1.50", o=o, amount=str(o.total - D("5.00")), record_as="intent")
    card = bc.payment_ids["7001"]
    credit = bc.cs.add_transaction(
        "bigcommerce",
        BC,
        7001,
        {"event": "purchase", "status": "ok", "amount": 5.0, "currency": "USD", "gateway": "storecredit"}
        | {"gateway_transaction_id": "", "method": "store_credit", "date_created": "2026-11-20T10:00:00+00:00"},
    )
    bc.h.post(order_event(o))
    bc.h.pay(payment_event(o, str(credit["id"]), "5.00", gateway="storecredit"))
    bc.h.pay(payment_event(o, card, str(o.total - D("5.00")), gateway="stripe"))
    payout = bc.payout()
    assert bc.run().deposited == [payout["id"]]
    entry = bc.h.ledger.get_many([(bc.connection_id, "7001")])[f"{bc.connection_id}:7001"]
    assert bc.record(payout["id"]).payment_keys == [entry.payments[card].recordno]
    [deposit] = bc.deposits()
    assert D(deposit["TOTALENTERED"]) == o.total - D("5.00") - D("1.50") == D(payout["amount"]) / 100


def test_a_charge_without_order_metadata_is_found_by_its_description_when_a_pattern_is_set(bc: StripeBooks) -> None:
    bc.sell("7001", fee="1.94", metadata_on="none")
    bc.book("7001")
    payout = bc.payout()
    assert bc.run().waiting == [payout["id"]]  # no metadata and no pattern: the charge is not placed
    bc.poster.settings = settings(payouts=PAYOUTS | {"stripe_order_description_pattern": r"Order #?(\d+)"})
    assert bc.run().deposited == [payout["id"]]
    [deposit] = bc.deposits()
    assert D(deposit["TOTALENTERED"]) == D("56.68") - D("1.94")


def test_a_won_dispute_gives_the_amount_and_its_fee_back_on_the_chargeback_and_fee_lines(woo: StripeBooks) -> None:
    woo.sell("7001", fee="1.94")
    woo.book("7001")
    woo._on(sbstripe.dispute, woo.charges["7001"], fee="15.00", won=True)
    payout = woo.payout()
    assert woo.run().deposited == [payout["id"]]
    record = woo.record(payout["id"])
    assert record.lines == {"fee": D("-1.94")}  # withdrawn and reversed: the dispute nets to nothing
    assert record.deposit_total == D("56.68") - D("1.94") == D(payout["amount"]) / 100


def test_a_woocommerce_payout_arriving_before_its_orders_are_posted_waits_then_deposits(woo: StripeBooks) -> None:
    payout = _fees_refund_dispute(woo)
    woo.book("7001")  # 7002 is still on its way
    mark = len(woo.sandbox.requests)
    report = woo.run()
    assert report.waiting == [payout["id"]] and not report.deposited
    assert woo.writes_since(mark) == []
    record = woo.record(payout["id"])
    assert record.status == "waiting" and "#7002" in (record.reason or "")
    assert payout["id"] in woo.store.open_payouts(woo.connection_id)

    woo.book("7002")
    report = woo.run()
    assert report.deposited == [payout["id"]]
    [deposit] = woo.deposits()
    assert D(deposit["TOTALENTERED"]) == D(payout["amount"]) / 100
    assert woo.store.open_payouts(woo.connection_id) == {}


def test_the_same_stripe_payout_twice_makes_one_deposit(woo: StripeBooks) -> None:
    payout = _fees_refund_dispute(woo)
    woo.book("7001")
    woo.book("7002")
    assert woo.run().deposited == [payout["id"]]
    mark = len(woo.sandbox.requests)
    again = woo.run()
    assert again.deposited == [] and again.waiting == [] and not again.failed
    assert woo.writes_since(mark) == []
    assert len(woo.deposits()) == 1


def test_a_charge_naming_its_order_only_on_the_payment_intent_is_mapped_through_it(woo: StripeBooks) -> None:
    woo.sell("7001", fee="1.94", metadata_on="intent", record_as="intent")
    woo.book("7001")
    payout = woo.payout()
    assert woo.run().deposited == [payout["id"]]
    assert any(r.path.startswith("/v1/payment_intents/pi_") for r in woo.stripe_requests())
    [deposit] = woo.deposits()
    assert D(deposit["TOTALENTERED"]) == D("56.68") - D("1.94")


def test_a_charge_without_an_order_keeps_the_payout_waiting_with_the_charge_named(woo: StripeBooks) -> None:
    woo.sell("7001", fee="1.94", metadata_on="none")
    woo.book("7001")
    payout = woo.payout()
    report = woo.run()
    assert report.waiting == [payout["id"]] and woo.deposits() == []
    reason = woo.record(payout["id"]).reason or ""
    assert f"charge {woo.charges['7001']}" in reason and "payouts.stripe_order_metadata_keys" in reason


def test_a_zero_decimal_currency_payout_is_deposited_exactly(woo: StripeBooks) -> None:
    seed = woo.sandbox.seed  # a yen bank account for the yen payouts
    seed["companies"][0]["bank_accounts"].append({"id": "MUFG", "name": "MUFG Yen Checking", "currency": "JPY"})
    woo.sandbox.reset(seed=seed)
    woo.poster.settings = settings(payouts=PAYOUTS | {"bank_account_id": "MUFG"})
    lines = [line("1", "TSHIRT-M", "2", "1980"), line("2", "MUG-01", "1", "1250")]
    o = order(lines, order_id="7101", order_number="7101", currency="JPY", total_tax="521")
    o = o.model_copy(update={"connection_id": woo.connection_id, "channel": "woocommerce"})
    woo.sell("7101", fee="152", o=o)
    woo.book("7101")
    payout = woo.payout()
    assert payout["currency"] == "jpy" and payout["amount"] == 5731 - 152  # yen: no minor unit
    report = woo.run()
    assert report.deposited == [payout["id"]], report
    [deposit] = woo.rows("DEPOSIT", ["RECORDNO", "TOTALENTERED"], FINANCIALENTITY="MUFG")
    assert D(deposit["TOTALENTERED"]) == D(5579)
    record = woo.record(payout["id"])
    assert record.currency == "JPY" and record.net == D(5579) and record.lines == {"fee": D(-152)}


def test_a_throttled_stripe_api_is_retried_and_the_payout_still_deposits(woo: StripeBooks) -> None:
    payout = _fees_refund_dispute(woo)
    woo.book("7001")
    woo.book("7002")
    woo.cs.inject(ChannelFault(kind="rate_limit", channel="stripe", times=2))
    assert woo.run().deposited == [payout["id"]]
    statuses = [r.status for r in woo.stripe_requests()]
    assert statuses[:2] == [429, 429] and statuses[2:] and set(statuses[2:]) == {200}


def test_pages_of_balance_transactions_are_all_read(woo: StripeBooks, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(12):
        woo.sell(str(7200 + i), fee="1.00")
        woo.book(str(7200 + i))
    payout = woo.payout()
    monkeypatch.setattr(stripe_source, "PAGE", 5)  # 12 transactions + the payout's own: 3 pages
    woo.cs.clear_requests()
    report = woo.run()
    assert report.deposited == [payout["id"]]
    pages = [r for r in woo.stripe_requests() if r.path == "/v1/balance_transactions"]
    assert [r.query["limit"] for r in pages] == ["5", "5", "5"]
    assert "starting_after" not in pages[0].query and pages[1].query["starting_after"].startswith("txn_")
    assert woo.record(payout["id"]).payment_keys and len(woo.record(payout["id"]).payment_keys) == 12
    [deposit] = woo.deposits()
    assert D(deposit["TOTALENTERED"]) == (D("56.68") - D("1.00")) * 12 == D(payout["amount"]) / 100


def test_a_payout_not_paid_yet_waits_for_a_later_run_and_manual_payouts_are_left_out(woo: StripeBooks) -> None:
    woo.sell("7001", fee="1.94")
    woo.book("7001")
    pending = woo.payout(status="in_transit")
    woo.sell("7002", fee="1.94")
    woo.book("7002")
    manual = woo.payout(automatic=False)
    report = woo.run()
    assert report.deposited == [] and woo.deposits() == []
    woo._on(sbstripe.set_payout_status, pending["id"], "paid")
    assert woo.run().deposited == [pending["id"]]
    assert not woo.store.get_many(woo.connection_id, [manual["id"]])


def test_the_scheduled_run_reads_stripe_for_woocommerce_and_bigcommerce_with_a_key(
    woo: StripeBooks, bc: StripeBooks
) -> None:
    payout = _fees_refund_dispute(woo)
    woo.book("7001")
    woo.book("7002")
    plain = Connection.model_validate(woo.cs.connection_secret("bigcommerce", BC, "bc-plain"))
    seen: list[str] = []

    def factory(c: Connection) -> PayoutSource:
        seen.append(c.id)
        return woo.source()

    summary = payouts_all(
        InMemoryConnections([woo.connection, plain]), woo.poster, deadline=Deadline.after(30), source_factory=factory
    )
    assert seen == [woo.connection_id]  # a BigCommerce store without a Stripe key has nothing to read
    assert summary[woo.connection_id]["deposited"] == 1
    [receipt] = woo.rows("OTHERRECEIPTS", ["RECORDNO", "PAYEE"], DOCNUMBER=f"PO-{payout['id']}")
    assert receipt["PAYEE"] == "Stripe"  # payouts.stripe_payer for a store read from Stripe
    assert woo.poster.settings.payouts.payer == "Shopify Payments"  # restored after the Stripe store


def test_a_wrong_key_is_refused_with_the_fix(woo: StripeBooks) -> None:
    bad = woo.connection.model_copy(update={"stripe_secret_key": SecretStr("sk_test_wrong")})
    woo.sell("7001", fee="1.00")
    woo.payout()
    from intacct_sync.channels.api.errors import ChannelAuthError

    with pytest.raises(ChannelAuthError) as caught:
        list(source_for(bad, SETTINGS).payouts_since(NOW - timedelta(days=14), deadline=Deadline.after(10)))
    assert "stripe_secret_key" in (caught.value.fix or "") and "sk_test_wrong" not in str(caught.value)


# --- doctor ----------------------------------------------------------------------------------


def _doctor(tmp_path: Path, sandbox: IntacctSandbox, cs: ChannelSandbox, **key: Any) -> Run:
    run = Run(tmp_path, sandbox, cs)
    for c in run.connections:
        if c["channel"] == "woocommerce":
            c.update(sbstripe.connection_secret(cs, "woocommerce", WOO, c["id"], **key))
    return run


def test_doctor_checks_that_the_stripe_key_reads_payouts(
    tmp_path: Path, sandbox: IntacctSandbox, cs: ChannelSandbox
) -> None:
    run = _doctor(tmp_path, sandbox, cs, restricted="payouts")
    assert run() == 0, run.output
    assert "ok    connection woocommerce-main: Stripe payouts: Stripe key reads payouts" in run.output
    asked = [(r.path, r.status) for r in cs.requests if r.channel == "stripe"]
    assert asked == [("/v1/payouts", 200), ("/v1/balance_transactions", 200)]


def test_doctor_names_a_wrong_or_too_narrow_stripe_key_and_never_prints_it(
    tmp_path: Path, sandbox: IntacctSandbox, cs: ChannelSandbox
) -> None:
    run = _doctor(tmp_path, sandbox, cs)
    run.connections[1]["stripe_secret_key"] = "sk_test_wrong_key_0000"
    assert run() == 1
    text = run.line("FAIL  connection woocommerce-main: Stripe payouts")
    assert "Stripe refused the key" in text and "HTTP 401" in text and "stripe_secret_key" in text
    assert "sk_test_" not in run.output and "_0000" not in text  # not even the part Stripe quotes back

    narrow = _doctor(tmp_path, sandbox, cs, restricted="charges_only")
    assert narrow() == 1
    text = narrow.line("FAIL  connection woocommerce-main: Stripe payouts")
    assert "HTTP 403" in text and "'payouts' read permission" in text and "rk_test_" not in narrow.output


# --- the scheduled function ------------------------------------------------------------------

deployed = lambda_logging.deployed  # its fixtures: the stack's secrets and settings, the Lambda log set-up
lambda_runtime = lambda_logging.lambda_runtime


def test_the_payouts_function_reads_a_woocommerce_stores_stripe_payouts_and_never_logs_the_key(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    """The Lambda handler picks the Stripe source for a WooCommerce connection with a key: its paid
    payout, whose order is not in Intacct yet, waits (visible to ops and the wait alarm)."""
    secret = sbstripe.connection_secret(cs, "woocommerce", WOO, "woo-main")
    aws.put_connection(secret)
    sbstripe.on(cs, "woocommerce", WOO, sbstripe.charge_order, 727, fee="1.15")
    payout = sbstripe.on(
        cs, "woocommerce", WOO, sbstripe.add_payout, arrival_date=datetime.now(UTC) - timedelta(days=1)
    )
    app = import_function("payouts", lambda_runtime)
    summary = app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert summary["woo-main"]["waiting"] == 1 and summary["woo-main"]["complete"] is True, summary
    [waiting] = lambda_runtime.named("payout waiting")
    assert (
        waiting["payout_id"] == payout["id"] and waiting["connection_id"] == "woo-main" and "#727" in waiting["reason"]
    )
    asked = [r for r in cs.requests if r.channel == "stripe"]
    assert {r.path for r in asked} == {"/v1/payouts", "/v1/balance_transactions"} and all(
        r.status == 200 for r in asked
    )
    key = secret["stripe_secret_key"]
    assert key not in lambda_runtime.stdout.getvalue() and key not in lambda_runtime.runtime.getvalue()
