"""Which Intacct document is this order's: document-number claims and read-back matching.

Two stores can both have an order 1001, and one buyer (or a rule's single customer) can order
from both, so neither a document number nor reference + customer identifies an order's document.
Before a numbered document is created its DOCID is claimed in the ledger by the order creating it
(the first claim wins, for good); a document found in Intacct (read back after a write, or looked
up after a lost answer or an "already exists") is adopted only when it carries this order's
customer, reference and amount and no other order holds its claim. Payments are matched the same
way by record number. Anything else is refused with the fix, never adopted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from intacct_sync.errors import PermanentError
from intacct_sync.intacct.documents import SalesTransaction
from intacct_sync.ledger import Ledger, LedgerEntry
from intacct_sync.posting import mapping

Row = dict[str, str]


def document_id(txn: SalesTransaction) -> str | None:
    """The DOCID a new document will have, when we number it (None: Intacct numbers it)."""
    return f"{txn.transaction_type}-{txn.document_no}" if txn.document_no else None


def _amount(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _numbering_fix(setting: str, connection_id: str) -> str:
    return (
        f"Give each connection its own numbers: set {setting}.numbering.prefix_by_connection for connection "
        f"'{connection_id}' (or {setting}.numbering.prefix), then replay this order."
    )


def claim_new(ledger: Ledger, txn: SalesTransaction, owner: str, *, label: str, setting: str) -> None:
    """Reserve a new document's number for `owner` before it is sent.

    Raises PermanentError (park) when another order holds it: sending the document would collide
    with, or worse be taken for, that order's document."""
    docid = document_id(txn)
    if docid is None:
        return  # Intacct numbers it: claimed once the number is known (pick_document)
    holder = ledger.claim_document(docid, owner)
    if holder != owner:
        connection_id = owner.partition(":")[0]
        raise PermanentError(
            f"{label}: document number {docid} belongs to order {holder}, not to this order "
            "(two stores or orders with the same number)",
            fix=_numbering_fix(setting, connection_id),
        )


def pick_document(
    ledger: Ledger,
    txn: SalesTransaction,
    rows: Sequence[Row],
    *,
    key: str | None,
    owner: str,
    label: str,
    setting: str,
    held: LedgerEntry | None = None,
) -> Row | None:
    """The read-back row (SODOCUMENT: DOCID, RECORDNO, CUSTVENDID, PONUMBER, TOTAL, …) that is
    provably `owner`'s new document `txn`, or None when none is.

    `key` is the write's own answer (the new document's id), when the write succeeded; it picks the
    row. When we number documents, a row with our DOCID but another customer, reference or amount
    raises PermanentError (somebody else's document). When Intacct numbers them, the matching rows
    not claimed by another order, nor already one of `held`'s documents (this order's invoice,
    additional invoices and credit memos: two refunds of one amount match the same lookup), nor
    Closed, are candidates: one is claimed and returned; several without a key raise
    PermanentError (which one is ours cannot be told)."""
    if key:
        keyed = [r for r in rows if key in (r.get("DOCID"), r.get("RECORDNO"))]
        rows = keyed or rows
    total = mapping.intacct_total(txn)
    mine = [
        r
        for r in rows
        if r.get("CUSTVENDID", txn.customer_id) == txn.customer_id
        and (r.get("PONUMBER") or "") == (txn.reference_no or "")
        and _amount(r.get("TOTAL")) == total
    ]
    expected = document_id(txn)
    if expected is not None:
        if rows and not mine:
            raise PermanentError(
                f"{label}: Intacct already has {expected} for another customer, reference or amount; it is not "
                "this order's document",
                fix=f"Find out who created {expected} in Intacct; if two stores share order numbers: "
                + _numbering_fix(setting, owner.partition(":")[0]),
            )
        return mine[0] if mine else None
    # A document just written is never Closed: a closed one is an earlier invoice of this order
    # (`cancellation.unpaid = "close"`, then placed again), which the entry no longer names.
    mine = [r for r in mine if r.get("STATE") != "Closed"]
    if held is not None:
        known = documents_of(held)
        mine = [r for r in mine if r.get("DOCID") not in known and r.get("RECORDNO") not in known]
    free = [r for r in mine if ledger.claim_document(r.get("DOCID") or "", owner) == owner]
    if len(free) > 1:
        raise PermanentError(
            f"{label}: {len(free)} Intacct documents match its customer, reference and amount; which one this "
            "order created cannot be told",
            fix="Check those documents in Intacct, delete the duplicate, and replay this order.",
        )
    return free[0] if free else None


def credit_source(entry: LedgerEntry, amount: Decimal) -> str | None:
    """The invoice a credit memo of `amount` converts from (`credit_memo.created_from`): the
    order's invoice while the credits before it and this one stay within the invoice's total;
    None past that (unlinked), since Intacct refuses to convert a fully converted invoice. An order
    edited after payment gains an additional invoice, and its refunds can credit beyond the first
    one. Conservative: every earlier credit is counted against the invoice, linked or not."""
    total = entry.invoice_total
    if entry.document_key is None or total is None:
        return entry.document_key
    return entry.document_key if entry.credited_total + amount <= total else None


def linked_credit(txn: SalesTransaction, entry: LedgerEntry) -> SalesTransaction:
    """Credit memo `txn` converted from the order's invoice while it still can be
    (`credit_source`); else as it is, unlinked, which the order's history says."""
    source = credit_source(entry, mapping.intacct_total(txn))
    if source is None:
        entry.note("credit memo not linked", f"{entry.document_key} is credited in full: made without createdfrom")
        return txn
    return replace(txn, created_from=source)


def documents_of(entry: LedgerEntry) -> set[str]:
    """The Intacct documents `entry` records as its own (DOCID, or RECORDNO in older entries)."""
    keys = {entry.document_key, *(x.document_key for x in entry.extra_invoices)}
    keys.update(r.document_key for r in entry.refunds.values())
    return {k for k in keys if k}


def pick_payment(ledger: Ledger, rows: Sequence[Row], amount: Decimal, owner: str) -> Row | None:
    """The ARPYMT row (RECORDNO, TOTALENTERED, found by DOCNUMBER + CUSTOMERID) that is this
    payment: same amount and not held by another order. Payment ids can repeat across stores
    (WooCommerce `<order id>-paid`), and a rule's single customer pays for many orders."""
    for row in rows:
        found = _amount(row.get("TOTALENTERED"))
        if found is not None and found != amount:
            continue
        if ledger.claim_document(f"ARPYMT-{row.get('RECORDNO')}", owner) == owner:
            return row
    return None


def claim_payment(ledger: Ledger, recordno: str | None, owner: str) -> None:
    """Record a new ARPYMT as `owner`'s (so another order's lookup never adopts it)."""
    if recordno:
        ledger.claim_document(f"ARPYMT-{recordno}", owner)
