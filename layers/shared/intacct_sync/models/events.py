"""The envelope every canonical event travels in (webhook -> SQS -> consumers).

`event_id` is the dedup identity: the same for every redelivery of one channel event, different
for genuinely different events (the rule per channel is in each adapter's docstring). It is at most
128 characters of SQS-FIFO-safe text, so it can be the queue's MessageDeduplicationId as is.
`updated_at` is the state version used to drop stale deliveries (latest wins); None means the
event carries no comparable state (an ID-only reference, a deletion).

JSON is lossless: Decimals travel as strings, datetimes as ISO-8601 UTC.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, TypeAdapter, model_validator

from intacct_sync.models.money import UtcDatetime
from intacct_sync.models.order import (
    Cancellation,
    Channel,
    Frozen,
    Order,
    OrderReference,
    Payment,
    Refund,
)

EventId = Annotated[str, StringConstraints(pattern=r"^[!-~]{1,128}$")]
"""Printable ASCII without spaces, 1-128 chars: what SQS FIFO accepts as a deduplication id."""


class _Envelope[P: (Order, Payment, Refund, Cancellation, OrderReference)](Frozen):
    event_id: EventId
    connection_id: str
    channel: Channel
    topic: str
    """The channel's topic / scope as delivered (orders/paid, order.updated, store/order/created)."""
    occurred_at: UtcDatetime | None = None
    """When the channel says the event happened, if it says."""
    updated_at: UtcDatetime | None = None
    """Version of the state carried (the resource's updated_at); latest wins."""
    delivery_id: str | None = None
    """The channel's delivery identifier, for logs and support (not the dedup key)."""
    payload: P

    @model_validator(mode="after")
    def _payload_matches_envelope(self) -> _Envelope[P]:
        if self.payload.connection_id != self.connection_id or self.payload.channel != self.channel:
            raise ValueError("payload connection/channel differ from the envelope's")
        return self

    @property
    def order_id(self) -> str:
        return self.payload.order_id

    @property
    def group_id(self) -> str:
        """SQS FIFO message group: one order's events are processed in order."""
        return f"{self.connection_id}:{self.order_id}"


class OrderEvent(_Envelope[Order]):
    type: Literal["order"] = "order"


class PaymentEvent(_Envelope[Payment]):
    type: Literal["payment"] = "payment"


class RefundEvent(_Envelope[Refund]):
    type: Literal["refund"] = "refund"


class CancellationEvent(_Envelope[Cancellation]):
    type: Literal["cancellation"] = "cancellation"


class OrderReferenceEvent(_Envelope[OrderReference]):
    type: Literal["order_reference"] = "order_reference"


CanonicalEvent = Annotated[
    OrderEvent | PaymentEvent | RefundEvent | CancellationEvent | OrderReferenceEvent,
    Field(discriminator="type"),
]

_EVENT: TypeAdapter[CanonicalEvent] = TypeAdapter(CanonicalEvent)


def event_to_json(event: CanonicalEvent) -> bytes:
    """Serialise for a queue message; `event_from_json` gives back an equal event.

    The event's own class serialises it: the same bytes as the union's serializer, which first
    has to find the member it is (about twice the time for a large order)."""
    return type(event).__pydantic_serializer__.to_json(event)


def event_from_json(data: bytes | str) -> CanonicalEvent:
    """Parse a queue message; raises pydantic.ValidationError when it is not a canonical event."""
    return _EVENT.validate_json(data)
