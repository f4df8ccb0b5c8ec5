"""Customer match, pure: which Intacct customer an order is billed to, and how to create it.

The I/O (query, create, cache in the ledger) belongs to the order consumer; this module gives it
values: the match key, the query that finds an existing customer, the deterministic CUSTOMERID
of a new one and the CUSTOMER record to create.

Modes (settings `customer.match`): `customer_name` (the guide's default: the customer's full
name, else the billing/shipping name, else the company), `first_last` (first + last name
separately), `company` (company name; a person without company falls back to `customer_name`),
`single` (every order billed to one fixed customer). An order with no name at all (a guest
without address) follows `customer.guest_without_name`: the e-mail address as the name (or,
without one, `guest_customer_id` when set), a fixed guest customer, or a PermanentError.

Keys are normalised (Unicode NFKC, whitespace collapsed, case-folded) so "ANNA  schmidt" and
"Anna Schmidt" are one customer; the Intacct query should run with `case_insensitive=True`.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from intacct_sync.errors import PermanentError
from intacct_sync.intacct import query as q
from intacct_sync.intacct.documents import Address as IntacctAddress
from intacct_sync.intacct.documents import Contact, CustomerRecord
from intacct_sync.models.order import Address, Order
from intacct_sync.settings import CUSTOMER_ID_MAX, Settings

NAME_MAX: Final = 100
"""Assumed length limit of CUSTOMER NAME and DISPLAYCONTACT PRINTAS/name fields (not documented)."""
HASH_CHARS: Final = 12
"""Base32 characters of the key hash in a created CUSTOMERID (60 bits: collisions negligible)."""

KeyMode = Literal["customer_name", "first_last", "company", "email", "single"]

LOOKUP_FIELDS: Final = (
    "RECORDNO",
    "CUSTOMERID",
    "NAME",
    "DISPLAYCONTACT.CONTACTNAME",
    "DISPLAYCONTACT.EMAIL1",
)


@dataclass(frozen=True)
class CustomerKey:
    """How an order is matched. `key` is the normalised match value; `name` what Intacct shows.

    `fixed_id` is set when no lookup is needed (single mode, the guest customer): bill it as is.
    """

    mode: KeyMode
    key: str
    name: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    email: str | None = None
    fixed_id: str | None = None

    @property
    def cache_key(self) -> str:
        """Stable text for the ledger's customer cache: mode + normalised key."""
        return f"{self.mode}:{self.key}"


class CustomerLookup(NamedTuple):
    """Arguments of the `query` that finds an existing customer (pick the lowest RECORDNO)."""

    object: str
    fields: tuple[str, ...]
    filter: q.Filter


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", value).split())
    return text or None


def _norm(value: str) -> str:
    return value.casefold()


def _split(full: str | None) -> tuple[str | None, str | None]:
    """ "Anna Maria Schmidt" -> ("Anna Maria", "Schmidt"); one word is a last name."""
    full = _clean(full)
    if full is None:
        return None, None
    first, _, last = full.rpartition(" ")
    return (first or None), last


def _person(order: Order) -> tuple[str | None, str | None, str | None]:
    """(first, last, full name) from the customer, else the billing then shipping address."""
    c = order.customer
    first, last = _clean(c.first_name), _clean(c.last_name)
    if first or last:
        return first, last, " ".join(p for p in (first, last) if p)
    for address in (order.billing_address, order.shipping_address):
        name = _clean(address.name) if address else None
        if name:
            f, la = _split(name)
            return f, la, name
    return None, None, None


def _company(order: Order) -> str | None:
    for value in (
        order.customer.company,
        order.billing_address.company if order.billing_address else None,
        order.shipping_address.company if order.shipping_address else None,
    ):
        if cleaned := _clean(value):
            return cleaned
    return None


