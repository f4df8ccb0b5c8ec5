"""Scheduled: poll every connection for orders changed since its watermark (missed webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from intacct_sync import logs, wiring
from intacct_sync.errors import SyncError
from intacct_sync.lease import JobLease
from intacct_sync.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from intacct_sync.environment import Environment

logger = logs.function_logger()
metrics = Metrics()
tracer = Tracer(patch_modules=["botocore"])
wiring.trace_when_imported(tracer, "requests")  # patched when the channel clients load (first run)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from intacct_sync.environment import Environment  # noqa: PLC0415 - pydantic: first run, not import

    env = Environment.load()
    env.require("orders_queue_url", "payments_queue_url", "claim_check_bucket", "state_table")
    deadline = Deadline.from_context(context, reserve_s=5)
    with JobLease(env.state_table or "").held("reconcile", deadline.remaining() + 60) as ours:
        if not ours:
            logger.warning("reconcile skipped: the previous run is still going", extra={"outcome": "skipped"})
            return {"skipped": "the previous run is still going"}
        return _run(env, deadline)


def _run(env: Environment, deadline: Deadline) -> dict[str, Any]:
    # The domain code loads on the first run, so the module's cold import stays small.
    from intacct_sync.channels.api import client_for  # noqa: PLC0415
    from intacct_sync.connections import SecretsManagerConnections  # noqa: PLC0415
    from intacct_sync.intake.pipeline import EventPipeline  # noqa: PLC0415
    from intacct_sync.intake.reconcile import reconcile_connection  # noqa: PLC0415
    from intacct_sync.queues import SqsEventQueue  # noqa: PLC0415
    from intacct_sync.state import DynamoStateStore  # noqa: PLC0415

    state = DynamoStateStore(env.state_table or "")
    pipeline = EventPipeline(
        state,
        SqsEventQueue(
            orders_url=env.orders_queue_url or "",
            payments_url=env.payments_queue_url or "",
            bucket=env.claim_check_bucket or "",
        ),
    )
    connections = SecretsManagerConnections(env.connection_secret_prefix)
    now = datetime.now(UTC)
    _report_waits(env.state_table or "")
    summary: dict[str, Any] = {}
    for connection_id in connections.list_ids():
        if deadline.remaining() < 10:
            summary[connection_id] = "skipped: out of time, next run"
            continue
        with logs.context(connection_id=connection_id):
            try:
                connection = connections.get(connection_id)
                if connection is None:
                    continue
                result = reconcile_connection(
                    connection_id, client_for(connection), pipeline, state, now=now, deadline=deadline
                )
            except SyncError as exc:
                logger.error("reconcile failed", extra={"outcome": "failed", "reason": exc.message, "fix": exc.fix})
                metrics.add_metric("ReconcileFailures", MetricUnit.Count, 1)
                summary[connection_id] = f"failed: {exc.message}"
                continue
        metrics.add_metric("ReconcileQueued", MetricUnit.Count, result.queued)
        summary[connection_id] = {"seen": result.seen, "queued": result.queued, "complete": result.complete}
    return summary


def _report_waits(table: str) -> None:
    """The oldest payment waiting in the ledger for its invoice (the PaymentWaitSeconds metric and
    the payment-waiting-too-long alarm): logged on every scheduled run, so the alarm keeps its
    figure while no message flows through the consumers (issue 13). One Query of one key of the
    sparse `writeback` index, and one BatchGetItem."""
    from intacct_sync.ledger import DynamoLedger  # noqa: PLC0415
    from intacct_sync.posting.waiting import report_oldest  # noqa: PLC0415

    try:
        report_oldest(DynamoLedger(table, retention_days=0).waiting_entries(limit=1))  # read only
    except SyncError as exc:
        logger.warning("waiting payments not readable", extra={"reason": exc.message, "fix": exc.fix})
