"""Write events/: API Gateway v2 webhook events for every channel fixture (plain and base64
bodies, signed with the documented test secrets), the scheduled events, and the SQS events the
two consumers receive (`events/sqs/orders.json`, `events/sqs/payments.json`).

The SQS events are not written by hand: the webhook events above go through the real intake
(signature check, channel adapter, pipeline, `queues.encode`) and what it would send to the FIFO
queues is wrapped the way the Lambda SQS event source delivers it (FIFO attributes, Lambda's
message attribute shape, MD5s computed as SQS computes them). They are byte-identical on every
run (fixed ids and timestamps); `tests/integration/test_sqs_events.py` checks that.

Usage: `.venv/bin/python -m local.make_events` (`make events`); `--only sqs` (or `webhook`,
`schedule`) rewrites one folder and leaves the others as they are. BigCommerce's Standard Webhooks
signature carries a timestamp checked within the connection's tolerance (5 minutes by default), so
regenerate right before `sam local invoke` of a BigCommerce event.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from intacct_sync.connections import InMemoryConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import ATTRIBUTE_TYPE, OutgoingMessage, encode
from intacct_sync.state import InMemoryStateStore
from tests.fixtures.channels import sign

EVENTS = Path(__file__).resolve().parent.parent / "events"
CONNECTIONS = Path(__file__).resolve().parent / "config" / "connections"

SHOPIFY_TOPICS = {
    "order_transactions_create_authorization.json": "order_transactions/create",
    "order_transactions_create_capture.json": "order_transactions/create",
    "orders_cancelled_test_notification.json": "orders/cancelled",
    "orders_create_guest_no_sku_hkd.json": "orders/create",
    "orders_create_jpy_bank_transfer.json": "orders/create",
    "orders_paid_eu_vat_inclusive.json": "orders/paid",
    "orders_paid_us_tax_exclusive_discount.json": "orders/paid",
    "refunds_create.json": "refunds/create",
}
WOO_TOPICS = {
    "order_created_guest_no_sku.json": "order.created",
    "order_created_pending_not_placed.json": "order.created",
    "order_deleted.json": "order.deleted",
    "order_updated_cancelled.json": "order.updated",
    "order_updated_eu_vat_coupon_partial_refund.json": "order.updated",
    "order_updated_stripe_paid.json": "order.updated",
}
BC_CALLBACKS = sorted(p.name for p in (sign.FIXTURES / "bigcommerce").glob("callback_*.json"))

CONNECTION_IDS = {
    "shopify": "shopify-demo",
    "woocommerce": "woocommerce-demo",
    "bigcommerce": "bigcommerce-demo",
}


def connection_secret(channel: str) -> dict[str, Any]:
    """The connection secret JSON (the demo's stores; secrets are the public test values)."""
    conn = sign.connection(channel, id=CONNECTION_IDS[channel])
    data = json.loads(conn.model_dump_json(exclude_none=True))
    for key in ("webhook_secret", "webhook_auth_value"):
        if getattr(conn, key) is not None:
            data[key] = getattr(conn, key).get_secret_value()
    return data


def apigw_event(connection_id: str, headers: dict[str, str], body: bytes, *, b64: bool) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event as API Gateway delivers it (header names lower-cased)."""
    now = int(time.time() * 1000)
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{connection_id}",
        "rawPath": f"/webhooks/{connection_id}",
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()} | {"content-length": str(len(body))},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api-id",
            "domainName": "api-id.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "api-id",
            "http": {
                "method": "POST",
                "path": f"/webhooks/{connection_id}",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": headers.get("User-Agent", "channel"),
            },
            "requestId": f"req-{connection_id}-{now}",
            "routeKey": "POST /webhooks/{connection_id}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": now,
        },
        "pathParameters": {"connection_id": connection_id},
        "body": base64.b64encode(body).decode() if b64 else body.decode(),
        "isBase64Encoded": b64,
    }


def webhook_events() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def add(channel: str, name: str, headers: dict[str, str], body: bytes) -> None:
        stem = name.removesuffix(".json").removesuffix(".txt")
        cid = CONNECTION_IDS[channel]
        out[f"webhook/{channel}/{stem}.json"] = apigw_event(cid, headers, body, b64=False)
        out[f"webhook/{channel}/{stem}.base64.json"] = apigw_event(cid, headers, body, b64=True)

    for name, topic in SHOPIFY_TOPICS.items():
        body = sign.load("shopify", name)
        add("shopify", name, sign.shopify_headers(body, topic, event_id=f"evt-{name}"), body)
    for name, topic in WOO_TOPICS.items():
        body = sign.load("woocommerce", name)
        add("woocommerce", name, sign.woocommerce_headers(body, topic), body)
    ping = sign.load("woocommerce", "ping.txt")
    add("woocommerce", "ping.txt", {"Content-Type": "application/x-www-form-urlencoded"}, ping)
    for name in BC_CALLBACKS:
        body = sign.load("bigcommerce", name)
        add(
            "bigcommerce",
            name,
            sign.bigcommerce_headers(body, timestamp=int(time.time()), msg_id=f"msg_{name}"),
            body,
        )
    forged = sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    add(
        "shopify",
        "forged_wrong_secret",
        sign.shopify_headers(forged, "orders/paid", secret="not-the-secret"),  # noqa: S106 - a forgery on purpose
        forged,
    )
    return out


def scheduled_event(name: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:events:eu-west-1:123456789012:rule/{name}"],
        "detail": {},
    }


# --- SQS events for the consumers ------------------------------------------------------------

# The deliveries the consumer events are made of, in the order the webhooks arrive: a Shopify
# order (orders/paid) and its captured payment, and a paid WooCommerce order (order + payment).
SQS_SOURCES = (
    "webhook/shopify/orders_paid_us_tax_exclusive_discount.json",
    "webhook/shopify/order_transactions_create_capture.json",
    "webhook/woocommerce/order_updated_stripe_paid.json",
)
SQS_REGION = "eu-west-1"
SQS_ACCOUNT = "123456789012"
SQS_STAGE = "prod"  # the template's default Stage: queues intacct-sync-prod-{orders,payments}.fifo
SQS_SENT_MS = 1_795_608_000_000  # 2026-11-25T12:00:00Z, as the scheduled events
# What SQS shows as SenderId for a message sent by the webhook function's role (role id:session).
SQS_SENDER = "AROAEXAMPLEWEBHOOKROLE:intacct-sync-WebhookFunction-EXAMPLE"
_SEQUENCE_BASE = 18_900_000_000_000_000_000
_STRING_TRANSPORT = 1  # SQS's MD5 of message attributes: transport type 1 = String, 2 = Binary


def md5_of_body(body: str) -> str:
    """SQS's MD5OfBody (Lambda's md5OfBody): MD5 of the body's UTF-8 bytes."""
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: dict[str, str]) -> str:
    """SQS's MD5OfMessageAttributes for String attributes: per attribute, sorted by name, the
    4-byte big-endian length + UTF-8 bytes of name and data type, transport byte 1, then length +
    bytes of the value."""

    def field(text: str) -> bytes:
        data = text.encode("utf-8")
        return struct.pack(">I", len(data)) + data

    buf = b"".join(
        field(name) + field(ATTRIBUTE_TYPE) + bytes([_STRING_TRANSPORT]) + field(attributes[name])
        for name in sorted(attributes)
    )
    return hashlib.md5(buf, usedforsecurity=False).hexdigest()


