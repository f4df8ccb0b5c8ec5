"""Intacct's business errors, restated for a finance user with the step that fixes them.

Intacct answers validation failures with a generic error number and a sentence; these patterns
recognise the common ones (texts observed on Intacct and mirrored by the sandbox) and say what to
change. Anything unrecognised keeps Intacct's own words and gets the general advice.
"""

from __future__ import annotations

import re

REPLAY = "then replay: intacct-sync ops replay --queue {queue}"

_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"cannot convert|conversion from|createdfrom", re.I),
        "Intacct refused to create the credit memo from the order's invoice (credit_memo.created_from)",
        "Allow it in Intacct (Order Entry > Setup > Transaction definitions > your credit memo definition: add the "
        "invoice definition to the transactions it converts from), or set credit_memo.created_from to false, " + REPLAY,
    ),
    (
        re.compile(r"invalid (?:adjustmentkey|negativeinvoicekey)", re.I),
        "the refund's credit memo is not the kind of AR credit refunds.credit_key names",
        "Switch refunds.credit_key (ADJUSTMENTKEY for an AR credit memo, NEGATIVEINVOICEKEY for a negative invoice), "
        + REPLAY,
    ),
    (
        re.compile(r"invalid gl account '([^']+)'", re.I),
        "GL account {0} does not exist in Intacct",
        "Set refunds.payout_account to the number of an existing GL account, " + REPLAY,
    ),
    (
        re.compile(r"item id '([^']+)'|item '([^']+)' (?:is not valid|does not exist|not found)", re.I),
        "SKU {0} is not an Intacct item",
        "Create it in Intacct (Inventory Control > Items), or map the SKU to an item in the settings "
        "(items.sku_map / items.sku_patterns), " + REPLAY,
    ),
    (
        re.compile(r"warehouse (?:id )?'([^']+)'", re.I),
        "warehouse {0} does not exist in Intacct",
        "Create it (Inventory Control > Warehouses) or fix the rule that sets it (settings rules), " + REPLAY,
    ),
    (
        re.compile(r"location (?:id )?'([^']+)'", re.I),
        "location {0} does not exist in Intacct",
        "Create it (Company > Locations) or fix the rule that sets it (settings rules), " + REPLAY,
    ),
    (
        re.compile(r"department (?:id )?'([^']+)'", re.I),
        "department {0} does not exist in Intacct",
        "Create it (Company > Departments) or fix the rule that sets it (settings rules), " + REPLAY,
    ),
    (
        re.compile(r"class (?:id )?'([^']+)'", re.I),
        "class {0} does not exist in Intacct",
        "Create it (Company > Class) or fix the rule that sets it (settings rules), " + REPLAY,
    ),
    (
        re.compile(r"subtotal of '([^']+)' not found", re.I),
        "the transaction definition has no subtotal '{0}'",
        "Add the subtotal to the transaction definition (Order Entry > Setup > Transaction definitions) "
        "or set items.tax_subtotal to one it has, " + REPLAY,
    ),
    (
        re.compile(r"period that'?s been closed|period is closed|closed period", re.I),
        "the order date falls in a closed accounting period",
        "Reopen the period in Intacct (General Ledger > Setup > Accounting periods) or post it by hand, " + REPLAY,
    ),
    (
        re.compile(r"term (?:name )?'([^']+)'", re.I),
        "payment term {0} does not exist in Intacct",
        "Create it (Accounts Receivable > Setup > AR terms) or change invoice.term_name, " + REPLAY,
    ),
    (
        re.compile(r"currenc", re.I),
        "Intacct refused the order's currency",
        "Enable the currency in Intacct (Company > Setup > Currencies; multi-currency must be on), " + REPLAY,
    ),
    (
        re.compile(r"transaction definition|document type", re.I),
        "the transaction definition is missing or not allowed",
        "Check invoice.transaction_definition / credit_memo.transaction_definition in the settings "
        "against Order Entry > Setup > Transaction definitions, " + REPLAY,
    ),
)


def explain(message: str, *, queue: str = "orders") -> tuple[str | None, str]:
    """(a plain statement of the problem or None, the fix) for an Intacct business error text;
    `queue` is where the parked message waits for its replay."""
    for pattern, statement, fix in _RULES:
        found = pattern.search(message)
        if found:
            value = next((g for g in found.groups() if g), "")
            return statement.format(value), fix.format(queue=queue)
    return None, ("Check the order and the settings against Intacct's message, " + REPLAY).format(queue=queue)
