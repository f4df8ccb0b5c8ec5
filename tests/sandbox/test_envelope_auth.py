"""Envelope grammar, the four authentication failures, sessions."""

from __future__ import annotations

import copy
import json

import pytest

from local.intacct_sandbox import IntacctSandbox
from local.intacct_sandbox.seed import DEFAULT_SEED

from .conftest import COMPANY, SENDER, USER, Client, envelope, fn

LOOKUP = "<lookup><object>CUSTOMER</object></lookup>"


def test_not_well_formed_is_control_schema_error(client: Client) -> None:
    a = client.post("<request><control>")
    assert a.http.status_code == 200
    assert a.control_status == "failure"
    err = a.control_error()
    assert err is not None and err.findtext("errorno") == "XL03000003"
    assert (err.findtext("description") or "").startswith("XML Parse schema error")
    assert a.root.find("operation") is None


def test_doctype_and_entities_are_refused(client: Client) -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><request>&a;</request>'
    a = client.post(bomb)
    assert a.control_status == "failure"
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]


def test_control_element_order_is_enforced(client: Client) -> None:
    xml = envelope(fn("f", LOOKUP)).replace(
        "<senderid>intacct-sync-dev</senderid><password>Sandbox-Sender-Pw1</password>",
        "<password>Sandbox-Sender-Pw1</password><senderid>intacct-sync-dev</senderid>",
    )
    a = client.post(xml)
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]


def test_function_controlid_required_and_length(client: Client) -> None:
    a = client.post(envelope(f"<function>{LOOKUP}</function>"))
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    a = client.post(envelope(fn("x" * 257, LOOKUP)))
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    a = client.post(envelope(fn("x" * 256, LOOKUP)))
    assert a.status() == "success"


def test_wrong_dtdversion_and_policy(client: Client) -> None:
    a = client.post(envelope(fn("f", LOOKUP)).replace("<dtdversion>3.0</dtdversion>", "<dtdversion>2.1</dtdversion>"))
    assert a.control_error().findtext("errorno") == "XL03000003"  # type: ignore[union-attr]
    a = client.post(
        envelope(fn("f", LOOKUP)).replace(
            "<dtdversion>3.0</dtdversion>", "<dtdversion>3.0</dtdversion><policyid>p1</policyid>"
        )
    )
    err = a.control_error()
    assert err is not None and err.findtext("errorno") == "XL03000006"
    assert "not a valid transport policy" in (err.findtext("description") or "")


def test_bad_sender_is_control_failure(client: Client) -> None:
    a = client.one(LOOKUP, sender_pw="wrong")
    assert a.control_status == "failure"
    err = a.control_error()
    assert err is not None and err.findtext("errorno") == "XL03000006"
    assert err.findtext("description") == "Incorrect Intacct XML Partner ID or password."
    # sender password is case-sensitive
    a = client.one(LOOKUP, sender_pw="sandbox-sender-pw1")
    assert a.control_status == "failure"


def test_bad_login_is_authentication_failure(client: Client) -> None:
    for kw in ({"user_pw": "nope"}, {"company": "demo-co"}, {"user": "WS_SYNC"}):
        a = client.one(LOOKUP, **kw)
        assert a.control_status == "success"
        assert a.auth_status == "failure"
        err = a.auth_error()
        assert err is not None and err.findtext("errorno") == "XL03000006"
        assert err.findtext("description") == "Sign-in information is incorrect"
        assert a.results() == []


def test_sender_not_authorised_for_company(sandbox: IntacctSandbox) -> None:
    seed = copy.deepcopy(json.loads(DEFAULT_SEED.read_text()))
    seed["companies"][0]["authorized_senders"] = []
    sandbox.reset(seed=seed)
    c = Client(sandbox)
    a = c.one(LOOKUP)
    assert a.control_status == "success" and a.auth_status == "failure"
    err = a.auth_error()
    assert err is not None
    assert err.findtext("description") == "Invalid Web Services Authorization"
    assert err.findtext("description2") == (
        f"The sender ID '{SENDER}' is not authorized to make Web Services requests to company ID '{COMPANY}'."
    )
    assert err.findtext("correction")


