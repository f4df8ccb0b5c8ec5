"""Property-based fuzzing of the webhook endpoint: whatever arrives, no 5xx and no exception."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intacct_sync.connections import InMemoryConnections
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.state import InMemoryStateStore
from tests.fixtures.channels import sign


class ListQueue:
    def __init__(self) -> None:
        self.events: list[CanonicalEvent] = []

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        self.events.extend(events)


INTAKE = WebhookIntake(
    InMemoryConnections([sign.connection(c) for c in ("shopify", "woocommerce", "bigcommerce")]),
    EventPipeline(InMemoryStateStore(), ListQueue()),
)
ALLOWED = {200, 202, 400, 401, 404, 413}
HEADER_NAMES = st.sampled_from(
    [
        "x-shopify-hmac-sha256",
        "x-shopify-topic",
        "x-shopify-event-id",
        "x-wc-webhook-signature",
        "x-wc-webhook-topic",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-webhook-token",
        "content-type",
    ]
) | st.text(min_size=1, max_size=20)
HEADERS = st.dictionaries(HEADER_NAMES, st.text(max_size=80), max_size=8)
CONNECTIONS = st.sampled_from(["test-shopify", "test-woocommerce", "test-bigcommerce", "nope", "", "../x"])
REAL_BODIES = st.sampled_from(
    [sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"), sign.load("woocommerce", "ping.txt")]
)


def event(connection_id: str, headers: dict[str, str], body: str, b64: bool) -> dict[str, object]:
    return {
        "pathParameters": {"connection_id": connection_id},
        "headers": headers,
        "body": body,
        "isBase64Encoded": b64,
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONNECTIONS, HEADERS, st.binary(max_size=2000) | REAL_BODIES, st.booleans())
def test_arbitrary_bytes_and_headers_never_cause_a_5xx(
    cid: str, headers: dict[str, str], body: bytes, b64: bool
) -> None:
    raw = base64.b64encode(body).decode() if b64 else body.decode("utf-8", "replace")
    assert INTAKE.handle_apigw(event(cid, headers, raw, b64)).status in ALLOWED


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["shopify", "woocommerce"]), st.binary(max_size=500), st.text(max_size=30))
def test_correctly_signed_garbage_is_a_400_or_ignored_never_a_crash(channel: str, body: bytes, topic: str) -> None:
    headers = (
        sign.shopify_headers(body, topic or "orders/create")
        if channel == "shopify"
        else sign.woocommerce_headers(body, topic or "order.created")
    )
    resp = INTAKE.handle_apigw(event(f"test-{channel}", headers, base64.b64encode(body).decode(), True))
    assert resp.status in {200, 202, 400}


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.none() | st.integers() | st.text(max_size=5), max_size=5))
def test_malformed_gateway_events_are_answered(event_fields: dict[str, object]) -> None:
    assert INTAKE.handle_apigw(event_fields).status in ALLOWED


ANY = st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2) | st.booleans()


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "pathParameters": ANY | st.fixed_dictionaries({"connection_id": ANY}),
            "headers": ANY | st.dictionaries(st.text(max_size=5), ANY, max_size=3),
            "body": ANY,
            "isBase64Encoded": ANY,
        },
    )
)
def test_gateway_events_with_wrong_types_are_answered_not_crashed(event_fields: dict[str, object]) -> None:
    assert INTAKE.handle_apigw(event_fields).status in ALLOWED
