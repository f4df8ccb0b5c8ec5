"""The HTTP transport every channel API client shares: one pooled session, deadline-bounded
time-outs, retries with backoff and full jitter, rate-limit pacing, typed errors, safe logs.

Contract of `ChannelHttp.request`:
- Connect failures are retried for every method (nothing was sent). Read time-outs and 5xx are
  retried only for idempotent requests (GET/PUT/DELETE, or a POST the caller marks idempotent);
  otherwise a `ChannelTransientError(retryable=False)` says the outcome is unknown.
- 429 waits `Retry-After` (seconds or an HTTP date), else the channel's reset header
  (BigCommerce `X-Rate-Limit-Time-Reset-Ms`), else the backoff delay; a `check` hook can declare a
  200 throttled too (Shopify GraphQL `THROTTLED`). A wait that does not fit in the deadline raises
  `ChannelRateLimited` with `retry_after_s` instead of sleeping past it.
- After every answer the quota headers are read (BigCommerce requests left / reset ms, Shopify
  `X-Shopify-Shop-Api-Call-Limit`), and when the quota is nearly used up the *next* request to the
  same store waits first (`Pacer`, shared by every client in the process, since quotas are per
  store, not per client).
- Redirects are not followed: a custom auth header (X-Shopify-Access-Token, X-Auth-Token) would
  be sent to wherever the redirect points. A 3xx is a `ChannelRequestError` naming the new host.
  The same holds for an unauthenticated request carrying a secret in its body (Shopify's token
  request with the client secret): it goes to the same base URL, never follows a redirect.
- Tokens the client obtains itself (`TokenAuth`, Shopify's client credentials grant) are asked
  for before each attempt (the provider caches them); a 401 makes the provider forget the token
  that was refused, and the request is sent once more with a new one, exactly once.
- Logs carry method, path *template*, status, attempt and milliseconds; never a query value, a
  header value, a body or a secret. Messages quoted from the channel are redacted of every known
  secret and truncated.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import requests

from intacct_sync.channels.api.errors import (
    ChannelAuthError,
    ChannelNotFound,
    ChannelRateLimited,
    ChannelRequestError,
    ChannelTransientError,
)
from intacct_sync.channels.base import Headers
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.transport import never_sent, pooled_session

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024
USER_AGENT: Final = "intacct-sync/0.1 (+python-requests)"
_IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RETRYABLE_STATUSES: Final = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})
_MAX_QUOTED: Final = 300
_PATH_PARAM: Final = re.compile(r"\{([a-z_]+)\}")


# ---------------------------------------------------------------------------------------------
# Rate-limit rules (data per channel) and the pure decisions drawn from response headers


@dataclass(frozen=True)
class RateLimitRules:
    """Which headers a channel uses to report its quota; every field is optional."""

    requests_left_header: str | None = None
    """BigCommerce `X-Rate-Limit-Requests-Left`: requests left in the current window."""
    reset_ms_header: str | None = None
    """BigCommerce `X-Rate-Limit-Time-Reset-Ms`: ms until the window refills (also on 429)."""
    call_limit_header: str | None = None
    """Shopify REST `X-Shopify-Shop-Api-Call-Limit: used/size` (a leaky bucket)."""
    leak_per_s: float = 2.0
    """Shopify REST bucket leak rate (Standard 2/s; Advanced 4, Plus 20): pace for the slowest."""
    reserve: int = 2
    """Pause before the quota runs out: when this many requests or fewer are left. BigCommerce's
    quota is shared by every app on the store, so some headroom is left for the others."""


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if 0 <= number < float("inf") else None


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds (Shopify sends '2.0') or an HTTP date."""
    if value is None or not value.strip():
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def quota_pause(headers: Mapping[str, str], rules: RateLimitRules) -> float:
    """Seconds to wait before the next request to this store, from a successful answer's quota
    headers: 0 while enough quota is left."""
    hdrs = Headers(headers)
    pause = 0.0
    if rules.requests_left_header and rules.reset_ms_header:
        left = _number(hdrs.get(rules.requests_left_header))
        reset_ms = _number(hdrs.get(rules.reset_ms_header))
        if left is not None and reset_ms is not None and left <= rules.reserve:
            pause = max(pause, reset_ms / 1000)
    if rules.call_limit_header:
        used_size = (hdrs.get(rules.call_limit_header) or "").split("/")
        if len(used_size) == 2:
            used, size = _number(used_size[0]), _number(used_size[1])
            if used is not None and size is not None and rules.leak_per_s > 0:
                left = size - used
                if left <= rules.reserve:
                    # Wait until the bucket has leaked back to `reserve + 1` free slots.
                    pause = max(pause, (rules.reserve + 1 - left) / rules.leak_per_s)
    return pause


