import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from intacct_sync.models import (
    Cancellation,
    CancellationEvent,
    OrderReference,
    OrderReferenceEvent,
    Payment,
    PaymentEvent,
    Refund,
    RefundEvent,
    RefundLine,
    event_from_json,
    event_to_json,
)

NOW = datetime(2024, 6, 1, 12, 30, tzinfo=UTC)
BASE = {"connection_id": "c1", "channel": "shopify"}


def _events() -> list[object]:
    payment = Payment(
        **BASE,
        order_id="1",
        payment_id="p1",
        kind="capture",
        amount=Decimal("10.50"),
        currency="USD",
        processed_at=NOW,
    )
    refund = Refund(
        **BASE,
        refund_id="r1",
        order_id="1",
        amount=Decimal("5.000"),
        currency="KWD",
        lines=(RefundLine(line_id="l1", quantity=Decimal("1.5"), amount=Decimal("4.100")),),
        shipping_amount=Decimal("0.900"),
    )
    return [
        PaymentEvent(event_id="e:1", topic="t", occurred_at=NOW, **BASE, payload=payment),
        RefundEvent(event_id="e:2", topic="t", **BASE, payload=refund),
        CancellationEvent(
            event_id="e:3", topic="t", **BASE, payload=Cancellation(**BASE, order_id="1", cancelled_at=NOW)
        ),
        OrderReferenceEvent(
            event_id="e:4",
            topic="store/order/created",
            **BASE,
            payload=OrderReference(**BASE, order_id="1", scope="store/order/created", new_status_id=11),
        ),
    ]


@pytest.mark.parametrize("event", _events(), ids=lambda e: type(e).__name__)
def test_every_event_type_round_trips_through_json_exactly(event: object) -> None:
    data = event_to_json(event)  # type: ignore[arg-type]
    back = event_from_json(data)
    assert back == event
    assert type(back) is type(event)
    assert event_to_json(back) == data


def test_decimals_travel_as_strings_and_keep_their_scale() -> None:
    event = _events()[1]
    raw = json.loads(event_to_json(event))  # type: ignore[arg-type]
    assert raw["payload"]["amount"] == "5.000"
    back = event_from_json(json.dumps(raw))
    assert str(back.payload.amount) == "5.000"  # type: ignore[union-attr]


def test_a_float_in_a_queue_message_is_rejected() -> None:
    raw = json.loads(event_to_json(_events()[0]))  # type: ignore[arg-type]
    raw["payload"]["amount"] = 10.5
    with pytest.raises(ValidationError, match="never float"):
        event_from_json(json.dumps(raw))


def test_envelope_and_payload_must_name_the_same_connection() -> None:
    payment = _events()[0].payload  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="differ"):
        PaymentEvent(event_id="e", topic="t", connection_id="other", channel="shopify", payload=payment)


def test_event_id_fits_an_sqs_fifo_deduplication_id() -> None:
    payment = _events()[0].payload  # type: ignore[attr-defined]
    for bad in ("", "has space", "x" * 129, "naïve"):
        with pytest.raises(ValidationError):
            PaymentEvent(event_id=bad, topic="t", **BASE, payload=payment)


def test_group_id_is_connection_and_order() -> None:
    assert _events()[0].group_id == "c1:1"  # type: ignore[attr-defined]
