"""Webhook intake end to end against moto: every answer code, signatures on raw bytes, dedup beyond
FIFO's window, stale deliveries, claim checks, and an unavailable queue answered 503 without loss."""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any

import pytest

from intacct_sync.intake.webhook import MAX_BODY_BYTES
from local.make_events import CONNECTION_IDS, SHOPIFY_TOPICS, WOO_TOPICS, apigw_event, connection_secret
from tests.aws import FakeContext, Stack, load_function
from tests.fixtures.channels import sign


@pytest.fixture
def stack(aws: Stack) -> Stack:
    for channel in CONNECTION_IDS:
        aws.put_connection(connection_secret(channel))
    return aws


def post(stack: Stack, channel: str, headers: dict[str, str], body: bytes, *, b64: bool = False) -> Any:
    return stack.intake().handle_apigw(apigw_event(CONNECTION_IDS[channel], headers, body, b64=b64))


def shopify(name: str, **kw: Any) -> tuple[dict[str, str], bytes]:
    body = sign.load("shopify", name)
    return sign.shopify_headers(body, SHOPIFY_TOPICS[name], **kw), body


@pytest.mark.parametrize("b64", [False, True], ids=["plain", "base64"])
@pytest.mark.parametrize("name", sorted(SHOPIFY_TOPICS))
def test_every_shopify_fixture_is_accepted_or_ignored(stack: Stack, name: str, b64: bool) -> None:
    headers, body = shopify(name)
    resp = post(stack, "shopify", headers, body, b64=b64)
    assert resp.status in (200, 202), resp.body
    queued = stack.drain("orders") + stack.drain("payments")
    assert len(queued) == resp.body.get("events", 0)
    for message, event in queued:
        assert event.connection_id == "shopify-demo"
        assert message["Attributes"]["MessageGroupId"] == event.group_id
        assert message["Attributes"]["MessageDeduplicationId"] == event.event_id


@pytest.mark.parametrize("name", sorted(WOO_TOPICS))
def test_every_woocommerce_fixture_is_answered_without_error(stack: Stack, name: str) -> None:
    body = sign.load("woocommerce", name)
    resp = post(stack, "woocommerce", sign.woocommerce_headers(body, WOO_TOPICS[name]), body, b64=True)
    assert resp.status in (200, 202), resp.body


def test_woocommerce_ping_is_answered_200_and_queues_nothing(stack: Stack) -> None:
    resp = post(stack, "woocommerce", {"content-type": "application/x-www-form-urlencoded"}, b"webhook_id=15")
    assert (resp.status, resp.body) == (200, {"status": "ping"})
    assert stack.drain("orders") == []


def test_woocommerce_pending_checkout_is_not_invoiced(stack: Stack) -> None:
    body = sign.load("woocommerce", "order_created_pending_not_placed.json")
    post(stack, "woocommerce", sign.woocommerce_headers(body, "order.created"), body)
    events = [e for _, e in stack.drain("orders")]
    assert all(e.type != "order" or not e.payload.placed for e in events)


def test_bigcommerce_callback_is_queued_as_a_reference_to_fetch(stack: Stack) -> None:
    body = sign.load("bigcommerce", "callback_store_order_created.json")
    resp = post(stack, "bigcommerce", sign.bigcommerce_headers(body, timestamp=int(time.time())), body)
    assert resp.status == 202
    [(_, event)] = stack.drain("orders")
    assert event.type == "order_reference"


def test_bigcommerce_signature_outside_the_tolerance_is_refused(stack: Stack) -> None:
    body = sign.load("bigcommerce", "callback_store_order_created.json")
    resp = post(stack, "bigcommerce", sign.bigcommerce_headers(body, timestamp=int(time.time()) - 3600), body)
    assert resp.status == 401


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda h, b: ({**h, "X-Shopify-Hmac-Sha256": sign.hmac_b64("wrong", b)}, b), id="wrong-secret"),
        pytest.param(lambda h, b: ({k: v for k, v in h.items() if "Hmac" not in k}, b), id="missing-header"),
        pytest.param(lambda h, b: (h, b.replace(b'"id"', b'"id" ', 1)), id="body-changed-after-signing"),
        pytest.param(lambda h, b: ({**h, "X-Shopify-Hmac-Sha256": ""}, b), id="empty-header"),
    ],
)
def test_forged_or_unsigned_requests_get_401_and_queue_nothing(stack: Stack, mangle: Any) -> None:
    headers, body = mangle(*shopify("orders_paid_us_tax_exclusive_discount.json"))
    resp = post(stack, "shopify", headers, body)
    assert resp.status == 401 and resp.body == {"error": "signature missing or invalid"}
    assert stack.drain("orders") == []


def test_a_connection_without_a_webhook_secret_fails_closed(stack: Stack) -> None:
    secret = connection_secret("shopify") | {"id": "no-secret"}
    secret.pop("webhook_secret")
    stack.put_connection(secret)
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    resp = stack.intake().handle_apigw(apigw_event("no-secret", headers, body, b64=False))
    assert resp.status == 401


def test_unknown_connections_get_404(stack: Stack) -> None:
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    for cid in ("nobody", "../etc/passwd", "", "x" * 65):
        assert stack.intake().handle_apigw(apigw_event(cid, headers, body, b64=False)).status == 404


