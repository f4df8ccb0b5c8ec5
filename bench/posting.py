"""Posting figures: Intacct round trips per order and per payment, and sustained orders per hour
through the order consumer against the sandbox at 400 ms latency with a 2-request concurrency
limit, next to the one-order-per-request ceiling (2 x 3600 / 0.4 = 18,000 orders/hour).

Two consumer workers take SQS-sized batches (10 records) as Lambda would; a process-wide
semaphore stands in for the stack-wide DynamoDB gate (tested on its own), so every request waits
its turn for one of the 2 slots.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from bench.report import Figure
from intacct_sync.intacct import IntacctClient, IntacctCredentials, SessionCache
from intacct_sync.ledger import InMemoryLedger
from intacct_sync.posting.orders import OrderPoster
from intacct_sync.posting.payments import PaymentPoster
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.settings import DEFAULT_SETTINGS
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from tests.integration.test_posting_consumers import order_event, payment_event, shirt_order
from tests.unit.posting.factories import order as make_order

LATENCY_MS = 400
SLOTS = 2
ORDERS = 400
BATCH = 10


def client(
    sandbox: IntacctSandbox, sessions: SessionCache, gate: threading.BoundedSemaphore | None = None
) -> IntacctClient:
    creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": sandbox.url})

    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        if gate is None:
            yield
            return
        with gate:
            yield

    return IntacctClient(creds, sessions=sessions, gate=hold, backoff=Backoff(0.2, 2, 10))


def round_trips() -> list[Figure]:
    with IntacctSandbox.start() as sandbox:
        c = client(sandbox, SessionCache())
        deadline = Deadline.after(60)
        c.session(deadline)
        ledger = InMemoryLedger()
        orders = OrderPoster(c, ledger, DEFAULT_SETTINGS)
        payments = PaymentPoster(c, ledger, DEFAULT_SETTINGS)

        def count(action: object) -> int:
            before = len(sandbox.requests)
            assert callable(action)
            action()
            return len(sandbox.requests) - before

        first = shirt_order("1")
        new_customer = count(lambda: orders([order_event(first)], deadline))
        steady = count(lambda: orders([order_event(shirt_order("2"))], deadline))
        pay = count(lambda: payments([payment_event(first, "p1", str(first.total))], deadline))
        return [
            Figure("Intacct requests per order, new customer", new_customer, "req", "lookup + create-and-invoice"),
            Figure("Intacct requests per order, known customer", steady, "req"),
            Figure("Intacct requests per payment", pay, "req"),
        ]


def throughput() -> list[Figure]:
    logging.disable(logging.WARNING)
    with IntacctSandbox.start(latency_ms=LATENCY_MS, max_concurrency=SLOTS) as sandbox:
        sessions = SessionCache()
        gate = threading.BoundedSemaphore(SLOTS)
        client(sandbox, sessions).session(Deadline.after(30))
        base = shirt_order("0")
        # 40 customers, 10 orders each, interleaved as a real backlog would be.
        events = [
            order_event(
                make_order(
                    list(base.lines),
                    order_id=f"{n:05d}",
                    order_number=f"{n:05d}",
                    total_tax="4.20",
                    customer=base.customer.model_copy(update={"first_name": f"Buyer{n % 40}"}),
                )
            )
            for n in range(ORDERS)
        ]
        batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        lock = threading.Lock()
        done: list[int] = []
        ledger = InMemoryLedger()

        def worker() -> None:
            poster = OrderPoster(client(sandbox, sessions, gate), ledger, DEFAULT_SETTINGS)
            while True:
                with lock:
                    if not batches:
                        return
                    batch = batches.pop(0)
                outcomes = poster(batch, Deadline.after(120))
                with lock:
                    done.extend(1 for o in outcomes.values() if o.status == "done")

        start = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        requests = len(sandbox.requests)
        throttled = sum(1 for r in sandbox.requests if r.http_status == 429)
    per_hour = len(done) / elapsed * 3600
    ceiling = SLOTS * 3600 / (LATENCY_MS / 1000)
    return [
        Figure(f"orders posted ({ORDERS} in batches of {BATCH}, 40 customers)", len(done), "orders"),
        Figure("Intacct requests made (incl. session, lookups)", requests, "req", f"{throttled} answered 429"),
        Figure(f"sustained throughput at {LATENCY_MS} ms, {SLOTS} concurrent", per_hour, "orders/h"),
        Figure("one-order-per-request ceiling", ceiling, "orders/h", f"ours is {per_hour / ceiling:.1f}x"),
    ]


def run() -> list[Figure]:
    return round_trips() + throughput()
