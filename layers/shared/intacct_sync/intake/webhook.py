"""The webhook endpoint's logic: `POST /webhooks/{connection_id}` to a status code and JSON body.

Answers (DESIGN §3): 202 accepted, 200 for a duplicate / stale / ignored topic / ping, 400 a
payload that is not the channel's (body names the field), 401 a missing or bad signature, 404 an
unknown connection, 413 a body over 4 MiB (the reconcile poll fetches that order instead), 503
only when the event could not be queued or the connection could not be read (the channel retries).
No Intacct or channel API call happens here. Logs carry ids, topic and outcome; never a body,
a header value or a secret.

Input rules (README "Input rules"): every string that enters is valid Unicode that SQS, DynamoDB
and Intacct XML accept. Ids, numbers, codes, currency and e-mail carrying anything else are
answered 400 naming the field; free text (names, addresses, notes, titles) has such characters
dropped. Order ids must have the channel's format (positive integers; Shopify also
gid://shopify/Order/<n>), so no id can change a channel API path later.

404 vs 401 (decided): an unknown connection id is answered 404 before any signature check, so a
caller can tell which connection ids exist. This is kept on purpose: connection ids are not
secrets (they sit in every webhook URL the channel shows its admins, and in logs), and a clear
"wrong URL" answer is what an operator needs when a channel is set up with a typo. Security rests
on the per-connection signing secret alone; connection ids must never be treated as secret, and
the README recommends random-looking ids for deployments that prefer not to reveal store names.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from intacct_sync import logs
from intacct_sync.channels import InvalidPayload, InvalidSignature, Ping, receive
from intacct_sync.connections import ConnectionStore
from intacct_sync.errors import ConfigurationError, PermanentError, TransientError
from intacct_sync.intake.pipeline import EventPipeline

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
_CONNECTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any] = field(default_factory=dict)

    def to_apigw(self) -> dict[str, Any]:
        """An API Gateway HTTP API (payload v2) response."""
        return {
            "statusCode": self.status,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(self.body, separators=(",", ":")),
        }


def _error(status: int, error: str, **extra: Any) -> HttpResponse:
    return HttpResponse(status, {"error": error, **extra})


class WebhookIntake:
    def __init__(
        self,
        connections: ConnectionStore,
        pipeline: EventPipeline,
        *,
        on_outcome: Callable[[str, str | None, int], None] | None = None,
    ) -> None:
        """`on_outcome(outcome, channel, events)` is called once per request (metrics)."""
        self.connections = connections
        self.pipeline = pipeline
        self.on_outcome = on_outcome or (lambda _o, _c, _n: None)

    def handle_apigw(self, event: Mapping[str, Any]) -> HttpResponse:
        """Decode an API Gateway v2 event; base64 bodies are decoded to the exact bytes sent."""
        path = event.get("pathParameters")
        connection_id = path.get("connection_id") if isinstance(path, Mapping) else None
        if not isinstance(connection_id, str):
            return self._done("unknown_connection", None, _error(404, "unknown connection"))
        raw_headers = event.get("headers")
        headers = {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, Mapping) else {}
        raw = event.get("body")
        if not isinstance(raw, str) or not raw:
            return self._done("malformed", None, _error(400, "request body missing"))
        if len(raw) > MAX_BODY_BYTES * 4 // 3 + 4:
            return self._done("too_large", None, _error(413, "body larger than 4 MiB"))
        if event.get("isBase64Encoded") is True:
            try:
                body = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                return self._done("malformed", None, _error(400, "body is not valid base64"))
        else:
            body = raw.encode("utf-8", "surrogatepass")
        return self.handle(connection_id, headers, body)

    def handle(self, connection_id: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        if not _CONNECTION_ID.match(connection_id):
            return self._done("unknown_connection", None, _error(404, "unknown connection"))
        with logs.context(connection_id=connection_id):
            return self._handle(connection_id, headers, body)

    def _handle(self, connection_id: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        if len(body) > MAX_BODY_BYTES:
            return self._done(
                "too_large",
                None,
                _error(413, "body larger than 4 MiB; the order will be fetched by the reconcile poll"),
            )
        try:
            connection = self.connections.get(connection_id)
        except TransientError as exc:
            log.error("connection store unavailable", extra={"reason": exc.message, "fix": exc.fix})
            return self._done("unavailable", None, _error(503, "temporarily unavailable, retry later"))
        except ConfigurationError as exc:
            log.error("connection secret invalid", extra={"reason": exc.message, "fix": exc.fix})
            return self._done("misconfigured", None, _error(503, "connection is being configured, retry later"))
        if connection is None:
            return self._done("unknown_connection", None, _error(404, "unknown connection"))
        channel = connection.channel
        try:
            received = receive(headers, body, connection)
        except InvalidSignature as exc:
            if isinstance(exc, ConfigurationError):
                log.error("webhook secret missing", extra={"reason": exc.message, "fix": exc.fix})
            return self._done("bad_signature", channel, _error(401, "signature missing or invalid"))
        except InvalidPayload as exc:
            return self._done("invalid_payload", channel, _error(400, exc.message, path=exc.path))
        if isinstance(received, Ping):
            return self._done("ping", channel, HttpResponse(200, {"status": "ping"}))
        if not received:
            return self._done("ignored", channel, HttpResponse(200, {"status": "ignored"}))
        try:
            result = self.pipeline.submit(received)
        except TransientError as exc:
            log.error("could not queue webhook events", extra={"reason": exc.message, "fix": exc.fix})
            return self._done("unavailable", channel, _error(503, "could not queue the event, retry later"))
        except PermanentError as exc:
            # The models refuse what SQS cannot carry, so this is a guard: retrying the same body
            # cannot succeed, and a 5xx would make the channel retry it forever.
            log.error("webhook event cannot be queued", extra={"reason": exc.message, "fix": exc.fix})
            return self._done("invalid_payload", channel, _error(400, exc.message, path="event"))
        # A redelivery whose events were claimed but not known to be sent is sent again (pipeline
        # docstring): for the channel it is still a duplicate.
        outcome = "accepted" if result.accepted else "duplicate" if result.duplicates or result.resent else "stale"
        log.info(
            "webhook events",
            extra={
                "outcome": outcome,
                "channel": channel,
                "topics": sorted({e.topic for e in received}),
                "order_id": ",".join(sorted({e.order_id for e in received}))[:500],
                "accepted": len(result.accepted),
                "duplicates": len(result.duplicates),
                "resent": len(result.resent),
                "stale": len(result.stale),
            },
        )
        if result.accepted:
            return self._done(
                "accepted", channel, HttpResponse(202, {"status": "accepted", "events": len(result.accepted)})
            )
        return self._done(outcome, channel, HttpResponse(200, {"status": outcome}))

    def _done(self, outcome: str, channel: str | None, response: HttpResponse) -> HttpResponse:
        if response.status >= 400:
            log.info(
                "webhook rejected",
                extra={
                    "outcome": outcome,
                    "channel": channel,
                    "status": response.status,
                    "reason": str(response.body.get("error", ""))[:500],
                },
            )
        self.on_outcome(outcome, channel, int(response.body.get("events", 0)))
        return response
