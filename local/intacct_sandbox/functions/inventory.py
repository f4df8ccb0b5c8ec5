"""get_icitemtotals and on-hand bookkeeping."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element

from ..contentmodel import ContentModels
from ..errors import bl_error
from ..protocol import Ctx, Result, sub
from ..store import Store
from ..values import plain
from .common import must_exist, text

MODELS = ContentModels({"get_icitemtotals": "itemid?, warehouseid?"})


def onhand_row(store: Store, company: str, itemid: str, warehouseid: str) -> dict[str, Any]:
    name = f"{itemid}|{warehouseid}"
    row = store.by_name(company, "ITEMWAREHOUSEINFO", name)
    if row is None:
        data = {
            "ITEMID": itemid,
            "WAREHOUSEID": warehouseid,
            "QTYONHAND": "0",
            "QTYONHOLD": "0",
            "QTYONORDER": "0",
        }
        store.insert(company, "ITEMWAREHOUSEINFO", data, name)
        row = store.by_name(company, "ITEMWAREHOUSEINFO", name)
        assert row is not None
    return row


def adjust(ctx: Ctx, itemid: str, warehouseid: str, delta: Decimal) -> None:
    row = onhand_row(ctx.store, ctx.company_id, itemid, warehouseid)
    new = Decimal(row["QTYONHAND"]) + delta
    if new < 0 and delta < 0 and not ctx.company.get("allow_negative_inventory", True):
        raise bl_error(
            f"Not enough quantity on hand for item '{itemid}' in warehouse '{warehouseid}'",
            f"On hand {plain(Decimal(row['QTYONHAND']))}, requested {plain(-delta)}.",
            "Receive stock first or enable negative inventory.",
        )
    row["QTYONHAND"] = plain(new)
    ctx.store.update(ctx.company_id, "ITEMWAREHOUSEINFO", row)


def get_icitemtotals(ctx: Ctx, el: Element) -> Result:
    ctx.check("ITEM", "Inventory Control/Items")
    itemid = (text(el, "itemid") or "").strip() or None
    whid = (text(el, "warehouseid") or "").strip() or None
    if itemid:
        must_exist(ctx, "ITEM", itemid)
    if whid:
        must_exist(ctx, "WAREHOUSE", whid)
    rows = [
        r
        for r in ctx.store.all(ctx.company_id, "ITEMWAREHOUSEINFO")
        if (itemid is None or r["ITEMID"] == itemid) and (whid is None or r["WAREHOUSEID"] == whid)
    ]
    rows.sort(key=lambda r: (r["ITEMID"], r["WAREHOUSEID"]))
    data = Element("data")
    totals = sub(data, "icitemtotals")
    for r in rows:
        it = sub(totals, "itemtotal")
        sub(it, "itemid", r["ITEMID"])
        sub(it, "warehouseid", r["WAREHOUSEID"])
        sub(it, "onhand", r["QTYONHAND"])
        sub(it, "onorder", r["QTYONORDER"])
        sub(it, "onhold", r["QTYONHOLD"])
    return Result(data=data)
