"""Entity per connection (issue 14): in a multi-entity Intacct company each store's documents are
posted in the entity its connection names (`intacct_entity_id`): the consumer handlers as
template.yaml wires them (moto), the Intacct sandbox over HTTP (login `locationid`, records owned
by the signed-in entity), no request mixing entities; the doctor signs in to each entity."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator

import pytest

from intacct_sync import pause as pause_mod
from intacct_sync.cli import doctor
from intacct_sync.models.connection import Connection
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from tests.aws import Stack
from tests.integration import test_consumer_handlers as _handlers
from tests.integration.test_doctor import FakeCloudFormation
from tests.integration.test_pause_resume import consume
from tests.integration.test_posting_consumers import order_event, payment_event, shirt_order

stack = _handlers.stack  # the fixture: moto's stack with the Intacct secret and settings (SSM)


@pytest.fixture
def entities(sandbox: IntacctSandbox) -> Iterator[IntacctSandbox]:
    seed = copy.deepcopy(sandbox.seed)
    seed["companies"][0]["entities"] = ["E-EAST", "E-WEST"]
    sandbox.reset(seed=seed)
    pause_mod._GATES.clear()
    yield sandbox


def put(stack: Stack, connection_id: str, entity: str | None) -> None:
    data = {"id": connection_id, "channel": "shopify", "store": f"{connection_id}.myshopify.com"}
    if entity is not None:
        data["intacct_entity_id"] = entity
    stack.put_connection(data)


def test_each_store_posts_into_its_entity_and_no_request_mixes_them(
    stack: Stack,
    entities: IntacctSandbox,
) -> None:
    put(stack, "shop-1", "E-EAST")
    put(stack, "shop-2", "E-WEST")
    put(stack, "shop-3", None)  # no key: where the Intacct secret points (here the top level)
    east, west, top = (
        shirt_order("8001"),
        shirt_order("8002", connection_id="shop-2"),
        shirt_order("8003", connection_id="shop-3"),
    )
    mark = len(entities.requests)
    stack.queue().publish([order_event(east), order_event(west), order_event(top)])  # one wave
    consume(stack, "orders")
    stack.queue().publish([payment_event(east, "p-8001", str(east.total))])
    consume(stack, "payments")

    owner = {str(d["DOCNO"]): d.get("MEGAENTITYID") for d in entities.snapshot()["invoices"] if "DOCNO" in d}
    assert owner == {"8001": "E-EAST", "8002": "E-WEST", "8003": None}
    [payment] = entities.snapshot()["payments"]
    assert payment.get("MEGAENTITYID") == "E-EAST", "the payment goes where its invoice is"
    ran = [r for r in entities.requests[mark:] if r.functions]
    # The wave of three orders became one request per entity (a request has one login).
    writes = {r.entity for r in ran if any(f.name == "create_sotransaction" for f in r.functions)}
    assert writes == {"E-EAST", "E-WEST", None}


def test_a_blank_entity_is_the_default() -> None:
    c = Connection.model_validate(
        {"id": "s", "channel": "shopify", "store": "s.myshopify.com", "intacct_entity_id": " "}
    )
    assert c.intacct_entity_id is None


def test_doctor_signs_in_to_each_connections_entity(
    aws: Stack, entities: IntacctSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = aws.secrets.create_secret(
        Name="intacct-sync/intacct",
        SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": entities.url}),
    )
    put(aws, "shop-1", "E-EAST")
    put(aws, "shop-2", "E-NORTH")  # not an entity of the company
    outputs = {"IntacctCredentialsSecret": secret["ARN"], "ConnectionSecretPrefix": aws.prefix}
    clients = {"cloudformation": FakeCloudFormation(outputs), "secretsmanager": aws.secrets}
    out = io.StringIO()
    assert doctor.main(["--stack", "s"], clients=clients, stdout=out) == 1
    text = out.getvalue()
    assert "ok    Intacct entity E-EAST: sign-in works (connections shop-1)" in text
    assert "FAIL  Intacct entity E-NORTH (connections shop-2)" in text
    assert "intacct_entity_id" in text


def test_ops_connections_lists_each_connections_entity(
    stack: Stack, entities: IntacctSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from intacct_sync.cli import ops

    put(stack, "shop-1", "E-EAST")
    put(stack, "shop-3", None)
    clients = {"dynamodb": stack.dynamodb, "secretsmanager": stack.secrets}
    assert ops.main(["connections", "--json"], clients=clients) == 0
    rows = {r["connection"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["shop-1"]["entity"] == "E-EAST" and rows["shop-3"]["entity"] is None
    assert ops.main(["connections"], clients=clients) == 0
    out = capsys.readouterr().out
    assert "entity E-EAST" in out and "entity (default)" in out and "2 connection(s), 0 paused" in out
