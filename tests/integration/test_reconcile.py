"""The reconcile poll against the channel sandbox and moto: missed orders are queued, orders the
webhooks delivered are not queued again, watermarks move, and a cut-short run resumes."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intacct_sync.channels.api import client_for
from intacct_sync.channels.api.http import Pacer
from intacct_sync.intake.reconcile import OVERLAP, reconcile_connection
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from local.channel_sandbox import ChannelSandbox
from tests.aws import FakeContext, Stack, load_function
from tests.fixtures.channels import sign

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}


def conn(cs: ChannelSandbox, channel: str) -> Connection:
    return Connection.model_validate(cs.connection_secret(channel, STORES[channel], f"{channel}-main"))


def poll(stack: Stack, connection: Connection, *, now: datetime, deadline: Deadline | None = None) -> int:
    result = reconcile_connection(
        connection.id,
        client_for(connection, pacer=Pacer()),
        stack.pipeline(),
        stack.state(),
        now=now,
        deadline=deadline or Deadline.after(60),
    )
    return result.queued


def new_woo_order(cs: ChannelSandbox, order_id: int) -> dict[str, object]:
    order = copy.deepcopy(next(o for o in cs.orders("woocommerce", "demo-woo") if o["status"] == "processing"))
    order["id"] = order_id
    order["number"] = str(order_id)
    cs.put_order("woocommerce", "demo-woo", order, touch=True)
    return order


def test_a_missed_woocommerce_order_is_queued_once_and_again_when_it_changes(aws: Stack, cs: ChannelSandbox) -> None:
    woo = conn(cs, "woocommerce")
    now = datetime.now(UTC)
    new_woo_order(cs, 5001)  # its webhook never arrived (WooCommerce does not retry)
    assert poll(aws, woo, now=now) >= 1
    orders = [e for _, e in aws.drain("orders")]
    assert "5001" in {e.order_id for e in orders}
    assert poll(aws, woo, now=datetime.now(UTC)) == 0, "nothing changed: nothing queued"
    assert aws.drain("orders") == []
    time.sleep(1.1)  # WooCommerce dates have whole seconds: the change must be a newer second
    order = cs.order("woocommerce", "demo-woo", 5001)
    order["customer_note"] = "please gift-wrap"
    cs.put_order("woocommerce", "demo-woo", order, touch=True)
    assert poll(aws, woo, now=datetime.now(UTC)) >= 1
    assert [e.order_id for _, e in aws.drain("orders") if e.type == "order"] == ["5001"]


def test_an_order_the_webhook_delivered_is_not_queued_again_by_the_poll(aws: Stack, cs: ChannelSandbox) -> None:
    shop = conn(cs, "shopify")
    aws.put_connection(cs.connection_secret("shopify", STORES["shopify"], "shopify-main"))
    order = cs.orders("shopify", STORES["shopify"])[0]
    order["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cs.put_order("shopify", STORES["shopify"], order)
    body = json.dumps(cs.order("shopify", STORES["shopify"], order["id"])).encode()
    secret = cs.credentials("shopify", STORES["shopify"])["client_secret"]
    headers = sign.shopify_headers(body, "orders/updated", secret=secret, event_id="evt-live-1")
    assert aws.intake().handle("shopify-main", {k.lower(): v for k, v in headers.items()}, body).status == 202
    delivered = [e for _, e in aws.drain("orders") if e.type == "order"]
    assert [e.order_id for e in delivered] == [str(order["id"])]
    poll(aws, shop, now=datetime.now(UTC))
    again = [e for _, e in aws.drain("orders") if e.type == "order" and e.order_id == str(order["id"])]
    assert again == [], "the poll saw the same state the webhook delivered"


def test_the_first_run_looks_back_a_day_and_later_runs_start_at_the_watermark(aws: Stack, cs: ChannelSandbox) -> None:
    bc = conn(cs, "bigcommerce")
    now = datetime.now(UTC)
    state = aws.state()
    assert state.get_watermark(bc.id) is None
    poll(aws, bc, now=now)
    assert state.get_watermark(bc.id) == now
    cs.clear_requests()
    poll(aws, bc, now=now + timedelta(minutes=15))
    listing = [r for r in cs.requests if r.path.endswith("/v2/orders")]
    assert listing, "the poll listed orders"
    since = (now - OVERLAP).strftime("%Y-%m-%dT%H:%M")
    assert any(since in json.dumps(r.query) for r in listing), listing[0].query


def test_a_run_cut_short_by_its_deadline_resumes_where_it_stopped(aws: Stack, cs: ChannelSandbox) -> None:
    woo = conn(cs, "woocommerce")
    for i in range(60):
        new_woo_order(cs, 6000 + i)
    now = datetime.now(UTC)
    state = aws.state()
    first = reconcile_connection(
        woo.id,
        client_for(woo, pacer=Pacer()),
        aws.pipeline(),
        state,
        now=now,
        deadline=Deadline.after(30),
        reserve_s=29.9,  # out of time after the first batch
    )
    assert not first.complete and 0 < first.queued < 60
    mark = state.get_watermark(woo.id)
    assert mark is not None and mark - OVERLAP <= now, "resumes from the newest state submitted"
    second = poll(aws, woo, now=now)
    ids = {e.order_id for _, e in aws.drain("orders") if e.type == "order"}
    assert {str(6000 + i) for i in range(60)} <= ids
    assert first.queued + second >= 60
    assert state.get_watermark(woo.id) == now


def test_the_reconcile_function_polls_every_connection(
    aws: Stack, cs: ChannelSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for channel, store in STORES.items():
        aws.put_connection(cs.connection_secret(channel, store, f"{channel}-main"))
    aws.secrets.create_secret(Name=aws.prefix + "broken", SecretString='{"channel": "shopify", "store": "x"}')
    for key, value in aws.env.items():
        monkeypatch.setenv(key, value)
    new_woo_order(cs, 7001)
    app = load_function("reconcile")
    summary = app.lambda_handler({}, FakeContext(remaining_ms=120_000))
    assert set(summary) == {"shopify-main", "woocommerce-main", "bigcommerce-main", "broken"}
    assert all(isinstance(summary[f"{c}-main"], dict) for c in STORES), summary
    assert str(summary["broken"]).startswith("failed")
    assert "7001" in {e.order_id for _, e in aws.drain("orders")}, "the day's orders were queued"


def test_one_unreadable_order_does_not_stop_the_poll(aws: Stack, cs: ChannelSandbox) -> None:
    woo = conn(cs, "woocommerce")
    broken = new_woo_order(cs, 5101)
    broken["line_items"][0]["quantity"] = "many"  # no adapter can read this
    cs.put_order("woocommerce", "demo-woo", broken, touch=True)
    new_woo_order(cs, 5102)
    result = reconcile_connection(
        woo.id,
        client_for(woo, pacer=Pacer()),
        aws.pipeline(),
        aws.state(),
        now=datetime.now(UTC),
        deadline=Deadline.after(60),
    )
    assert result.complete
    ids = {e.order_id for _, e in aws.drain("orders")}
    assert "5102" in ids and "5101" not in ids


def test_a_channel_outage_mid_run_loses_nothing_and_the_next_run_resumes(aws: Stack, cs: ChannelSandbox) -> None:
    """Issue 13: the channel API goes down after the first page; the run fails, the watermark stays
    at the newest state submitted, and the run after the recovery queues every order (none skipped)."""
    from intacct_sync.errors import SyncError
    from local.channel_sandbox import ChannelFault

    woo = conn(cs, "woocommerce")
    for i in range(60):
        new_woo_order(cs, 6100 + i)
    now = datetime.now(UTC)
    state = aws.state()
    pipeline = aws.pipeline()

    class OutageAfterFirstSubmit:
        def submit(self, events: Any, **kw: Any) -> Any:
            out = pipeline.submit(events, **kw)
            cs.inject(ChannelFault(channel="woocommerce", kind="http_error", status=503, times=None))
            return out

    client = client_for(woo, pacer=Pacer())
    client.page_size = 20  # type: ignore[attr-defined]  # three pages: the outage hits the second
    with pytest.raises(SyncError):
        reconcile_connection(
            woo.id,
            client,
            OutageAfterFirstSubmit(),  # type: ignore[arg-type]
            state,
            now=now,
            deadline=Deadline.after(60),
        )
    first = {e.order_id for _, e in aws.drain("orders") if e.type == "order"}
    assert 0 < len(first & {str(6100 + i) for i in range(60)}) < 60
    mark = state.get_watermark(woo.id)
    assert mark is None or mark - OVERLAP <= now
    cs.clear_faults()
    poll(aws, woo, now=now + timedelta(minutes=15))
    second = {e.order_id for _, e in aws.drain("orders") if e.type == "order"}
    assert {str(6100 + i) for i in range(60)} <= first | second, "nothing skipped"
