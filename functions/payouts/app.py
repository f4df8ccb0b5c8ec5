"""Scheduled: each paid Shopify Payments or Stripe payout becomes one deposit in Intacct (bank line = deposit)."""

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
    from intacct_sync.ledger import DynamoLedger  # noqa: PLC0415
    from intacct_sync.pause import PauseStore  # noqa: PLC0415
    from intacct_sync.payouts.ledger import DynamoPayoutStore  # noqa: PLC0415
    from intacct_sync.payouts.run import PayoutPoster, payouts_all, source_for  # noqa: PLC0415

    env = wiring.environment()
    env.require("state_table", "intacct_secret_arn")
    deadline = Deadline.from_context(context, reserve_s=10)
    with JobLease(env.state_table or "").held("payouts", deadline.remaining() + 60) as ours:
        if not ours:
            logger.warning("payouts skipped: the previous run is still going", extra={"outcome": "skipped"})
            return {"skipped": "the previous run is still going"}
        wiring.CURRENT.deadline = deadline
        settings = wiring.settings(env)
        poster = PayoutPoster(
            wiring.intacct_client(env),
            DynamoLedger(env.state_table or ""),
            DynamoPayoutStore(env.state_table or ""),
            settings,
        )
        clients: dict[str | None, Any] = {None: poster.intacct}

        def intacct_for(entity: str | None) -> Any:  # one client per entity (its own sign-in)
            if entity not in clients:
                clients[entity] = wiring.intacct_client(env, entity)
            return clients[entity]

        summary = payouts_all(
            wiring.connections(env),
            poster,
            deadline=deadline,
            source_factory=lambda c: source_for(c, settings),
            intacct_for=intacct_for,
            paused=PauseStore(env.state_table or "").get,
        )
    for result in summary.values():
        metrics.add_metric("PayoutsDeposited", MetricUnit.Count, float(str(result.get("deposited", 0))))
        metrics.add_metric("PayoutsWaiting", MetricUnit.Count, float(str(result.get("waiting", 0))))
        if result.get("error") or result.get("failed"):
            metrics.add_metric("PayoutFailures", MetricUnit.Count, 1)
    return summary
