"""The ledger's customer cache is read once per wave (one BatchGetItem), not once per order.

DynamoDB in moto, Intacct in the sandbox over HTTP; every DynamoDB call the ledger makes is
counted by operation through botocore's own event hooks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from intacct_sync.intacct import IntacctClient, SessionCache
from intacct_sync.ledger import DynamoLedger, InMemoryLedger
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.retry import Backoff
from local.intacct_sandbox import IntacctSandbox
from tests.aws import Stack
from tests.conftest import make_credentials
from tests.integration.test_posting_consumers import SETTINGS, deadline, order_event, shirt_order


class Calls:
    """DynamoDB operations made through one client, and the customer-cache keys each read."""

    def __init__(self, client: Any) -> None:
        self.ops: Counter[str] = Counter()
        self.cache_reads: list[int] = []  # keys per customer-cache read
        client.meta.events.register("before-parameter-build.dynamodb", self._seen)

    def _seen(self, model: Any, params: dict[str, Any], **_kw: Any) -> None:
        self.ops[model.name] += 1
        if model.name == "GetItem" and params["Key"]["pk"]["S"].startswith("customer#"):
            self.cache_reads.append(1)
        if model.name == "BatchGetItem":
            keys = [k["pk"]["S"] for r in params["RequestItems"].values() for k in r["Keys"]]
            if keys and all(k.startswith("customer#") for k in keys):
                self.cache_reads.append(len(keys))

    def reset(self) -> None:
        self.ops.clear()
        self.cache_reads.clear()


@pytest.fixture
def poster(aws: Stack, sandbox: IntacctSandbox) -> tuple[OrderPoster, Calls]:
    client = IntacctClient(make_credentials(sandbox), sessions=SessionCache(), backoff=Backoff(0.01, 0.05, 5))
    client.session(deadline())
    return OrderPoster(client, DynamoLedger(aws.table, client=aws.dynamodb), SETTINGS), Calls(aws.dynamodb)


def buyer(n: int, order_id: str) -> Any:
    o = shirt_order(order_id)
    return o.model_copy(update={"customer": o.customer.model_copy(update={"first_name": f"Buyer{n}"})})


def test_a_wave_of_new_customers_reads_the_cache_once(poster: tuple[OrderPoster, Calls]) -> None:
    post, calls = poster
    outcomes = post([order_event(buyer(n, f"20{n:02d}")) for n in range(8)], deadline())
    assert all(o.status == "done" for o in outcomes.values()), outcomes
    # 8 customers + each order's bill-to/ship-to contact: one read for the whole wave.
    assert len(calls.cache_reads) == 1, calls.cache_reads
    assert calls.cache_reads[0] >= 8
    assert calls.ops["GetItem"] == 0, calls.ops


def test_the_next_wave_finds_the_cached_customers_in_one_read(poster: tuple[OrderPoster, Calls]) -> None:
    post, calls = poster
    post([order_event(buyer(n, f"30{n:02d}")) for n in range(5)], deadline())
    calls.reset()
    outcomes = post([order_event(buyer(n, f"31{n:02d}")) for n in range(5)], deadline())
    assert all(o.status == "done" for o in outcomes.values()), outcomes
    assert len(calls.cache_reads) == 1 and calls.ops["GetItem"] == 0, (calls.cache_reads, calls.ops)


def test_customer_many_matches_customer_for_both_ledgers_and_pages_by_100(aws: Stack) -> None:
    dynamo = DynamoLedger(aws.table, client=aws.dynamodb)
    memory = InMemoryLedger()
    for ledger in (dynamo, memory):
        for n in range(0, 150, 3):
            ledger.remember_customer(f"customer_name:buyer {n}", f"C-{n}")
    keys = [f"customer_name:buyer {n}" for n in range(150)] + ["customer_name:buyer 0"]  # a repeat
    calls = Calls(aws.dynamodb)
    found = dynamo.customer_many(keys)
    assert calls.cache_reads == [100, 50]  # BatchGetItem's 100-key maximum, the repeat read once
    assert found == memory.customer_many(keys) == {k: v for k in keys if (v := memory.customer(k))}
    assert found == {k: dynamo.customer(k) for k in keys if dynamo.customer(k)}
    assert dynamo.customer_many([]) == {} and memory.customer_many([]) == {}
