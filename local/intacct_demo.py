"""`make demo-intacct`: a scripted conversation with the Intacct sandbox through the product's client.

Starts the sandbox, then: open a session, create a customer, create a Sales Invoice, read it back
with its AR record key, apply a payment, read stock on hand; then shows that re-sending the same
invoice (a retry after a lost answer) cannot create a second one. Prints what happened.
"""

from __future__ import annotations

import logging
import sys
from datetime import date
from decimal import Decimal

from intacct_sync.intacct import IntacctAlreadyExecuted, IntacctClient, IntacctCredentials, SessionCache
from intacct_sync.intacct import functions as fn
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import (
    Address,
    ArPayment,
    Contact,
    CustomerRecord,
    PaymentApplication,
    SalesLine,
    SalesTransaction,
    Subtotal,
)
from intacct_sync.retry import Deadline
from local.demo_credentials import sandbox_credentials
from local.intacct_sandbox import IntacctSandbox

STEP = 0


def step(title: str) -> None:
    global STEP  # noqa: PLW0603 - a counter for printed step numbers, nothing more
    STEP += 1
    print(f"\n[{STEP}] {title}")


def show(label: str, value: object) -> None:
    print(f"    {label:<26} {value}")


def main() -> int:
    logging.disable(logging.INFO)
    with IntacctSandbox.start() as sandbox:
        print(f"Intacct sandbox listening at {sandbox.url}")
        creds = IntacctCredentials.model_validate({**sandbox_credentials(), "endpoint_url": sandbox.url})
        client = IntacctClient(creds, sessions=SessionCache())
        deadline = Deadline.after(60)

        step("Open an API session (getAPISession with the Web Services user)")
        session = client.session(deadline)
        show("company / user", f"{creds.company_id} / {creds.user_id}")
        show("session endpoint", session.endpoint)

        step("Create the customer")
        customer = CustomerRecord(
            customer_id="WEB-1001",
            name="Jane O'Brien & Co",
            display_contact=Contact(
                print_as="Jane O'Brien",
                company_name="Jane O'Brien & Co",
                first_name="Jane",
                last_name="O'Brien",
                email="jane@example.com",
                phone="+1 555 0100",
                address=Address(line1="1 Main St", city="San Jose", state="CA", zip="95110", country="United States"),
            ),
        )
        res = client.execute_one(fn.create_customer(customer, controlid="cust-WEB-1001"), deadline=deadline)
        show("CUSTOMER RECORDNO", res.records()[0]["RECORDNO"])
        show("name (quotes, & kept)", customer.name)

        step("Create a Sales Invoice for web order #1001")
        invoice = SalesTransaction(
            transaction_type="Sales Invoice",
            date_created=date(2026, 11, 25),
            customer_id="WEB-1001",
            document_no="SHOP-1001",
            reference_no="1001",
            term_name="Net 30",
            message="Leave at the back door",
            shipping_method="UPS Ground",
            currency="USD",
            lines=[
                SalesLine(
                    item_id="TSHIRT-M",
                    quantity=Decimal(2),
                    price=Decimal("19.99"),
                    warehouse_id="WH-EAST",
                    location_id="100",
                    department_id="SALES",
                ),
                SalesLine(
                    item_id="MUG-01",
                    quantity=Decimal(1),
                    price=Decimal("12.50"),
                    warehouse_id="WH-EAST",
                    location_id="100",
                    department_id="SALES",
                ),
            ],
            subtotals=[Subtotal("Shipping", Decimal("5.00")), Subtotal("Tax", Decimal("4.20"))],
        )
        create = fn.create_sotransaction(invoice, controlid="so-inv-shopify-1001")
        key = client.execute_one(create, deadline=deadline).key
        show("document key", key)

        step("Read it back with its AR record key (query SODOCUMENT, values as XML)")
        doc = next(
            client.iter_query(
                "SODOCUMENT",
                ["RECORDNO", "DOCID", "CUSTVENDID", "TOTAL", "PRRECORDKEY", "STATE"],
                filter=q.eq("DOCID", key or ""),
                docparid="Sales Invoice",
                deadline=deadline,
            )
        )
        for name in ("DOCID", "CUSTVENDID", "TOTAL", "PRRECORDKEY", "STATE"):
            show(name, doc[name])
        ar = next(
            client.iter_query(
                "ARINVOICE",
                ["RECORDNO", "TOTALDUE", "STATE"],
                filter=q.eq("RECORDNO", doc["PRRECORDKEY"]),
                deadline=deadline,
            )
        )
        show("ARINVOICE TOTALDUE", ar["TOTALDUE"])

        step("Apply the card payment to the invoice (ARPYMT)")
        payment = ArPayment(
            customer_id="WEB-1001",
            payment_method="Credit Card",
            receipt_date=date(2026, 11, 25),
            currency="USD",
            undeposited_account="1200",
            document_number="shopify-pay-5001",
            applications=[PaymentApplication(record_key=doc["PRRECORDKEY"], amount=Decimal(doc["TOTAL"]))],
        )
        res = client.execute_one(fn.create_ar_payment(payment, controlid="arpymt-shopify-5001"), deadline=deadline)
        show("ARPYMT RECORDNO", res.records()[0]["RECORDNO"])
        ar = next(
            client.iter_query(
                "ARINVOICE",
                ["TOTALDUE", "TOTALPAID", "STATE"],
                filter=q.eq("RECORDNO", doc["PRRECORDKEY"]),
                deadline=deadline,
            )
        )
        show("ARINVOICE TOTALDUE", ar["TOTALDUE"])
        show("ARINVOICE TOTALPAID", ar["TOTALPAID"])
        show("ARINVOICE STATE", ar["STATE"])

        step("Read stock on hand per item and warehouse (get_icitemtotals)")
        for t in client.item_totals(deadline=deadline):
            show(f"{t.item_id} @ {t.warehouse_id}", f"on hand {t.on_hand}, on hold {t.on_hold}")

        step("Re-send the same invoice, as a retry after a lost answer would")
        try:
            client.execute_one(create, deadline=deadline)
        except IntacctAlreadyExecuted as exc:
            show("Intacct refused it", "; ".join(str(e) for e in exc.errors))
            show("the sync's next move", "look the invoice up by its number and adopt it")
        else:
            print("    !! a second invoice was created")
            return 1

        step("What the sandbox now holds")
        snap = sandbox.snapshot()
        for kind in ("customers", "invoices", "payments"):
            items = snap.get(kind, [])
            show(kind, len(items))
        show("HTTP requests made", client.http_requests)
    print("\nDemo finished: every step went through the real XML protocol over HTTP.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
