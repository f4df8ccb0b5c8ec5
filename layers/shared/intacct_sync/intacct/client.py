"""The Intacct XML gateway client: one pooled HTTP session, API sessions, retries, typed errors.

Contract:
- `execute()` sends functions in one request and returns one `Result` per function, in order.
  Control- and authentication-level failures raise (nothing ran); function failures come back as
  results (`raise_for()` turns one into its typed error), since the others may have succeeded.
- Transient failures where nothing ran (connect errors, 429/GW-0010, 503, off-line) are retried
  with exponential backoff and full jitter while the caller's deadline allows.
- A request holding a write is sent with uniqueid=true. If its answer is lost after sending
  (read time-out, 5xx without an Intacct body), `IntacctOutcomeUnknown` is raised and it is NOT
  retried: the caller looks the document up by its key, then re-sends the same controlid.
- Sessions come from getAPISession, are cached per process (a warm Lambda container reuses
  them), are sent to the endpoint Intacct returned (if `session_endpoint_refusal` accepts it),
  and are renewed once when rejected.
- Redirects are never followed (a 307/308 would re-post the passwords to the Location): a 3xx
  answer is an `IntacctConfigurationError` naming `endpoint_url`.
- Each request, body included, ends by the caller's deadline even if the server drips its answer
  a byte at a time; cut off after sending a write, it is an `IntacctOutcomeUnknown`.
- An answer that is not a usable Intacct response (hostile XML, too deep, too many elements, bad
  paging attributes) is `IntacctProtocolError` for reads and `IntacctOutcomeUnknown` for writes.
- No secret (passwords, session id) is ever logged or put in an exception.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from intacct_sync.intacct import functions as fn
from intacct_sync.intacct.credentials import DEFAULT_ENDPOINT, IntacctCredentials
from intacct_sync.intacct.errors import (
    DEFAULT_ALREADY_EXECUTED_MARKERS,
    IntacctConfigurationError,
    IntacctOutcomeUnknown,
    IntacctProtocolError,
    IntacctRateLimited,
    IntacctRequestError,
    IntacctTransientError,
    IntacctUnavailable,
    classify_auth_failure,
    classify_control_failure,
    classify_function_failure,
    is_offline,
    is_rate_limited,
)
from intacct_sync.intacct.query import Filter
from intacct_sync.intacct.wire import (
    Function,
    LoginAuth,
    MalformedResponse,
    Record,
    Response,
    ResponseStream,
    Result,
    SessionAuth,
    build_request,
    parse_response,
)
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.transport import cut_off_after, never_sent, pooled_session

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_STREAMED_BYTES = 1024 * 1024 * 1024
"""A streamed answer (`stream_records`) is parsed as it arrives and never held whole, so it may be
longer than MAX_RESPONSE_BYTES (200,000 items x 3 warehouses of `get_icitemtotals` is ~90 MB); this
bounds the work (the deadline bounds the time), the stream's own limits bound the memory."""
_HEADERS = {
    "Content-Type": "application/xml; charset=utf-8",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "intacct-sync/0.1 (+python-requests)",
}
# Statuses that mean the gateway did not process the request, so re-sending is safe even for
# writes (and uniqueid=true protects us if that belief is ever wrong).
_NOT_PROCESSED = {429, 503}


@dataclass(frozen=True)
class ApiSession:
    session_id: str = field(repr=False)
    endpoint: str


