"""Every function's log lines as CloudWatch receives them under Lambda's Python runtime, and every
metric filter of template.yaml evaluated on those very lines.

Lambda's Python runtime (text log format, the template's setting) puts one handler on the root
logger that writes `[LEVEL]\\t<time>\\t<request id>\\t<message>` and leaves the root at WARNING.
A module logging through `logging.getLogger(__name__)` would therefore lose its INFO lines and
write the rest as text no JSON metric filter can read. Each test here installs that runtime set-up
first, then imports the function (as Lambda does), runs it against moto and the sandboxes, and
reads what reached stdout (the Powertools handler) and what reached the runtime's text handler.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from intacct_sync import logs, wiring
from intacct_sync.ledger import DynamoLedger, LedgerEntry
from intacct_sync.payouts.ledger import DynamoPayoutStore, PayoutRecord
from intacct_sync.settings import DEFAULT_SETTINGS, PayoutSettings, StockConnection, StockSettings, WritebackSettings
from local.channel_sandbox import ChannelSandbox
from local.channel_sandbox.shopify_payments import add_payout_to
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from local.stack import load_template
from tests.aws import ROOT, FakeContext, Stack, load_function, sqs_lambda_event
from tests.integration.test_posting_consumers import order_event, payment_event, shirt_order
from tests.support import cloudwatch_filter

RUNTIME_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
POWERTOOLS_KEYS = {"level", "location", "message", "timestamp", "service", "function_name", "function_request_id"}
SETTINGS = DEFAULT_SETTINGS.model_copy(
    update={
        "stock": StockSettings(connections={"bc-main": StockConnection(locations={"WH-EAST": "1", "WH-WEST": "2"})}),
        "writeback": WritebackSettings(enabled=True),
        "payouts": PayoutSettings(
            enabled=True,
            bank_account_id="BOA",
            fee_account="6100",
            refund_account="1250",
            chargeback_account="6110",
            adjustment_account="6120",
            max_wait_hours=24,
        ),
    }
)


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = "req-1"
        return True


@dataclass
class Lines:
    """What one invocation wrote: JSON lines on stdout, text lines through the runtime's handler."""

    stdout: io.StringIO = field(default_factory=io.StringIO)
    runtime: io.StringIO = field(default_factory=io.StringIO)

    def json(self) -> list[dict[str, Any]]:
        text = self.stdout.getvalue()
        out = []
        for raw in text.splitlines():
            if raw.strip().startswith('{"_aws"'):  # EMF metrics blob (Powertools Metrics), not a log line
                continue
            out.append(json.loads(raw))  # every line must be one JSON object
        return out

    def raw(self) -> list[str]:
        return [r for r in self.stdout.getvalue().splitlines() if not r.startswith('{"_aws"')]

    def named(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.json() if line["message"] == message]

    def fresh(self) -> None:
        self.stdout.seek(0)
        self.stdout.truncate()


