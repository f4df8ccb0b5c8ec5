"""Re-sync one order, replay one order or one parked message, and backfill a date range
(issue 14): the `ops` CLI against moto (queues, state table, secrets), the channel sandbox (the
channel API the orders are read from) and the Intacct sandbox (end state through the consumer
handlers as template.yaml wires them)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from intacct_sync import pause as pause_mod
from intacct_sync.channels.api import client_for
from intacct_sync.cli import ops
from intacct_sync.intake import resync as resync_mod
from intacct_sync.intake.resync import CheckpointStore, backfill
from intacct_sync.ledger import DynamoLedger
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from local.channel_sandbox import ChannelSandbox
from local.intacct_sandbox import IntacctSandbox
from tests.aws import Stack
from tests.integration import test_consumer_handlers as _handlers
from tests.integration.test_pause_resume import consume
from tests.integration.test_posting_consumers import order_event, shirt_order
from tests.unit.posting.factories import line

stack = _handlers.stack  # the fixture: moto's stack with the Intacct secret and settings (SSM)

WOO = "demo-woo"
CONNECTION = "woocommerce-main"
PAID_WOO_ORDER = 727  # seeded: processing, paid by card, items the Intacct sandbox has


@pytest.fixture(autouse=True)
def _fresh_gates() -> Iterator[None]:
    pause_mod._GATES.clear()
    yield
    pause_mod._GATES.clear()


@pytest.fixture
def woo(stack: Stack, channels: ChannelSandbox) -> Connection:
    secret = channels.connection_secret("woocommerce", WOO, CONNECTION)
    stack.put_connection(secret)
    return Connection.model_validate(secret)


def run_ops(stack: Stack, *args: str) -> int:
    clients = {"dynamodb": stack.dynamodb, "sqs": stack.sqs, "s3": stack.s3, "secretsmanager": stack.secrets}
    return ops.main(list(args), clients=clients, sleep=lambda _s: None)


def documents(sandbox: IntacctSandbox) -> tuple[int, int]:
    snap = sandbox.snapshot()
    return len(snap["invoices"]), len(snap["payments"])


# --- re-sync ------------------------------------------------------------------------------------


def test_resync_posts_what_is_missing_and_nothing_twice(
    stack: Stack,
    woo: Connection,
    sandbox: IntacctSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_ops(stack, "resync", "--connection", CONNECTION, "--order-id", str(PAID_WOO_ORDER)) == 0
    out = capsys.readouterr().out
    assert "fetched 1 order, 1 payment; 2 new event(s) and 0 known one(s) queued again" in out
    consume(stack, "orders")
    stack.drain("payments")  # the payment's message is lost (an operator purged the queue)
    assert documents(sandbox) == (1, 0)
    entry = DynamoLedger(stack.table, client=stack.dynamodb).get(CONNECTION, str(PAID_WOO_ORDER))
    assert entry is not None and entry.payments == {}

    # Re-sync: every event again, the known ones under a fresh id; the invoice is not made twice,
    # the missing payment is applied.
    assert run_ops(stack, "resync", "--connection", CONNECTION, "--order", str(PAID_WOO_ORDER)) == 0
    assert "0 new event(s) and 2 known one(s) queued again" in capsys.readouterr().out
    consume(stack, "orders")
    consume(stack, "payments")
    assert documents(sandbox) == (1, 1)
    entry = DynamoLedger(stack.table, client=stack.dynamodb).get(CONNECTION, str(PAID_WOO_ORDER))
    assert entry is not None and entry.status == "paid" and len(entry.payments) == 1

    # Once more: nothing is missing, nothing changes in Intacct.
    assert run_ops(stack, "resync", "--connection", CONNECTION, "--order-id", str(PAID_WOO_ORDER)) == 0
    consume(stack, "orders")
    consume(stack, "payments")
    assert documents(sandbox) == (1, 1)


def test_resync_of_an_order_the_channel_does_not_have(
    stack: Stack,
    woo: Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_ops(stack, "resync", "--connection", CONNECTION, "--order-id", "999999") == 1
    assert "the channel has no order 999999 on connection woocommerce-main" in capsys.readouterr().out
    assert stack.drain("orders") == []


def test_resync_of_an_unknown_connection_says_how_to_find_it(
    stack: Stack,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_ops(stack, "resync", "--connection", "nope", "--order-id", "1") == 2
    err = capsys.readouterr().err
    assert "no connection 'nope'" in err and "intacct-sync ops connections" in err


# --- replay of one order / one message ----------------------------------------------------------


def test_replay_moves_only_the_order_or_the_message_asked_for(
    stack: Stack,
    sandbox: IntacctSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a = shirt_order("7101", lines=[line("1", "NEW-SKU", "1", "10.00")], total_tax="0")
    b = shirt_order("7102", lines=[line("1", "NEW-SKU", "1", "10.00")], total_tax="0")
    c = shirt_order("7103", lines=[line("1", "NEW-SKU", "1", "10.00")], total_tax="0")
    stack.queue().publish([order_event(a), order_event(b), order_event(c)])
    consume(stack, "orders")
    assert len(parked_groups(stack)) == 3
    capsys.readouterr()

    replay = ["replay", "--queue", "orders"]
    assert run_ops(stack, *replay, "--connection", "shop-1", "--order", "7102") == 0
    assert "1 message(s) moved back to orders" in capsys.readouterr().out
    assert [e.order_id for _, e in stack.drain("orders")] == ["7102"]
    assert sorted(parked_groups(stack)) == ["shop-1:7101", "shop-1:7103"], "the others stay parked"

    assert run_ops(stack, *replay, "--dry-run") == 0
    listed = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("would move")]
    wanted = next(ln.split()[2] for ln in listed if "shop-1:7103" in ln)
    assert run_ops(stack, *replay, "--message-id", wanted) == 0
    assert f"moved {wanted} (order shop-1:7103)" in capsys.readouterr().out
    assert [e.order_id for _, e in stack.drain("orders")] == ["7103"]
    assert parked_groups(stack) == ["shop-1:7101"]


def parked_groups(stack: Stack) -> list[str]:
    """The order groups in the orders DLQ (received and made visible again)."""
    got = stack.sqs.receive_message(
        QueueUrl=stack.orders_dlq_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    return sorted(m["Attributes"]["MessageGroupId"] for m in got)


# --- backfill -----------------------------------------------------------------------------------


def test_backfill_queues_the_orders_placed_in_the_range_once(
    stack: Stack,
    woo: Connection,
    sandbox: IntacctSandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Seeded WooCommerce orders were placed in 2017 (727, 728), 2021 (897) and 2024 (1204).
    args = ["backfill", "--connection", CONNECTION, "--since", "2017-01-01", "--until", "2022-01-01"]
    assert run_ops(stack, *args, "--progress") == 0
    captured = capsys.readouterr()
    assert "backfill woocommerce-main" in captured.err, "a progress line on stderr"
    assert "4 order(s) listed" in captured.out
    queued = stack.drain("orders")
    assert sorted({e.order_id for _, e in queued}) == ["727", "728", "897"]
    assert {e.order_id for _, e in stack.drain("payments")} <= {"727", "897"}

    # Safe to run twice: the pipeline knows every state, nothing is queued again.
    assert run_ops(stack, *args) == 0
    assert "0 event(s) queued" in capsys.readouterr().out
    assert stack.drain("orders") == []


def test_backfill_posts_into_intacct(
    stack: Stack,
    woo: Connection,
    sandbox: IntacctSandbox,
) -> None:
    assert run_ops(stack, "backfill", "--connection", CONNECTION, "--since", "2017-03-01", "--until", "2017-04-01") == 0
    consume(stack, "orders")
    consume(stack, "payments")
    ledger = DynamoLedger(stack.table, client=stack.dynamodb)
    paid = ledger.get(CONNECTION, str(PAID_WOO_ORDER))
    assert paid is not None and paid.document_key is not None and paid.status == "paid"
    pending = ledger.get(CONNECTION, "728")
    assert pending is not None and pending.document_key is None, "not placed: no invoice"
    assert documents(sandbox) == (1, 1)


class Interrupted(Exception):
    pass


class StopsAfter:
    """The channel client, with the run interrupted (Ctrl-C, a lost laptop) after `n` listed events."""

    def __init__(self, client: Any, n: int) -> None:
        self.client, self.n = client, n

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> Any:
        return self.client.fetch_order_events(order_id, deadline=deadline)

    def iter_orders_changed_since(self, since: datetime, *, deadline: Deadline) -> Iterator[Any]:
        for i, event in enumerate(self.client.iter_orders_changed_since(since, deadline=deadline)):
            if i == self.n:
                raise Interrupted
            yield event


def test_an_interrupted_backfill_continues_from_its_checkpoint(
    stack: Stack,
    woo: Connection,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(resync_mod, "BATCH", 1)  # a checkpoint after every event
    since, until = datetime(2017, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    checkpoints = CheckpointStore(stack.table, client=stack.dynamodb)
    with pytest.raises(Interrupted):
        backfill(
            StopsAfter(client_for(woo), 3),
            stack.pipeline(),
            checkpoints,
            CONNECTION,
            since=since,
            until=until,
            deadline=Deadline.after(60),
        )
    saved = checkpoints.get(CONNECTION)
    assert saved is not None and not saved.finished and saved.done_through is not None
    first = {e.order_id for _, e in stack.drain("orders")}
    assert 0 < len(first) < 4

    args = ["backfill", "--connection", CONNECTION, "--since", "2017-01-01", "--until", "2025-01-01"]
    assert run_ops(stack, *args) == 0
    out = capsys.readouterr().out
    assert "continuing the interrupted backfill of woocommerce-main from changes at" in out
    rest = {e.order_id for _, e in stack.drain("orders")}
    assert first | rest == {"727", "728", "897", "1204"} and not first & rest, "each order queued once"
    done = checkpoints.get(CONNECTION)
    assert done is not None and done.finished
