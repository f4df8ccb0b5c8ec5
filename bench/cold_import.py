"""Cold import of every Lambda handler next to a bare `import boto3` (goal: at most 1.5x).

How: a fresh interpreter per import, Lambda-like: only layers/shared and functions/<name> on
sys.path (run from outside the project, PYTHONPATH unset), LAMBDA_TASK_ROOT set so X-Ray runs in
its Lambda mode. `python -X importtime` gives the cumulative time of the top-level import (`app`,
`boto3`); each figure is the median of RUNS, the runs interleaved (boto3 then every handler, in
both tracing settings, repeated) so machine load hits them alike. The goal applies to tracing as
deployed (template: Tracing: Active, POWERTOOLS_TRACE_DISABLED unset); tracing disabled is in the
note. Nothing is stubbed: real modules, Powertools and X-Ray; no AWS call happens at import.

The note also gives what the handler's first invocation imports on top (the domain code the
handlers load lazily, plus boto3 for its clients), measured in the same interpreter right after
`import app`: deferred, not avoided, so a cold start still pays it once (outside this goal).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.report import Figure

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
GOAL = 1.5
HANDLERS = ("webhook", "order_consumer", "payment_consumer", "reconcile", "stock_push", "writeback", "payouts")

_CONSUMER = (
    "boto3",
    "aws_lambda_powertools.utilities.parameters",
    "intacct_sync.environment",
    "intacct_sync.settings",
    "intacct_sync.connections",
    "intacct_sync.ledger",
    "intacct_sync.queues",
    "intacct_sync.intacct.client",
    "intacct_sync.intacct.gate",
    "intacct_sync.posting.consumer",
)
FIRST_CALL: dict[str, tuple[str, ...]] = {
    "webhook": (
        "boto3",
        "intacct_sync.environment",
        "intacct_sync.connections",
        "intacct_sync.state",
        "intacct_sync.queues",
        "intacct_sync.intake.pipeline",
        "intacct_sync.intake.webhook",
    ),
    "order_consumer": (*_CONSUMER, "intacct_sync.state", "intacct_sync.intake.pipeline", "intacct_sync.posting.orders"),
    "payment_consumer": (*_CONSUMER, "intacct_sync.posting.cash_change"),
    "reconcile": (
        "boto3",
        "intacct_sync.environment",
        "intacct_sync.connections",
        "intacct_sync.state",
        "intacct_sync.queues",
        "intacct_sync.intake.pipeline",
        "intacct_sync.intake.reconcile",
        "intacct_sync.channels.api",
    ),
    "stock_push": (
        "boto3",
        "aws_lambda_powertools.utilities.parameters",
        "intacct_sync.environment",
        "intacct_sync.settings",
        "intacct_sync.connections",
        "intacct_sync.intacct.client",
        "intacct_sync.intacct.gate",
        "intacct_sync.channels.api",
        "intacct_sync.stock",
    ),
    "writeback": (
        "boto3",
        "aws_lambda_powertools.utilities.parameters",
        "intacct_sync.environment",
        "intacct_sync.settings",
        "intacct_sync.connections",
        "intacct_sync.intacct.client",
        "intacct_sync.intacct.gate",
        "intacct_sync.channels.api",
        "intacct_sync.ledger",
        "intacct_sync.state",
        "intacct_sync.writeback",
    ),
    "payouts": (
        "boto3",
        "aws_lambda_powertools.utilities.parameters",
        "intacct_sync.environment",
        "intacct_sync.settings",
        "intacct_sync.connections",
        "intacct_sync.intacct.client",
        "intacct_sync.intacct.gate",
        "intacct_sync.channels.api",
        "intacct_sync.ledger",
        "intacct_sync.payouts.run",
        "intacct_sync.payouts.shopify",
    ),
}


def _top_level_ms(stderr: str) -> dict[str, float]:
    """Cumulative ms of each top-level import in `-X importtime` output."""
    out: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith("  "):  # nested: counted in its parent's cumulative
            continue
        out[name.strip()] = out.get(name.strip(), 0.0) + int(cumulative) / 1000
    return out


def _run(name: str, *, tracing: bool, first_call: bool = False) -> tuple[float, float]:
    """(import ms, first-call ms) of `name` (a handler, or "boto3") in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "POWERTOOLS_TRACE_DISABLED")}
    env.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    env["LAMBDA_TASK_ROOT"] = str(ROOT / "functions" / (name if name in HANDLERS else "webhook"))
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    if name == "boto3":
        code, top = "import boto3", "boto3"
    else:
        paths = [str(ROOT / "layers" / "shared"), str(ROOT / "functions" / name)]
        extra = "".join(f"; import {m}" for m in FIRST_CALL[name]) if first_call else ""
        code, top = f"import sys; sys.path[:0] = {paths!r}; import app{extra}", "app"
    proc = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-X", "importtime", "-c", code],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    times = _top_level_ms(proc.stderr)
    later = sum(times.get(m, 0.0) for m in FIRST_CALL[name]) if first_call and name in FIRST_CALL else 0.0
    return times[top], later


def run(runs: int = RUNS) -> list[Figure]:
    samples: dict[tuple[str, bool], list[float]] = {}
    first: dict[str, list[float]] = {}
    for _ in range(runs):
        for tracing in (True, False):
            samples.setdefault(("boto3", tracing), []).append(_run("boto3", tracing=tracing)[0])
            for name in HANDLERS:
                ms, later = _run(name, tracing=tracing, first_call=tracing)
                samples.setdefault((name, tracing), []).append(ms)
                if tracing:
                    first.setdefault(name, []).append(later)
    median = {key: statistics.median(values) for key, values in samples.items()}
    figures = []
    for name in HANDLERS:
        ratio = median[(name, True)] / median[("boto3", True)]
        off = median[(name, False)] / median[("boto3", False)]
        figures.append(
            Figure(
                f"functions/{name}/app.py cold import / import boto3",
                ratio,
                "x",
                f"{median[(name, True)]:.0f} vs {median[('boto3', True)]:.0f} ms, tracing on; "
                f"tracing off {off:.2f}x; first call imports +{statistics.median(first[name]):.0f} ms",
                goal=f"<= {GOAL}x",
                met=ratio <= GOAL,
            )
        )
    return figures
