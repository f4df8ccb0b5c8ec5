"""Hostile and random input: parse() raises only InvalidPayload, verify only InvalidSignature."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intacct_sync.channels import ADAPTERS, InvalidPayload, InvalidSignature, Ping, receive
from intacct_sync.models import event_from_json, event_to_json
from tests.fixtures.channels.sign import FIXTURES, connection
from tests.fixtures.mutate import paths, replace

CHANNELS = ["shopify", "woocommerce", "bigcommerce"]
TOPICS = {
    "shopify": [
        "orders/create",
        "orders/updated",
        "orders/delete",
        "refunds/create",
        "order_transactions/create",
    ],
    "woocommerce": ["order.created", "order.updated", "order.deleted", "action.woocommerce_order_x"],
    "bigcommerce": ["store/order/created"],
}
TOPIC_HEADER = {"shopify": "X-Shopify-Topic", "woocommerce": "X-WC-Webhook-Topic", "bigcommerce": "X-Unused"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "0", "1.5", "NaN", "1e400", "2024-01-01T00:00:00", "Tue, 05 Mar 2019 21:40:11 +0000"])
    # What SQS and Intacct XML cannot carry, and ids that would change an API path.
    | st.sampled_from(["\ud800", "a\udfffb", "\ufffe", "\uffff", "\x01", "\x00x", ".", "..", "/", "%2e", "?", "#"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
header_maps = st.dictionaries(
    st.sampled_from(
        [
            "X-Shopify-Event-Id",
            "X-Shopify-Webhook-Id",
            "X-Shopify-Triggered-At",
            "X-WC-Webhook-Delivery-ID",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "X-Shopify-Hmac-Sha256",
            "X-WC-Webhook-Signature",
            "X-Webhook-Token",
        ]
    )
    | st.text(max_size=20),
    st.text(max_size=60),
    max_size=6,
)


def _fixture_bodies() -> list[tuple[str, dict[str, Any]]]:
    bodies = []
    for path in sorted(Path(FIXTURES).glob("*/*.json")):
        if path.name.startswith("order_fetch") or path.name.startswith("refund_fetch"):
            continue
        bodies.append((path.parent.name, json.loads(path.read_bytes())))
    return bodies


FIXTURE_BODIES = _fixture_bodies()


def _parse_only_raises_invalid_payload(channel: str, headers: dict[str, str], body: bytes) -> None:
    try:
        events = ADAPTERS[channel].parse(headers, body, connection(channel))  # type: ignore[index]
    except InvalidPayload:
        return
    for event in events:
        assert event_from_json(event_to_json(event)) == event


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(channel=st.sampled_from(CHANNELS), data=st.data(), body=st.binary(max_size=300), headers=header_maps)
def test_parse_of_arbitrary_bytes_raises_only_invalid_payload(
    channel: str, data: st.DataObject, body: bytes, headers: dict[str, str]
) -> None:
    headers = {**headers, TOPIC_HEADER[channel]: data.draw(st.sampled_from(TOPICS[channel]))}
    _parse_only_raises_invalid_payload(channel, headers, body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(channel=st.sampled_from(CHANNELS), data=st.data(), value=json_values, headers=header_maps)
def test_parse_of_arbitrary_json_raises_only_invalid_payload(
    channel: str, data: st.DataObject, value: Any, headers: dict[str, str]
) -> None:
    headers = {**headers, TOPIC_HEADER[channel]: data.draw(st.sampled_from(TOPICS[channel]))}
    _parse_only_raises_invalid_payload(channel, headers, json.dumps(value).encode())


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_real_payloads_with_random_fields_broken_raise_only_invalid_payload(data: st.DataObject) -> None:
    channel, body = data.draw(st.sampled_from(FIXTURE_BODIES))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths(body)))
        delete = bool(path) and data.draw(st.booleans())
        body = replace(body, path, data.draw(json_values), delete)
    headers = {TOPIC_HEADER[channel]: data.draw(st.sampled_from(TOPICS[channel]))}
    _parse_only_raises_invalid_payload(channel, headers, json.dumps(body).encode())


@settings(max_examples=300)
@given(channel=st.sampled_from(CHANNELS), body=st.binary(max_size=200), headers=header_maps)
def test_receive_never_raises_anything_but_the_two_client_errors(
    channel: str, body: bytes, headers: dict[str, str]
) -> None:
    try:
        result = receive(headers, body, connection(channel), now=1_717_200_000)
    except (InvalidSignature, InvalidPayload):
        return
    assert isinstance(result, Ping), "nothing unsigned gets through except a ping"


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 50_000, b"1" * 5000, b'{"id": 1e999999}', b"\xff\xfe\x00", b"NaN", b""],
    ids=["deep-array", "deep-object", "huge-int", "huge-exponent", "bad-utf", "nan", "empty"],
)
def test_hostile_bodies_are_invalid_payloads(channel: str, body: bytes) -> None:
    headers = {TOPIC_HEADER[channel]: TOPICS[channel][0]}
    with pytest.raises(InvalidPayload):
        ADAPTERS[channel].parse(headers, body, connection(channel))  # type: ignore[index]