def match_key(order: Order, settings: Settings) -> CustomerKey:
    """The customer key of `order` under `settings.customer` (see the module docstring).

    Raises PermanentError when the order names nobody and the guest policy is `reject` (or
    `email` and there is no e-mail address either).
    """
    cfg = settings.customer
    if cfg.match == "single":
        fixed = cfg.single_customer_id or ""
        return CustomerKey("single", fixed, fixed, fixed_id=fixed)
    first, last, full = _person(order)
    company = _company(order)
    email = _clean(order.customer.email)
    common = {"first_name": first, "last_name": last, "company": company, "email": email}
    if cfg.match == "company" and company:
        return CustomerKey("company", _norm(company), company[:NAME_MAX], **common)
    if cfg.match == "first_last" and (first or last):
        key = _norm(first or "") + "\x1f" + _norm(last or "")
        return CustomerKey("first_last", key, (full or "")[:NAME_MAX], **common)
    name = full or company
    if name:
        return CustomerKey("customer_name", _norm(name), name[:NAME_MAX], **common)
    # Nobody named: the guest policy ("email" falls back to the guest customer when there is
    # no e-mail address either and one is configured).
    if cfg.guest_without_name == "email" and email:
        return CustomerKey("email", _norm(email), email[:NAME_MAX], **common)
    if cfg.guest_without_name != "reject" and cfg.guest_customer_id:
        return CustomerKey("single", cfg.guest_customer_id, cfg.guest_customer_id, fixed_id=cfg.guest_customer_id)
    raise PermanentError(
        f"Order {order.order_number} names no customer (no name, company"
        + (")" if cfg.guest_without_name == "reject" else " or e-mail)")
        + " to match an Intacct customer on.",
        fix='Set customer.guest_without_name to "single" with a guest_customer_id (or "email"), '
        "or add a name to the order in the channel and resend it.",
    )


def customer_id_for(key: CustomerKey, settings: Settings) -> str:
    """Deterministic CUSTOMERID for a new customer: `customer.id_prefix` + 12 base32 characters
    of SHA-256(mode:key). At most 20 characters (the assumed CUSTOMERID limit), so creating it
    twice names the same customer (the second create fails as a duplicate: adopt it)."""
    if key.fixed_id is not None:
        return key.fixed_id
    digest = hashlib.sha256(key.cache_key.encode("utf-8")).digest()
    code = base64.b32encode(digest).decode("ascii")[:HASH_CHARS]
    customer_id = settings.customer.id_prefix + code
    assert len(customer_id) <= CUSTOMER_ID_MAX  # the prefix is validated to 8 characters
    return customer_id


def contact_name_for(name: str, customer_id: str) -> str:
    """The contact Intacct generates for a customer created without CONTACTNAME: `NAME(CID)`.

    Reference §5 is unsure about the spacing; the sandbox writes no space. Prefer the
    DISPLAYCONTACT.CONTACTNAME read back from Intacct when there is one.
    """
    return f"{name}(C{customer_id})"


def _address(address: Address | None) -> IntacctAddress | None:
    if address is None:
        return None
    code = address.country_code
    return IntacctAddress(
        line1=_clean(address.line1),
        line2=_clean(address.line2),
        city=_clean(address.city),
        state=_clean(address.region),
        zip=_clean(address.postal_code),
        country=_COUNTRY_NAMES.get(code, code) if code else None,
        country_code=code,
    )


def clean(value: str | None) -> str | None:
    """Whitespace collapsed (NFKC); None when nothing is left."""
    return _clean(value)


def split_name(full: str | None) -> tuple[str | None, str | None]:
    """A full name as (first, last): the last word is the last name."""
    return _split(full)


def intacct_address(address: Address | None) -> IntacctAddress | None:
    """A canonical address as an Intacct MAILADDRESS (country name and ISO code)."""
    return _address(address)


def customer_record(order: Order, key: CustomerKey, customer_id: str) -> CustomerRecord:
    """The CUSTOMER to create: name, display contact (first/last, company, e-mail, phone and
    the billing address, else the shipping address, as MAILADDRESS).

    CONTACTNAME is left to Intacct (`NAME(CCUSTOMERID)`, see `contact_name_for`). The customer
    record gets no separate ship-to contact: each document names its own bill-to and ship-to
    contacts, built from the order's addresses (`posting/contacts.py`).
    """
    c = order.customer
    billing, shipping = order.billing_address, order.shipping_address
    phone = (
        _clean(c.phone) or _clean(billing.phone if billing else None) or _clean(shipping.phone if shipping else None)
    )
    first, last, _ = _person(order)
    return CustomerRecord(
        customer_id=customer_id,
        name=key.name,
        display_contact=Contact(
            print_as=key.name,
            company_name=(key.company or _company(order) or None),
            first_name=(first or "")[:NAME_MAX] or None,
            last_name=(last or "")[:NAME_MAX] or None,
            phone=phone,
            email=_clean(c.email),
            address=_address(billing or shipping),
        ),
    )