def rate_limited_delay(headers: Mapping[str, str], rules: RateLimitRules) -> float | None:
    """How long a 429 asks us to wait: Retry-After, else the quota reset header, else None."""
    hdrs = Headers(headers)
    retry_after = parse_retry_after(hdrs.get("retry-after"))
    if retry_after is not None:
        return retry_after
    if rules.reset_ms_header:
        reset_ms = _number(hdrs.get(rules.reset_ms_header))
        if reset_ms is not None:
            return reset_ms / 1000
    return None


def graphql_cost(body: object) -> tuple[float | None, float | None, float | None]:
    """(requested cost, currently available, restore rate per second) from a Shopify GraphQL
    answer's `extensions.cost`; None where absent."""
    if not isinstance(body, dict):
        return None, None, None
    ext = body.get("extensions")
    cost = ext.get("cost") if isinstance(ext, dict) else None
    if not isinstance(cost, dict):
        return None, None, None
    status = cost.get("throttleStatus")
    status = status if isinstance(status, dict) else {}

    def num(value: object) -> float | None:
        return float(value) if isinstance(value, int | float | Decimal) and not isinstance(value, bool) else None

    return (
        num(cost.get("requestedQueryCost")),
        num(status.get("currentlyAvailable")),
        num(status.get("restoreRate")),
    )


def graphql_throttled(body: object) -> bool:
    """True when a GraphQL answer is the THROTTLED error (nothing was executed)."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return False
    for error in errors:
        ext = error.get("extensions") if isinstance(error, dict) else None
        if isinstance(ext, dict) and ext.get("code") == "THROTTLED":
            return True
    return False


def graphql_wait(body: object, *, planned_cost: float | None = None) -> float:
    """Seconds until the bucket holds enough points for a query like this one again: 0 when it
    already does. `planned_cost` is the next query's cost when known, else this one's."""
    requested, available, restore = graphql_cost(body)
    need = planned_cost if planned_cost is not None else requested
    if need is None or available is None or not restore or available >= need:
        return 0.0
    return (need - available) / restore


# ---------------------------------------------------------------------------------------------
# Paging headers


def link_next_params(link_header: str | None) -> dict[str, str] | None:
    """The query parameters of the `rel="next"` URL of a Link header (Shopify REST cursor
    paging), or None on the last page. Only the query is kept: the next request is rebuilt on our
    own base URL, so a Link header can never send the access token to another host."""
    if not link_header:
        return None
    for part in link_header.split(","):
        section = part.strip()
        match = re.match(r"<([^>]*)>(.*)$", section)
        if match is None:
            continue
        rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', match.group(2))
        if any("next" in rel.split() for rel in rels):
            return dict(parse_qsl(urlsplit(match.group(1)).query, keep_blank_values=True))
    return None


def total_pages(headers: Mapping[str, str], name: str = "X-WP-TotalPages") -> int | None:
    """WordPress's total page count header, or None when missing or malformed."""
    value = Headers(headers).get(name)
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


# ---------------------------------------------------------------------------------------------
# URLs and redaction


class UnsafePathValue(ValueError):
    """A path parameter that would change the request's path even when percent-encoded."""


