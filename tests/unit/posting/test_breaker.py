"""The breaker's arithmetic and the recycling of records near the receive budget (issue 13)."""

from __future__ import annotations

from typing import Any

from intacct_sync.posting.breaker import (
    MAX_OPEN_S,
    OPEN_AFTER,
    RECEIVE_BUDGET,
    RECYCLE_AT,
    ConsumerGuard,
    IntacctBreaker,
    open_seconds,
)
from intacct_sync.posting.consumer import Record


class Sqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.visibility: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.sent += Entries
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.visibility += Entries
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def record(message_id: str, group: str, receives: int, recycled: str | None = None) -> Record:
    attrs = {"type": {"stringValue": "order", "dataType": "String"}}
    if recycled is not None:
        attrs["recycled"] = {"stringValue": recycled, "dataType": "String"}
    raw = {"receiptHandle": f"rh-{message_id}", "messageAttributes": attrs}
    return Record(message_id=message_id, group_id=group, body=f"body-{message_id}", receive_count=receives, raw=raw)


def test_the_breaker_opens_after_three_failures_and_doubles_up_to_fifteen_minutes() -> None:
    assert [open_seconds(n) for n in range(OPEN_AFTER)] == [0.0] * OPEN_AFTER
    assert open_seconds(OPEN_AFTER) == 30 and open_seconds(OPEN_AFTER + 1) == 60
    assert open_seconds(OPEN_AFTER + 50) == MAX_OPEN_S
    # Each push-back lasts at most MAX_OPEN_S (+10 % jitter): 8 receives would cover about two hours
    # only, hence the recycling from the 6th receive on.
    assert RECEIVE_BUDGET * MAX_OPEN_S * 1.1 < 3 * 3600 and RECYCLE_AT == RECEIVE_BUDGET - 2


def test_a_group_reaching_the_budget_is_recycled_in_order_and_the_rest_pushed_back() -> None:
    sqs = Sqs()
    guard = ConsumerGuard(IntacctBreaker("t", client=object()), "q", sqs=sqs, rng=lambda: 0.0)
    guard.pause_s = 120.0
    old_head, old_next = record("a1", "g1", RECYCLE_AT, recycled="2"), record("a2", "g1", 1)
    young = record("b1", "g2", 2)
    still = guard.settle([old_head, old_next, young])
    assert [r.message_id for r in still] == ["b1"], "recycled records are reported done"
    assert [e["MessageBody"] for e in sqs.sent] == ["body-a1", "body-a2"], "the group keeps its order"
    assert [e["MessageDeduplicationId"] for e in sqs.sent] == ["recycle-a1", "recycle-a2"]
    assert sqs.sent[0]["MessageAttributes"]["recycled"]["StringValue"] == "3"
    assert sqs.sent[1]["MessageAttributes"]["type"]["StringValue"] == "order"
    assert sqs.visibility == [{"Id": "0", "ReceiptHandle": "rh-b1", "VisibilityTimeout": 120}]


def test_without_an_open_breaker_a_young_retry_keeps_the_queues_own_visibility() -> None:
    sqs = Sqs()
    guard = ConsumerGuard(IntacctBreaker("t", client=object()), "q", sqs=sqs)
    assert [r.message_id for r in guard.settle([record("c1", "g", 1)])] == ["c1"]
    assert sqs.sent == [] and sqs.visibility == []
