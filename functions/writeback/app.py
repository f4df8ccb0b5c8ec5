"""Scheduled: Intacct invoice numbers and paid states back onto the channel orders."""

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
    from intacct_sync.ledger import DynamoLedger  # noqa: PLC0415
    from intacct_sync.state import DynamoStateStore  # noqa: PLC0415
    from intacct_sync.writeback import writeback_all  # noqa: PLC0415

    env = wiring.environment()
    env.require("state_table", "intacct_secret_arn")
    deadline = Deadline.from_context(context, reserve_s=10)
    with JobLease(env.state_table or "").held("writeback", deadline.remaining() + 60) as ours:
        if not ours:
            logger.warning("writeback skipped: the previous run is still going", extra={"outcome": "skipped"})
            return {"skipped": "the previous run is still going"}
        wiring.CURRENT.deadline = deadline
        summary = writeback_all(
            wiring.connections(env),
            wiring.intacct_client(env),
            DynamoLedger(env.state_table or ""),
            DynamoStateStore(env.state_table or ""),
            settings=wiring.settings(env),
            deadline=deadline,
            client_factory=client_for,
            intacct_check=breaker_check(env.state_table or ""),  # Intacct down: numbers only, paid next run
        )
    for result in summary.values():
        metrics.add_metric("OrdersWrittenBack", MetricUnit.Count, float(str(result.get("documents_written", 0))))
        metrics.add_metric("OrdersMarkedPaid", MetricUnit.Count, float(str(result.get("marked_paid", 0))))
        if result.get("error"):
            metrics.add_metric("WritebackFailures", MetricUnit.Count, 1)
    return summary
