"""Pause / resume posting per connection (issue 14): the consumer handlers as template.yaml wires
them (moto SQS FIFO and state table, the Intacct sandbox over HTTP), the `ops` CLI, and `doctor`.

A paused connection's orders and payments are held in the state table (reported done on the
queue: no receive is spent, nothing reaches the DLQ), other connections post as usual, and
`ops resume` queues the held events again in their order, after which they post exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from intacct_sync import pause as pause_mod
from intacct_sync.cli import ops
from intacct_sync.ledger import DynamoLedger
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.pause import PauseGate, PauseStore
from local.intacct_sandbox import IntacctSandbox
from tests.aws import FakeContext, Stack, load_function, sqs_lambda_event
from tests.integration import test_consumer_handlers as _handlers
from tests.integration.test_posting_consumers import order_event, payment_event, shirt_order

stack = _handlers.stack  # the fixture: moto's stack with the Intacct secret and settings (SSM)


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    pause_mod._GATES.clear()  # a warm container's pause cache must not leak between tests
    yield
    pause_mod._GATES.clear()


def handle(stack: Stack, kind: str) -> dict[str, Any]:
    handler = load_function("order_consumer" if kind == "orders" else "payment_consumer").lambda_handler
    return handler(sqs_lambda_event(stack, kind), FakeContext(remaining_ms=60_000))


def consume(stack: Stack, kind: str) -> None:
    """Receive, handle and delete until the queue is empty (what Lambda's event source does)."""
    for _ in range(10):
        got = stack.sqs.receive_message(
            QueueUrl=stack.orders_url if kind == "orders" else stack.payments_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=30,
        ).get("Messages", [])
        if not got:
            return
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {
                        k: {"stringValue": v.get("StringValue"), "dataType": "String"}
                        for k, v in m.get("MessageAttributes", {}).items()
                    },
                }
                for m in got
            ]
        }
        handler = load_function("order_consumer" if kind == "orders" else "payment_consumer").lambda_handler
        out = handler(event, FakeContext(remaining_ms=60_000))
        failed = {f["itemIdentifier"] for f in out["batchItemFailures"]}
        url = stack.orders_url if kind == "orders" else stack.payments_url
        for m in got:
            if m["MessageId"] not in failed:
                stack.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    raise AssertionError("the queue did not drain")


def ops_main(stack: Stack, *args: str) -> int:
    """`intacct-sync ops ...` as an operator runs it; the queues, bucket and connection prefix
    come from the environment the fixture sets (ORDERS_QUEUE_URL, ...), as the local stack prints them."""
    clients = {"dynamodb": stack.dynamodb, "sqs": stack.sqs, "s3": stack.s3, "secretsmanager": stack.secrets}
    return ops.main(["--table", stack.table, *args], clients=clients, sleep=lambda _s: None)