def queue_arn(queue: str) -> str:
    return f"arn:aws:sqs:{SQS_REGION}:{SQS_ACCOUNT}:intacct-sync-{SQS_STAGE}-{queue}.fifo"


class _CapturingQueue:
    """An EventQueue that keeps what `SqsEventQueue.publish` would send (same encoder)."""

    def __init__(self) -> None:
        self.messages: list[OutgoingMessage] = []

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        # A payment carried on the orders queue (intake.pipeline) is shown on the payments queue,
        # where the order consumer hands it on with the same body.
        for event in events:
            self.messages.append(encode(event, self._no_claim))

    @staticmethod
    def _no_claim(key: str, _data: bytes) -> None:
        raise AssertionError(f"a test event should fit one SQS message ({key})")


def queued_messages(webhooks: dict[str, dict[str, Any]]) -> list[OutgoingMessage]:
    """What the webhook intake puts on the queues for SQS_SOURCES, in arrival order."""
    connections = InMemoryConnections([sign.connection(c, id=cid) for c, cid in CONNECTION_IDS.items()])
    queue = _CapturingQueue()
    intake = WebhookIntake(connections, EventPipeline(InMemoryStateStore(), queue))
    for rel in SQS_SOURCES:
        answer = intake.handle_apigw(webhooks[rel])
        if answer.status != 202:
            raise RuntimeError(f"{rel}: the webhook intake answered {answer.status} {answer.body}")
    return queue.messages