def lookup_filter(key: CustomerKey) -> CustomerLookup:
    """The `query` finding an active customer by the match field of `key.mode`.

    customer_name: NAME; first_last: DISPLAYCONTACT.FIRSTNAME + LASTNAME; company:
    DISPLAYCONTACT.COMPANYNAME; email (guest fallback): DISPLAYCONTACT.EMAIL1. Values travel as
    XML text (no query-string escaping). Run it with case_insensitive=True and take the lowest
    RECORDNO when several match. ValueError for a fixed customer (nothing to look up).
    """
    active = q.eq("STATUS", "active")
    if key.mode == "customer_name":
        match = q.eq("NAME", key.name)
    elif key.mode == "first_last":
        parts = [
            q.eq(field, value) if value else q.is_null(field)
            for field, value in (
                ("DISPLAYCONTACT.FIRSTNAME", key.first_name),
                ("DISPLAYCONTACT.LASTNAME", key.last_name),
            )
        ]
        match = q.and_(*parts)
    elif key.mode == "company":
        match = q.eq("DISPLAYCONTACT.COMPANYNAME", key.company or key.name)
    elif key.mode == "email":
        match = q.eq("DISPLAYCONTACT.EMAIL1", key.email or key.name)
    else:
        raise ValueError("a fixed customer (single mode) needs no lookup")
    return CustomerLookup("CUSTOMER", LOOKUP_FIELDS, q.and_(match, active))


_MATCH_FIELDS: Final = ("DISPLAYCONTACT.FIRSTNAME", "DISPLAYCONTACT.LASTNAME", "DISPLAYCONTACT.COMPANYNAME")


def lookup_many(keys: Sequence[CustomerKey]) -> CustomerLookup:
    """One `query` finding the active customers of several keys at once (a wave's unknown
    customers: one function instead of one per customer): the OR of each key's match, selecting
    every match field so `matches` can tell which key a row answers. Same rules as
    `lookup_filter` (case_insensitive=True, lowest RECORDNO per key)."""
    if not keys:
        raise ValueError("no customer keys to look up")
    filters = [lookup_filter(k).filter for k in keys]
    return CustomerLookup("CUSTOMER", LOOKUP_FIELDS + _MATCH_FIELDS, q.or_(*filters))


def matches(key: CustomerKey, row: Mapping[str, str]) -> bool:
    """Does a CUSTOMER row (from `lookup_many`) match `key` as `lookup_filter` would, compared
    case-insensitively? Rows this cannot place are left to a query of their own (the caller)."""

    def same(field: str, value: str | None) -> bool:
        got = row.get(field) or ""
        return got.lower() == (value or "").lower()

    if key.mode == "customer_name":
        return same("NAME", key.name)
    if key.mode == "first_last":
        return same("DISPLAYCONTACT.FIRSTNAME", key.first_name) and same("DISPLAYCONTACT.LASTNAME", key.last_name)
    if key.mode == "company":
        return same("DISPLAYCONTACT.COMPANYNAME", key.company or key.name)
    if key.mode == "email":
        return same("DISPLAYCONTACT.EMAIL1", key.email or key.name)
    return False


