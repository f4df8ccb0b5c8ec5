"""The consumer Lambda handlers as template.yaml wires them: SQS FIFO records in (moto), the
Intacct sandbox over HTTP, partial batch failures in FIFO order, and parking in the DLQ with the
reason, then replay after the fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from intacct_sync import wiring
from intacct_sync.cli import ops
from intacct_sync.ledger import DynamoLedger
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.settings import DEFAULT_SETTINGS
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from tests.aws import FakeContext, Stack, load_function, sqs_lambda_event
from tests.integration.test_posting_consumers import order_event, payment_event, shirt_order
from tests.unit.posting.factories import line


@pytest.fixture
def stack(aws: Stack, sandbox: IntacctSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    secret = aws.secrets.create_secret(
        Name="intacct-sync/test/intacct",
        SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url}),
    )
    ssm = __import__("boto3").client("ssm", region_name="eu-west-1")
    # The demo's settings (a warehouse rule for the sandbox's inventory items).
    ssm.put_parameter(
        Name="/intacct-sync/test/settings", Type="String", Tier="Advanced", Value=DEFAULT_SETTINGS.model_dump_json()
    )
    env = aws.env | {
        "INTACCT_SECRET_ARN": secret["ARN"],
        "SETTINGS_PARAMETER": "/intacct-sync/test/settings",
        "ORDERS_DLQ_URL": aws.orders_dlq_url,
        "PAYMENTS_DLQ_URL": aws.payments_dlq_url,
        "INTACCT_MAX_CONCURRENCY": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wiring.environment.cache_clear()
    parameters.clear_caches()
    yield aws
    wiring.environment.cache_clear()
    parameters.clear_caches()


def run(stack: Stack, kind: str, events: list[CanonicalEvent]) -> dict[str, Any]:
    stack.queue().publish(events)
    handler = load_function("order_consumer" if kind == "orders" else "payment_consumer").lambda_handler
    return handler(sqs_lambda_event(stack, kind), FakeContext(remaining_ms=60_000))


def test_orders_and_payments_flow_through_the_handlers_into_intacct(stack: Stack, sandbox: IntacctSandbox) -> None:
    o = shirt_order("5001")
    assert run(stack, "orders", [order_event(o)]) == {"batchItemFailures": []}
    assert run(stack, "payments", [payment_event(o, "p-5001", str(o.total))]) == {"batchItemFailures": []}
    entry = DynamoLedger(stack.table, client=stack.dynamodb).get(o.connection_id, o.order_id)
    assert entry is not None and entry.status == "paid" and entry.document_key == "Sales Invoice-5001"
    snap = sandbox.snapshot()
    assert len(snap["invoices"]) == 1 and len(snap["payments"]) == 1


def test_a_payment_before_its_order_waits_in_the_ledger_and_follows_the_invoice(
    stack: Stack, sandbox: IntacctSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    o = shirt_order("5002")
    out = run(stack, "payments", [payment_event(o, "p-5002", str(o.total))])
    assert out == {"batchItemFailures": []}, "done on the queue: it waits in the ledger, spending no receive"
    assert sandbox.snapshot()["payments"] == []
    args = ["--table", stack.table, "status", "--connection", o.connection_id, "--order", o.order_id]
    assert ops.main(args, clients={"dynamodb": stack.dynamodb}) == 0
    assert "waiting payment:p-5002" in capsys.readouterr().out
    stack.drain("payments")
    # The order consumer posts the invoice and queues the waiting payment again (wiring's forward).
    assert run(stack, "orders", [order_event(o)]) == {"batchItemFailures": []}
    handler = load_function("payment_consumer").lambda_handler
    assert handler(sqs_lambda_event(stack, "payments"), FakeContext(remaining_ms=60_000)) == {"batchItemFailures": []}
    entry = DynamoLedger(stack.table, client=stack.dynamodb).get(o.connection_id, o.order_id)
    assert entry is not None and entry.status == "paid" and entry.waiting == {}
    assert len(sandbox.snapshot()["payments"]) == 1


def test_a_permanent_failure_is_parked_in_the_dlq_with_its_reason_and_replayed_after_the_fix(
    stack: Stack, sandbox: IntacctSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = shirt_order("5003", lines=[line("1", "NEW-SKU", "1", "10.00")], total_tax="0")
    good = shirt_order("5004")
    out = run(stack, "orders", [order_event(bad), order_event(good)])
    assert out == {"batchItemFailures": []}, "parked, not retried; the good order went through"
    parked = stack.sqs.receive_message(
        QueueUrl=stack.orders_dlq_url, MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert len(parked) == 1
    assert "NEW-SKU is not an Intacct item" in parked[0]["MessageAttributes"]["parked_reason"]["StringValue"]
    assert ops.main(["--table", stack.table, "parked"], clients={"dynamodb": stack.dynamodb}) == 0
    assert "Inventory Control > Items" in capsys.readouterr().out

    # The fix: an item rule maps the SKU (settings take effect when the 5-minute cache expires);
    # then the parked message is replayed.
    fixed = DEFAULT_SETTINGS.model_dump(mode="json")
    fixed["items"]["sku_map"] = {"NEW-SKU": "MUG-01"}
    __import__("boto3").client("ssm", region_name="eu-west-1").put_parameter(
        Name="/intacct-sync/test/settings", Type="String", Tier="Advanced", Value=json.dumps(fixed), Overwrite=True
    )
    parameters.clear_caches()
    args = ["replay", "--queue", "orders", "--dlq-url", stack.orders_dlq_url, "--queue-url", stack.orders_url]
    assert ops.main(args, clients={"sqs": stack.sqs}) == 0
    handler = load_function("order_consumer").lambda_handler
    assert handler(sqs_lambda_event(stack, "orders"), FakeContext()) == {"batchItemFailures": []}
    entry = DynamoLedger(stack.table, client=stack.dynamodb).get(bad.connection_id, bad.order_id)
    assert entry is not None and entry.status == "invoiced" and entry.last_error is None


def test_fifo_order_holds_within_an_order_when_one_event_must_wait(stack: Stack, sandbox: IntacctSandbox) -> None:
    from local.intacct_sandbox import Fault

    o = shirt_order("5005")
    other = shirt_order("5006")
    sandbox.inject(Fault(kind="http_error", status=503, times=None, function="create_sotransaction"))
    v0, v1 = order_event(o, version=0), order_event(o, version=1)
    out = run(stack, "orders", [v0, v1, order_event(other)])
    failed = [f["itemIdentifier"] for f in out["batchItemFailures"]]
    assert len(failed) == 3, "v0 waits, so v1 behind it waits too; the other order waits on the outage"
    sandbox.clear_faults()
    handler = load_function("order_consumer").lambda_handler
    for _ in range(3):  # moto hands out the redelivered FIFO records over a few receives
        assert handler(sqs_lambda_event(stack, "orders"), FakeContext()) == {"batchItemFailures": []}
    assert len(sandbox.snapshot()["invoices"]) == 2


def test_the_ops_cli_shows_an_orders_sync_state(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    o = shirt_order("5007")
    run(stack, "orders", [order_event(o)])
    run(stack, "payments", [payment_event(o, "p-5007", "10.00")])
    args = ["--table", stack.table, "status", "--connection", o.connection_id, "--order", o.order_id]
    assert ops.main(args, clients={"dynamodb": stack.dynamodb}) == 0
    text = capsys.readouterr().out
    assert "Sales Invoice-5007" in text and "partially_paid" in text and "payment p-5007: 10.00" in text