def sqs_record(message: OutgoingMessage, sequence: int) -> dict[str, Any]:
    """One record of the Lambda SQS event for a FIFO queue, as the event source mapping sends it."""
    arn = queue_arn(message.queue)
    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}#{message.dedup_id}"))
    handle = base64.b64encode(hashlib.sha256(f"{arn}#{message_id}".encode()).digest() * 3).decode()
    sent = SQS_SENT_MS + sequence
    trace = hashlib.sha256(message.dedup_id.encode()).hexdigest()
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB" + handle,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "AWSTraceHeader": f"Root=1-{SQS_SENT_MS // 1000:x}-{trace[:24]};Parent={trace[24:40]};Sampled=1",
            "SentTimestamp": str(sent),
            "SequenceNumber": str(_SEQUENCE_BASE + sequence * 65_536),
            "MessageGroupId": message.group_id,
            "SenderId": SQS_SENDER,
            "MessageDeduplicationId": message.dedup_id,
            "ApproximateFirstReceiveTimestamp": str(sent + 25),
        },
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": ATTRIBUTE_TYPE}
            for name, value in message.attributes.items()
        },
        "md5OfMessageAttributes": md5_of_attributes(message.attributes),
        "md5OfBody": md5_of_body(message.body),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": SQS_REGION,
    }


def sqs_events(webhooks: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """`sqs/orders.json` and `sqs/payments.json`: one batch per consumer, FIFO order kept."""
    messages = queued_messages(webhooks if webhooks is not None else webhook_events())
    out: dict[str, dict[str, Any]] = {}
    for queue in ("orders", "payments"):
        mine = [m for m in messages if m.queue == queue]
        out[f"sqs/{queue}.json"] = {"Records": [sqs_record(m, i) for i, m in enumerate(mine, start=1)]}
    return out


def render(event: dict[str, Any]) -> str:
    """The text of an event file (the one format every file under events/ is written in)."""
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.make_events", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=("webhook", "schedule", "sqs"),
        help="write only this folder of events/ (repeatable); default: all, and the connection files",
    )
    args = parser.parse_args(argv)
    files = webhook_events()
    files |= sqs_events(files)
    for name in ("reconcile", "stock-push", "writeback", "payouts"):
        files[f"schedule/{name}.json"] = scheduled_event(f"intacct-sync-{name}")
    if args.only:
        files = {rel: event for rel, event in files.items() if rel.partition("/")[0] in args.only}
    for rel, event in files.items():
        path = EVENTS / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(event))
    if args.only:
        print(f"wrote {len(files)} events under {EVENTS}")
        return
    CONNECTIONS.mkdir(parents=True, exist_ok=True)
    for channel, cid in CONNECTION_IDS.items():
        (CONNECTIONS / f"{cid}.json").write_text(json.dumps(connection_secret(channel), indent=2) + "\n")
    print(f"wrote {len(files)} events under {EVENTS} and {len(CONNECTION_IDS)} connections under {CONNECTIONS}")


if __name__ == "__main__":
    main()
