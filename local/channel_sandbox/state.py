"""In-memory world of the channel sandbox: stores, catalog, locations, inventory, orders, webhooks.

One `World` holds every store of every channel. Everything is guarded by `World.lock` (an RLock);
HTTP handlers and the Python API take it around each operation.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .common import (
    fmt_rfc2822,
    fmt_shopify,
    fmt_wc_gmt,
    fmt_wc_local,
    now_utc,
    parse_iso,
    parse_offset,
    parse_rfc2822,
)

CHANNELS = ("shopify", "woocommerce", "bigcommerce")
DEFAULT_SEED_PATH = Path(__file__).with_name("seed.json")


@dataclass(slots=True)
class Location:
    id: int
    name: str
    code: str = ""
    active: bool = True
    is_default: bool = False


@dataclass(slots=True)
class Variant:
    id: int
    product_id: int
    sku: str
    title: str = ""
    price: str = "0.00"
    inventory_item_id: int = 0  # Shopify only (0 elsewhere)
    tracked: bool = True
    is_base: bool = False  # Woo simple product / BigCommerce base variant


@dataclass(slots=True)
class Product:
    id: int
    name: str
    type: str = "simple"  # Woo: simple|variable; BigCommerce: simple (base variant) | variant-tracked
    sku: str = ""
    variant_ids: list[int] = field(default_factory=list)
    modified: datetime | None = None
    stock: int | None = None  # Woo variable product: parent-level stock (does not reach variations)


@dataclass
class OrderRec:
    id: int
    data: dict[str, Any]
    modified: datetime
    created: datetime
    transactions: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)  # Woo/BC full refund objects
    notes: list[dict[str, Any]] = field(default_factory=list)  # Woo order notes
    metafields: list[dict[str, Any]] = field(default_factory=list)  # Shopify
    products: list[dict[str, Any]] = field(default_factory=list)  # BC order products
    shipping_addresses: list[dict[str, Any]] = field(default_factory=list)  # BC
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # BC coupons, taxes, fees


class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    def next(self) -> int:
        self.value += 1
        return self.value

    def see(self, used: int) -> None:
        self.value = max(self.value, used)


@dataclass
class StoreState:
    channel: str
    key: str  # shop domain / woo store slug / BC store hash
    tz: timezone
    config: dict[str, Any]  # the store's seed entry minus catalog/orders (credentials, names)
    locations: dict[int, Location] = field(default_factory=dict)
    products: dict[int, Product] = field(default_factory=dict)
    variants: dict[int, Variant] = field(default_factory=dict)
    by_item: dict[int, int] = field(default_factory=dict)  # Shopify inventory item id -> variant id
    sku_index: dict[str, list[int]] = field(default_factory=dict)
    levels: dict[tuple[int, int | None], int] = field(default_factory=dict)
    orders: dict[int, OrderRec] = field(default_factory=dict)
    webhooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    ids: dict[str, Counter] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, Any]] = field(default_factory=dict)  # Shopify @idempotent keys
    issued_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)  # Shopify client-credential tokens
    adjustments: list[dict[str, Any]] = field(default_factory=list)  # log of stock writes
    payouts: dict[int, dict[str, Any]] = field(default_factory=dict)  # Shopify Payments payouts (shopify_payments)
    balance_transactions: dict[int, dict[str, Any]] = field(default_factory=dict)  # ... and their transactions
    cache: dict[str, tuple[int, list[int]]] = field(default_factory=dict)

    def sorted_ids(self, what: str) -> list[int]:
        """Sorted product or variant ids (cached; catalogs only grow). Do not mutate the result."""
        src: dict[int, Any] = self.products if what == "products" else self.variants
        hit = self.cache.get(what)
        if hit is None or hit[0] != len(src):
            hit = (len(src), sorted(src))
            self.cache[what] = hit
        return hit[1]

    def stock_of(self, vid: int) -> int:
        """Total quantity of a variant over every location."""
        if self.channel == "woocommerce":
            return self.levels.get((vid, None), 0)
        return sum(self.levels.get((vid, lid), 0) for lid in self.locations)

    def next_id(self, kind: str) -> int:
        return self.ids[kind].next()

    def see_id(self, kind: str, value: Any) -> None:
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            self.ids[kind].see(int(value))

    # ---- catalog ----
    def index_variant(self, v: Variant) -> None:
        self.variants[v.id] = v
        if v.inventory_item_id:
            self.by_item[v.inventory_item_id] = v.id
        if v.sku:
            self.sku_index.setdefault(v.sku, []).append(v.id)

    def variants_for_sku(self, sku: str) -> list[Variant]:
        return [self.variants[i] for i in self.sku_index.get(sku, ())]

    def default_location_ids(self) -> list[int | None]:
        if self.channel == "woocommerce":
            return [None]
        return [loc.id for loc in self.locations.values() if loc.active]


# Id counters per channel: (kind, start). Shopify ids are large like the real ones.
ID_STARTS: dict[str, dict[str, int]] = {
    "shopify": {
        "order": 5_900_000_000_000,
        "product": 8_100_000_000_000,
        "variant": 44_000_000_000_000,
        "item": 46_000_000_000_000,
        "location": 70_000_000_000,
        "webhook": 1_300_000_000_000,
        "transaction": 7_000_000_000_000,
        "refund": 930_000_000_000,
        "metafield": 26_000_000_000_000,
        "adjustment": 90_000_000_000,
    },
    "woocommerce": {"post": 1000, "webhook": 10, "note": 300, "refund": 5000, "meta": 9000, "order": 0},
    "bigcommerce": {
        "order": 100,
        "product": 110,
        "variant": 200,
        "location": 0,
        "webhook": 25_000_000,
        "transaction": 40,
        "refund": 20,
        "order_product": 70,
        "address": 60,
    },
}


class World:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stores: dict[tuple[str, str], StoreState] = {}
        self.seed: dict[str, Any] = {}

    # ---- lookup ----
    def store(self, channel: str, key: str) -> StoreState:
        try:
            return self.stores[(channel, key)]
        except KeyError:
            known = ", ".join(f"{c}/{k}" for c, k in self.stores) or "none"
            raise KeyError(f"unknown store {channel}/{key} (known: {known})") from None

    def find(self, channel: str, key: str) -> StoreState | None:
        return self.stores.get((channel, key))

    # ---- loading ----
    def load(self, seed: dict[str, Any]) -> None:
        with self.lock:
            self.seed = copy.deepcopy(seed)
            self.stores.clear()
            for channel in CHANNELS:
                for key, entry in (seed.get(channel) or {}).items():
                    self.add_store(channel, key, entry)

    def add_store(self, channel: str, key: str, entry: dict[str, Any]) -> StoreState:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}")
        entry = copy.deepcopy(entry)
        catalog = {k: entry.pop(k, None) for k in ("locations", "products", "orders", "webhooks")}
        side = {k: entry.pop(k, None) or {} for k in ("transactions", "refunds")}
        st = StoreState(channel, key, parse_offset(entry.get("timezone", "+00:00")), entry)
        st.ids = {k: Counter(v) for k, v in ID_STARTS[channel].items()}
        with self.lock:
            self.stores[(channel, key)] = st
            for loc in catalog["locations"] or []:
                self._add_location(st, loc)
            for prod in catalog["products"] or []:
                self._add_seed_product(st, prod)
            for order in catalog["orders"] or []:
                self.put_order(channel, key, order)
            for oid, txns in side["transactions"].items():
                for t in txns:
                    self.add_transaction(channel, key, int(oid), t)
            for oid, refunds in side["refunds"].items():
                for r in refunds:
                    self.add_refund(channel, key, int(oid), r, touch=False)
            for hook in catalog["webhooks"] or []:
                hid = int(hook.get("id") or st.next_id("webhook"))
                st.see_id("webhook", hid)
                st.webhooks[hid] = {**hook, "id": hid}
        return st

    def _add_location(self, st: StoreState, loc: dict[str, Any]) -> Location:
        lid = int(loc.get("id") or st.next_id("location"))
        st.see_id("location", lid)
        location = Location(
            lid,
            loc.get("name", f"Location {lid}"),
            loc.get("code", f"LOC-{lid}"),
            loc.get("active", True),
            loc.get("is_default", False),
        )
        st.locations[lid] = location
        return location

    def _add_seed_product(self, st: StoreState, prod: dict[str, Any]) -> None:
        kind = "post" if st.channel == "woocommerce" else "product"
        pid = int(prod.get("id") or st.next_id(kind))
        st.see_id(kind, pid)
        variants = prod.get("variants") or prod.get("variations") or []
        ptype = prod.get("type") or ("variable" if variants and st.channel == "woocommerce" else "simple")
        p = Product(pid, prod.get("name") or prod.get("title") or f"Product {pid}", ptype, prod.get("sku", ""))
        p.modified = now_utc()
        st.products[pid] = p
        if st.channel == "woocommerce" and ptype == "simple":
            v = Variant(pid, pid, p.sku, p.name, str(prod.get("price", "0.00")), is_base=True)
            st.index_variant(v)
            p.variant_ids.append(pid)
            self._seed_levels(st, v, prod)
            return
        if st.channel == "bigcommerce" and not variants:
            variants = [{"sku": p.sku, "price": prod.get("price", "0.00"), "inventory": prod.get("inventory")}]
            base = True
        else:
            base = False
        if st.channel == "bigcommerce" and prod.get("inventory_tracking") == "product":
            base = True
        for vd in variants:
            vkind = "post" if st.channel == "woocommerce" else "variant"
            vid = int(vd.get("id") or st.next_id(vkind))
            st.see_id(vkind, vid)
            item = 0
            if st.channel == "shopify":
                item = int(vd.get("inventory_item_id") or st.next_id("item"))
                st.see_id("item", item)
            v = Variant(
                vid,
                pid,
                vd.get("sku", ""),
                vd.get("title", vd.get("sku", "")),
                str(vd.get("price", "0.00")),
                item,
                vd.get("tracked", True),
                is_base=base,
            )
            st.index_variant(v)
            p.variant_ids.append(vid)
            self._seed_levels(st, v, vd)

    def _seed_levels(self, st: StoreState, v: Variant, data: dict[str, Any]) -> None:
        if st.channel == "woocommerce":
            qty = data.get("stock_quantity")
            st.levels[(v.id, None)] = int(qty or 0)
            return
        inv = data.get("inventory")
        if inv is None:
            for lid in st.default_location_ids():
                st.levels[(v.id, lid)] = 0
            return
        for lid, qty in inv.items():
            st.levels[(v.id, int(lid))] = int(qty)

    # ---- bulk catalog for tests/benchmarks ----
    def add_products(
        self,
        channel: str,
        key: str,
        skus: list[str],
        quantity: int = 0,
        locations: list[int] | None = None,
    ) -> list[int]:
        """One simple product per SKU (one variant each), stocked at `locations` (default: all)."""
        with self.lock:
            st = self.store(channel, key)
            locs: list[int | None] = (
                [None] if channel == "woocommerce" else list(locations or st.default_location_ids())
            )
            now = now_utc()
            out: list[int] = []
            shop = channel == "shopify"
            woo = channel == "woocommerce"
            for sku in skus:
                pid = st.next_id("post" if woo else "product")
                p = Product(pid, sku, "simple", sku, [], now)
                if woo:
                    vid, item = pid, 0
                else:
                    vid = st.next_id("variant")
                    item = st.next_id("item") if shop else 0
                v = Variant(vid, pid, sku, sku, "10.00", item, True, not shop)
                p.variant_ids.append(vid)
                st.products[pid] = p
                st.index_variant(v)
                for lid in locs:
                    st.levels[(vid, lid)] = quantity
                out.append(vid)
            return out

    def inventory(self, channel: str, key: str) -> dict[tuple[str, int | None], int]:
        with self.lock:
            st = self.store(channel, key)
            return {(st.variants[vid].sku, lid): qty for (vid, lid), qty in st.levels.items()}

    # ---- orders ----
    def put_order(self, channel: str, key: str, order: dict[str, Any], touch: bool | None = None) -> int:
        """Create or replace an order. The modified timestamp is kept when given, else set to now.

        `touch=True` always bumps it to now. BigCommerce accepts either the v2 order with `products`
        / `shipping_addresses` lists, or a bundle `{"order": ..., "products": [...], ...}`.
        """
        with self.lock:
            st = self.store(channel, key)
            if channel == "bigcommerce":
                return self._put_bc_order(st, order, touch)
            data = copy.deepcopy(order)
            kind = "order" if channel == "shopify" else "post"
            oid = int(data.get("id") or st.next_id(kind))
            st.see_id(kind, oid)
            data["id"] = oid
            now = now_utc()
            prev = st.orders.get(oid)
            if channel == "shopify":
                mod_field, created_field = "updated_at", "created_at"
                if touch or not data.get(mod_field):
                    data[mod_field] = fmt_shopify(now, st.tz)
                data.setdefault(created_field, data[mod_field])
                data.setdefault("admin_graphql_api_id", f"gid://shopify/Order/{oid}")
                modified = parse_iso(data[mod_field])
                created = parse_iso(data[created_field])
            else:
                if touch or not (data.get("date_modified_gmt") or data.get("date_modified")):
                    data["date_modified_gmt"] = fmt_wc_gmt(now)
                    data["date_modified"] = fmt_wc_local(now, st.tz)
                elif not data.get("date_modified_gmt"):
                    data["date_modified_gmt"] = fmt_wc_gmt(parse_iso(data["date_modified"], st.tz))
                elif not data.get("date_modified"):
                    data["date_modified"] = fmt_wc_local(parse_iso(data["date_modified_gmt"]), st.tz)
                if not data.get("date_created_gmt"):
                    data["date_created_gmt"] = data["date_modified_gmt"]
                    data.setdefault("date_created", data["date_modified"])
                data.setdefault("status", "pending")
                data.setdefault("meta_data", [])
                data.setdefault("refunds", [])
                modified = parse_iso(data["date_modified_gmt"])
                created = parse_iso(data["date_created_gmt"])
            rec = OrderRec(oid, data, modified, created)
            if prev is not None:
                rec.transactions, rec.refunds, rec.notes = prev.transactions, prev.refunds, prev.notes
                rec.metafields = prev.metafields
            st.orders[oid] = rec
            return oid

    def _put_bc_order(self, st: StoreState, order: dict[str, Any], touch: bool | None) -> int:
        src = copy.deepcopy(order)
        data = src["order"] if isinstance(src.get("order"), dict) else src
        extras: dict[str, Any] = {}
        for k in ("products", "shipping_addresses", "transactions", "refunds", "coupons", "taxes", "fees"):
            value = src.get(k) if data is not src else data.get(k)
            if isinstance(value, dict) and k == "transactions":
                value = value.get("data")
            if isinstance(value, list):
                extras[k] = value
                if data is src:
                    data.pop(k, None)
        oid = int(data.get("id") or st.next_id("order"))
        st.see_id("order", oid)
        data["id"] = oid
        now = now_utc()
        if touch or not data.get("date_modified"):
            data["date_modified"] = fmt_rfc2822(now)
        data.setdefault("date_created", data["date_modified"])
        data.setdefault("status_id", 11)
        data.setdefault("status", BC_STATUSES.get(int(data["status_id"]), "Awaiting Fulfillment"))
        data.setdefault("staff_notes", "")
        prev = st.orders.get(oid)
        rec = OrderRec(oid, data, parse_rfc2822(data["date_modified"]), parse_rfc2822(data["date_created"]))
        if prev is not None:
            rec.transactions, rec.refunds = prev.transactions, prev.refunds
            rec.products, rec.shipping_addresses = prev.products, prev.shipping_addresses
        if "products" in extras:
            rec.products = [{**p, "order_id": oid} for p in extras["products"]]
        if "shipping_addresses" in extras:
            rec.shipping_addresses = [{**a, "order_id": oid} for a in extras["shipping_addresses"]]
        if "transactions" in extras:
            rec.transactions = extras["transactions"]
        if "refunds" in extras:
            rec.refunds = extras["refunds"]
        if prev is not None:
            rec.extra = prev.extra
        for k in ("coupons", "taxes", "fees"):
            if k in extras:
                rec.extra[k] = extras[k]
        for p in rec.products:
            st.see_id("order_product", p.get("id"))
        for a in rec.shipping_addresses:
            st.see_id("address", a.get("id"))
        for t in rec.transactions:
            st.see_id("transaction", t.get("id"))
        st.orders[oid] = rec
        return oid

    def touch_order(self, st: StoreState, rec: OrderRec) -> None:
        """Bump an order's modified timestamp to now, in the channel's own field and format."""
        now = now_utc()
        rec.modified = now
        if st.channel == "shopify":
            rec.data["updated_at"] = fmt_shopify(now, st.tz)
        elif st.channel == "woocommerce":
            rec.data["date_modified_gmt"] = fmt_wc_gmt(now)
            rec.data["date_modified"] = fmt_wc_local(now, st.tz)
        else:
            rec.data["date_modified"] = fmt_rfc2822(now)

    def add_transaction(self, channel: str, key: str, order_id: int, txn: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            st = self.store(channel, key)
            rec = st.orders[order_id]
            t = copy.deepcopy(txn)
            t.setdefault("id", st.next_id("transaction"))
            st.see_id("transaction", t["id"])
            t.setdefault("order_id", order_id if channel == "shopify" else str(order_id))
            rec.transactions.append(t)
            return t

    def add_refund(
        self, channel: str, key: str, order_id: int, refund: dict[str, Any], touch: bool = True
    ) -> dict[str, Any]:
        """Shopify: appended to order.refunds. Woo: full refund kept, summary added to order.refunds.
        BigCommerce: kept for /v3/orders/{id}/payment_actions/refunds."""
        with self.lock:
            st = self.store(channel, key)
            rec = st.orders[order_id]
            r = copy.deepcopy(refund)
            r.setdefault("id", st.next_id("refund"))
            st.see_id("refund", r["id"])
            if channel == "shopify":
                r.setdefault("order_id", order_id)
                rec.data.setdefault("refunds", []).append(r)
            elif channel == "woocommerce":
                rec.refunds.append(r)
                summary = {"id": r["id"], "reason": r.get("reason", ""), "total": f"-{r.get('amount', '0.00')}"}
                if not any(s.get("id") == r["id"] for s in rec.data.setdefault("refunds", [])):
                    rec.data["refunds"].append(summary)
            else:
                r.setdefault("order_id", order_id)
                rec.refunds.append(r)
            if touch:
                self.touch_order(st, rec)
            return r


BC_STATUSES = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}


def read_seed(seed: str | Path | dict[str, Any] | None) -> dict[str, Any]:
    if seed is None:
        seed = DEFAULT_SEED_PATH
    if isinstance(seed, dict):
        return copy.deepcopy(seed)
    data = json.loads(Path(seed).read_text())
    if not isinstance(data, dict):
        raise ValueError("seed must be a JSON object keyed by channel")  # noqa: TRY004
    return data
