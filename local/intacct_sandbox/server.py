"""HTTP front: the XML gateway endpoints, admin endpoints, latency, concurrency limit, holds, faults."""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from local import holds

from .errors import ErrorDetail
from .protocol import (
    GATEWAY_PATHS,
    LOGIN_PATH,
    ForcedError,
    Gateway,
    RequestLog,
    control_failure_xml,
    peek_function_names,
)
from .seed import load_seed, read_seed, snapshot
from .store import Store

XML_CONTENT_TYPE = 'text/xml; encoding="UTF-8"'
FAULT_KINDS = ("http_error", "lose_response", "hang", "function_error", "rate_limit", "raw_response")
PRE_KINDS = ("http_error", "rate_limit", "raw_response")
POST_KINDS = ("lose_response", "hang")

GATEWAY_ERROR_HTML = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    524: "A Timeout Occurred",
}


@dataclass
class Fault:
    """A fault rule. `function=None` matches any request; `times=None` fires forever."""

    kind: str
    function: str | None = None
    times: int | None = 1
    status: int | None = None
    body: str | bytes | None = None
    content_type: str | None = None
    delay_s: float = 0.0
    errorno: str = "BL01001973"
    description: str = "Injected failure"
    description2: str | None = None
    correction: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 or None (forever)")

    def matches(self, names: list[str]) -> bool:
        return self.function is None or self.function in names

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if isinstance(self.body, bytes):
            d["body"] = self.body.decode("utf-8", "replace")
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