# ISO 3166-1 alpha-2 -> country name for MAILADDRESS COUNTRY (COUNTRYCODE carries the code).
_COUNTRY_TABLE: Final = (
    "AW=Aruba|AF=Afghanistan|AO=Angola|AI=Anguilla|AX=Åland Islands|AL=Albania|AD=Andorra|"
    "AE=United Arab Emirates|AR=Argentina|AM=Armenia|AS=American Samoa|AQ=Antarctica|"
    "TF=French Southern Territories|AG=Antigua and Barbuda|AU=Australia|AT=Austria|AZ=Azerbaijan|"
    "BI=Burundi|BE=Belgium|BJ=Benin|BQ=Bonaire, Sint Eustatius and Saba|BF=Burkina Faso|BD=Bangladesh|"
    "BG=Bulgaria|BH=Bahrain|BS=Bahamas|BA=Bosnia and Herzegovina|BL=Saint Barthélemy|BY=Belarus|"
    "BZ=Belize|BM=Bermuda|BO=Bolivia|BR=Brazil|BB=Barbados|BN=Brunei Darussalam|BT=Bhutan|"
    "BV=Bouvet Island|BW=Botswana|CF=Central African Republic|CA=Canada|CC=Cocos (Keeling) Islands|"
    "CH=Switzerland|CL=Chile|CN=China|CI=Côte d'Ivoire|CM=Cameroon|"
    "CD=Congo, The Democratic Republic of the|CG=Congo|CK=Cook Islands|CO=Colombia|KM=Comoros|"
    "CV=Cabo Verde|CR=Costa Rica|CU=Cuba|CW=Curaçao|CX=Christmas Island|KY=Cayman Islands|CY=Cyprus|"
    "CZ=Czechia|DE=Germany|DJ=Djibouti|DM=Dominica|DK=Denmark|DO=Dominican Republic|DZ=Algeria|"
    "EC=Ecuador|EG=Egypt|ER=Eritrea|EH=Western Sahara|ES=Spain|EE=Estonia|ET=Ethiopia|FI=Finland|FJ=Fiji|"
    "FK=Falkland Islands (Malvinas)|FR=France|FO=Faroe Islands|FM=Micronesia, Federated States of|"
    "GA=Gabon|GB=United Kingdom|GE=Georgia|GG=Guernsey|GH=Ghana|GI=Gibraltar|GN=Guinea|GP=Guadeloupe|"
    "GM=Gambia|GW=Guinea-Bissau|GQ=Equatorial Guinea|GR=Greece|GD=Grenada|GL=Greenland|GT=Guatemala|"
    "GF=French Guiana|GU=Guam|GY=Guyana|HK=Hong Kong|HM=Heard Island and McDonald Islands|HN=Honduras|"
    "HR=Croatia|HT=Haiti|HU=Hungary|ID=Indonesia|IM=Isle of Man|IN=India|"
    "IO=British Indian Ocean Territory|IE=Ireland|IR=Iran|IQ=Iraq|IS=Iceland|IL=Israel|IT=Italy|"
    "JM=Jamaica|JE=Jersey|JO=Jordan|JP=Japan|KZ=Kazakhstan|KE=Kenya|KG=Kyrgyzstan|KH=Cambodia|"
    "KI=Kiribati|KN=Saint Kitts and Nevis|KR=South Korea|KW=Kuwait|LA=Laos|LB=Lebanon|LR=Liberia|"
    "LY=Libya|LC=Saint Lucia|LI=Liechtenstein|LK=Sri Lanka|LS=Lesotho|LT=Lithuania|LU=Luxembourg|"
    "LV=Latvia|MO=Macao|MF=Saint Martin (French part)|MA=Morocco|MC=Monaco|MD=Moldova|MG=Madagascar|"
    "MV=Maldives|MX=Mexico|MH=Marshall Islands|MK=North Macedonia|ML=Mali|MT=Malta|MM=Myanmar|"
    "ME=Montenegro|MN=Mongolia|MP=Northern Mariana Islands|MZ=Mozambique|MR=Mauritania|MS=Montserrat|"
    "MQ=Martinique|MU=Mauritius|MW=Malawi|MY=Malaysia|YT=Mayotte|NA=Namibia|NC=New Caledonia|NE=Niger|"
    "NF=Norfolk Island|NG=Nigeria|NI=Nicaragua|NU=Niue|NL=Netherlands|NO=Norway|NP=Nepal|NR=Nauru|"
    "NZ=New Zealand|OM=Oman|PK=Pakistan|PA=Panama|PN=Pitcairn|PE=Peru|PH=Philippines|PW=Palau|"
    "PG=Papua New Guinea|PL=Poland|PR=Puerto Rico|KP=North Korea|PT=Portugal|PY=Paraguay|"
    "PS=Palestine, State of|PF=French Polynesia|QA=Qatar|RE=Réunion|RO=Romania|RU=Russian Federation|"
    "RW=Rwanda|SA=Saudi Arabia|SD=Sudan|SN=Senegal|SG=Singapore|"
    "GS=South Georgia and the South Sandwich Islands|SH=Saint Helena, Ascension and Tristan da Cunha|"
    "SJ=Svalbard and Jan Mayen|SB=Solomon Islands|SL=Sierra Leone|SV=El Salvador|SM=San Marino|"
    "SO=Somalia|PM=Saint Pierre and Miquelon|RS=Serbia|SS=South Sudan|ST=Sao Tome and Principe|"
    "SR=Suriname|SK=Slovakia|SI=Slovenia|SE=Sweden|SZ=Eswatini|SX=Sint Maarten (Dutch part)|"
    "SC=Seychelles|SY=Syria|TC=Turks and Caicos Islands|TD=Chad|TG=Togo|TH=Thailand|TJ=Tajikistan|"
    "TK=Tokelau|TM=Turkmenistan|TL=Timor-Leste|TO=Tonga|TT=Trinidad and Tobago|TN=Tunisia|TR=Türkiye|"
    "TV=Tuvalu|TW=Taiwan|TZ=Tanzania|UG=Uganda|UA=Ukraine|UM=United States Minor Outlying Islands|"
    "UY=Uruguay|US=United States|UZ=Uzbekistan|VA=Holy See (Vatican City State)|"
    "VC=Saint Vincent and the Grenadines|VE=Venezuela|VG=Virgin Islands, British|VI=Virgin Islands, U.S.|"
    "VN=Vietnam|VU=Vanuatu|WF=Wallis and Futuna|WS=Samoa|YE=Yemen|ZA=South Africa|ZM=Zambia|ZW=Zimbabwe"
)
_COUNTRY_NAMES: Final = dict(entry.split("=", 1) for entry in _COUNTRY_TABLE.split("|"))
