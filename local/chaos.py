"""`make chaos`: a soak of the stack on a bad day, then a fuzz of the webhook and a secret scan.

    python -m local.chaos --orders 1000 --seed 1

The stack is `local.stack.LocalStack` (template.yaml's wiring, the functions' real handlers,
moto for AWS) against the Intacct and channel sandboxes. What this driver adds:

- **Simulated time.** moto's SQS clock (visibility timeouts, redrive, FIFO deduplication), the
  Intacct circuit breaker's clock and the Intacct client's retry sleeps all read one `SimClock`,
  so the queues keep template.yaml's real 540 s visibility timeout and 8 receives, and an Intacct
  outage of hours passes in seconds. The stack's own pollers are replaced by one deterministic
  driver (`Chaos.pump_once`): receive a batch (the mapping's batch size), invoke the consumer's handler,
  delete what it did not report as failed, exactly as the event source mapping does.
- **Orders.** `--orders` orders over Shopify, WooCommerce and BigCommerce (new and repeat customers,
  payments in one or two captures, refunds, unpaid orders updated, unpaid orders cancelled) are
  put in the channel sandbox; every delivery (signed as the channel signs it) is sent 3 times,
  all shuffled, by 8 concurrent senders over HTTP, in slices with the consumers running between.
- **Faults.** Every Intacct HTTP attempt draws from a seeded RNG: 20 % transient (HTTP 503, HTTP
  429 with GW-0010, a read time-out after Intacct committed), 5 % committed with the answer lost
  (HTTP 504); during `--outage-hours` (the last slices of deliveries) every request gets 503 (the
  breaker opens, records are pushed back and recycled, never dead-lettered). A few consumer invocations are killed after
  their first Intacct request (their batch comes back when its visibility timeout ends). The
  channel APIs answer 429 from time to time (webhook fetches, consumers' order and refund reads).
- **Checks** (exit 1 on any failure): invoices = orders placed (cancelled unpaid orders' invoices
  deleted), no duplicate document or payment, credits = refunds to the cent, every delivery
  accounted for in the ledger, nothing waiting, nothing in a DLQ (printed with reasons otherwise);
  the fuzz (`--fuzz` signed-but-mutated requests, signature attacks, malformed gateway events
  through the deployed handler); the scan of every log line and stored message for the run's
  secrets and personal data (0 in logs).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import io
import json
import logging
import random
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

from local.channel_sandbox import ChannelFault, ChannelSandbox
from local.channel_sandbox import webhooks as channel_webhooks
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import Fault, IntacctSandbox
from local.stack import LocalStack, SqsMapping

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
IDS = {"shopify": "shopify-main", "woocommerce": "woo-main", "bigcommerce": "bc-main"}
FIRST_NUMBER = {"shopify": 100_000, "woocommerce": 200_000, "bigcommerce": 300_000}
VISIBILITY_S = 540
RECEIVE_BUDGET = 8
SENDERS = 8
COPIES = 3
TRANSIENT_RATE = 0.20
LOST_RATE = 0.05
INVOCATION_S = 2.0
"""Simulated time one consumer invocation takes."""
IDLE_STEP_S = 60.0
"""Simulated time that passes when no queue has a visible message."""


# --- simulated time ------------------------------------------------------------------------------


class SimClock:
    """Epoch seconds that move only when told to (thread-safe)."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)

    def millis(self) -> float:
        return self() * 1000


@contextlib.contextmanager
def simulated_time(clock: SimClock) -> Iterator[None]:
    """moto's SQS, the Intacct breaker and the wait reports on `clock` (restored after)."""
    from moto.sqs import models as sqs_models

    from intacct_sync.posting import breaker

    saved = {name: getattr(sqs_models, name) for name in ("unix_time", "unix_time_millis")}
    original_breaker, original_report = breaker.IntacctBreaker, breaker.report_waits

    class SimBreaker(original_breaker):  # type: ignore[misc, valid-type]
        def __init__(self, table: str, *, client: Any = None, clock: Callable[[], float] = clock) -> None:
            super().__init__(table, client=client, clock=clock)

    def report_waits(table: str, *, ledger: Any = None, clock: Callable[[], float] = clock) -> None:
        original_report(table, ledger=ledger, clock=clock)

    setattr(sqs_models, "unix_time", lambda dt=None: clock())  # noqa: B010 - moto's clock, for this run
    setattr(sqs_models, "unix_time_millis", lambda dt=None: clock.millis())  # noqa: B010
    breaker.IntacctBreaker = SimBreaker  # type: ignore[misc]
    breaker.report_waits = report_waits
    breaker._WAITS_REPORTED[0] = 0.0
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(sqs_models, name, value)
        breaker.IntacctBreaker = original_breaker  # type: ignore[misc]
        breaker.report_waits = original_report


# --- faults at the Intacct client's HTTP attempt ------------------------------------------------------


class Killed(BaseException):
    """The consumer's process died (out of memory, killed): nothing after this point runs."""


@dataclass
class IntacctChaos:
    """Decides the fate of each HTTP attempt the Intacct client makes (seeded; attempts are
    serialised, so an armed sandbox fault always meets the attempt it was armed for)."""

    sandbox: IntacctSandbox
    clock: SimClock
    rng: random.Random
    transient_rate: float = TRANSIENT_RATE
    lost_rate: float = LOST_RATE
    outage: bool = False
    kill_after: int | None = None
    script: list[str] = field(default_factory=lambda: ["lost", "503", "429", "timeout"])
    """The first fates, so that a short run meets every kind of fault whatever the draws."""
    counts: Counter[str] = field(default_factory=Counter)
    sessions: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from intacct_sync.intacct import client as client_module

        original_post = client_module.IntacctClient._post_once
        original_put = client_module.SessionCache.put
        chaos = self

        def post_once(client: Any, endpoint: str, **kw: Any) -> Any:
            client.sleep = chaos.clock.advance  # retry back-off in simulated time
            with chaos.lock:
                fate = chaos.fate()
                saved_timeout = client.read_timeout_s
                if fate == "timeout":
                    client.read_timeout_s = 0.05
                try:
                    out = original_post(client, endpoint, **kw)
                finally:
                    client.read_timeout_s = saved_timeout
                if chaos.kill_after is not None:
                    chaos.kill_after -= 1
                    if chaos.kill_after <= 0:
                        chaos.kill_after = None
                        chaos.counts["killed"] += 1
                        raise Killed
                return out

        def put(cache: Any, key: tuple[str, ...], session: Any) -> None:
            chaos.sessions.add(str(session.session_id))
            original_put(cache, key, session)

        from intacct_sync.channels.api import http as channel_http

        original_init = channel_http.ChannelHttp.__init__

        def channel_init(http: Any, **kw: Any) -> None:
            original_init(http, **kw)
            http.sleep = chaos.channel_sleep  # the channels' quota waits and back-off

        patches = [
            (client_module.IntacctClient, "_post_once", post_once, original_post),
            (client_module.SessionCache, "put", put, original_put),
            (channel_http.ChannelHttp, "__init__", channel_init, original_init),
        ]
        for cls, name, new, _ in patches:
            setattr(cls, name, new)
        try:
            yield
        finally:
            for cls, name, _, old in patches:
                setattr(cls, name, old)

    def channel_sleep(self, seconds: float) -> None:
        """A channel client's wait: in simulated time, and a moment of real time (the sandbox's
        quota windows run on the wall clock)."""
        self.counts["channel_waits"] += 1
        self.clock.advance(seconds)
        time.sleep(min(seconds, 0.05))

    def fate(self) -> str:
        self.counts["attempts"] += 1
        if self.outage:
            self.sandbox.inject(Fault(kind="http_error", status=503))
            self.counts["outage_503"] += 1
            return "outage"
        scripted = self.script.pop(0) if self.script else None
        r = self.rng.random() if scripted is None else (0.0 if scripted != "lost" else self.transient_rate)
        if r < self.transient_rate:
            kind = scripted or self.rng.choice(["503", "429", "timeout"])
            if kind == "503":
                self.sandbox.inject(Fault(kind="http_error", status=503))
            elif kind == "429":
                self.sandbox.inject(Fault(kind="rate_limit"))
            else:  # committed, then the answer is later than the client waits
                self.sandbox.inject(Fault(kind="hang", delay_s=0.15))
            self.counts[f"transient_{kind}"] += 1
            return kind
        if r < self.transient_rate + self.lost_rate:
            self.sandbox.inject(Fault(kind="lose_response"))
            self.counts["committed_answer_lost"] += 1
            return "lost"
        return "ok"