class Hold(holds.Hold):
    """Gateway requests held until `arrivals` of them have arrived (`IntacctSandbox.hold_until`).

    Every gateway request that matches `function` (None = any) counts as an arrival, including one
    refused at once by the concurrency limit; the ones holding a concurrency slot wait, before any
    latency or processing, until the count is reached (see `local.holds`).
    """

    def __init__(self, arrivals: int, timeout_s: float, function: str | None, cond: threading.Condition) -> None:
        super().__init__(arrivals, timeout_s, cond)
        self.function = function

    def matches(self, names: list[str]) -> bool:
        return self.function is None or self.function in names

    def to_dict(self) -> dict[str, Any]:
        return {"arrivals": self.arrivals, "timeout_s": self.timeout_s, "function": self.function, **self.state()}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    sandbox: IntacctSandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _HTTPServer
    server_version = "IntacctSandbox/1.0"
    _holding = False
    """This request holds one of the sandbox's concurrency slots (freed before its answer)."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ---- plumbing ----
    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, indent=1).encode(), "application/json")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- verbs ----
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        sb = self.server.sandbox
        if path == "/_sandbox/state":
            self._json(200, sb.snapshot())
        elif path == "/_sandbox/requests":
            self._json(200, [r.to_dict() for r in sb.requests])
        elif path == "/_sandbox/faults":
            self._json(200, [f.to_dict() for f in sb.faults])
        elif path == "/_sandbox/hold":
            self._json(200, [h.to_dict() for h in sb.holds])
        elif path in GATEWAY_PATHS:
            self._send(405, b"Method Not Allowed: POST XML to this endpoint", "text/plain", {"Allow": "POST"})
        else:
            self._send(404, b"Not Found", "text/plain")

    def do_DELETE(self) -> None:
        self._body()
        path = urlsplit(self.path).path
        if path == "/_sandbox/faults":
            self.server.sandbox.clear_faults()
            self._json(200, {"ok": True})
        elif path == "/_sandbox/hold":
            self.server.sandbox.release_holds()
            self._json(200, {"ok": True})
        else:
            self._send(404, b"Not Found", "text/plain")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path in GATEWAY_PATHS:
            self._gateway(path, body)
            return
        sb = self.server.sandbox
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            self._json(400, {"error": "body must be JSON"})
            return
        try:
            if path == "/_sandbox/reset":
                sb.reset(seed=payload.get("seed") if isinstance(payload, dict) else None)
                self._json(200, {"ok": True})
            elif path == "/_sandbox/faults":
                sb.inject(Fault.from_dict(payload))
                self._json(200, {"ok": True, "faults": [f.to_dict() for f in sb.faults]})
            elif path == "/_sandbox/sessions/expire":
                sb.expire_sessions()
                self._json(200, {"ok": True})
            elif path == "/_sandbox/hold":
                self._json(200, _hold_from(sb, payload).to_dict())
            elif path == "/_sandbox/clock":
                self._json(200, {"now": sb.advance_clock(float(payload.get("advance", 0)))})
            elif path == "/_sandbox/config":
                if "latency_ms" in payload:
                    sb.set_latency(int(payload["latency_ms"] or 0))
                if "max_concurrency" in payload:
                    mc = payload["max_concurrency"]
                    sb.set_max_concurrency(None if mc is None else int(mc))
                self._json(200, {"ok": True, "latency_ms": sb.latency_ms, "max_concurrency": sb.max_concurrency})
            else:
                self._send(404, b"Not Found", "text/plain")
        except (TypeError, ValueError) as exc:
            self._json(400, {"error": str(exc)})

    def _gateway(self, path: str, body: bytes) -> None:
        sb = self.server.sandbox
        log = RequestLog(time=time.time(), path=path)
        names = peek_function_names(body)
        admitted, waits = sb._enter(names)
        if not admitted:
            xml = control_failure_xml(
                [
                    ErrorDetail(
                        "GW-0010",
                        "Rate limit exceeded",
                        f"API rate limit exceeded: more than {sb.max_concurrency} concurrent requests.",
                        "Retry later with exponential backoff.",
                    )
                ]
            )
            log.http_status, log.fault, log.control_status = 429, "concurrency", "failure"
            sb._record(log)
            self._send(429, xml, XML_CONTENT_TYPE)
            return
        self._holding = True
        try:
            sb._wait_holds(waits)
            if sb.latency_ms:
                time.sleep(sb.latency_ms / 1000)
            pre = sb._take_fault(PRE_KINDS, names)
            if pre is not None:
                self._pre_fault(pre, names, log)
                return
            forced = sb._take_function_faults(names)
            post = sb._take_fault(POST_KINDS, names)
            outcome = sb.gateway.handle(body, path, forced)
            log = outcome.log
            if forced and any(f.used for f in forced):
                log.fault = "function_error"
            if post is not None and post.kind == "lose_response":
                status = post.status or 504
                log.http_status, log.fault = status, "lose_response"
                sb._record(log)
                self._answer(status, _html_error(status), "text/html")
                return
            if post is not None:  # hang
                log.fault = "hang"
                sb._record(log)
                sb._hang(post.delay_s)
                self._answer(200, outcome.body, XML_CONTENT_TYPE)
                return
            log.http_status = outcome.status
            sb._record(log)
            self._answer(outcome.status, outcome.body, XML_CONTENT_TYPE)
        except Exception as exc:  # pragma: no cover - last resort, should not happen
            print(f"[intacct-sandbox] unhandled error: {exc!r}", file=sys.stderr)
            log.http_status = 500
            sb._record(log)
            self._answer(500, _html_error(500), "text/html")
        finally:
            self._free_slot()

    def _free_slot(self) -> None:
        if self._holding:
            self._holding = False
            self.server.sandbox._release()

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        """Answer a gateway request that holds a concurrency slot: the slot is freed first.

        A client may send its next request the moment it reads this answer; were the slot freed
        after the write, a busy machine could let that request find it still counted (a 429
        that Intacct, which counts a request done once it answers, would not give).
        """
        self._free_slot()
        self._send(status, body, content_type)

    def _pre_fault(self, fault: Fault, names: list[str], log: RequestLog) -> None:
        sb = self.server.sandbox
        from .protocol import FunctionCall

        log.functions = [FunctionCall(n, None, None, None) for n in names]
        log.fault = fault.kind
        if fault.kind == "http_error":
            status = fault.status or 503
            body = fault.body if fault.body is not None else _html_error(status)
            ctype = fault.content_type or "text/html"
        elif fault.kind == "rate_limit":
            status = fault.status or 429
            body = control_failure_xml(
                [
                    ErrorDetail(
                        "GW-0010",
                        fault.description if fault.description != "Injected failure" else "Rate limit exceeded",
                        "API rate limit exceeded.",
                        "Retry later with exponential backoff.",
                    )
                ]
            )
            ctype = XML_CONTENT_TYPE
        else:  # raw_response
            status = fault.status or 200
            body = fault.body or b""
            ctype = fault.content_type or XML_CONTENT_TYPE
        raw = body.encode("utf-8") if isinstance(body, str) else body
        log.http_status = status
        sb._record(log)
        self._answer(status, raw, ctype)


def _hold_from(sb: IntacctSandbox, payload: Any) -> Hold:
    """`POST /_sandbox/hold` body `{"arrivals": N, "timeout_s": 10, "function": null}`."""
    allowed = {"arrivals", "timeout_s", "function"}
    if not isinstance(payload, dict) or "arrivals" not in payload or set(payload) - allowed:
        raise ValueError('body must be {"arrivals": N, "timeout_s": 10, "function": null}')
    function = payload.get("function")
    return sb.hold_until(
        int(payload["arrivals"]),
        timeout_s=float(payload.get("timeout_s", 10)),
        function=None if function is None else str(function),
    )


def _html_error(status: int) -> bytes:
    title = GATEWAY_ERROR_HTML.get(status, "Error")
    return (
        f"<html><head><title>{status} {title}</title></head><body><center><h1>{status} {title}</h1>"
        "</center><hr><center>intacct-sandbox</center></body></html>"
    ).encode()


class IntacctSandbox(holds.HoldsMixin):
    """A local Sage Intacct XML gateway. Use `IntacctSandbox.start(...)` or the context manager."""

    def __init__(
        self,
        seed: str | Path | dict[str, Any] | None = None,
        *,
        latency_ms: int = 0,
        max_concurrency: int | None = None,
        db_path: str | Path | None = None,
        session_timeout_s: float = 3600,
        port: int = 0,
        host: str = "127.0.0.1",
        max_functions: int = 100,
    ) -> None:
        self._seed = read_seed(seed)
        self.store = Store(db_path)
        if not (db_path and self.store.is_seeded()):
            load_seed(self.store, self._seed)
        self.gateway = Gateway(self.store, session_timeout_s=session_timeout_s, max_functions=max_functions)
        self.latency_ms = latency_ms
        self.max_concurrency = max_concurrency
        self.faults: list[Fault] = []
        self._log: list[RequestLog] = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # holds, in-flight count and request log changes
        self._inflight = 0
        self._peak_inflight = 0
        self._holds: list[Hold] = []
        self._unhang = threading.Event()
        self._clock_offset = 0.0
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.sandbox = self
        self.host, self.port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        self.gateway.base_url = self.base_url
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----
    @classmethod
    def start(
        cls,
        seed: str | Path | dict[str, Any] | None = None,
        *,
        latency_ms: int = 0,
        max_concurrency: int | None = None,
        db_path: str | Path | None = None,
        session_timeout_s: float = 3600,
        port: int = 0,
        host: str = "127.0.0.1",
        max_functions: int = 100,
    ) -> IntacctSandbox:
        sb = cls(
            seed,
            latency_ms=latency_ms,
            max_concurrency=max_concurrency,
            db_path=db_path,
            session_timeout_s=session_timeout_s,
            port=port,
            host=host,
            max_functions=max_functions,
        )
        sb._thread = threading.Thread(target=sb._serve, name="intacct-sandbox", daemon=True)
        sb._thread.start()
        return sb

    def _serve(self) -> None:
        self.httpd.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        self.store.close()

    def __enter__(self) -> IntacctSandbox:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="intacct-sandbox", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + LOGIN_PATH

    @property
    def session_url(self) -> str:
        return self.gateway.session_endpoint

    # ---- control ----
    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def expire_sessions(self) -> None:
        self.gateway.expire_sessions()

    def set_latency(self, ms: int) -> None:
        self.latency_ms = max(0, int(ms))

    def set_max_concurrency(self, n: int | None) -> None:
        self.max_concurrency = n

    def reset(self, seed: str | Path | dict[str, Any] | None = None) -> None:
        """Back to the seed; also ends holds and hangs, and the clock offset (see `advance_clock`)."""
        if seed is not None:
            self._seed = read_seed(seed)
        self.release_holds()
        self.release_hangs()
        load_seed(self.store, self._seed)
        self.gateway.reset()
        with self._cond:
            self.faults.clear()
            self._log.clear()
            self._holds.clear()
            self._peak_inflight = self._inflight
            self._clock_offset = 0.0
            self.gateway.clock = time.time

    # ---- holds, waits and the clock (deterministic tests) ----
    def hold_until(self, arrivals: int, *, timeout_s: float = 10.0, function: str | None = None) -> Hold:
        """Hold gateway requests until `arrivals` of them (matching `function`) have arrived.

        See `Hold`: with `max_concurrency=2` and a hold of 5, five concurrent requests always give
        two 200s and three 429s, however the machine schedules the threads. `hold.wait()` blocks
        until it is over and says whether it was reached.
        """
        hold = Hold(arrivals, timeout_s, function, self._cond)
        with self._cond:
            self._holds.append(hold)
        return hold

    def release_hangs(self) -> None:
        """End every `hang` fault's wait now (those requests answer at once)."""
        with self._lock:
            event, self._unhang = self._unhang, threading.Event()
        event.set()

    def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> bool:
        """Block until the request log holds at least `count` entries; False if `timeout_s` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._log) >= count, timeout=timeout_s)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Block until no gateway request is in flight; False if `timeout_s` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout=timeout_s)

    @property
    def peak_inflight(self) -> int:
        """The most gateway requests in flight at once since the last reset."""
        with self._lock:
            return self._peak_inflight

    def clock(self) -> float:
        """The sandbox clock (epoch seconds): real time plus what `advance_clock` added. Sessions
        expire on it."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward (e.g. past `session_timeout_s`); returns the new time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._clock_offset += seconds
            self.gateway.clock = self.clock
        return self.clock()

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.store)

    @property
    def requests(self) -> list[RequestLog]:
        with self._lock:
            return list(self._log)

    @property
    def seed(self) -> dict[str, Any]:
        """A deep copy of the seed in use (edit it and pass it to `reset`)."""
        return copy.deepcopy(self._seed)

    # ---- internals used by the handler ----
    def _enter(self, names: list[str]) -> tuple[bool, list[Hold]]:
        """Take a concurrency slot (False: none free) and count the arrival toward pending holds.

        One lock for both: the arrival that completes a hold is refused or admitted before the
        requests it releases can free their slots. Returns the holds this request must wait on.
        """
        with self._cond:
            admitted = self.max_concurrency is None or self._inflight < self.max_concurrency
            if admitted:
                self._inflight += 1
                self._peak_inflight = max(self._peak_inflight, self._inflight)
            waits = holds.arrive(self._holds, lambda h: h.matches(names))
            self._cond.notify_all()
            return admitted, waits if admitted else []

    def _wait_holds(self, waits: list[Hold]) -> None:
        with self._cond:
            holds.wait_out(self._cond, waits, "intacct-sandbox")

    def _hang(self, seconds: float) -> None:
        with self._lock:
            event = self._unhang
        event.wait(seconds)

    def _release(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def _record(self, log: RequestLog) -> None:
        with self._cond:
            self._log.append(log)
            self._cond.notify_all()

    def _consume(self, fault: Fault) -> None:
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)

    def _take_fault(self, kinds: tuple[str, ...], names: list[str]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.kind in kinds and f.matches(names):
                    self._consume(f)
                    return f
        return None

    def _take_function_faults(self, names: list[str]) -> list[ForcedError]:
        out = []
        with self._lock:
            for f in list(self.faults):
                if f.kind == "function_error" and f.matches(names):
                    self._consume(f)
                    out.append(
                        ForcedError(f.function, ErrorDetail(f.errorno, f.description, f.description2, f.correction))
                    )
        return out
