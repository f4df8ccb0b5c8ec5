"""Scheduled: push Intacct stock levels to every configured connection, only what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from intacct_sync import wiring
from intacct_sync.lease import JobLease
from intacct_sync.logs import function_logger
from intacct_sync.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = function_logger()
metrics = Metrics()
tracer = Tracer(patch_modules=["botocore"])
wiring.trace_when_imported(tracer, "requests")  # patched when the Intacct and channel clients load


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The domain code loads on the first run, so the module's cold import stays small.
    from intacct_sync.channels.api import client_for  # noqa: PLC0415
    from intacct_sync.intacct_gate import breaker_check  # noqa: PLC0415
    from intacct_sync.stock import DynamoSnapshotStore, push_all  # noqa: PLC0415

    env = wiring.environment()
    env.require("state_table", "intacct_secret_arn")
    deadline = Deadline.from_context(context, reserve_s=10)
    with JobLease(env.state_table or "").held("stock_push", deadline.remaining() + 60) as ours:
        if not ours:
            logger.warning("stock push skipped: the previous run is still going", extra={"outcome": "skipped"})
            return {"skipped": "the previous run is still going"}
        wiring.CURRENT.deadline = deadline
        summary = push_all(
            wiring.connections(env),
            wiring.intacct_client(env),
            DynamoSnapshotStore(env.state_table or ""),
            wiring.settings(env),
            deadline=deadline,
            client_factory=client_for,
            intacct_check=breaker_check(env.state_table or ""),  # Intacct down: skip, next run pushes
        )
    for result in summary.values():
        metrics.add_metric("StockFiguresWritten", MetricUnit.Count, float(str(result.get("written", 0))))
        if result.get("error") or result.get("rejected"):
            metrics.add_metric("StockPushProblems", MetricUnit.Count, 1)
    return summary
