"""Field catalogue of every object the sandbox serves.

One table drives `lookup`, field validation in `query`/`readByQuery`/`read`, the `fields=*`
output and typed comparisons. Dotted names (``DISPLAYCONTACT.EMAIL1``) address nested values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEXT, INTEGER, DECIMAL, DATE, TIMESTAMP, BOOLEAN = (
    "TEXT",
    "INTEGER",
    "DECIMAL",
    "DATE",
    "TIMESTAMP",
    "BOOLEAN",
)

STATUS_CODES = {"active": "T", "inactive": "F"}
# readByQuery compares validated-list fields by their database code (reference §5).
SODOC_STATE_CODES = {
    "Submitted": "S",
    "Approved": "A",
    "Partially Approved": "X",
    "Declined": "R",
    "Draft": "I",
    "Pending": "O",
    "Closed": "D",
    "In Progress": "G",
    "Converted": "C",
    "Partially Converted": "P",
}


@dataclass(frozen=True)
class FieldDef:
    name: str
    datatype: str = TEXT
    label: str = ""
    required: bool = False
    readonly: bool = False
    codes: dict[str, str] | None = None  # display value -> readByQuery code
    alias_of: str | None = None  # query-only alias of another field (not in lookup or "*")

    @property
    def numeric(self) -> bool:
        return self.datatype in (INTEGER, DECIMAL)


@dataclass
class ObjectDef:
    name: str
    fields: list[FieldDef]
    name_field: str  # the field readByName keys are matched against
    module: str  # permission module path, e.g. "Accounts Receivable/Customers"
    by_name: dict[str, FieldDef] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {f.name.upper(): f for f in self.fields}

    def field(self, name: str) -> FieldDef | None:
        return self.by_name.get(name.strip().upper())

    def star_fields(self) -> list[FieldDef]:
        return [f for f in self.fields if f.alias_of is None]


def _f(name: str, dt: str = TEXT, label: str = "", **kw: Any) -> FieldDef:
    return FieldDef(name, dt, label or name.replace(".", " ").title(), **kw)


_ADDR = [
    _f("DISPLAYCONTACT.MAILADDRESS.ADDRESS1", label="Address line 1"),
    _f("DISPLAYCONTACT.MAILADDRESS.ADDRESS2", label="Address line 2"),
    _f("DISPLAYCONTACT.MAILADDRESS.CITY", label="City"),
    _f("DISPLAYCONTACT.MAILADDRESS.STATE", label="State"),
    _f("DISPLAYCONTACT.MAILADDRESS.ZIP", label="Zip"),
    _f("DISPLAYCONTACT.MAILADDRESS.COUNTRY", label="Country"),
    _f("DISPLAYCONTACT.MAILADDRESS.COUNTRYCODE", label="Country code"),
]


def _party(block: str, label: str) -> list[FieldDef]:
    """A document's ship-to / bill-to contact as SODOCUMENT exposes it (SHIPTO.PRINTAS,
    SHIPTO.MAILADDRESS.ADDRESS1...: the names third-party SODOCUMENT readers use)."""
    names = ["CONTACTNAME", "PRINTAS", "COMPANYNAME", "FIRSTNAME", "LASTNAME", "PHONE1", "EMAIL1"]
    names += [f"MAILADDRESS.{a}" for a in ("ADDRESS1", "ADDRESS2", "CITY", "STATE", "ZIP", "COUNTRY", "COUNTRYCODE")]
    return [_f(f"{block}.{n}", label=f"{label} {n.rsplit('.', 1)[-1].lower()}") for n in names]


OBJECTS: dict[str, ObjectDef] = {
    o.name: o
    for o in [
        ObjectDef(
            "CUSTOMER",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("CUSTOMERID", label="Customer ID", required=True),
                _f("NAME", label="Customer name", required=True),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("TERMNAME", label="Term"),
                _f("CURRENCY", label="Default currency"),
                _f("DISPLAYCONTACT.CONTACTNAME", label="Primary contact name"),
                _f("DISPLAYCONTACT.PRINTAS", label="Print as", required=True),
                _f("DISPLAYCONTACT.COMPANYNAME", label="Company name"),
                _f("DISPLAYCONTACT.FIRSTNAME", label="First name"),
                _f("DISPLAYCONTACT.LASTNAME", label="Last name"),
                _f("DISPLAYCONTACT.PHONE1", label="Primary phone"),
                _f("DISPLAYCONTACT.EMAIL1", label="Primary email address"),
                _f("DISPLAYCONTACT.EMAIL2", label="Secondary email address"),
                *_ADDR,
                _f("SHIPTO.CONTACTNAME", label="Ship-to contact name"),
                _f("BILLTO.CONTACTNAME", label="Bill-to contact name"),
                _f("WHENCREATED", TIMESTAMP, "Created", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "CUSTOMERID",
            "Accounts Receivable/Customers",
        ),
        ObjectDef(
            "CONTACT",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("CONTACTNAME", label="Contact name", required=True),
                _f("PRINTAS", label="Print as", required=True),
                _f("COMPANYNAME", label="Company name"),
                _f("FIRSTNAME", label="First name"),
                _f("LASTNAME", label="Last name"),
                _f("PHONE1", label="Primary phone"),
                _f("EMAIL1", label="Primary email address"),
                _f("MAILADDRESS.ADDRESS1", label="Address line 1"),
                _f("MAILADDRESS.ADDRESS2", label="Address line 2"),
                _f("MAILADDRESS.CITY", label="City"),
                _f("MAILADDRESS.STATE", label="State"),
                _f("MAILADDRESS.ZIP", label="Zip"),
                _f("MAILADDRESS.COUNTRY", label="Country"),
                _f("MAILADDRESS.COUNTRYCODE", label="Country code"),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "CONTACTNAME",
            "Company/Contacts",
        ),
        ObjectDef(
            "SODOCUMENT",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("DOCID", label="Document ID", readonly=True),
                _f("DOCNO", label="Document number"),
                _f("DOCPARID", label="Transaction definition", required=True),
                _f("CUSTVENDID", label="Customer ID", required=True),
                _f("CUSTVENDNAME", label="Customer name", readonly=True),
                _f("PONUMBER", label="Reference number"),
                _f("WHENCREATED", DATE, "Date", required=True),
                _f("WHENDUE", DATE, "Due date"),
                _f("STATE", label="State", codes=SODOC_STATE_CODES),
                _f("SUBTOTAL", DECIMAL, "Subtotal", readonly=True),
                _f("TOTAL", DECIMAL, "Total", readonly=True),
                _f("CURRENCY", label="Transaction currency"),
                _f("BASECURR", label="Base currency"),
                _f("PRRECORDKEY", INTEGER, "AR/AP record key", readonly=True),
                _f("ARINVOICE.RECORDNO", INTEGER, "AR invoice record number", alias_of="PRRECORDKEY"),
                _f("MESSAGE", label="Message"),
                _f("SHIPVIAKEY", label="Shipping method"),
                _f("TERM.NAME", label="Payment term"),
                *_party("SHIPTO", "Ship-to"),
                *_party("BILLTO", "Bill-to"),
                _f("CREATEDFROM", label="Created from"),
                _f("EXTERNALID", label="External ID"),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "DOCID",
            "Order Entry/Transactions",
        ),
        ObjectDef(
            "ARINVOICE",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("RECORDID", label="Invoice number"),
                _f("CUSTOMERID", label="Customer ID", required=True),
                _f("CUSTOMERNAME", label="Customer name", readonly=True),
                _f("DOCNUMBER", label="Reference number"),
                _f("DESCRIPTION", label="Description"),
                _f("WHENCREATED", DATE, "Date"),
                _f("WHENDUE", DATE, "Due date"),
                _f("WHENPAID", DATE, "Date fully paid", readonly=True),
                _f("TOTALENTERED", DECIMAL, "Total amount", readonly=True),
                _f("TOTALDUE", DECIMAL, "Total due", readonly=True),
                _f("TOTALPAID", DECIMAL, "Total paid", readonly=True),
                _f("CURRENCY", label="Currency"),
                _f("STATE", label="State", readonly=True),
                _f("MODULEKEY", label="Module", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDID",
            "Accounts Receivable/Invoices",
        ),
        ObjectDef(
            "ARADJUSTMENT",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("RECORDTYPE", label="Record type", readonly=True),
                _f("RECORDID", label="Adjustment number"),
                _f("CUSTOMERID", label="Customer ID", required=True),
                _f("CUSTOMERNAME", label="Customer name", readonly=True),
                _f("DOCNUMBER", label="Invoice number"),
                _f("DESCRIPTION", label="Description"),
                _f("WHENCREATED", DATE, "Date"),
                _f("WHENPAID", DATE, "Date fully paid", readonly=True),
                _f("TOTALENTERED", DECIMAL, "Total amount", readonly=True),
                _f("TOTALDUE", DECIMAL, "Total due", readonly=True),
                _f("TOTALPAID", DECIMAL, "Total paid", readonly=True),
                _f("CURRENCY", label="Currency"),
                _f("STATE", label="State", readonly=True),
                _f("MODULEKEY", label="Module", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDNO",
            "Accounts Receivable/Adjustments",
        ),
        ObjectDef(
            "ARPYMT",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("CUSTOMERID", label="Customer ID"),
                _f("DOCNUMBER", label="Reference number"),
                _f("DESCRIPTION", label="Description"),
                _f("RECEIPTDATE", DATE, "Receipt date", required=True),
                _f("PAYMENTDATE", DATE, "Payment date"),
                _f("PAYMENTMETHOD", label="Payment method", required=True),
                _f("CURRENCY", label="Currency", required=True),
                _f("TOTALENTERED", DECIMAL, "Amount", readonly=True),
                _f("STATE", label="State", readonly=True),
                _f("FINANCIALENTITY", label="Bank account"),
                _f("UNDEPOSITEDACCOUNTNO", label="Undeposited funds account"),
                _f("PRBATCH", label="Summary"),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDNO",
            "Accounts Receivable/Received Payments",
        ),
        ObjectDef(
            "OTHERRECEIPTS",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("PAYEE", label="Payer"),
                _f("DOCNUMBER", label="Reference number"),
                _f("DESCRIPTION", label="Description"),
                _f("PAYMENTDATE", DATE, "Transaction date"),
                _f("RECEIPTDATE", DATE, "Receipt date"),
                _f("PAYMETHOD", label="Payment method"),
                _f("CURRENCY", label="Currency"),
                _f("TOTALENTERED", DECIMAL, "Amount", readonly=True),
                _f("STATE", label="State", readonly=True),
                _f("BANKACCOUNTID", label="Bank account"),
                _f("UNDEPOSITEDACCOUNTNO", label="Undeposited funds account"),
                _f("DEPOSITKEY", INTEGER, "Deposit", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDNO",
            "Cash Management/Other Receipts",
        ),
        ObjectDef(
            "GLBATCH",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("JOURNAL", label="Journal", required=True),
                _f("BATCH_DATE", DATE, "Posting date", required=True),
                _f("BATCH_TITLE", label="Description", required=True),
                _f("REFERENCENO", label="Reference number"),
                _f("STATE", label="State", readonly=True),
                _f("TOTAL", DECIMAL, "Total", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDNO",
            "General Ledger/Journal Entries",
        ),
        ObjectDef(
            "DEPOSIT",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("FINANCIALENTITY", label="Bank account"),
                _f("DOCNUMBER", label="Deposit ID"),
                _f("DESCRIPTION", label="Description"),
                _f("WHENCREATED", DATE, "Deposit date"),
                _f("CURRENCY", label="Currency"),
                _f("TOTALENTERED", DECIMAL, "Total", readonly=True),
                _f("STATE", label="State", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDNO",
            "Cash Management/Deposits",
        ),
        ObjectDef(
            "ITEM",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("ITEMID", label="Item ID", required=True),
                _f("NAME", label="Name", required=True),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("ITEMTYPE", label="Item type", required=True),
                _f("UOMGRP", label="Unit of measure group"),
                _f("UNIT", label="Unit"),
                _f("BASEPRICE", DECIMAL, "Base price"),
                _f("TAXABLE", BOOLEAN, "Taxable"),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "ITEMID",
            "Inventory Control/Items",
        ),
        ObjectDef(
            "WAREHOUSE",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("WAREHOUSEID", label="Warehouse ID", required=True),
                _f("NAME", label="Name", required=True),
                _f("LOCATIONID", label="Location"),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "WAREHOUSEID",
            "Inventory Control/Warehouses",
        ),
        ObjectDef(
            "ITEMWAREHOUSEINFO",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("ITEMID", label="Item ID", required=True),
                _f("WAREHOUSEID", label="Warehouse ID", required=True),
                _f("QTYONHAND", DECIMAL, "Quantity on hand", readonly=True),
                _f("QTYONHOLD", DECIMAL, "Quantity on hold", readonly=True),
                _f("QTYONORDER", DECIMAL, "Quantity on order", readonly=True),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "RECORDNO",
            "Inventory Control/Items",
        ),
        ObjectDef(
            "LOCATION",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("LOCATIONID", label="Location ID", required=True),
                _f("NAME", label="Name", required=True),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "LOCATIONID",
            "Company/Locations",
        ),
        ObjectDef(
            "DEPARTMENT",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("DEPARTMENTID", label="Department ID", required=True),
                _f("TITLE", label="Title", required=True),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "DEPARTMENTID",
            "Company/Departments",
        ),
        ObjectDef(
            "CLASS",
            [
                _f("RECORDNO", INTEGER, "Record number", readonly=True),
                _f("CLASSID", label="Class ID", required=True),
                _f("NAME", label="Name", required=True),
                _f("STATUS", label="Status", codes=STATUS_CODES),
                _f("WHENMODIFIED", TIMESTAMP, "Modified", readonly=True),
            ],
            "CLASSID",
            "Company/Class",
        ),
    ]
}

# First RECORDNO handed out per object. Distinct ranges make a client that mixes up an
# SODOCUMENT RECORDNO with its ARINVOICE RECORDNO (PRRECORDKEY) fail loudly.
RECORDNO_START = {
    "CUSTOMER": 1,
    "CONTACT": 1,
    "ITEM": 1,
    "WAREHOUSE": 1,
    "LOCATION": 1,
    "DEPARTMENT": 1,
    "CLASS": 1,
    "ITEMWAREHOUSEINFO": 1,
    "SODOCUMENT": 2001,
    "ARINVOICE": 3001,
    "ARPYMT": 4001,
    "ARADJUSTMENT": 5001,
    "OTHERRECEIPTS": 6001,
    "DEPOSIT": 7001,
    "GLBATCH": 8001,
}


def get_path(record: dict[str, Any], dotted: str) -> Any:
    cur: Any = record
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def set_path(record: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = record
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value
