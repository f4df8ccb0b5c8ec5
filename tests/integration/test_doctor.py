"""The doctor CLI against the Intacct and channel sandboxes over real HTTP: an all-green
deployment, and each kind of misconfiguration reported as FAIL with its fix."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from intacct_sync.cli import doctor
from local.channel_sandbox import ChannelSandbox
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from tests.aws import Stack

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
SETTINGS = Path(__file__).parents[2] / "layers" / "shared" / "intacct_sync" / "default_settings.json"


class Run:
    """Writes the files for one doctor run and keeps its output."""

    def __init__(self, tmp: Path, sandbox: IntacctSandbox, cs: ChannelSandbox) -> None:
        self.tmp, self.sandbox, self.cs = tmp, sandbox, cs
        self.credentials: dict[str, Any] = {**sandbox_credentials(), "endpoint_url": sandbox.url}
        self.settings: dict[str, Any] = json.loads(SETTINGS.read_text())
        self.connections = [cs.connection_secret(ch, store, f"{ch}-main") for ch, store in STORES.items()]
        self.output = ""

    def __call__(self) -> int:
        args = ["--intacct-file", self._write("intacct.json", self.credentials)]
        args += ["--settings-file", self._write("settings.json", self.settings)]
        for c in self.connections:
            args += ["--connection-file", self._write(f"{c['id']}.json", c)]
        out = io.StringIO()
        code = doctor.main(args, stdout=out)
        self.output = out.getvalue()
        return code

    def _write(self, name: str, data: dict[str, Any]) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(data))
        return str(path)

    def line(self, start: str) -> str:
        """The line starting with `start` and its fix line, if any."""
        lines = self.output.splitlines()
        for i, text in enumerate(lines):
            if text.startswith(start):
                fix = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("      fix:") else ""
                return text + "\n" + fix
        raise AssertionError(f"no line starting {start!r} in:\n{self.output}")

    def failures(self) -> list[str]:
        return [t for t in self.output.splitlines() if t.startswith("FAIL")]


@pytest.fixture
def run(tmp_path: Path, sandbox: IntacctSandbox, cs: ChannelSandbox) -> Run:
    return Run(tmp_path, sandbox, cs)


def test_all_green(run: Run) -> None:
    assert run() == 0, run.output
    assert run.failures() == []
    assert "ok    Intacct sign-in: sender intacct-sync-dev authorised, user ws_sync" in run.output
    granted = [t for t in run.output.splitlines() if t.startswith("ok    permission: List on")]
    for obj in ("CUSTOMER", "ARINVOICE", "ARPYMT", "ITEM", "WAREHOUSE", "LOCATION", "DEPARTMENT", "CLASS"):
        assert sum(t.endswith(f"({obj})") for t in granted) == 1, obj
    assert sum(t.endswith("(SODOCUMENT)") for t in granted) == 2  # one per transaction definition
    assert "ok    transaction definition 'Sales Invoice'" in run.output
    assert "ok    transaction definition 'Sales Credit Memo'" in run.output
    assert "ok    items exist: DISCOUNT, FEE, SHIPPING" in run.output
    assert "ok    warehouses exist: WH-EAST, WH-WEST" in run.output
    assert "ok    locations exist: 100, 200" in run.output
    assert "ok    departments exist: SALES" in run.output
    assert "skip  write permissions: not probed" in run.output
    for ch in STORES:
        assert f"ok    connection {ch}-main ({ch}" in run.output
    # Warnings: store numbering (below) and refunds not paid out (the demo settings keep the default).
    assert run.output.rstrip().endswith("0 failed, 3 warning(s), 4 not checked")
    assert "warn  refunds paid out: not recorded (refunds.payout is none)" in run.output
    # Economical: one sign-in and one batched request for every read.
    assert [len(r.functions) for r in run.sandbox.requests] == [1, 14]


def test_stores_sharing_document_numbers_are_warned_about_and_a_prefix_per_store_clears_it(run: Run) -> None:
    assert run() == 0
    line = run.line("warn  invoice numbers per store")
    assert "bigcommerce-main, shopify-main, woocommerce-main use prefix ''" in line
    assert "fix: Set invoice.numbering.prefix_by_connection" in line
    prefixes = {"shopify-main": "S-", "woocommerce-main": "W-", "bigcommerce-main": "B-"}
    for section in ("invoice", "credit_memo"):
        run.settings.setdefault(section, {}).setdefault("numbering", {})["prefix_by_connection"] = prefixes
    assert run() == 0
    assert "ok    invoice numbers per store: each store has its own prefix" in run.output
    assert "ok    credit_memo numbers per store" in run.output


def test_wrong_user_password(run: Run) -> None:
    run.credentials["user_password"] = "not-the-password"
    assert run() == 1
    text = run.line("FAIL  Intacct sign-in")
    assert "user_password" in text and "fix:" in text
    assert "not-the-password" not in run.output
    # Nothing else can be checked in Intacct; the channels still are.
    assert "permission:" not in run.output
    assert "ok    connection shopify-main" in run.output


def test_unauthorised_sender(run: Run, sandbox: IntacctSandbox) -> None:
    seed = copy.deepcopy(sandbox.seed)
    seed["senders"].append({"sender_id": "other-sender", "password": "Other-Sender-Pw1"})
    sandbox.reset(seed=seed)
    run.credentials |= {"sender_id": "other-sender", "sender_password": "Other-Sender-Pw1"}
    assert run() == 1
    text = run.line("FAIL  Intacct sign-in")
    assert "not authorised" in text
    assert "Web Services authorizations" in text and "'other-sender'" in text


def test_wrong_sender_password(run: Run) -> None:
    run.credentials["sender_password"] = "wrong"
    assert run() == 1
    assert "sender_password" in run.line("FAIL  Intacct sign-in")


def test_role_missing_permissions(run: Run, sandbox: IntacctSandbox) -> None:
    user = next(u for u in sandbox.seed["companies"][0]["users"] if u["user_id"] == "ws_readonly")
    run.credentials |= {"user_id": user["user_id"], "user_password": user["password"]}
    assert run() == 1
    for where, obj in [
        ("Accounts Receivable > Received Payments", "ARPYMT"),
        ("Company > Locations", "LOCATION"),
        ("Company > Departments", "DEPARTMENT"),
        ("Order Entry > Sales Invoice", "SODOCUMENT"),
        ("Order Entry > Sales Credit Memo", "SODOCUMENT"),
    ]:
        text = run.line(f"FAIL  permission: List on {where} ({obj})")
        assert "PL04000005" in text
        assert "Company > Admin > Roles" in text and "fix:" in text
    assert "on Order Entry > the 'Sales Credit Memo' transaction definition" in run.line(
        "FAIL  permission: List on Order Entry > Sales Credit Memo"
    )
    assert run.line("ok    permission: List on Inventory Control > Items (ITEM)")
    # What the failed reads would have shown is not guessed at.
    assert "skip  locations named in the settings: not checked" in run.output
    assert "ok    items exist" in run.output


def test_settings_naming_missing_objects(run: Run) -> None:
    run.settings["invoice"]["transaction_definition"] = "Web Invoice"
    run.settings["items"]["sku_map"] = {"TEE-S": "TSHIRT-S", "GHOST": "NO-SUCH-ITEM"}
    run.settings["rules"][0]["set"]["warehouse_id"] = "WH-NORTH"
    run.settings["rules"][1]["set"]["class_id"] = "NOCLASS"
    assert run() == 1
    text = run.line("FAIL  transaction definition 'Web Invoice'")
    assert "invoice.transaction_definition" in text and "Transaction definitions" in text
    assert "Invalid docparid 'Web Invoice'" in text
    text = run.line("FAIL  item 'NO-SUCH-ITEM'")
    assert "items.sku_map['GHOST']" in text and "Inventory Control > Items" in text
    text = run.line("FAIL  warehouse 'WH-NORTH'")
    assert "rules[0] 'West coast ships from WH-WEST'.set.warehouse_id" in text
    assert "FAIL  class 'NOCLASS'" in run.output
    assert "ok    items exist: DISCOUNT, FEE, SHIPPING, TSHIRT-S" in run.output
    assert len(run.failures()) == 4


def test_invalid_settings_and_secret(run: Run) -> None:
    run.settings["invoice"]["numbering"]["mode"] = "sequential"
    del run.credentials["company_id"]
    assert run() == 1
    assert "company_id" in run.line("FAIL  Intacct credentials secret")
    assert "invoice.numbering.mode" in run.line("FAIL  settings")


def test_channel_wrong_token(run: Run) -> None:
    run.connections[0]["access_token"] = "shpat_wrong"
    run.connections[1]["api_secret"] = "cs_wrong"
    assert run() == 1
    text = run.line("FAIL  connection shopify-main")
    assert "credentials refused" in text and "fix:" in text and "access_token" in text
    assert "fix:" in run.line("FAIL  connection woocommerce-main")
    assert "shpat_wrong" not in run.output and "cs_wrong" not in run.output
    assert "ok    connection bigcommerce-main" in run.output


def test_broken_connection_secret(run: Run) -> None:
    del run.connections[2]["access_token"]
    run.connections[2]["channel"] = "etsy"
    assert run() == 1
    assert "channel" in run.line("FAIL  connection bigcommerce-main.json")


class FakeCloudFormation:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]}]}


def test_stack_mode(aws: Stack, sandbox: IntacctSandbox, cs: ChannelSandbox) -> None:
    secret = aws.secrets.create_secret(
        Name="intacct-sync/intacct", SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url})
    )
    ssm = boto3.client("ssm")
    settings = json.loads(SETTINGS.read_text())
    settings["rules"][1]["set"]["department_id"] = "MARKETING"
    ssm.put_parameter(Name="/intacct-sync/settings", Value=json.dumps(settings), Type="String")
    aws.put_connection(cs.connection_secret("shopify", STORES["shopify"], "shop-main"))
    aws.put_connection({**cs.connection_secret("bigcommerce", STORES["bigcommerce"], "bc-main"), "access_token": "x"})
    cfn = FakeCloudFormation(
        {
            "IntacctCredentialsSecret": secret["ARN"],
            "SettingsParameter": "/intacct-sync/settings",
            "ConnectionSecretPrefix": aws.prefix,
        }
    )
    out = io.StringIO()
    code = doctor.main(
        ["--stack", "intacct-sync"],
        clients={"cloudformation": cfn, "secretsmanager": aws.secrets, "ssm": ssm},
        stdout=out,
    )
    text = out.getvalue()
    assert code == 1, text
    assert "ok    Intacct sign-in" in text
    assert "FAIL  department 'MARKETING'" in text
    assert "ok    connection shop-main (shopify" in text
    assert "FAIL  connection bc-main (bigcommerce" in text
    assert [c for c in text.splitlines() if c.startswith("FAIL")] == [
        c for c in text.splitlines() if c.startswith(("FAIL  department", "FAIL  connection bc-main"))
    ]


def test_stack_mode_without_connections(aws: Stack, sandbox: IntacctSandbox) -> None:
    secret = aws.secrets.create_secret(
        Name="intacct-sync/intacct", SecretString=json.dumps({**sandbox_credentials(), "endpoint_url": sandbox.url})
    )
    cfn = FakeCloudFormation({"IntacctCredentialsSecret": secret["ARN"], "ConnectionSecretPrefix": aws.prefix})
    out = io.StringIO()
    code = doctor.main(["--stack", "s"], clients={"cloudformation": cfn, "secretsmanager": aws.secrets}, stdout=out)
    assert code == 1
    assert "FAIL  channel connections: none found" in out.getvalue()
    assert "ok    settings: none configured" in out.getvalue()


def test_payout_accounts_are_among_those_doctor_checks_when_payouts_are_on(run: Run) -> None:
    run.settings["payouts"] = {
        "enabled": True,
        "bank_account_id": "BOA",
        "fee_account": "6199",
        "refund_account": "1250",
        "chargeback_account": "6110",
        "adjustment_account": "6120",
    }
    run()
    # The sandbox serves no GLACCOUNT / CHECKINGACCOUNT: the check is reported, naming the payout accounts.
    assert "skip  payment GL accounts 1200, 1250, 6110, 6120, 6199: not checked" in run.output
    assert "skip  payment bank accounts BOA: not checked" in run.output
