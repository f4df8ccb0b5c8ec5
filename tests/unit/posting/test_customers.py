"""Customer match keys per mode, deterministic ids, the record to create and the lookup query."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from intacct_sync.errors import PermanentError
from intacct_sync.intacct.query import Filter
from intacct_sync.models.order import Customer
from intacct_sync.posting.customers import (
    contact_name_for,
    customer_id_for,
    customer_record,
    lookup_filter,
    lookup_many,
    match_key,
    matches,
)
from intacct_sync.settings import CUSTOMER_ID_MAX
from tests.unit.posting.factories import address, order, settings

GUEST = Customer(is_guest=True)


def xml(flt: Filter) -> str:
    return ET.tostring(flt.to_element(), encoding="unicode")


def test_customer_name_mode_uses_the_full_name_normalised() -> None:
    key = match_key(order(), settings())
    assert (key.mode, key.key, key.name) == ("customer_name", "bob norman", "Bob Norman")
    shouting = order(customer=Customer(first_name=" BOB ", last_name="norman", is_guest=False))
    assert match_key(shouting, settings()).key == "bob norman"


def test_customer_name_falls_back_to_billing_then_shipping_name_then_company() -> None:
    o = order(customer=GUEST, billing_address=address(name="Anna  Maria Schmidt"))
    key = match_key(o, settings())
    assert (key.name, key.first_name, key.last_name) == ("Anna Maria Schmidt", "Anna Maria", "Schmidt")
    o = order(customer=GUEST, billing_address=None, shipping_address=address(name="Steve Shipper"))
    assert match_key(o, settings()).name == "Steve Shipper"
    o = order(customer=GUEST, billing_address=address(name=None, company="Acme Ltd"), shipping_address=None)
    assert match_key(o, settings()).name == "Acme Ltd"


def test_first_last_mode_keys_on_both_names() -> None:
    key = match_key(order(), settings(customer={"match": "first_last"}))
    assert key.mode == "first_last" and (key.first_name, key.last_name) == ("Bob", "Norman")
    assert "<equalto><field>DISPLAYCONTACT.FIRSTNAME</field><value>Bob</value></equalto>" in xml(
        lookup_filter(key).filter
    )
    assert "DISPLAYCONTACT.LASTNAME</field><value>Norman</value>" in xml(lookup_filter(key).filter)


def test_first_last_with_only_a_last_name_requires_an_empty_first_name() -> None:
    o = order(customer=Customer(last_name="Cher", is_guest=False))
    key = match_key(o, settings(customer={"match": "first_last"}))
    assert "<isnull><field>DISPLAYCONTACT.FIRSTNAME</field></isnull>" in xml(lookup_filter(key).filter)


def test_company_mode_keys_on_the_company_and_falls_back_to_the_person() -> None:
    o = order(customer=Customer(first_name="Anna", last_name="Schmidt", company="Schmidt & Söhne GmbH", is_guest=False))
    key = match_key(o, settings(customer={"match": "company"}))
    assert (key.mode, key.name) == ("company", "Schmidt & Söhne GmbH")
    assert "DISPLAYCONTACT.COMPANYNAME</field><value>Schmidt &amp; Söhne GmbH</value>" in xml(lookup_filter(key).filter)
    key = match_key(order(), settings(customer={"match": "company"}))
    assert (key.mode, key.name) == ("customer_name", "Bob Norman")


def test_single_mode_returns_the_fixed_customer_without_lookup() -> None:
    s = settings(customer={"match": "single", "single_customer_id": "C-1001"})
    key = match_key(order(), s)
    assert key.fixed_id == "C-1001" and customer_id_for(key, s) == "C-1001"
    with pytest.raises(ValueError, match="no lookup"):
        lookup_filter(key)


def test_guest_without_name_uses_email_or_guest_customer_or_is_rejected() -> None:
    nameless = order(
        customer=Customer(email="anon@example.com", is_guest=True), billing_address=None, shipping_address=None
    )
    key = match_key(nameless, settings())
    assert (key.mode, key.name) == ("email", "anon@example.com")
    assert "DISPLAYCONTACT.EMAIL1" in xml(lookup_filter(key).filter)
    s = settings(customer={"guest_without_name": "single", "guest_customer_id": "GUEST"})
    assert match_key(nameless, s).fixed_id == "GUEST"
    with pytest.raises(PermanentError) as exc:
        match_key(nameless, settings(customer={"guest_without_name": "reject"}))
    assert "names no customer" in exc.value.message and "guest_without_name" in (exc.value.fix or "")
    nobody = order(customer=GUEST, billing_address=None, shipping_address=None)
    with pytest.raises(PermanentError):
        match_key(nobody, settings())
    assert match_key(nobody, settings(customer={"guest_customer_id": "GUEST"})).fixed_id == "GUEST"
    with pytest.raises(PermanentError):
        match_key(nobody, settings(customer={"guest_without_name": "reject", "guest_customer_id": "GUEST"}))


def test_lookup_is_by_name_for_active_customers_only() -> None:
    lk = lookup_filter(match_key(order(), settings()))
    assert lk.object == "CUSTOMER" and "CUSTOMERID" in lk.fields and "DISPLAYCONTACT.CONTACTNAME" in lk.fields
    text = xml(lk.filter)
    assert "<field>NAME</field><value>Bob Norman</value>" in text
    assert "<field>STATUS</field><value>active</value>" in text
    obj, fields, flt = lk  # the (object, fields, Filter) triple
    assert fields == lk.fields
    assert obj == "CUSTOMER" and flt is lk.filter


def test_several_customers_are_looked_up_by_one_query_of_their_matches() -> None:
    people = [("Bob", "Norman"), ("Anna", "Schmidt"), ("Cher", None)]
    for mode in ("customer_name", "first_last"):
        s = settings(customer={"match": mode})
        keys = [match_key(order(customer=Customer(first_name=f, last_name=la, is_guest=False)), s) for f, la in people]
        lk = lookup_many(keys)
        assert lk.object == "CUSTOMER" and set(lookup_filter(keys[0]).fields) <= set(lk.fields)
        # every match field is selected, so each row can be placed on its key
        assert {"NAME", "DISPLAYCONTACT.FIRSTNAME", "DISPLAYCONTACT.LASTNAME", "DISPLAYCONTACT.COMPANYNAME"} <= set(
            lk.fields
        )
        assert lk.filter.op == "or" and [xml(c) for c in lk.filter.children] == [
            xml(lookup_filter(k).filter) for k in keys
        ]
    with pytest.raises(ValueError):
        lookup_many([])


def test_a_row_matches_the_key_it_answers_case_insensitively() -> None:
    bob = match_key(order(), settings())
    assert matches(bob, {"NAME": "BOB NORMAN"}) and not matches(bob, {"NAME": "Bob Normann"})
    first_last = settings(customer={"match": "first_last"})
    bob_fl = match_key(order(), first_last)
    assert matches(bob_fl, {"DISPLAYCONTACT.FIRSTNAME": "bob", "DISPLAYCONTACT.LASTNAME": "NORMAN"})
    assert not matches(bob_fl, {"DISPLAYCONTACT.FIRSTNAME": "Rob", "DISPLAYCONTACT.LASTNAME": "Norman"})
    cher = match_key(order(customer=Customer(last_name="Cher", is_guest=False)), first_last)
    assert matches(cher, {"DISPLAYCONTACT.LASTNAME": "Cher"})  # no first name on either side
    assert not matches(cher, {"DISPLAYCONTACT.FIRSTNAME": "Ann", "DISPLAYCONTACT.LASTNAME": "Cher"})
    acme = match_key(
        order(customer=Customer(first_name="A", last_name="B", company="Acme", is_guest=False)),
        settings(customer={"match": "company"}),
    )
    assert matches(acme, {"DISPLAYCONTACT.COMPANYNAME": "ACME"}) and not matches(acme, {"NAME": "Acme"})
    guest = match_key(
        order(customer=Customer(email="G@Example.com", is_guest=True), billing_address=None, shipping_address=None),
        settings(customer={"guest_without_name": "email"}),
    )
    assert guest.mode == "email" and matches(guest, {"DISPLAYCONTACT.EMAIL1": "g@example.com"})


def test_new_customer_id_is_deterministic_short_and_distinct() -> None:
    s = settings()
    a = customer_id_for(match_key(order(), s), s)
    assert a == customer_id_for(match_key(order(), s), s)
    assert a.startswith("WEB-") and len(a) <= CUSTOMER_ID_MAX
    other = order(customer=Customer(first_name="Ada", last_name="Lovelace", is_guest=False))
    assert customer_id_for(match_key(other, s), s) != a
    long_prefix = settings(customer={"id_prefix": "SHOPIFY1"})
    assert len(customer_id_for(match_key(order(), long_prefix), long_prefix)) == CUSTOMER_ID_MAX
    by_name = customer_id_for(match_key(order(), s), s)
    by_first_last = customer_id_for(match_key(order(), settings(customer={"match": "first_last"})), s)
    assert by_name != by_first_last


def test_customer_record_carries_contact_email_phone_and_billing_address() -> None:
    o = order(
        customer=Customer(
            first_name="Anna",
            last_name="Schmidt",
            company="Acme",
            email="anna@example.de",
            phone="+49 30",
            is_guest=False,
        ),
        billing_address=address(
            "DE", "BE", line1="Friedrichstraße 123", line2="3. OG", city="Berlin", postal_code="10117"
        ),
    )
    key = match_key(o, settings())
    rec = customer_record(o, key, "WEB-X")
    c = rec.display_contact
    assert (rec.customer_id, rec.name, c.print_as) == ("WEB-X", "Anna Schmidt", "Anna Schmidt")
    assert (c.first_name, c.last_name, c.company_name, c.email, c.phone) == (
        "Anna",
        "Schmidt",
        "Acme",
        "anna@example.de",
        "+49 30",
    )
    assert c.address is not None
    assert (c.address.line1, c.address.line2, c.address.city, c.address.state, c.address.zip) == (
        "Friedrichstraße 123",
        "3. OG",
        "Berlin",
        "BE",
        "10117",
    )
    assert (c.address.country, c.address.country_code) == ("Germany", "DE")
    assert c.contact_name is None  # Intacct generates NAME(CCUSTOMERID)


def test_customer_record_uses_shipping_address_and_phone_when_no_billing() -> None:
    o = order(
        customer=Customer(first_name="A", last_name="B", is_guest=False),
        billing_address=None,
        shipping_address=address("JP", None, phone="03"),
    )
    rec = customer_record(o, match_key(o, settings()), "WEB-Y")
    assert rec.display_contact.address is not None and rec.display_contact.address.country == "Japan"
    assert rec.display_contact.phone == "03"


def test_contact_name_is_name_and_c_customer_id() -> None:
    assert contact_name_for("Jane Doe", "WEB-1") == "Jane Doe(CWEB-1)"
