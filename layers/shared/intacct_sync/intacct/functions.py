"""Builders for every Intacct function the product calls.

Each returns a `Function` (its XML element, controlid and whether it writes). Legacy functions
(`*_sotransaction`) are element-order sensitive: the order below is the DTD's
(`intacct_icoe_functions.v2.1.dtd`, `intacct_request_objects.v2.1.dtd`). Write controlids come
from the caller and must be deterministic per business key (idempotency); reads get a random one.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal

from intacct_sync.intacct.documents import (
    Address,
    ArAdjustment,
    ArPayment,
    Contact,
    CustomerRecord,
    SalesLine,
    SalesTransaction,
    SalesTransactionUpdate,
    Subtotal,
)
from intacct_sync.intacct.query import Filter
from intacct_sync.intacct.wire import Function, sub

QUERY_MAX_PAGE = 2000
READ_BY_QUERY_MAX_PAGE = 1000
MAX_KEYS = 100


def _read_id() -> str:
    return uuid.uuid4().hex


def _opt(parent: ET.Element, tag: str, value: str | Decimal | int | None) -> None:
    if value is not None:
        sub(parent, tag, value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _date(parent: ET.Element, tag: str, value: date | None) -> None:
    if value is None:
        return
    el = sub(parent, tag)
    sub(el, "year", f"{value.year:04d}")
    sub(el, "month", f"{value.month:02d}")
    sub(el, "day", f"{value.day:02d}")


def _contact_ref(parent: ET.Element, tag: str, contact_name: str | None) -> None:
    if contact_name is not None:
        sub(sub(parent, tag), "contactname", contact_name)


def _custom_fields(parent: ET.Element, fields: Mapping[str, str]) -> None:
    if not fields:
        return
    container = sub(parent, "customfields")
    for name, value in fields.items():
        cf = sub(container, "customfield")
        sub(cf, "customfieldname", name)
        sub(cf, "customfieldvalue", value)


def _line(parent: ET.Element, tag: str, line: SalesLine, attrs: Mapping[str, str] | None = None) -> None:
    el = ET.SubElement(parent, tag, dict(attrs or {}))
    sub(el, "itemid", line.item_id)
    _opt(el, "itemdesc", line.item_desc)
    if line.taxable is not None:
        sub(el, "taxable", _bool(line.taxable))
    _opt(el, "warehouseid", line.warehouse_id)
    sub(el, "quantity", line.quantity)
    _opt(el, "unit", line.unit)
    _opt(el, "discountpercent", line.discount_percent)
    _opt(el, "price", line.price)
    _opt(el, "discsurchargememo", line.discsurcharge_memo)
    _opt(el, "locationid", line.location_id)
    _opt(el, "departmentid", line.department_id)
    _opt(el, "memo", line.memo)
    _custom_fields(el, line.custom_fields)
    _opt(el, "projectid", line.project_id)
    _opt(el, "classid", line.class_id)


def _subtotals(parent: ET.Element, container: str, tag: str, subtotals: Sequence[Subtotal]) -> None:
    if not subtotals:
        return
    wrap = sub(parent, container)
    for st in subtotals:
        el = sub(wrap, tag)
        sub(el, "description", st.description)
        sub(el, "total", st.total)
        _opt(el, "absval", st.absval)
        _opt(el, "percentval", st.percentval)
        _opt(el, "locationid", st.location_id)
        _opt(el, "departmentid", st.department_id)
        _opt(el, "classid", st.class_id)


def _currency(
    parent: ET.Element,
    base: str | None,
    currency: str | None,
    rate_type: str | None,
    rate: Decimal | None,
) -> None:
    if currency is None:
        return
    _opt(parent, "basecurr", base)
    sub(parent, "currency", currency)
    if rate is not None:
        sub(parent, "exchrate", rate)
    else:
        sub(parent, "exchratetype", rate_type)  # empty = Intacct Daily Rate


def get_api_session(entity_id: str | None = None) -> Function:
    el = ET.Element("getAPISession")
    if entity_id is not None:
        sub(el, "locationid", entity_id)
    return Function("getAPISession", "getAPISession", el)


def create_sotransaction(txn: SalesTransaction, *, controlid: str) -> Function:
    """`create_sotransaction` in DTD order. The result's `<key>` is `<type>-<docno>`."""
    if not txn.lines:
        raise ValueError("a sales transaction needs at least one line")
    el = ET.Element("create_sotransaction")
    sub(el, "transactiontype", txn.transaction_type)
    _date(el, "datecreated", txn.date_created)
    _opt(el, "createdfrom", txn.created_from)
    sub(el, "customerid", txn.customer_id)
    _opt(el, "documentno", txn.document_no)
    _opt(el, "referenceno", txn.reference_no)
    _opt(el, "termname", txn.term_name)
    _date(el, "datedue", txn.date_due)
    _opt(el, "message", txn.message)
    _opt(el, "shippingmethod", txn.shipping_method)
    _contact_ref(el, "shipto", txn.ship_to)
    _contact_ref(el, "billto", txn.bill_to)
    _opt(el, "externalid", txn.external_id)
    _currency(el, txn.base_currency, txn.currency, txn.exchange_rate_type, txn.exchange_rate)
    _custom_fields(el, txn.custom_fields)
    _opt(el, "state", txn.state)
    _opt(el, "projectid", txn.project_id)
    items = sub(el, "sotransitems")
    for line in txn.lines:
        _line(items, "sotransitem", line)
    _subtotals(el, "subtotals", "subtotal", txn.subtotals)
    return Function("create_sotransaction", controlid, el, write=True, object="SODOCUMENT")


