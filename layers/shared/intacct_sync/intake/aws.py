"""The webhook's two hot AWS calls (the claim's UpdateItem, the SendMessageBatch) on a shorter path
through botocore: the same request bytes, a fraction of the CPU.

A boto3 client call runs ~10 events, parameter validation, an endpoint-ruleset resolution and the
retry machinery for each request; for a webhook that is several times the work of the request
itself. `lean(client, "UpdateItem")` answers `update_item(**params)` like the client does, but:

- the first call of an operation (per value of the operation's endpoint context parameters, e.g.
  the table) goes through the client as usual, and its prepared request is kept as the template:
  endpoint URL, User-Agent, the signing scope (service and region of its SigV4 credential scope)
  and the retry mode's `amz-sdk-request` maximum;
- later calls serialise the parameters with botocore's own serializer for the protocol (without
  the validator: the callers build them in one fixed shape, and their tests run the same shapes
  through the validating client), add the per-request headers botocore adds (invocation id,
  `amz-sdk-request: attempt=1; max=…`, `X-Amzn-Trace-Id` inside Lambda), sign with botocore's
  `SigV4Auth` (current credentials, so refreshed ones are used), prepare with the client's endpoint
  (where X-Ray injects its header), emit `before-send` (so moto's mock and test stubs answer, as
  for any botocore request) or send through the client's HTTP session, and parse the answer with
  botocore's parser for the protocol;
- an answer botocore's standard retry conditions call retryable (throttling, 5xx, a DynamoDB CRC32
  mismatch, a transient error code), and any exception while sending, hand the call to the client
  itself, which retries it with its configured policy and raises what it always raises (so a
  claim or send that keeps failing is still a `ClientError` / `BotoCoreError`: 503 to the
  channel). Any other error answer is raised as the client raises it: the service's modeled
  exception class (`ConditionalCheckFailedException` with the item, ...), from the same parsing.
  At most one request more than the client alone, and only on a failed first attempt.

What it does not do: per-call events other than `before-send` (`before-call`, `after-call`, ...)
are not emitted, so X-Ray records these two calls inside the handler's segment rather than as
subsegments of their own; a client whose requests are not SigV4-signed (unsigned, another auth
type) is left as it is.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

_PER_REQUEST = frozenset(
    {
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "amz-sdk-invocation-id",
        "amz-sdk-request",
        "content-length",
        "x-amzn-trace-id",
    }
)


class _Template:
    __slots__ = ("headers", "method", "region", "retry_max", "service", "url")

    def __init__(self, request: Any) -> None:
        self.method: str = request.method
        self.url: str = request.url
        self.headers: dict[str, str] = {}
        for name, value in request.headers.items():
            text = value.decode() if isinstance(value, bytes) else str(value)
            if name.lower() not in _PER_REQUEST:
                self.headers[name] = text
            elif name.lower() == "authorization":
                # "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ..."
                scope = text.split("Credential=", 1)[1].split(",", 1)[0].split("/")
                self.region, self.service = scope[2], scope[3]
            elif name.lower() == "amz-sdk-request":
                self.retry_max = next((p.split("=", 1)[1] for p in text.split("; ") if p.startswith("max=")), None)
        if not hasattr(self, "region"):
            raise _NotSigV4
        if not hasattr(self, "retry_max"):
            self.retry_max = None


class _NotSigV4(Exception):
    pass


class LeanOperation:
    """One operation of one client on the short path (module docstring)."""

    def __init__(self, client: Any, operation: str) -> None:
        from botocore import xform_name  # noqa: PLC0415 - deferred with boto3 itself
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.parsers import create_parser  # noqa: PLC0415
        from botocore.retries.standard import StandardRetryConditions  # noqa: PLC0415
        from botocore.serialize import create_serializer  # noqa: PLC0415

        self.client = client
        self.name = operation
        self.plain: Callable[..., dict[str, Any]] = getattr(client, xform_name(operation))
        service_model = client.meta.service_model
        self.model = service_model.operation_model(operation)
        protocol = service_model.resolved_protocol
        self.serializer = create_serializer(protocol, include_validation=False)
        self.parser = create_parser(protocol)
        self.event = f"before-send.{service_model.service_id.hyphenize()}.{operation}"
        self.context_keys = tuple(p.member_name for p in self.model.context_parameters)
        self.templates: dict[tuple[Any, ...], _Template | None] = {}
        self.retryable = StandardRetryConditions(max_attempts=2).is_retryable
        self._signer = SigV4Auth
        self.lean = (
            self.model.resolved_auth_type in (None, "v4")
            and client.meta.config.signature_version in (None, "v4")
            and not self.model.has_streaming_input
            and not self.model.has_streaming_output
            and not self.model.has_event_stream_output
        )

    def __call__(self, **params: Any) -> dict[str, Any]:
        if not self.lean:
            return self.plain(**params)
        key = tuple(params.get(k) for k in self.context_keys)
        if key not in self.templates:
            return self._first(key, params)
        template = self.templates[key]
        return self.plain(**params) if template is None else self._lean(template, params)

    def _first(self, key: tuple[Any, ...], params: dict[str, Any]) -> dict[str, Any]:
        """The call through the client, its prepared request kept as the template."""
        seen: list[Any] = []

        def keep(request: Any, **_: Any) -> None:
            seen.append(request)

        events = self.client.meta.events
        events.register_first(self.event, keep)
        try:
            result = self.plain(**params)
        finally:
            events.unregister(self.event, keep)
        if seen:
            try:
                self.templates[key] = _Template(seen[-1])
            except (_NotSigV4, IndexError):
                self.templates[key] = None
        return result

    def _lean(self, template: _Template, params: dict[str, Any]) -> dict[str, Any]:
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415
        from botocore.endpoint import convert_to_response_dict  # noqa: PLC0415
        from botocore.hooks import first_non_none_response  # noqa: PLC0415
        from botocore.retries.standard import RetryContext  # noqa: PLC0415

        credentials = self.client._request_signer._credentials  # the client's own
        if credentials is None:
            return self.plain(**params)
        body = self.serializer.serialize_to_request(params, self.model)["body"]
        headers = dict(template.headers)
        if "AWS_LAMBDA_FUNCTION_NAME" in os.environ:
            trace_id = os.environ.get("_X_AMZN_TRACE_ID")
            if trace_id:  # botocore.handlers.add_recursion_detection_header
                headers["X-Amzn-Trace-Id"] = quote(trace_id, safe="-=;:+&[]{}\"',")
        request = AWSRequest(method=template.method, url=template.url, headers=headers, data=body)
        request.context = {"retries": {}}
        self._signer(credentials.get_frozen_credentials(), template.service, template.region).add_auth(request)
        request.headers["amz-sdk-invocation-id"] = str(uuid.uuid4())
        attempt = "attempt=1" if template.retry_max is None else f"attempt=1; max={template.retry_max}"
        request.headers["amz-sdk-request"] = attempt
        endpoint = self.client._endpoint  # the client's own endpoint and session
        try:
            prepared = endpoint.prepare_request(request)
            answer = first_non_none_response(self.client.meta.events.emit(self.event, request=prepared))
            http = answer if answer is not None else endpoint.http_session.send(prepared)
        except Exception:  # any failure to send: the client's own retries decide
            return self.plain(**params)
        response = convert_to_response_dict(http, self.model)
        parsed: dict[str, Any] = self.parser.parse(response, self.model.output_shape)
        if http.status_code >= 300:
            code = parsed.get("Error", {}).get("Code")
            shape = self.model.service_model.shape_for_error_code(code) if code else None
            if shape is not None:
                parsed.update(self.parser.parse(response, shape))
        context = RetryContext(
            attempt_number=1,
            operation_model=self.model,
            parsed_response=parsed,
            http_response=http,
            caught_exception=None,
        )
        if self.retryable(context):
            return self.plain(**params)
        if http.status_code >= 300:
            raise self.client.exceptions.from_code(parsed.get("Error", {}).get("Code"))(parsed, self.name)
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = 0
        return parsed


class LeanClient:
    """`client` with `operations` on the short path; every other attribute is the client's."""

    def __init__(self, client: Any, *operations: str) -> None:
        from botocore import xform_name  # noqa: PLC0415

        self._client = client
        for operation in operations:
            setattr(self, xform_name(operation), LeanOperation(client, operation))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def lean(client: Any, *operations: str) -> Any:
    """`client` with these operations (CamelCase, as in the API reference) on the short path."""
    return LeanClient(client, *operations)
