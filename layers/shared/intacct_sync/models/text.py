"""Which characters a string may carry through the product, and the one rule for each field.

Every string ends up in an SQS message (body and attributes), a DynamoDB item and Intacct XML.
SQS and XML 1.0 accept the same set: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD |
#x10000-#x10FFFF. Anything else (lone surrogates such as a JSON "\\ud800", C0 controls other than
tab/CR/LF, U+FFFE, U+FFFF) either crashes serialisation or is refused by the service, so it must
never enter:

- free text (names, addresses, notes, tags, line and shipping titles, reasons, gateway names):
  the disallowed characters are dropped (`clean_text`); what a person reads is unchanged;
- everything else (ids, numbers, codes, currency, e-mail, SKUs, statuses, topics): refused with
  a 400 naming the field, because dropping a character would turn one identifier into another.
"""

from __future__ import annotations

import re
from typing import Final

DISALLOWED: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""One character neither SQS nor XML 1.0 (Intacct) accepts."""

FREE_TEXT_FIELDS: Final = frozenset(
    {
        "name",
        "company",
        "line1",
        "line2",
        "city",
        "region",
        "postal_code",
        "phone",
        "first_name",
        "last_name",
        "title",
        "note",
        "tags",
        "gateway",
        "reason",
    }
)
"""Canonical model fields holding text a person typed: cleaned, never refused."""


def first_disallowed(text: str) -> str | None:
    """'U+XXXX' of the first character SQS/XML cannot carry, or None when `text` is clean."""
    match = DISALLOWED.search(text)
    return None if match is None else f"U+{ord(match.group()):04X}"


def clean_text(text: str) -> str:
    """`text` without the characters SQS/XML cannot carry (the documented rule for free text)."""
    return DISALLOWED.sub("", text)
