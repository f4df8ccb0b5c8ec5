"""A refund's state before it is credited (issue 9): complete and settled, or not yet.

A channel may announce a refund before its money has moved (a Shopify refund transaction
`pending`) or with its total only (WooCommerce `order.refunds[]`). Crediting either as it stands
would post a wrong credit memo (0.00 and a restock for a pending refund; one untaxed adjustment
line for a WooCommerce refund). So the refund's current state is read from the channel first:
a pending refund is retried (SQS redelivers the message) until the channel says it succeeded,
then credited from that state; a failed one is recorded and never credited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from intacct_sync import logs
from intacct_sync.ledger import LedgerEntry, RefundRecord
from intacct_sync.models.events import RefundEvent
from intacct_sync.models.order import Refund
from intacct_sync.posting.outcome import Outcome
from intacct_sync.retry import Deadline

log = logging.getLogger(__name__)

FetchRefund = Callable[[Refund, Deadline], Refund | None]
"""The refund's current state in full from the channel (`ChannelClient.fetch_refund`)."""


def settle(
    event: RefundEvent, entry: LedgerEntry | None, fetch: FetchRefund | None, deadline: Deadline
) -> RefundEvent | Outcome:
    """The refund event to credit (re-read from the channel when it was pending or incomplete),
    or the outcome that stops it: retry while pending, done (recorded on `entry`, never
    credited) when it failed. A refund already recorded is left for the duplicate check.
    Channel errors propagate (SyncError: transient ones are retried)."""
    refund = event.payload
    if entry is not None and refund.refund_id in entry.refunds:
        return event
    if refund.status != "success" or not refund.detail_complete:
        current = fetch(refund, deadline) if fetch is not None else None
        if current is not None:
            refund = current
            event = event.model_copy(update={"payload": current})
    if refund.status == "pending":
        return Outcome.retry(
            f"refund {refund.refund_id} of order {refund.order_id} is still pending on the channel; it is credited "
            "once its transaction succeeds",
            fix="Nothing to do: the message is redelivered until the refund succeeds or fails. If it stays pending "
            "past the queue's retries, replay it from the dead-letter queue once the channel shows it settled.",
        )
    if refund.status == "failed":
        if entry is not None:
            entry.refunds[refund.refund_id] = RefundRecord(
                refund_id=refund.refund_id, amount=refund.amount, posted_at=datetime.now(UTC), credited=False
            )
            entry.note("refund not credited", f"refund {refund.refund_id}: its transaction failed on the channel")
        log.info(
            "failed refund not credited",
            extra={**logs.order_keys(refund), "refund_id": refund.refund_id},
        )
        return Outcome.done("refund failed on the channel: nothing to credit")
    return event