def update_sotransaction(key: str, update: SalesTransactionUpdate, *, controlid: str) -> Function:
    """`update_sotransaction key="Sales Invoice-INV0001"` in DTD order."""
    el = ET.Element("update_sotransaction", {"key": key})
    _date(el, "datecreated", update.date_created)
    _opt(el, "referenceno", update.reference_no)
    _opt(el, "termname", update.term_name)
    _date(el, "datedue", update.date_due)
    _opt(el, "message", update.message)
    _opt(el, "shippingmethod", update.shipping_method)
    _contact_ref(el, "shipto", update.ship_to)
    _contact_ref(el, "billto", update.bill_to)
    _opt(el, "externalid", update.external_id)
    _custom_fields(el, update.custom_fields)
    _opt(el, "state", update.state)
    if update.line_updates or update.new_lines:
        items = sub(el, "updatesotransitems")
        for num in sorted(update.line_updates):
            if num < 1:
                raise ValueError("update_sotransaction line numbers are 1-based")
            _line(items, "updatesotransitem", update.line_updates[num], {"line_num": str(num)})
        for line in update.new_lines:
            _line(items, "sotransitem", line)
    _subtotals(el, "updatesubtotals", "updatesubtotal", update.subtotals)
    return Function("update_sotransaction", controlid, el, write=True, object="SODOCUMENT")


def delete_sotransaction(key: str, *, controlid: str) -> Function:
    el = ET.Element("delete_sotransaction", {"key": key})
    return Function("delete_sotransaction", controlid, el, write=True, object="SODOCUMENT")


def create_customer(customer: CustomerRecord, *, controlid: str) -> Function:
    """Generic `create` of a CUSTOMER (children in the official SDK's order)."""
    el = ET.Element("create")
    cust = sub(el, "CUSTOMER")
    sub(cust, "CUSTOMERID", customer.customer_id)
    sub(cust, "NAME", customer.name)
    _contact_fields(sub(cust, "DISPLAYCONTACT"), customer.display_contact)
    sub(cust, "STATUS", customer.status)
    _opt(cust, "TERMNAME", customer.term_name)
    if customer.ship_to_contact is not None:
        sub(sub(cust, "SHIPTO"), "CONTACTNAME", customer.ship_to_contact)
    if customer.bill_to_contact is not None:
        sub(sub(cust, "BILLTO"), "CONTACTNAME", customer.bill_to_contact)
    return Function("create", controlid, el, write=True, object="CUSTOMER")


def _contact_fields(parent: ET.Element, c: Contact) -> None:
    """A contact's fields in the order the official SDK writes them (a CUSTOMER's DISPLAYCONTACT
    and a CONTACT alike)."""
    _opt(parent, "CONTACTNAME", c.contact_name)
    sub(parent, "PRINTAS", c.print_as)
    _opt(parent, "COMPANYNAME", c.company_name)
    _opt(parent, "FIRSTNAME", c.first_name)
    _opt(parent, "LASTNAME", c.last_name)
    _opt(parent, "PHONE1", c.phone)
    _opt(parent, "EMAIL1", c.email)
    _mail_address(parent, c.address)


