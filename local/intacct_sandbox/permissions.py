"""Role permissions: which (module path, action) each API operation needs.

A user's permissions in the seed are ``{"<Application>/<Object>": ["list", "view", "add",
"edit", "delete"]}``; ``"*"`` as a key or as an action grants everything. A missing permission
fails the function with PL04000005, the code Intacct returns for a role gap.

| Function | Object | Module path | Action | Operation in the error |
|---|---|---|---|---|
| create | CUSTOMER | Accounts Receivable/Customers | add | CREATE |
| create | CONTACT | Company/Contacts | add | CREATE |
| create | ARPYMT | Accounts Receivable/Received Payments | add | CREATE |
| create_aradjustment | ARADJUSTMENT | Accounts Receivable/Adjustments | add | CREATE |
| create_sotransaction | (transactiontype T) | Order Entry/T | add | CREATE |
| update_sotransaction | (definition T of the key) | Order Entry/T | edit | UPDATE |
| delete_sotransaction | (definition T of the key) | Order Entry/T | delete | DELETE |
| query | any | module of the object | list | QUERY |
| readByQuery | any | module of the object | list | READ_BY_QUERY |
| readMore | (object of the result set) | module of the object | list | READ_MORE |
| read | any | module of the object | view | READ |
| readByName | any | module of the object | view | READ_BY_NAME |
| lookup | any | module of the object | list | LOOKUP |
| get_icitemtotals | - | Inventory Control/Items | list | GET_ICITEMTOTALS |
| getAPISession | - | (none) | - | - |

Module of each object (see objects.py): CUSTOMER Accounts Receivable/Customers, CONTACT
Company/Contacts, SODOCUMENT Order Entry/<docparid> (``Order Entry/Transactions`` when no
docparid; that entry also grants every definition), ARINVOICE Accounts Receivable/Invoices, ARPYMT
Accounts Receivable/Received Payments, ARADJUSTMENT Accounts Receivable/Adjustments, ITEM and
ITEMWAREHOUSEINFO Inventory Control/Items,
WAREHOUSE Inventory Control/Warehouses, LOCATION Company/Locations, DEPARTMENT
Company/Departments, CLASS Company/Class.
"""

from __future__ import annotations

from typing import Any

from .errors import FunctionError
from .objects import OBJECTS

ALL_ACTIONS = ("list", "view", "add", "edit", "delete")

OPERATIONS = {
    "query": ("list", "QUERY"),
    "readByQuery": ("list", "READ_BY_QUERY"),
    "readMore": ("list", "READ_MORE"),
    "read": ("view", "READ"),
    "readByName": ("view", "READ_BY_NAME"),
    "lookup": ("list", "LOOKUP"),
    "create": ("add", "CREATE"),
    "create_sotransaction": ("add", "CREATE"),
    "create_aradjustment": ("add", "CREATE"),
    "record_otherreceipt": ("add", "CREATE"),
    "record_deposit": ("add", "CREATE"),
    "update_sotransaction": ("edit", "UPDATE"),
    "delete_sotransaction": ("delete", "DELETE"),
    "get_icitemtotals": ("list", "GET_ICITEMTOTALS"),
}

OE_ALL = "Order Entry/Transactions"


def module_for(obj: str, docparid: str | None = None) -> str:
    if obj == "SODOCUMENT":
        return f"Order Entry/{docparid}" if docparid else OE_ALL
    return OBJECTS[obj].module


def has(user: dict[str, Any], module: str, action: str) -> bool:
    perms: dict[str, list[str]] = user.get("permissions", {})
    for key in (module, "*"):
        granted = perms.get(key)
        if granted is not None and (action in granted or "*" in granted):
            return True
    # "Order Entry/Transactions" acts as a grant on every transaction definition.
    return module.startswith("Order Entry/") and module != OE_ALL and has(user, OE_ALL, action)


def check(user: dict[str, Any], function: str, obj: str, module: str) -> None:
    action, operation = OPERATIONS[function]
    if not has(user, module, action):
        raise FunctionError.one(
            "PL04000005",
            f"You do not have permission for API operation {operation} on objects of type {obj.lower()}",
            f"The user's role lacks the '{action}' permission on '{module}'.",
            f"Give the Web Services user's role the '{action.title()}' permission on {module} "
            "(Company > Admin > Roles > Permissions), as described in the connector guide.",
        )