@pytest.fixture
def lambda_runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Lines]:
    """Root logger as Lambda's runtime leaves it; the package logger as Python starts it."""
    for name in ("POWERTOOLS_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    lines = Lines()
    logging.disable(logging.NOTSET)  # Lambda never disables logging (a command run earlier in the process may)
    root = logging.getLogger()
    package = logging.getLogger(logs.PACKAGE)
    saved = (root.level, list(root.handlers), package.level, list(package.handlers))
    runtime = logging.StreamHandler(lines.runtime)
    runtime.setFormatter(logging.Formatter(RUNTIME_FORMAT))
    runtime.addFilter(_RequestId())
    root.handlers = [h for h in root.handlers if type(h).__module__ == "_pytest.logging"] + [runtime]
    root.setLevel(logging.WARNING)
    package.setLevel(logging.NOTSET)
    package.handlers = []
    service = logging.getLogger(logs.SERVICE)
    service_level = service.level
    service.setLevel(logging.INFO)  # Powertools' default (no POWERTOOLS_LOG_LEVEL), set once per process
    yield lines
    root.setLevel(saved[0])
    root.handlers = saved[1]
    package.setLevel(saved[2])
    package.handlers = saved[3]
    service.setLevel(service_level)


def import_function(name: str, lines: Lines) -> Any:
    """Import functions/<name>/app.py now (after the runtime's set-up, as Lambda does) and point
    the Powertools handler, which writes to the process's stdout, at `lines.stdout`."""
    module = load_function(name)
    for handler in logging.getLogger(logs.SERVICE).handlers:
        assert isinstance(handler, logging.StreamHandler)
        # Not setStream: it flushes the old stream, which an earlier test may have closed (capsys).
        with handler.lock or contextlib.nullcontext():
            handler.stream = lines.stdout
    return module


def assert_lambda_shaped(lines: Lines) -> None:
    """Every line JSON with the Powertools keys; nothing of ours through the runtime's text handler."""
    records = lines.json()
    assert records, "nothing logged"
    for record in records:
        assert set(record) >= POWERTOOLS_KEYS, record
    assert "intacct_sync" not in lines.runtime.getvalue() and lines.runtime.getvalue() == "", lines.runtime.getvalue()


def filters_of(function: str) -> dict[str, dict[str, Any]]:
    """The MetricFilters on a function's log group (template.yaml), by logical id."""
    resources = load_template()["Resources"]
    return {
        name: r["Properties"]
        for name, r in resources.items()
        if r["Type"] == "AWS::Logs::MetricFilter" and r["Properties"]["LogGroupName"] == {"Ref": f"{function}Logs"}
    }


def matching(filter_properties: dict[str, Any], lines: Lines) -> list[str]:
    return [raw for raw in lines.raw() if cloudwatch_filter.matches(filter_properties["FilterPattern"], raw)]


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wiring.environment.cache_clear()
    parameters.clear_caches()


@pytest.fixture
def cs() -> Iterator[ChannelSandbox]:
    server = ChannelSandbox.start()
    yield server
    server.stop()


@pytest.fixture
def deployed(aws: Stack, sandbox: IntacctSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Intacct credentials secret and settings parameter as the template creates them."""
    secret = aws.secrets.create_secret(
        Name="intacct-sync/test/intacct",
        SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url}),
    )
    ssm = __import__("boto3").client("ssm", region_name="eu-west-1")
    ssm.put_parameter(
        Name="/intacct-sync/test/settings", Type="String", Tier="Advanced", Value=SETTINGS.model_dump_json()
    )
    env = aws.env | {
        "INTACCT_SECRET_ARN": secret["ARN"],
        "SETTINGS_PARAMETER": "/intacct-sync/test/settings",
        "ORDERS_DLQ_URL": aws.orders_dlq_url,
        "PAYMENTS_DLQ_URL": aws.payments_dlq_url,
        "INTACCT_MAX_CONCURRENCY": "2",
    }
    use_env(monkeypatch, env)
    yield env
    wiring.environment.cache_clear()
    parameters.clear_caches()


# --- webhook -------------------------------------------------------------------------------------


def test_webhook_logs_accepted_and_rejected_deliveries_as_json_and_bad_signatures_are_counted(
    lambda_runtime: Lines, aws: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.put_connection(json.loads((ROOT / "local/config/connections/shopify-demo.json").read_text()))
    use_env(monkeypatch, aws.env)
    app = import_function("webhook", lambda_runtime)
    app._intake = None  # built per container: this "container" has this test's stack
    signed = json.loads((ROOT / "events/webhook/shopify/orders_paid_eu_vat_inclusive.json").read_text())
    assert app.lambda_handler(signed, FakeContext())["statusCode"] == 202
    assert_lambda_shaped(lambda_runtime)
    [accepted] = lambda_runtime.named("webhook events")
    assert accepted["level"] == "INFO" and accepted["outcome"] == "accepted"
    assert accepted["connection_id"] == "shopify-demo" and accepted["order_id"]
    assert accepted["correlation_id"]  # API Gateway request id
    bad_signature = filters_of("WebhookFunction")["BadSignatureFilter"]
    assert matching(bad_signature, lambda_runtime) == []

    lambda_runtime.fresh()
    forged = json.loads((ROOT / "events/webhook/shopify/forged_wrong_secret.json").read_text())
    for _ in range(3):
        assert app.lambda_handler(forged, FakeContext())["statusCode"] == 401
    assert_lambda_shaped(lambda_runtime)
    rejected = lambda_runtime.named("webhook rejected")
    assert len(rejected) == 3 and rejected[0]["outcome"] == "bad_signature" and rejected[0]["status"] == 401
    assert rejected[0]["connection_id"] == "shopify-demo" and rejected[0]["reason"]
    assert len(matching(bad_signature, lambda_runtime)) == 3


# --- consumers -----------------------------------------------------------------------------------


def test_order_consumer_logs_each_posting_with_its_order_and_intacct_latency(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    app = import_function("order_consumer", lambda_runtime)
    o = shirt_order("7101")
    aws.queue().publish([order_event(o)])
    assert app.lambda_handler(sqs_lambda_event(aws, "orders"), FakeContext(remaining_ms=60_000)) == {
        "batchItemFailures": []
    }
    assert_lambda_shaped(lambda_runtime)
    [posted] = lambda_runtime.named("posted")
    assert posted["level"] == "INFO" and posted["outcome"] == "posted" and posted["reason"] == "create"
    assert (posted["connection_id"], posted["order_id"], posted["order_number"]) == (
        o.connection_id,
        o.order_id,
        o.order_number,
    )
    requests = lambda_runtime.named("intacct request")
    assert requests and all(isinstance(r["ms"], float | int) for r in requests)
    assert all(r["connection_id"] == o.connection_id and r["order_id"] == o.order_id for r in requests)
    filters = filters_of("OrderConsumerFunction")
    latency = filters["OrderConsumerIntacctLatencyFilter"]
    values = [
        cloudwatch_filter.metric_value(latency["MetricTransformations"][0]["MetricValue"], raw)
        for raw in matching(latency, lambda_runtime)
    ]
    assert len(values) == len(requests) and all(v is not None and v >= 0 for v in values)
    assert matching(filters["OrderConsumerSetupErrorFilter"], lambda_runtime) == []

    # the same order again: handled, nothing written, not counted as posted
    lambda_runtime.fresh()
    aws.queue().publish([order_event(o).model_copy(update={"event_id": "order-7101-again"})])
    app.lambda_handler(sqs_lambda_event(aws, "orders"), FakeContext(remaining_ms=60_000))
    assert lambda_runtime.named("posted") == []
    unchanged = lambda_runtime.named("nothing to post")  # (the test's queue also hands the first message again)
    assert unchanged and all(u["outcome"] == "unchanged" and u["order_number"] == o.order_number for u in unchanged)
    # Powertools Metrics prints its EMF blob to the process's stdout at the end of each invocation.
    blobs = [json.loads(r) for r in capsys.readouterr().out.splitlines() if r.startswith('{"_aws"')]
    assert "OrdersPosted" in blobs[0] and "OrdersHandled" not in blobs[0]
    metrics = blobs[1:]
    assert metrics and all("OrdersPosted" not in m for m in metrics) and any("OrdersHandled" in m for m in metrics)


def test_an_intacct_sign_in_failure_is_parked_with_its_fix_and_raises_the_setup_alarm_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, sandbox: IntacctSandbox
) -> None:
    aws.secrets.put_secret_value(
        SecretId=deployed["INTACCT_SECRET_ARN"],
        SecretString=json.dumps(
            {**sandbox_credentials(), "user_password": "wrong-password", "endpoint_url": sandbox.url}
        ),
    )
    parameters.clear_caches()
    app = import_function("order_consumer", lambda_runtime)
    o = shirt_order("7102")
    aws.queue().publish([order_event(o)])
    assert app.lambda_handler(sqs_lambda_event(aws, "orders"), FakeContext(remaining_ms=60_000)) == {
        "batchItemFailures": []
    }
    assert_lambda_shaped(lambda_runtime)
    [parked] = lambda_runtime.named("parked")
    assert parked["level"] == "WARNING" and parked["outcome"] == "parked"
    assert parked["connection_id"] == o.connection_id and parked["order_number"] == o.order_number
    assert parked["reason"] and "Intacct credentials secret" in parked["fix"]
    assert len(matching(filters_of("OrderConsumerFunction")["OrderConsumerSetupErrorFilter"], lambda_runtime)) == 1


# --- scheduled jobs ------------------------------------------------------------------------------


def _revoked_bigcommerce(aws: Stack, cs: ChannelSandbox) -> None:
    secret = cs.connection_secret("bigcommerce", "demostore", "bc-main")
    aws.put_connection({**secret, "access_token": "revoked-token-0000000000"})


def test_a_revoked_channel_token_on_the_stock_push_logs_the_fix_and_raises_its_alarm_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    _revoked_bigcommerce(aws, cs)
    app = import_function("stock_push", lambda_runtime)
    summary = app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert summary["bc-main"]["complete"] is False
    assert_lambda_shaped(lambda_runtime)
    [failed] = lambda_runtime.named("stock push failed")
    assert failed["level"] == "ERROR" and failed["connection_id"] == "bc-main" and failed["outcome"] == "failed"
    assert failed["reason"] and failed["fix"]
    assert len(matching(filters_of("StockPushFunction")["StockPushFailureFilter"], lambda_runtime)) == 1


def test_a_healthy_stock_push_raises_no_failure_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    aws.put_connection(cs.connection_secret("bigcommerce", "demostore", "bc-main"))
    app = import_function("stock_push", lambda_runtime)
    assert app.lambda_handler({}, FakeContext(remaining_ms=120_000))["bc-main"]["complete"] is True
    assert_lambda_shaped(lambda_runtime)
    [run] = lambda_runtime.named("stock push")
    assert run["connection_id"] == "bc-main" and run["level"] == "INFO"
    assert matching(filters_of("StockPushFunction")["StockPushFailureFilter"], lambda_runtime) == []
    assert lambda_runtime.named("intacct request")


def test_a_revoked_channel_token_on_the_writeback_logs_each_order_and_raises_its_alarm_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    _revoked_bigcommerce(aws, cs)
    DynamoLedger(aws.table, client=aws.dynamodb).put(
        LedgerEntry(
            connection_id="bc-main",
            order_id="219",
            order_number="219",
            channel="bigcommerce",
            status="invoiced",
            document_key="Sales Invoice-INV0099",
            ar_record_key="3999",
        )
    )
    app = import_function("writeback", lambda_runtime)
    app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert_lambda_shaped(lambda_runtime)
    failures = lambda_runtime.named("order not written back") + lambda_runtime.named("writeback failed")
    assert failures, lambda_runtime.json()
    assert all(f["connection_id"] == "bc-main" and f["reason"] and f["fix"] for f in failures)
    assert matching(filters_of("WritebackFunction")["WritebackFailureFilter"], lambda_runtime)


def test_a_revoked_channel_token_on_the_reconcile_poll_logs_the_fix_and_raises_its_alarm_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    _revoked_bigcommerce(aws, cs)
    app = import_function("reconcile", lambda_runtime)
    summary = app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert str(summary["bc-main"]).startswith("failed")
    assert_lambda_shaped(lambda_runtime)
    [failed] = lambda_runtime.named("reconcile failed")
    assert failed["level"] == "ERROR" and failed["connection_id"] == "bc-main" and failed["fix"]
    assert len(matching(filters_of("ReconcileFunction")["ReconcileFailureFilter"], lambda_runtime)) == 1


def test_a_second_overlapping_run_of_a_scheduled_job_skips(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    from intacct_sync.lease import JobLease

    aws.put_connection(cs.connection_secret("bigcommerce", "demostore", "bc-main"))
    app = import_function("stock_push", lambda_runtime)
    with JobLease(aws.table, client=aws.dynamodb).held("stock_push", 600) as ours:
        assert ours
        assert app.lambda_handler({}, FakeContext(remaining_ms=120_000)) == {
            "skipped": "the previous run is still going"
        }
    assert [line["outcome"] for line in lambda_runtime.json() if "skipped" in line["message"]] == ["skipped"]
    assert cs.stock_writes("bigcommerce", "demostore") == []
    assert app.lambda_handler({}, FakeContext(remaining_ms=120_000))["bc-main"]["complete"] is True


def test_an_overlapping_reconcile_run_skips_without_raising_the_failure_alarm(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    """A skipped overlap is normal (a slow run, EventBridge's retry): not a reconcile failure."""
    from intacct_sync.lease import JobLease

    aws.put_connection(cs.connection_secret("bigcommerce", "demostore", "bc-main"))
    app = import_function("reconcile", lambda_runtime)
    with JobLease(aws.table, client=aws.dynamodb).held("reconcile", 600):
        assert app.lambda_handler({}, FakeContext(remaining_ms=120_000)) == {
            "skipped": "the previous run is still going"
        }
    assert_lambda_shaped(lambda_runtime)
    [skipped] = [line for line in lambda_runtime.json() if "skipped" in line["message"]]
    assert skipped["outcome"] == "skipped"
    assert matching(filters_of("ReconcileFunction")["ReconcileFailureFilter"], lambda_runtime) == []


def test_a_poison_order_the_poll_skips_raises_the_reconcile_alarm_metric() -> None:
    """The skip lines the filter names are the ones the code logs (their messages are literals)."""
    reconcile = (ROOT / "layers/shared/intacct_sync/intake/reconcile.py").read_text()
    base = (ROOT / "layers/shared/intacct_sync/channels/api/base.py").read_text()
    pattern = filters_of("ReconcileFunction")["ReconcileFailureFilter"]["FilterPattern"]
    for message, source in (
        ("reconcile skipped an event the queue cannot take", reconcile),
        ("poll skipped an order the adapter cannot read", base),
    ):
        assert f'"{message}"' in source
        line = json.dumps({"level": "ERROR", "message": message, "outcome": "skipped", "connection_id": "c"})
        assert cloudwatch_filter.matches(pattern, line)


# --- every filter is exercised -------------------------------------------------------------------


def test_an_intacct_outage_opens_the_breaker_and_a_waiting_payment_reports_its_age(
    lambda_runtime: Lines,
    deployed: dict[str, str],
    aws: Stack,
    sandbox: IntacctSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 13: the consumers' "intacct circuit open" lines (IntacctOutage alarm) and the
    "oldest waiting payment" line (PaymentWaitSeconds, PaymentWait alarm), as Lambda logs them."""
    from intacct_sync.posting import breaker
    from local.intacct_sandbox import Fault

    sandbox.inject(Fault(kind="http_error", status=503, times=None))
    app = import_function("order_consumer", lambda_runtime)
    o = shirt_order("7103")
    aws.queue().publish([order_event(o)])
    for _ in range(breaker.OPEN_AFTER + 1):
        app.lambda_handler(sqs_lambda_event(aws, "orders"), FakeContext(remaining_ms=60_000))
    assert_lambda_shaped(lambda_runtime)
    opened = lambda_runtime.named("intacct circuit open")
    assert opened and all(r["level"] == "WARNING" and r["outcome"] in ("opened", "deferred") for r in opened)
    outage = filters_of("OrderConsumerFunction")["OrderConsumerIntacctOutageFilter"]
    assert len(matching(outage, lambda_runtime)) == len(opened)
    assert matching(filters_of("OrderConsumerFunction")["OrderConsumerPaymentWaitFilter"], lambda_runtime) == []

    # Intacct answers again (the breaker is shared: closed for the payment consumer too).
    sandbox.clear_faults()
    breaker.IntacctBreaker(aws.table, client=aws.dynamodb).closed()
    lambda_runtime.fresh()
    payments = import_function("payment_consumer", lambda_runtime)
    waiting = shirt_order("7104")
    aws.queue().publish([payment_event(waiting, "p-7104", str(waiting.total))])
    assert payments.lambda_handler(sqs_lambda_event(aws, "payments"), FakeContext(remaining_ms=60_000)) == {
        "batchItemFailures": []
    }
    monkeypatch.setattr(breaker, "_WAITS_REPORTED", [0.0])  # the next check (every 5 minutes per container)
    payments.lambda_handler({"Records": []}, FakeContext(remaining_ms=60_000))
    [oldest] = lambda_runtime.named("oldest waiting payment")
    assert oldest["order_id"] == waiting.order_id and oldest["waiting"] == "payment:p-7104" and oldest["reason"]
    wait = filters_of("PaymentConsumerFunction")["PaymentConsumerPaymentWaitFilter"]
    [raw] = matching(wait, lambda_runtime)
    assert cloudwatch_filter.metric_value(wait["MetricTransformations"][0]["MetricValue"], raw) == oldest["waiting_s"]


# --- payouts (issue 14) --------------------------------------------------------------------------


def test_a_shopify_token_without_the_payouts_scope_logs_the_fix_and_raises_the_payout_alarm_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    secret = cs.connection_secret("shopify", "demo.myshopify.com", "shop-main")
    aws.put_connection({**secret, "access_token": "shpat_sandbox_readonly_000000000002"})  # read_orders only
    app = import_function("payouts", lambda_runtime)
    summary = app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert summary["shop-main"]["complete"] is False
    assert_lambda_shaped(lambda_runtime)
    [failed] = lambda_runtime.named("payouts failed")
    assert failed["connection_id"] == "shop-main" and failed["level"] == "ERROR"
    assert "read_shopify_payments_payouts" in failed["fix"]
    assert len(matching(filters_of("PayoutsFunction")["PayoutFailureFilter"], lambda_runtime)) == 1
    assert matching(filters_of("PayoutsFunction")["PayoutWaitingTooLongFilter"], lambda_runtime) == []


def test_a_payout_waiting_past_max_wait_hours_logs_its_orders_and_raises_the_wait_alarm_metric(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox
) -> None:
    aws.put_connection(cs.connection_secret("shopify", "demo.myshopify.com", "shop-main"))
    now = datetime.now(UTC)
    payout = add_payout_to(
        cs,
        "demo.myshopify.com",
        [{"type": "CHARGE", "order_id": 450789469, "transaction_id": 389404470, "fee": "12.52"}],
        issued_at=(now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    # Seen two days ago and waiting since: the order's payment never reached Intacct.
    DynamoPayoutStore(aws.table, client=aws.dynamodb).put(
        PayoutRecord(
            connection_id="shop-main",
            payout_id=str(payout["id"]),
            issued_at=now - timedelta(days=2),
            net=payout["net"],
            currency="USD",
            first_seen=now - timedelta(days=2),
            waiting_since=now - timedelta(days=2),
        )
    )
    app = import_function("payouts", lambda_runtime)
    summary = app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert summary["shop-main"]["waiting"] == 1 and summary["shop-main"]["waiting_too_long"] == 1
    assert_lambda_shaped(lambda_runtime)
    [late] = lambda_runtime.named("payout waiting too long")
    assert late["payout_id"] == str(payout["id"]) and late["waited_hours"] >= 48
    assert "#1001" in late["reason"] and late["fix"]
    assert len(matching(filters_of("PayoutsFunction")["PayoutWaitingTooLongFilter"], lambda_runtime)) == 1
    assert matching(filters_of("PayoutsFunction")["PayoutFailureFilter"], lambda_runtime) == []


def test_a_reconcile_run_alone_reports_the_oldest_waiting_payment(
    lambda_runtime: Lines, deployed: dict[str, str], aws: Stack
) -> None:
    """Issue 13: no message flows (the consumers do not run), yet the wait-age metric is there:
    the scheduled reconcile logs the oldest wait on every run."""
    from datetime import UTC, datetime, timedelta

    from intacct_sync.posting import waiting

    o = shirt_order("7105")
    entry = LedgerEntry(connection_id=o.connection_id, order_id=o.order_id, channel=o.channel)
    since = datetime.now(UTC) - timedelta(hours=5)
    assert waiting.wait(entry, payment_event(o, "p-7105", str(o.total)), "the order is not posted yet", None, now=since)
    DynamoLedger(aws.table, client=aws.dynamodb, retention_days=0).put(entry)
    app = import_function("reconcile", lambda_runtime)
    assert app.lambda_handler({}, FakeContext(remaining_ms=120_000)) == {}  # no connection to poll
    assert_lambda_shaped(lambda_runtime)
    [oldest] = lambda_runtime.named("oldest waiting payment")
    assert oldest["order_id"] == o.order_id and oldest["waiting"] == "payment:p-7105"
    assert 5 * 3600 <= oldest["waiting_s"] < 5 * 3600 + 600
    wait = filters_of("ReconcileFunction")["ReconcilePaymentWaitFilter"]
    [raw] = matching(wait, lambda_runtime)
    assert cloudwatch_filter.metric_value(wait["MetricTransformations"][0]["MetricValue"], raw) == oldest["waiting_s"]
    alarm = load_template()["Resources"]["PaymentWaitAlarm"]["Properties"]
    assert wait["MetricTransformations"][0]["MetricName"] == alarm["MetricName"]


EXERCISED = {
    "PayoutFailureFilter": test_a_shopify_token_without_the_payouts_scope_logs_the_fix_and_raises_the_payout_alarm_metric,
    "PayoutWaitingTooLongFilter": test_a_payout_waiting_past_max_wait_hours_logs_its_orders_and_raises_the_wait_alarm_metric,
    "BadSignatureFilter": test_webhook_logs_accepted_and_rejected_deliveries_as_json_and_bad_signatures_are_counted,
    "OrderConsumerIntacctLatencyFilter": test_order_consumer_logs_each_posting_with_its_order_and_intacct_latency,
    "OrderConsumerSetupErrorFilter": test_an_intacct_sign_in_failure_is_parked_with_its_fix_and_raises_the_setup_alarm_metric,
    "StockPushFailureFilter": test_a_revoked_channel_token_on_the_stock_push_logs_the_fix_and_raises_its_alarm_metric,
    "WritebackFailureFilter": test_a_revoked_channel_token_on_the_writeback_logs_each_order_and_raises_its_alarm_metric,
    "ReconcileFailureFilter": test_a_revoked_channel_token_on_the_reconcile_poll_logs_the_fix_and_raises_its_alarm_metric,
    "OrderConsumerIntacctOutageFilter": test_an_intacct_outage_opens_the_breaker_and_a_waiting_payment_reports_its_age,
    "PaymentConsumerPaymentWaitFilter": test_an_intacct_outage_opens_the_breaker_and_a_waiting_payment_reports_its_age,
    "ReconcilePaymentWaitFilter": test_a_reconcile_run_alone_reports_the_oldest_waiting_payment,
}
# The same pattern on another log group: the payment consumer logs through the same consumer code
# ("parked", "intacct request"), stock push and writeback through the same Intacct client.
SAME_PATTERN_AS = {
    "PaymentConsumerSetupErrorFilter": "OrderConsumerSetupErrorFilter",
    "PaymentConsumerIntacctLatencyFilter": "OrderConsumerIntacctLatencyFilter",
    "StockPushIntacctLatencyFilter": "OrderConsumerIntacctLatencyFilter",
    "WritebackIntacctLatencyFilter": "OrderConsumerIntacctLatencyFilter",
    "PaymentConsumerIntacctOutageFilter": "OrderConsumerIntacctOutageFilter",
    "OrderConsumerPaymentWaitFilter": "PaymentConsumerPaymentWaitFilter",
}
SETUP_ERROR_FILTERS = {
    "StockPushSetupErrorFilter": "stock push failed",
    "WritebackSetupErrorFilter": "writeback failed",
}


def test_every_metric_filter_in_the_template_is_checked_against_real_lines() -> None:
    resources = load_template()["Resources"]
    names = {n for n, r in resources.items() if r["Type"] == "AWS::Logs::MetricFilter"}
    assert names == set(EXERCISED) | set(SAME_PATTERN_AS) | set(SETUP_ERROR_FILTERS)
    for name, twin in SAME_PATTERN_AS.items():
        assert resources[name]["Properties"]["FilterPattern"] == resources[twin]["Properties"]["FilterPattern"]
        assert (
            resources[name]["Properties"]["MetricTransformations"]
            == resources[twin]["Properties"]["MetricTransformations"]
        )


@pytest.mark.parametrize("name", sorted(SETUP_ERROR_FILTERS))
def test_intacct_setup_errors_of_scheduled_jobs_match_their_filter(  # noqa: PLR0917 - pytest fixtures
    name: str, lambda_runtime: Lines, deployed: dict[str, str], aws: Stack, cs: ChannelSandbox, sandbox: IntacctSandbox
) -> None:
    """Stock push and writeback sign in to Intacct: a wrong password there is a setup error too."""
    aws.put_connection(cs.connection_secret("bigcommerce", "demostore", "bc-main"))
    DynamoLedger(aws.table, client=aws.dynamodb).put(
        LedgerEntry(
            connection_id="bc-main",
            order_id="219",
            channel="bigcommerce",
            status="invoiced",
            document_key="Sales Invoice-INV0099",
            ar_record_key="3999",
        )
    )
    aws.secrets.put_secret_value(
        SecretId=deployed["INTACCT_SECRET_ARN"],
        SecretString=json.dumps(
            {**sandbox_credentials(), "user_password": "wrong-password", "endpoint_url": sandbox.url}
        ),
    )
    parameters.clear_caches()
    function = "stock_push" if name.startswith("Stock") else "writeback"
    app = import_function(function, lambda_runtime)
    app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert_lambda_shaped(lambda_runtime)
    [failed] = lambda_runtime.named(SETUP_ERROR_FILTERS[name])
    assert "Intacct credentials secret" in failed["fix"]
    logical = "StockPushFunction" if function == "stock_push" else "WritebackFunction"
    assert len(matching(filters_of(logical)[name], lambda_runtime)) == 1


def test_no_module_logs_around_the_package_logger() -> None:
    """Every module logs through `logging.getLogger(__name__)` under intacct_sync (which
    `function_logger` routes), or through the handler's Powertools logger: no print, no root logger."""
    offenders = []
    for path in (ROOT / "layers/shared/intacct_sync").rglob("*.py"):
        if "cli" in path.parts:
            continue  # the CLIs talk to a terminal
        text = path.read_text()
        for bad in ("logging.getLogger()", "logging.info(", "logging.warning(", "logging.error(", "print("):
            if bad in text:
                offenders.append(f"{path.relative_to(ROOT)}: {bad}")
    for path in (ROOT / "functions").rglob("*.py"):
        text = path.read_text()
        if "Logger(" in text or "getLogger" in text:
            offenders.append(f"{path.relative_to(ROOT)}: builds its own logger instead of logs.function_logger()")
    assert offenders == []
