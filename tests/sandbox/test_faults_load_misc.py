"""Faults, concurrency limit, latency, hostile strings, snapshot, admin endpoints, CLI."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from local.intacct_sandbox import Fault, IntacctSandbox

from .conftest import Client, fn, invoice_xml, x

LOOKUP = "<lookup><object>ITEM</object></lookup>"
ROOT = Path(__file__).resolve().parents[2]


def test_http_error_fault_does_not_process(client: Client, sb: IntacctSandbox) -> None:
    sb.inject(Fault("http_error", status=502, function="create_sotransaction"))
    r = client.http.post(sb.url, data=client_xml(invoice_xml()).encode())
    assert r.status_code == 502
    assert "Bad Gateway" in r.text
    assert sb.snapshot()["documents"] == []
    assert sb.requests[-1].fault == "http_error" and sb.requests[-1].http_status == 502
    # fired once, the retry goes through
    assert client.one(invoice_xml()).status() == "success"


def client_xml(body: str, **kw: object) -> str:
    from .conftest import envelope

    return envelope(fn("f1", body), **kw)  # type: ignore[arg-type]


def test_fault_only_matches_named_function(client: Client, sb: IntacctSandbox) -> None:
    sb.inject(Fault("http_error", status=500, function="create_sotransaction", times=None))
    assert client.one(LOOKUP).status() == "success"
    for _ in range(2):
        r = client.http.post(sb.url, data=client_xml(invoice_xml()).encode())
        assert r.status_code == 500
    sb.clear_faults()
    assert client.one(invoice_xml()).status() == "success"


def test_lose_response_commits_then_fails(client: Client, sb: IntacctSandbox) -> None:
    sb.inject(Fault("lose_response", function="create_sotransaction"))
    body = client_xml(invoice_xml(docno="LOST-1"), uniqueid=True)
    r = client.http.post(sb.url, data=body.encode())
    assert r.status_code == 504
    assert "<response>" not in r.text
    assert [d["DOCID"] for d in sb.snapshot()["documents"]] == ["Sales Invoice-LOST-1"]
    # the blind retry is refused by uniqueid; the lookup by number finds the document
    a = client.post(body)
    assert a.status() == "failure" and a.errorno() == "XL03000012"
    log = sb.requests[-2]
    assert log.fault == "lose_response" and log.functions[0].status == "success"


def test_hang_fault_times_out_client(client: Client, sb: IntacctSandbox) -> None:
    # The hang outlasts the client's timeout by far; the test ends it instead of waiting it out.
    sb.inject(Fault("hang", delay_s=60))
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.http.post(sb.url, data=client_xml(invoice_xml()).encode(), timeout=0.2)
    assert sb.wait_for_requests(1), "the hung request was not logged"  # logged once processed
    assert sb.requests[0].fault == "hang"
    assert len(sb.snapshot()["documents"]) == 1
    sb.release_hangs()
    assert sb.wait_idle()


def test_function_error_fault(client: Client, sb: IntacctSandbox) -> None:
    sb.inject(
        Fault(
            "function_error",
            function="create_sotransaction",
            errorno="BL03000018",
            description="Injected",
            description2="Something broke",
            correction="Try later",
        )
    )
    a = client.call(fn("look", LOOKUP), fn("inv", invoice_xml()))
    assert a.status(0) == "success"
    assert a.status(1) == "failure"
    assert a.errorno(1) == "BL03000018"
    assert a.errortext(1) == "Injected | Something broke | Try later"
    assert sb.snapshot()["documents"] == []


def test_rate_limit_fault(client: Client, sb: IntacctSandbox) -> None:
    sb.inject(Fault("rate_limit", times=2))
    for _ in range(2):
        a = client.one(LOOKUP)
        assert a.http.status_code == 429
        assert a.control_status == "failure"
        assert a.control_error().findtext("errorno") == "GW-0010"  # type: ignore[union-attr]
    assert client.one(LOOKUP).http.status_code == 200


def test_raw_response_fault(client: Client, sb: IntacctSandbox) -> None:
    sb.inject(Fault("raw_response", body="The Service is Temporarily Off-line", content_type="text/html"))
    r = client.http.post(sb.url, data=client_xml(LOOKUP).encode())
    assert r.status_code == 200 and r.text == "The Service is Temporarily Off-line"
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        "<response>&lol2;</response>"
    )
    sb.inject(Fault("raw_response", body=bomb.encode()))
    r = client.http.post(sb.url, data=client_xml(LOOKUP).encode())
    assert r.content == bomb.encode()


def test_concurrency_limit_answers_429(sb: IntacctSandbox) -> None:
    # The two requests that get a slot are held until all five have arrived: the other three
    # always find both slots taken, however the threads are scheduled.
    sb.set_max_concurrency(2)
    hold = sb.hold_until(arrivals=5, timeout_s=30)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with requests.Session() as s:
            r = s.post(sb.url, data=client_xml(LOOKUP).encode(), timeout=5)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hold.reached and not hold.timed_out
    assert sorted(statuses) == [200, 200, 429, 429, 429]
    rejected = [r for r in sb.requests if r.http_status == 429]
    assert len(rejected) == 3
    assert sb.peak_inflight == 2
    sb.set_max_concurrency(None)


def test_latency_is_kept_beside_holds(sb: IntacctSandbox) -> None:
    """A hold decides that requests overlap; latency still delays every answer."""
    sb.set_latency(50)
    sb.set_max_concurrency(1)
    hold = sb.hold_until(arrivals=2, timeout_s=30)
    statuses: list[int] = []

    def worker() -> None:
        with requests.Session() as s:
            statuses.append(s.post(sb.url, data=client_xml(LOOKUP).encode(), timeout=30).status_code)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hold.reached
    assert sorted(statuses) == [200, 429]
    start = time.monotonic()
    assert Client(sb).one(LOOKUP).http.status_code == 200
    assert time.monotonic() - start >= 0.05  # a lower bound only: sleeping never ends early


def test_a_hold_counts_only_its_function_and_times_out_as_a_guard(client: Client, sb: IntacctSandbox) -> None:
    hold = sb.hold_until(arrivals=2, timeout_s=0.3, function="create_sotransaction")
    assert client.one(LOOKUP).status() == "success"  # not counted, not held
    assert hold.arrived == 0 and not hold.done
    assert client.one(invoice_xml()).status() == "success"  # held alone, goes on at the timeout
    assert hold.done and hold.timed_out and not hold.reached and hold.arrived == 1
    with pytest.raises(ValueError, match="arrivals"):
        sb.hold_until(arrivals=0)


HOSTILE = [
    "Quote \" and apostrophe ' and <tag> & amp",
    "CDATA end ]]> inside",
    "emoji 🧾🚀 and accents éàü and CJK 漢字",
    "x" * 255,
    "  leading and trailing spaces  ",
    "line\nbreak",
]


def test_hostile_strings_round_trip(client: Client) -> None:
    for i, s in enumerate(HOSTILE):
        cid = f"H-{i}"
        a = client.one(
            f"<create><CUSTOMER><CUSTOMERID>{cid}</CUSTOMERID><NAME>{x(s)}</NAME>"
            f"<DISPLAYCONTACT><PRINTAS>{x(s)}</PRINTAS><EMAIL1>{x(s)}</EMAIL1></DISPLAYCONTACT></CUSTOMER></create>",
            controlid=f"h{i}",
        )
        assert a.status() == "success", a.errortext()
        q = client.one(
            f"<query><object>CUSTOMER</object><select><field>NAME</field><field>DISPLAYCONTACT.EMAIL1</field>"
            f"</select><filter><equalto><field>NAME</field><value>{x(s)}</value></equalto></filter></query>",
            controlid=f"q{i}",
        )
        row = q.data().find("CUSTOMER")
        assert row is not None, s
        assert row.findtext("NAME") == s
        assert row.findtext("DISPLAYCONTACT.EMAIL1") == s
        doc = invoice_xml(customer=cid, header_after_customer=f"<termname>Net 30</termname><message>{x(s)}</message>")
        a = client.one(doc, controlid=f"i{i}")
        assert a.status() == "success", a.errortext()
    # the raw response is UTF-8 encoded and declared as such
    a = client.one("<readByName><object>CUSTOMER</object><keys>H-2</keys></readByName>", controlid="raw")
    assert "🧾".encode() in a.http.content
    assert a.http.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


def test_snapshot_shape(client: Client, sb: IntacctSandbox) -> None:
    client.one(invoice_xml())
    snap = sb.snapshot()
    for key in (
        "customers",
        "contacts",
        "items",
        "warehouses",
        "documents",
        "invoices",
        "arinvoices",
        "payments",
        "onhand",
        "companies",
    ):
        assert key in snap
    doc = snap["invoices"][0]
    assert doc["DOCID"] == "Sales Invoice-INV0001"
    assert doc["ENTRIES"][0]["ITEMID"] == "TSHIRT-S"
    assert doc["PRRECORDKEY"] == snap["arinvoices"][0]["RECORDNO"]
    assert doc["WHENCREATED"] == "05/01/2024"
    import json

    json.dumps(snap)


def test_admin_endpoints(client: Client, sb: IntacctSandbox) -> None:
    base = sb.base_url
    client.one(invoice_xml())
    state = requests.get(f"{base}/_sandbox/state", timeout=5).json()
    assert len(state["documents"]) == 1
    reqs = requests.get(f"{base}/_sandbox/requests", timeout=5).json()
    assert reqs[-1]["functions"][0]["name"] == "create_sotransaction"
    assert reqs[-1]["functions"][0]["status"] == "success"
    r = requests.post(f"{base}/_sandbox/faults", json={"kind": "http_error", "status": 503}, timeout=5)
    assert r.status_code == 200
    assert client.http.post(sb.url, data=client_xml(LOOKUP).encode()).status_code == 503
    requests.post(f"{base}/_sandbox/faults", json={"kind": "http_error", "status": 503, "times": None}, timeout=5)
    requests.delete(f"{base}/_sandbox/faults", timeout=5)
    assert client.one(LOOKUP).status() == "success"
    assert requests.post(f"{base}/_sandbox/faults", json={"kind": "bogus"}, timeout=5).status_code == 400
    r = requests.post(f"{base}/_sandbox/config", json={"latency_ms": 5, "max_concurrency": 4}, timeout=5)
    assert r.json()["max_concurrency"] == 4
    requests.post(f"{base}/_sandbox/config", json={"latency_ms": 0, "max_concurrency": None}, timeout=5)
    r = requests.post(f"{base}/_sandbox/hold", json={"arrivals": 3, "timeout_s": 20}, timeout=5)
    assert r.json() == {
        "arrivals": 3,
        "timeout_s": 20.0,
        "function": None,
        "arrived": 0,
        "reached": False,
        "done": False,
        "timed_out": False,
    }
    assert requests.get(f"{base}/_sandbox/hold", timeout=5).json()[0]["arrivals"] == 3
    assert requests.delete(f"{base}/_sandbox/hold", timeout=5).status_code == 200
    assert requests.get(f"{base}/_sandbox/hold", timeout=5).json()[0]["done"] is True
    assert requests.post(f"{base}/_sandbox/hold", json={"arrivals": 0}, timeout=5).status_code == 400
    assert requests.post(f"{base}/_sandbox/hold", json={"count": 2}, timeout=5).status_code == 400
    now = requests.post(f"{base}/_sandbox/clock", json={"advance": 10}, timeout=5).json()["now"]
    assert now == pytest.approx(sb.clock(), abs=5)
    sid, endpoint = client.login_session()
    requests.post(f"{base}/_sandbox/sessions/expire", timeout=5)
    assert client.one(LOOKUP, session=sid, url=endpoint).auth_status == "failure"
    requests.post(f"{base}/_sandbox/reset", timeout=5)
    assert requests.get(f"{base}/_sandbox/state", timeout=5).json()["documents"] == []
    assert requests.get(f"{base}/_sandbox/requests", timeout=5).json() == []


def test_db_file_persists(tmp_path: Path) -> None:
    db = tmp_path / "sb.sqlite3"
    with IntacctSandbox.start(db_path=db) as sb:
        assert Client(sb).one(invoice_xml()).status() == "success"
    with IntacctSandbox.start(db_path=db) as sb:
        assert len(sb.snapshot()["documents"]) == 1


def test_cli_show(client: Client, sb: IntacctSandbox) -> None:
    client.one(invoice_xml())
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "local.intacct_sandbox", "show", "--url", sb.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "Sales Invoice-INV0001" in out
    assert "Ada Lovelace" in out
    assert "TSHIRT-S" in out


def test_cli_serve_prints_url_and_credentials(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.intacct_sandbox", "serve", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 10
        lines: list[str] = []
        while time.time() < deadline and not any("Ctrl-C" in ln for ln in lines):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
        text = "".join(lines)
        assert "/ia/xml/xmlgw.phtml" in text
        assert "intacct-sync-dev" in text and "ws_sync" in text
    finally:
        proc.terminate()
        proc.wait(timeout=5)