def test_entity_login(sandbox: IntacctSandbox) -> None:
    seed = copy.deepcopy(json.loads(DEFAULT_SEED.read_text()))
    seed["companies"][0]["entities"] = ["100"]
    sandbox.reset(seed=seed)
    c = Client(sandbox)
    a = c.one(LOOKUP, locationid="999")
    assert a.auth_status == "failure"
    assert a.auth_error().findtext("errorno") == "XL03000006"  # type: ignore[union-attr]
    a = c.one(LOOKUP, locationid="100")
    assert a.auth_status == "success"
    assert a.root.findtext("operation/authentication/locationid") == "100"
    # multi-entity: a line without location is refused at top level, defaulted at entity level
    line = "<sotransitem><itemid>MUG-01</itemid><warehouseid>WH-EAST</warehouseid><quantity>1</quantity></sotransitem>"
    body = (
        "<create_sotransaction><transactiontype>Sales Invoice</transactiontype><datecreated><year>2024</year>"
        "<month>5</month><day>1</day></datecreated><customerid>C-1001</customerid>"
        f"<sotransitems>{line}</sotransitems></create_sotransaction>"
    )
    a = c.one(body)
    assert a.status() == "failure" and "Location is required" in a.errortext()
    a = c.one(body, locationid="100")
    assert a.status() == "success"


def test_session_flow(client: Client, sb: IntacctSandbox) -> None:
    sid, endpoint = client.login_session()
    assert endpoint == f"{sb.base_url}/na1/ia/xml/xmlgw.phtml"
    assert endpoint != sb.url
    a = client.one(LOOKUP, session=sid, url=endpoint)
    assert a.auth_status == "success"
    auth = a.root.find("operation/authentication")
    assert auth is not None
    assert auth.findtext("userid") == USER and auth.findtext("companyid") == COMPANY
    assert auth.findtext("sessiontimestamp") and auth.findtext("sessiontimeout")
    # the session id is not accepted at the login endpoint
    a = client.one(LOOKUP, session=sid)
    assert a.auth_status == "failure"
    assert a.auth_error().findtext("errorno") == "XL03000006"  # type: ignore[union-attr]
    # login credentials are accepted at both endpoints
    assert client.one(LOOKUP, url=endpoint).auth_status == "success"
    # expiry
    sb.expire_sessions()
    a = client.one(LOOKUP, session=sid, url=endpoint)
    assert a.auth_status == "failure"
    assert a.auth_error().findtext("description") == "Invalid session"  # type: ignore[union-attr]
    log = sb.requests
    assert [r.auth for r in log[-2:]] == ["login", "session"]


def test_session_sliding_timeout() -> None:
    # On the sandbox clock: each use slides the expiry on, with no real waiting to race against.
    with IntacctSandbox.start(session_timeout_s=40) as sb:
        c = Client(sb)
        sid, endpoint = c.login_session()
        for _ in range(3):
            sb.advance_clock(30)
            assert c.one(LOOKUP, session=sid, url=endpoint).auth_status == "success"
        sb.advance_clock(41)
        assert c.one(LOOKUP, session=sid, url=endpoint).auth_status == "failure"
        with pytest.raises(ValueError, match="forward"):
            sb.advance_clock(-1)


def test_getapisession_with_bad_location_fails(client: Client) -> None:
    a = client.one("<getAPISession><locationid>NOPE</locationid></getAPISession>")
    assert a.status() == "failure"
    assert a.errorno() == "Get API Session Failed"


def test_too_many_functions() -> None:
    with IntacctSandbox.start(max_functions=3) as sb:
        c = Client(sb)
        a = c.call(*[fn(f"f{i}", LOOKUP) for i in range(4)])
        assert a.control_status == "failure"
        assert a.control_error().findtext("errorno") == "GW-0011"  # type: ignore[union-attr]
        assert c.call(*[fn(f"f{i}", LOOKUP) for i in range(3)]).control_status == "success"


def test_unknown_function_is_a_failure_result(client: Client) -> None:
    a = client.call(fn("a", "<frobnicate><x>1</x></frobnicate>"), fn("b", LOOKUP))
    assert a.status(0) == "failure"
    assert "frobnicate" in a.errortext(0)
    assert a.status(1) == "success"


def test_response_echoes_control(client: Client) -> None:
    a = client.call(fn("f1", LOOKUP), controlid="my-req-42", uniqueid=False)
    ctl = a.root.find("control")
    assert ctl is not None
    assert ctl.findtext("senderid") == SENDER
    assert ctl.findtext("controlid") == "my-req-42"
    assert ctl.findtext("uniqueid") == "false"
    assert ctl.findtext("dtdversion") == "3.0"
    assert a.result().findtext("function") == "lookup"
    assert a.result().findtext("controlid") == "f1"
    assert a.http.headers["Content-Type"].startswith("text/xml")
