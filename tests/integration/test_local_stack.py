"""Through the local stack, wired from template.yaml: signed webhooks over HTTP in, invoices and
payments in the Intacct sandbox out; a duplicate storm; an Intacct outage that recovers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from intacct_sync.settings import DEFAULT_SETTINGS
from local.channel_sandbox import ChannelSandbox
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import Fault, IntacctSandbox
from local.stack import LocalStack
from tests.fixtures.channels import sign

SHOP = "demo.myshopify.com"


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[LocalStack, IntacctSandbox, ChannelSandbox]]:
    with IntacctSandbox.start() as intacct, ChannelSandbox.start() as cs:
        stack = LocalStack(
            intacct_credentials={**sandbox_credentials(), "endpoint_url": intacct.url},
            settings=json.loads(DEFAULT_SETTINGS.model_dump_json()),
            connections=[cs.connection_secret("shopify", SHOP, "shopify-main")],
            time_scale=540,  # visibility timeouts of 1 s: redeliveries within the test
        )
        with stack:
            yield stack, intacct, cs


def clean_order(cs: ChannelSandbox, order_id: int) -> dict[str, Any]:
    order = json.loads(json.dumps(cs.orders("shopify", SHOP)[0]))
    order.pop("refunds", None)
    order["id"] = order_id
    order["order_number"] = order_id
    order["name"] = f"#{order_id}"
    return order


def post(stack: LocalStack, cs: ChannelSandbox, topic: str, body: dict[str, Any], event_id: str) -> int:
    raw = json.dumps(body).encode()
    secret = cs.credentials("shopify", SHOP)["client_secret"]
    headers = sign.shopify_headers(raw, topic, secret=secret, event_id=event_id, shop=SHOP)
    return requests.post(f"{stack.api_url}/webhooks/shopify-main", data=raw, headers=headers, timeout=10).status_code


def capture(order: dict[str, Any], txn_id: int) -> dict[str, Any]:
    txn = json.loads(sign.load("shopify", "order_transactions_create_capture.json"))
    return txn | {"id": txn_id, "order_id": order["id"], "amount": order["total_price"]}


def invoices(intacct: IntacctSandbox, number: int) -> list[dict[str, Any]]:
    return [d for d in intacct.snapshot()["invoices"] if str(number) in str(d.get("DOCID", d))]


def test_a_signed_webhook_becomes_an_invoice_and_its_payment(
    env: tuple[LocalStack, IntacctSandbox, ChannelSandbox],
) -> None:
    stack, intacct, cs = env
    order = clean_order(cs, 8001)
    assert post(stack, cs, "orders/paid", order, "evt-8001") == 202
    assert post(stack, cs, "order_transactions/create", capture(order, 98001), "evt-8001-pay") == 202
    assert stack.wait_idle(timeout_s=60)
    [invoice] = invoices(intacct, 8001)
    payments = [p for p in intacct.snapshot()["payments"] if "98001" in json.dumps(p)]
    assert len(payments) == 1
    assert stack.queue_depths()["OrdersDeadLetterQueue"] == 0
    assert invoice


def test_a_duplicate_storm_makes_one_invoice(env: tuple[LocalStack, IntacctSandbox, ChannelSandbox]) -> None:
    stack, intacct, cs = env
    order = clean_order(cs, 8002)
    answers: list[int] = []

    def hit(i: int) -> None:
        # Redeliveries of one event, and the same state under new event ids (several topics).
        answers.append(post(stack, cs, "orders/updated", order, "evt-8002" if i % 2 else f"evt-8002-{i}"))

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(answers) <= {200, 202} and 202 in answers
    assert stack.wait_idle(timeout_s=60)
    assert len(invoices(intacct, 8002)) == 1


def test_an_intacct_outage_recovers_with_nothing_lost(env: tuple[LocalStack, IntacctSandbox, ChannelSandbox]) -> None:
    stack, intacct, cs = env
    intacct.inject(Fault(kind="http_error", status=503, times=15))
    orders = [clean_order(cs, 8100 + i) for i in range(3)]
    for o in orders:
        assert post(stack, cs, "orders/paid", o, f"evt-{o['id']}") == 202
    assert stack.wait_idle(timeout_s=90)
    for o in orders:
        assert len(invoices(intacct, o["id"])) == 1
    assert stack.queue_depths()["OrdersDeadLetterQueue"] == 0
