"""HTTP plumbing shared by the Intacct client and the channel API clients."""

from __future__ import annotations

import http.cookiejar

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError


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


def pooled_session(*, pool_maxsize: int = 16) -> requests.Session:
    """A requests.Session with a connection pool, urllib3's retries off (the callers' retries
    know which requests are safe to repeat) and cookies refused (a shared session must never
    carry one store's cookies into another store's calls)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session
