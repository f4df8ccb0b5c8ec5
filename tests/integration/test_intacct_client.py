"""The Intacct client against the sandbox over HTTP: every function, paging, sessions, errors,
retries under injected faults, unknown-outcome writes, hostile strings and hostile responses."""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from intacct_sync.intacct import (
    IntacctAlreadyExecuted,
    IntacctClient,
    IntacctConfigurationError,
    IntacctFunctionError,
    IntacctOutcomeUnknown,
    IntacctRateLimited,
    IntacctUnavailable,
    SessionCache,
)
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import (
    ArPayment,
    Contact,
    CustomerRecord,
    PaymentApplication,
    SalesLine,
    SalesTransaction,
    SalesTransactionUpdate,
    Subtotal,
)
from intacct_sync.retry import Backoff, Deadline
from local.intacct_sandbox import Fault, IntacctSandbox
from tests.conftest import RecordingSleep, make_credentials


def deadline() -> Deadline:
    return Deadline.after(30)


def new_customer(client: IntacctClient, customer_id: str = "WEB-1", name: str = "Jane Doe") -> str:
    rec = CustomerRecord(customer_id=customer_id, name=name, display_contact=Contact(print_as=name))
    client.execute_one(fn.create_customer(rec, controlid=f"cust-{customer_id}"), deadline=deadline())
    return customer_id


def invoice(customer_id: str = "WEB-1", number: str = "SHOP-1001", **over: object) -> SalesTransaction:
    fields: dict[str, object] = {
        "transaction_type": "Sales Invoice",
        "date_created": date(2026, 11, 25),
        "customer_id": customer_id,
        "document_no": number,
        "reference_no": number,
        "term_name": "Net 30",
        "lines": [
            SalesLine(item_id="TSHIRT-M", quantity=Decimal(2), price=Decimal("19.99"), warehouse_id="WH-EAST"),
            SalesLine(item_id="MUG-01", quantity=Decimal(1), price=Decimal("12.50"), warehouse_id="WH-EAST"),
        ],
        "subtotals": [Subtotal("Shipping", Decimal("5.00")), Subtotal("Tax", Decimal("4.20"))],
    }
    fields.update(over)
    return SalesTransaction(**fields)  # type: ignore[arg-type]


def read_invoice(client: IntacctClient, key: str) -> dict[str, str]:
    return next(
        client.iter_query(
            "SODOCUMENT",
            ["RECORDNO", "DOCID", "TOTAL", "PRRECORDKEY", "STATE", "CUSTVENDID"],
            filter=q.eq("DOCID", key),
            docparid="Sales Invoice",
            deadline=deadline(),
        )
    )


def read_ar(client: IntacctClient, recordno: str) -> dict[str, str]:
    return next(
        client.iter_query(
            "ARINVOICE",
            ["RECORDNO", "TOTALDUE", "TOTALPAID", "STATE"],
            filter=q.eq("RECORDNO", recordno),
            deadline=deadline(),
        )
    )


def pay(client: IntacctClient, record_key: str, amount: str, ref: str) -> str:
    payment = ArPayment(
        customer_id="WEB-1",
        payment_method="Credit Card",
        receipt_date=date(2026, 11, 25),
        currency="USD",
        undeposited_account="1200",
        document_number=ref,
        applications=[PaymentApplication(record_key=record_key, amount=Decimal(amount))],
    )
    res = client.execute_one(fn.create_ar_payment(payment, controlid=f"arpymt-{ref}"), deadline=deadline())
    return res.records()[0]["RECORDNO"]


def functions_seen(sandbox: IntacctSandbox) -> list[str]:
    return [f.name for r in sandbox.requests for f in r.functions]


# --- sessions ------------------------------------------------------------------------------


