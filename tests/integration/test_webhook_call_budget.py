"""The webhook's AWS calls, counted on the real clients against moto: at most two per accepted
delivery (claim, send), one per duplicate or stale delivery, and every crash window between them
recovered by the channel's retry (or, for WooCommerce, which never retries, by the poll) without a
second document downstream."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.connections import SecretsManagerConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.reconcile import reconcile_connection
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import SqsEventQueue
from intacct_sync.retry import Deadline
from intacct_sync.state import MAX_CLAIMS
from local.channel_sandbox import ChannelSandbox
from local.make_events import CONNECTION_IDS, connection_secret
from tests.aws import Stack
from tests.fixtures.channels import sign

ORDER = "orders_paid_us_tax_exclusive_discount.json"


class Calls:
    """Every AWS operation the stack's clients make, in order ("dynamodb.UpdateItem", ...)."""

    def __init__(self, stack: Stack) -> None:
        self.names: list[str] = []
        for client in (stack.dynamodb, stack.sqs, stack.s3, stack.secrets):
            client.meta.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(f"{model.service_model.endpoint_prefix}.{model.name}")

    def take(self) -> list[str]:
        out, self.names = self.names, []
        return out

    def of(self, action: Any) -> tuple[Any, list[str]]:
        """(what `action()` returns, the calls it made)."""
        self.names = []
        result = action()
        return result, self.take()


class Crash(BaseException):
    """The runtime dying (time-out, killed): no handler of the code under test runs."""


class CrashingQueue:
    """The real queue, but the process dies just before (or just after) the send."""

    def __init__(self, real: SqsEventQueue, *, after_send: bool = False) -> None:
        self.real, self.after_send = real, after_send

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        if self.after_send:
            self.real.publish(events, carried=carried)
        raise Crash


@pytest.fixture
def stack(aws: Stack) -> Iterator[Stack]:
    for channel in CONNECTION_IDS:
        aws.put_connection(connection_secret(channel))
    yield aws


def intake(stack: Stack, *, queue: Any = None, clock: Any = None) -> WebhookIntake:
    pipeline = EventPipeline(stack.state(), queue or stack.queue(), **({"clock": clock} if clock else {}))
    return WebhookIntake(SecretsManagerConnections(stack.prefix, client=stack.secrets), pipeline)


def deliver(wh: WebhookIntake, body: bytes, *, topic: str = "orders/paid", event_id: str = "evt-1") -> Any:
    headers = {k.lower(): v for k, v in sign.shopify_headers(body, topic, event_id=event_id).items()}
    return wh.handle(CONNECTION_IDS["shopify"], headers, body)


def warm(wh: WebhookIntake) -> None:
    """Load the connection secret (cached per container) with a delivery of an unused topic."""
    assert deliver(wh, b"{}", topic="shop/update", event_id="warm-up").body == {"status": "ignored"}


def order_body(**changes: Any) -> bytes:
    order = json.loads(sign.load("shopify", ORDER))
    order.update(changes)
    return json.dumps(order).encode()


def orders_queued(stack: Stack) -> list[str]:
    return [e.event_id for _, e in stack.drain("orders")]


def test_an_accepted_delivery_is_one_claim_and_one_send(stack: Stack) -> None:
    wh = intake(stack)
    warm(wh)
    calls = Calls(stack)
    resp, made = calls.of(lambda: deliver(wh, order_body()))
    assert resp.status == 202
    assert made == ["dynamodb.UpdateItem", "sqs.SendMessageBatch"]
    assert len(orders_queued(stack)) == resp.body["events"]


def test_a_duplicate_costs_one_call_once_its_claim_is_settled(stack: Stack) -> None:
    wh = intake(stack)
    warm(wh)
    body = order_body()
    assert deliver(wh, body).status == 202
    sent = sorted(orders_queued(stack))
    calls = Calls(stack)
    # First redelivery: the claim cannot say whether the first delivery's send happened, so the
    # events go out again (same dedup ids: SQS drops them within 5 minutes) and are marked sent.
    resp, made = calls.of(lambda: deliver(wh, body))
    assert resp.body == {"status": "duplicate"}
    assert made == ["dynamodb.UpdateItem", "sqs.SendMessageBatch", "dynamodb.UpdateItem"]
    assert sorted(orders_queued(stack)) == sent
    for _ in range(3):
        resp, made = calls.of(lambda: deliver(wh, body))
        assert (resp.body, made) == ({"status": "duplicate"}, ["dynamodb.UpdateItem"])
    assert orders_queued(stack) == []


