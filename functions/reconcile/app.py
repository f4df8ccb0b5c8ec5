"""Scheduled: poll every connection for orders changed since its watermark (missed webhooks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from intacct_sync.channels.api import client_for
from intacct_sync.connections import SecretsManagerConnections
from intacct_sync.environment import Environment
from intacct_sync.errors import SyncError
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.reconcile import reconcile_connection
from intacct_sync.queues import SqsEventQueue
from intacct_sync.retry import Deadline
from intacct_sync.state import DynamoStateStore

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    env = Environment.load()
    env.require("orders_queue_url", "payments_queue_url", "claim_check_bucket", "state_table")
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
    deadline = Deadline.from_context(context, reserve_s=5)
    now = datetime.now(UTC)
    summary: dict[str, Any] = {}
    for connection_id in connections.list_ids():
        if deadline.remaining() < 10:
            summary[connection_id] = "skipped: out of time, next run"
            continue
        try:
            connection = connections.get(connection_id)
            if connection is None:
                continue
            result = reconcile_connection(
                connection_id, client_for(connection), pipeline, state, now=now, deadline=deadline
            )
        except SyncError as exc:
            logger.error("reconcile failed", extra={"connection": connection_id, "error": exc.message, "fix": exc.fix})
            metrics.add_metric("ReconcileFailures", MetricUnit.Count, 1)
            summary[connection_id] = f"failed: {exc.message}"
            continue
        metrics.add_metric("ReconcileQueued", MetricUnit.Count, result.queued)
        summary[connection_id] = {"seen": result.seen, "queued": result.queued, "complete": result.complete}
    return summary
