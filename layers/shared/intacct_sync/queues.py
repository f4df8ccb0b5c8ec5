"""Canonical events onto the SQS FIFO queues, with a claim check for the ones too big to carry.

Routing: orders, cancellations and order references go to the orders queue; payments and refunds
to the payments queue, except those a webhook delivery "carries" on the orders queue behind their
order's state (`publish(carried=…)`, see `intake.pipeline`), which the order consumer hands on.
Group id = `<connection>:<order id>` (one order's events in order); dedup id = the event id (FIFO
drops a repeat within 5 minutes; the state table catches later ones).

SQS limits are checked here, before sending (a refused batch would be refused again on every
retry): a message (body + attribute names, types and values) is at most `MAX_MESSAGE_BYTES`; a
SendMessageBatch holds at most `SQS_BATCH` entries and `MAX_BATCH_BYTES` in total, so batches are
cut by count *and* bytes. An event whose message would not fit inline is stored in S3 under a key
derived from its event id (a retry overwrites the same object) and the message carries a pointer.
Bodies and attribute values carry only the characters SQS allows (#x9 #xA #xD #x20-#xD7FF
#xE000-#xFFFD #x10000-#x10FFFF): in a body any other character is written as a JSON \\u escape
(lossless); in an attribute (informational: type, connection, channel, topic) it is dropped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from intacct_sync.errors import PermanentError, TransientError
from intacct_sync.models.events import CanonicalEvent, event_from_json, event_to_json
from intacct_sync.models.text import DISALLOWED, clean_text

# SQS: 262,144 bytes per message (body + every attribute's name, data type and value) and per
# SendMessageBatch (all entries together), at most 10 entries. (Queues can be raised to 1 MiB
# since 2025; 256 KiB is what every queue accepts, so it is the bound kept here.)
MAX_MESSAGE_BYTES = 262_144
MAX_BATCH_BYTES = 262_144
SQS_BATCH = 10
MAX_INLINE_BYTES = MAX_MESSAGE_BYTES
"""Kept for callers: an event is inlined when its whole message fits in this many bytes."""
MAX_ATTRIBUTE_CHARS = 256
ATTRIBUTE_TYPE = "String"
ORDER_QUEUE_TYPES = frozenset({"order", "cancellation", "order_reference"})


class QueueUnavailable(TransientError):
    """The queue (or the claim-check bucket) did not take the events: answer 503, retry."""


class UnqueueableEvent(PermanentError):
    """An event that cannot be written as a queue message (a string no JSON/SQS can carry):
    retrying will not help. The models refuse such text, so this is a guard, not a path."""


class EventQueue(Protocol):
    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        """Enqueue all of `events` or raise QueueUnavailable (some may already be enqueued).

        `carried`: ids of payments / refunds to put on the orders queue, behind their order's
        state, for the order consumer to hand on (`intake.pipeline`); passed only when not empty."""
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

    @cached_property
    def size(self) -> int:
        """Bytes SQS counts for this message: body plus each attribute's name, type and value."""
        return _utf8_len(self.body) + attributes_size(self.attributes)


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def attributes_size(attributes: dict[str, str]) -> int:
    return sum(_utf8_len(k) + len(ATTRIBUTE_TYPE) + _utf8_len(v) for k, v in attributes.items())


def _escape_disallowed(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def sqs_text(text: str) -> str:
    """JSON text with every character SQS refuses written as a \\u escape (same JSON value).
    Only strings can hold such characters (JSON's own syntax is ASCII), so this is lossless.
    ASCII JSON (the usual compact JSON) holds none of them: JSON escapes every control character
    inside strings and allows only space, tab, LF and CR between tokens (RFC 8259), all of which
    SQS accepts. So it is returned as it is, without a scan of every character (for a large order
    a scan costs a twentieth of the webhook's floor, issue #12)."""
    if text.isascii():
        return text
    return DISALLOWED.sub(_escape_disallowed, text) if DISALLOWED.search(text) else text


def sqs_attribute(value: str) -> str:
    """An informational attribute value SQS accepts: disallowed characters dropped, bounded."""
    return clean_text(value)[:MAX_ATTRIBUTE_CHARS] or "-"


def encode(event: CanonicalEvent, put_claim: Callable[[str, bytes], None]) -> OutgoingMessage:
    """The queue message for one event; stores the JSON via `put_claim(key, data)` when the
    message would not fit SQS's size limit with its attributes. Raises UnqueueableEvent."""
    try:
        data = event_to_json(event)
    except ValueError as exc:  # PydanticSerializationError: e.g. a lone surrogate in a string
        raise UnqueueableEvent(f"event {event.event_id} cannot be serialised ({type(exc).__name__})") from None
    attributes = {
        "type": event.type,
        "connection": sqs_attribute(event.connection_id),
        "channel": event.channel,
        "topic": sqs_attribute(event.topic),
    }
    body = sqs_text(data.decode())
    if _utf8_len(body) + attributes_size(attributes) > MAX_MESSAGE_BYTES:
        key = claim_key(event)
        put_claim(key, data)
        body = json.dumps({"claim_check": {"key": key}, "event_id": event.event_id, "type": event.type})
    return OutgoingMessage(
        queue="orders" if event.type in ORDER_QUEUE_TYPES else "payments",
        body=body,
        group_id=_fifo_id(event.group_id),
        dedup_id=_fifo_id(event.event_id),
        attributes=attributes,
    )


def batches(messages: Sequence[OutgoingMessage]) -> list[list[OutgoingMessage]]:
    """`messages` (one queue's, in order) cut into SendMessageBatch calls: at most `SQS_BATCH`
    entries and `MAX_BATCH_BYTES` together, order kept (FIFO order within a group follows it)."""
    out: list[list[OutgoingMessage]] = []
    current: list[OutgoingMessage] = []
    used = 0
    for message in messages:
        size = message.size
        if current and (len(current) >= SQS_BATCH or used + size > MAX_BATCH_BYTES):
            out.append(current)
            current, used = [], 0
        current.append(message)
        used += size
    if current:
        out.append(current)
    return out


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

    def publish(self, events: Sequence[CanonicalEvent], *, carried: frozenset[str] = frozenset()) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            messages = [encode(e, self.put_claim) for e in events]
            if carried:
                messages = [
                    dataclasses.replace(m, queue="orders") if e.event_id in carried else m
                    for e, m in zip(events, messages, strict=True)
                ]
            for queue in ("orders", "payments"):
                for batch in batches([m for m in messages if m.queue == queue]):
                    self._send(queue, batch)
        except (BotoCoreError, ClientError) as exc:
            raise QueueUnavailable(f"could not enqueue events ({type(exc).__name__})") from None

    def _send(self, queue: str, batch: Sequence[OutgoingMessage]) -> None:
        entries = [
            {
                "Id": str(i),
                "MessageBody": m.body,
                "MessageGroupId": m.group_id,
                "MessageDeduplicationId": m.dedup_id,
                "MessageAttributes": {
                    k: {"DataType": ATTRIBUTE_TYPE, "StringValue": v} for k, v in m.attributes.items()
                },
            }
            for i, m in enumerate(batch)
        ]
        result = self.sqs.send_message_batch(QueueUrl=self.urls[queue], Entries=entries)
        failed = result.get("Failed") or []
        if failed:
            codes = sorted({f.get("Code", "?") for f in failed})
            raise QueueUnavailable(f"{len(failed)} of {len(batch)} messages refused by the {queue} queue ({codes})")
