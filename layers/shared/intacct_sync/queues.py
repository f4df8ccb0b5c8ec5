"""Canonical events onto the SQS FIFO queues, with a claim check for the ones too big to carry.

Routing: orders, cancellations and order references go to the orders queue; payments and refunds
to the payments queue. Group id = `<connection>:<order id>` (one order's events in order); dedup id
= the event id (FIFO drops a repeat within 5 minutes; the state table catches later ones).
An event whose JSON exceeds `MAX_INLINE_BYTES` is stored in S3 under a key derived from its event
id (a retry overwrites the same object) and the message carries a pointer to it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from intacct_sync.errors import TransientError
from intacct_sync.models.events import CanonicalEvent, event_from_json, event_to_json

# SQS allows 262,144 bytes per message, attributes included; keep a margin for them.
MAX_INLINE_BYTES = 240 * 1024
SQS_BATCH = 10
ORDER_QUEUE_TYPES = frozenset({"order", "cancellation", "order_reference"})


class QueueUnavailable(TransientError):
    """The queue (or the claim-check bucket) did not take the events: answer 503, retry."""


class EventQueue(Protocol):
    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        """Enqueue all of `events` or raise QueueUnavailable (some may already be enqueued)."""
        ...


def _fifo_id(value: str) -> str:
    """SQS group/dedup ids are at most 128 characters: longer ones are hashed."""
    return value if len(value) <= 128 else hashlib.sha256(value.encode()).hexdigest()


def claim_key(event: CanonicalEvent) -> str:
    return f"claims/{event.connection_id}/{hashlib.sha256(event.event_id.encode()).hexdigest()}.json"


@dataclass(frozen=True)
class OutgoingMessage:
    queue: str  # "orders" | "payments"
    body: str
    group_id: str
    dedup_id: str
    attributes: dict[str, str]


def encode(event: CanonicalEvent, put_claim: Callable[[str, bytes], None]) -> OutgoingMessage:
    """The queue message for one event; stores the JSON via `put_claim(key, data)` when too big."""
    data = event_to_json(event)
    if len(data) > MAX_INLINE_BYTES:
        key = claim_key(event)
        put_claim(key, data)
        body = json.dumps({"claim_check": {"key": key}, "event_id": event.event_id, "type": event.type})
    else:
        body = data.decode()
    return OutgoingMessage(
        queue="orders" if event.type in ORDER_QUEUE_TYPES else "payments",
        body=body,
        group_id=_fifo_id(event.group_id),
        dedup_id=_fifo_id(event.event_id),
        attributes={
            "type": event.type,
            "connection": event.connection_id,
            "channel": event.channel,
            "topic": event.topic[:256],
        },
    )


def decode(body: str, get_claim: Callable[[str], bytes]) -> CanonicalEvent:
    """The event a queue message carries, following a claim check when there is one.

    Raises pydantic.ValidationError (or json.JSONDecodeError) for a body that is neither.
    """
    if body.startswith('{"claim_check"'):
        pointer = json.loads(body)
        return event_from_json(get_claim(pointer["claim_check"]["key"]))
    return event_from_json(body)


class SqsEventQueue:
    """The orders and payments FIFO queues plus the claim-check bucket."""

    def __init__(self, *, orders_url: str, payments_url: str, bucket: str, sqs: Any = None, s3: Any = None) -> None:
        self.urls = {"orders": orders_url, "payments": payments_url}
        self.bucket = bucket
        self._sqs, self._s3 = sqs, s3

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3  # noqa: PLC0415 - deferred: keeps the webhook's cold import small

            self._sqs = boto3.client("sqs")
        return self._sqs

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            import boto3  # noqa: PLC0415

            self._s3 = boto3.client("s3")
        return self._s3

    def put_claim(self, key: str, data: bytes) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            ServerSideEncryption="AES256",
        )

    def get_claim(self, key: str) -> bytes:
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            messages = [encode(e, self.put_claim) for e in events]
            for queue in ("orders", "payments"):
                batch = [m for m in messages if m.queue == queue]
                for start in range(0, len(batch), SQS_BATCH):
                    self._send(queue, batch[start : start + SQS_BATCH])
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailable(f"could not enqueue events ({type(exc).__name__})") from None

    def _send(self, queue: str, batch: Sequence[OutgoingMessage]) -> None:
        entries = [
            {
                "Id": str(i),
                "MessageBody": m.body,
                "MessageGroupId": m.group_id,
                "MessageDeduplicationId": m.dedup_id,
                "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in m.attributes.items()},
            }
            for i, m in enumerate(batch)
        ]
        result = self.sqs.send_message_batch(QueueUrl=self.urls[queue], Entries=entries)
        failed = result.get("Failed") or []
        if failed:
            codes = sorted({f.get("Code", "?") for f in failed})
            raise QueueUnavailable(f"{len(failed)} of {len(batch)} messages refused by the {queue} queue ({codes})")
