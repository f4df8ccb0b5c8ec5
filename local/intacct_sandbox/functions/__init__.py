"""Function registry: element name -> handler (+ schema validator run before anything executes)."""

from __future__ import annotations

from . import ar, cm, generic, inventory, oe, session
from .common import Entry

REGISTRY: dict[str, Entry] = {
    "getAPISession": Entry(session.get_api_session, session.MODELS.validate),
    "create_sotransaction": Entry(oe.create_sotransaction, oe.validate_create),
    "update_sotransaction": Entry(oe.update_sotransaction, oe.validate_update),
    "delete_sotransaction": Entry(oe.delete_sotransaction, oe.validate_delete),
    "create_aradjustment": Entry(ar.create_aradjustment, ar.validate_create_aradjustment),
    "record_otherreceipt": Entry(cm.record_otherreceipt, cm.validate),
    "record_deposit": Entry(cm.record_deposit, cm.validate),
    "create": Entry(generic.create, generic.validate_create),
    "query": Entry(generic.query, generic.validate_query),
    "readByQuery": Entry(generic.read_by_query, generic.validate_read_by_query),
    "readMore": Entry(generic.read_more, generic.validate_read_more),
    "read": Entry(generic.read, generic.validate_read),
    "readByName": Entry(generic.read_by_name, generic.validate_read_by_name),
    "lookup": Entry(generic.lookup, generic.validate_lookup),
    "get_icitemtotals": Entry(inventory.get_icitemtotals, inventory.MODELS.validate),
}

__all__ = ["REGISTRY", "Entry"]
