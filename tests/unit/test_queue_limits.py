"""SQS limits are checked before sending, against moto: batches cut by bytes and count, a message
that does not fit inline with its attributes goes by claim check, and no body or attribute carries
a character SQS refuses. A real-format order with many lines is sized to sit near the limits."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from intacct_sync.channels.shopify import ADAPTER
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, SQS_BATCH, SqsEventQueue, decode, encode
from tests.aws import Stack
from tests.fixtures.channels import sign

SQS_DISALLOWED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class CheckingSqs:
    """The moto client, with SQS's documented limits checked on every SendMessageBatch (moto checks
    the 1 MiB total and counts characters, not bytes)."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.batches: list[list[dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqs, name)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        total = 0
        assert 1 <= len(Entries) <= SQS_BATCH
        for entry in Entries:
            size = len(entry["MessageBody"].encode())
            assert not SQS_DISALLOWED.search(entry["MessageBody"])
            for name, attr in entry["MessageAttributes"].items():
                assert not SQS_DISALLOWED.search(attr["StringValue"]), name
                size += len(name.encode()) + len(attr["DataType"].encode()) + len(attr["StringValue"].encode())
            assert size <= MAX_MESSAGE_BYTES
            total += size
        assert total <= MAX_BATCH_BYTES, f"batch of {total} bytes"
        self.batches.append(Entries)
        return self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


@pytest.fixture
def checked(aws: Stack) -> Iterator[tuple[Stack, CheckingSqs]]:
    for url in (aws.orders_url, aws.payments_url):
        aws.sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": str(MAX_MESSAGE_BYTES)})
    spy = CheckingSqs(aws.sqs)
    yield aws, spy


def queue(stack: Stack, spy: CheckingSqs) -> SqsEventQueue:
    return SqsEventQueue(
        orders_url=stack.orders_url, payments_url=stack.payments_url, bucket=stack.bucket, sqs=spy, s3=stack.s3
    )


def big_order(lines: int, refunds: int = 0, *, note: str = "") -> bytes:
    """A real Shopify order (fixture) with `lines` line items and `refunds` refunds."""
    body: dict[str, Any] = json.loads(sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    template = body["line_items"][0]
    body["line_items"] = []
    for i in range(lines):
        line = copy.deepcopy(template)
        line["id"] = 10_000 + i
        line["sku"] = f"SKU-{i:05d}"
        line["title"] = line["name"] = f"Organic cotton tee, size {i % 7}, colour {i % 11} {note}"
        body["line_items"].append(line)
    refund_template = json.loads(sign.load("shopify", "refunds_create.json"))
    body["refunds"] = []
    for r in range(refunds):
        refund = copy.deepcopy(refund_template)
        refund["id"] = 50_000 + r
        refund["order_id"] = body["id"]
        # Each refund event close to the inline limit: many refunded lines.
        item = refund["refund_line_items"][0]
        refund["refund_line_items"] = [{**copy.deepcopy(item), "id": 70_000 + k} for k in range(700)]
        body["refunds"].append(refund)
    return json.dumps(body).encode()


def events_of(raw: bytes, topic: str = "orders/updated") -> list[CanonicalEvent]:
    return ADAPTER.parse({"x-shopify-topic": topic}, raw, sign.connection("shopify"))


def test_events_each_under_the_limit_but_together_over_it_are_sent_in_several_batches(
    checked: tuple[Stack, CheckingSqs],
) -> None:
    stack, spy = checked
    events = events_of(big_order(5, refunds=6))
    sizes = [encode(e, lambda k, d: None).size for e in events]
    assert sum(sizes) > MAX_BATCH_BYTES and max(sizes) <= MAX_MESSAGE_BYTES
    queue(stack, spy).publish(events)
    assert len(spy.batches) >= 2
    got = [e for _, e in stack.drain("payments")] + [e for _, e in stack.drain("orders")]
    assert sorted(e.event_id for e in got) == sorted(e.event_id for e in events)


@pytest.mark.parametrize("lines", [700, 760, 900, 3000])
def test_a_large_order_near_the_limit_goes_inline_or_by_claim_check_never_refused(
    checked: tuple[Stack, CheckingSqs], lines: int
) -> None:
    stack, spy = checked
    events = events_of(big_order(lines))
    queue(stack, spy).publish(events)
    (message, event), *_ = [(m, e) for m, e in stack.drain("orders") if e.type == "order"]
    assert event == next(e for e in events if e.type == "order")
    claimed = message["Body"].startswith('{"claim_check"')
    assert claimed == (len(event.model_dump_json().encode()) > MAX_MESSAGE_BYTES - 200)


def test_the_claim_check_decision_counts_the_attributes(checked: tuple[Stack, CheckingSqs]) -> None:
    # Find a line count whose JSON alone fits but not with its attributes: it must be claim-checked.
    stack, spy = checked
    base = next(e for e in events_of(big_order(600)) if e.type == "order")
    # Pad the note so the JSON alone is a few bytes under the limit: attributes tip it over.
    size = len(base.model_dump_json().encode())
    order = base.payload.model_copy(update={"note": "n" * (MAX_MESSAGE_BYTES - size - 20)})
    event = base.model_copy(update={"payload": order})
    assert MAX_MESSAGE_BYTES - 40 < len(event.model_dump_json().encode()) <= MAX_MESSAGE_BYTES
    message = encode(event, lambda k, d: None)
    assert message.body.startswith('{"claim_check"'), "JSON fits, JSON + attributes does not"
    queue(stack, spy).publish([event])
    assert [e for _, e in stack.drain("orders")] == [event]


def test_a_woocommerce_topic_with_noncharacters_never_reaches_an_attribute(checked: tuple[Stack, CheckingSqs]) -> None:
    stack, spy = checked
    event = next(e for e in events_of(big_order(2)) if e.type == "order")
    # The models refuse such a topic (400 at intake); this is the queue's own guard behind them.
    hostile = event.model_construct(**{**dict(event), "topic": "action.order\uffff\ufffe\x01"})
    assert encode(hostile, lambda k, d: None).attributes["topic"] == "action.order"
    queue(stack, spy).publish([hostile])  # CheckingSqs asserts every attribute value
    assert len(spy.batches) == 1


def test_a_body_character_sqs_refuses_is_escaped_losslessly() -> None:
    event = next(e for e in events_of(big_order(1)) if e.type == "order")
    order = event.payload
    odd = order.model_construct(**{**dict(order), "note": "a\uffffb\ufffe"})
    hostile = event.model_construct(**{**dict(event), "payload": odd})
    message = encode(hostile, lambda k, d: None)
    assert not SQS_DISALLOWED.search(message.body)
    assert json.loads(message.body)["payload"]["note"] == "a\uffffb\ufffe"
    # Read back, the free-text rule applies again: the consumer sees the cleaned note.
    assert decode(message.body, lambda k: b"").payload.note == "ab"  # type: ignore[union-attr]
