"""`make demo`: the whole pipeline on this machine, wired as template.yaml declares it.

Starts the AWS emulation (moto server), the Intacct sandbox and the channel sandbox; registers the
three stores' webhooks through the product's CLI logic; delivers a day of signed webhooks (new and
repeat customers, a discount, VAT, yen, a refund, a cancellation, duplicates, a forged request,
an abandoned checkout, WooCommerce's ping); runs the reconcile poll (which catches an order whose
webhook never came) and, where the template has them, the stock push and writeback; pays out
the day's Shopify Payments money (fees, a refund, a dispute) and deposits the payout in Intacct;
then prints what Intacct now holds (bank line = deposit) and what was rejected or parked, and why.
`--serve` keeps it running.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import requests

from intacct_sync.channels.api import DEFAULT_WEBHOOK_TOPICS, client_for
from intacct_sync.ledger import DynamoLedger
from intacct_sync.models.connection import Connection
from intacct_sync.payouts.ledger import DynamoPayoutStore
from intacct_sync.retry import Deadline
from intacct_sync.settings import DEFAULT_SETTINGS
from local.channel_sandbox import ChannelSandbox
from local.channel_sandbox.shopify_payments import add_payout_to
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox
from local.stack import LocalStack

STORES = {"shopify": "demo.myshopify.com", "woocommerce": "demo-woo", "bigcommerce": "demostore"}
IDS = {"shopify": "shopify-main", "woocommerce": "woo-main", "bigcommerce": "bc-main"}
SHOWN = (
    "changes",
    "written",
    "batches",
    "channel_calls",
    "unknown_in_channel",
    "documents_written",
    "marked_paid",
    "error",
)


def say(text: str = "") -> None:
    print(text, flush=True)


class Day:
    """The demo's script, step by step."""

    def __init__(self, stack: LocalStack, intacct: IntacctSandbox, cs: ChannelSandbox) -> None:
        self.stack, self.intacct, self.cs = stack, intacct, cs
        self.answers: Counter[str] = Counter()
        self.rejected: list[str] = []
        self.outbound: dict[str, Any] = {}
        self.payout_id: str | None = None

    def bank_transfer_in_intacct(self, order_number: int) -> None:
        """Record a customer's bank transfer against an unpaid invoice, as finance would in Intacct."""
        from datetime import date

        from intacct_sync.intacct import IntacctClient, IntacctCredentials, SessionCache
        from intacct_sync.intacct import functions as fn
        from intacct_sync.intacct import query as q
        from intacct_sync.intacct.documents import ArPayment, PaymentApplication

        creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": self.intacct.url})
        client = IntacctClient(creds, sessions=SessionCache())
        deadline = Deadline.after(30)
        doc = next(
            client.iter_query(
                "SODOCUMENT",
                ["DOCID", "PRRECORDKEY", "TOTAL", "CUSTVENDID", "CURRENCY"],
                filter=q.eq("DOCID", f"Sales Invoice-{order_number}"),
                deadline=deadline,
            )
        )
        payment = ArPayment(
            customer_id=doc["CUSTVENDID"],
            payment_method="EFT",
            receipt_date=date.today(),
            currency=doc["CURRENCY"] or "USD",
            financial_entity="BOA",
            document_number=f"BANK-{order_number}",
            applications=[PaymentApplication(record_key=doc["PRRECORDKEY"], amount=Decimal(doc["TOTAL"]))],
        )
        client.execute_one(fn.create_ar_payment(payment, controlid=f"bank-{order_number}"), deadline=deadline)
        say(f"    Intacct: bank transfer of {doc['TOTAL']} {doc['CURRENCY']} applied to {doc['DOCID']}")

    def url(self, channel: str) -> str:
        return f"{self.stack.api_url}/webhooks/{IDS[channel]}"

    def register(self) -> None:
        for channel, store in STORES.items():
            self.cs.configure(channel, require_https=False)  # the local endpoint is plain http
            conn = Connection.model_validate(self.cs.connection_secret(channel, store, IDS[channel]))
            secret = conn.webhook_secret.get_secret_value() if conn.webhook_secret else None
            result = client_for(conn).ensure_webhooks(
                self.url(channel), DEFAULT_WEBHOOK_TOPICS[channel], secret=secret, deadline=Deadline.after(30)
            )
            say(f"    {channel:<12} {len(result.created)} subscription(s) created -> {self.url(channel)}")

    def deliver(self, channel: str, topic: str, order_id: int, label: str) -> Any:
        deliveries = self.cs.deliver_webhook(channel, STORES[channel], topic, order_id)
        for d in deliveries:
            self.answers[str(d.status)] += 1
            note = f"  {d.response.decode(errors='replace')[:160]}" if d.status >= 400 else ""
            say(f"    {channel:<12} {topic:<26} {label:<38} -> {d.status}{note}")
        return deliveries[0] if deliveries else None

    def shopify_order(self, order_id: int, *, first: str, last: str, template: int = 450789469) -> int:
        order = copy.deepcopy(self.cs.order("shopify", STORES["shopify"], template))
        for key in ("refunds", "transactions"):
            order.pop(key, None)
        order.update({"id": order_id, "order_number": order_id, "name": f"#{order_id}", "financial_status": "paid"})
        for key in ("customer", "billing_address", "shipping_address"):
            if order.get(key):
                order[key].update({"first_name": first, "last_name": last})
                if "name" in order[key]:
                    order[key]["name"] = f"{first} {last}"
        order["customer"]["email"] = f"{first.lower()}.{last.lower()}@example.com"
        order["email"] = order["customer"]["email"]
        self.cs.put_order("shopify", STORES["shopify"], order)
        return order_id

    def pay(self, order_id: int, txn_id: int) -> None:
        order = self.cs.order("shopify", STORES["shopify"], order_id)
        self.cs.add_transaction(
            "shopify",
            STORES["shopify"],
            order_id,
            {
                "id": txn_id,
                "kind": "sale",
                "status": "success",
                "amount": order["total_price"],
                "currency": order["currency"],
                "gateway": "shopify_payments",
                "processed_at": order["processed_at"],
            },
        )
        self.deliver(
            "shopify", "order_transactions/create", order_id, f"payment {order['total_price']} {order['currency']}"
        )

    def refund(self, order_id: int, refund_id: int) -> None:
        order = self.cs.order("shopify", STORES["shopify"], order_id)
        item = order["line_items"][0]
        self.cs.add_refund(
            "shopify",
            STORES["shopify"],
            order_id,
            {
                "id": refund_id,
                "note": "arrived damaged",
                "refund_line_items": [
                    {
                        "id": refund_id + 1,
                        "quantity": 1,
                        "line_item_id": item["id"],
                        "line_item": item,
                        "subtotal": item["price"],
                        "total_tax": "0.00",
                    }
                ],
                "transactions": [
                    {
                        "id": refund_id + 2,
                        "kind": "refund",
                        "status": "success",
                        "amount": item["price"],
                        "gateway": "shopify_payments",
                        "currency": order["currency"],
                    }
                ],
            },
        )
        self.deliver("shopify", "refunds/create", order_id, f"refund of one {item['sku']}")

    def payout(self, a: int, a_txn: int, b: int, b_txn: int, *, refund_id: int) -> None:
        """Shopify Payments pays out both payments less their fees, the refund, a dispute on b
        (its amount and the dispute fee), plus a small adjustment: the bank line is its net."""
        order_a = self.cs.order("shopify", STORES["shopify"], a)
        refunded = sum(
            Decimal(str(t["amount"]))
            for r in order_a.get("refunds", [])
            if r["id"] == refund_id
            for t in r.get("transactions", [])
        )
        payout = add_payout_to(
            self.cs,
            STORES["shopify"],
            [
                {"type": "CHARGE", "order_id": a, "transaction_id": a_txn, "fee": "1.83"},
                {"type": "CHARGE", "order_id": b, "transaction_id": b_txn, "fee": "1.83"},
                {"type": "REFUND", "order_id": a, "amount": str(-refunded)},
                {"type": "DISPUTE_WITHDRAWAL", "order_id": b, "amount": "-20.00", "fee": "15.00"},
                {"type": "ADJUSTMENT", "amount": "0.40", "reason": "fee refund"},
            ],
            issued_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        self.payout_id = str(payout["id"])
        net, currency = payout["net"], payout["currency"]
        say(f"    payout {payout['id']}: bank line {net} {currency} (2 payments, fees, a refund, a dispute)")

    def forged(self) -> None:
        body = json.dumps({"id": 1, "total_price": "0.01"}).encode()
        headers = {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": "Zm9yZ2Vk",
            "Content-Type": "application/json",
        }
        answer = requests.post(self.url("shopify"), data=body, headers=headers, timeout=10)
        self.rejected.append(f"forged Shopify request (bad HMAC) -> {answer.status_code} {answer.text}")
        say(f"    {'shopify':<12} {'orders/create':<26} {'forged signature':<38} -> {answer.status_code}")
        unknown = requests.post(f"{self.stack.api_url}/webhooks/nobody", data=b"{}", timeout=10)
        self.rejected.append(f"request for an unknown connection -> {unknown.status_code} {unknown.text}")
        say(f"    {'-':<12} {'-':<26} {'unknown connection id':<38} -> {unknown.status_code}")
        ping = requests.post(
            self.url("woocommerce"),
            data=b"webhook_id=1",
            timeout=10,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        say(f"    {'woocommerce':<12} {'(ping)':<26} {'unsigned ping on save':<38} -> {ping.status_code}")


def summarise_writes(result: dict[str, Any]) -> str:
    return ", ".join(
        f"{conn}: {figures.get('written', 0)} written" if isinstance(figures, dict) else f"{conn}: {figures}"
        for conn, figures in sorted(result.items())
    )


def summary(stack: LocalStack, intacct: IntacctSandbox, day: Day) -> int:
    snap = intacct.snapshot()
    docs = snap["documents"]

    def kind(d: dict[str, Any]) -> str:
        return str(d.get("DOCPARID") or d.get("type") or str(d.get("DOCID", "")).rsplit("-", 1)[0])

    say("\n=== What Intacct now holds")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(kind(d), []).append(d)
    for name, items in sorted(by_kind.items()):
        totals: Counter[str] = Counter()
        for d in items:
            totals[str(d.get("CURRENCY") or "USD")] += Decimal(str(d.get("TOTAL", 0)))  # type: ignore[assignment]
        money = ", ".join(f"{v} {k}" for k, v in sorted(totals.items()))
        say(f"  {name:<20} {len(items):>3}   total {money}")
        for d in items:
            who = d.get("CUSTVENDID") or d.get("CUSTOMERID")
            say(f"      {d.get('DOCID')}  {who}  {d.get('TOTAL')} {d.get('CURRENCY') or ''}")
    created = [c for c in snap["customers"] if str(c.get("CUSTOMERID", "")).startswith("WEB-")]
    say(f"  {'customers created':<20} {len(created):>3}   " + ", ".join(str(c.get("NAME")) for c in created))
    payments = snap["payments"]
    paid: Counter[str] = Counter()
    for p in payments:
        paid[str(p.get("CURRENCY") or "USD")] += Decimal(str(p.get("TOTALENTERED") or p.get("AMOUNT") or 0))  # type: ignore[assignment]
    say(f"  {'AR payments':<20} {len(payments):>3}   total " + ", ".join(f"{v} {k}" for k, v in sorted(paid.items())))

    say("\n=== The ledger: what happened to each order (intacct-sync ops status ...)")
    ledger = DynamoLedger(stack.physical["StateTable"], client=stack.client("dynamodb"))
    for e in sorted(ledger.list_entries(), key=lambda e: (e.connection_id, e.order_id)):
        last = e.history[-1] if e.history else None
        action = f"{last.action}: {last.detail}" if last else ""
        say(f"  {e.connection_id:<13} #{e.order_number or e.order_id:<12} {e.status:<15} {action}")
    say("\n=== Back on the channels")
    for conn, figures in sorted(day.outbound.get("StockPushFunction", {}).items()):
        if isinstance(figures, dict):
            written, batches = figures.get("written", 0), figures.get("batches", 0)
            say(f"  stock pushed to {conn:<13} {written} figure(s) in {batches} batch(es)")
    shopify_order = day.cs.order("shopify", STORES["shopify"], 9001)
    say(f"  Shopify order #9001 tags: {shopify_order.get('tags')}")
    yen = day.cs.order("shopify", STORES["shopify"], 5820094660683)
    say(
        f"  Shopify order #1043 (yen, paid by bank transfer in Intacct): financial_status {yen.get('financial_status')}"
    )
    say("\n=== Payouts (intacct-sync ops payouts --all): bank line = deposit")
    company = intacct.store.company_ids()[0]
    with intacct.store.lock:
        deposits = {str(d["RECORDNO"]): d for d in intacct.store.all(company, "DEPOSIT")}
    store = DynamoPayoutStore(stack.physical["StateTable"], client=stack.client("dynamodb"), retention_days=0)
    deposited = 0
    for r in store.list_records():
        held = deposits.get(r.deposit_key or "")
        if r.status == "deposited" and held is not None and Decimal(str(held["TOTALENTERED"])) == r.net:
            deposited += 1
            say(
                f"  {r.connection_id:<13} payout {r.payout_id}: bank line {r.net} {r.currency} = deposit "
                f"{held['TOTALENTERED']} (Intacct deposit {r.deposit_key} into {held['FINANCIALENTITY']}: "
                f"{len(r.payment_keys)} payment(s) + receipt {r.receipt_total})"
            )
        else:
            say(f"  {r.connection_id:<13} payout {r.payout_id}: {r.status}: {r.reason or '?'}")
    if not deposited:
        say("  no payout deposited")
    say("\n=== Webhook answers")
    say("  " + ", ".join(f"HTTP {k}: {v}" for k, v in sorted(day.answers.items())))
    say("\n=== Rejected requests, and why")
    for r in day.rejected:
        say(f"  {r}")
    say("\n=== Parked messages, and why (fix, then: intacct-sync ops replay)")
    sqs = stack.client("sqs")
    parked = 0
    for logical in ("OrdersDeadLetterQueue", "PaymentsDeadLetterQueue"):
        got = sqs.receive_message(
            QueueUrl=stack.physical[logical], MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        for m in got:
            parked += 1
            attrs = m.get("MessageAttributes", {})
            say(
                f"  [{logical.replace('DeadLetterQueue', '')}] {attrs.get('parked_reason', {}).get('StringValue', '?')}"
            )
            say(f"      fix: {attrs.get('parked_fix', {}).get('StringValue', '-')}")
    if not parked:
        say("  none")
    say("\n=== Function invocations")
    say("  " + ", ".join(f"{k}: {v}" for k, v in sorted(stack.invocations.items())))
    return 0 if docs and payments and deposited else 1


def demo_settings(cs: ChannelSandbox) -> dict[str, Any]:
    """The demo company's settings: the default mapping and rules, plus where stock goes (Intacct
    warehouse -> channel location) and the writeback turned on."""
    settings = json.loads(DEFAULT_SETTINGS.model_dump_json())
    shop = [str(loc["id"]) for loc in cs.locations("shopify", STORES["shopify"])]
    bc = [str(loc["id"]) for loc in cs.locations("bigcommerce", STORES["bigcommerce"])]
    settings["stock"] = {
        "connections": {
            IDS["shopify"]: {"locations": {"WH-EAST": shop[0], "WH-WEST": shop[1]}},
            IDS["bigcommerce"]: {"locations": {"WH-EAST": bc[0], "WH-WEST": bc[1]}},
            IDS["woocommerce"]: {"locations": {"WH-EAST": "default", "WH-WEST": "default"}},
        },
        "safety_buffer": 2,
    }
    settings["writeback"] = {"enabled": True}
    settings["payouts"] = {
        "enabled": True,
        "bank_account_id": "BOA",
        "undeposited_account": "1200",
        "fee_account": "6100",
        "refund_account": "1250",
        "chargeback_account": "6110",
        "adjustment_account": "6120",
    }
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", action="store_true", help="keep the stack running (make local)")
    parser.add_argument("--port", type=int, default=0, help="webhook API port (default: any free one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    logging.disable(logging.WARNING)
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF lines would drown the story
    say("[1/7] Starting: AWS emulation (moto server), Intacct sandbox, channel sandbox, functions from template.yaml")
    with IntacctSandbox.start() as intacct, ChannelSandbox.start() as cs:
        connections = [cs.connection_secret(ch, STORES[ch], IDS[ch]) for ch in STORES]
        stack = LocalStack(
            intacct_credentials={**sandbox_credentials(), "endpoint_url": intacct.url},
            settings=demo_settings(cs),
            connections=connections,
            time_scale=540,
            api_port=args.port,
        )
        with stack:
            say(f"    API {stack.api_url}   AWS {stack.moto_url}   Intacct {intacct.url}   channels {cs.base_url}")
            say(f"    functions: {', '.join(sorted(stack.functions))}")
            day = Day(stack, intacct, cs)
            say("\n[2/7] Registering the stores' webhooks (idempotent)")
            day.register()
            if args.serve:
                return serve(stack, intacct, cs)
            say("\n[3/7] A day of orders, as signed webhooks")
            a = day.shopify_order(9001, first="Alan", last="Turing")
            b = day.shopify_order(9002, first="Ada", last="Lovelace")  # already a customer in Intacct
            c = day.shopify_order(9003, first="Alan", last="Turing")  # a repeat customer
            for oid, label in (
                (a, "new customer, TENOFF discount"),
                (b, "customer already in Intacct"),
                (c, "repeat customer"),
            ):
                day.deliver("shopify", "orders/create", oid, label)
            day.pay(a, 77001)
            day.pay(b, 77002)
            day.deliver("shopify", "orders/create", 5820094660683, "yen, bank transfer (unpaid)")
            day.deliver("woocommerce", "order.created", 727, "processing (paid)")
            day.deliver("woocommerce", "order.created", 1204, "EUR with VAT and a coupon")
            day.deliver("woocommerce", "order.created", 728, "pending: abandoned checkout")
            for bc_order in cs.orders("bigcommerce", STORES["bigcommerce"]):
                day.deliver("bigcommerce", "store/order/created", bc_order["id"], "ID-only callback (fetched)")
            say("\n[4/7] Duplicates, a refund, a cancellation, and requests that must be refused")
            dup = day.deliver("shopify", "orders/create", b, "same order, new delivery: no change")
            if dup is not None:
                again = cs.redeliver(dup)
                day.answers[str(again.status)] += 1
                say(f"    {'shopify':<12} {'orders/create':<26} {'a byte-identical redelivery':<38} -> {again.status}")
            day.refund(a, 66001)
            cancelled = copy.deepcopy(cs.order("shopify", STORES["shopify"], c))
            cancelled.update(
                {"cancelled_at": cancelled["updated_at"], "cancel_reason": "customer", "financial_status": "voided"}
            )
            cs.put_order("shopify", STORES["shopify"], cancelled, touch=True)
            day.deliver("shopify", "orders/cancelled", c, "unpaid order cancelled: delete invoice")
            day.forged()
            say(
                "\n    waiting for the consumers ...",
            )
            stack.wait_idle(timeout_s=90)
            say("\n[5/7] Reconcile poll: an order whose webhook never arrived")
            missed = copy.deepcopy(cs.order("woocommerce", STORES["woocommerce"], 897))
            missed.update({"id": 898, "number": "898"})
            cs.put_order("woocommerce", STORES["woocommerce"], missed, touch=True)
            say(f"    reconcile: {stack.run_schedule('ReconcileFunction')}")
            stack.wait_idle(timeout_s=60)
            say("\n[6/7] Outbound: the finance team records a bank transfer in Intacct; stock and writeback run")
            day.bank_transfer_in_intacct(1043)
            for name in ("StockPushFunction", "WritebackFunction"):
                result = stack.run_schedule(name)
                day.outbound[name] = result
                for conn, figures in sorted(result.items()):
                    brief = {k: v for k, v in figures.items() if k in SHOWN} if isinstance(figures, dict) else figures
                    say(f"    {name:<18} {conn:<13} {brief}")
            again = summarise_writes(stack.run_schedule("StockPushFunction"))
            say(f"    a second stock push (nothing changed): {again}")
            stack.wait_idle(timeout_s=30)
            say("\n[7/7] Month end: Shopify Payments pays out; the payout becomes one deposit in Intacct")
            day.payout(a, 77001, b, 77002, refund_id=66001)
            day.outbound["PayoutsFunction"] = stack.run_schedule("PayoutsFunction")
            for conn, figures in sorted(day.outbound["PayoutsFunction"].items()):
                say(f"    {'PayoutsFunction':<18} {conn:<13} {figures}")
            return summary(stack, intacct, day)


def serve(stack: LocalStack, intacct: IntacctSandbox, cs: ChannelSandbox) -> int:
    say("\nThe stack is running. Webhook URLs and the secrets that sign for them:")
    for channel, store in STORES.items():
        secret = cs.connection_secret(channel, store, IDS[channel])
        say(f"  {channel:<12} POST {stack.api_url}/webhooks/{IDS[channel]}   webhook_secret={secret['webhook_secret']}")
    say(f"\nIntacct sandbox: {intacct.url} (state: {intacct.base_url}/_sandbox/state)")
    say(f"Channel sandbox: {cs.base_url} (state: {cs.base_url}/_sandbox/state)")
    say("Point a store's test webhooks at these URLs (through a tunnel), or curl them. Ctrl-C stops.")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
