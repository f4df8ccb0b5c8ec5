"""Webhook handler figures: time per request next to the floor (HMAC + json.loads of the same
body), for a 5-line and a 100-line Shopify order, and the handler module's cold import time.

AWS calls are replaced by in-memory ports so the figure is the handler's own work (signature,
parse, validate, dedup bookkeeping, queue-message encoding); in AWS add the SQS and DynamoDB
round trips (a few ms each, in region).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.report import Figure, per_call_us
from intacct_sync.connections import InMemoryConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.queues import encode
from intacct_sync.state import InMemoryStateStore
from tests.fixtures.channels import sign

ROOT = Path(__file__).resolve().parent.parent


class EncodingQueue:
    """Encodes each event to its SQS message, as the real queue does, and keeps nothing."""

    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        for e in events:
            encode(e, lambda _k, _d: None)


class ForgetfulState(InMemoryStateStore):
    """Never remembers, so every timed request does the full accept path."""

    def record(self, events: Sequence[CanonicalEvent]) -> None:
        return None


def order_body(lines: int) -> bytes:
    order = json.loads(sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    template = order["line_items"][0]
    order["line_items"] = [
        dict(copy.deepcopy(template), id=template["id"] + i, sku=f"SKU-{i:04d}") for i in range(lines)
    ]
    return json.dumps(order).encode()


def cold_import_ms(runs: int = 5) -> float:
    code = (
        "import sys, time; sys.path[:0] = ['layers/shared', 'functions/webhook']; "
        "t = time.perf_counter(); import app; print((time.perf_counter() - t) * 1000)"
    )
    times = [
        float(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT, text=True).strip())  # noqa: S603
        for _ in range(runs)
    ]
    return statistics.median(times)


def run() -> list[Figure]:
    intake = WebhookIntake(
        InMemoryConnections([sign.connection("shopify")]), EventPipeline(ForgetfulState(), EncodingQueue())
    )
    figures: list[Figure] = []
    for lines in (5, 100):
        body = order_body(lines)
        headers = {k.lower(): v for k, v in sign.shopify_headers(body, "orders/paid").items()}
        event = {
            "pathParameters": {"connection_id": "test-shopify"},
            "headers": headers,
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        assert intake.handle_apigw(event).status == 202

        def floor(body: bytes = body, key: bytes = sign.SHOPIFY_TEST_SECRET.encode()) -> None:
            hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), b"x" * 32)
            json.loads(body)

        floor_us = per_call_us(floor, number=100)
        handler_us = per_call_us(lambda event=event: intake.handle_apigw(event), number=100)
        figures.append(Figure(f"floor: HMAC + json.loads, {lines}-line order ({len(body):,} B)", floor_us, "µs"))
        figures.append(
            Figure(
                f"webhook handler, {lines}-line order",
                handler_us,
                "µs",
                f"{handler_us / floor_us:.1f}x floor",
            )
        )
    figures.append(Figure("cold import of functions/webhook/app.py (median of 5)", cold_import_ms(), "ms"))
    return figures
