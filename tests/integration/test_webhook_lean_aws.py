"""`intake.aws.lean`: the webhook's UpdateItem and SendMessageBatch on botocore's short path send
the same request bytes as the plain client, work against moto, and fail, retry and raise as the
plain client does (throttling and 5xx retried by the client's own policy, a failed condition raised
with its item, an unreachable endpoint retried then raised)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.auth
import botocore.endpoint
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from intacct_sync.connections import InMemoryConnections
from intacct_sync.intake.aws import lean
from intacct_sync.intake.pipeline import EventPipeline
from intacct_sync.intake.webhook import WebhookIntake
from intacct_sync.queues import SqsEventQueue
from intacct_sync.state import DynamoStateStore, StateUnavailable
from tests.aws import Stack
from tests.fixtures.channels import sign

REGION = "eu-west-1"
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo"
UPDATE = {
    "TableName": "state",
    "Key": {"pk": {"S": "version#c:1"}},
    "UpdateExpression": "SET #c0 = if_not_exists(#c0, :c0), #v = :v",
    "ExpressionAttributeNames": {"#c0": "e1", "#v": "v"},
    "ExpressionAttributeValues": {":c0": {"S": "p1|2030-01-01T00:00:00Z"}, ":v": {"S": "Zoë ✓ 𝄞"}},
    "ReturnValues": "ALL_OLD",
    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    "ConditionExpression": "attribute_not_exists(#v) OR #v <= :v",
}
SEND = {
    "QueueUrl": QUEUE_URL,
    "Entries": [
        {
            "Id": str(i),
            "MessageBody": json.dumps({"n": i, "name": "Zoë ✓ 𝄞"}, ensure_ascii=False),
            "MessageGroupId": "c:1",
            "MessageDeduplicationId": f"e{i}",
            "MessageAttributes": {"type": {"DataType": "String", "StringValue": "order"}},
        }
        for i in range(3)
    ],
}
OK = {
    "dynamodb": b"{}",
    "sqs": b'{"Successful":[{"Id":"0","MessageId":"m","MD5OfMessageBody":"x"}],"Failed":[]}',
}


class Wire:
    """A client whose HTTP send is answered from a script (`before-send`), every request kept."""

    def __init__(self, service: str, *, answers: list[Any] | None = None) -> None:
        self.client = boto3.client(
            service, region_name=REGION, config=Config(retries={"mode": "standard", "max_attempts": 2})
        )
        self.service = service
        self.requests: list[Any] = []
        self.answers = list(answers or [])
        self.client.meta.events.register(f"before-send.{service}", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else (200, OK[self.service])
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        headers = {"x-amzn-requestid": "r", "content-type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, _Body(body))


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data

    def read(self, *_: Any, **__: Any) -> bytes:
        return self.data


def error(code: str, message: str = "m", **extra: Any) -> bytes:
    return json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra}).encode()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """botocore's retry delays, recorded instead of slept (no test waits on the clock)."""
    slept: list[float] = []

    class _Time:
        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)

    monkeypatch.setattr(botocore.endpoint, "time", _Time)
    return slept


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)


def headers(request: Any) -> dict[str, Any]:
    return {k: v for k, v in request.headers.items() if k != "amz-sdk-invocation-id"}


@pytest.mark.parametrize(
    ("service", "operation", "params"), [("dynamodb", "UpdateItem", UPDATE), ("sqs", "SendMessageBatch", SEND)]
)
@pytest.mark.parametrize("in_lambda", [False, True])
def test_the_short_path_sends_the_plain_clients_request_byte_for_byte(  # noqa: PLR0917 - parametrised
    service: str,
    operation: str,
    params: dict[str, Any],
    in_lambda: bool,
    frozen_clock: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if in_lambda:  # botocore then adds the recursion-detection header from the trace id
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "intacct-sync-webhook")
        monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8")
    wire = Wire(service)
    method = botocore.xform_name(operation)
    short = getattr(lean(wire.client, operation), method)
    short(**params)  # the first call goes through the client: the template
    getattr(wire.client, method)(**params)
    short(**params)
    first, plain, fast = wire.requests
    for a, b in ((plain, first), (plain, fast)):
        assert (a.method, a.url, a.body) == (b.method, b.url, b.body)
        assert headers(a) == headers(b)
        assert list(a.headers) == list(b.headers)
    assert fast.headers["amz-sdk-invocation-id"] != plain.headers["amz-sdk-invocation-id"]
    assert ("X-Amzn-Trace-Id" in fast.headers) is in_lambda
    assert b"X-Amz-Security-Token" not in fast.body


def test_the_answers_are_the_plain_clients() -> None:
    wire = Wire("sqs")
    short = lean(wire.client, "SendMessageBatch")
    short.send_message_batch(**SEND)
    fast = short.send_message_batch(**SEND)
    plain = wire.client.send_message_batch(**SEND)
    for answer in (fast, plain):
        answer["ResponseMetadata"].pop("HTTPHeaders")
    assert fast == plain
    assert fast["Successful"][0]["Id"] == "0"


def short_update(wire: Wire) -> Callable[..., Any]:
    update: Callable[..., Any] = lean(wire.client, "UpdateItem").update_item
    update(**UPDATE)  # template
    wire.requests.clear()
    return update


