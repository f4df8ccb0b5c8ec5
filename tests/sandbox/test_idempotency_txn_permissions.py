"""uniqueid + function controlid, transaction="true" rollback, role permissions."""

from __future__ import annotations

import copy
import json

from local.intacct_sandbox import IntacctSandbox
from local.intacct_sandbox.seed import DEFAULT_SEED

from .conftest import Client, fn, invoice_xml

CUSTOMER = (
    "<create><CUSTOMER><CUSTOMERID>{id}</CUSTOMERID><NAME>{id}</NAME>"
    "<DISPLAYCONTACT><PRINTAS>{id}</PRINTAS></DISPLAYCONTACT></CUSTOMER></create>"
)


def test_duplicate_controlid_under_uniqueid_true(client: Client, sb: IntacctSandbox) -> None:
    a = client.one(invoice_xml(), controlid="so-inv-1001", uniqueid=True)
    assert a.status() == "success"
    a = client.one(invoice_xml(), controlid="so-inv-1001", uniqueid=True)
    assert a.status() == "failure"
    assert a.errorno() == "XL03000012"
    assert "Duplicate control ID" in a.errortext()
    assert len(sb.snapshot()["documents"]) == 1
    # uniqueid=false: no check
    a = client.one(invoice_xml(), controlid="so-inv-1001", uniqueid=False)
    assert a.status() == "success"
    assert len(sb.snapshot()["documents"]) == 2


def test_failed_function_controlid_can_be_retried(client: Client) -> None:
    a = client.one(invoice_xml(customer="C-404"), controlid="so-x", uniqueid=True)
    assert a.status() == "failure"
    a = client.one(invoice_xml(), controlid="so-x", uniqueid=True)
    assert a.status() == "success", a.errortext()


def test_transaction_true_rolls_back_everything(client: Client, sb: IntacctSandbox) -> None:
    a = client.call(
        fn("c1", CUSTOMER.format(id="T-1")),
        fn("inv", invoice_xml(customer="T-1")),
        fn("bad", invoice_xml(customer="C-404")),
        fn("after", CUSTOMER.format(id="T-2")),
        transaction=True,
        uniqueid=True,
    )
    assert [a.status(i) for i in range(4)] == ["aborted", "aborted", "failure", "aborted"]
    for i in (0, 1, 3):
        assert a.errorno(i) == "XL03000009"
        assert "rolled back" in a.errortext(i)
    errnos = [e.findtext("errorno") for e in a.result(2).findall("errormessage/error")]
    assert errnos == ["BL01001973", "XL03000009"]
    snap = sb.snapshot()
    assert [c["CUSTOMERID"] for c in snap["customers"]] == ["C-1001", "C-1002", "C-1003"]
    assert snap["documents"] == [] and snap["arinvoices"] == []
    # aborted controlids were not recorded: the fixed batch goes through
    a = client.call(
        fn("c1", CUSTOMER.format(id="T-1")),
        fn("inv", invoice_xml(customer="T-1")),
        transaction=True,
        uniqueid=True,
    )
    assert [a.status(i) for i in range(2)] == ["success", "success"]


def test_transaction_false_functions_are_independent(client: Client, sb: IntacctSandbox) -> None:
    a = client.call(
        fn("c1", CUSTOMER.format(id="T-1")),
        fn("bad", invoice_xml(customer="C-404")),
        fn("c2", CUSTOMER.format(id="T-2")),
    )
    assert [a.status(i) for i in range(3)] == ["success", "failure", "success"]
    assert {"T-1", "T-2"} <= {c["CUSTOMERID"] for c in sb.snapshot()["customers"]}


def test_missing_permission(sandbox: IntacctSandbox) -> None:
    seed = json.loads(DEFAULT_SEED.read_text())
    sandbox.reset(seed=seed)
    c = Client(sandbox)
    ro = {"user": "ws_readonly", "user_pw": "Sandbox-User-Pw2"}
    a = c.one(CUSTOMER.format(id="P-1"), **ro)
    assert a.status() == "failure"
    assert a.errorno() == "PL04000005"
    assert a.result().findtext("errormessage/error/description") == (
        "You do not have permission for API operation CREATE on objects of type customer"
    )
    a = c.one("<readByQuery><object>ARPYMT</object><query></query></readByQuery>", **ro)
    assert a.errorno() == "PL04000005"
    assert "READ_BY_QUERY on objects of type arpymt" in a.errortext()
    a = c.one(invoice_xml(), **ro)
    assert a.errorno() == "PL04000005"
    assert "Order Entry/Sales Invoice" in a.errortext()
    # reads the role allows
    a = c.one("<query><object>CUSTOMER</object><select><field>CUSTOMERID</field></select></query>", **ro)
    assert a.status() == "success"
    # SODOCUMENT list needs Order Entry/<docparid>
    seed2 = copy.deepcopy(seed)
    seed2["companies"][0]["users"][0]["permissions"].pop("Order Entry/Transactions")
    seed2["companies"][0]["users"][0]["permissions"]["Order Entry/Sales Invoice"] = ["add"]
    sandbox.reset(seed=seed2)
    a = c.one("<readByQuery><object>SODOCUMENT</object><docparid>Sales Invoice</docparid><query></query></readByQuery>")
    assert a.errorno() == "PL04000005"
    assert "READ_BY_QUERY on objects of type sodocument" in a.errortext()
    assert c.one(invoice_xml(), controlid="ok").status() == "success"


def test_absent_uniqueid_means_true(client: Client) -> None:
    a = client.one(invoice_xml(), controlid="same", uniqueid=None)
    assert a.root.findtext("control/uniqueid") == "true"
    assert a.status() == "success"
    assert client.one(invoice_xml(), controlid="same", uniqueid=None).errorno() == "XL03000012"


def test_internal_error_becomes_failure_result(client: Client, monkeypatch: object) -> None:
    from local.intacct_sandbox.functions import REGISTRY, Entry

    def boom(ctx: object, el: object) -> object:
        raise RuntimeError("kaboom")

    monkeypatch.setitem(REGISTRY, "lookup", Entry(boom))  # type: ignore[attr-defined]
    a = client.call(fn("a", "<lookup><object>ITEM</object></lookup>"), fn("b", CUSTOMER.format(id="OK-1")))
    assert a.status(0) == "failure"
    assert "kaboom" in a.errortext(0)
    assert a.status(1) == "success"
