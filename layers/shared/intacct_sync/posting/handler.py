"""The Lambda handler shared by the orders and payments consumers (they differ by data only).

Cold import: only Powertools and the logging set-up load with the handler module; the posting
code (pydantic models, requests, the Intacct client) loads on the first invocation, when the
poster is built (once per container). requests is traced from the moment it is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from intacct_sync import wiring
from intacct_sync.logs import function_logger
from intacct_sync.retry import Deadline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from intacct_sync.models.events import CanonicalEvent
    from intacct_sync.posting.entities import EntityRouter
    from intacct_sync.posting.outcome import Outcome

Kind = Literal["orders", "payments"]
_METRIC = {"done": "Handled", "retry": "Retried", "park": "Parked"}


def consumer_handler(kind: Kind) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    logger = function_logger()
    metrics = Metrics()
    tracer = Tracer(patch_modules=["botocore"])
    wiring.trace_when_imported(tracer, "requests")
    posters: dict[str, EntityRouter] = {}  # built once per warm container
    prefix = "Orders" if kind == "orders" else "Payments"

    def count(_event: CanonicalEvent | None, outcome: Outcome) -> None:
        # Posted counts documents written; an event that needed nothing (duplicate, stale, no change) is Handled.
        name = "Posted" if outcome.posted else _METRIC[outcome.status]
        metrics.add_metric(f"{prefix}{name}", MetricUnit.Count, 1)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        from intacct_sync.posting.consumer import DeadLetterParking, process_batch  # noqa: PLC0415 - first call

        env = wiring.environment()
        wiring.CURRENT.deadline = Deadline.from_context(context, reserve_s=5)
        if kind not in posters:  # one poster per Intacct entity (a connection's intacct_entity_id)
            posters[kind] = wiring.by_entity(env, kind)
        # Settings changes apply within the parameter cache's 5 minutes, also in warm containers.
        posters[kind].settings = wiring.settings(env)
        dlq = env.orders_dlq_url if kind == "orders" else env.payments_dlq_url
        from intacct_sync.pause import gate_for  # noqa: PLC0415 - first call (issue 14)
        from intacct_sync.posting.breaker import guard_for  # noqa: PLC0415 - first call (issue 13)

        # Records of a paused connection are held in the state table, not posted (issue 14: pause).
        decode = wiring.decoder(env)
        event, held_failures = gate_for(env.state_table or "").hold_paused(event, decode=decode, queue=kind)
        answer = process_batch(
            event,
            decode=decode,
            poster=posters[kind],
            park=DeadLetterParking(dlq or ""),
            deadline=wiring.CURRENT.deadline,
            on_outcome=count,
            guard=guard_for(env, posters[kind], kind),
        )
        answer["batchItemFailures"] += [{"itemIdentifier": m} for m in held_failures]
        return answer

    handler: Callable[[dict[str, Any], LambdaContext], dict[str, Any]] = lambda_handler
    return handler