def _mail_address(parent: ET.Element, a: Address | None) -> None:
    if a is None:
        return
    addr = sub(parent, "MAILADDRESS")
    _opt(addr, "ADDRESS1", a.line1)
    _opt(addr, "ADDRESS2", a.line2)
    _opt(addr, "CITY", a.city)
    _opt(addr, "STATE", a.state)
    _opt(addr, "ZIP", a.zip)
    _opt(addr, "COUNTRY", a.country)
    _opt(addr, "COUNTRYCODE", a.country_code)


def create_contact(contact: Contact, *, controlid: str) -> Function:
    """Generic `create` of a CONTACT (CONTACTNAME and PRINTAS required; the official SDK's
    `ContactCreate` order). A bill-to / ship-to a document names with `<contactname>`."""
    if not contact.contact_name:
        raise ValueError("a CONTACT create needs a contact name")
    el = ET.Element("create")
    _contact_fields(sub(el, "CONTACT"), contact)
    return Function("create", controlid, el, write=True, object="CONTACT")


def create_ar_payment(payment: ArPayment, *, controlid: str) -> Function:
    """Generic `create` of an ARPYMT applied to the given AR invoice records."""
    el = ET.Element("create")
    p = sub(el, "ARPYMT")
    _opt(p, "FINANCIALENTITY", payment.financial_entity)
    _opt(p, "UNDEPOSITEDACCOUNTNO", payment.undeposited_account)
    sub(p, "PAYMENTMETHOD", payment.payment_method)
    sub(p, "CUSTOMERID", payment.customer_id)
    _opt(p, "DOCNUMBER", payment.document_number)
    _opt(p, "DESCRIPTION", payment.description)
    sub(p, "RECEIPTDATE", payment.receipt_date.strftime("%m/%d/%Y"))
    sub(p, "CURRENCY", payment.currency)
    details = sub(p, "ARPYMTDETAILS")
    for app in payment.applications:
        d = sub(details, "ARPYMTDETAIL")
        sub(d, "RECORDKEY", app.record_key)
        sub(d, "TRX_PAYMENTAMOUNT", app.amount)
    for credit in payment.credits:
        d = sub(details, "ARPYMTDETAIL")
        sub(d, "POSADJKEY", credit.debit_memo_key)
        sub(d, credit.credit_field, credit.credit_key)
        amount = "TRX_ADJUSTMENTAMOUNT" if credit.credit_field == "ADJUSTMENTKEY" else "TRX_NEGATIVEINVOICEAMOUNT"
        sub(d, amount, credit.amount)
    return Function("create", controlid, el, write=True, object="ARPYMT")


def create_aradjustment(adjustment: ArAdjustment, *, controlid: str) -> Function:
    """`create_aradjustment` in DTD order (`intacct_pr_functions.v2.1.dtd`; lines per
    `intacct_request_objects.v2.1.dtd`). The result's `<key>` is the adjustment's RECORDNO."""
    if not adjustment.lines:
        raise ValueError("an AR adjustment needs at least one line")
    el = ET.Element("create_aradjustment")
    sub(el, "customerid", adjustment.customer_id)
    _date(el, "datecreated", adjustment.date_created)
    _opt(el, "adjustmentno", adjustment.adjustment_no)
    _opt(el, "description", adjustment.description)
    _currency(el, None, adjustment.currency, adjustment.exchange_rate_type, adjustment.exchange_rate)
    items = sub(el, "aradjustmentitems")
    for line in adjustment.lines:
        li = sub(items, "lineitem")
        sub(li, "glaccountno", line.gl_account_no)
        sub(li, "amount", line.amount)
        _opt(li, "memo", line.memo)
        _opt(li, "locationid", line.location_id)
        _opt(li, "departmentid", line.department_id)
    return Function("create_aradjustment", controlid, el, write=True, object="ARADJUSTMENT")


