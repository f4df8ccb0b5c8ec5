"""Importing a handler module loads no domain code: pydantic models, requests and the posting,
channel, stock and writeback code load on the first invocation (`make bench` measures the
import time against `import boto3`; this keeps the gain from silently regressing).

Lambda-like: a fresh interpreter with only the layer and the function's folder on sys.path (not
the project root), once with tracing as deployed (Tracing: Active) and once disabled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("webhook", "order_consumer", "payment_consumer", "reconcile", "stock_push", "writeback", "payouts")
# Modules a handler must not import at load: what the old handlers paid for before their first call.
DEFERRED = (
    "requests",
    "pydantic",
    "pydantic_core",
    "defusedxml",
    "aws_lambda_powertools.utilities.parameters",
    "intacct_sync.models",
    "intacct_sync.settings",
    "intacct_sync.environment",
    "intacct_sync.connections",
    "intacct_sync.ledger",
    "intacct_sync.state",
    "intacct_sync.queues",
    "intacct_sync.intacct",
    "intacct_sync.channels",
    "intacct_sync.intake",
    "intacct_sync.posting.orders",
    "intacct_sync.posting.payments",
    "intacct_sync.posting.consumer",
    "intacct_sync.stock",
    "intacct_sync.writeback",
    "intacct_sync.payouts",
)

PROBE = """
import importlib.util, json, sys
layer, functions, names, deferred = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4].split(",")
sys.path.insert(0, layer)
out = {}
for name in names:
    sys.path.insert(0, f"{functions}/{name}")
    spec = importlib.util.spec_from_file_location(f"app_{name}", f"{functions}/{name}/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.path.remove(f"{functions}/{name}")
    out[name] = sorted(m for m in sys.modules if any(m == d or m.startswith(d + ".") for d in deferred))
import requests  # the first call's Intacct / channel client
from aws_xray_sdk.core import patcher
out["patched"] = sorted(patcher._PATCHED_MODULES)
print(json.dumps(out))
"""


def probe(*, tracing: bool) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "POWERTOOLS_TRACE_DISABLED")}
    env["AWS_DEFAULT_REGION"] = "eu-west-1"
    env["LAMBDA_TASK_ROOT"] = str(ROOT / "functions")  # X-Ray's Lambda mode, as deployed
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    out = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [
            sys.executable,
            "-c",
            PROBE,
            str(ROOT / "layers" / "shared"),
            str(ROOT / "functions"),
            ",".join(HANDLERS),
            ",".join(DEFERRED),
        ],
        cwd="/",  # not the project root: nothing but the layer is importable
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize("tracing", [True, False], ids=["tracing", "no-tracing"])
def test_handler_modules_load_no_domain_code(tracing: bool) -> None:
    found = probe(tracing=tracing)
    assert {name: found[name] for name in HANDLERS} == {name: [] for name in HANDLERS}
    # requests is still traced: patched by the post-import hook when the first call imports it.
    assert found["patched"] == (["botocore", "requests"] if tracing else [])