def test_a_stale_delivery_is_one_call_and_writes_nothing(stack: Stack) -> None:
    wh = intake(stack)
    warm(wh)
    assert deliver(wh, order_body(updated_at="2030-01-01T00:00:00Z"), event_id="newer").status == 202
    stack.drain("orders")
    item_before = stack.dynamodb.scan(TableName=stack.table)["Items"]
    calls = Calls(stack)
    resp, made = calls.of(lambda: deliver(wh, order_body(), event_id="older"))
    assert (resp.body, made) == ({"status": "stale"}, ["dynamodb.UpdateItem"])
    assert stack.dynamodb.scan(TableName=stack.table)["Items"] == item_before
    assert orders_queued(stack) == []


def test_a_failed_send_is_503_its_claim_is_released_and_the_retry_is_a_clean_accept(stack: Stack) -> None:
    wh = intake(stack)
    warm(wh)
    broken = stack.queue()
    broken.urls["orders"] = stack.orders_url + "-gone"
    failing = intake(stack, queue=broken)
    warm(failing)
    calls = Calls(stack)
    resp, made = calls.of(lambda: deliver(failing, order_body()))
    assert resp.status == 503
    assert made == ["dynamodb.UpdateItem", "sqs.SendMessageBatch", "dynamodb.UpdateItem"]
    retry, made = calls.of(lambda: deliver(wh, order_body()))
    assert retry.status == 202
    assert made == ["dynamodb.UpdateItem", "sqs.SendMessageBatch"]
    assert len(orders_queued(stack)) == retry.body["events"]


