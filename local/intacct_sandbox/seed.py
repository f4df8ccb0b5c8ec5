"""Loading a seed (JSON file, dict or the default seed.json) into the store, and snapshots."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from . import values
from .functions.ar import insert_contact, insert_customer
from .objects import DATE, OBJECTS, TIMESTAMP
from .protocol import Ctx
from .store import Store

DEFAULT_SEED = Path(__file__).with_name("seed.json")

MASTER_LISTS = {
    "locations": ("LOCATION", "LOCATIONID"),
    "departments": ("DEPARTMENT", "DEPARTMENTID"),
    "classes": ("CLASS", "CLASSID"),
    "warehouses": ("WAREHOUSE", "WAREHOUSEID"),
    "items": ("ITEM", "ITEMID"),
}
DATA_KEYS = {*MASTER_LISTS, "customers", "contacts", "onhand"}


class SeedError(ValueError):
    pass


def read_seed(seed: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    if seed is None:
        seed = DEFAULT_SEED
    if isinstance(seed, dict):
        return copy.deepcopy(seed)
    return dict(json.loads(Path(seed).read_text(encoding="utf-8")))


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise SeedError(f"invalid seed: {msg}")


def load_seed(store: Store, seed: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    data = read_seed(seed)
    _need(isinstance(data.get("senders"), list) and data["senders"], "'senders' must be a non-empty list")
    _need(isinstance(data.get("companies"), list) and data["companies"], "'companies' must be a non-empty list")
    with store.lock:
        store.wipe()
        store.begin()
        try:
            for s in data["senders"]:
                _need("sender_id" in s and "password" in s, "each sender needs sender_id and password")
                store.put_sender(s["sender_id"], s["password"])
            for company in data["companies"]:
                _load_company(store, company)
            store.mark_seeded()
            store.commit()
        except BaseException:
            store.rollback()
            raise
    return data


def _load_company(store: Store, company: dict[str, Any]) -> None:
    cid = str(company.get("company_id") or "")
    _need(bool(cid), "each company needs company_id")
    for u in company.get("users", []):
        _need("user_id" in u and "password" in u, f"{cid}: each user needs user_id and password")
    for d in company.get("transaction_definitions", []):
        _need("name" in d, f"{cid}: each transaction definition needs a name")
    config = {k: v for k, v in company.items() if k not in DATA_KEYS}
    config.setdefault("base_currency", "USD")
    config.setdefault("currencies", [config["base_currency"]])
    config.setdefault("authorized_senders", [])
    config.setdefault("entities", [])
    store.put_company(cid, config)
    admin = {"user_id": "(seed)", "permissions": {"*": ["*"]}}
    ctx = Ctx(None, store, cid, config, admin, "(seed)", None)  # type: ignore[arg-type]
    for key, (obj, idfield) in MASTER_LISTS.items():
        for entry in company.get(key, []):
            _need(idfield in entry, f"{cid}: every entry of '{key}' needs {idfield}")
            rec = dict(entry)
            rec.setdefault("STATUS", "active")
            if obj == "ITEM":
                rec.setdefault("ITEMTYPE", "Inventory")
                rec.setdefault("UNIT", "Each")
                rec.setdefault("UOMGRP", "Count")
                rec.setdefault("NAME", rec["ITEMID"])
            store.insert(cid, obj, rec, rec[idfield])
    for c in company.get("contacts", []):
        insert_contact(ctx, dict(c))
    for c in company.get("customers", []):
        insert_customer(ctx, copy.deepcopy(c))
    for row in company.get("onhand", []):
        _need("ITEMID" in row and "WAREHOUSEID" in row, f"{cid}: onhand rows need ITEMID and WAREHOUSEID")
        rec = {
            "ITEMID": row["ITEMID"],
            "WAREHOUSEID": row["WAREHOUSEID"],
            "QTYONHAND": str(row.get("ONHAND", 0)),
            "QTYONHOLD": str(row.get("ONHOLD", 0)),
            "QTYONORDER": str(row.get("ONORDER", 0)),
        }
        store.insert(cid, "ITEMWAREHOUSEINFO", rec, f"{row['ITEMID']}|{row['WAREHOUSEID']}")


def _present(obj: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Dates in Intacct's mm/dd/yyyy form; internal bookkeeping keys kept."""
    out = copy.deepcopy(rec)
    od = OBJECTS.get(obj)
    if od is None:
        return out
    for f in od.fields:
        if "." in f.name or f.name not in out or out[f.name] is None:
            continue
        if f.datatype == DATE:
            out[f.name] = values.us_date(out[f.name])
        elif f.datatype == TIMESTAMP:
            out[f.name] = values.us_timestamp(out[f.name])
    return out


def company_snapshot(store: Store, cid: str) -> dict[str, Any]:
    def rows(obj: str) -> list[dict[str, Any]]:
        return [_present(obj, r) for r in store.all(cid, obj)]

    docs = rows("SODOCUMENT")
    for d in docs:
        d.pop("INVENTORY_EFFECT", None)
    return {
        "company_id": cid,
        "customers": rows("CUSTOMER"),
        "contacts": rows("CONTACT"),
        "items": rows("ITEM"),
        "warehouses": rows("WAREHOUSE"),
        "locations": rows("LOCATION"),
        "departments": rows("DEPARTMENT"),
        "classes": rows("CLASS"),
        "documents": docs,
        "invoices": [d for d in docs if d.get("DOCPARID") == "Sales Invoice"],
        "arinvoices": rows("ARINVOICE"),
        "payments": rows("ARPYMT"),
        "aradjustments": rows("ARADJUSTMENT"),
        "onhand": [
            {
                "ITEMID": r["ITEMID"],
                "WAREHOUSEID": r["WAREHOUSEID"],
                "ONHAND": r["QTYONHAND"],
                "ONHOLD": r["QTYONHOLD"],
                "ONORDER": r["QTYONORDER"],
            }
            for r in store.all(cid, "ITEMWAREHOUSEINFO")
        ],
    }


def snapshot(store: Store) -> dict[str, Any]:
    with store.lock:
        companies = {cid: company_snapshot(store, cid) for cid in store.company_ids()}
    first = next(iter(companies.values()), {})
    return {**first, "company": first.get("company_id"), "companies": companies}