def query(
    obj: str,
    fields: Sequence[str],
    *,
    filter: Filter | None = None,  # Intacct's own element name
    order_by: Iterable[tuple[str, bool]] = (),
    case_insensitive: bool = False,
    page_size: int = 100,
    offset: int = 0,
    docparid: str | None = None,
    controlid: str | None = None,
) -> Function:
    """`query`: select fields with an XML filter; `order_by` pairs are (field, ascending)."""
    if not fields:
        raise ValueError("query needs at least one field (Intacct does not return all fields)")
    if not 1 <= page_size <= QUERY_MAX_PAGE:
        raise ValueError(f"query pagesize is 1 to {QUERY_MAX_PAGE}")
    el = ET.Element("query")
    sub(el, "object", obj)
    sel = sub(el, "select")
    for f in fields:
        sub(sel, "field", f)
    if filter is not None:
        sub(el, "filter").append(filter.to_element())
    _opt(el, "docparid", docparid)
    orders = list(order_by)
    if orders:
        ob = sub(el, "orderby")
        for name, ascending in orders:
            o = sub(ob, "order")
            sub(o, "field", name)
            sub(o, "ascending" if ascending else "descending")
    if case_insensitive:
        sub(sub(el, "options"), "caseinsensitive", "true")
    sub(el, "pagesize", page_size)
    sub(el, "offset", offset)
    return Function("query", controlid or _read_id(), el, object=obj)


def read_by_query(
    obj: str,
    query_text: str = "",
    *,
    fields: Sequence[str] = ("*",),
    page_size: int = READ_BY_QUERY_MAX_PAGE,
    docparid: str | None = None,
    controlid: str | None = None,
) -> Function:
    """`readByQuery`. Build literals with `readbyquery_literal`, never by formatting user text."""
    if not 1 <= page_size <= READ_BY_QUERY_MAX_PAGE:
        raise ValueError(f"readByQuery pagesize is 1 to {READ_BY_QUERY_MAX_PAGE}")
    el = ET.Element("readByQuery")
    sub(el, "object", obj)
    sub(el, "fields", ",".join(fields))
    sub(el, "query", query_text)
    sub(el, "pagesize", page_size)
    _opt(el, "docparid", docparid)
    return Function("readByQuery", controlid or _read_id(), el, object=obj)


def read_more(result_id: str, *, controlid: str | None = None) -> Function:
    el = ET.Element("readMore")
    sub(el, "resultId", result_id)
    return Function("readMore", controlid or _read_id(), el)


def _keys(keys: Sequence[str]) -> str:
    if not 1 <= len(keys) <= MAX_KEYS:
        raise ValueError(f"read and readByName take 1 to {MAX_KEYS} keys")
    if any("," in k for k in keys):
        raise ValueError("a key holding a comma cannot be sent in a comma-separated key list")
    return ",".join(keys)


def read(
    obj: str,
    keys: Sequence[str],
    *,
    fields: Sequence[str] = ("*",),
    docparid: str | None = None,
    controlid: str | None = None,
) -> Function:
    el = ET.Element("read")
    sub(el, "object", obj)
    sub(el, "keys", _keys(keys))
    sub(el, "fields", ",".join(fields))
    _opt(el, "docparid", docparid)
    return Function("read", controlid or _read_id(), el, object=obj)


def read_by_name(
    obj: str, names: Sequence[str], *, fields: Sequence[str] = ("*",), controlid: str | None = None
) -> Function:
    el = ET.Element("readByName")
    sub(el, "object", obj)
    sub(el, "keys", _keys(names))
    sub(el, "fields", ",".join(fields))
    return Function("readByName", controlid or _read_id(), el, object=obj)


def lookup(obj: str, *, docparid: str | None = None, controlid: str | None = None) -> Function:
    el = ET.Element("lookup")
    sub(el, "object", obj)
    _opt(el, "docparid", docparid)
    return Function("lookup", controlid or _read_id(), el, object=obj)


def get_icitemtotals(
    item_id: str | None = None, warehouse_id: str | None = None, *, controlid: str | None = None
) -> Function:
    """Legacy on-hand/on-order/on-hold totals per item and warehouse."""
    el = ET.Element("get_icitemtotals")
    _opt(el, "itemid", item_id)
    _opt(el, "warehouseid", warehouse_id)
    return Function("get_icitemtotals", controlid or _read_id(), el, object="ICITEMTOTALS")
