"""The Intacct client against hostile gateways over real local HTTP: redirects are never followed,
a hostile session endpoint receives nothing, hostile answers become typed errors (unknown outcome
for writes), and a dripped answer is cut off at the caller's deadline."""

from __future__ import annotations

import contextlib
import threading
import time
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from intacct_sync.intacct import IntacctClient, IntacctCredentials, IntacctOutcomeUnknown, SessionCache
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct.documents import Contact, CustomerRecord
from intacct_sync.intacct.errors import IntacctConfigurationError, IntacctProtocolError, IntacctUnavailable
from intacct_sync.retry import Backoff, Deadline
from intacct_sync.transport import pooled_session
from local.demo_credentials import sandbox_credentials

SESSION_ID = "hostile-test-session-id-0123456789"


@dataclass
class Seen:
    path: str
    functions: list[str]
    session_id: str | None


@dataclass
class Server:
    """A tiny HTTP server on 127.0.0.1; `answer(handler, seen)` writes each reply."""

    answer: Callable[[BaseHTTPRequestHandler, Seen], None]
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    httpd: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base_url + "/ia/xml/xmlgw.phtml"

    def start(self) -> Server:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = parse_request(self.path, body)
                owner.requests.append(seen)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    owner.answer(self, seen)

            do_POST = do_GET = do_PUT = _any

            def log_message(self, *args: Any) -> None:
                pass

        class Httpd(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request: Any, client_address: Any) -> bool:
                owner.connections += 1
                return True

        self.httpd = Httpd(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.httpd is not None
        self.httpd.shutdown()
        self.httpd.server_close()


def parse_request(path: str, body: bytes) -> Seen:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return Seen(path, [], None)
    names = [f"{f[0].tag}:{f.get('controlid')}" for f in root.iter("function") if len(f)]
    return Seen(path, names, root.findtext(".//sessionid"))


def reply(
    handler: BaseHTTPRequestHandler, body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "text/xml")
    handler.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(body)


def results(seen: Seen, data: str = "", attrs: str = "") -> bytes:
    parts = []
    for f in seen.functions:
        name, cid = f.split(":", 1)
        parts.append(
            f"<result><status>success</status><function>{name}</function><controlid>{cid}</controlid>"
            f"<data{attrs}>{data}</data></result>"
        )
    return (
        "<response><control><status>success</status></control><operation><authentication><status>success"
        "</status></authentication>" + "".join(parts) + "</operation></response>"
    ).encode()


def session_answer(seen: Seen, endpoint: str) -> bytes:
    cid = seen.functions[0].split(":", 1)[1]
    return (
        "<response><control><status>success</status></control><operation><authentication><status>success"
        "</status></authentication><result><status>success</status><function>getAPISession</function>"
        f"<controlid>{cid}</controlid><data><api><sessionid>{SESSION_ID}</sessionid>"
        f"<endpoint>{endpoint}</endpoint></api></data></result></operation></response>"
    ).encode()


def is_login(seen: Seen) -> bool:
    return any(f.startswith("getAPISession:") for f in seen.functions)


@pytest.fixture
def servers() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler, Seen], None]], Server]]:
    started: list[Server] = []

    def make(answer: Callable[[BaseHTTPRequestHandler, Seen], None]) -> Server:
        s = Server(answer).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