def test_session_is_opened_once_and_used_at_the_endpoint_intacct_returned(
    client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    session = client.session(deadline())
    assert session.endpoint != sandbox.url and session.endpoint.startswith(sandbox.base_url)
    new_customer(client)
    client.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    assert functions_seen(sandbox).count("getAPISession") == 1
    work = [r for r in sandbox.requests if all(f.name != "getAPISession" for f in r.functions)]
    assert work and {r.path for r in work} == {"/na1/ia/xml/xmlgw.phtml"}


def test_a_warm_container_reuses_the_session_across_clients(sandbox: IntacctSandbox) -> None:
    shared = SessionCache()
    for _ in range(3):
        c = IntacctClient(make_credentials(sandbox), sessions=shared)
        c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    assert functions_seen(sandbox).count("getAPISession") == 1


def test_an_expired_session_is_renewed_once_and_the_request_succeeds(
    client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    client.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    sandbox.expire_sessions()
    new_customer(client)
    assert functions_seen(sandbox).count("getAPISession") == 2
    assert [c["CUSTOMERID"] for c in sandbox.snapshot()["customers"]].count("WEB-1") == 1


# --- every function ------------------------------------------------------------------------


def test_invoice_is_created_read_back_with_its_ar_record_and_paid(client: IntacctClient) -> None:
    new_customer(client)
    key = client.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline()).key
    assert key == "Sales Invoice-SHOP-1001"
    doc = read_invoice(client, key)
    assert Decimal(doc["TOTAL"]) == Decimal("61.68")  # 2*19.99 + 12.50 + 5.00 + 4.20
    ar = read_ar(client, doc["PRRECORDKEY"])
    assert Decimal(ar["TOTALDUE"]) == Decimal("61.68")

    pay(client, doc["PRRECORDKEY"], "20.00", "p1")
    assert Decimal(read_ar(client, doc["PRRECORDKEY"])["TOTALDUE"]) == Decimal("41.68")
    pay(client, doc["PRRECORDKEY"], "41.68", "p2")
    ar = read_ar(client, doc["PRRECORDKEY"])
    assert Decimal(ar["TOTALDUE"]) == 0 and Decimal(ar["TOTALPAID"]) == Decimal("61.68")


def test_update_recreates_the_ar_record_and_delete_removes_the_invoice(client: IntacctClient) -> None:
    new_customer(client)
    key = client.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline()).key or ""
    before = read_invoice(client, key)
    update = SalesTransactionUpdate(
        message="address changed",
        line_updates={
            1: SalesLine(item_id="TSHIRT-M", quantity=Decimal(3), price=Decimal("19.99"), warehouse_id="WH-EAST")
        },
        new_lines=[SalesLine(item_id="MUG-01", quantity=Decimal(1), price=Decimal("12.50"), warehouse_id="WH-EAST")],
    )
    client.execute_one(fn.update_sotransaction(key, update, controlid="so-1-upd-1"), deadline=deadline())
    after = read_invoice(client, key)
    assert Decimal(after["TOTAL"]) == Decimal("94.17")
    assert after["PRRECORDKEY"] != before["PRRECORDKEY"], "an update re-creates the AR record"

    client.execute_one(fn.delete_sotransaction(key, controlid="so-1-del"), deadline=deadline())
    assert (
        list(
            client.iter_query(
                "SODOCUMENT",
                ["DOCID"],
                filter=q.eq("DOCID", key),
                docparid="Sales Invoice",
                deadline=deadline(),
            )
        )
        == []
    )