@pytest.mark.parametrize(
    "failure",
    [
        (400, error("ProvisionedThroughputExceededException")),
        (400, error("ThrottlingException")),
        (500, error("InternalServerError")),
        (503, b""),
        EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com/"),
    ],
    ids=["throughput", "throttling", "500", "503", "unreachable"],
)
def test_a_throttle_a_5xx_or_an_unreachable_endpoint_is_retried_by_the_clients_own_policy(
    failure: Any, no_backoff: list[float]
) -> None:
    wire = Wire("dynamodb")
    update = short_update(wire)
    wire.answers = [failure, failure]  # the short path's attempt, then the client's first
    assert update(**UPDATE)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(wire.requests) == 3
    assert len(no_backoff) == 1, "the client backs off between its own attempts"


def test_a_throttle_that_lasts_raises_what_the_plain_client_raises() -> None:
    throttled = (400, error("ProvisionedThroughputExceededException"))
    plain = Wire("dynamodb", answers=[throttled] * 10)
    with pytest.raises(ClientError):
        plain.client.update_item(**UPDATE)
    assert len(plain.requests) > 1, "the client retries a throttle"
    wire = Wire("dynamodb")
    update = short_update(wire)
    wire.answers = [throttled] * 10
    with pytest.raises(ClientError) as raised:
        update(**UPDATE)
    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert isinstance(raised.value, wire.client.exceptions.ProvisionedThroughputExceededException)
    assert len(wire.requests) == 1 + len(plain.requests), "one short attempt, then the client's own"


def test_a_failed_condition_is_raised_at_once_with_the_item_as_the_plain_client_does() -> None:
    item = {"pk": {"S": "version#c:1"}, "v": {"S": "2030-01-02T00:00:00Z"}}
    answer = (400, error("ConditionalCheckFailedException", "The conditional request failed", Item=item))
    plain_wire = Wire("dynamodb", answers=[answer])
    with pytest.raises(ClientError) as plain:
        plain_wire.client.update_item(**UPDATE)
    wire = Wire("dynamodb")
    update = short_update(wire)
    wire.answers = [answer]
    with pytest.raises(wire.client.exceptions.ConditionalCheckFailedException) as fast:
        update(**UPDATE)
    assert len(wire.requests) == 1, "not retried: one request"
    for response in (plain.value.response, fast.value.response):
        response["ResponseMetadata"].pop("HTTPHeaders")
        response["ResponseMetadata"].pop("RetryAttempts", None)
    assert fast.value.response == plain.value.response
    assert fast.value.response["Item"] == item


def test_the_intake_answers_503_when_the_claim_keeps_failing() -> None:
    wire = Wire("dynamodb")
    state = DynamoStateStore("state", client=lean(wire.client, "UpdateItem"))
    wire.answers = [(500, error("InternalServerError"))] * 10
    sqs = Wire("sqs")
    queue = SqsEventQueue(
        orders_url=QUEUE_URL, payments_url=QUEUE_URL, bucket="b", sqs=lean(sqs.client, "SendMessageBatch")
    )
    intake = WebhookIntake(InMemoryConnections([sign.connection("shopify")]), EventPipeline(state, queue))
    body = sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json")
    headers = {k.lower(): v for k, v in sign.shopify_headers(body, "orders/paid").items()}
    assert intake.handle("test-shopify", headers, body).status == 503
    assert sqs.requests == [], "nothing sent without a claim"
    with pytest.raises(StateUnavailable):
        state.claim("c:1", {"e1": "p1"}, version=None, not_older_than=None)


# --- against moto (in-process: it answers botocore's before-send) -----------------------------------


def test_deliveries_through_the_short_path_against_moto_claim_send_and_refuse_a_stale_state(aws: Stack) -> None:
    sent: list[str] = []
    dynamodb = lean(aws.dynamodb, "UpdateItem")
    sqs = lean(aws.sqs, "SendMessageBatch")

    def count(request: Any, **_: Any) -> None:
        sent.append(request.url)

    for client in (aws.dynamodb, aws.sqs):
        client.meta.events.register("before-send", count)
    queue = SqsEventQueue(orders_url=aws.orders_url, payments_url=aws.payments_url, bucket=aws.bucket, sqs=sqs)
    intake = WebhookIntake(
        InMemoryConnections([sign.connection("shopify"), sign.connection("woocommerce")]),
        EventPipeline(DynamoStateStore(aws.table, client=dynamodb), queue),
    )

    def deliver(updated_at: str, event_id: str) -> Any:
        order = json.loads(sign.load("shopify", "orders_paid_us_tax_exclusive_discount.json"))
        order["updated_at"] = updated_at
        body = json.dumps(order).encode()
        headers = {k.lower(): v for k, v in sign.shopify_headers(body, "orders/updated", event_id=event_id).items()}
        return intake.handle("test-shopify", headers, body)

    for i in range(3):  # the first call of each operation goes through the client (template)
        assert deliver(f"2030-01-01T00:00:0{i}Z", f"evt-{i}").status == 202
        assert len(sent) == 2
        sent.clear()
    assert [e.event_id for _, e in aws.drain("orders")] == [
        f"shopify:test-shopify:order:orders/updated:evt-{i}" for i in range(3)
    ]
    sent.clear()
    stale = deliver("2029-12-31T00:00:00Z", "evt-old")
    assert stale.body == {"status": "stale"}
    assert len(sent) == 1, "a stale delivery is one call: the failed condition is not retried"
    assert aws.drain("orders") == []
    item = aws.dynamodb.get_item(TableName=aws.table, Key={"pk": {"S": "version#test-shopify:450789469"}})["Item"]
    assert item["v"]["S"].startswith("2030-01-01T00:00:02")
