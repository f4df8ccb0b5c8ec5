"""The writeback reads only the work it has (moto's state table with template.yaml's index, both
sandboxes over HTTP): an entry is found through the pending-work index, written back, and leaves
it; no Scan; other connections' entries are never read; a backlog is paged and resumed; finished
entries carry their TTL only when a retention is set; `ops reindex` gives items written before
the index their attributes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from intacct_sync.cli import ops
from intacct_sync.intacct import IntacctClient
from intacct_sync.ledger import WRITEBACK_INDEX, DynamoLedger, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.settings import DEFAULT_SETTINGS, WritebackSettings
from intacct_sync.state import InMemoryStateStore
from intacct_sync.writeback import writeback_connection
from local.channel_sandbox import ChannelSandbox
from local.channel_sandbox.server import ChannelFault
from tests.aws import Stack
from tests.integration.test_writeback import UNPAID_ORDER, World, intacct, invoiced, pay_in_intacct, shows_paid

CHANNEL = "bigcommerce"


class Calls:
    """Every DynamoDB operation the client sends, with its parameters (botocore's own events)."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params.dynamodb.*", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.sent.append((model.name, params))

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def keys_read(self) -> list[str]:
        """The item keys read by BatchGetItem/GetItem."""
        out = []
        for name, params in self.sent:
            if name == "BatchGetItem":
                out += [k["pk"]["S"] for spec in params["RequestItems"].values() for k in spec["Keys"]]
            elif name == "GetItem":
                out.append(params["Key"]["pk"]["S"])
        return out


@pytest.fixture
def cs(channels: ChannelSandbox) -> ChannelSandbox:
    return channels


@pytest.fixture
def world(aws: Stack, cs: ChannelSandbox, client: IntacctClient, intacct: Any) -> Iterator[World]:
    w = World(cs, client, CHANNEL)
    w.ledger = DynamoLedger(aws.table, client=aws.dynamodb, retention_days=0)  # type: ignore[assignment]
    yield w


def in_index(aws: Stack, connection_id: str) -> list[tuple[str, str]]:
    """(item key, step key `wbk`) of the connection's pending work, as the index holds it."""
    items = aws.dynamodb.query(
        TableName=aws.table,
        IndexName=WRITEBACK_INDEX,
        KeyConditionExpression="wbq = :c",
        ExpressionAttributeValues={":c": {"S": connection_id}},
    )["Items"]
    return [(i["pk"]["S"], i["wbk"]["S"]) for i in items]


def raw(aws: Stack, key: str) -> dict[str, Any]:
    item: dict[str, Any] = aws.dynamodb.get_item(TableName=aws.table, Key={"pk": {"S": f"ledger#{key}"}})["Item"]
    return item


def test_an_invoice_is_found_through_the_index_written_back_and_leaves_it(aws: Stack, world: World) -> None:
    doc, customer_id = invoiced(world)
    key = f"{world.connection.id}:{UNPAID_ORDER[CHANNEL]}"
    [(pk, step)] = in_index(aws, world.connection.id)
    assert pk == f"ledger#{key}" and step.startswith("d#")  # its number is to be written back

    first = world.run()
    assert first.documents_written == [UNPAID_ORDER[CHANNEL]] and not first.failed
    # number written: now only the open invoice is pending, under its AR record key
    assert in_index(aws, world.connection.id) == [(f"ledger#{key}", f"p#{doc['PRRECORDKEY']}")]

    pay_in_intacct(world, doc, customer_id)
    paid = world.run()
    assert paid.marked_paid == [UNPAID_ORDER[CHANNEL]]
    assert shows_paid(CHANNEL, world.order())
    assert in_index(aws, world.connection.id) == []
    assert not {"wbq", "wbk", "wbar", "expires"} & set(raw(aws, key))  # retention 0: kept for ever
    assert world.run().marked_paid == []


def test_a_run_reads_the_indexes_and_entries_by_key_never_a_scan(aws: Stack, world: World) -> None:
    doc, customer_id = invoiced(world)
    world.run()
    pay_in_intacct(world, doc, customer_id)
    calls = Calls(aws.dynamodb)
    assert world.run().marked_paid == [UNPAID_ORDER[CHANNEL]]
    names = set(calls.names())
    assert "Scan" not in names
    assert names <= {"Query", "BatchGetItem", "PutItem"}, names
    assert {p["IndexName"] for n, p in calls.sent if n == "Query"} == {WRITEBACK_INDEX}


def test_an_invoice_paid_in_intacct_before_its_number_is_written_back_is_marked_paid(
    aws: Stack, world: World, cs: ChannelSandbox
) -> None:
    """Found by its AR record key while it still waits under d# (the channel refused the number)."""
    doc, customer_id = invoiced(world)
    pay_in_intacct(world, doc, customer_id)
    cs.inject(ChannelFault(channel=CHANNEL, kind="http_error", status=422, times=1, method="PUT"))
    report = world.run()
    assert UNPAID_ORDER[CHANNEL] in report.failed and report.documents_written == []
    assert report.marked_paid == [UNPAID_ORDER[CHANNEL]]
    [(_, step)] = in_index(aws, world.connection.id)
    assert step.startswith("d#")  # the number is still to be written back: the next run does
    assert world.run().documents_written == [UNPAID_ORDER[CHANNEL]]
    assert in_index(aws, world.connection.id) == []


def test_entries_of_other_connections_and_finished_entries_are_never_read(aws: Stack, world: World) -> None:
    invoiced(world)
    ledger = DynamoLedger(aws.table, client=aws.dynamodb)
    for i in range(30):  # another store's backlog, and this store's finished history
        ledger.put(
            LedgerEntry(connection_id="other-store", order_id=f"o{i}", channel=CHANNEL, status="invoiced",
                        document_key=f"Sales Invoice-O{i}", ar_record_key=f"9{i:03d}")
        )  # fmt: skip
        done = LedgerEntry(connection_id=world.connection.id, order_id=f"h{i}", channel=CHANNEL, status="paid",
                           document_key=f"Sales Invoice-H{i}", ar_record_key=f"8{i:03d}")  # fmt: skip
        done.writeback.document_number = f"H{i}"
        done.writeback.document_written_at = datetime.now(UTC)
        ledger.put(done)
    calls = Calls(aws.dynamodb)
    assert world.run().documents_written == [UNPAID_ORDER[CHANNEL]]
    read = [k for k in calls.keys_read() if k.startswith("ledger#")]
    assert read == [f"ledger#{world.connection.id}:{UNPAID_ORDER[CHANNEL]}"], read


@pytest.mark.parametrize("retention", [0, 2557])
def test_finished_entries_carry_their_expiry_only_with_a_retention(aws: Stack, retention: int) -> None:
    ledger = DynamoLedger(aws.table, client=aws.dynamodb, retention_days=retention)
    for order, status in (("1", "credited"), ("2", "invoiced"), ("3", "skipped"), ("4", "parked")):
        ledger.put(LedgerEntry(connection_id="c", order_id=order, channel=CHANNEL, status=status))
    expiring = {order for order in "1234" if "expires" in raw(aws, f"c:{order}")}
    assert expiring == ({"1", "3"} if retention else set())
    if retention:
        updated = raw(aws, "c:1")["updated"]["S"]
        expected = datetime.fromisoformat(updated) + timedelta(days=retention)
        assert abs(int(raw(aws, "c:1")["expires"]["N"]) - expected.timestamp()) < 1


def test_the_function_reads_the_retention_from_its_environment(aws: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_RETENTION_DAYS", "365")
    DynamoLedger(aws.table, client=aws.dynamodb).put(
        LedgerEntry(connection_id="c", order_id="1", channel=CHANNEL, status="deleted")
    )
    assert "expires" in raw(aws, "c:1")


def test_reindex_gives_items_written_before_the_indexes_their_attributes(
    aws: Stack, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    invoiced(world)
    key = f"{world.connection.id}:{UNPAID_ORDER[CHANNEL]}"
    ledger = DynamoLedger(aws.table, client=aws.dynamodb)
    ledger.put(LedgerEntry(connection_id="c", order_id="old", channel=CHANNEL, status="credited"))
    for k in (key, "c:old"):  # as an older version of the stack wrote them
        aws.dynamodb.update_item(
            TableName=aws.table, Key={"pk": {"S": f"ledger#{k}"}}, UpdateExpression="REMOVE wbq, wbk, wbar, expires"
        )
    assert world.run().documents_written == []  # invisible to the writeback

    def reindex(*args: str) -> str:
        assert ops.main(["--table", aws.table, "reindex", *args], clients={"dynamodb": aws.dynamodb}) == 0
        return capsys.readouterr().out

    assert "2 ledger item(s) read, 2 would update" in reindex("--retention-days", "2557", "--dry-run")
    assert "wbq" not in raw(aws, key)
    assert "2 ledger item(s) read, 2 updated (retention: 2557 days)" in reindex("--retention-days", "2557")
    assert "expires" in raw(aws, "c:old") and "wbq" in raw(aws, key)
    assert "0 updated" in reindex("--retention-days", "2557")  # safe to repeat
    assert "1 updated (retention: keep for ever)" in reindex("--retention-days", "0")
    assert "expires" not in raw(aws, "c:old")
    assert world.run().documents_written == [UNPAID_ORDER[CHANNEL]]


def test_reindex_refuses_a_retention_shorter_than_a_year(aws: Stack) -> None:
    with pytest.raises(SystemExit):
        ops.main(["--table", aws.table, "reindex", "--retention-days", "30"], clients={"dynamodb": aws.dynamodb})


__all__ = ["intacct"]  # the fixture, re-used


class StubChannel:
    """Records the writes; the deadline below runs out after `budget` of them."""

    def __init__(self, budget: int) -> None:
        self.written: list[str] = []
        self.budget = budget

    def write_document_number(self, order_id: str, document_number: str, **_: Any) -> None:
        self.written.append(order_id)

    def mark_paid(self, order_id: str, **_: Any) -> None:
        raise AssertionError("mark_paid is off in this test")


class RunsOut:
    def __init__(self, channel: StubChannel) -> None:
        self.channel = channel

    def remaining(self) -> float:
        return 0.0 if len(self.channel.written) >= self.channel.budget else 60.0


def test_a_backlog_is_paged_through_the_index_and_resumed_by_the_next_run(aws: Stack) -> None:
    ledger = DynamoLedger(aws.table, client=aws.dynamodb)
    for i in range(250):
        ledger.put(LedgerEntry(connection_id="shop", order_id=f"{i:04d}", channel="shopify", status="invoiced",
                               document_key=f"Sales Invoice-{i:04d}"))  # fmt: skip
    connection = Connection.model_validate(
        {"id": "shop", "channel": "shopify", "store": "x.myshopify.com", "access_token": "shpat_x"}
    )
    settings = DEFAULT_SETTINGS.model_copy(update={"writeback": WritebackSettings(enabled=True, mark_paid=False)})

    def run(budget: int) -> tuple[list[str], bool, list[str]]:
        channel, calls = StubChannel(budget), Calls(aws.dynamodb)
        report = writeback_connection(
            connection, None, channel, ledger, InMemoryStateStore(),  # type: ignore[arg-type]
            settings=settings, deadline=RunsOut(channel),  # type: ignore[arg-type]
        )  # fmt: skip
        return channel.written, report.complete, calls.names()

    written, complete, names = run(120)
    assert len(written) == 120 and not complete
    assert names.count("Query") == 2  # two pages of 100 keys, no more than the work done needs
    rest, complete, _ = run(1000)
    assert complete and sorted(written + rest) == [f"{i:04d}" for i in range(250)]
    assert run(1000)[0] == []