# --- the orders ----------------------------------------------------------------------------------------


@dataclass
class Customer:
    first: str
    last: str
    email: str
    street: str


@dataclass
class Planned:
    channel: str
    order_id: int
    customer: Customer
    kind: str
    total: Decimal = Decimal(0)
    payments: dict[str, Decimal] = field(default_factory=dict)
    refunds: dict[str, Decimal] = field(default_factory=dict)
    cancelled: bool = False
    updated: bool = False
    streets: list[str] = field(default_factory=list)

    @property
    def connection_id(self) -> str:
        return IDS[self.channel]


@dataclass
class Delivery:
    channel: str
    topic: str
    order_id: int
    body: bytes
    headers: dict[str, str]
    status: list[int] = field(default_factory=list)
    secret: str = ""
    """BigCommerce: signed again (same webhook-id, new timestamp) on each attempt, as Standard
    Webhooks senders do, so a delivery sent minutes after it was built is not stale."""

    def signed_headers(self) -> dict[str, str]:
        if self.channel != "bigcommerce":
            return self.headers
        import hashlib
        import hmac

        stamp = str(int(time.time()))
        msg = f"{self.headers['webhook-id']}.{stamp}.".encode() + self.body
        mac = base64.b64encode(hmac.new(self.secret.encode(), msg, hashlib.sha256).digest()).decode()
        return {**self.headers, "webhook-timestamp": stamp, "webhook-signature": "v1," + mac}


KINDS = {
    "shopify": ["paid", "paid", "paid_in_two", "paid_refunded", "paid_refunded_twice", "updated", "cancelled"],
    "woocommerce": ["paid", "paid", "paid_refunded"],
    "bigcommerce": ["paid", "paid", "paid_refunded"],
}