def test_query_pages_through_every_record_with_offset(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    seeded = len(sandbox.snapshot()["customers"])
    batch = [
        fn.create_customer(
            CustomerRecord(
                customer_id=f"BULK-{i:03d}", name=f"Bulk {i}", display_contact=Contact(print_as=f"Bulk {i}")
            ),
            controlid=f"cust-BULK-{i:03d}",
        )
        for i in range(25)
    ]
    results = client.execute(batch, deadline=deadline())  # 25 functions, one request
    assert all(r.ok for r in results)
    before = len(sandbox.requests)
    ids = [
        r["CUSTOMERID"]
        for r in client.iter_query(
            "CUSTOMER", ["CUSTOMERID"], order_by=[("CUSTOMERID", True)], page_size=10, deadline=deadline()
        )
    ]
    assert len(ids) == seeded + 25 and len(set(ids)) == len(ids)
    assert len(sandbox.requests) - before == -(-(seeded + 25) // 10)


def test_read_by_query_follows_read_more_to_the_end(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    for i in range(12):
        new_customer(client, f"RBQ-{i:02d}", f"Reader {i}")
    rows = list(
        client.iter_read_by_query(
            "CUSTOMER",
            "CUSTOMERID like 'RBQ-%'",
            fields=["CUSTOMERID", "NAME"],
            page_size=5,
            deadline=deadline(),
        )
    )
    assert sorted(r["CUSTOMERID"] for r in rows) == [f"RBQ-{i:02d}" for i in range(12)]
    assert functions_seen(sandbox).count("readMore") == 2


def test_read_by_query_literal_with_a_quote_matches_exactly(client: IntacctClient) -> None:
    new_customer(client, "Q-1", "Bob's Pizza, Inc.")
    new_customer(client, "Q-2", "Bob")
    rows = list(
        client.iter_read_by_query(
            "CUSTOMER",
            f"NAME = {q.readbyquery_literal("Bob's Pizza, Inc.")}",
            fields=["CUSTOMERID"],
            deadline=deadline(),
        )
    )
    assert [r["CUSTOMERID"] for r in rows] == ["Q-1"]


def test_read_and_read_by_name(client: IntacctClient) -> None:
    new_customer(client, "RN-1", "Read Me")
    by_name = client.execute_one(fn.read_by_name("CUSTOMER", ["RN-1"]), deadline=deadline()).records()
    assert by_name[0]["NAME"] == "Read Me"
    recordno = by_name[0]["RECORDNO"]
    by_key = client.execute_one(fn.read("CUSTOMER", [recordno]), deadline=deadline()).records()
    assert by_key[0]["CUSTOMERID"] == "RN-1"


def test_lookup_describes_an_objects_fields(client: IntacctClient) -> None:
    fields = {f.id: f for f in client.lookup("CUSTOMER", deadline=deadline())}
    assert {"RECORDNO", "CUSTOMERID", "NAME"} <= set(fields)


def test_stock_on_hand_per_item_and_warehouse(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    totals = client.item_totals(deadline=deadline())
    assert totals and all(t.item_id and t.warehouse_id for t in totals)
    one = client.item_totals(item_id="TSHIRT-M", warehouse_id="WH-EAST", deadline=deadline())
    assert len(one) == 1
    new_customer(client)
    client.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline())
    after = client.item_totals(item_id="TSHIRT-M", warehouse_id="WH-EAST", deadline=deadline())
    assert after[0].on_hand == one[0].on_hand - 2


def test_functions_in_one_request_fail_independently(client: IntacctClient) -> None:
    new_customer(client)
    good = fn.create_sotransaction(invoice(number="OK-1"), controlid="so-ok")
    bad = fn.create_sotransaction(
        invoice(number="BAD-1", lines=[SalesLine(item_id="NO-SUCH-SKU", quantity=Decimal(1))]),
        controlid="so-bad",
    )
    ok, failed = client.execute([good, bad], deadline=deadline())
    assert ok.ok and not failed.ok
    with pytest.raises(IntacctFunctionError) as info:
        client.raise_for(failed)
    assert "NO-SUCH-SKU" in str(info.value)


def test_transaction_true_rolls_back_every_function(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    new_customer(client)
    good = fn.create_sotransaction(invoice(number="TX-1"), controlid="so-tx-1")
    bad = fn.create_sotransaction(
        invoice(number="TX-2", lines=[SalesLine(item_id="NO-SUCH-SKU", quantity=Decimal(1))]),
        controlid="so-tx-2",
    )
    first, second = client.execute([good, bad], deadline=deadline(), transaction=True)
    assert (first.status, second.status) == ("aborted", "failure")
    assert not [d for d in sandbox.snapshot()["invoices"] if "TX-" in str(d)]


# --- errors --------------------------------------------------------------------------------


def test_wrong_sender_password_is_a_configuration_error_with_its_fix(sandbox: IntacctSandbox) -> None:
    c = IntacctClient(make_credentials(sandbox, sender_password="wrong"), sessions=SessionCache())
    with pytest.raises(IntacctConfigurationError) as info:
        c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    assert "sender_password" in str(info.value.fix)
    assert "wrong" not in str(info.value)


def test_wrong_user_password_points_at_the_web_services_user(sandbox: IntacctSandbox) -> None:
    c = IntacctClient(make_credentials(sandbox, user_password="wrong"), sessions=SessionCache())
    with pytest.raises(IntacctConfigurationError) as info:
        c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    assert "Web Services users" in str(info.value.fix)


def test_unauthorised_sender_points_at_web_services_authorizations(sandbox: IntacctSandbox) -> None:
    seed = copy.deepcopy(sandbox.seed)
    for company in seed["companies"]:
        company["authorized_senders"] = []
    sandbox.reset(seed=seed)
    c = IntacctClient(make_credentials(sandbox), sessions=SessionCache())
    with pytest.raises(IntacctConfigurationError) as info:
        c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    assert "Web Services authorizations" in str(info.value.fix)


def test_unknown_entity_is_a_configuration_error(sandbox: IntacctSandbox) -> None:
    c = IntacctClient(make_credentials(sandbox, entity_id="NO-SUCH-ENTITY"), sessions=SessionCache())
    with pytest.raises(IntacctConfigurationError) as info:
        c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    assert "entity_id" in str(info.value.fix)


def test_missing_role_permission_names_the_permission_to_add(sandbox: IntacctSandbox) -> None:
    seed = copy.deepcopy(sandbox.seed)
    for company in seed["companies"]:
        for user in company["users"]:
            user["permissions"].pop("Accounts Receivable/Customers", None)
    sandbox.reset(seed=seed)
    c = IntacctClient(make_credentials(sandbox), sessions=SessionCache())
    rec = CustomerRecord(customer_id="X", name="X", display_contact=Contact(print_as="X"))
    with pytest.raises(IntacctConfigurationError) as info:
        c.execute_one(fn.create_customer(rec, controlid="cust-X"), deadline=deadline())
    assert "'Add' permission on Accounts Receivable > Customers" in str(info.value.fix)


def test_a_chosen_error_for_a_chosen_function_is_raised_as_a_function_error(
    client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    new_customer(client)
    sandbox.inject(
        Fault(
            kind="function_error",
            function="create_sotransaction",
            errorno="BL03000018",
            description="Your transaction date is within a period that's been closed",
        )
    )
    with pytest.raises(IntacctFunctionError) as info:
        client.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline())
    assert info.value.errornos == ("BL03000018",)
    assert "closed" in str(info.value)


# --- retries, faults and unknown outcomes --------------------------------------------------


@pytest.mark.parametrize("kind,status", [("http_error", 503), ("rate_limit", 429)])
def test_reads_are_retried_with_backoff_through_transient_faults(
    client: IntacctClient, sandbox: IntacctSandbox, sleeps: RecordingSleep, kind: str, status: int
) -> None:
    client.session(deadline())
    sandbox.inject(Fault(kind=kind, status=status, times=2))
    assert client.lookup("CUSTOMER", deadline=deadline())
    assert len(sleeps.delays) == 2


def test_a_write_refused_with_503_is_retried_and_created_once(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    new_customer(client)
    sandbox.inject(Fault(kind="http_error", status=503, function="create_sotransaction", times=1))
    client.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline())
    assert len(sandbox.snapshot()["invoices"]) == 1


def test_concurrency_limit_answers_are_backed_off_until_every_request_succeeds(
    sandbox: IntacctSandbox,
) -> None:
    sandbox.set_max_concurrency(1)
    errors: list[BaseException] = []
    shared = SessionCache()

    def work() -> None:
        c = IntacctClient(make_credentials(sandbox), sessions=shared, backoff=Backoff(0.05, 0.3, 50))
        try:
            c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
        except BaseException as exc:
            errors.append(exc)

    IntacctClient(make_credentials(sandbox), sessions=shared).session(deadline())
    # The first request to get the slot keeps it until three more have arrived: they (or retries)
    # find it taken and are answered 429, however the threads are scheduled.
    hold = sandbox.hold_until(arrivals=4, timeout_s=30)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hold.reached and not hold.timed_out
    assert errors == []
    assert sum(1 for r in sandbox.requests if r.http_status == 429) >= 3
    assert sum(1 for r in sandbox.requests if r.http_status == 200) == 1 + 4  # the session, then each lookup
    assert sandbox.peak_inflight == 1


class FakeClock:
    """Time that passes only when the client sleeps (its backoff), never while a request runs."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class FakeDeadline(Deadline):
    clock: FakeClock = field(default_factory=FakeClock)

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock.now)


def test_retries_stop_at_the_callers_deadline(client: IntacctClient, sandbox: IntacctSandbox) -> None:
    client.session(deadline())
    sandbox.inject(Fault(kind="rate_limit", times=None))
    clock = FakeClock()
    # On a fake clock: a slow machine cannot eat into the deadline (each request still gets the
    # fake time left, ≥ min_attempt_s = 5 s of real time, as its cut-off: a generous guard).
    slow = IntacctClient(
        client.credentials,
        sessions=client.sessions,
        backoff=Backoff(base_s=2.0, cap_s=2.0, max_attempts=1000),
        sleep=clock.sleep,
        min_attempt_s=5.0,
    )
    short = FakeDeadline(at=10.0, clock=clock)
    before = len(sandbox.requests)
    with pytest.raises(IntacctRateLimited, match="gave up"):
        slow.execute_one(fn.lookup("CUSTOMER"), deadline=short)
    assert clock.sleeps, "retried before giving up"
    assert 5.0 < short.remaining() <= 7.0, "gave up once a further wait would leave under min_attempt_s"
    assert len(sandbox.requests) - before == len(clock.sleeps) + 1


def test_a_write_whose_answer_is_lost_is_unknown_then_found_not_duplicated(
    client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    new_customer(client)
    sandbox.inject(Fault(kind="lose_response", status=504, function="create_sotransaction"))
    create = fn.create_sotransaction(invoice(), controlid="so-inv-shopify-1001")
    with pytest.raises(IntacctOutcomeUnknown) as info:
        client.execute_one(create, deadline=deadline())
    assert info.value.controlids == ("so-inv-shopify-1001",)
    # The caller's reconciliation: re-sending the same controlid is refused as already executed,
    # and the lookup by document number finds the one invoice.
    with pytest.raises(IntacctAlreadyExecuted):
        client.execute_one(create, deadline=deadline())
    assert read_invoice(client, "Sales Invoice-SHOP-1001")["DOCID"] == "Sales Invoice-SHOP-1001"
    assert len(sandbox.snapshot()["invoices"]) == 1


def test_a_write_that_times_out_is_unknown_not_retried(sandbox: IntacctSandbox) -> None:
    sessions = SessionCache()
    new_customer(IntacctClient(make_credentials(sandbox), sessions=sessions))  # no short timeout here
    c = IntacctClient(make_credentials(sandbox), sessions=sessions, read_timeout_s=0.5)
    # The hang lasts until the test ends it: far past the 0.5 s read timeout on any machine.
    sandbox.inject(Fault(kind="hang", function="create_sotransaction", delay_s=60))
    with pytest.raises(IntacctOutcomeUnknown):
        c.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline())
    sandbox.release_hangs()
    assert sandbox.wait_idle()
    assert sum(1 for n in functions_seen(sandbox) if n == "create_sotransaction") == 1


def test_a_5xx_before_processing_is_unknown_for_a_write_and_the_resend_creates_it_once(
    client: IntacctClient, sandbox: IntacctSandbox
) -> None:
    new_customer(client)
    sandbox.inject(Fault(kind="http_error", status=500, function="create_sotransaction"))
    create = fn.create_sotransaction(invoice(), controlid="so-1")
    with pytest.raises(IntacctOutcomeUnknown):
        client.execute_one(create, deadline=deadline())
    assert sandbox.snapshot()["invoices"] == []
    client.execute_one(create, deadline=deadline())  # not executed before, so the same controlid is accepted
    assert len(sandbox.snapshot()["invoices"]) == 1


def test_an_offline_answer_is_retried(client: IntacctClient, sandbox: IntacctSandbox, sleeps: RecordingSleep) -> None:
    client.session(deadline())
    body = (
        "<response><control><status>failure</status></control><errormessage><error><errorno>XL03000001</errorno>"
        "<description>The Service is Temporarily Off-line</description></error></errormessage></response>"
    )
    sandbox.inject(Fault(kind="raw_response", status=200, body=body, times=1))
    assert client.lookup("CUSTOMER", deadline=deadline())
    assert len(sleeps.delays) == 1


# --- hostile input and output --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        'O\'Brien "The Mug" Ltd',
        "Fish & Chips <Ltd>",
        "ends with ]]> and <![CDATA[x]]>",
        "Café 😀 🧾 中文",
        "N" * 255,
        "back\\slash",
    ],
)
def test_hostile_strings_round_trip_intact(client: IntacctClient, name: str) -> None:
    new_customer(client, "HOSTILE-1", name)
    rows = list(client.iter_query("CUSTOMER", ["CUSTOMERID", "NAME"], filter=q.eq("NAME", name), deadline=deadline()))
    assert [(r["CUSTOMERID"], r["NAME"]) for r in rows] == [("HOSTILE-1", name)]


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<response><control><status>success</status></control><operation><result><status>success</status>"
    "<function>lookup</function><controlid>&d;</controlid></result></operation></response>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    "<response><control><status>success</status></control><operation><result><status>success</status>"
    "<function>lookup</function><controlid>&e;</controlid></result></operation></response>"
)


@pytest.mark.parametrize("body", [BOMB, XXE], ids=["xml-bomb", "external-entity"])
def test_a_hostile_response_is_rejected_for_reads_and_unknown_for_writes(
    client: IntacctClient, sandbox: IntacctSandbox, body: str
) -> None:
    new_customer(client)
    sandbox.inject(Fault(kind="raw_response", status=200, body=body, times=None))
    with pytest.raises(IntacctUnavailable, match="usable body"):
        client.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    with pytest.raises(IntacctOutcomeUnknown):
        client.execute_one(fn.create_sotransaction(invoice(), controlid="so-1"), deadline=deadline())


def test_no_secret_reaches_logs_or_errors(
    sandbox: IntacctSandbox, caplog: pytest.LogCaptureFixture, sleeps: RecordingSleep
) -> None:
    creds = make_credentials(sandbox)
    c = IntacctClient(creds, sessions=SessionCache(), sleep=sleeps, backoff=Backoff(0.01, 0.02, 3))
    with caplog.at_level(logging.DEBUG):
        session = c.session(deadline())
        c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
        sandbox.inject(Fault(kind="rate_limit", times=None))
        with pytest.raises(IntacctRateLimited) as info:
            c.execute_one(fn.lookup("CUSTOMER"), deadline=deadline())
    secrets = [
        creds.sender_password.get_secret_value(),
        creds.user_password.get_secret_value(),
        session.session_id,
    ]
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records) + str(info.value) + repr(c.credentials)
    assert not [s for s in secrets if s in text]
    assert any(r.getMessage() == "intacct request" for r in caplog.records)
