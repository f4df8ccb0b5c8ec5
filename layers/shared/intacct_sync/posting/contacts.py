"""Bill-to and ship-to of a document: the order's own addresses as Intacct contacts. Pure.

The connector guide's rows "Customer address: billing address and shipping address" and
"Customer phone and email: phone and email of incoming order" are met on every invoice and
credit memo, whatever the customer record holds (a matched customer may have no address, or an
older one). `create_sotransaction` takes `<shipto>`/`<billto>` as `<contactname>` naming an
existing CONTACT (developer.intacct.com, Order Entry transactions: `shipto.contactname`,
Required; Contacts: "used to determine ship-to/bill-to ... in Order Entry"), so each distinct
address becomes its own CONTACT (generic `create`, CONTACTNAME and PRINTAS required), created
in the same request just before the document that names it.

**Deterministic per-address contacts.** The contact name is the printed name plus a digest of
every field the contact carries (name, company, address, phone, e-mail). The same address always
names the same contact, and a contact is never updated: a repeat customer's new address is a new
contact, so an older invoice keeps the address it was issued to (whether Intacct copies the
contact onto the document or reads it live, reference unsure). Creating one twice fails as a
duplicate name, which means it is there: nothing to do.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from intacct_sync.intacct import functions as fn
from intacct_sync.intacct.documents import Contact
from intacct_sync.intacct.wire import Function
from intacct_sync.models.order import Address, Order
from intacct_sync.posting.customers import clean, intacct_address, split_name

CONTACT_NAME_MAX: Final = 100
"""Assumed CONTACTNAME length limit (not documented)."""
DIGEST_CHARS: Final = 10
"""Base32 characters of the content digest in a contact name (50 bits)."""


@dataclass(frozen=True)
class OrderContacts:
    """The contacts a document for an order names; None leaves Intacct's default (the
    customer's own bill-to / ship-to contact), which only happens when the order has no address
    at all (a guest without any)."""

    bill_to: Contact | None
    ship_to: Contact | None

    @property
    def all(self) -> tuple[Contact, ...]:
        """Distinct contacts to create, bill-to first."""
        seen: dict[str, Contact] = {}
        for c in (self.bill_to, self.ship_to):
            if c is not None and c.contact_name is not None:
                seen.setdefault(c.contact_name, c)
        return tuple(seen.values())


def contacts_for(order: Order) -> OrderContacts:
    """Bill-to from the billing address, ship-to from the shipping address; an order with only
    one of them uses it for both. Phone: the address's own, else the order's (customer) phone.
    E-mail: the address's own where the channel gives one (BigCommerce shipping addresses), else
    the order's e-mail."""
    billing, shipping = order.billing_address, order.shipping_address
    bill = _contact(billing or shipping, order)
    ship = _contact(shipping or billing, order)
    return OrderContacts(bill_to=bill, ship_to=ship)


def _contact(address: Address | None, order: Order) -> Contact | None:
    if address is None:
        return None
    customer = order.customer
    name = clean(address.name)
    company = clean(address.company)
    if name:
        first, last = split_name(name)
    else:
        first, last = clean(customer.first_name), clean(customer.last_name)
        name = " ".join(p for p in (first, last) if p) or None
    email = clean(address.email) or clean(customer.email)
    print_as = (name or company or email or order.order_number)[:CONTACT_NAME_MAX]
    contact = Contact(
        print_as=print_as,
        company_name=company,
        first_name=first,
        last_name=last,
        phone=clean(address.phone) or clean(customer.phone),
        email=email,
        address=intacct_address(address),
    )
    return _named(contact)


def _named(contact: Contact) -> Contact:
    a = contact.address
    fields = [
        contact.print_as,
        contact.company_name,
        contact.first_name,
        contact.last_name,
        contact.phone,
        contact.email,
        *((a.line1, a.line2, a.city, a.state, a.zip, a.country_code) if a else ()),
    ]
    canonical = "\x1f".join(f or "" for f in fields)
    digest = base64.b32encode(hashlib.sha256(canonical.encode("utf-8")).digest()).decode("ascii")[:DIGEST_CHARS]
    suffix = f" [{digest}]"
    head = " ".join(contact.print_as.split())[: CONTACT_NAME_MAX - len(suffix)]
    return Contact(
        print_as=contact.print_as,
        company_name=contact.company_name,
        first_name=contact.first_name,
        last_name=contact.last_name,
        phone=contact.phone,
        email=contact.email,
        address=contact.address,
        contact_name=head + suffix,
    )


def contact_controlid(contact: Contact) -> str:
    """controlid of a contact create: one per contact name (a repeat is refused, harmlessly)."""
    name = contact.contact_name or contact.print_as
    return "contact-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]


def cache_key(contact_name: str) -> str:
    """Key of a created contact in the ledger's match cache (next to the customers')."""
    return f"contact:{contact_name}"


def creates(found: OrderContacts, *, known: Callable[[str], bool]) -> list[Function]:
    """CONTACT creates for the contacts of `found` that `known(cache_key(name))` does not know
    (the ledger remembers each one created). A create of a contact that exists fails harmlessly:
    the name is deterministic, so it is the same contact."""
    return [
        fn.create_contact(c, controlid=contact_controlid(c))
        for c in found.all
        if c.contact_name is not None and not known(cache_key(c.contact_name))
    ]


def created_name(create: Function) -> str | None:
    """The CONTACTNAME a `creates` function makes."""
    el = create.element.find("CONTACT/CONTACTNAME")
    return el.text if el is not None else None
