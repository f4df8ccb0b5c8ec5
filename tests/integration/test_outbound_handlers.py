"""The stock push and writeback Lambda handlers as template.yaml wires them: settings in SSM,
secrets and the state table in moto, both sandboxes over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from aws_lambda_powertools.utilities import parameters

from intacct_sync import wiring
from intacct_sync.ledger import DynamoLedger, LedgerEntry
from intacct_sync.settings import DEFAULT_SETTINGS, StockConnection, StockSettings, WritebackSettings
from local.channel_sandbox import ChannelSandbox
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from tests.aws import FakeContext, Stack, load_function

SETTINGS = DEFAULT_SETTINGS.model_copy(
    update={
        "stock": StockSettings(connections={"bc-main": StockConnection(locations={"WH-EAST": "1", "WH-WEST": "2"})}),
        "writeback": WritebackSettings(enabled=True),
    }
)


@pytest.fixture
def stack(aws: Stack, sandbox: IntacctSandbox, cs: ChannelSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    secret = aws.secrets.create_secret(
        Name="intacct-sync/test/intacct",
        SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url}),
    )
    ssm = __import__("boto3").client("ssm", region_name="eu-west-1")
    ssm.put_parameter(
        Name="/intacct-sync/test/settings", Type="String", Tier="Advanced", Value=SETTINGS.model_dump_json()
    )
    aws.put_connection(cs.connection_secret("bigcommerce", "demostore", "bc-main"))
    env = aws.env | {"INTACCT_SECRET_ARN": secret["ARN"], "SETTINGS_PARAMETER": "/intacct-sync/test/settings"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    wiring.environment.cache_clear()
    parameters.clear_caches()
    yield aws
    wiring.environment.cache_clear()
    parameters.clear_caches()


def test_stock_push_function_writes_once_then_nothing(stack: Stack, cs: ChannelSandbox) -> None:
    handler = load_function("stock_push").lambda_handler
    first = handler({}, FakeContext(remaining_ms=60_000))
    assert first["bc-main"]["written"] == 6 and first["bc-main"]["complete"] is True, first
    cs.clear_requests()
    second = handler({}, FakeContext(remaining_ms=60_000))
    assert second["bc-main"]["changes"] == 0 and second["bc-main"]["channel_calls"] == 0
    assert [r for r in cs.requests if r.method != "GET"] == []


def test_writeback_function_puts_the_document_number_on_the_order(stack: Stack, cs: ChannelSandbox) -> None:
    DynamoLedger(stack.table, client=stack.dynamodb).put(
        LedgerEntry(
            connection_id="bc-main",
            order_id="219",
            channel="bigcommerce",
            status="invoiced",
            document_key="Sales Invoice-INV0099",
            ar_record_key="3999",
        )
    )
    handler = load_function("writeback").lambda_handler
    summary = handler({}, FakeContext(remaining_ms=60_000))
    assert summary["bc-main"]["documents_written"] == 1, summary
    assert "INV0099" in cs.order("bigcommerce", "demostore", 219)["staff_notes"]
    assert handler({}, FakeContext(remaining_ms=60_000))["bc-main"]["documents_written"] == 0
