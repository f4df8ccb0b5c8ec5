"""HTTP plumbing shared by the Intacct client and the channel API clients."""

from __future__ import annotations

import contextlib
import contextvars
import http.cookiejar
import socket
import threading
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.util.retry import Retry


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the server (the connection failed), so
    repeating it is safe even for a write."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # urllib3's NewConnectionError (refused, DNS) subclasses ConnectTimeoutError.
    return isinstance(reason, ConnectTimeoutError)


# --- wall-clock cut-off ------------------------------------------------------------------------
#
# requests' read time-out applies to each socket read, so a server that drips one byte before each
# time-out keeps a request alive for ever. A `CutOff` closes the socket of the request it guards
# when its time is up, whether the request is sending, waiting for headers or reading the body.


class CutOff:
    """Shuts down the socket of one guarded request when `fire()` runs (from a timer thread).

    The connection is attached when the request starts on it and detached when urllib3 puts it
    back in the pool, both under a lock, so a late timer can never cut a connection that another
    request has since taken from the pool.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: HTTPConnection | None = None
        self._done = False
        self.fired = False

    def attach(self, conn: HTTPConnection) -> None:
        with self._lock:
            if self._done:
                return
            self._conn = conn
            conn._intacct_cutoff = self  # type: ignore[attr-defined]  # read back in _put_conn
            if self.fired:
                _shutdown(conn)

    def detach(self, conn: HTTPConnection) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
            conn._intacct_cutoff = None  # type: ignore[attr-defined]

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            if self._conn is not None:
                _shutdown(self._conn)

    def disarm(self) -> None:
        with self._lock:
            self._done = True
            if self._conn is not None:
                self._conn._intacct_cutoff = None  # type: ignore[attr-defined]
                self._conn = None


def _shutdown(conn: HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        # shutdown (not close) wakes a recv() blocked in the requesting thread.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


_ACTIVE: contextvars.ContextVar[CutOff | None] = contextvars.ContextVar("intacct_sync_cutoff", default=None)


@contextlib.contextmanager
def cut_off_after(seconds: float) -> Iterator[CutOff]:
    """Guard the requests made inside the block (on a `pooled_session(cut_off=True)` session, in
    this thread): after `seconds` of wall-clock time their socket is shut down, and the request
    fails with a connection error. `CutOff.fired` tells the caller that the clock, not the server,
    ended it. Requests on other sessions are not guarded."""
    guard = CutOff()
    token = _ACTIVE.set(guard)
    timer = threading.Timer(max(0.0, seconds), guard.fire)
    timer.daemon = True
    timer.start()
    try:
        yield guard
    finally:
        timer.cancel()
        guard.disarm()
        _ACTIVE.reset(token)


class _GuardedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        guard = _ACTIVE.get()
        if guard is not None:
            guard.attach(self)
        super().request(*args, **kwargs)


class _GuardedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        guard = _ACTIVE.get()
        if guard is not None:
            guard.attach(self)
        super().request(*args, **kwargs)


def _detach(conn: Any) -> None:
    guard = getattr(conn, "_intacct_cutoff", None)
    if isinstance(guard, CutOff):
        guard.detach(conn)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection

    def _put_conn(self, conn: Any) -> None:
        _detach(conn)
        super()._put_conn(conn)


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection

    def _put_conn(self, conn: Any) -> None:
        _detach(conn)
        super()._put_conn(conn)


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


# --- sessions ------------------------------------------------------------------------------------


class _NoRedirectSession(requests.Session):
    """A session for which no response is a redirect: nothing is followed even with
    allow_redirects=True, and a 3xx body is not read by requests (its redirect handling reads
    the whole body, unbounded, before deciding)."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        return None


def pooled_session(*, pool_maxsize: int = 16, follow_redirects: bool = True, cut_off: bool = False) -> requests.Session:
    """A requests.Session with a connection pool, urllib3's retries off (the callers' retries
    know which requests are safe to repeat) and cookies refused (a shared session must never
    carry one store's cookies into another store's calls).

    `follow_redirects=False` (the Intacct client) makes sure no layer follows a redirect: a 307/308
    would re-send the request body, credentials included, to wherever the Location points. The
    3xx answer is returned as is, whatever allow_redirects says, for the caller to refuse.
    `cut_off=True` lets `cut_off_after` bound a request by wall-clock time. The channel API
    clients keep the defaults.
    """
    session = requests.Session() if follow_redirects else _NoRedirectSession()
    retries: int | Retry = 0
    if not follow_redirects:
        session.max_redirects = 0
        # As max_retries=0 (nothing is repeated), and urllib3 itself never follows a redirect.
        retries = Retry(0, read=False, redirect=False, raise_on_redirect=False)
    cls = _GuardedAdapter if cut_off else HTTPAdapter
    adapter = cls(pool_connections=8, pool_maxsize=pool_maxsize, max_retries=retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session
