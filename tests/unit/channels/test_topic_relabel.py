"""Only the body is signed: the topic header is the sender's to choose. Every real fixture body,
re-sent under every topic its channel uses, yields nothing the body itself does not prove: the
same orders, payments, refunds and cancellations as under its own topic, or a deletion notice
(which the consumer confirms through the channel API before it acts), or a 400."""

from __future__ import annotations

from pathlib import Path

import pytest

from intacct_sync.channels import InvalidPayload, receive
from intacct_sync.channels.shopify import SPEC as SHOPIFY_SPEC
from intacct_sync.channels.woocommerce import SPEC as WOO_SPEC
from intacct_sync.models.events import CanonicalEvent
from tests.fixtures.channels import sign

FIXTURES = Path(sign.__file__).parent
SHOPIFY_TOPICS = sorted(SHOPIFY_SPEC.topics)
WOO_TOPICS = sorted(WOO_SPEC.topics)


def own_topic(channel: str, name: str) -> str:
    if channel == "shopify":
        for topic in SHOPIFY_TOPICS:
            if name.startswith(topic.replace("/", "_")):
                return topic
    else:
        stem = name.removesuffix(".json")
        for topic in WOO_TOPICS:
            if stem.startswith(topic.replace(".", "_")):
                return topic
    raise AssertionError(f"no topic for fixture {name}")


def identities(events: list[CanonicalEvent]) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for e in events:
        p = e.payload
        ident = getattr(p, "payment_id", None) or getattr(p, "refund_id", None) or ""
        evidence = getattr(p, "evidence", "")
        out.add((e.type, e.order_id, ident, evidence))
    return out


def parse(channel: str, body: bytes, topic: str) -> list[CanonicalEvent] | None:
    connection = sign.connection(channel)
    if channel == "shopify":
        headers = sign.shopify_headers(body, topic, event_id="relabelled", webhook_id="relabelled")
    else:
        headers = sign.woocommerce_headers(body, topic, delivery_id="relabelled")
    try:
        result = receive(headers, body, connection)
    except InvalidPayload:
        return None
    assert isinstance(result, list)
    return result


CASES = [
    (channel, path.name, topic)
    for channel, topics in (("shopify", SHOPIFY_TOPICS), ("woocommerce", WOO_TOPICS))
    for path in sorted((FIXTURES / channel).glob("*.json"))
    for topic in topics
]


@pytest.mark.parametrize(("channel", "name", "topic"), CASES)
def test_a_signed_body_under_another_topic_proves_nothing_new(channel: str, name: str, topic: str) -> None:
    body = sign.load(channel, name)
    own = parse(channel, body, own_topic(channel, name))
    assert own is not None, "the fixture parses under its own topic"
    relabelled = parse(channel, body, topic)
    if relabelled is None:
        return  # refused with a 400: nothing queued
    new = identities(relabelled) - identities(own)
    unproven = {i for i in new if not (i[0] == "cancellation" and i[3] == "deletion_notice")}
    assert unproven == set(), f"{name} as {topic} claims {sorted(unproven)}"


def test_a_transaction_body_re_sent_as_a_refund_is_refused() -> None:
    body = sign.load("shopify", "order_transactions_create_capture.json")
    assert parse("shopify", body, "refunds/create") is None


def test_deletion_notices_are_one_per_order_whatever_the_delivery_headers() -> None:
    body = b'{"id": 820982911946154508}'
    ids = set()
    for i in range(3):
        headers = sign.shopify_headers(body, "orders/delete", event_id=f"e{i}", webhook_id=f"w{i}")
        events = receive(headers, body, sign.connection("shopify"))
        assert isinstance(events, list)
        ids |= {e.event_id for e in events}
    woo = sign.load("woocommerce", "order_deleted.json")
    for i in range(3):
        headers = sign.woocommerce_headers(woo, "order.deleted", delivery_id=f"d{i}")
        events = receive(headers, woo, sign.connection("woocommerce"))
        assert isinstance(events, list)
        ids |= {e.event_id for e in events}
    assert len(ids) == 2, ids