def fill_path(template: str, params: Mapping[str, str | int] | None = None) -> str:
    """`/v2/orders/{order_id}` + {"order_id": "12/x"} -> `/v2/orders/12%2Fx`: every value is
    percent-encoded as one segment, so an id can never change the path.

    Encoding is not enough for every value: '' drops the segment, '.' and '..' are dot segments
    that URL normalisation (urllib3, proxies) resolves, and whitespace or controls are never part
    of a channel id. Such a value raises UnsafePathValue instead of producing a URL."""
    values = params or {}

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"path parameter '{key}' missing for {template}")
        text = str(values[key])
        if text in ("", ".", "..") or not text.isprintable() or text != text.strip() or " " in text:
            raise UnsafePathValue(f"path parameter '{key}' of {template} is empty, a dot segment or not printable")
        return quote(text, safe="")

    return _PATH_PARAM.sub(sub, template)


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (of 4+ characters) replaced by '***'."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def channel_message(data: object) -> str | None:
    """The human part of a channel's error body (Shopify `errors`, WooCommerce `message`,
    BigCommerce v3 `title`/`errors`, v2 `[{"message"}]`), unredacted and untruncated."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]
    if not isinstance(data, dict):
        return None
    parts: list[str] = []
    for key in ("code", "title", "message", "error", "errors", "detail"):
        value = data.get(key)
        if value in (None, "", [], {}):
            continue
        parts.append(value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True))
    return "; ".join(parts) or None


def quoted(text: str | None, secrets: Iterable[str | None]) -> str:
    """A channel message made safe to put in an exception or log: redacted, one line, short."""
    if not text:
        return ""
    one_line = " ".join(redact(text, secrets).split())
    return one_line if len(one_line) <= _MAX_QUOTED else one_line[: _MAX_QUOTED - 1] + "…"


# ---------------------------------------------------------------------------------------------
# Pacing: quota pauses shared per store across clients in a process


class Pacer:
    """Earliest time (monotonic) the next request to a store may start, per store key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def hold(self, key: str, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            if until > self._until.get(key, 0.0):
                self._until[key] = until

    def wait_s(self, key: str) -> float:
        with self._lock:
            until = self._until.get(key)
            if until is None:
                return 0.0
            left = until - self._clock()
            if left <= 0:
                del self._until[key]
                return 0.0
            return left

    def clear(self) -> None:
        with self._lock:
            self._until.clear()


PROCESS_PACER = Pacer()


# ---------------------------------------------------------------------------------------------
# Error classification (pure: status + headers + decoded body -> the typed error)


@dataclass(frozen=True)
class CallContext:
    """What an error message may say about the call: no values, no secrets."""

    channel: str
    connection_id: str
    method: str
    path: str
    """The path template, e.g. /stores/{store}/v2/orders/{order_id}."""
    auth_fix: str
    secrets: tuple[str, ...] = ()

    @property
    def what(self) -> str:
        return f"{self.channel} {self.method} {self.path}"


def error_for_status(
    status: int,
    headers: Mapping[str, str],
    data: object,
    ctx: CallContext,
    *,
    idempotent: bool,
    rules: RateLimitRules,
) -> Exception | None:
    """The typed error for an answer, or None when it is a success (2xx)."""
    if 200 <= status < 300:
        return None
    said = quoted(channel_message(data), ctx.secrets)
    detail = f": {said}" if said else ""
    if status in (401, 403):
        kind = "rejected the credentials" if status == 401 else "refused the request (missing permission)"
        return ChannelAuthError(
            f"{ctx.what} answered HTTP {status}: the channel {kind}{detail}",
            channel=ctx.channel,
            status=status,
            fix=ctx.auth_fix,
        )
    if status == 429:
        return ChannelRateLimited(
            f"{ctx.what} answered HTTP 429 (rate limit)",
            channel=ctx.channel,
            status=status,
            retry_after_s=rate_limited_delay(headers, rules),
        )
    if status == 404:
        return ChannelNotFound(
            f"{ctx.what} answered HTTP 404{detail}",
            channel=ctx.channel,
            status=status,
            fix=(
                f"If the resource should exist, check 'store' (and 'api_base_url', if set) in the "
                f"connection secret '{ctx.connection_id}'."
            ),
        )
    if 300 <= status < 400:
        host = urlsplit(Headers(headers).get("location") or "").hostname or "another address"
        return ChannelRequestError(
            f"{ctx.what} was redirected (HTTP {status}) to {host}; redirects are not followed "
            "because the credentials would travel with them",
            channel=ctx.channel,
            status=status,
            fix=f"Set 'store' in the connection secret '{ctx.connection_id}' to the address the store "
            "redirects to (https, same host, no trailing path).",
        )
    if status in _RETRYABLE_STATUSES or status >= 500:
        return ChannelTransientError(
            f"{ctx.what} answered HTTP {status}" + ("" if idempotent else " (outcome unknown: not re-sent)"),
            channel=ctx.channel,
            status=status,
            retryable=idempotent,
        )
    return ChannelRequestError(f"{ctx.what} answered HTTP {status}{detail}", channel=ctx.channel, status=status)


# ---------------------------------------------------------------------------------------------
# The session and the client


def _encode_body(json_body: object, form_body: Mapping[str, str] | None) -> tuple[bytes | None, str | None]:
    """(body, Content-Type) of a request: JSON, form-encoded, or none."""
    if json_body is not None and form_body is not None:
        raise ValueError("json_body and form_body are exclusive")
    if form_body is not None:
        return urlencode(dict(form_body)).encode(), "application/x-www-form-urlencoded"
    if json_body is not None:
        return json.dumps(json_body, default=str).encode(), "application/json"
    return None, None


_SHARED: requests.Session | None = None
_SHARED_LOCK = threading.Lock()


def shared_session() -> requests.Session:
    """The process-wide pooled session (a warm Lambda container reuses its connections)."""
    global _SHARED  # noqa: PLW0603 - one pool per process, created on first use
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = pooled_session()
        return _SHARED


@dataclass(frozen=True)
class ChannelResponse:
    status: int
    headers: Headers
    data: Any
    """Decoded JSON (floats as Decimal), or None for an empty body (204)."""


Check = Callable[[ChannelResponse], float | None]
"""Inspects a 2xx answer; returns None when fine, or seconds to wait when it is a throttled
answer in disguise (Shopify GraphQL THROTTLED): the request is then retried like a 429."""

Refine = Callable[[int, Any, Exception], Exception]
"""(status, decoded body, the typed error) -> the error to raise instead: lets a caller give
an endpoint's refusals their own message and fix (Shopify's token endpoint). Whatever it quotes
from the body it must redact (`ChannelHttp.redact`)."""


class TokenAuth(Protocol):
    """Auth headers from a token the client obtains and renews itself (Shopify's client
    credentials grant), instead of fixed `auth_headers`."""

    def headers(self, http: ChannelHttp, deadline: Deadline) -> Mapping[str, str]:
        """The auth headers for the next attempt; obtains a token (through `http`, unauthenticated)
        when no valid one is cached. Raises the typed error when the channel refuses to issue one."""
        ...

    def renew(self, refused: Mapping[str, str]) -> None:
        """The channel answered 401 to a request sent with `refused`: forget that token, so the
        next `headers` obtains a new one (unless another request already did)."""
        ...

    def secrets(self) -> Iterable[str]:
        """Values never to be quoted (the client secret, the tokens issued)."""
        ...


class ChannelHttp:
    """HTTP for one connection: base URL, auth headers, rate-limit rules, retries."""

    def __init__(
        self,
        *,
        channel: str,
        connection_id: str,
        base_url: str,
        auth_headers: Mapping[str, str] | None = None,
        basic_auth: tuple[str, str] | None = None,
        secrets: Sequence[str] = (),
        auth_fix: str,
        rules: RateLimitRules | None = None,
        pace_key: str | None = None,
        session: requests.Session | None = None,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 30.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
        min_attempt_s: float = 0.5,
        pacer: Pacer = PROCESS_PACER,
        token_auth: TokenAuth | None = None,
    ) -> None:
        """A retry (or a quota pause) starts only if at least `min_attempt_s` of the deadline
        would remain for the request itself. `token_auth` adds the headers of a token obtained by
        the client (see `TokenAuth`) to every authenticated request."""
        self.channel = channel
        self.connection_id = connection_id
        self.base_url = base_url.rstrip("/")
        self._auth_headers = dict(auth_headers or {})
        self._basic_auth = basic_auth
        self._secrets = tuple(s for s in (*secrets, *self._auth_headers.values(), *(basic_auth or ())) if s)
        self.auth_fix = auth_fix
        self.rules = rules or RateLimitRules()
        self.pace_key = pace_key or f"{channel}:{self.base_url}"
        self.session = session or shared_session()
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.min_attempt_s = min_attempt_s
        self.pacer = pacer
        self.token_auth = token_auth
        self.requests_sent = 0

    def __repr__(self) -> str:  # never the auth headers
        return f"ChannelHttp({self.channel!r}, connection={self.connection_id!r}, base_url={self.base_url!r})"

    def _all_secrets(self, extra: Iterable[str] = ()) -> tuple[str, ...]:
        dynamic = tuple(self.token_auth.secrets()) if self.token_auth is not None else ()
        return (*self._secrets, *dynamic, *(s for s in extra if s))

    def redact(self, text: str) -> str:
        return quoted(text, self._all_secrets())

    def hold(self, seconds: float) -> None:
        """Make the next request to this store wait `seconds` (a quota the caller computed)."""
        self.pacer.hold(self.pace_key, seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: object = None,
        form_body: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        check: Check | None = None,
        authenticate: bool = True,
        refine: Refine | None = None,
    ) -> ChannelResponse:
        """Send one request (with retries); returns the 2xx answer or raises a typed error.

        `path` is a template (`/v2/orders/{order_id}`) filled from `path_params`; the template is
        what is logged. `idempotent` defaults by method (POST: False). `form_body` is sent
        form-encoded instead of `json_body`. `authenticate=False` sends no auth header and no
        token (the request that obtains a token); bodies are never logged. `refine` may replace
        the typed error of a non-2xx answer (see `Refine`).
        """
        method = method.upper()
        safe = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        try:
            url = join_url(self.base_url, fill_path(path, path_params))
        except UnsafePathValue as exc:
            # Defence in depth: adapters refuse such ids with a 400; nothing is ever sent.
            raise ChannelRequestError(
                f"{self.channel} {method} {path} not sent: {exc}",
                channel=self.channel,
                fix="the id comes from a channel payload or the ledger; it must be the channel's own id",
            ) from None
        ctx = CallContext(self.channel, self.connection_id, method, path, self.auth_fix, self._all_secrets())
        body, content_type = _encode_body(json_body, form_body)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_quota(ctx, deadline)
            auth = self._auth_for(deadline) if authenticate else {}
            ctx = CallContext(
                self.channel, self.connection_id, method, path, self.auth_fix, self._all_secrets(auth.values())
            )
            try:
                response = self._send_once(
                    method,
                    url,
                    params=params,
                    body=body,
                    content_type=content_type,
                    auth_headers=auth,
                    basic_auth=self._basic_auth if authenticate else None,
                    ctx=ctx,
                    deadline=deadline,
                    attempt=attempt,
                    idempotent=safe,
                    refine=refine,
                )
                if check is not None:
                    throttled_for = check(response)
                    if throttled_for is not None:
                        raise ChannelRateLimited(
                            f"{ctx.what} was throttled",
                            channel=self.channel,
                            status=response.status,
                            retry_after_s=throttled_for,
                        )
            except ChannelAuthError as exc:
                # A token obtained by the client may have been revoked or expired early: a 401
                # means nothing was done, so the request is sent once more with a new token.
                if renewed or exc.status != 401 or self.token_auth is None or not authenticate:
                    raise
                renewed = True
                log.info(
                    "channel refused the token; renewing it and retrying once",
                    extra={"channel": self.channel, "connection_id": self.connection_id, "path": path},
                )
                self.token_auth.renew(auth)
            except ChannelTransientError as exc:
                if not exc.retryable:
                    raise
                delay = exc.retry_after_s if exc.retry_after_s is not None else self.backoff.delay(attempt)
                if attempt >= self.backoff.max_attempts or delay + self.min_attempt_s >= deadline.remaining():
                    exc.message = f"{exc.message} (gave up after {attempt} attempt(s))"
                    exc.args = (exc.message,)
                    raise
                log.info(
                    "channel transient failure; retrying",
                    extra={
                        "channel": self.channel,
                        "error": type(exc).__name__,
                        "status": exc.status,
                        "attempt": attempt,
                        "delay_s": round(delay, 3),
                    },
                )
                self.sleep(delay)
            else:
                return response

    def _auth_for(self, deadline: Deadline) -> dict[str, str]:
        """The auth headers of the next attempt: the fixed ones plus a token's (obtained if needed)."""
        auth = dict(self._auth_headers)
        if self.token_auth is not None:
            auth.update(self.token_auth.headers(self, deadline))
        return auth

    def _wait_for_quota(self, ctx: CallContext, deadline: Deadline) -> None:
        wait = self.pacer.wait_s(self.pace_key)
        if wait <= 0:
            return
        if wait + self.min_attempt_s >= deadline.remaining():
            raise ChannelRateLimited(
                f"{ctx.what} not sent: the store's API quota refills in {wait:.1f} s, after the deadline",
                channel=self.channel,
                retry_after_s=wait,
            )
        self.sleep(wait)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None,
        body: bytes | None,
        content_type: str | None,
        auth_headers: Mapping[str, str],
        basic_auth: tuple[str, str] | None,
        ctx: CallContext,
        deadline: Deadline,
        attempt: int,
        idempotent: bool,
        refine: Refine | None = None,
    ) -> ChannelResponse:
        remaining = deadline.remaining()
        if remaining <= 0:
            raise ChannelTransientError(f"{ctx.what} not sent: no time left before the deadline", channel=self.channel)
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT, **auth_headers}
        if body is not None and content_type is not None:
            headers["Content-Type"] = content_type
        started = time.monotonic()
        status: int | None = None
        try:
            self.requests_sent += 1
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    data=body,
                    headers=headers,
                    auth=basic_auth,
                    timeout=(min(self.connect_timeout_s, remaining), min(self.read_timeout_s, remaining)),
                    allow_redirects=False,
                    stream=True,
                )
                status = resp.status_code
                content = self._read_capped(resp)
            except requests.RequestException as exc:
                if never_sent(exc):
                    raise ChannelTransientError(
                        f"{ctx.what}: could not connect ({type(exc).__name__})", channel=self.channel
                    ) from None
                raise ChannelTransientError(
                    f"{ctx.what}: no answer ({type(exc).__name__})"
                    + ("" if idempotent else "; outcome unknown, not re-sent"),
                    channel=self.channel,
                    retryable=idempotent,
                ) from None
        finally:
            log.info(
                "channel request",
                extra={
                    "channel": self.channel,
                    "connection_id": self.connection_id,
                    "method": method,
                    "path": ctx.path,
                    "status": status,
                    "attempt": attempt,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        resp_headers = Headers(dict(resp.headers))
        pause = quota_pause(resp_headers, self.rules)
        if pause > 0:
            log.info("channel quota low; pacing", extra={"channel": self.channel, "pause_s": round(pause, 3)})
            self.pacer.hold(self.pace_key, pause)
        data = self._decode(content, status, ctx)
        error = error_for_status(status, resp_headers, data, ctx, idempotent=idempotent, rules=self.rules)
        if error is not None:
            raise (refine(status, data, error) if refine is not None else error)
        return ChannelResponse(status, resp_headers, data)

    @staticmethod
    def _read_capped(resp: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                resp.close()
                raise requests.ConnectionError("response larger than the client accepts")
            chunks.append(chunk)
        return b"".join(chunks)

    def _decode(self, content: bytes, status: int, ctx: CallContext) -> Any:
        if not content.strip():
            return None
        try:
            return json.loads(content, parse_float=Decimal)
        except (ValueError, RecursionError):
            if 200 <= status < 300:
                raise ChannelRequestError(
                    f"{ctx.what} answered HTTP {status} with a body that is not JSON",
                    channel=self.channel,
                    status=status,
                    fix=f"Check 'store' (and 'api_base_url', if set) in the connection secret "
                    f"'{self.connection_id}': the address does not serve the channel's REST API.",
                ) from None
            return None  # an error page: the status says enough