def recorder_answer(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
    reply(handler, results(seen) if seen.functions else b"<html>captured</html>")


def make_client(url: str, **kw: Any) -> IntacctClient:
    creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": url})
    kw.setdefault("backoff", Backoff(base_s=0.01, cap_s=0.02, max_attempts=3))
    return IntacctClient(creds, sessions=SessionCache(), **kw)


def customer(controlid: str = "cust-WEB-1") -> fn.Function:
    rec = CustomerRecord(customer_id="WEB-1", name="Jane Doe", display_contact=Contact(print_as="Jane Doe"))
    return fn.create_customer(rec, controlid=controlid)


def secrets_of(c: IntacctClient) -> list[str]:
    return [c.credentials.sender_password.get_secret_value(), c.credentials.user_password.get_secret_value()]


# --- 1. redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_is_a_configuration_error(status: int, servers: Any) -> None:
    target = servers(recorder_answer)
    location = target.url + "?stolen=1"
    gateway = servers(lambda h, seen: reply(h, b"", status, {"Location": location}))
    c = make_client(gateway.url)
    with pytest.raises(IntacctConfigurationError) as info:
        c.session(Deadline.after(10))
    assert target.connections == 0 and target.requests == []
    text = str(info.value)
    assert "endpoint_url" in text and "redirect" in text.lower() and str(status) in text
    assert target.base_url not in text and "stolen" not in text
    assert not [s for s in secrets_of(c) if s in text]
    assert len(gateway.requests) == 1, "a configuration error is not retried"


def test_a_redirect_of_a_write_on_the_session_endpoint_is_refused_too(servers: Any) -> None:
    target = servers(recorder_answer)

    def answer(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        if is_login(seen):
            reply(h, session_answer(seen, gateway.url))
        else:
            reply(h, b"", 307, {"Location": target.url})

    gateway = servers(answer)
    with pytest.raises(IntacctConfigurationError, match="endpoint_url"):
        make_client(gateway.url).execute_one(customer(), deadline=Deadline.after(10))
    assert target.connections == 0


def test_the_intacct_session_refuses_redirects_even_when_a_caller_asks_to_follow(servers: Any) -> None:
    target = servers(recorder_answer)
    gateway = servers(lambda h, seen: reply(h, b"", 307, {"Location": target.url}))
    http = pooled_session(follow_redirects=False)
    resp = http.post(gateway.url, data=b"<x/>", timeout=5)  # allow_redirects defaults to True
    assert resp.status_code == 307 and resp.history == []
    assert target.connections == 0


def test_channel_sessions_keep_following_redirects(servers: Any) -> None:
    target = servers(recorder_answer)
    gateway = servers(lambda h, seen: reply(h, b"", 302, {"Location": target.url}))
    resp = pooled_session().get(gateway.url, timeout=5)
    assert resp.status_code == 200 and target.connections == 1


# --- 2. session endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["other-port", "backslash-userinfo", "userinfo", "other-scheme"])
def test_a_hostile_session_endpoint_receives_nothing(shape: str, servers: Any) -> None:
    evil = servers(recorder_answer)

    def answer(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        gw = gateway.base_url.removeprefix("http://")
        ev = evil.base_url.removeprefix("http://")
        endpoint = {
            "other-port": f"http://{ev}/ia/xml/xmlgw.phtml",
            "backslash-userinfo": f"http://{ev}\\@{gw}/ia/xml/xmlgw.phtml",
            "userinfo": f"http://{ev}@{gw}/ia/xml/xmlgw.phtml",
            "other-scheme": f"https://{gw}/ia/xml/xmlgw.phtml",
        }[shape]
        reply(h, session_answer(seen, endpoint) if is_login(seen) else results(seen))

    gateway = servers(answer)
    c = make_client(gateway.url)
    c.execute_one(fn.lookup("CUSTOMER"), deadline=Deadline.after(10))
    assert evil.connections == 0 and evil.requests == []
    work = [r for r in gateway.requests if not is_login(r)]
    assert len(work) == 1 and work[0].session_id == SESSION_ID, "the session went to the configured endpoint"


# --- 3. hostile answers ------------------------------------------------------------------------

DEEP = "<customer>" + "<X>" * 5000 + "1" + "</X>" * 5000 + "</customer>"


def hostile_gateway(servers: Any, data: str, attrs: str = "") -> Server:
    def answer(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        if is_login(seen):
            reply(h, session_answer(seen, gateway.url))
        else:
            reply(h, results(seen, data, attrs))

    gateway = servers(answer)
    return gateway


@pytest.mark.parametrize(
    ("data", "attrs"),
    [
        (DEEP, ' count="1" numremaining="0"'),
        ("<customer><A>1</A></customer>", ' count="1" numremaining="many" resultId="r1"'),
        ("<customer><A>1</A></customer>", ' count="one" numremaining="0"'),
        ("<customer><A>1</A></customer>", ' count="1" totalcount="lots" numremaining="0"'),
        ("<customer><A>1</A></customer>", ' count="1" numremaining="1" resultId="bad id"'),
    ],
    ids=["5000-deep", "numremaining-many", "count-one", "totalcount-lots", "resultId-space"],
)
def test_a_hostile_answer_is_a_protocol_error_for_reads_and_unknown_for_writes(
    servers: Any, data: str, attrs: str
) -> None:
    gateway = hostile_gateway(servers, data, attrs)
    c = make_client(gateway.url)
    with pytest.raises(IntacctProtocolError, match="usable body"):
        list(c.iter_read_by_query("CUSTOMER", deadline=Deadline.after(10)))
    with pytest.raises(IntacctOutcomeUnknown) as info:
        c.execute_one(customer(), deadline=Deadline.after(10))
    assert info.value.controlids == ("cust-WEB-1",)
    assert sum(1 for r in gateway.requests for f in r.functions if f.startswith("create:")) == 1


def test_a_60_mib_answer_of_tiny_elements_is_refused_within_256_mb(servers: Any) -> None:
    body = results(Seen("", ["readByQuery:q"], None), "<a/>" * (15 * 1024 * 1024))
    assert 60 * 2**20 < len(body) < 64 * 2**20

    def answer(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        reply(h, session_answer(seen, gateway.url) if is_login(seen) else body.replace(b"readByQuery:q", b"q"))

    gateway = servers(answer)
    c = make_client(gateway.url, backoff=Backoff(0.01, 0.02, 1))
    c.session(Deadline.after(10))
    tracemalloc.start()
    try:
        with pytest.raises(IntacctProtocolError):
            c.execute([fn.Function("readByQuery", "q", ET.Element("readByQuery"))], deadline=Deadline.after(60))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 2**20, f"peak {peak / 2**20:.0f} MiB"


# --- deadlines ---------------------------------------------------------------------------------


def drip(h: BaseHTTPRequestHandler, payload: bytes, *, headers_too: bool) -> None:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
    if headers_too:
        payload = head + payload
    else:
        h.wfile.write(head)
        h.wfile.flush()
    for i in range(len(payload)):
        h.wfile.write(payload[i : i + 1])
        h.wfile.flush()
        time.sleep(0.1)


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers-and-body"])
@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_a_dripped_answer_is_cut_off_at_the_deadline(servers: Any, headers_too: bool, write: bool) -> None:
    def answer(h: BaseHTTPRequestHandler, seen: Seen) -> None:
        if is_login(seen):
            reply(h, session_answer(seen, gateway.url))
        else:
            drip(h, results(seen), headers_too=headers_too)

    gateway = servers(answer)
    c = make_client(gateway.url, read_timeout_s=2.0, backoff=Backoff(0.01, 0.02, 5))
    c.session(Deadline.after(10))
    deadline = Deadline.after(3)
    started = time.monotonic()
    expected = IntacctOutcomeUnknown if write else IntacctUnavailable
    with pytest.raises(expected, match="deadline"):
        c.execute_one(customer() if write else fn.lookup("CUSTOMER"), deadline=deadline)
    elapsed = time.monotonic() - started
    # The dripped answer alone would take over 20 s (a byte per 0.1 s): ending well before that
    # proves the cut-off; the 10 s of slack over the deadline is for a loaded machine, not the test.
    assert len(results(Seen("", ["getAPISession:x"], None))) * 0.1 > 20
    assert elapsed < 3 + 10, f"ran {elapsed:.1f} s against a 3 s deadline"
