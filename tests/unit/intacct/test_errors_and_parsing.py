"""Response parsing is safe, and every Intacct failure becomes a typed error with its fix."""

from __future__ import annotations

import json

import pytest

from intacct_sync.errors import ConfigurationError, PermanentError, TransientError
from intacct_sync.intacct.credentials import IntacctCredentials
from intacct_sync.intacct.errors import (
    ErrorDetail,
    IntacctAlreadyExecuted,
    IntacctConfigurationError,
    IntacctFunctionError,
    IntacctRateLimited,
    IntacctRequestError,
    IntacctUnavailable,
    classify_auth_failure,
    classify_control_failure,
    classify_function_failure,
)
from intacct_sync.intacct.wire import MalformedResponse, parse_response

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<response><control><status>success</status></control><operation><result><status>success</status>
<function>x</function><controlid>&lol3;</controlid></result></operation></response>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<response><control><status>success</status></control><operation><result><status>success</status>
<function>x</function><controlid>&xxe;</controlid></result></operation></response>"""


def test_parses_aborted_and_failed_results_of_a_transaction() -> None:
    body = b"""<response><control><status>success</status><senderid>s</senderid><controlid>c</controlid>
    <uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation><authentication>
    <status>success</status><userid>u</userid><companyid>co</companyid><sessiontimeout>2024-01-01T00:00:00</sessiontimeout>
    </authentication><result><status>aborted</status><function>readByQuery</function><controlid>f1</controlid>
    <errormessage><error><errorno>XL03000009</errorno><description2>The entire transaction in this operation has
    been rolled back due to an error.</description2></error></errormessage></result><result><status>failure</status>
    <function>create</function><controlid>f2</controlid><errormessage><error><errorno>BL01001973</errorno>
    <description>Duplicate account number</description></error><error><errorno>BL01001973</errorno>
    <description2>already exists</description2></error></errormessage></result></operation></response>"""
    r = parse_response(body)
    assert r.control_status == "success" and r.auth_status == "success"
    assert [x.status for x in r.results] == ["aborted", "failure"]
    assert r.results[0].errors[0].errorno == "XL03000009"
    assert len(r.results[1].errors) == 2
    assert r.session_timeout == "2024-01-01T00:00:00"


def test_parses_readbyquery_paging_attributes_and_flattens_nested_fields() -> None:
    body = b"""<response><control><status>success</status></control><operation><authentication><status>success
    </status></authentication><result><status>success</status><function>readByQuery</function><controlid>q</controlid>
    <data listtype="customer" count="1" totalcount="2" numremaining="1" resultId="myResultId"><customer>
    <RECORDNO>1</RECORDNO><DISPLAYCONTACT><EMAIL1>a@b.c</EMAIL1></DISPLAYCONTACT><EMPTY/></customer></data>
    </result></operation></response>"""
    res = parse_response(body).results[0]
    assert (res.count, res.total_count, res.num_remaining, res.result_id) == (1, 2, 1, "myResultId")
    assert res.records() == [{"RECORDNO": "1", "DISPLAYCONTACT.EMAIL1": "a@b.c", "EMPTY": ""}]


@pytest.mark.parametrize("body", [BOMB, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_xml_bombs_and_external_entities_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_response(body)


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>502 Bad Gateway</html>", b"not xml", b"<response/>", b"<response><control/></response>"],
)
def test_non_intacct_bodies_are_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_response(body)


def e(no: str, d: str = "", d2: str = "", c: str = "") -> list[ErrorDetail]:
    return [ErrorDetail(no, d, d2, c)]


def test_bad_sender_password_names_the_sender_keys() -> None:
    err = classify_control_failure(e("XL03000006", "Incorrect Intacct XML Partner ID or password."), sender_id="S1")
    assert isinstance(err, IntacctConfigurationError) and isinstance(err, ConfigurationError)
    assert "sender_password" in str(err.fix) and "S1" in str(err.fix)


def test_unauthorised_sender_points_at_web_services_authorizations() -> None:
    err = classify_auth_failure(
        e(
            "XL03000006",
            "Invalid Web Services Authorization",
            "The sender ID 'S1' is not authorized to make Web Services requests to company ID 'C'.",
        ),
        sender_id="S1",
        entity_id=None,
    )
    assert isinstance(err, IntacctConfigurationError)
    assert "Company > Setup > Company > Security" in str(err.fix)
    assert "Web Services authorizations" in str(err.fix) and "'S1'" in str(err.fix)


def test_bad_user_credentials_point_at_the_web_services_user() -> None:
    err = classify_auth_failure(e("XL03000006", "Sign-in information is incorrect"), sender_id="S", entity_id=None)
    assert isinstance(err, IntacctConfigurationError)
    assert "Web Services users" in str(err.fix) and "user_password" in str(err.fix)


def test_gateway_401_sign_in_error_names_every_credential() -> None:
    err = classify_control_failure(e("XMLGW_JPP0002", "Sign-in information is incorrect."), sender_id="S")
    assert isinstance(err, IntacctConfigurationError)
    assert "sender_id" in str(err.fix) and "user_id" in str(err.fix)


def test_permission_error_names_module_object_and_permission() -> None:
    err = classify_function_failure(
        e("PL04000005", "You do not have permission for API operation CREATE on objects of type customer"),
        function="create",
        controlid="c",
    )
    assert isinstance(err, IntacctConfigurationError)
    assert "'Add' permission on Accounts Receivable > Customers" in str(err.fix)
    assert "Company > Admin > Roles" in str(err.fix)
    read = classify_function_failure(
        e(
            "PL04000005",
            "You do not have permission for API operation READ_BY_QUERY on objects of type arinvoice",
        ),
        function="readByQuery",
        controlid="c",
    )
    assert "'List and View' permission on Accounts Receivable > Invoices" in str(read.fix)  # type: ignore[attr-defined]


def test_rate_limits_and_offline_are_transient_at_every_level() -> None:
    assert isinstance(classify_control_failure(e("GW-0010"), sender_id="s"), IntacctRateLimited)
    assert isinstance(
        classify_function_failure(e("X", "API rate limit exceeded"), function="f", controlid="c"),
        IntacctRateLimited,
    )
    off = classify_control_failure(e("X", "The Service is Temporarily Off-line"), sender_id="s")
    assert isinstance(off, IntacctUnavailable) and isinstance(off, TransientError)


def test_schema_errors_are_permanent_request_errors() -> None:
    err = classify_control_failure(e("XL03000003", "", "XML Parse schema error: senderid"), sender_id="s")
    assert isinstance(err, IntacctRequestError) and isinstance(err, PermanentError)


def test_expired_demo_company_is_a_configuration_error() -> None:
    err = classify_control_failure(e("PL04000055", "This company is a demo company and has expired."), sender_id="s")
    assert isinstance(err, IntacctConfigurationError)


def test_business_failures_keep_their_details() -> None:
    err = classify_function_failure(
        e("BL01001973", "Item ID 'NOPE' is not valid"), function="create_sotransaction", controlid="so-1"
    )
    assert type(err) is IntacctFunctionError
    assert err.errornos == ("BL01001973",) and err.controlid == "so-1"
    assert "NOPE" in str(err)


def test_duplicate_controlid_is_reported_as_already_executed() -> None:
    err = classify_function_failure(
        e(
            "XL03000012",
            "Duplicate control ID",
            "A function with control ID 'so-1' has already been executed",
        ),
        function="create_sotransaction",
        controlid="so-1",
    )
    assert isinstance(err, IntacctAlreadyExecuted)


def creds(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sender_id": "S",
        "sender_password": "sp",
        "company_id": "C",
        "user_id": "U",
        "user_password": "up",
    }
    base.update(over)
    return base


def test_credentials_secret_validates_and_hides_passwords() -> None:
    c = IntacctCredentials.from_secret(json.dumps(creds(entity_id="")))
    assert c.entity_id is None and c.endpoint_url.startswith("https://api.intacct.com/")
    assert "sp" not in repr(c) and "up" not in repr(c)


def test_credentials_errors_name_each_bad_key_without_echoing_values() -> None:
    bad = creds(user_password="hunter2", endpoint_url="ftp://x", userid="typo")
    del bad["sender_id"]
    with pytest.raises(ConfigurationError) as info:
        IntacctCredentials.from_secret(bad)
    msg = str(info.value)
    assert "'sender_id'" in msg and "'endpoint_url'" in msg and "'userid': unknown key" in msg
    assert "hunter2" not in msg


def test_credentials_that_are_not_json_say_so() -> None:
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        IntacctCredentials.from_secret("{sender_id: S")
