"""A WooCommerce order first seen paid: two AWS calls at the webhook (claim, one send to the orders
queue, the payment carried behind its order), the order consumer hands the payment on to the
payments queue, and the Intacct sandbox ends with one invoice and that payment applied once,
whatever the webhook went through (a redelivery, a crash between its claim and its send).

The real functions (webhook, order and payment consumers) run against moto and the Intacct sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from intacct_sync import wiring
from intacct_sync.connections import SecretsManagerConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.ledger import DynamoLedger
from intacct_sync.models.events import CanonicalEvent
from local import make_events
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from tests.aws import FakeContext, Stack, load_function, sqs_lambda_event
from tests.fixtures.channels import sign
from tests.integration.test_sqs_events import SETTINGS_PARAMETER, settings_for_the_fixture_orders

CONNECTION = make_events.CONNECTION_IDS["woocommerce"]
BODY = sign.load("woocommerce", "order_updated_stripe_paid.json")
ORDER_ID = str(json.loads(BODY)["id"])
TOTAL = "28.44"


@pytest.fixture
def stack(aws: Stack, sandbox: IntacctSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    secret = aws.secrets.create_secret(
        Name="intacct-sync/test/intacct",
        SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url}),
    )
    ssm = __import__("boto3").client("ssm", region_name="eu-west-1")
    ssm.put_parameter(Name=SETTINGS_PARAMETER, Type="String", Tier="Advanced", Value=settings_for_the_fixture_orders())
    env = aws.env | {
        "INTACCT_SECRET_ARN": secret["ARN"],
        "SETTINGS_PARAMETER": SETTINGS_PARAMETER,
        "ORDERS_DLQ_URL": aws.orders_dlq_url,
        "PAYMENTS_DLQ_URL": aws.payments_dlq_url,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    aws.put_connection(make_events.connection_secret("woocommerce"))
    wiring.environment.cache_clear()
    parameters.clear_caches()
    yield aws
    wiring.environment.cache_clear()
    parameters.clear_caches()


class Calls:
    """The AWS operations made on the stack's clients, in order."""

    def __init__(self, stack: Stack) -> None:
        self.names: list[str] = []
        for client in (stack.dynamodb, stack.sqs, stack.s3):
            client.meta.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(f"{model.service_model.endpoint_prefix}.{model.name}")

    def take(self) -> list[str]:
        out, self.names = self.names, []
        return out


class Crash(BaseException):
    """The runtime dying between the claim and the send."""


class CrashingQueue:
    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        raise Crash


def intake(stack: Stack, queue: Any = None) -> WebhookIntake:
    return WebhookIntake(
        SecretsManagerConnections(stack.prefix, client=stack.secrets),
        EventPipeline(stack.state(), queue or stack.queue()),
    )


def deliver(wh: WebhookIntake) -> Any:
    headers = {k.lower(): v for k, v in sign.woocommerce_headers(BODY, "order.updated").items()}
    return wh.handle(CONNECTION, headers, BODY)


def queued(stack: Stack, queue: str) -> list[str]:
    """(type) of each message on `queue`, read without taking them."""
    event = sqs_lambda_event(stack, queue)
    return [r["messageAttributes"]["type"]["stringValue"] for r in event["Records"]]


def run_consumers(stack: Stack) -> None:
    """The order, then the payment consumer, until both queues are empty (as Lambda would)."""
    orders = load_function("order_consumer").lambda_handler
    payments = load_function("payment_consumer").lambda_handler
    for _ in range(10):
        busy = False
        for queue, handler in (("orders", orders), ("payments", payments)):
            event = sqs_lambda_event(stack, queue)
            if not event["Records"]:
                continue
            busy = True
            assert handler(event, FakeContext(remaining_ms=60_000)) == {"batchItemFailures": []}
            url = stack.orders_url if queue == "orders" else stack.payments_url
            for record in event["Records"]:
                stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
        if not busy:
            return
    raise AssertionError("the queues never emptied")


def assert_one_invoice_and_the_payment_applied_once(stack: Stack, sandbox: IntacctSandbox) -> None:
    snap = sandbox.snapshot()
    assert len(snap["invoices"]) == 1 and len(snap["payments"]) == 1, (snap["invoices"], snap["payments"])
    entry = DynamoLedger(stack.table, client=stack.dynamodb).get(CONNECTION, ORDER_ID)
    assert entry is not None and entry.status == "paid" and entry.last_error is None, entry
    assert str(snap["invoices"][0]["TOTAL"]) == TOTAL
    assert not entry.waiting
    for dlq in (stack.orders_dlq_url, stack.payments_dlq_url):
        assert stack.sqs.receive_message(QueueUrl=dlq).get("Messages", []) == []


def test_the_order_and_its_payment_are_one_claim_and_one_send_and_the_payment_is_applied(
    stack: Stack, sandbox: IntacctSandbox
) -> None:
    wh = intake(stack)
    calls = Calls(stack)  # (the connection secret's read is not counted: cached per container)
    answer = deliver(wh)
    assert answer.status == 202 and answer.body["events"] == 2
    assert calls.take() == ["dynamodb.UpdateItem", "sqs.SendMessageBatch"]
    assert queued(stack, "orders") == ["order", "payment"], "the payment rides behind its order"
    assert queued(stack, "payments") == []
    run_consumers(stack)
    assert_one_invoice_and_the_payment_applied_once(stack, sandbox)


def test_a_redelivery_sends_both_again_and_the_payment_is_still_applied_once(
    stack: Stack, sandbox: IntacctSandbox
) -> None:
    wh = intake(stack)
    assert deliver(wh).status == 202
    assert deliver(wh).body == {"status": "duplicate"}  # claims not known to be sent: sent again, directly
    assert sorted(queued(stack, "orders")) == ["order", "payment"]  # FIFO dedup dropped the copies
    run_consumers(stack)
    assert_one_invoice_and_the_payment_applied_once(stack, sandbox)
    assert deliver(wh).body == {"status": "duplicate"}
    assert queued(stack, "orders") == [] and queued(stack, "payments") == [], "marked sent: nothing more"


def test_a_crash_between_claim_and_send_loses_nothing_and_applies_the_payment_once(
    stack: Stack, sandbox: IntacctSandbox
) -> None:
    with pytest.raises(Crash):
        deliver(intake(stack, CrashingQueue()))
    assert queued(stack, "orders") == [] and queued(stack, "payments") == []
    # WooCommerce never retries: what sends the claimed, unsent events is the poll (as in
    # test_webhook_call_budget) or the next delivery of the same state, as here.
    assert deliver(intake(stack)).body == {"status": "duplicate"}
    assert queued(stack, "orders") == ["order"] and queued(stack, "payments") == ["payment"]
    run_consumers(stack)
    assert_one_invoice_and_the_payment_applied_once(stack, sandbox)
