"""Pause and resume a store as an operator does it (issue 14): the installed `intacct-sync`
console script, pointed at the local stack by the exports `make local` prints, while a signed
webhook goes through the stack's own functions into the Intacct sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from local.channel_sandbox import ChannelSandbox
from local.stack import LocalStack
from tests.integration import test_cli_shell as shell

local = shell.local  # the module's own local stack (fixture), as `make local` starts it


def test_a_paused_store_holds_its_order_until_resumed(
    local: tuple[LocalStack, ChannelSandbox, str], tmp_path: Path
) -> None:
    stack, cs, printed = local
    env, _ = shell.read_block(printed)

    def ops(*args: str) -> tuple[int, str]:
        done = shell.run(["intacct-sync", "ops", *args], tmp_path, **env)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout

    code, out = ops("pause", "--connection", "shopify-main", "--reason", "stock count")
    assert code == 0 and "connection shopify-main paused" in out
    shell.deliver_shopify_order(stack, cs, 5820000002001, 2001)

    code, out = ops("status", "--connection", "shopify-main", "--order", "#2001")
    assert code == 1, "held: not posted, so no ledger entry yet"
    code, out = ops("connections", "--json")
    rows = {r["connection"]: r for r in json.loads(out)}
    assert rows["shopify-main"]["state"] == "paused" and rows["shopify-main"]["held"] >= 1
    assert rows["shopify-main"]["reason"] == "stock count" and rows["shopify-main"]["secret"]

    code, out = ops("resume", "--connection", "shopify-main", "--settle-seconds", "0")
    assert code == 0 and "resumed" in out, out
    assert stack.wait_idle(timeout_s=60)
    code, out = ops("status", "--connection", "shopify-main", "--order", "#2001")
    assert code == 0 and "Sales Invoice-" in out, out
    code, out = ops("connections")
    assert "shopify-main" in out and "posting" in out and "0 paused" in out
