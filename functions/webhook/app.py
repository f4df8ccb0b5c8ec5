"""POST /webhooks/{connection_id}: verify, normalise and queue a channel delivery (no Intacct call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from intacct_sync.logs import function_logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from intacct_sync.intake.webhook import WebhookIntake

logger = function_logger()
metrics = Metrics()
tracer = Tracer(patch_modules=["botocore"])
_intake: WebhookIntake | None = None


def _record(outcome: str, channel: str | None, events: int) -> None:
    metrics.add_dimension("Channel", channel or "unknown")
    metrics.add_metric("WebhooksAccepted" if outcome == "accepted" else f"Webhook_{outcome}", MetricUnit.Count, 1)
    if events:
        metrics.add_metric("EventsQueued", MetricUnit.Count, events)


def intake() -> WebhookIntake:
    """Built once per container: clients and the connection cache survive warm invocations."""
    global _intake  # noqa: PLW0603 - the per-container singleton Lambda reuses
    if _intake is None:
        # Loaded here, on the first request, so the module's cold import stays small.
        import boto3  # noqa: PLC0415

        from intacct_sync.connections import SecretsManagerConnections  # noqa: PLC0415
        from intacct_sync.environment import Environment  # noqa: PLC0415
        from intacct_sync.intake.aws import lean  # noqa: PLC0415
        from intacct_sync.intake.pipeline import EventPipeline  # noqa: PLC0415
        from intacct_sync.intake.webhook import WebhookIntake  # noqa: PLC0415
        from intacct_sync.queues import SqsEventQueue  # noqa: PLC0415
        from intacct_sync.state import DynamoStateStore  # noqa: PLC0415

        env = Environment.load()
        env.require("orders_queue_url", "payments_queue_url", "claim_check_bucket", "state_table")
        queue = SqsEventQueue(
            orders_url=env.orders_queue_url or "",
            payments_url=env.payments_queue_url or "",
            bucket=env.claim_check_bucket or "",
            # The two calls of every delivery on botocore's short path (intake.aws): same requests.
            sqs=lean(boto3.client("sqs"), "SendMessageBatch"),
        )
        state = DynamoStateStore(env.state_table or "", client=lean(boto3.client("dynamodb"), "UpdateItem"))
        _intake = WebhookIntake(
            SecretsManagerConnections(env.connection_secret_prefix),
            EventPipeline(state, queue),
            on_outcome=_record,
        )
    return _intake


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return intake().handle_apigw(event).to_apigw()