def test_a_body_over_4_mib_gets_413(stack: Stack) -> None:
    body = b'{"id": 1, "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    headers = sign.shopify_headers(body, "orders/create")
    assert post(stack, "shopify", headers, body).status == 413
    assert post(stack, "shopify", headers, body, b64=True).status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"id": "x"}',
        b"{" * 5000,
        '{"id": 1, "name": "\ud800"}'.encode("utf-8", "surrogatepass"),
    ],
    ids=["text", "array", "shape", "deep", "bad-utf8"],
)
def test_signed_but_malformed_payloads_get_400_naming_the_problem(stack: Stack, body: bytes) -> None:
    resp = post(stack, "shopify", sign.shopify_headers(body, "orders/create"), body, b64=True)
    assert resp.status == 400
    assert resp.body["error"]
    assert stack.drain("orders") == []


def test_invalid_base64_gets_400(stack: Stack) -> None:
    event = apigw_event("shopify-demo", {}, b"{}", b64=True) | {"body": "!!!not base64!!!"}
    assert stack.intake().handle_apigw(event).status == 400


def test_a_duplicate_delivery_is_200_and_reaches_the_queue_at_most_once_more(stack: Stack) -> None:
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    first = post(stack, "shopify", headers, body)
    assert first.status == 202
    sent = stack.drain("orders")
    assert len(sent) == first.body["events"]
    # The answer says "duplicate": the durable record caught it. Its claim is not known to be sent
    # (the first delivery's two calls cannot say so), so the events go out once more under the same
    # dedup id: SQS drops that copy within 5 minutes of the first (moto dedups only against messages
    # still queued, so it shows here), a consumer absorbs a later one. The claim is now marked sent.
    again = post(stack, "shopify", headers, body, b64=True)
    assert (again.status, again.body) == (200, {"status": "duplicate"})
    copies = stack.drain("orders")
    dedup_ids = sorted(m["Attributes"]["MessageDeduplicationId"] for m, _ in sent)
    assert sorted(m["Attributes"]["MessageDeduplicationId"] for m, _ in copies) == dedup_ids
    # Every later copy, whenever it comes, is answered from the record and queues nothing.
    third = post(stack, "shopify", headers, body)
    assert (third.status, third.body) == (200, {"status": "duplicate"})
    assert stack.drain("orders") == []


def test_a_redelivery_with_a_new_event_id_but_older_state_is_stale(stack: Stack) -> None:
    order = json.loads(sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    newer = copy.deepcopy(order)
    newer["updated_at"] = "2030-01-01T00:00:00Z"
    newer_body = json.dumps(newer).encode()
    resp = post(stack, "shopify", sign.shopify_headers(newer_body, "orders/updated", event_id="e-new"), newer_body)
    assert resp.status == 202
    stack.drain("orders")
    old_body = json.dumps(order).encode()
    late = post(stack, "shopify", sign.shopify_headers(old_body, "orders/updated", event_id="e-old"), old_body)
    assert (late.status, late.body) == (200, {"status": "stale"})
    assert stack.drain("orders") == []


def test_an_order_too_big_for_sqs_travels_by_claim_check(stack: Stack) -> None:
    order = json.loads(sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
    line = order["line_items"][0]
    order["line_items"] = [dict(line, id=line["id"] + i, title="Ü" * 900, name="Ü" * 900) for i in range(300)]
    body = json.dumps(order).encode()
    assert len(body) < MAX_BODY_BYTES
    resp = post(stack, "shopify", sign.shopify_headers(body, "orders/create", event_id="big-1"), body)
    assert resp.status in (200, 202), resp.body  # totals no longer match, but nothing is lost
    [(message, event)] = [m for m in stack.drain("orders") if m[1].type == "order"]
    assert json.loads(message["Body"])["claim_check"]["key"].startswith("claims/shopify-demo/")
    assert len(event.payload.lines) == 300 and event.payload.lines[0].name == "Ü" * 900


def test_an_unavailable_queue_is_503_and_the_retry_is_accepted(stack: Stack) -> None:
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    broken = stack.intake()
    broken.pipeline.queue.urls["orders"] = stack.orders_url + "-gone"  # type: ignore[attr-defined]
    resp = broken.handle_apigw(apigw_event("shopify-demo", headers, body, b64=False))
    assert resp.status == 503
    retry = post(stack, "shopify", headers, body)
    assert retry.status == 202, "nothing was marked accepted by the failed attempt"


def test_an_invalid_connection_secret_is_503_so_the_channel_retries(stack: Stack) -> None:
    stack.secrets.create_secret(Name=stack.prefix + "broken", SecretString='{"channel": "ebay"}')
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    assert stack.intake().handle_apigw(apigw_event("broken", headers, body, b64=False)).status == 503


def test_the_lambda_handler_serves_the_events_folder(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    app = load_function("webhook")
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    out = app.lambda_handler(apigw_event("shopify-demo", headers, body, b64=True), FakeContext())
    assert out["statusCode"] == 202 and json.loads(out["body"])["status"] == "accepted"
    assert out["headers"]["content-type"] == "application/json"
    forged = app.lambda_handler(apigw_event("shopify-demo", {}, body, b64=False), FakeContext())
    assert forged["statusCode"] == 401


def test_no_secret_or_body_text_reaches_the_logs(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    headers, body = shopify("orders_paid_us_tax_exclusive_discount.json")
    with caplog.at_level("DEBUG", logger="intacct_sync"):
        post(stack, "shopify", headers, body)
        post(stack, "shopify", {**headers, "X-Shopify-Hmac-Sha256": "forged"}, body)
    order = json.loads(body)
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for secret in (
        sign.SHOPIFY_TEST_SECRET,
        headers["X-Shopify-Hmac-Sha256"],
        base64.b64encode(body).decode()[:40],
    ):
        assert secret not in text
    email = order.get("email") or order.get("customer", {}).get("email")
    assert email and email not in text