class SessionCache:
    """API sessions per (endpoint, sender, company, user, entity), shared by clients in a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, ...], ApiSession] = {}

    def get(self, key: tuple[str, ...]) -> ApiSession | None:
        with self._lock:
            return self._sessions.get(key)

    def put(self, key: tuple[str, ...], session: ApiSession) -> None:
        with self._lock:
            self._sessions[key] = session

    def drop(self, key: tuple[str, ...], session: ApiSession) -> None:
        with self._lock:
            if self._sessions.get(key) == session:
                del self._sessions[key]

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


PROCESS_SESSIONS = SessionCache()


@dataclass(frozen=True)
class FieldInfo:
    """One field of an object as `lookup` describes it."""

    id: str
    label: str
    data_type: str
    required: bool
    read_only: bool


@dataclass(frozen=True)
class ItemTotal:
    """One row of `get_icitemtotals`: quantities for an item in a warehouse."""

    item_id: str
    warehouse_id: str
    on_hand: Decimal
    on_order: Decimal
    on_hold: Decimal


def _decimal(text: str | None) -> Decimal:
    return Decimal(text) if text else Decimal(0)


_DEFAULT_PORTS = {"https": 443, "http": 80}
# Only letters, digits, dots and hyphens: no userinfo, percent-encoding, IDN or brackets.
_LDH_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")
_URL_CHARS = re.compile(r"[!-~]+")  # printable ASCII, no space or control characters


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, or None when it is not a plain one.

    The URL is parsed both the way requests/urllib3 will connect (parse_url) and the way the
    standard library reads it (urlsplit); when they disagree (`https://evil\\@api.intacct.com/`
    is api.intacct.com to one and evil to the other) the URL is refused.
    """
    if not _URL_CHARS.fullmatch(url) or "@" in url or "\\" in url:
        return None
    try:
        lib = parse_url(url)
        std = urlsplit(url)
        std_port = std.port
    except (LocationParseError, ValueError):
        return None
    scheme = (std.scheme or "").lower()
    host = (std.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not _LDH_HOST.fullmatch(host):
        return None
    port = std_port if std_port is not None else _DEFAULT_PORTS[scheme]
    lib_port = lib.port if lib.port is not None else _DEFAULT_PORTS.get(lib.scheme or "", -1)
    if ((lib.scheme or "").lower(), (lib.host or "").lower(), lib_port) != (scheme, host, port):
        return None
    return scheme, host, port


def _is_intacct_host(host: str) -> bool:
    # _origin already limits the host to non-empty LDH labels, so no trailing dot or empty label.
    return host == "intacct.com" or host.endswith(".intacct.com")


def session_endpoint_refusal(endpoint: str, configured: str) -> str | None:
    """Why the endpoint a getAPISession answer returned may not receive the session, or None if
    it may.

    Accepted: exactly the configured endpoint's scheme, host and port (so a local sandbox at
    http://127.0.0.1:PORT keeps working), or https on port 443 at intacct.com or a host under it.
    Refused: anything urllib3 and urlsplit read differently, userinfo (`@`), backslashes, percent
    signs, spaces or control characters, non-ASCII (IDN) hosts, trailing dots, other schemes and
    ports. The reason never repeats the URL (it may carry userinfo).
    """
    origin = _origin(endpoint)
    if origin is None:
        return "not a plain http(s) URL"
    if origin == _origin(configured):
        return None
    scheme, host, port = origin
    if not _is_intacct_host(host):
        return "host is neither the configured one nor under intacct.com"
    if scheme != "https" or port != 443:
        return "an intacct.com endpoint must be https on port 443"
    return None


def _where(url: str) -> str:
    """scheme://host[:port] of a URL for messages; never userinfo, path or query."""
    origin = _origin(url)
    if origin is None:
        return "the configured Intacct endpoint"
    scheme, host, port = origin
    return f"{scheme}://{host}" + ("" if port == _DEFAULT_PORTS[scheme] else f":{port}")


class _DeadlineCut(requests.ConnectionError):
    """The body was still arriving when the caller's deadline passed."""


class IntacctClient:
    """Client for one Intacct company (one credentials secret)."""

    def __init__(
        self,
        credentials: IntacctCredentials,
        *,
        http: requests.Session | None = None,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 60.0,
        backoff: Backoff | None = None,
        sessions: SessionCache = PROCESS_SESSIONS,
        gate: Callable[[], AbstractContextManager[Any]] | None = None,
        already_executed_markers: Sequence[str] = DEFAULT_ALREADY_EXECUTED_MARKERS,
        sleep: Callable[[float], None] = time.sleep,
        min_attempt_s: float = 0.5,
    ) -> None:
        """`gate` wraps every HTTP request (a stack-wide concurrency limit plugs in here).

        A retry starts only if at least `min_attempt_s` of the deadline would remain for it.
        `read_timeout_s` bounds each wait for data; the deadline bounds the whole request. A
        caller-supplied `http` session should come from `pooled_session(follow_redirects=False,
        cut_off=True)`: with another session, redirects are still refused but a dripped answer
        is only checked against the deadline between chunks.
        """
        self.credentials = credentials
        # Never follows redirects; cut_off lets every request be ended at the deadline.
        self.http = http or pooled_session(pool_maxsize=8, follow_redirects=False, cut_off=True)
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.backoff = backoff or Backoff()
        self.sessions = sessions
        self.gate = gate or contextlib.nullcontext
        self.already_executed_markers = tuple(m.lower() for m in already_executed_markers)
        self.sleep = sleep
        self.min_attempt_s = min_attempt_s
        self.http_requests = 0  # POSTs sent, for round-trip accounting (bench, tests)
        c = credentials
        self._session_key = (c.endpoint_url, c.sender_id, c.company_id, c.user_id, c.entity_id or "")

    # --- public API ------------------------------------------------------------------------

    def execute(self, functions: Sequence[Function], *, deadline: Deadline, transaction: bool = False) -> list[Result]:
        """Send `functions` in one request; one `Result` per function, in the same order."""
        if len({f.controlid for f in functions}) != len(functions):
            raise ValueError("function controlids must be unique within a request")
        for attempt in (1, 2):
            session = self.session(deadline)
            response = self._round_trip(
                functions, SessionAuth(session.session_id), session.endpoint, deadline, transaction
            )
            if response.control_status == "failure":
                raise classify_control_failure(response.control_errors, sender_id=self.credentials.sender_id)
            if response.auth_status == "failure":
                # A session may expire or be revoked at any time: log in again, once.
                self.sessions.drop(self._session_key, session)
                if attempt == 1:
                    log.info("intacct session rejected; signing in again")
                    continue
                raise classify_auth_failure(
                    response.auth_errors,
                    sender_id=self.credentials.sender_id,
                    entity_id=self.credentials.entity_id,
                )
            return self._match_results(functions, response)
        raise AssertionError("unreachable")  # pragma: no cover

    def execute_one(self, function: Function, *, deadline: Deadline) -> Result:
        """Send one function; its failure raises the typed error."""
        result = self.execute([function], deadline=deadline)[0]
        self.raise_for(result)
        return result

    def raise_for(self, result: Result) -> None:
        """Raise the typed error of a failed or aborted result; no-op on success."""
        if not result.ok:
            raise classify_function_failure(
                result.errors,
                function=result.function,
                controlid=result.controlid,
                already_executed_markers=self.already_executed_markers,
            )

    def iter_query(
        self,
        obj: str,
        fields: Sequence[str],
        *,
        deadline: Deadline,
        filter: Filter | None = None,  # Intacct's own element name
        order_by: Sequence[tuple[str, bool]] = (),
        docparid: str | None = None,
        case_insensitive: bool = False,
        page_size: int = 1000,
    ) -> Iterator[Record]:
        """Every record of a `query`, fetched page by page with `offset`."""
        offset = 0
        while True:
            result = self.execute_one(
                fn.query(
                    obj,
                    fields,
                    filter=filter,
                    order_by=order_by,
                    docparid=docparid,
                    case_insensitive=case_insensitive,
                    page_size=page_size,
                    offset=offset,
                ),
                deadline=deadline,
            )
            records = result.records()
            yield from records
            if not records or not result.num_remaining:
                return
            offset += len(records)

    def iter_read_by_query(
        self,
        obj: str,
        query_text: str = "",
        *,
        deadline: Deadline,
        fields: Sequence[str] = ("*",),
        docparid: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[Record]:
        """Every record of a `readByQuery`, following `readMore` with the pinned resultId."""
        result = self.execute_one(
            fn.read_by_query(obj, query_text, fields=fields, docparid=docparid, page_size=page_size),
            deadline=deadline,
        )
        while True:
            yield from result.records()
            if not result.num_remaining or not result.result_id:
                return
            result = self.execute_one(fn.read_more(result.result_id), deadline=deadline)

    def lookup(self, obj: str, *, deadline: Deadline, docparid: str | None = None) -> list[FieldInfo]:
        """The fields of an object (to check a company's setup or a field name)."""
        result = self.execute_one(fn.lookup(obj, docparid=docparid), deadline=deadline)
        return [
            FieldInfo(
                id=f.findtext("ID", ""),
                label=f.findtext("LABEL", ""),
                data_type=f.findtext("DATATYPE", ""),
                required=f.findtext("REQUIRED", "") == "true",
                read_only=f.findtext("READONLY", "") == "true",
            )
            for f in result.iter_elements("Type/Fields/Field")
        ]

    def iter_item_totals(
        self, *, deadline: Deadline, item_id: str | None = None, warehouse_id: str | None = None
    ) -> Iterator[ItemTotal]:
        """On-hand, on-order and on-hold per item and warehouse (`get_icitemtotals`), yielded as
        the answer arrives: the function has no paging, so a large company's answer is one long
        body, read and parsed as a stream and never held whole (see `stream_records`)."""
        function = fn.get_icitemtotals(item_id, warehouse_id)
        for t in self.stream_records(function, ("icitemtotals", "itemtotal"), deadline=deadline):
            yield ItemTotal(
                item_id=t.get("itemid", ""),
                warehouse_id=t.get("warehouseid", ""),
                on_hand=_decimal(t.get("onhand")),
                on_order=_decimal(t.get("onorder")),
                on_hold=_decimal(t.get("onhold")),
            )

    def item_totals(
        self, *, deadline: Deadline, item_id: str | None = None, warehouse_id: str | None = None
    ) -> list[ItemTotal]:
        """`iter_item_totals` as a list (a few items; the stock push streams instead)."""
        return list(self.iter_item_totals(deadline=deadline, item_id=item_id, warehouse_id=warehouse_id))

    def stream_records(self, function: Function, record_path: Sequence[str], *, deadline: Deadline) -> Iterator[Record]:
        """Send one read function alone and yield the records of its answer as they are parsed,
        while the body is still arriving; nothing the size of the answer is kept.

        `record_path` locates the records under `<data>` (see `ResponseStream`). The answer gets the
        same checks as any other: a control, authentication or function failure raises its typed
        error after the stream ends (no record is yielded from a failed result). Failures where
        nothing was yielded yet are retried as `execute` retries them (including one new session);
        once records have been yielded a failure is raised, never retried (the caller would see
        them twice): the caller must treat what it got as incomplete and start again.
        """
        if function.write:
            raise ValueError("only reads are streamed")
        for attempt in (1, 2):
            session = self.session(deadline)
            response = yield from self._stream_round_trip(
                function, SessionAuth(session.session_id), session.endpoint, record_path, deadline
            )
            if response.control_status == "failure":
                raise classify_control_failure(response.control_errors, sender_id=self.credentials.sender_id)
            if response.auth_status == "failure":
                self.sessions.drop(self._session_key, session)
                if attempt == 1:
                    log.info("intacct session rejected; signing in again")
                    continue
                raise classify_auth_failure(
                    response.auth_errors, sender_id=self.credentials.sender_id, entity_id=self.credentials.entity_id
                )
            self.raise_for(self._match_results([function], response)[0])
            return

    # --- sessions --------------------------------------------------------------------------

    def session(self, deadline: Deadline) -> ApiSession:
        """The cached API session, or a new one from getAPISession (sent with login credentials)."""
        cached = self.sessions.get(self._session_key)
        if cached is not None:
            return cached
        c = self.credentials
        auth = LoginAuth(c.user_id, c.company_id, c.user_password.get_secret_value(), c.entity_id)
        # getAPISession goes alone in its own request, as the docs ask.
        response = self._round_trip([fn.get_api_session()], auth, c.endpoint_url, deadline, False)
        if response.control_status == "failure":
            raise classify_control_failure(response.control_errors, sender_id=c.sender_id)
        if response.auth_status == "failure":
            raise classify_auth_failure(response.auth_errors, sender_id=c.sender_id, entity_id=c.entity_id)
        result = response.results[0] if response.results else None
        if result is None:
            raise IntacctRequestError("getAPISession returned no result")
        self.raise_for(result)
        session_id = next(result.iter_elements("api/sessionid"), None)
        endpoint = next(result.iter_elements("api/endpoint"), None)
        if session_id is None or not session_id.text:
            raise IntacctRequestError("getAPISession returned no session id")
        session = ApiSession(session_id.text.strip(), self._trusted_endpoint(endpoint))
        self.sessions.put(self._session_key, session)
        return session

    def _trusted_endpoint(self, endpoint: Any) -> str:
        """The endpoint getAPISession returned if `session_endpoint_refusal` accepts it; else the
        configured endpoint.

        The session id and the sender password go there, so an answer must not be able to point
        them anywhere else. A refused endpoint falls back to the configured endpoint (which already
        received the login passwords, so nothing new is exposed, and which accepts the session);
        the refusal is logged with its reason, never with the URL.
        """
        configured = self.credentials.endpoint_url
        url = (endpoint.text or "").strip() if endpoint is not None else ""
        if not url:
            return configured
        reason = session_endpoint_refusal(url, configured)
        if reason is None:
            return url
        log.warning("ignoring the session endpoint getAPISession returned", extra={"reason": reason})
        return configured

    # --- transport -------------------------------------------------------------------------

    def _round_trip(
        self,
        functions: Sequence[Function],
        auth: LoginAuth | SessionAuth,
        endpoint: str,
        deadline: Deadline,
        transaction: bool,
    ) -> Response:
        """POST with retries for failures where nothing ran; raise for the rest."""
        writes = [f.controlid for f in functions if f.write]
        body = build_request(
            sender_id=self.credentials.sender_id,
            sender_password=self.credentials.sender_password.get_secret_value(),
            control_id=uuid.uuid4().hex,
            auth=auth,
            functions=functions,
            unique_id=bool(writes),
            transaction=transaction,
        )
        names = [f.name for f in functions]
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post_once(
                    endpoint, body=body, writes=writes, deadline=deadline, names=names, attempt=attempt
                )
            except IntacctTransientError as exc:
                self._wait_to_retry(exc, attempt, deadline)

    def _wait_to_retry(self, exc: IntacctTransientError, attempt: int, deadline: Deadline) -> None:
        """Sleep before the next attempt, or raise `exc` when out of attempts or time."""
        delay = self.backoff.delay(attempt)
        if attempt >= self.backoff.max_attempts or delay + self.min_attempt_s >= deadline.remaining():
            exc.message = f"{exc.message} (gave up after {attempt} attempt(s))"
            raise exc
        log.info(
            "intacct transient failure; retrying",
            extra={"error": type(exc).__name__, "attempt": attempt, "delay_s": round(delay, 3)},
        )
        self.sleep(delay)

    def _stream_round_trip(
        self,
        function: Function,
        auth: SessionAuth,
        endpoint: str,
        record_path: Sequence[str],
        deadline: Deadline,
    ) -> Generator[Record, None, Response]:
        """`_round_trip` for one streamed read: retried only while nothing has been yielded."""
        body = build_request(
            sender_id=self.credentials.sender_id,
            sender_password=self.credentials.sender_password.get_secret_value(),
            control_id=uuid.uuid4().hex,
            auth=auth,
            functions=[function],
            unique_id=False,
        )
        attempt = 0
        while True:
            attempt += 1
            stream = ResponseStream(record_path, controlid=function.controlid)
            try:
                return (
                    yield from self._stream_once(
                        endpoint, body, stream=stream, deadline=deadline, name=function.name, attempt=attempt
                    )
                )
            except IntacctTransientError as exc:
                if stream.records:
                    exc.message = f"{exc.message} (after {stream.records} record(s) of a streamed answer)"
                    raise
                self._wait_to_retry(exc, attempt, deadline)

    def _stream_once(
        self, endpoint: str, body: bytes, *, stream: ResponseStream, deadline: Deadline, name: str, attempt: int
    ) -> Generator[Record, None, Response]:
        """One POST whose 200 answer is parsed while it arrives, its records yielded as they
        complete. The gate and the deadline cut-off stay on until the body has been read: a slow
        consumer cannot hold the request open past the deadline. Other statuses are read whole
        and interpreted as `_post_once` does."""
        if min(self.read_timeout_s, deadline.remaining()) <= 0:
            raise IntacctUnavailable("no time left to call Intacct before the deadline")
        started = time.monotonic()
        status: int | None = None
        try:
            with self.gate():
                self.http_requests += 1
                with cut_off_after(deadline.remaining()) as guard:
                    try:
                        resp = self.http.post(
                            endpoint,
                            data=body,
                            headers=_HEADERS,
                            timeout=(
                                self.connect_timeout_s,
                                max(0.001, min(self.read_timeout_s, deadline.remaining())),
                            ),
                            stream=True,
                            allow_redirects=False,
                        )
                        status = resp.status_code
                        if 300 <= status < 400:
                            resp.close()
                            raise self._redirect_refused(endpoint, status)
                        if status != 200:
                            content = self._read_capped(resp, deadline)
                            if guard.fired:
                                raise _DeadlineCut("cut off at the deadline")
                            response = self._interpret(status, content, ())
                            if any(r.ok for r in response.results):
                                # Not an answer Intacct gives; its records are not streamed.
                                raise IntacctProtocolError(f"Intacct answered HTTP {status} with a successful result")
                            return response
                        try:
                            size = 0
                            for chunk in resp.iter_content(64 * 1024):
                                size += len(chunk)
                                if size > MAX_STREAMED_BYTES:
                                    raise requests.ConnectionError("response larger than the client accepts")
                                if deadline.expired():
                                    raise _DeadlineCut("cut off at the deadline")
                                yield from stream.feed(chunk)
                            if guard.fired:
                                raise _DeadlineCut("cut off at the deadline")
                            last, response = stream.close()
                        finally:
                            resp.close()
                        yield from last
                    except requests.RequestException as exc:
                        raise self._lost(exc, (), cut=guard.fired or isinstance(exc, _DeadlineCut)) from None
        except MalformedResponse as exc:
            raise IntacctProtocolError(f"Intacct answered HTTP {status} without a usable body ({exc})") from None
        finally:
            log.info(
                "intacct request",
                extra={
                    "functions": [name],
                    "write_controlids": [],
                    "http_status": status,
                    "attempt": attempt,
                    "streamed_records": stream.records,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        self._raise_if_transient(response)
        return response

    def _post_once(
        self,
        endpoint: str,
        *,
        body: bytes,
        writes: Sequence[str],
        deadline: Deadline,
        names: Sequence[str],
        attempt: int,
    ) -> Response:
        """One POST, ended by the deadline whatever the server does (headers or body dripped)."""
        if min(self.read_timeout_s, deadline.remaining()) <= 0:
            raise IntacctUnavailable("no time left to call Intacct before the deadline")
        started = time.monotonic()
        status: int | None = None
        try:
            with self.gate():
                self.http_requests += 1
                # The gate may have queued us: the time left is measured after it.
                with cut_off_after(deadline.remaining()) as guard:
                    try:
                        resp = self.http.post(
                            endpoint,
                            data=body,
                            headers=_HEADERS,
                            timeout=(
                                self.connect_timeout_s,
                                max(0.001, min(self.read_timeout_s, deadline.remaining())),
                            ),
                            stream=True,
                            allow_redirects=False,
                        )
                        status = resp.status_code
                        if 300 <= status < 400:
                            resp.close()
                            raise self._redirect_refused(endpoint, status)
                        content = self._read_capped(resp, deadline)
                        if guard.fired:
                            # The socket was shut down: what arrived may be a truncated body.
                            raise _DeadlineCut("cut off at the deadline")
                    except requests.RequestException as exc:
                        cut = guard.fired or isinstance(exc, _DeadlineCut)
                        raise self._lost(exc, writes, cut=cut) from None
        finally:
            log.info(
                "intacct request",
                extra={
                    "functions": list(names),
                    "write_controlids": list(writes)[:10],
                    "http_status": status,
                    "attempt": attempt,
                    "ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
        return self._interpret(status, content, writes)

    @staticmethod
    def _lost(exc: requests.RequestException, writes: Sequence[str], *, cut: bool) -> Exception:
        """The typed error for a request whose answer did not (fully) arrive."""
        if never_sent(exc):
            return IntacctUnavailable(f"could not connect to Intacct ({type(exc).__name__})")
        if cut:
            if writes:
                return IntacctOutcomeUnknown(
                    "Intacct's answer to a write had not arrived when the deadline passed", controlids=writes
                )
            return IntacctUnavailable("Intacct's answer had not arrived when the deadline passed")
        if writes:
            return IntacctOutcomeUnknown(
                f"Intacct's answer to a write was lost ({type(exc).__name__})", controlids=writes
            )
        return IntacctUnavailable(f"Intacct did not answer ({type(exc).__name__})")

    @staticmethod
    def _redirect_refused(endpoint: str, status: int) -> IntacctConfigurationError:
        # The gateway never redirects a POST, so this is the wrong address (or something in front
        # of it), not a processed request. Following it would re-send the sender and user
        # passwords to wherever the Location points, so the Location is neither followed nor shown.
        return IntacctConfigurationError(
            f"The Intacct endpoint {_where(endpoint)} answered HTTP {status}, a redirect; "
            "redirects are refused because following one would re-send the credentials elsewhere.",
            fix=(
                "Set endpoint_url in the Intacct credentials secret to the XML gateway URL itself "
                f"(or remove it for the default, {DEFAULT_ENDPOINT}), not to an address that redirects."
            ),
        )

    @staticmethod
    def _read_capped(resp: requests.Response, deadline: Deadline) -> list[bytes]:
        """The body as the chunks it arrived in (parsed without joining them into a second copy).

        The deadline is checked after every chunk, as well as by the session's cut-off.
        """
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                resp.close()
                raise requests.ConnectionError("response larger than the client accepts")
            if deadline.expired():
                resp.close()
                raise _DeadlineCut("cut off at the deadline")
            chunks.append(chunk)
        return chunks

    def _interpret(self, status: int, content: list[bytes], writes: Sequence[str]) -> Response:
        if status == 429:
            raise IntacctRateLimited("Intacct answered HTTP 429 (rate limit, GW-0010)")
        if status in _NOT_PROCESSED:
            raise IntacctUnavailable(f"Intacct answered HTTP {status}")
        try:
            response = parse_response(content)
        except MalformedResponse as exc:
            if status >= 500 or status == 200:
                if writes:
                    raise IntacctOutcomeUnknown(
                        f"Intacct answered HTTP {status} without a usable body after a write ({exc})",
                        controlids=writes,
                    ) from None
                raise IntacctProtocolError(f"Intacct answered HTTP {status} without a usable body ({exc})") from None
            raise IntacctRequestError(
                f"the Intacct endpoint answered HTTP {status}, not an Intacct response",
                fix="Check endpoint_url in the Intacct credentials secret (or remove it for the default).",
            ) from None
        self._raise_if_transient(response)
        return response

    @staticmethod
    def _raise_if_transient(response: Response) -> None:
        errors = response.control_errors if response.control_status == "failure" else response.auth_errors
        if is_rate_limited(errors):
            raise IntacctRateLimited("Intacct rate limit (GW-0010)", errors=errors)
        if is_offline(errors):
            raise IntacctUnavailable("Intacct is temporarily off-line", errors=errors)

    def _match_results(self, functions: Sequence[Function], response: Response) -> list[Result]:
        by_id = {r.controlid: r for r in response.results}
        missing = [f.controlid for f in functions if f.controlid not in by_id]
        if missing:
            writes = [f.controlid for f in functions if f.write and f.controlid in missing]
            if writes:
                raise IntacctOutcomeUnknown("Intacct's answer lacks results for writes", controlids=writes)
            raise IntacctUnavailable(f"Intacct's answer lacks {len(missing)} result(s)")
        return [by_id[f.controlid] for f in functions]