class Shop:
    """Builds the run's orders in the channel sandbox and the deliveries announcing them."""

    def __init__(self, cs: ChannelSandbox, rng: random.Random) -> None:
        self.cs, self.rng = cs, rng
        self.plans: list[Planned] = []
        self.deliveries: list[Delivery] = []
        self.customers: list[Customer] = []
        self.next_id = 10_000_000
        self.clock = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        self.templates = {
            "shopify": cs.order("shopify", STORES["shopify"], 450789469),
            "woocommerce": cs.order("woocommerce", STORES["woocommerce"], 727),
        }
        with cs.world.lock:
            st = cs.world.store("bigcommerce", STORES["bigcommerce"])
            self.bc_template = copy.deepcopy(self._bc_bundle(st, 218))

    @staticmethod
    def _bc_bundle(st: Any, order_id: int) -> dict[str, Any]:
        rec = st.orders[order_id]
        return {
            "order": rec.data,
            "products": rec.products,
            "shipping_addresses": rec.shipping_addresses,
            "transactions": rec.transactions,
            "refunds": rec.refunds,
            **rec.extra,
        }

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _later(self) -> datetime:
        self.clock += timedelta(seconds=7)
        return self.clock

    def customer(self, n: int) -> Customer:
        """A repeat customer (about one order in three) or a new one."""
        if self.customers and self.rng.random() < 0.35:
            return self.rng.choice(self.customers[:50])
        k = len(self.customers) + 1
        c = Customer(f"Chaos{k}", f"Tester{n}", f"chaos.buyer{k}@chaos-mail.example", f"{k} Entropy Lane")
        self.customers.append(c)
        return c

    def build(self, orders: int) -> None:
        channels = ["shopify"] * 5 + ["woocommerce"] * 3 + ["bigcommerce"] * 2
        counters: Counter[str] = Counter()
        for n in range(orders):
            channel = channels[n % len(channels)]
            counters[channel] += 1
            kind = self.rng.choice(KINDS[channel])
            if channel == "shopify" and counters[channel] % 25 == 3:
                kind = "paid_big"  # an event too big for SQS: it travels as an S3 claim check
            plan = Planned(channel, FIRST_NUMBER[channel] + counters[channel], self.customer(n), kind)
            getattr(self, f"_{channel}")(plan)
            self.plans.append(plan)

    # --- deliveries -----------------------------------------------------------------------------

    def deliver(self, plan: Planned, topic: str) -> None:
        from local.channel_sandbox.server import DEFAULT_SHOPIFY_VERSION

        channel = plan.channel
        conn = self.cs.connection_secret(channel, STORES[channel], IDS[channel])
        extra = {}
        if conn.get("webhook_auth_header"):
            extra[conn["webhook_auth_header"]] = conn["webhook_auth_value"]
        with self.cs.world.lock:
            st = self.cs.world.store(channel, STORES[channel])
            body, base = channel_webhooks.build(
                st, topic, plan.order_id, st.config.get("api_version", DEFAULT_SHOPIFY_VERSION)
            )
            headers = channel_webhooks.finish_headers(st, body, base, extra)
            secret = str(st.config.get("client_secret") or "")
        self.deliveries.append(Delivery(channel, topic, plan.order_id, body, headers, secret=secret))

    # --- Shopify ---------------------------------------------------------------------------------

    def _shopify_state(self, plan: Planned, order: dict[str, Any], street: str) -> None:
        c = plan.customer
        for key in ("customer", "billing_address", "shipping_address"):
            if order.get(key):
                order[key].update({"first_name": c.first, "last_name": c.last})
                if "name" in order[key]:
                    order[key]["name"] = f"{c.first} {c.last}"
        for key in ("billing_address", "shipping_address"):
            order[key]["address1"] = street
        order["customer"]["email"] = order["email"] = c.email
        order["customer"]["id"] = 7_000_000 + int(c.first.removeprefix("Chaos"))
        order["updated_at"] = self._later().isoformat()

    @staticmethod
    def _make_big(order: dict[str, Any], plan: Planned) -> None:
        template = order["line_items"][0]
        lines = []
        for i in range(120):
            item = copy.deepcopy(template)
            engraving = f"For {plan.customer.first}, {plan.customer.street} ({i}) " + "~" * 2400
            item.update(
                {
                    "id": plan.order_id * 1000 + i,
                    "price": "1.00",
                    "quantity": 1,
                    "name": f"T-Shirt - Small, engraved #{i} " + "*" * 2400,
                    "properties": [{"name": "Engraving", "value": engraving}],
                    "total_discount": "0.00",
                    "discount_allocations": [],
                    "tax_lines": [],
                    "price_set": {
                        "shop_money": {"amount": "1.00", "currency_code": "USD"},
                        "presentment_money": {"amount": "1.00", "currency_code": "USD"},
                    },
                }
            )
            lines.append(item)
        order["line_items"] = lines
        total = {"amount": "130.00", "currency_code": "USD"}
        order.update(
            {
                "subtotal_price": "120.00",
                "total_line_items_price": "120.00",
                "total_price": "130.00",
                "total_tax": "0.00",
                "total_discounts": "0.00",
                "tax_lines": [],
                "discount_codes": [],
                "discount_applications": [],
                "total_price_set": {"shop_money": total, "presentment_money": total},
            }
        )

    def _shopify(self, plan: Planned) -> None:
        store = STORES["shopify"]
        order = copy.deepcopy(self.templates["shopify"])
        for key in ("refunds", "transactions"):
            order.pop(key, None)
        oid = plan.order_id
        paid = plan.kind.startswith("paid")
        order.update({"id": oid, "order_number": oid, "name": f"#{oid}"})
        order["financial_status"] = "paid" if paid else "pending"
        for i, item in enumerate(order["line_items"]):
            item["id"] = oid * 10 + i
        plan.streets.append(plan.customer.street)
        self._shopify_state(plan, order, plan.customer.street)
        if plan.kind == "paid_big":  # a B2B order of 120 engraved lines: an S3 claim check on the queue
            self._make_big(order, plan)
        plan.total = Decimal(order["total_price"])
        self.cs.put_order("shopify", store, order)
        if paid:
            parts = [plan.total] if plan.kind != "paid_in_two" else [Decimal("200.00"), plan.total - Decimal("200.00")]
            for amount in parts:
                txn = self._id()
                self.cs.add_transaction(
                    "shopify",
                    store,
                    oid,
                    {
                        "id": txn,
                        "kind": "sale",
                        "status": "success",
                        "amount": str(amount),
                        "currency": order["currency"],
                        "gateway": "shopify_payments",
                        "processed_at": order["processed_at"],
                    },
                )
                plan.payments[str(txn)] = amount
                self.deliver(plan, "order_transactions/create")
        self.deliver(plan, "orders/create")
        if plan.kind.startswith("paid_refunded"):
            lines = order["line_items"][: 2 if plan.kind == "paid_refunded_twice" else 1]
            for item in lines:
                refund = self._id()
                self.cs.add_refund(
                    "shopify",
                    store,
                    oid,
                    {
                        "id": refund,
                        "note": "chaos: arrived damaged",
                        "refund_line_items": [
                            {
                                "id": refund + 1,
                                "quantity": 1,
                                "line_item_id": item["id"],
                                "line_item": item,
                                "subtotal": item["price"],
                                "total_tax": "0.00",
                            }
                        ],
                        "transactions": [
                            {
                                "id": refund + 2,
                                "kind": "refund",
                                "status": "success",
                                "amount": item["price"],
                                "gateway": "shopify_payments",
                                "currency": order["currency"],
                            }
                        ],
                    },
                )
                self._id(), self._id()
                plan.refunds[str(refund)] = Decimal(item["price"])
                self.deliver(plan, "refunds/create")
        elif plan.kind == "updated":  # the buyer corrects the address before paying
            plan.updated = True
            street = f"{plan.customer.street.split(' ', 1)[0]}b Corrected Road"
            plan.streets.append(street)
            changed = self.cs.order("shopify", store, oid)
            changed.pop("transactions", None)
            changed.pop("metafields", None)
            self._shopify_state(plan, changed, street)
            self.cs.put_order("shopify", store, changed)
            self.deliver(plan, "orders/updated")
        elif plan.kind == "cancelled":
            plan.cancelled = True
            cancelled = self.cs.order("shopify", store, oid)
            cancelled.pop("transactions", None)
            cancelled.pop("metafields", None)
            stamp = self._later().isoformat()
            cancelled.update(
                {"cancelled_at": stamp, "cancel_reason": "customer", "financial_status": "voided", "updated_at": stamp}
            )
            self.cs.put_order("shopify", store, cancelled)
            self.deliver(plan, "orders/cancelled")

    # --- WooCommerce --------------------------------------------------------------------------------

    def _woocommerce(self, plan: Planned) -> None:
        store = STORES["woocommerce"]
        order = copy.deepcopy(self.templates["woocommerce"])
        order.pop("_links", None)
        oid, c = plan.order_id, plan.customer
        local = self._later()
        order.update(
            {
                "id": oid,
                "number": str(oid),
                "order_key": f"wc_order_chaos{oid}",
                "refunds": [],
                "date_modified": (local - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"),
                "date_modified_gmt": local.strftime("%Y-%m-%dT%H:%M:%S"),
            }
        )
        for key in ("billing", "shipping"):
            order[key].update({"first_name": c.first, "last_name": c.last, "address_1": c.street})
        order["billing"]["email"] = c.email
        for i, item in enumerate(order["line_items"]):
            item["id"] = oid * 10 + i
        plan.streets.append(c.street)
        plan.total = Decimal(order["total"])
        plan.payments["order"] = plan.total
        self.cs.put_order("woocommerce", store, order)
        self.deliver(plan, "order.created")
        if plan.kind == "paid_refunded":
            refund = self._id()
            when = self._later()
            self.cs.add_refund(
                "woocommerce",
                store,
                oid,
                {
                    "id": refund,
                    "date_created": (when - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "date_created_gmt": when.strftime("%Y-%m-%dT%H:%M:%S"),
                    "amount": "10.00",
                    "reason": "chaos: one mug broken",
                    "refunded_by": 1,
                    "refunded_payment": True,
                    "meta_data": [],
                    "line_items": [],
                    "shipping_lines": [],
                    "tax_lines": [],
                    "fee_lines": [],
                },
            )
            plan.refunds[str(refund)] = Decimal("10.00")
            self.deliver(plan, "order.updated")

    # --- BigCommerce --------------------------------------------------------------------------------

    def _bigcommerce(self, plan: Planned) -> None:
        bundle = copy.deepcopy(self.bc_template)
        oid, c = plan.order_id, plan.customer
        order = bundle["order"]
        stamp = self._later().strftime("%a, %d %b %Y %H:%M:%S +0000")
        order.update({"id": oid, "date_created": stamp, "date_modified": stamp, "customer_id": 0})
        for key in ("products", "shipping_addresses", "coupons"):
            order.pop(key, None)
        order["billing_address"].update({"first_name": c.first, "last_name": c.last, "street_1": c.street})
        order["billing_address"]["email"] = c.email
        for address in bundle["shipping_addresses"]:
            address.update({"id": self._id(), "order_id": oid, "first_name": c.first, "last_name": c.last})
            address["street_1"] = c.street
            address["email"] = c.email
        for product in bundle["products"]:
            product["order_id"] = oid
        plan.streets.append(c.street)
        auth = self._id()
        for txn in bundle["transactions"]:
            txn["order_id"] = str(oid)
            txn["id"] = auth if txn["event"] == "authorization" else self._id()
            if txn.get("reference_transaction_id"):
                txn["reference_transaction_id"] = auth
            if txn["event"] == "capture":
                plan.payments[str(txn["id"])] = Decimal(str(txn["amount"]))
        plan.total = Decimal(str(order["total_inc_tax"]))
        refunds = []
        if plan.kind == "paid_refunded":
            for refund in bundle["refunds"]:
                refund.update({"id": self._id(), "order_id": oid})
                for payment in refund.get("payments", []):
                    payment["id"] = self._id()
                refunds.append(refund)
                plan.refunds[str(refund["id"])] = Decimal(str(refund["total_amount"]))
        bundle["refunds"] = refunds
        self.cs.put_order("bigcommerce", STORES["bigcommerce"], bundle)
        self.deliver(plan, "store/order/created")


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class Options:
    orders: int = 1000
    seed: int = 1
    outage_hours: float = 3.0
    kills: int = 5
    fuzz: int = 10_000
    gateway_fuzz: int = 500
    slices: int = 10
    senders: int = SENDERS
    log_path: Path | None = None


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, condition: bool, failure: str) -> None:
        if not condition:
            self.failures.append(failure)


class Chaos:
    """The soak: senders, the consumers' event source mapping, and what they saw."""

    def __init__(
        self,
        stack: LocalStack,
        *,
        intacct: IntacctSandbox,
        cs: ChannelSandbox,
        options: Options,
        clock: SimClock,
        faults: IntacctChaos,
    ) -> None:
        self.stack, self.intacct, self.cs, self.options = stack, intacct, cs, options
        self.clock, self.faults = clock, faults
        self.rng = random.Random(options.seed)
        self.sqs = stack.client("sqs")
        self.answers: Counter[int] = Counter()
        self.stored_bodies: list[str] = []
        self.invocations: Counter[str] = Counter()
        self.crashes: list[str] = []
        self.next_kill = 5
        self.first_sent: dict[int, float] = {}
        self.oldest_s = 0.0
        self.receives = Counter[str]()
        self.dead: list[tuple[str, dict[str, str], str]] = []
        self.sent: list[Delivery] = []
        self.figures_drained = False

    # --- senders ---------------------------------------------------------------------------------

    def send(self, deliveries: list[Delivery]) -> None:
        """`senders` threads, each posting its share in order; a 429/5xx/no answer is retried (the
        channels retry); the answers are counted."""
        lock = threading.Lock()

        def sender(share: list[Delivery]) -> None:
            session = requests.Session()
            for d in share:
                url = f"{self.stack.api_url}/webhooks/{IDS[d.channel]}"
                for _ in range(10):
                    try:
                        status = session.post(url, data=d.body, headers=d.signed_headers(), timeout=60).status_code
                    except requests.RequestException:
                        status = 0
                    d.status.append(status)
                    with lock:
                        self.answers[status] += 1
                    if status not in (0, 429, 500, 502, 503, 504):
                        break
                    time.sleep(0.05)  # the channel's retry comes later

        n = self.options.senders
        threads = [threading.Thread(target=sender, args=(deliveries[i::n],)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # --- consumers ------------------------------------------------------------------------------

    def pump_once(self) -> int:
        """One receive + invocation per consumer mapping, as the event source mapping does it."""
        handled = 0
        for mapping in self.stack.mappings:
            handled += self._invoke(mapping)
        return handled

    def _invoke(self, mapping: SqsMapping) -> int:
        url = self.stack.physical[mapping.queue_logical]
        got = self.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=mapping.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not got:
            return 0
        now = self.clock()
        for m in got:
            self.stored_bodies.append(m["Body"])
            sent = int(m.get("Attributes", {}).get("SentTimestamp", now * 1000)) / 1000
            # A recycled record is a new message with the same body: its age counts from the first.
            first = self.first_sent.setdefault(hash(m["Body"]), sent)
            self.oldest_s = max(self.oldest_s, now - first)
            self.receives[mapping.queue_logical] += 1
        name = mapping.function.name
        self.invocations[name] += 1
        killed = self.faults.counts["killed"]
        if killed < self.options.kills and not self.faults.outage and sum(self.invocations.values()) >= self.next_kill:
            self.faults.kill_after = 1  # dies after its first Intacct request, if it makes one
        event = {"Records": [self.stack._record(m, url) for m in got]}
        try:
            out = self.stack.invoke(name, event)
        except Killed:
            self.clock.advance(INVOCATION_S)
            return len(got)
        except Exception as exc:  # the event source mapping retries the batch after its visibility timeout
            self.crashes.append(f"{name}: {type(exc).__name__}: {exc}"[:300])
            self.clock.advance(INVOCATION_S)
            return len(got)
        finally:
            self.faults.kill_after = None
            if self.faults.counts["killed"] > killed:
                self.next_kill = sum(self.invocations.values()) + 7
        failed = {f["itemIdentifier"] for f in (out or {}).get("batchItemFailures", [])}
        for m in got:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        self.clock.advance(INVOCATION_S)
        return len(got)

    def pending(self) -> int:
        return sum(v for k, v in self.stack.queue_depths().items() if "DeadLetter" not in k)

    def run_for(self, seconds: float) -> None:
        end = self.clock() + seconds
        while self.clock() < end:
            if not self.pump_once():
                self.clock.advance(IDLE_STEP_S)

    def drain(self, limit_s: float = 48 * 3600) -> bool:
        end = self.clock() + limit_s
        while self.clock() < end:
            if not self.pump_once():
                if not self.pending():
                    return True
                self.clock.advance(IDLE_STEP_S)
        return False

    def read_dead_letters(self) -> None:
        for logical in ("OrdersDeadLetterQueue", "PaymentsDeadLetterQueue"):
            url = self.stack.physical[logical]
            while True:
                got = self.sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
                ).get("Messages", [])
                if not got:
                    break
                for m in got:
                    attrs = {k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()}
                    self.dead.append((logical, attrs, m["Body"]))
                    self.stored_bodies.append(m["Body"])
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    # --- the scenario -------------------------------------------------------------------------------

    def soak(self, shop: Shop) -> dict[str, Any]:
        """Deliveries x3, shuffled, in slices with the consumers between; the outage spans the
        last slices (records pile up far beyond one visibility budget); then the drain."""
        opts = self.options
        copies = [copy.copy(d) for d in shop.deliveries for _ in range(COPIES)]
        for c in copies:
            c.status = []
        self.rng.shuffle(copies)
        self.sent = copies
        size = max(1, -(-len(copies) // opts.slices))
        slices = [copies[i : i + size] for i in range(0, len(copies), size)]
        # The outage spans the last slices: Intacct comes back to the whole backlog, and the drain
        # that follows is the recovery.
        n_out = min(4, max(1, len(slices) - 2)) if opts.outage_hours > 0 else 0
        outage_slices = set(range(len(slices) - n_out, len(slices)))
        per_slice = opts.outage_hours * 3600 / max(1, len(outage_slices))
        started, sim_started = time.monotonic(), self.clock()
        outage: dict[str, float] = {}
        for i, part in enumerate(slices):
            self._channel_throttling()
            if i in outage_slices and not self.faults.outage:
                self.faults.outage, outage["start"] = True, self.clock()
            self.send(part)
            if i in outage_slices:
                self.run_for(per_slice)
                dlq = self.stack.queue_depths()
                outage["dlq_during"] = sum(v for k, v in dlq.items() if "DeadLetter" in k)
            else:
                if self.faults.outage:
                    self.faults.outage, outage["end"] = False, self.clock()
                    outage["backlog"] = self.pending()
                    self.intacct.clear_faults()
                if i < len(slices) - 1:
                    self.run_for(600)
        if self.faults.outage:
            self.faults.outage, outage["end"] = False, self.clock()
            outage["backlog"] = self.pending()
            self.intacct.clear_faults()
        backlog = self.pending()
        drain_started, drain_sim = time.monotonic(), self.clock()
        drained = self.figures_drained = self.drain()
        drain = {
            "drain_real_s": round(time.monotonic() - drain_started, 1),
            "drain_simulated_s": round(self.clock() - drain_sim),
        }
        self.intacct.clear_faults()
        self.cs.clear_faults()
        return {
            "deliveries_sent": len(copies),
            "drained": drained,
            "backlog_after_outage": outage.get("backlog", 0),
            "backlog_at_last_delivery": backlog,
            "outage_s": round(outage.get("end", 0) - outage.get("start", 0)),
            "dlq_during_outage": outage.get("dlq_during", 0),
            "real_s": round(time.monotonic() - started, 1),
            "simulated_s": round(self.clock() - sim_started),
            **drain,
        }

    def _channel_throttling(self) -> None:
        """The channel APIs answer 429 now and then: BigCommerce's webhook fetches, Shopify's and
        WooCommerce's order and refund reads by the consumers."""
        for channel in STORES:
            self.cs.inject(ChannelFault(channel, "rate_limit", times=self.rng.randint(1, 3), retry_after=0.05))


class DrivenStack(LocalStack):
    """The local stack with its SQS pollers left to the chaos driver (`Chaos.pump_once`)."""

    def _poll(self, mapping: SqsMapping) -> None:
        return


def say(text: str = "") -> None:
    print(text, file=sys.__stdout__, flush=True)


@contextlib.contextmanager
def captured_logs(path: Path | None) -> Iterator[tuple[Any, Any]]:
    """Every line the functions write (Powertools JSON and EMF on stdout, anything through the
    root logger) goes to one stream, as CloudWatch would receive it; yields that stream."""
    stream: Any = open(path, "w+", encoding="utf-8") if path else io.StringIO()  # noqa: SIM115
    saved_stdout = sys.stdout
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    logging.disable(logging.NOTSET)
    handler = logging.StreamHandler(stream)
    root.handlers = [h for h in root.handlers if type(h).__module__ == "_pytest.logging"] + [handler]
    root.setLevel(logging.WARNING)
    sys.stdout = stream
    try:
        yield stream, saved_stdout
    finally:
        sys.stdout = saved_stdout
        root.setLevel(saved_root[0])
        root.handlers = saved_root[1]
        if path:
            stream.close()


@contextlib.contextmanager
def function_logs_to(stream: Any, after: Any) -> Iterator[None]:
    """The Powertools handler (stdout when it was made) writes to `stream`; then back to what it
    wrote to before, or to `after` when that was `stream` itself."""
    from intacct_sync import logs

    moved: list[tuple[logging.StreamHandler[Any], Any]] = []
    for name in (logs.SERVICE, logs.PACKAGE):
        for h in logging.getLogger(name).handlers:
            if isinstance(h, logging.StreamHandler) and h not in [m for m, _ in moved]:
                moved.append((h, h.stream))
                h.setStream(stream)
    try:
        yield
    finally:
        for h, old in moved:
            h.setStream(after if old is stream else old)


def run(options: Options) -> Report:
    from intacct_sync.settings import DEFAULT_SETTINGS

    report = Report()
    rng = random.Random(options.seed)
    clock = SimClock(1_800_000_000.0)
    with (
        captured_logs(options.log_path) as (log_stream, stdout),
        IntacctSandbox.start() as intacct,
        ChannelSandbox.start() as cs,
    ):
        # Quota windows short enough for a soak on the wall clock; they still throttle at bursts.
        cs.configure("bigcommerce", quota=40, window_ms=1000)
        cs.configure("shopify", rest_bucket_size=20, rest_leak_rate=20)
        connections = [cs.connection_secret(ch, STORES[ch], IDS[ch]) for ch in STORES]
        credentials = {**sandbox_credentials(), "endpoint_url": intacct.url}
        stack = DrivenStack(
            intacct_credentials=credentials,
            settings=json.loads(DEFAULT_SETTINGS.model_dump_json()),
            connections=connections,
            time_scale=1,  # template.yaml's own visibility timeouts, in simulated time
        )
        faults = IntacctChaos(intacct, clock, random.Random(rng.getrandbits(64)))
        with simulated_time(clock), faults.installed(), stack:
            for fn in stack.functions.values():
                if fn.events and any(e["Type"] in ("SQS", "HttpApi") for e in fn.events.values()):
                    fn.load()
            with function_logs_to(log_stream, stdout):
                chaos = Chaos(stack, intacct=intacct, cs=cs, options=options, clock=clock, faults=faults)
                shop = Shop(cs, random.Random(rng.getrandbits(64)))
                shop.build(options.orders)
                report.figures["soak"] = chaos.soak(shop)
                chaos.read_dead_letters()
                verify(report, chaos, shop, faults)
                if options.gateway_fuzz:
                    report.figures["gateway_fuzz"] = gateway_fuzz(report, stack, options.gateway_fuzz, options.seed)
                store_scan = stored_items(stack, chaos)
        log_stream.flush()
        log_stream.seek(0)
        log_text = log_stream.read()
        needles = secrets_of(connections, credentials, faults, shop)
        scan(report, needles, log_text, store_scan, {str(p.order_id) for p in shop.plans})
    if options.fuzz:  # its lines (mutated test payloads) are written, then dropped
        with captured_logs(None) as (sink, stdout), function_logs_to(sink, stdout):
            report.figures["webhook_fuzz"] = webhook_fuzz(report, options.fuzz, options.seed)
    return report


def _money(value: Any) -> Decimal:
    return Decimal(str(value or "0")).quantize(Decimal("0.01"))


def _unaccounted(d: Delivery, plan: Planned, entry: Any) -> str | None:
    """Why the ledger does not show what this delivery announced (None: it does)."""
    if entry is None:
        return "no ledger entry"
    if d.topic == "order_transactions/create":
        txn = str(json.loads(d.body)["id"])
        return None if txn in entry.payments else f"payment {txn} not in the ledger"
    if d.topic == "refunds/create":
        refund = str(json.loads(d.body)["id"])
        return None if refund in entry.refunds else f"refund {refund} not in the ledger"
    if plan.cancelled:
        return None if entry.status in ("deleted", "skipped") else f"cancelled, but ledger says {entry.status}"
    if not entry.document_key:
        return f"no invoice in the ledger (status {entry.status})"
    if set(entry.refunds) != set(plan.refunds) or entry.paid_total != sum(plan.payments.values(), Decimal(0)):
        return "payments or refunds the order carries are not all in the ledger"
    return None


def verify(report: Report, chaos: Chaos, shop: Shop, faults: IntacctChaos) -> None:
    """What Intacct and the ledger hold against what the run placed in the channels."""
    from intacct_sync.ledger import DynamoLedger

    snap = chaos.intacct.snapshot()
    plans = {(p.connection_id, str(p.order_id)): p for p in shop.plans}
    numbers = {str(p.order_id) for p in shop.plans}
    ours = [d for d in snap["documents"] if str(d.get("PONUMBER")) in numbers]
    invoices = [d for d in ours if d["DOCPARID"] == "Sales Invoice"]
    credits = [d for d in ours if d["DOCPARID"] == "Sales Credit Memo"]
    ledger = DynamoLedger(chaos.stack.physical["StateTable"], client=chaos.stack.client("dynamodb"))
    entries = {(e.connection_id, e.order_id): e for e in ledger.list_entries()}
    by_record: dict[str, Decimal] = defaultdict(Decimal)
    payment_ids: Counter[tuple[str, str]] = Counter()
    for pay in snap["payments"]:
        payment_ids[(str(pay.get("CUSTOMERID")), str(pay.get("DOCNUMBER")))] += 1
        for detail in pay.get("DETAILS") or []:
            by_record[str(detail.get("RECORDKEY"))] += _money(detail.get("TRX_PAYMENTAMOUNT"))
    doc_ids = Counter(str(d.get("DOCID")) for d in ours)
    report.check(
        all(n == 1 for n in doc_ids.values()), f"duplicate documents: {[k for k, n in doc_ids.items() if n > 1]}"
    )
    dup_payments = [k for k, n in payment_ids.items() if n > 1]
    report.check(not dup_payments, f"duplicate payments: {dup_payments[:10]}")

    lost: list[str] = []
    accounted = 0
    for d in shop.deliveries:
        plan = plans[(IDS[d.channel], str(d.order_id))]
        entry = entries.get((plan.connection_id, str(plan.order_id)))
        why = _unaccounted(d, plan, entry)
        if why:
            lost.append(f"{d.channel} {d.topic} {d.order_id}: {why}")
        else:
            accounted += 1
    wrong: list[str] = []
    placed = deleted = 0
    paid_expected = paid_applied = credited = refunded = Decimal(0)
    for key, plan in plans.items():
        entry = entries.get(key)
        oid = str(plan.order_id)
        mine = [d for d in invoices if str(d["PONUMBER"]) == oid]
        cms = [d for d in credits if str(d["PONUMBER"]) == oid]
        placed += 1
        refunded += sum(plan.refunds.values(), Decimal(0))
        credited += sum((_money(d["TOTAL"]) for d in cms), Decimal(0))
        if entry is None:
            continue
        if entry.waiting:
            wrong.append(f"{oid}: still waiting {sorted(entry.waiting)}")
        if plan.cancelled:
            deleted += entry.status == "deleted"
            if mine or entry.status not in ("deleted", "skipped"):
                wrong.append(f"{oid}: cancelled unpaid, yet {len(mine)} invoice(s), ledger {entry.status}")
            continue
        if len(mine) != 1:
            wrong.append(f"{oid}: {len(mine)} invoices")
            continue
        invoice = mine[0]
        if _money(invoice["TOTAL"]) != plan.total:
            wrong.append(f"{oid}: invoice total {invoice['TOTAL']} != order total {plan.total}")
        if plan.updated and invoice["SHIPTO"]["MAILADDRESS"]["ADDRESS1"] != plan.streets[-1]:
            wrong.append(f"{oid}: the update was lost (ship-to {invoice['SHIPTO']['MAILADDRESS']['ADDRESS1']})")
        expected = sum(plan.payments.values(), Decimal(0))
        paid_expected += expected
        applied = by_record.get(str(entry.ar_record_key), Decimal(0))
        paid_applied += applied
        if applied != expected or entry.paid_total != expected:
            wrong.append(f"{oid}: paid {applied} in Intacct, {entry.paid_total} in the ledger, expected {expected}")
        if plan.channel != "woocommerce" and set(entry.payments) != set(plan.payments):
            wrong.append(f"{oid}: payments {sorted(entry.payments)} != {sorted(plan.payments)}")
        if set(entry.refunds) != set(plan.refunds):
            wrong.append(f"{oid}: refunds {sorted(entry.refunds)} != {sorted(plan.refunds)}")
        order_credit = sum((_money(d["TOTAL"]) for d in cms), Decimal(0))
        if order_credit != sum(plan.refunds.values(), Decimal(0)):
            wrong.append(f"{oid}: credited {order_credit} for refunds {sum(plan.refunds.values(), Decimal(0))}")
    missing = [f"{p.channel} {p.order_id}" for k, p in plans.items() if k not in entries]
    report.check(not missing, f"orders with no ledger entry (lost): {missing[:20]}")
    report.check(not lost, f"deliveries not accounted for: {lost[:20]}")
    report.check(not wrong, f"orders not as placed ({len(wrong)}): {wrong[:20]}")
    not_accepted = [
        f"{d.channel} {d.topic} {d.order_id} {d.status}" for d in chaos.sent if not ({200, 202} & set(d.status))
    ]
    report.check(not not_accepted, f"deliveries never accepted: {not_accepted[:20]}")
    server_errors = {s: n for s, n in chaos.answers.items() if s >= 500 and s != 503}
    report.check(not server_errors, f"webhook 5xx other than 503: {server_errors}")
    report.check(credited == refunded, f"credits {credited} != refunds {refunded}")
    waiting = ledger.waiting_entries()
    report.check(not waiting, f"{len(waiting)} orders still have payments waiting")
    report.check(not chaos.dead, f"{len(chaos.dead)} messages in the DLQs")
    report.check(chaos.figures_drained, "the queues did not drain")
    names = Counter(str(c.get("NAME")) for c in snap["customers"] if str(c.get("CUSTOMERID", "")).startswith("WEB-"))
    dup_customers = [n for n, k in names.items() if k > 1]
    report.check(not dup_customers, f"duplicate customers: {dup_customers[:10]}")
    used = {f"{p.customer.first} {p.customer.last}" for p in shop.plans if not p.cancelled}
    cancelled = sum(1 for p in shop.plans if p.cancelled)
    report.check(len(invoices) == placed - cancelled, f"{len(invoices)} invoices for {placed - cancelled} orders")
    report.check(set(names) >= used, f"customers not created: {sorted(used - set(names))[:10]}")
    requests_made = len(chaos.intacct.requests)
    answered = sum(1 for q in chaos.intacct.requests if q.http_status == 200 and not q.fault)
    report.figures["results"] = {
        "orders_placed": placed,
        "by_channel": dict(Counter(p.channel for p in shop.plans)),
        "by_kind": dict(Counter(p.kind for p in shop.plans)),
        "deliveries_unique": len(shop.deliveries),
        "deliveries_accounted_in_ledger": accounted,
        "invoices_live": len(invoices),
        "orders_cancelled_unpaid": cancelled,
        "invoices_deleted_on_cancellation": deleted,
        "invoices_expected": placed - cancelled,
        "duplicate_documents": sum(n - 1 for n in doc_ids.values()),
        "duplicate_payments": sum(n - 1 for n in payment_ids.values() if n > 1),
        "customers_created": sum(1 for n in names if n in used),
        "customers_distinct_in_orders": len(used),
        "payments_expected": str(paid_expected),
        "payments_applied": str(paid_applied),
        "refunds": str(refunded),
        "credits": str(credited),
        "waiting_payments": len(waiting),
        "dlq": [
            {"queue": q, "reason": a.get("parked_reason", "(no reason: redriven)"), "fix": a.get("parked_fix")}
            for q, a, _ in chaos.dead
        ],
        "webhook_answers": dict(sorted(chaos.answers.items())),
        "consumer_invocations": dict(chaos.invocations),
        "consumer_uncaught_exceptions": chaos.crashes[:10],
        "consumers_killed": faults.counts["killed"],
        "intacct_http_requests": requests_made,
        "intacct_requests_per_order": round(requests_made / max(1, placed), 2),
        "intacct_requests_answered_per_order": round(answered / max(1, placed), 2),
        "intacct_attempt_fates": {k: v for k, v in sorted(faults.counts.items()) if k not in ("killed",)},
        "oldest_message_handled_s": round(chaos.oldest_s),
        "visibility_budget_s": VISIBILITY_S * RECEIVE_BUDGET,
        "receives": dict(chaos.receives),
    }


def gateway_fuzz(report: Report, stack: LocalStack, n: int, seed: int) -> dict[str, Any]:
    """Malformed API Gateway events through the deployed webhook handler (Powertools and all):
    each must be answered (never raise), and no 5xx but the documented 503."""
    rng = random.Random(seed ^ 0x5EED)
    good = LocalStack.apigw_event("POST", "/webhooks/shopify-main", {}, b"{}", {"connection_id": "shopify-main"})
    odd: list[Any] = [
        None,
        0,
        -1,
        10**20,
        1.5,
        float("nan"),
        "",
        "x",
        [],
        {},
        [1, 2],
        {"a": None},
        True,
        "\ud800",
        "\x00",
    ]
    keys = ["body", "headers", "isBase64Encoded", "pathParameters", "requestContext", "rawPath", "routeKey", "version"]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for i in range(n):
        event: dict[str, Any] = copy.deepcopy(good)
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(keys)
            action = rng.random()
            if action < 0.25:
                event.pop(key, None)
            elif action < 0.55:
                event[key] = rng.choice(odd)
            elif key == "body":
                event["body"] = rng.choice(
                    ["%%%not base64", base64.b64encode(rng.randbytes(64)).decode(), "A" * 7, "x" * 300_000]
                )
            elif key == "headers":
                event["headers"] = {
                    rng.choice(["x-shopify-hmac-sha256", "content-type", "", "x" * 9000]): rng.choice(odd)
                }
            elif key == "pathParameters":
                event["pathParameters"] = {
                    "connection_id": rng.choice(["../etc", "nobody", "shopify-main\n", "x" * 2000, None, 7])
                }
            else:
                event[key] = rng.choice(odd)
        try:
            out = stack.invoke("WebhookFunction", event)
            status = int(out["statusCode"])
        except Exception as exc:  # the handler must answer, never raise
            failures.append(f"#{i}: uncaught {type(exc).__name__}: {exc}"[:200])
            continue
        statuses[status] += 1
        if status >= 500 and status != 503:
            failures.append(f"#{i}: {status}")
    report.check(not failures, f"malformed gateway events: {failures[:10]}")
    return {"events": n, "statuses": dict(sorted(statuses.items())), "failures": len(failures)}


def webhook_fuzz(report: Report, n: int, seed: int) -> dict[str, Any]:
    """The signed-but-mutated fuzz of tests/unit/test_webhook_fuzz_long.py at `n` requests (real
    adapters and pipeline; every 400 names the field; every bad signature 401)."""
    from tests.unit.test_webhook_fuzz_long import run_fuzz

    figures = run_fuzz(n, seed)
    failures = figures.pop("failures")
    report.check(not failures, f"webhook fuzz ({len(failures)}): {failures[:10]}")
    figures["failures"] = len(failures)
    return figures


# --- secrets and personal data -------------------------------------------------------------------------


def secrets_of(
    connections: list[dict[str, Any]], credentials: dict[str, Any], faults: IntacctChaos, shop: Shop
) -> dict[str, set[str]]:
    """What must never be logged: by kind."""

    def pick(*names: str) -> set[str]:
        return {str(c[k]) for c in connections for k in names if c.get(k)}

    return {
        "intacct_passwords": {str(credentials["user_password"])},
        "sender_password": {str(credentials["sender_password"])},
        "session_ids": set(faults.sessions),
        "webhook_secrets": pick("webhook_secret", "webhook_auth_value", "client_secret"),
        "api_tokens": pick("access_token", "api_key", "api_secret"),
        "emails": {c.email for c in shop.customers},
        "street_addresses": {s for p in shop.plans for s in p.streets},
    }


SECRET_KINDS = ("intacct_passwords", "sender_password", "session_ids", "webhook_secrets", "api_tokens")


def stored_items(stack: LocalStack, chaos: Chaos) -> dict[str, list[str]]:
    """Every stored message: SQS bodies (each one a consumer received, and the DLQs), the claim
    checks in S3, the DynamoDB items."""
    s3, ddb = stack.client("s3"), stack.client("dynamodb")
    out: dict[str, list[str]] = {"sqs": list(chaos.stored_bodies), "s3": [], "dynamodb": []}
    for logical, res in stack.template["Resources"].items():
        if res["Type"] == "AWS::S3::Bucket":
            bucket = stack.physical[logical]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    out["s3"].append(body.decode("utf-8", "replace"))
        elif res["Type"] == "AWS::DynamoDB::Table":
            for page in ddb.get_paginator("scan").paginate(TableName=stack.physical[logical]):
                out["dynamodb"].extend(json.dumps(item) for item in page.get("Items", []))
    return out


def _found(needles: set[str], texts: list[str]) -> int:
    """How many of `texts` hold at least one needle (JSON-escaped forms too)."""
    forms = {n for n in needles if n} | {json.dumps(n)[1:-1] for n in needles if n}
    return sum(1 for t in texts if any(f in t for f in forms))


def scan(
    report: Report, needles: dict[str, set[str]], log_text: str, stores: dict[str, list[str]], orders: set[str]
) -> None:
    import re

    lines = log_text.splitlines()
    # The control: the lines do name the orders they are about (the scan reads the real lines).
    naming = sum(1 for line in lines if orders & set(re.findall(r"\d{6}", line)))
    report.check(naming > 0, "no log line names an order: the log capture is broken")
    found: dict[str, dict[str, int]] = {"log_lines": {}}
    found["log_lines"] = {kind: _found(values, lines) for kind, values in needles.items()}
    for where, texts in stores.items():
        found[where] = {kind: _found(values, texts) for kind, values in needles.items()}
    report.figures["secret_scan"] = {
        "log_lines_scanned": len(lines),
        "log_lines_naming_an_order": naming,
        "stored_items_scanned": {k: len(v) for k, v in stores.items()},
        "needles": {k: len(v) for k, v in needles.items()},
        "found": found,
    }
    in_logs = {k: n for k, n in found["log_lines"].items() if n}
    report.check(not in_logs, f"secrets or personal data in log lines: {in_logs}")
    for where in stores:
        leaked = {k: found[where][k] for k in SECRET_KINDS if found[where].get(k)}
        report.check(not leaked, f"secrets stored in {where}: {leaked}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--outage-hours", type=float, default=3.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--fuzz", type=int, default=10_000, help="signed-but-mutated webhook requests")
    parser.add_argument("--gateway-fuzz", type=int, default=500, help="malformed API Gateway events")
    parser.add_argument("--log", type=Path, default=None, help="keep the functions' log lines in this file")
    parser.add_argument("--json", action="store_true", help="print every figure as JSON too")
    args = parser.parse_args(argv)
    options = Options(
        orders=args.orders,
        seed=args.seed,
        outage_hours=args.outage_hours,
        kills=args.kills,
        fuzz=args.fuzz,
        gateway_fuzz=args.gateway_fuzz,
        log_path=args.log,
    )
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    warnings.filterwarnings("ignore", message="Dimension '.*' has already been added")
    started = time.monotonic()
    report = run(options)
    if args.json:
        say(json.dumps(report.figures, indent=1, default=str))
    say(summary(report, options, time.monotonic() - started))
    return 0 if report.ok else 1


def summary(report: Report, options: Options, seconds: float) -> str:
    """What `make chaos` prints: the figures the issue asks for, then every failure."""
    f = report.figures
    soak, r = f.get("soak", {}), f.get("results", {})
    fates = r.get("intacct_attempt_fates", {})
    lines = [
        f"=== make chaos: {options.orders} orders, seed {options.seed}",
        f"orders placed           {r.get('orders_placed')}  {r.get('by_channel')}",
        f"  kinds                 {r.get('by_kind')}",
        f"deliveries              {r.get('deliveries_unique')} unique x {COPIES} = {soak.get('deliveries_sent')} sent "
        f"by {options.senders} senders; webhook answers {r.get('webhook_answers')}",
        f"invoices                {r.get('invoices_live')} = orders placed {r.get('orders_placed')} - cancelled "
        f"unpaid {r.get('orders_cancelled_unpaid')} (of those, {r.get('invoices_deleted_on_cancellation')} "
        "invoiced and deleted)",
        f"duplicate documents     {r.get('duplicate_documents')}",
        f"duplicate payments      {r.get('duplicate_payments')}  (applied {r.get('payments_applied')} "
        f"of {r.get('payments_expected')} paid)",
        f"credits = refunds       {r.get('credits')} = {r.get('refunds')}",
        f"lost events             {r.get('deliveries_unique', 0) - r.get('deliveries_accounted_in_ledger', 0)} "
        f"({r.get('deliveries_accounted_in_ledger')} of {r.get('deliveries_unique')} deliveries accounted "
        f"for in the ledger; {r.get('waiting_payments')} orders with payments still waiting)",
        f"customers               {r.get('customers_created')} created for "
        f"{r.get('customers_distinct_in_orders')} distinct buyers",
        f"DLQ                     {len(r.get('dlq', []))} message(s)",
        *(f"  [{d['queue']}] {d['reason']}  fix: {d['fix']}" for d in r.get("dlq", [])),
        f"Intacct faults          {fates.get('attempts')} HTTP attempts: "
        f"{sum(v for k, v in fates.items() if k.startswith('transient'))} transient "
        f"({', '.join(f'{k[10:]} {v}' for k, v in fates.items() if k.startswith('transient'))}), "
        f"{fates.get('committed_answer_lost', 0)} committed with the answer lost, "
        f"{fates.get('outage_503', 0)} refused during the outage",
        f"outage                  {soak.get('outage_s', 0) / 3600:.1f} simulated hours; "
        f"{soak.get('dlq_during_outage')} dead letters during it; {soak.get('backlog_after_outage')} messages "
        "queued when Intacct came back",
        f"oldest message handled  {r.get('oldest_message_handled_s', 0) / 60:.0f} min after it was sent "
        f"(one visibility budget: {r.get('visibility_budget_s', 0) / 60:.0f} min)",
        f"consumers killed        {r.get('consumers_killed')} mid-batch; uncaught consumer exceptions: "
        f"{len(r.get('consumer_uncaught_exceptions', []))}",
        f"time to drain           {soak.get('drain_real_s')} s real, {soak.get('drain_simulated_s', 0) / 60:.0f} min "
        f"simulated, from Intacct's return after the last delivery ({soak.get('backlog_at_last_delivery')} "
        f"messages queued) to empty queues (whole soak {soak.get('real_s')} s real, "
        f"{soak.get('simulated_s', 0) / 3600:.1f} h simulated)",
        f"Intacct requests/order  {r.get('intacct_requests_per_order')} ({r.get('intacct_http_requests')} "
        f"requests, faults included; {r.get('intacct_requests_answered_per_order')} answered without a fault)",
    ]
    if "webhook_fuzz" in f:
        w = f["webhook_fuzz"]
        attacks = w.get("signature_attacks", {})
        lines.append(
            f"webhook fuzz            {w['requests']} signed-but-mutated requests: {w['statuses']}, "
            f"{w['failures']} failures; {sum(attacks.values())} signature attacks {attacks}"
        )
    if "gateway_fuzz" in f:
        g = f["gateway_fuzz"]
        lines.append(
            f"gateway fuzz            {g['events']} malformed events: {g['statuses']}, {g['failures']} failures"
        )
    if "secret_scan" in f:
        sc = f["secret_scan"]
        lines.append(
            f"secret scan             {sc['log_lines_scanned']} log lines, stored {sc['stored_items_scanned']}; "
            f"needles {sc['needles']}"
        )
        for where, found in sc["found"].items():
            lines.append(f"  found in {where:<12}  {found}")
    lines += [f"FAIL {failure}" for failure in report.failures]
    lines.append(f"{'OK' if report.ok else 'FAILED'} in {seconds:.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
