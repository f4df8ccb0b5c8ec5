"""`IntacctClient.iter_item_totals` / `stream_records` over real HTTP: records are yielded while the
answer is still arriving; failures before any record are retried like any read, a cut after some
records is raised (never retried, never silently short); the sandbox's answer streams the same rows
`item_totals` gives."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from intacct_sync.intacct import IntacctClient, SessionCache
from intacct_sync.intacct.client import ApiSession
from intacct_sync.intacct.errors import IntacctFunctionError, IntacctUnavailable
from intacct_sync.intacct.wire import Function
from intacct_sync.retry import Backoff, Deadline
from local.intacct_sandbox import IntacctSandbox
from local.intacct_sandbox.server import Fault
from tests.conftest import RecordingSleep, make_credentials


def test_the_sandbox_answer_streams_the_rows_item_totals_gives(client: IntacctClient) -> None:
    streamed = list(client.iter_item_totals(deadline=Deadline.after(10)))
    assert streamed == client.item_totals(deadline=Deadline.after(10))
    assert {(t.item_id, t.warehouse_id): t.on_hand for t in streamed}[("TSHIRT-M", "WH-EAST")] == Decimal(100)
    assert len(streamed) == 6


def test_a_rejected_session_is_renewed_before_the_stream(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    client.session(Deadline.after(10))
    sandbox.expire_sessions()
    assert len(list(client.iter_item_totals(deadline=Deadline.after(10)))) == 6


def test_a_failed_function_raises_its_typed_error_and_yields_nothing(
    client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    sandbox.inject(Fault(kind="function_error", function="get_icitemtotals", errorno="BL01001973"))
    got: list[object] = []
    with pytest.raises(IntacctFunctionError) as info:
        got.extend(client.iter_item_totals(deadline=Deadline.after(10)))
    assert got == [] and info.value.errornos == ("BL01001973",)


def test_rate_limited_then_answered(client: IntacctClient, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> None:
    client.session(Deadline.after(10))
    sandbox.inject(Fault(kind="rate_limit", function="get_icitemtotals"))
    assert len(list(client.iter_item_totals(deadline=Deadline.after(10)))) == 6
    assert sleeps.delays


def test_a_write_is_never_streamed(client: IntacctClient) -> None:
    with pytest.raises(ValueError, match="only reads"):
        write = Function("create", "w1", ET.Element("create"), write=True)
        next(client.stream_records(write, ("x",), deadline=Deadline.after(5)))


# --- a gateway that sends its answer in two halves ----------------------------------------------

HEAD = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<response><control><status>success</status></control>'
    b"<operation><authentication><status>success</status></authentication><result><status>success"
    b"</status><function>get_icitemtotals</function><controlid>%s</controlid><data><icitemtotals>"
)
ROW = b"<itemtotal><itemid>SKU-%d</itemid><warehouseid>WH</warehouseid><onhand>%d</onhand></itemtotal>"
TAIL = b"</icitemtotals></data></result></operation></response>"


FIRST = 3000
"""Rows in the first half: ~280 KB, several of the client's 64 KB reads."""


class TwoHalves:
    """Answers every POST with 200: the first FIRST rows, then waits for `release` (giving up after
    10 s, which the tests check did not happen) and sends 500 more and the end, or drops the
    connection when `cut` is set. Statuses in `fail_first` answer the first requests instead."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.held = threading.Event()
        self.cut = False
        self.fail_first: list[int] = []
        self.requests = 0
        self.gave_up = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests += 1
                if outer.fail_first:
                    self.send_response(outer.fail_first.pop(0))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                controlid = body.split(b'<function controlid="', 1)[1].split(b'"', 1)[0]
                first = HEAD % controlid + b"".join(ROW % (i, i) for i in range(FIRST))
                rest = b"".join(ROW % (i, i) for i in range(FIRST, FIRST + 500)) + TAIL
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(first) + len(rest)))
                self.end_headers()
                # Set before the first half goes out: a client that has read a row of it always sees
                # it set (after the write, a preempted server thread could set it too late).
                outer.held.set()
                self.wfile.write(first)
                self.wfile.flush()
                outer.gave_up = not outer.release.wait(10)
                if outer.cut:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(rest)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ia/xml/xmlgw.phtml"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def halves() -> Iterator[TwoHalves]:
    server = TwoHalves()
    yield server
    server.stop()


@pytest.fixture
def streaming_client(halves: TwoHalves, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> IntacctClient:
    creds = make_credentials(sandbox, endpoint_url=halves.url)
    sessions = SessionCache()
    c = IntacctClient(
        creds,
        sessions=sessions,
        backoff=Backoff(base_s=0.01, cap_s=0.02, max_attempts=3),
        sleep=sleeps,
        read_timeout_s=15,
    )
    sessions.put(c._session_key, ApiSession("session-1", halves.url))  # no login: the session is known
    return c


def test_records_are_yielded_while_the_rest_of_the_answer_is_held_back(
    halves: TwoHalves, streaming_client: IntacctClient
) -> None:
    rows = streaming_client.iter_item_totals(deadline=Deadline.after(30))
    first = next(rows)
    # The gateway still holds half of its answer back: the row came from a partial body.
    assert first.item_id == "SKU-0" and halves.held.is_set() and not halves.release.is_set()
    halves.release.set()
    rest = list(rows)
    assert rest[-1].item_id == f"SKU-{FIRST + 499}" and len(rest) == FIRST + 499
    assert halves.requests == 1 and not halves.gave_up


def test_a_cut_after_some_records_is_raised_and_not_retried(halves: TwoHalves, streaming_client: IntacctClient) -> None:
    halves.cut = True
    got = []
    with pytest.raises(IntacctUnavailable, match="record"):
        for total in streaming_client.iter_item_totals(deadline=Deadline.after(30)):
            got.append(total)
            halves.release.set()
    assert 0 < len(got) <= FIRST
    assert halves.requests == 1 and not halves.gave_up  # a retry would hand the same rows out twice


def test_a_failure_before_any_record_is_retried(halves: TwoHalves, streaming_client: IntacctClient) -> None:
    halves.fail_first = [503]
    halves.release.set()
    assert len(list(streaming_client.iter_item_totals(deadline=Deadline.after(30)))) == FIRST + 500
    assert halves.requests == 2