@pytest.mark.parametrize("after_send", [False, True], ids=["crash-before-send", "crash-after-send"])
def test_a_crash_after_the_claim_is_recovered_by_the_channel_retry_without_a_second_message(
    stack: Stack, after_send: bool
) -> None:
    dying = intake(stack, queue=CrashingQueue(stack.queue(), after_send=after_send))
    warm(dying)
    calls = Calls(stack)
    with pytest.raises(Crash):
        deliver(dying, order_body())
    assert calls.take() == ["dynamodb.UpdateItem", *(["sqs.SendMessageBatch"] if after_send else [])]
    before = [
        m["Attributes"]["MessageDeduplicationId"]
        for m in stack.sqs.receive_message(
            QueueUrl=stack.orders_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
    ]
    wh = intake(stack)
    warm(wh)
    # Shopify retries the delivery that got no answer: it finds the claims not known to be sent
    # and sends them again under the same dedup ids, then marks them sent.
    retry, made = calls.of(lambda: deliver(wh, order_body()))
    assert retry.body == {"status": "duplicate"}
    assert made == ["dynamodb.UpdateItem", "sqs.SendMessageBatch", "dynamodb.UpdateItem"]
    queued = orders_queued(stack)
    assert queued, "the event reached the queue"
    assert len(set(queued)) == len(queued), "one message per event id (SQS FIFO drops a repeat)"
    assert set(before) <= set(queued)
    assert deliver(wh, order_body()).body == {"status": "duplicate"}
    assert orders_queued(stack) == []


def test_a_new_state_carrying_an_already_claimed_refund_is_still_two_calls(stack: Stack) -> None:
    wh = intake(stack)
    warm(wh)
    order = json.loads(sign.load("shopify", ORDER))
    refund = json.loads(sign.load("shopify", "refunds_create.json"))
    refund["order_id"] = order["id"]
    assert deliver(wh, json.dumps(refund).encode(), topic="refunds/create", event_id="r-1").status == 202
    stack.drain("payments")
    order["refunds"] = [refund]
    calls = Calls(stack)
    resp, made = calls.of(lambda: deliver(wh, json.dumps(order).encode(), topic="orders/updated", event_id="u-1"))
    assert resp.status == 202
    assert made == ["dynamodb.UpdateItem", "sqs.SendMessageBatch"]
    assert stack.drain("payments") == [], "the refund's own delivery claimed it: not sent again here"
    assert len(orders_queued(stack)) == resp.body["events"]


def test_an_order_updated_many_times_keeps_its_state_item_small(stack: Stack) -> None:
    wh = intake(stack)
    warm(wh)
    calls = Calls(stack)
    per_delivery = []
    for i in range(2 * MAX_CLAIMS + 5):
        body = order_body(updated_at=f"2030-01-01T00:{i // 60:02d}:{i % 60:02d}Z")
        resp, made = calls.of(lambda body=body, i=i: deliver(wh, body, event_id=f"u{i}"))
        assert resp.status == 202
        per_delivery.append(len(made))
    # Claims of superseded states are pruned when the item passes MAX_CLAIMS: a third call, rarely.
    assert set(per_delivery) == {2, 3} and per_delivery.count(3) == 2, per_delivery
    [item] = [i for i in stack.dynamodb.scan(TableName=stack.table)["Items"] if i["pk"]["S"].startswith("version#")]
    assert sum(1 for k in item if k.startswith("e")) <= MAX_CLAIMS
    assert item["v"]["S"] == "2030-01-01T00:02:12.000000Z"
    stack.drain("orders")


# --- WooCommerce never retries: the poll recovers a delivery that died between its two calls -----


def _woo(channels: ChannelSandbox, stack: Stack) -> Connection:
    secret = channels.connection_secret("woocommerce", "demo-woo", "woocommerce-main")
    stack.put_connection(secret)
    return Connection.model_validate(secret)


def _poll(stack: Stack, connection: Connection) -> int:
    return reconcile_connection(
        connection.id,
        client_for(connection, pacer=Pacer()),
        stack.pipeline(),
        stack.state(),
        now=datetime.now(UTC),
        deadline=Deadline.after(60),
    ).queued


def _woo_delivery(wh: WebhookIntake, connection: Connection, order: dict[str, Any]) -> Any:
    body = json.dumps(order).encode()
    secret = connection.webhook_secret.get_secret_value() if connection.webhook_secret else ""
    headers = {k.lower(): v for k, v in sign.woocommerce_headers(body, "order.updated", secret=secret).items()}
    return wh.handle(connection.id, headers, body)


def test_a_woocommerce_delivery_that_died_after_its_claim_is_sent_by_the_next_poll(
    stack: Stack, channels: ChannelSandbox
) -> None:
    woo = _woo(channels, stack)
    order = copy.deepcopy(next(o for o in channels.orders("woocommerce", "demo-woo") if o["status"] == "processing"))
    order["id"], order["number"] = 7001, "7001"
    channels.put_order("woocommerce", "demo-woo", order, touch=True)
    order = channels.order("woocommerce", "demo-woo", 7001)
    dying = WebhookIntake(
        SecretsManagerConnections(stack.prefix, client=stack.secrets),
        EventPipeline(stack.state(), CrashingQueue(stack.queue())),
    )
    with pytest.raises(Crash):
        _woo_delivery(dying, woo, order)
    assert stack.drain("orders") == []
    assert _poll(stack, woo) >= 1
    assert "7001" in {e.order_id for _, e in stack.drain("orders") if e.type == "order"}
    assert _poll(stack, woo) == 0, "sent and recorded: the next poll sends nothing"
    assert stack.drain("orders") == []


def test_a_shopify_delivery_that_died_after_its_claim_is_left_to_shopify_retries_not_the_poll(
    stack: Stack, channels: ChannelSandbox
) -> None:
    secret = channels.connection_secret("shopify", "demo.myshopify.com", "shopify-main")
    stack.put_connection(secret)
    shop = Connection.model_validate(secret)
    order = channels.orders("shopify", "demo.myshopify.com")[0]
    order["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    channels.put_order("shopify", "demo.myshopify.com", order)
    body = json.dumps(channels.order("shopify", "demo.myshopify.com", order["id"])).encode()
    key = channels.credentials("shopify", "demo.myshopify.com")["client_secret"]
    headers = {k.lower(): v for k, v in sign.shopify_headers(body, "orders/updated", secret=key).items()}
    dying = WebhookIntake(
        SecretsManagerConnections(stack.prefix, client=stack.secrets),
        EventPipeline(stack.state(), CrashingQueue(stack.queue())),
    )
    with pytest.raises(Crash):
        dying.handle("shopify-main", headers, body)
    _poll(stack, shop)
    assert str(order["id"]) not in {e.order_id for _, e in stack.drain("orders") if e.type == "order"}
    retry = stack.intake().handle("shopify-main", headers, body)  # Shopify's retry
    assert retry.body == {"status": "duplicate"}
    assert [e.order_id for _, e in stack.drain("orders") if e.type == "order"] == [str(order["id"])]
