"""Intacct failures as types, each saying whether a retry can help and, if not, what fixes it.

The XML gateway answers almost everything with HTTP 200 and puts the failure in the body at one
of three levels: control (nothing ran), authentication (nothing ran) or function (that function
failed). `XL03000006` alone covers five different credential problems, so classification looks
at the level and the text, not the number alone (reference: intacct-xml-api.md §7).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from intacct_sync.errors import ConfigurationError, PermanentError, TransientError

GUIDE = "connector guide (README 'Intacct setup')"


@dataclass(frozen=True)
class ErrorDetail:
    """One `<error>` of an Intacct `<errormessage>`."""

    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""

    @property
    def text(self) -> str:
        return " ".join(p for p in (self.description, self.description2, self.correction) if p)

    def __str__(self) -> str:
        return f"{self.errorno}: {self.text}" if self.text else self.errorno


def _summary(errors: Sequence[ErrorDetail]) -> str:
    return "; ".join(str(e) for e in errors) or "no error detail in the response"


class IntacctTransientError(TransientError):
    """Intacct could not take the request now; nothing was executed, so a retry is safe."""

    def __init__(self, message: str, *, errors: Sequence[ErrorDetail] = (), fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.errors = tuple(errors)


class IntacctRateLimited(IntacctTransientError):
    """HTTP 429 / GW-0010 / 'API rate limit exceeded': back off and retry."""


class IntacctUnavailable(IntacctTransientError):
    """Connection refused, 503, 'Temporarily Off-line', or a failed read: retry later."""


class IntacctProtocolError(IntacctUnavailable):
    """The gateway's answer to a read was not a usable Intacct response (not XML, hostile XML,
    nested too deep, too many elements, a paging attribute that is not a number).

    Nothing was changed, so a retry is safe. The same answer to a write is an
    `IntacctOutcomeUnknown` instead: the write may have been committed before the answer broke.
    """


class IntacctOutcomeUnknown(TransientError):
    """A write was sent and no trustworthy answer came back (time-out, 5xx after sending).

    It may or may not have been committed. Never re-create blindly: look the document up by its
    business key first; re-sending the same function controlid under uniqueid is also safe.
    """

    def __init__(self, message: str, *, controlids: Sequence[str]) -> None:
        super().__init__(
            message,
            fix="The sync looks the document up by its key before any retry; nothing to do by hand.",
        )
        self.controlids = tuple(controlids)


class IntacctPermanentError(PermanentError):
    """A failure that repeats until data or configuration changes."""

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[ErrorDetail] = (),
        function: str | None = None,
        controlid: str | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message, fix=fix)
        self.errors = tuple(errors)
        self.function = function
        self.controlid = controlid

    @property
    def errornos(self) -> tuple[str, ...]:
        return tuple(e.errorno for e in self.errors)


class IntacctConfigurationError(IntacctPermanentError, ConfigurationError):
    """Credentials, sender authorisation, entity or role permissions: a setup step fixes it."""


class IntacctRequestError(IntacctPermanentError):
    """The gateway rejected the request itself (schema error, invalid request): a bug to report."""


class IntacctFunctionError(IntacctPermanentError):
    """A function failed on business rules (unknown item, closed period, duplicate number...)."""


class IntacctAlreadyExecuted(IntacctFunctionError):
    """Intacct refused a write whose function controlid already completed under uniqueid=true.

    This is the signature of an earlier attempt that committed: the caller looks the document up
    by its business key and adopts it. The exact Intacct error text is not documented; the
    markers are configurable (`IntacctClient(already_executed_markers=...)`).
    """


# --- classification --------------------------------------------------------------------------

_RATE_LIMIT_MARKERS = ("gw-0010", "rate limit exceeded", "too many requests")
_OFFLINE_MARKERS = ("temporarily off-line", "temporarily offline", "service is temporarily unavailable")
DEFAULT_ALREADY_EXECUTED_MARKERS = (
    "has already been executed",
    "already been processed",
    "duplicate control id",
    "duplicate controlid",
)

_PERMISSION_RE = re.compile(
    r"permission for API operation\s+(?P<op>[A-Z_]+)\s+on objects of type\s+(?P<obj>[A-Za-z_.]+)", re.I
)

# Object type (lower case, as Intacct names it in PL04000005) -> where the permission lives in
# Company > Admin > Roles > Permissions. Names follow the connector guide's permission table.
PERMISSION_LOCATIONS: dict[str, str] = {
    "customer": "Accounts Receivable > Customers",
    "arinvoice": "Accounts Receivable > Invoices",
    "arpymt": "Accounts Receivable > Received Payments",
    "arpayment": "Accounts Receivable > Received Payments",
    "arpaymentitem": "Accounts Receivable > Received Payments",
    "araccountlabel": "Accounts Receivable > Account Labels",
    "sodocument": "Order Entry > the transaction definition (e.g. Sales Invoice)",
    "sotransaction": "Order Entry > the transaction definition (e.g. Sales Invoice)",
    "sodocumententry": "Order Entry > the transaction definition (e.g. Sales Invoice)",
    "item": "Inventory Control > Items",
    "warehouse": "Inventory Control > Warehouses",
    "itemwarehouseinfo": "Inventory Control > Items",
    "icitemtotals": "Inventory Control > Items",
    "location": "Company > Locations",
    "department": "Company > Departments",
    "class": "Company > Class",
    "contact": "Company > Contacts",
    "checkingaccount": "Cash Management > Checking Accounts",
}
_OPERATION_PERMISSION = {"CREATE": "Add", "UPDATE": "Edit", "DELETE": "Delete"}


def _lower_text(errors: Sequence[ErrorDetail]) -> str:
    return " ".join(f"{e.errorno} {e.text}" for e in errors).lower()


def is_rate_limited(errors: Sequence[ErrorDetail]) -> bool:
    return any(m in _lower_text(errors) for m in _RATE_LIMIT_MARKERS)


def is_offline(errors: Sequence[ErrorDetail]) -> bool:
    return any(m in _lower_text(errors) for m in _OFFLINE_MARKERS)


def permission_fix(errors: Sequence[ErrorDetail]) -> str:
    """The setup step for a PL04000005, naming the module, object and permission."""
    match = next((m for e in errors if (m := _PERMISSION_RE.search(e.text))), None)
    if match is None:
        where, perm = "the objects this sync uses", "the missing"
    else:
        op, obj = match["op"].upper(), match["obj"].lower()
        where = PERMISSION_LOCATIONS.get(obj, f"the '{obj}' object")
        perm = _OPERATION_PERMISSION.get(op, "List and View")
    return (
        f"Give the Web Services user's role the '{perm}' permission on {where}: "
        "Company > Admin > Roles > (the role) > Permissions, then Save; or assign the Admin role "
        f"(step 2 'Assign Permissions to the Web Services User' of the {GUIDE})."
    )


def classify_control_failure(errors: Sequence[ErrorDetail], *, sender_id: str) -> Exception:
    """Error for a `<response><control><status>failure`: nothing in the request ran."""
    text = _lower_text(errors)
    summary = _summary(errors)
    if is_rate_limited(errors):
        return IntacctRateLimited(f"Intacct rate limit: {summary}", errors=errors)
    if is_offline(errors):
        return IntacctUnavailable(f"Intacct is off-line: {summary}", errors=errors)
    if "xmlgw_jpp0002" in text:
        return IntacctConfigurationError(
            f"The Intacct gateway rejected the sign-in ({summary}).",
            errors=errors,
            fix=(
                "Check every credential in the Intacct credentials secret: sender_id and "
                "sender_password (Web Services developer credentials) and company_id, user_id and "
                f"user_password (the Web Services user of step 1 of the {GUIDE}). All are case-sensitive."
            ),
        )
    if "partner id or password" in text:
        return IntacctConfigurationError(
            f"Intacct rejected the sender credentials ({summary}).",
            errors=errors,
            fix=(
                "Check sender_id and sender_password in the Intacct credentials secret: they are the "
                "Web Services developer (sender) credentials, case-sensitive, not the user's. "
                f"Sender ID in use: '{sender_id}'."
            ),
        )
    if "pl04000055" in text or "demo company" in text:
        return IntacctConfigurationError(
            f"The Intacct company cannot be used: {summary}",
            errors=errors,
            fix="The company has expired; point company_id in the credentials secret at a live company.",
        )
    return IntacctRequestError(
        f"Intacct rejected the request: {summary}",
        errors=errors,
        fix="This is a bug in the request the sync built: report it with this error text.",
    )


def classify_auth_failure(errors: Sequence[ErrorDetail], *, sender_id: str, entity_id: str | None) -> Exception:
    """Error for `<operation><authentication><status>failure`: nothing in the request ran."""
    text = _lower_text(errors)
    summary = _summary(errors)
    if is_rate_limited(errors):
        return IntacctRateLimited(f"Intacct rate limit: {summary}", errors=errors)
    if "web services authorization" in text or "not authorized to make web services" in text:
        return IntacctConfigurationError(
            f"The sender ID is not authorised for this company ({summary}).",
            errors=errors,
            fix=(
                f"In Intacct choose the top level, then Company > Setup > Company > Security tab > Edit; "
                f"under Web Services authorizations click Add, enter '{sender_id}' and Save "
                f"(step 3 'Authorize your Sender ID' of the {GUIDE})."
            ),
        )
    if entity_id and ("entity" in text or "location" in text):
        return IntacctConfigurationError(
            f"Intacct rejected the entity '{entity_id}' ({summary}).",
            errors=errors,
            fix=(
                "Set entity_id in the Intacct credentials secret to an entity ID the Web Services user "
                "may sign in to (Company > Entities), or remove it to sign in at the top level."
            ),
        )
    return IntacctConfigurationError(
        f"Intacct rejected the company sign-in ({summary}).",
        errors=errors,
        fix=(
            "Check company_id, user_id and user_password in the Intacct credentials secret. The user "
            "must be a Web Services user (Company > Admin > Web Services users; step 1 'Create a web "
            f"services user' of the {GUIDE}); its password is the one in Intacct's welcome email."
        ),
    )


def classify_function_failure(
    errors: Sequence[ErrorDetail],
    *,
    function: str,
    controlid: str,
    already_executed_markers: Sequence[str] = DEFAULT_ALREADY_EXECUTED_MARKERS,
) -> Exception:
    """Error for one failed `<result>`; other functions of the request are unaffected."""
    text = _lower_text(errors)
    summary = _summary(errors)
    if is_rate_limited(errors):
        return IntacctRateLimited(f"Intacct rate limit in {function}: {summary}", errors=errors)
    if is_offline(errors):
        return IntacctUnavailable(f"Intacct is off-line: {summary}", errors=errors)
    if "pl04000005" in text or "do not have permission" in text:
        return IntacctConfigurationError(
            f"The Web Services user may not do this: {summary}",
            fix=permission_fix(errors),
            errors=errors,
            function=function,
            controlid=controlid,
        )
    if any(m in text for m in already_executed_markers):
        return IntacctAlreadyExecuted(
            f"{function} '{controlid}' was already executed by an earlier attempt: {summary}",
            fix="The sync adopts the existing document; nothing to do by hand.",
            errors=errors,
            function=function,
            controlid=controlid,
        )
    return IntacctFunctionError(
        f"{function} '{controlid}' failed: {summary}", errors=errors, function=function, controlid=controlid
    )