def test_a_paused_store_is_held_while_others_post_and_resume_posts_it_once_in_order(
    stack: Stack,
    sandbox: IntacctSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paused = shirt_order("7001")  # connection shop-1 (the factories' connection)
    other = shirt_order("7002", connection_id="shop-2")
    assert ops_main(stack, "pause", "--connection", "shop-1", "--reason", "month-end clean-up") == 0
    assert "connection shop-1 paused" in capsys.readouterr().out

    v0, v1 = order_event(paused, version=0), order_event(paused, version=1)
    stack.queue().publish([v0, v1, order_event(other)])
    consume(stack, "orders")
    stack.queue().publish([payment_event(paused, "p-7001", str(paused.total))])
    consume(stack, "payments")

    snap = sandbox.snapshot()
    assert len(snap["invoices"]) == 1, "only the other connection's order posted"
    assert snap["payments"] == []
    ledger = DynamoLedger(stack.table, client=stack.dynamodb)
    assert ledger.get("shop-1", "7001") is None, "nothing of the paused store touched the ledger"
    store = PauseStore(stack.table, client=stack.dynamodb)
    assert store.count_held("shop-1") == 3

    # Visible: the connections listing, an order's status, the doctor.
    capsys.readouterr()  # the handlers' metrics lines
    assert ops_main(stack, "connections", "--json") == 0
    rows = {r["connection"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["shop-1"]["state"] == "paused" and rows["shop-1"]["held"] == 3
    assert rows["shop-1"]["reason"] == "month-end clean-up"
    assert ops_main(stack, "status", "--connection", "shop-2", "--order-id", other.order_id) == 0
    assert "PAUSED" not in capsys.readouterr().out

    assert ops_main(stack, "resume", "--connection", "shop-1") == 0
    assert "3 held event(s) queued again" in capsys.readouterr().out
    assert store.get("shop-1") is None and store.count_held("shop-1") == 0
    consume(stack, "orders")
    consume(stack, "payments")
    entry = ledger.get("shop-1", "7001")
    assert entry is not None and entry.status == "paid"
    snap = sandbox.snapshot()
    assert len(snap["invoices"]) == 2 and len(snap["payments"]) == 1, "each posted exactly once"
    assert not stack.sqs.receive_message(QueueUrl=stack.orders_dlq_url).get("Messages"), "nothing parked"


def test_ops_status_and_doctor_show_a_pause(
    stack: Stack,
    sandbox: IntacctSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    o = shirt_order("7003")
    stack.queue().publish([order_event(o)])
    consume(stack, "orders")
    assert ops_main(stack, "pause", "--connection", "shop-1", "--reason", "re-mapping SKUs") == 0
    pause_mod._GATES.clear()  # the container's pause cache (CACHE_S) has expired
    stack.queue().publish([payment_event(o, "p-7003", str(o.total))])
    consume(stack, "payments")
    capsys.readouterr()
    assert ops_main(stack, "status", "--connection", "shop-1", "--order-id", o.order_id) == 0
    out = capsys.readouterr().out
    assert "PAUSED since" in out and "re-mapping SKUs" in out and "1 event(s) of this connection held" in out
    assert "intacct-sync ops resume --connection shop-1" in out

    assert ops_main(stack, "pause", "--connection", "shop-1") == 0
    assert "already paused" in capsys.readouterr().out, "a second pause keeps the first (and its id)"


def test_while_resuming_new_events_stay_behind_the_requeued_ones(stack: Stack) -> None:
    """The gate itself: during `resuming`, only messages carrying the pause id pass."""
    store = PauseStore(stack.table, client=stack.dynamodb)
    pause, _ = store.pause("shop-1", reason="r", by="test")
    o = shirt_order("7004")
    gate = PauseGate(store, cache_s=0)
    queue = stack.queue()
    decode = stack_decoder(stack)

    queue.publish([order_event(o, version=0)])
    event = sqs_lambda_event(stack, "orders")
    kept, failures = gate.hold_paused(event, decode=decode, queue="orders")
    assert kept["Records"] == [] and failures == []
    # The same message delivered again (the hold written, the handler's answer lost): held once.
    kept, failures = gate.hold_paused(event, decode=decode, queue="orders")
    assert kept["Records"] == [] and store.count_held("shop-1") == 1
    stack.drain("orders")

    store.set_resuming(pause)
    held = store.read_held(next(store.held_keys("shop-1")))
    pause_mod.requeue(held, queue, pause.id)
    queue.publish([order_event(o, version=1)])  # new while resuming
    event = sqs_lambda_event(stack, "orders")
    assert len(event["Records"]) == 2
    kept, failures = gate.hold_paused(event, decode=decode, queue="orders")
    assert [r["messageAttributes"]["resume"]["stringValue"] for r in kept["Records"]] == [pause.id]
    assert failures == []
    assert store.count_held("shop-1") == 2, "the new one is held behind (the old hold not yet deleted)"


def test_the_consumers_read_the_pause_once_per_cache_period(stack: Stack) -> None:
    calls: list[str] = []

    class Counting:
        def __init__(self, client: Any) -> None:
            self.client = client

        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(self.client, name)

    now = [0.0]
    gate = PauseGate(PauseStore(stack.table, client=Counting(stack.dynamodb)), cache_s=10, clock=lambda: now[0])
    assert gate.pauses(["shop-1", "shop-2"]) == {}
    assert gate.pauses(["shop-1"]) == {}
    assert calls == ["batch_get_item"], "one BatchGetItem for the batch's connections, then the cache"
    PauseStore(stack.table, client=stack.dynamodb).pause("shop-1", reason="", by="t")
    now[0] = 10.0
    assert set(gate.pauses(["shop-1", "shop-2"])) == {"shop-1"}
    assert calls == ["batch_get_item", "batch_get_item"]


def stack_decoder(stack: Stack) -> Any:
    from intacct_sync.queues import decode

    q = stack.queue()

    def run(body: str) -> CanonicalEvent:
        return decode(body, q.get_claim)

    return run


def test_doctor_warns_about_a_paused_connection(aws: Stack, sandbox: IntacctSandbox) -> None:
    import io

    from intacct_sync.cli import doctor
    from local.demo_credentials import sandbox_credentials
    from tests.integration.test_doctor import FakeCloudFormation

    secret = aws.secrets.create_secret(
        Name="intacct-sync/intacct", SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url})
    )
    outputs = {"IntacctCredentialsSecret": secret["ARN"], "StateTableName": aws.table}
    clients = {"cloudformation": FakeCloudFormation(outputs), "secretsmanager": aws.secrets, "dynamodb": aws.dynamodb}
    out = io.StringIO()
    doctor.main(["--stack", "s"], clients=clients, stdout=out)
    assert "ok    paused connections: none: every connection posts" in out.getvalue()

    PauseStore(aws.table, client=aws.dynamodb).pause("shop-1", reason="stock count", by="ana")
    out = io.StringIO()
    doctor.main(["--stack", "s"], clients=clients, stdout=out)
    text = out.getvalue()
    assert "warn  connection shop-1 paused: since" in text and "by ana (stock count); 0 event(s) held" in text
    assert "fix: After the clean-up: intacct-sync ops resume --connection shop-1" in text


def test_a_hold_that_cannot_be_written_is_retried_with_the_rest_of_its_order(stack: Stack) -> None:
    """The state table refuses one hold (throttled): that record and every later one of its
    order are reported as failures (FIFO order kept); other orders and connections go on."""

    class Throttled(PauseStore):
        def hold(self, **kw: Any) -> bool:
            if kw["group"] == "shop-1:7301" and not getattr(self, "refused", False):
                self.refused = True
                raise pause_mod.PauseUnavailable("state table put_item failed (ProvisionedThroughputExceeded)")
            return super().hold(**kw)

    store = Throttled(stack.table, client=stack.dynamodb)
    store.pause("shop-1", reason="r", by="t")
    a, b, other = shirt_order("7301"), shirt_order("7302"), shirt_order("7303", connection_id="shop-2")
    queue = stack.queue()
    queue.publish([order_event(a, version=0), order_event(a, version=1), order_event(b), order_event(other)])
    event = sqs_lambda_event(stack, "orders")
    ids = {json.loads(r["body"])["event_id"]: r["messageId"] for r in event["Records"]}
    kept, failures = PauseGate(store, cache_s=0).hold_paused(event, decode=stack_decoder(stack), queue="orders")
    assert failures == [ids["order-7301-v0"], ids["order-7301-v1"]]
    assert [r["messageId"] for r in kept["Records"]] == [ids["order-7303-v0"]], "the other connection posts"
    assert store.count_held("shop-1") == 1, "order 7302 held"


def test_an_event_too_large_for_one_item_is_held_as_its_message_and_resumed_as_delivered(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pause_mod, "MAX_HELD_BYTES", 10)  # every event "too large"
    store = PauseStore(stack.table, client=stack.dynamodb)
    store.pause("shop-1", reason="r", by="t")
    o = shirt_order("7401")
    stack.queue().publish([order_event(o)])
    event = sqs_lambda_event(stack, "orders")
    original = event["Records"][0]["body"]
    kept, _ = PauseGate(store, cache_s=0).hold_paused(event, decode=stack_decoder(stack), queue="orders")
    assert kept["Records"] == []
    [held] = store.read_held(next(store.held_keys("shop-1")))
    assert held.event is None and held.body == original
    stack.drain("orders")

    report = pause_mod.resume(store, stack.queue(), "shop-1", sleep=lambda _s: None)
    assert report.queued == 1 and store.get("shop-1") is None
    [(message, decoded)] = stack.drain("orders")
    assert message["Body"] == original and decoded.event_id == "order-7401-v0"
    assert report.pause is not None
    assert message["MessageAttributes"]["resume"]["StringValue"] == report.pause.id
