"""Intacct client figures: request rate and client overhead against the sandbox, and the cost
of building and parsing a 100-line invoice.

The sandbox runs in a separate process so that this process's CPU time is the client's alone.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import requests

from bench.report import Figure, per_call_us
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct.client import IntacctClient, SessionCache
from intacct_sync.intacct.credentials import IntacctCredentials
from intacct_sync.intacct.documents import SalesLine, SalesTransaction, Subtotal
from intacct_sync.intacct.wire import SessionAuth, build_request, parse_response
from intacct_sync.retry import Deadline
from local.demo_credentials import sandbox_credentials


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def sandbox_process(*args: str) -> Iterator[str]:
    """A sandbox server in a child process; yields its login URL."""
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "local.intacct_sandbox", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{base}/_sandbox/state", timeout=1)
                break
            time.sleep(0.05)
        yield f"{base}/ia/xml/xmlgw.phtml"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def invoice(lines: int) -> SalesTransaction:
    return SalesTransaction(
        transaction_type="Sales Invoice",
        date_created=date(2026, 11, 25),
        customer_id="WEB-000123",
        document_no="SHOP-1001",
        reference_no="1001",
        term_name="Net 30",
        currency="USD",
        lines=[
            SalesLine(
                item_id=f"SKU-{i:04d}",
                quantity=Decimal(2),
                price=Decimal("19.99"),
                warehouse_id="WH-EAST",
                location_id="100",
                department_id="SALES",
                memo="Über-soft tee & <mug> ]]>",
            )
            for i in range(lines)
        ],
        subtotals=[Subtotal("Shipping", Decimal("5.00")), Subtotal("Tax", Decimal("3.20"))],
    )


def _read_back_response(lines: int) -> bytes:
    entries = "".join(
        f"<sodocumententry><LINE_NO>{i}</LINE_NO><ITEMID>SKU-{i:04d}</ITEMID><QUANTITY>2</QUANTITY>"
        f"<PRICE>19.99</PRICE><MEMO>Über-soft tee &amp; &lt;mug&gt; ]]&gt;</MEMO></sodocumententry>"
        for i in range(lines)
    )
    return (
        "<?xml version='1.0' encoding='UTF-8'?><response><control><status>success</status></control>"
        "<operation><authentication><status>success</status></authentication><result><status>success</status>"
        "<function>read</function><controlid>r</controlid><data listtype='sodocument' count='1'><sodocument>"
        f"<RECORDNO>1</RECORDNO><DOCID>Sales Invoice-SHOP-1001</DOCID><SODOCUMENTENTRIES>{entries}"
        "</SODOCUMENTENTRIES></sodocument></data></result></operation></response>"
    ).encode()


def run() -> list[Figure]:
    figures: list[Figure] = []
    big = invoice(100)

    def build() -> bytes:
        return build_request(
            sender_id="s",
            sender_password="p",  # noqa: S106 - a placeholder, the bench measures serialisation
            control_id="c",
            auth=SessionAuth("sess"),
            functions=[fn.create_sotransaction(big, controlid="so-inv-1001")],
            unique_id=True,
        )

    response = _read_back_response(100)

    def parse_and_read() -> object:
        return parse_response(response).results[0].records()

    figures.append(Figure("build 100-line invoice request", per_call_us(build), "µs"))
    figures.append(
        Figure(
            "parse 100-line invoice read-back",
            per_call_us(parse_and_read),
            "µs",
        )
    )

    with sandbox_process() as url:
        creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": url})
        client = IntacctClient(creds, sessions=SessionCache())
        deadline = Deadline.after(300)
        query = fn.query("CUSTOMER", ["RECORDNO", "CUSTOMERID", "NAME"], page_size=10)
        client.execute([query], deadline=deadline)  # session + warm-up
        n = 400
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            client.execute([fn.query("CUSTOMER", ["RECORDNO", "CUSTOMERID", "NAME"], page_size=10)], deadline=deadline)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        figures.append(Figure("requests per second (1 query each, 0 ms latency)", n / wall, "req/s"))
        figures.append(Figure("client CPU per request (build + HTTP + parse)", cpu / n * 1e6, "µs"))
        figures.append(Figure("wall time per request incl. sandbox", wall / n * 1e6, "µs"))
    return figures
