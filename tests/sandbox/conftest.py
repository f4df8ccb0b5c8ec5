"""Fixtures for the Intacct sandbox tests: one sandbox per module, reset before each test.

Requests are hand-written XML strings sent with `requests`; answers are read with defusedxml.
The product's Intacct client is deliberately not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import defusedxml.ElementTree as DET
import pytest
import requests

from local.intacct_sandbox import IntacctSandbox
from local.intacct_sandbox.seed import DEFAULT_SEED

SENDER, SENDER_PW = "intacct-sync-dev", "Sandbox-Sender-Pw1"
COMPANY, USER, USER_PW = "DEMO-CO", "ws_sync", "Sandbox-User-Pw1"


def x(value: str) -> str:
    """XML-escape text for hand-written requests."""
    return escape(value, {'"': "&quot;"})


def envelope(
    functions: str,
    *,
    sender: str = SENDER,
    sender_pw: str = SENDER_PW,
    company: str = COMPANY,
    user: str = USER,
    user_pw: str = USER_PW,
    session: str | None = None,
    locationid: str | None = None,
    uniqueid: bool | None = False,
    transaction: bool = False,
    controlid: str = "req-1",
) -> str:
    if session is not None:
        auth = f"<sessionid>{x(session)}</sessionid>"
    else:
        loc = f"<locationid>{x(locationid)}</locationid>" if locationid is not None else ""
        auth = (
            f"<login><userid>{x(user)}</userid><companyid>{x(company)}</companyid>"
            f"<password>{x(user_pw)}</password>{loc}</login>"
        )
    uid = "" if uniqueid is None else f"<uniqueid>{'true' if uniqueid else 'false'}</uniqueid>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<request><control><senderid>{x(sender)}</senderid><password>{x(sender_pw)}</password>"
        f"<controlid>{x(controlid)}</controlid>{uid}<dtdversion>3.0</dtdversion>"
        "<includewhitespace>false</includewhitespace></control>"
        f'<operation transaction="{"true" if transaction else "false"}"><authentication>{auth}</authentication>'
        f"<content>{functions}</content></operation></request>"
    )


def fn(controlid: str, body: str) -> str:
    return f'<function controlid="{x(controlid)}">{body}</function>'


@dataclass
class Answer:
    http: requests.Response
    root: Element

    @property
    def control_status(self) -> str | None:
        return self.root.findtext("control/status")

    @property
    def auth_status(self) -> str | None:
        return self.root.findtext("operation/authentication/status")

    def control_error(self) -> Element | None:
        return self.root.find("errormessage/error")

    def auth_error(self) -> Element | None:
        return self.root.find("operation/errormessage/error")

    def results(self) -> list[Element]:
        return self.root.findall("operation/result")

    def result(self, i: int = 0) -> Element:
        return self.results()[i]

    def status(self, i: int = 0) -> str | None:
        return self.result(i).findtext("status")

    def errorno(self, i: int = 0) -> str | None:
        return self.result(i).findtext("errormessage/error/errorno")

    def errortext(self, i: int = 0) -> str:
        e = self.result(i).find("errormessage/error")
        assert e is not None, "no error in result"
        return " | ".join(e.findtext(t) or "" for t in ("description", "description2", "correction"))

    def data(self, i: int = 0) -> Element:
        d = self.result(i).find("data")
        assert d is not None, f"no data: {DET.tostring(self.result(i))!r}"
        return d


class Client:
    def __init__(self, sb: IntacctSandbox) -> None:
        self.sb = sb
        self.http = requests.Session()

    def post(self, xml: str | bytes, url: str | None = None, timeout: float = 10) -> Answer:
        data = xml.encode("utf-8") if isinstance(xml, str) else xml
        resp = self.http.post(
            url or self.sb.url, data=data, headers={"Content-Type": "application/xml"}, timeout=timeout
        )
        return Answer(resp, DET.fromstring(resp.content))

    def call(self, *functions: str, url: str | None = None, **kw: object) -> Answer:
        return self.post(envelope("".join(functions), **kw), url=url)  # type: ignore[arg-type]

    def one(self, body: str, controlid: str = "f1", **kw: object) -> Answer:
        return self.call(fn(controlid, body), **kw)

    def login_session(self, **kw: object) -> tuple[str, str]:
        a = self.one("<getAPISession/>", **kw)
        assert a.status() == "success", a.errortext()
        api = a.data().find("api")
        assert api is not None
        return api.findtext("sessionid") or "", api.findtext("endpoint") or ""


def date_xml(tag: str, iso: str) -> str:
    y, m, d = iso.split("-")
    return f"<{tag}><year>{y}</year><month>{m}</month><day>{d}</day></{tag}>"


def invoice_xml(
    *,
    ttype: str = "Sales Invoice",
    customer: str = "C-1001",
    docno: str | None = None,
    lines: str | None = None,
    subtotals: str = "",
    extra_before_lines: str = "",
    header_after_customer: str = "<termname>Net 30</termname>",
    created: str = "2024-05-01",
) -> str:
    lines = lines or (
        "<sotransitem><itemid>TSHIRT-S</itemid><warehouseid>WH-EAST</warehouseid><quantity>2</quantity>"
        "<unit>Each</unit><price>19.99</price><locationid>100</locationid><departmentid>SALES</departmentid>"
        "</sotransitem>"
    )
    doc = f"<documentno>{x(docno)}</documentno>" if docno else ""
    return (
        f"<create_sotransaction><transactiontype>{x(ttype)}</transactiontype>{date_xml('datecreated', created)}"
        f"<customerid>{x(customer)}</customerid>{doc}{header_after_customer}{extra_before_lines}"
        f"<sotransitems>{lines}</sotransitems>{subtotals}</create_sotransaction>"
    )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[IntacctSandbox]:
    sb = IntacctSandbox.start()
    yield sb
    sb.stop()


@pytest.fixture
def sb(sandbox: IntacctSandbox) -> IntacctSandbox:
    # End what a previous test left waiting (hang faults, holds) and let it finish before the reset.
    sandbox.release_holds()
    sandbox.release_hangs()
    assert sandbox.wait_idle(timeout_s=30), "a gateway request of a previous test is still in flight"
    sandbox.reset(seed=DEFAULT_SEED)
    sandbox.set_latency(0)
    sandbox.set_max_concurrency(None)
    return sandbox


@pytest.fixture
def client(sb: IntacctSandbox) -> Iterator[Client]:
    c = Client(sb)
    yield c
    c.http.close()
