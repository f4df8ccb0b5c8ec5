"""Shopify Admin GraphQL imitation: a typed subset of the schema, query-cost throttling, the
inventory, webhook-subscription and order-writeback fields the product uses.

Cost model (Shopify's calculated query cost): scalar 0, object 1, connection 2 + first x (cost of
one node), mutation root field 10. The requested cost is taken from the bucket before execution
(THROTTLED when short) and the difference to the actual cost is given back afterwards.
"""

from __future__ import annotations

import bisect
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from . import shopify_payments
from .common import ApiError, Request, Response, decode_cursor, encode_cursor, fmt_shopify, now_utc
from .graphql import Document, Field, FragmentSpread, GraphQLSyntaxError, InlineFragment, parse, resolve_value
from .shopify import WEBHOOK_TOPICS, create_webhook, set_metafield, validate_address
from .state import Location, OrderRec, StoreState, Variant

SCALARS = {
    "ID",
    "String",
    "Int",
    "Float",
    "Boolean",
    "DateTime",
    "URL",
    "Money",
    "Decimal",
    "JSON",
    "UnsignedInt64",
    "WebhookSubscriptionTopic",
    "WebhookSubscriptionFormat",
    "OrderDisplayFinancialStatus",
    "InventorySetQuantitiesUserErrorCode",
    "MetafieldsSetUserErrorCode",
    "InventoryActivateUserErrorCode",
}

_CONNECTED = (
    "ProductVariant",
    "InventoryItem",
    "InventoryLevel",
    "Location",
    "WebhookSubscription",
    "Metafield",
    "Product",
)

SCHEMA: dict[str, dict[str, str]] = {
    "QueryRoot": {
        "shop": "Shop",
        "locations": "LocationConnection",
        "location": "Location",
        "productVariants": "ProductVariantConnection",
        "productVariant": "ProductVariant",
        "inventoryItems": "InventoryItemConnection",
        "inventoryItem": "InventoryItem",
        "webhookSubscriptions": "WebhookSubscriptionConnection",
        "webhookSubscription": "WebhookSubscription",
        "order": "Order",
        "node": "Node",
        "shopifyPaymentsAccount": "ShopifyPaymentsAccount",
    },
    "Mutation": {
        "inventorySetQuantities": "InventorySetQuantitiesPayload",
        "inventoryActivate": "InventoryActivatePayload",
        "webhookSubscriptionCreate": "WebhookSubscriptionCreatePayload",
        "webhookSubscriptionDelete": "WebhookSubscriptionDeletePayload",
        "tagsAdd": "TagsAddPayload",
        "metafieldsSet": "MetafieldsSetPayload",
        "orderMarkAsPaid": "OrderMarkAsPaidPayload",
    },
    "Shop": {
        "id": "ID",
        "name": "String",
        "myshopifyDomain": "String",
        "currencyCode": "String",
        "ianaTimezone": "String",
    },
    "PageInfo": {
        "hasNextPage": "Boolean",
        "hasPreviousPage": "Boolean",
        "startCursor": "String",
        "endCursor": "String",
    },
    "Location": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "name": "String",
        "isActive": "Boolean",
        "fulfillsOnlineOrders": "Boolean",
        "shipsInventory": "Boolean",
        "activatable": "Boolean",
    },
    "Product": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "title": "String",
        "handle": "String",
        "variants": "ProductVariantConnection",
    },
    "ProductVariant": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "sku": "String",
        "title": "String",
        "displayName": "String",
        "price": "Money",
        "inventoryQuantity": "Int",
        "product": "Product",
        "inventoryItem": "InventoryItem",
    },
    "InventoryItem": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "sku": "String",
        "tracked": "Boolean",
        "variant": "ProductVariant",
        "inventoryLevel": "InventoryLevel",
        "inventoryLevels": "InventoryLevelConnection",
    },
    "InventoryLevel": {
        "id": "ID",
        "location": "Location",
        "item": "InventoryItem",
        "quantities": "[InventoryQuantity]",
        "updatedAt": "DateTime",
        "canDeactivate": "Boolean",
    },
    "InventoryQuantity": {"id": "ID", "name": "String", "quantity": "Int", "updatedAt": "DateTime"},
    "InventorySetQuantitiesPayload": {
        "inventoryAdjustmentGroup": "InventoryAdjustmentGroup",
        "userErrors": "[InventorySetQuantitiesUserError]",
    },
    "InventoryAdjustmentGroup": {
        "id": "ID",
        "createdAt": "DateTime",
        "reason": "String",
        "referenceDocumentUri": "String",
        "changes": "[InventoryChange]",
    },
    "InventoryChange": {
        "name": "String",
        "delta": "Int",
        "quantityAfterChange": "Int",
        "ledgerDocumentUri": "String",
        "item": "InventoryItem",
        "location": "Location",
    },
    "InventorySetQuantitiesUserError": {
        "code": "InventorySetQuantitiesUserErrorCode",
        "field": "[String]",
        "message": "String",
    },
    "InventoryActivatePayload": {"inventoryLevel": "InventoryLevel", "userErrors": "[UserError]"},
    "UserError": {"field": "[String]", "message": "String"},
    "WebhookSubscription": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "topic": "WebhookSubscriptionTopic",
        "format": "WebhookSubscriptionFormat",
        "uri": "String",
        "callbackUrl": "URL",
        "endpoint": "WebhookSubscriptionEndpoint",
        "includeFields": "[String]",
        "metafieldNamespaces": "[String]",
        "filter": "String",
        "createdAt": "DateTime",
        "updatedAt": "DateTime",
        "apiVersion": "ApiVersion",
    },
    "ApiVersion": {"handle": "String", "displayName": "String", "supported": "Boolean"},
    "WebhookHttpEndpoint": {"callbackUrl": "URL"},
    "WebhookSubscriptionCreatePayload": {"webhookSubscription": "WebhookSubscription", "userErrors": "[UserError]"},
    "WebhookSubscriptionDeletePayload": {"deletedWebhookSubscriptionId": "ID", "userErrors": "[UserError]"},
    "TagsAddPayload": {"node": "Node", "userErrors": "[UserError]"},
    "MetafieldsSetPayload": {"metafields": "[Metafield]", "userErrors": "[MetafieldsSetUserError]"},
    "MetafieldsSetUserError": {
        "code": "MetafieldsSetUserErrorCode",
        "field": "[String]",
        "message": "String",
        "elementIndex": "Int",
    },
    "Metafield": {
        "id": "ID",
        "namespace": "String",
        "key": "String",
        "value": "String",
        "type": "String",
        "createdAt": "DateTime",
        "updatedAt": "DateTime",
        "ownerType": "String",
    },
    "OrderMarkAsPaidPayload": {"order": "Order", "userErrors": "[UserError]"},
    "Order": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "name": "String",
        "note": "String",
        "tags": "[String]",
        "displayFinancialStatus": "OrderDisplayFinancialStatus",
        "canMarkAsPaid": "Boolean",
        "createdAt": "DateTime",
        "updatedAt": "DateTime",
        "metafield": "Metafield",
        "metafields": "MetafieldConnection",
    },
}
SCHEMA.update(shopify_payments.SCHEMA)
for _t in (*_CONNECTED, *shopify_payments.CONNECTED):
    SCHEMA[f"{_t}Connection"] = {"nodes": f"[{_t}]", "edges": f"[{_t}Edge]", "pageInfo": "PageInfo"}
    SCHEMA[f"{_t}Edge"] = {"node": _t, "cursor": "String"}

# Abstract types: members, and the fields selectable without a fragment.
ABSTRACT: dict[str, tuple[set[str], dict[str, str]]] = {
    "Node": ({"Order", "ProductVariant", "InventoryItem", "Location", "WebhookSubscription", "Product"}, {"id": "ID"}),
    "WebhookSubscriptionEndpoint": ({"WebhookHttpEndpoint", "WebhookEventBridgeEndpoint", "WebhookPubSubEndpoint"}, {}),
}

ROOT_SCOPES: dict[str, tuple[str, ...]] = {
    "locations": ("read_locations", "read_inventory"),
    "location": ("read_locations", "read_inventory"),
    "productVariants": ("read_products", "read_inventory"),
    "productVariant": ("read_products", "read_inventory"),
    "inventoryItems": ("read_inventory", "read_products"),
    "inventoryItem": ("read_inventory", "read_products"),
    "order": ("read_orders",),
    "shopifyPaymentsAccount": (shopify_payments.SCOPE,),
    "inventorySetQuantities": ("write_inventory",),
    "inventoryActivate": ("write_inventory",),
    "tagsAdd": ("write_orders",),
    "metafieldsSet": ("write_orders",),
    "orderMarkAsPaid": ("write_orders",),
}

INVENTORY_REASONS = (
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
)
QUANTITY_NAMES = (
    "available",
    "on_hand",
    "committed",
    "incoming",
    "reserved",
    "damaged",
    "safety_stock",
    "quality_control",
)
IDEMPOTENCY_REQUIRED_FROM = "2026-04"
IDEMPOTENT_MUTATIONS = ("inventorySetQuantities",)
# inventorySetQuantities input by API version (Shopify's reference for 2026-01 ... 2027-01):
CHANGE_FROM_QUANTITY_FROM = "2026-01"  # InventoryQuantityInput.changeFromQuantity exists
CHANGE_FROM_QUANTITY_REQUIRED_FROM = "2026-04"  # ... and must be given on every row (null = no check)
COMPARE_QUANTITY_REMOVED_FROM = "2026-07"  # InventoryQuantityInput.compareQuantity is gone
IGNORE_COMPARE_REMOVED_FROM = "2026-10"  # InventorySetQuantitiesInput.ignoreCompareQuantity is gone
MAX_PAGE = 250
DOCS = "https://shopify.dev/api/usage/rate-limits"


class GqlError(Exception):
    def __init__(self, message: str, code: str | None = None, path: list[Any] | None = None, **ext: Any) -> None:
        super().__init__(message)
        self.entry: dict[str, Any] = {"message": message}
        if path is not None:
            self.entry["path"] = path
        if code is not None:
            self.entry["extensions"] = {"code": code, **ext}


def _base(type_ref: str) -> str:
    return type_ref.strip("[]!")


def _is_list(type_ref: str) -> bool:
    return type_ref.startswith("[")


def _fields_of(type_name: str) -> dict[str, str]:
    if type_name in ABSTRACT:
        return ABSTRACT[type_name][1]
    return SCHEMA.get(type_name, {})


def _type_matches(cond: str | None, concrete: str) -> bool:
    return cond is None or cond == concrete or (cond in ABSTRACT and concrete in ABSTRACT[cond][0])


# ====================================================================== validation + cost


class _Analyzer:
    def __init__(self, doc: Document, variables: dict[str, Any]) -> None:
        self.doc = doc
        self.vars = variables
        self.errors: list[dict[str, Any]] = []

    def err(self, f: Field, message: str, path: list[Any], **ext: Any) -> None:
        entry: dict[str, Any] = {
            "message": message,
            "locations": [{"line": f.line, "column": f.column}],
            "path": path,
        }
        if ext:
            entry["extensions"] = ext
        self.errors.append(entry)

    def cost(self, type_name: str, selections: list[Any], path: list[Any], seen: frozenset[str] = frozenset()) -> int:
        total = 0
        for sel in selections:
            if isinstance(sel, FragmentSpread):
                frag = self.doc.fragments.get(sel.name)
                if frag is None or sel.name in seen:
                    self.errors.append({"message": f"Fragment {sel.name} was used, but not defined"})
                    continue
                total += self.cost(frag[0], frag[1], path, seen | {sel.name})
                continue
            if isinstance(sel, InlineFragment):
                total += self.cost(sel.type_condition or type_name, sel.selections, path, seen)
                continue
            f: Field = sel
            if f.name == "__typename":
                continue
            fields = _fields_of(type_name)
            ref = fields.get(f.name)
            fpath = [*path, f.key]
            if ref is None:
                self.err(
                    f,
                    f"Field '{f.name}' doesn't exist on type '{type_name}'",
                    fpath,
                    code="undefinedField",
                    typeName=type_name,
                    fieldName=f.name,
                )
                continue
            base = _base(ref)
            if base in SCALARS:
                if f.selections:
                    self.err(
                        f,
                        f"Selections can't be made on scalars (field '{f.name}' returns {base} but has selections)",
                        fpath,
                        code="selectionMismatch",
                    )
                continue
            if not f.selections:
                self.err(
                    f,
                    f"Field must have selections (field '{f.name}' returns {base} but has no selections. "
                    f"Did you mean '{f.name} {{ ... }}'?)",
                    fpath,
                    code="selectionMismatch",
                )
                continue
            child = self.cost(base, f.selections, fpath, seen)
            if base.endswith("Connection"):
                args = {k: resolve_value(v, self.vars) for k, v in f.args.items()}
                size = args.get("first") if args.get("first") is not None else args.get("last")
                if size is None:
                    self.err(f, "you must provide one of first or last", fpath)
                    continue
                if not isinstance(size, int) or size < 0 or size > MAX_PAGE:
                    self.err(
                        f,
                        f"The value for 'first'/'last' on '{f.name}' must be between 0 and {MAX_PAGE} (got {size})",
                        fpath,
                        code="argumentLiteralsIncompatible",
                    )
                    continue
                total += 2 + size * child
            elif type_name == "Mutation":
                total += 10
            else:
                total += 1 + child
        return total


# ====================================================================== execution


class _Ctx:
    def __init__(self, doc: Document, variables: dict[str, Any]) -> None:
        self.doc = doc
        self.vars = variables
        self.errors: list[dict[str, Any]] = []
        self.actual = 0


def _flatten(ctx: _Ctx, selections: list[Any], concrete: str) -> list[Field]:
    out: list[Field] = []
    for sel in selections:
        if isinstance(sel, Field):
            out.append(sel)
        elif isinstance(sel, InlineFragment):
            if _type_matches(sel.type_condition, concrete):
                out.extend(_flatten(ctx, sel.selections, concrete))
        else:
            frag = ctx.doc.fragments.get(sel.name)
            if frag is not None and _type_matches(frag[0], concrete):
                out.extend(_flatten(ctx, frag[1], concrete))
    return out


def _complete(ctx: _Ctx, value: Any, f: Field, path: list[Any]) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_complete(ctx, v, f, [*path, i]) for i, v in enumerate(value)]
    if isinstance(value, dict) and "__typename" in value:
        tn = value["__typename"]
        if tn.endswith("Connection"):
            ctx.actual += 2
        elif not tn.endswith(("Edge", "PageInfo")):
            ctx.actual += 1
        return _execute(ctx, value, f.selections or [], path)
    return value


def _execute(ctx: _Ctx, obj: dict[str, Any], selections: list[Any], path: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in _flatten(ctx, selections, obj["__typename"]):
        if f.name == "__typename":
            out[f.key] = obj["__typename"]
            continue
        value = obj.get(f.name)
        if callable(value):
            value = value({k: resolve_value(v, ctx.vars) for k, v in f.args.items()})
        out[f.key] = _complete(ctx, value, f, [*path, f.key])
    return out


# ====================================================================== object builders


def gid(kind: str, id_: int | str) -> str:
    return f"gid://shopify/{kind}/{id_}"


def parse_gid(value: Any, kind: str) -> int | None:
    if isinstance(value, int):
        return value
    m = re.fullmatch(rf"gid://shopify/{kind}/(\d+)(\?.*)?", str(value or ""))
    return int(m.group(1)) if m else None


def connection(
    type_name: str, ids: list[int], args: dict[str, Any], build: Callable[[int], dict[str, Any]]
) -> dict[str, Any]:
    """Cursor pagination over a sorted id list (cursor = last id)."""
    first, last = args.get("first"), args.get("last")
    after, before = args.get("after"), args.get("before")
    lo, hi = 0, len(ids)
    try:
        if after:
            lo = bisect.bisect_right(ids, int(decode_cursor(after)["last_id"]))
        if before:
            hi = bisect.bisect_left(ids, int(decode_cursor(before)["last_id"]))
    except (ValueError, KeyError, TypeError):
        raise GqlError("Invalid cursor for current pagination sort.", "argumentLiteralsIncompatible") from None
    window = ids[lo:hi]
    if first is not None:
        page = window[: int(first)]
        has_next, has_prev = len(window) > int(first) or hi < len(ids), lo > 0
    else:
        n = int(last or 0)
        page = window[-n:] if n else []
        has_prev, has_next = len(window) > n or lo > 0, hi < len(ids)
    nodes = [build(i) for i in page]
    cursors = [encode_cursor({"last_id": i}) for i in page]
    return {
        "__typename": f"{type_name}Connection",
        "nodes": nodes,
        "edges": [
            {"__typename": f"{type_name}Edge", "node": n, "cursor": c} for n, c in zip(nodes, cursors, strict=True)
        ],
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }


class _Builder:
    def __init__(self, st: StoreState, version: str) -> None:
        self.st = st
        self.version = version

    def location(self, loc: Location) -> dict[str, Any]:
        return {
            "__typename": "Location",
            "id": gid("Location", loc.id),
            "legacyResourceId": str(loc.id),
            "name": loc.name,
            "isActive": loc.active,
            "fulfillsOnlineOrders": True,
            "shipsInventory": True,
            "activatable": True,
        }

    def product(self, pid: int) -> dict[str, Any]:
        p = self.st.products[pid]
        return {
            "__typename": "Product",
            "id": gid("Product", pid),
            "legacyResourceId": str(pid),
            "title": p.name,
            "handle": p.name.lower().replace(" ", "-"),
            "variants": lambda a: connection("ProductVariant", sorted(p.variant_ids), a, self.variant_by_id),
        }

    def variant_by_id(self, vid: int) -> dict[str, Any]:
        return self.variant(self.st.variants[vid])

    def variant(self, v: Variant) -> dict[str, Any]:
        p = self.st.products[v.product_id]
        return {
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", v.id),
            "legacyResourceId": str(v.id),
            "sku": v.sku,
            "title": v.title,
            "displayName": f"{p.name} - {v.title}",
            "price": v.price,
            "inventoryQuantity": lambda a: self.st.stock_of(v.id),
            "product": lambda a: self.product(v.product_id),
            "inventoryItem": lambda a: self.item(v),
        }

    def item(self, v: Variant) -> dict[str, Any]:
        st = self.st

        def level(a: dict[str, Any]) -> dict[str, Any] | None:
            lid = parse_gid(a.get("locationId"), "Location")
            if lid is None or (v.id, lid) not in st.levels:
                return None
            return self.level(v, lid)

        def levels(a: dict[str, Any]) -> dict[str, Any]:
            lids = sorted(lid for lid in st.locations if (v.id, lid) in st.levels)
            return connection("InventoryLevel", lids, a, lambda lid: self.level(v, lid))

        return {
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", v.inventory_item_id),
            "legacyResourceId": str(v.inventory_item_id),
            "sku": v.sku,
            "tracked": v.tracked,
            "variant": lambda a: self.variant(v),
            "inventoryLevel": level,
            "inventoryLevels": levels,
        }

    def level(self, v: Variant, lid: int) -> dict[str, Any]:
        qty = self.st.levels.get((v.id, lid), 0)
        now = fmt_shopify(now_utc(), self.st.tz)

        def quantities(a: dict[str, Any]) -> list[dict[str, Any]]:
            names = a.get("names") or []
            bad = [n for n in names if n not in QUANTITY_NAMES]
            if bad:
                raise GqlError(f"Invalid quantity name(s): {', '.join(bad)}", "BAD_REQUEST")
            return [
                {
                    "__typename": "InventoryQuantity",
                    "id": f"gid://shopify/InventoryQuantity/{lid}?inventory_item_id={v.inventory_item_id}&name={n}",
                    "name": n,
                    "quantity": qty if n in ("available", "on_hand") else 0,
                    "updatedAt": now,
                }
                for n in names
            ]

        return {
            "__typename": "InventoryLevel",
            "id": f"gid://shopify/InventoryLevel/{lid}?inventory_item_id={v.inventory_item_id}",
            "location": lambda a: self.location(self.st.locations[lid]),
            "item": lambda a: self.item(v),
            "quantities": quantities,
            "updatedAt": now,
            "canDeactivate": True,
        }

    def webhook(self, hook: dict[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "WebhookSubscription",
            "id": gid("WebhookSubscription", hook["id"]),
            "legacyResourceId": str(hook["id"]),
            "topic": hook["topic"].upper().replace("/", "_"),
            "format": hook.get("format", "json").upper(),
            "uri": hook["address"],
            "callbackUrl": hook["address"],
            "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": hook["address"]},
            "includeFields": hook.get("fields", []),
            "metafieldNamespaces": hook.get("metafield_namespaces", []),
            "filter": hook.get("filter", ""),
            "createdAt": hook.get("created_at"),
            "updatedAt": hook.get("updated_at"),
            "apiVersion": {
                "__typename": "ApiVersion",
                "handle": hook.get("api_version", self.version),
                "displayName": hook.get("api_version", self.version),
                "supported": True,
            },
        }

    def metafield(self, mf: dict[str, Any]) -> dict[str, Any]:
        return {
            "__typename": "Metafield",
            "id": mf["admin_graphql_api_id"],
            "namespace": mf["namespace"],
            "key": mf["key"],
            "value": mf["value"],
            "type": mf["type"],
            "createdAt": mf["created_at"],
            "updatedAt": mf["updated_at"],
            "ownerType": "ORDER",
        }

    def order(self, rec: OrderRec) -> dict[str, Any]:
        d = rec.data
        tags = [t.strip() for t in str(d.get("tags") or "").split(",") if t.strip()]
        fin = str(d.get("financial_status") or "pending")

        def metafield(a: dict[str, Any]) -> dict[str, Any] | None:
            for mf in rec.metafields:
                if mf["key"] == a.get("key") and (a.get("namespace") is None or mf["namespace"] == a.get("namespace")):
                    return self.metafield(mf)
            return None

        def metafields(a: dict[str, Any]) -> dict[str, Any]:
            by_id = {
                mf["id"]: mf for mf in rec.metafields if not a.get("namespace") or mf["namespace"] == a["namespace"]
            }
            return connection("Metafield", sorted(by_id), a, lambda i: self.metafield(by_id[i]))

        return {
            "__typename": "Order",
            "id": gid("Order", rec.id),
            "legacyResourceId": str(rec.id),
            "name": d.get("name"),
            "note": d.get("note"),
            "tags": tags,
            "displayFinancialStatus": fin.upper(),
            "canMarkAsPaid": fin in ("pending", "authorized", "partially_paid") and not d.get("cancelled_at"),
            "createdAt": d.get("created_at"),
            "updatedAt": d.get("updated_at"),
            "metafield": metafield,
            "metafields": metafields,
        }

    def node(self, value: Any) -> dict[str, Any] | None:
        st = self.st
        m = re.fullmatch(r"gid://shopify/(\w+)/(\d+)", str(value or ""))
        if not m:
            return None
        kind, id_ = m.group(1), int(m.group(2))
        if kind == "Order" and id_ in st.orders:
            return self.order(st.orders[id_])
        if kind == "ProductVariant" and id_ in st.variants:
            return self.variant(st.variants[id_])
        if kind == "InventoryItem" and id_ in st.by_item:
            return self.item(st.variants[st.by_item[id_]])
        if kind == "Location" and id_ in st.locations:
            return self.location(st.locations[id_])
        if kind == "Product" and id_ in st.products:
            return self.product(id_)
        if kind == "WebhookSubscription" and id_ in st.webhooks:
            return self.webhook(st.webhooks[id_])
        return None


# ====================================================================== search


_TERM = re.compile(r'(?:(\w+):)?("(?:[^"\\]|\\.)*"|\S+)')


def search_variants(st: StoreState, query: str | None) -> list[int]:
    """Shopify search syntax subset: `sku:A`, `sku:"A B"`, `sku:AB*`, `product_id:1`, `id:1`,
    terms joined by OR (or AND/space). Unknown fields and bare words match title/sku text."""
    if not query or not query.strip():
        return list(st.sorted_ids("variants"))
    groups: list[list[tuple[str | None, str]]] = [[]]
    for m in _TERM.finditer(query):
        fname, raw = m.group(1), m.group(2)
        if fname is None and raw == "OR":
            groups.append([])
            continue
        if fname is None and raw == "AND":
            continue
        value = json.loads(raw) if raw.startswith('"') else raw
        groups[-1].append((fname, value))
    result: set[int] = set()
    for terms in groups:
        if not terms:
            continue
        cand: set[int] | None = None
        for fname, value in terms:
            if fname == "sku" and not value.endswith("*"):
                ids = set(st.sku_index.get(value, ()))
                if not ids:  # case-insensitive fallback
                    ids = {v.id for v in st.variants.values() if v.sku.lower() == value.lower()}
            elif fname == "sku":
                prefix = value[:-1].lower()
                ids = {v.id for v in st.variants.values() if v.sku.lower().startswith(prefix)}
            elif fname in ("product_id", "id"):
                key = int(value) if str(value).isdigit() else -1
                ids = {v.id for v in st.variants.values() if (v.product_id if fname == "product_id" else v.id) == key}
            else:
                text = str(value).lower()
                ids = {v.id for v in st.variants.values() if text in v.sku.lower() or text in v.title.lower()}
            cand = ids if cand is None else cand & ids
        result |= cand or set()
    return sorted(result)


# ====================================================================== resolvers


class _Resolver:
    def __init__(self, sb: Any, st: StoreState, req: Request, version: str, b: _Builder) -> None:
        self.sb, self.st, self.req, self.version, self.b = sb, st, req, version, b

    # ---- queries ----
    def shop(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        cfg = self.st.config
        return {
            "__typename": "Shop",
            "id": gid("Shop", 1),
            "name": cfg.get("shop_name", self.st.key),
            "myshopifyDomain": self.st.key,
            "currencyCode": cfg.get("currency", "USD"),
            "ianaTimezone": "America/New_York",
        }

    def locations(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        locs = self.st.locations
        ids = sorted(i for i, loc in locs.items() if loc.active or a.get("includeInactive"))
        return connection("Location", ids, a, lambda i: self.b.location(locs[i]))

    def location(self, a: dict[str, Any], f: Field) -> dict[str, Any] | None:
        lid = parse_gid(a.get("id"), "Location")
        return self.b.location(self.st.locations[lid]) if lid in self.st.locations else None

    def productVariants(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        ids = search_variants(self.st, a.get("query"))
        return connection("ProductVariant", ids, a, self.b.variant_by_id)

    def productVariant(self, a: dict[str, Any], f: Field) -> dict[str, Any] | None:
        vid = parse_gid(a.get("id"), "ProductVariant")
        return self.b.variant(self.st.variants[vid]) if vid in self.st.variants else None

    def inventoryItems(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        vids = search_variants(self.st, a.get("query"))
        items = sorted(self.st.variants[v].inventory_item_id for v in vids)
        return connection("InventoryItem", items, a, lambda i: self.b.item(self.st.variants[self.st.by_item[i]]))

    def inventoryItem(self, a: dict[str, Any], f: Field) -> dict[str, Any] | None:
        iid = parse_gid(a.get("id"), "InventoryItem")
        vid = self.st.by_item.get(iid or -1)
        return self.b.item(self.st.variants[vid]) if vid is not None else None

    def webhookSubscriptions(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        hooks = self.st.webhooks
        topics = set(a.get("topics") or [])
        url = a.get("uri") or a.get("callbackUrl")
        ids = sorted(
            i
            for i, h in hooks.items()
            if (not topics or h["topic"].upper().replace("/", "_") in topics) and (not url or h["address"] == url)
        )
        return connection("WebhookSubscription", ids, a, lambda i: self.b.webhook(hooks[i]))

    def webhookSubscription(self, a: dict[str, Any], f: Field) -> dict[str, Any] | None:
        hid = parse_gid(a.get("id"), "WebhookSubscription")
        return self.b.webhook(self.st.webhooks[hid]) if hid in self.st.webhooks else None

    def order(self, a: dict[str, Any], f: Field) -> dict[str, Any] | None:
        oid = parse_gid(a.get("id"), "Order")
        return self.b.order(self.st.orders[oid]) if oid in self.st.orders else None

    def node(self, a: dict[str, Any], f: Field) -> dict[str, Any] | None:
        return self.b.node(a.get("id"))

    def shopifyPaymentsAccount(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        st, sp = self.st, shopify_payments

        def payouts(args: dict[str, Any]) -> dict[str, Any]:
            if args.get("reverse"):  # newest first: the connection pages over negated ids
                ids = sorted(-i for i in st.payouts)
                return connection("ShopifyPaymentsPayout", ids, args, lambda i: sp.payout_node(st, -i))
            return connection("ShopifyPaymentsPayout", sorted(st.payouts), args, lambda i: sp.payout_node(st, i))

        def transactions(args: dict[str, Any]) -> dict[str, Any]:
            ids = sp.transaction_ids(st, args.get("query"))
            return connection("ShopifyPaymentsBalanceTransaction", ids, args, lambda i: sp.transaction_node(st, i))

        return {
            "__typename": "ShopifyPaymentsAccount",
            "id": gid("ShopifyPaymentsAccount", 1),
            "activated": True,
            "payouts": payouts,
            "balanceTransactions": transactions,
        }

    # ---- mutations ----
    def inventorySetQuantities(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        st = self.st
        inp = a.get("input")
        if not isinstance(inp, dict):
            raise GqlError(
                "Argument 'input' on Field 'inventorySetQuantities' is required.", "missingRequiredArguments"
            )
        errors: list[dict[str, Any]] = []

        def user_error(code: str, field_path: list[str], message: str) -> None:
            errors.append(
                {"__typename": "InventorySetQuantitiesUserError", "code": code, "field": field_path, "message": message}
            )

        _check_set_quantities_input(inp, self.version)
        name, reason = inp.get("name"), inp.get("reason")
        if name not in ("available", "on_hand"):
            user_error("INVALID_NAME", ["input", "name"], "The quantity name must be either 'available' or 'on_hand'.")
        if reason not in INVENTORY_REASONS:
            user_error("INVALID_REASON", ["input", "reason"], "The specified reason is invalid.")
        ignore = bool(inp.get("ignoreCompareQuantity"))
        rows = inp.get("quantities") or []
        seen: set[tuple[int, int]] = set()
        plan: list[tuple[Variant, int, int, int]] = []
        for i, row in enumerate(rows):
            p = ["input", "quantities", str(i)]
            item = parse_gid(row.get("inventoryItemId"), "InventoryItem")
            lid = parse_gid(row.get("locationId"), "Location")
            vid = st.by_item.get(item or -1)
            if vid is None:
                user_error(
                    "INVALID_INVENTORY_ITEM",
                    [*p, "inventoryItemId"],
                    "The specified inventory item could not be found.",
                )
                continue
            if lid not in st.locations:
                user_error("INVALID_LOCATION", [*p, "locationId"], "The specified location could not be found.")
                continue
            assert lid is not None
            v = st.variants[vid]
            if not v.tracked:
                user_error(
                    "NON_MUTABLE_INVENTORY_ITEM",
                    [*p, "inventoryItemId"],
                    "The specified inventory item is not tracked.",
                )
                continue
            if (vid, lid) not in st.levels:
                user_error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    [*p, "locationId"],
                    "The specified inventory item is not stocked at the location.",
                )
                continue
            if (vid, lid) in seen:
                user_error(
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    [*p],
                    "The combination of inventoryItemId and locationId must be unique.",
                )
                continue
            seen.add((vid, lid))
            qty = row.get("quantity")
            if not isinstance(qty, int) or isinstance(qty, bool):
                user_error("INVALID_QUANTITY", [*p, "quantity"], "The quantity must be an integer.")
                continue
            if abs(qty) > 1_000_000_000:
                user_error(
                    "INVALID_QUANTITY_TOO_HIGH", [*p, "quantity"], "The quantity can't be higher than 1,000,000,000."
                )
                continue
            current = st.levels[(vid, lid)]
            if "changeFromQuantity" in row:
                expected, check = row["changeFromQuantity"], row["changeFromQuantity"] is not None
                if check and expected != current:
                    user_error(
                        "CHANGE_FROM_QUANTITY_STALE",
                        [*p, "changeFromQuantity"],
                        "The changeFromQuantity value does not match persisted value.",
                    )
                    continue
            elif ignore:
                expected, check = None, False
            else:
                expected, check = row.get("compareQuantity"), True
                if expected is None:
                    user_error(
                        "COMPARE_QUANTITY_REQUIRED",
                        [*p, "compareQuantity"],
                        "A compareQuantity is required for each quantity unless ignoreCompareQuantity is true.",
                    )
                    continue
            if check and expected != current:
                user_error(
                    "COMPARE_QUANTITY_STALE",
                    [*p, "compareQuantity"],
                    "The compareQuantity value does not match the current quantity; the quantity was changed.",
                )
                continue
            plan.append((v, lid, qty, current))
        if errors:
            return {
                "__typename": "InventorySetQuantitiesPayload",
                "inventoryAdjustmentGroup": None,
                "userErrors": errors,
            }
        changes = []
        for v, lid, qty, current in plan:
            st.levels[(v.id, lid)] = qty
            st.adjustments.append(
                {"sku": v.sku, "location": lid, "quantity": qty, "via": "graphql:inventorySetQuantities"}
            )
            if qty != current:
                for qname in ("available", "on_hand"):
                    changes.append(
                        {
                            "__typename": "InventoryChange",
                            "name": qname,
                            "delta": qty - current,
                            "quantityAfterChange": qty,
                            "ledgerDocumentUri": inp.get("referenceDocumentUri"),
                            "item": self._item_thunk(v),
                            "location": self._location_thunk(lid),
                        }
                    )
        self.req.notes["rows"] = len(plan)
        return {
            "__typename": "InventorySetQuantitiesPayload",
            "inventoryAdjustmentGroup": {
                "__typename": "InventoryAdjustmentGroup",
                "id": gid("InventoryAdjustmentGroup", st.next_id("adjustment")),
                "createdAt": fmt_shopify(now_utc(), st.tz),
                "reason": reason,
                "referenceDocumentUri": inp.get("referenceDocumentUri"),
                "changes": changes,
            },
            "userErrors": [],
        }

    def _item_thunk(self, v: Variant) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda _a: self.b.item(v)

    def _location_thunk(self, lid: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
        return lambda _a: self.b.location(self.st.locations[lid])

    def inventoryActivate(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        st = self.st
        vid = st.by_item.get(parse_gid(a.get("inventoryItemId"), "InventoryItem") or -1)
        lid = parse_gid(a.get("locationId"), "Location")
        if vid is None or lid not in st.locations:
            return {
                "__typename": "InventoryActivatePayload",
                "inventoryLevel": None,
                "userErrors": [
                    {
                        "__typename": "UserError",
                        "field": ["inventoryItemId"],
                        "message": "Inventory item or location not found",
                    }
                ],
            }
        assert lid is not None
        st.levels.setdefault((vid, lid), int(a.get("available") or 0))
        return {
            "__typename": "InventoryActivatePayload",
            "inventoryLevel": self.b.level(st.variants[vid], lid),
            "userErrors": [],
        }

    def webhookSubscriptionCreate(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        topic = a.get("topic")
        # ORDER_TRANSACTIONS_CREATE -> order_transactions/create: the slash goes before the last word
        head, _, tail = str(topic or "").lower().rpartition("_")
        rest_topic = f"{head}/{tail}"
        if rest_topic not in WEBHOOK_TOPICS:
            raise GqlError(
                f"Argument 'topic' on Field 'webhookSubscriptionCreate' has an invalid value ({topic}). "
                "Expected type 'WebhookSubscriptionTopic!'.",
                "argumentLiteralsIncompatible",
            )
        sub = a.get("webhookSubscription") or {}
        url = sub.get("uri") or sub.get("callbackUrl")
        field_name = "uri" if "uri" in sub else "callbackUrl"
        errs = validate_address(self.sb, self.st, rest_topic, url)
        if errs:
            msg = errs["address"][0]
            message = "Address " + msg if msg.startswith("for this topic") else msg[0].upper() + msg[1:]
            return {
                "__typename": "WebhookSubscriptionCreatePayload",
                "webhookSubscription": None,
                "userErrors": [
                    {"__typename": "UserError", "field": ["webhookSubscription", field_name], "message": message}
                ],
            }
        hook, errors = create_webhook(
            self.sb,
            self.st,
            {
                "topic": rest_topic,
                "address": url,
                "format": str(sub.get("format") or "JSON").lower(),
                "fields": sub.get("includeFields") or [],
                "metafield_namespaces": sub.get("metafieldNamespaces") or [],
            },
            self.version,
        )
        if errors:
            key, msgs = next(iter(errors.items()))
            return {
                "__typename": "WebhookSubscriptionCreatePayload",
                "webhookSubscription": None,
                "userErrors": [{"__typename": "UserError", "field": ["webhookSubscription", key], "message": msgs[0]}],
            }
        return {
            "__typename": "WebhookSubscriptionCreatePayload",
            "webhookSubscription": self.b.webhook(hook),
            "userErrors": [],
        }

    def webhookSubscriptionDelete(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        hid = parse_gid(a.get("id"), "WebhookSubscription")
        if hid not in self.st.webhooks:
            return {
                "__typename": "WebhookSubscriptionDeletePayload",
                "deletedWebhookSubscriptionId": None,
                "userErrors": [
                    {"__typename": "UserError", "field": ["id"], "message": "Webhook subscription does not exist"}
                ],
            }
        assert hid is not None
        del self.st.webhooks[hid]
        return {
            "__typename": "WebhookSubscriptionDeletePayload",
            "deletedWebhookSubscriptionId": gid("WebhookSubscription", hid or 0),
            "userErrors": [],
        }

    def _order_or_error(
        self, value: Any, payload: str, field_path: list[str]
    ) -> tuple[OrderRec | None, dict[str, Any] | None]:
        oid = parse_gid(value, "Order")
        rec = self.st.orders.get(oid or -1)
        if rec is None:
            return None, {"__typename": "UserError", "field": field_path, "message": "Order does not exist"}
        return rec, None

    def tagsAdd(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        rec, err = self._order_or_error(a.get("id"), "TagsAddPayload", ["id"])
        if rec is None:
            return {"__typename": "TagsAddPayload", "node": None, "userErrors": [err]}
        tags = a.get("tags") or []
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",")]
        current = [t.strip() for t in str(rec.data.get("tags") or "").split(",") if t.strip()]
        for t in tags:
            if t and t not in current:
                current.append(t)
        rec.data["tags"] = ", ".join(sorted(current, key=str.lower))
        self.sb.world.touch_order(self.st, rec)
        return {"__typename": "TagsAddPayload", "node": self.b.order(rec), "userErrors": []}

    def metafieldsSet(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        items = a.get("metafields") or []
        errors: list[dict[str, Any]] = []
        if len(items) > 25:
            errors.append(
                {
                    "__typename": "MetafieldsSetUserError",
                    "code": "LESS_THAN_OR_EQUAL_TO",
                    "field": ["metafields"],
                    "message": "Exceeded the maximum metafields input limit of 25.",
                    "elementIndex": None,
                }
            )
        plan: list[tuple[OrderRec, dict[str, Any]]] = []
        for i, m in enumerate(items if not errors else []):
            rec = self.st.orders.get(parse_gid(m.get("ownerId"), "Order") or -1)
            problem = None
            if rec is None:
                problem = ("INVALID_VALUE", "ownerId", "Owner does not exist.")
            elif not m.get("key") or not m.get("namespace"):
                problem = ("BLANK", "key", "Key and namespace can't be blank.")
            elif not isinstance(m.get("value"), str):
                problem = ("INVALID_VALUE", "value", "Value must be a string.")
            elif not m.get("type") and not any(
                x["namespace"] == m["namespace"] and x["key"] == m["key"] for x in rec.metafields
            ):
                problem = ("BLANK", "type", "Type can't be blank.")
            if problem:
                errors.append(
                    {
                        "__typename": "MetafieldsSetUserError",
                        "code": problem[0],
                        "field": ["metafields", str(i), problem[1]],
                        "message": problem[2],
                        "elementIndex": i,
                    }
                )
            elif rec is not None:
                plan.append((rec, m))
        if errors:
            return {"__typename": "MetafieldsSetPayload", "metafields": None, "userErrors": errors}
        out = []
        touched: dict[int, OrderRec] = {}
        for rec, m in plan:
            mf = set_metafield(self.st, rec, m)
            out.append(self.b.metafield(mf))
            touched[rec.id] = rec
        for rec in touched.values():
            self.sb.world.touch_order(self.st, rec)
        return {"__typename": "MetafieldsSetPayload", "metafields": out, "userErrors": []}

    def orderMarkAsPaid(self, a: dict[str, Any], f: Field) -> dict[str, Any]:
        inp = a.get("input") or {}
        rec, err = self._order_or_error(inp.get("id"), "OrderMarkAsPaidPayload", ["id"])
        if rec is None:
            return {"__typename": "OrderMarkAsPaidPayload", "order": None, "userErrors": [err]}
        d = rec.data
        if d.get("financial_status") not in ("pending", "authorized", "partially_paid") or d.get("cancelled_at"):
            return {
                "__typename": "OrderMarkAsPaidPayload",
                "order": self.b.order(rec),
                "userErrors": [
                    {"__typename": "UserError", "field": ["id"], "message": "Order cannot be marked as paid."}
                ],
            }
        now = fmt_shopify(now_utc(), self.st.tz)
        amount = d.get("total_outstanding") or d.get("total_price") or "0.00"
        self.sb.world.add_transaction(
            "shopify",
            self.st.key,
            rec.id,
            {
                "kind": "sale",
                "status": "success",
                "amount": amount,
                "currency": d.get("currency"),
                "gateway": "manual",
                "created_at": now,
                "processed_at": now,
                "test": False,
                "source_name": "sandbox-orderMarkAsPaid",
            },
        )
        d["financial_status"] = "paid"
        d["total_outstanding"] = "0.00"
        self.sb.world.touch_order(self.st, rec)
        return {"__typename": "OrderMarkAsPaidPayload", "order": self.b.order(rec), "userErrors": []}


# ====================================================================== entry point


def _cost_ext(requested: int, actual: int | None, bucket: Any) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": float(bucket.size),
                "currentlyAvailable": int(bucket.available),
                "restoreRate": float(bucket.rate),
            },
        }
    }


def throttled_body(fault: Any = None, requested: int = 0, bucket: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": DOCS}}],
    }
    if bucket is not None:
        body["extensions"] = _cost_ext(requested, None, bucket)
    else:
        body["extensions"] = {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": {"maximumAvailable": 2000.0, "currentlyAvailable": 0, "restoreRate": 100.0},
            }
        }
    return body


def _check_input_sizes(value: Any, path: list[str], limit: int) -> GqlError | None:
    if isinstance(value, list):
        if len(value) > limit:
            return GqlError(
                f"The input array size of {len(value)} is greater than the maximum allowed of {limit}.",
                "MAX_INPUT_SIZE_EXCEEDED",
                path,
            )
        for i, v in enumerate(value):
            e = _check_input_sizes(v, [*path, str(i)], limit)
            if e:
                return e
    elif isinstance(value, dict):
        for k, v in value.items():
            e = _check_input_sizes(v, [*path, k], limit)
            if e:
                return e
    return None


def execute(sb: Any, st: StoreState, req: Request, version: str) -> Response:
    ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    variables: Any
    if ctype == "application/graphql":
        query, variables, op_name = req.body.decode("utf-8", "replace"), {}, None
    else:
        try:
            payload = req.json()
        except ValueError:
            raise ApiError(400, {"errors": {"query": "Required parameter missing or invalid"}}) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ApiError(400, {"errors": {"query": "Required parameter missing or invalid"}})
        query, variables, op_name = payload["query"], payload.get("variables") or {}, payload.get("operationName")
    if not isinstance(variables, dict):
        return Response(200, {"errors": [{"message": "Variables must be an object"}]})
    try:
        doc = parse(query)
    except GraphQLSyntaxError as exc:
        return Response(
            200, {"errors": [{"message": str(exc), "locations": [{"line": exc.line, "column": exc.column}]}]}
        )
    ops = [o for o in doc.operations if op_name is None or o.name == op_name]
    if not ops:
        return Response(200, {"errors": [{"message": f'No operation named "{op_name}"'}]})
    if len(ops) > 1:
        return Response(200, {"errors": [{"message": "An operation name is required"}]})
    op = ops[0]
    # variables: defaults and required ones
    values: dict[str, Any] = {}
    for vname, (vtype, default) in op.variables.items():
        if vname in variables:
            values[vname] = variables[vname]
        elif default is not None:
            values[vname] = resolve_value(default, {})
        elif vtype.endswith("!"):
            return Response(
                200,
                {
                    "errors": [
                        {
                            "message": f"Variable ${vname} of type {vtype} was provided invalid value",
                            "extensions": {
                                "code": "INVALID_VARIABLE",
                                "value": None,
                                "problems": [{"path": [], "explanation": "Expected value to not be null"}],
                            },
                        }
                    ]
                },
            )
    root_type = "Mutation" if op.kind == "mutation" else "QueryRoot"
    analyzer = _Analyzer(doc, values)
    requested = analyzer.cost(root_type, op.selections, [op.kind])
    if analyzer.errors:
        return Response(200, {"errors": analyzer.errors})
    max_input = int(sb.limit("shopify", "max_input_size"))
    root_fields = _flatten(_Ctx(doc, values), op.selections, root_type)
    for f in root_fields:
        args = {k: resolve_value(v, values) for k, v in f.args.items()}
        err = _check_input_sizes(args, [f.key], max_input)
        if err:
            err.entry["locations"] = [{"line": f.line, "column": f.column}]
            return Response(200, {"errors": [err.entry]})
    req.notes["operations"] = [f.name for f in root_fields if f.name != "__typename"]
    req.notes["query_cost"] = requested
    max_cost = int(sb.limit("shopify", "max_query_cost"))
    bucket = sb.bucket("shopify", st.key, "graphql")
    if requested > max_cost:
        return Response(
            200,
            {
                "errors": [
                    {
                        "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                        f"({max_cost}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more "
                        "information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data "
                        "with fewer limits, bulk operations should be used instead.\nSee "
                        "https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n",
                        "extensions": {
                            "code": "MAX_COST_EXCEEDED",
                            "cost": requested,
                            "maxCost": max_cost,
                            "documentation": DOCS,
                        },
                    }
                ]
            },
        )
    if not bucket.take(requested):
        req.notes["fault"] = "throttled"
        return Response(200, throttled_body(None, requested, bucket))
    ctx = _Ctx(doc, values)
    builder = _Builder(st, version)
    resolver = _Resolver(sb, st, req, version, builder)
    scopes: set[str] = req.notes.get("scopes", set())
    data: dict[str, Any] = {}
    for f in root_fields:
        if f.name == "__typename":
            data[f.key] = root_type
            continue
        need = ROOT_SCOPES.get(f.name)
        if need and not any(s in scopes or s.replace("read_", "write_") in scopes for s in need):
            data[f.key] = None
            ctx.errors.append(
                {
                    "message": f"Access denied for {f.name} field. Required access: `{need[0]}` access scope.",
                    "locations": [{"line": f.line, "column": f.column}],
                    "extensions": {
                        "code": "ACCESS_DENIED",
                        "documentation": "https://shopify.dev/api/usage/access-scopes",
                        "requiredAccess": f"`{need[0]}` access scope.",
                    },
                    "path": [f.key],
                }
            )
            continue
        args = {k: resolve_value(v, values) for k, v in f.args.items()}
        try:
            idem = _idempotency(st, f, args, values, version)
            if idem is not None and idem[0] == "replay":
                data[f.key] = idem[1]
                ctx.actual += 10
                continue
            before = ctx.actual
            obj = getattr(resolver, f.name)(args, f)
            value = _complete(ctx, obj, f, [f.key])
            if op.kind == "mutation":
                ctx.actual = before + 10
            data[f.key] = value
            if idem is not None:
                st.idempotency[idem[1]] = (idem[2], value)
        except GqlError as exc:
            entry = dict(exc.entry)
            entry.setdefault("path", [f.key])
            entry["locations"] = [{"line": f.line, "column": f.column}]
            ctx.errors.append(entry)
            data[f.key] = None
    actual = min(ctx.actual, requested) if op.kind == "query" else requested
    bucket.give(requested - actual)
    body: dict[str, Any] = {"data": data}
    if ctx.errors:
        body = {"errors": ctx.errors, "data": data}
    body["extensions"] = _cost_ext(requested, actual, bucket)
    return Response(200, body)


def _idempotency(
    st: StoreState, f: Field, args: dict[str, Any], values: dict[str, Any], version: str
) -> tuple[str, Any, str] | None:
    """None: not idempotent; ('replay', data, ''): a repeat of a stored call; ('new', key, fingerprint)."""
    key = None
    for dname, dargs in f.directives:
        if dname == "idempotent":
            key = resolve_value(dargs.get("key"), values)
            if not key:
                raise GqlError("The @idempotent directive requires a non-empty key.", "BAD_REQUEST")
    if key is None:
        if f.name in IDEMPOTENT_MUTATIONS and version >= IDEMPOTENCY_REQUIRED_FROM:
            raise GqlError(
                f"The @idempotent directive is required for the {f.name} mutation from API version "
                f"{IDEMPOTENCY_REQUIRED_FROM}.",
                "IDEMPOTENCY_KEY_REQUIRED",
            )
        return None
    fingerprint = json.dumps([f.name, args], sort_keys=True, default=str)
    stored = st.idempotency.get(str(key))
    if stored is not None:
        if stored[0] != fingerprint:
            raise GqlError(
                "The idempotency key was already used with different parameters.",
                "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
            )
        return ("replay", stored[1], "")
    return ("new", str(key), fingerprint)


def _undefined_input_field(path: list[str], type_name: str, value: Any) -> GqlError:
    return GqlError(
        f"Variable $input of type InventorySetQuantitiesInput! was provided invalid value for {'.'.join(path)} "
        f"(Field is not defined on {type_name})",
        "INVALID_VARIABLE",
        value=value,
        problems=[{"path": path, "explanation": f"Field is not defined on {type_name}"}],
    )


def _check_set_quantities_input(inp: dict[str, Any], version: str) -> None:
    """The input fields `version` knows (raised as the variable-coercion error Shopify gives)."""
    if version >= IGNORE_COMPARE_REMOVED_FROM and "ignoreCompareQuantity" in inp:
        raise _undefined_input_field(["ignoreCompareQuantity"], "InventorySetQuantitiesInput", inp)
    for i, row in enumerate(inp.get("quantities") or []):
        if not isinstance(row, dict):
            continue
        if version < CHANGE_FROM_QUANTITY_FROM and "changeFromQuantity" in row:
            raise _undefined_input_field(["quantities", str(i), "changeFromQuantity"], "InventoryQuantityInput", inp)
        if version >= COMPARE_QUANTITY_REMOVED_FROM and "compareQuantity" in row:
            raise _undefined_input_field(["quantities", str(i), "compareQuantity"], "InventoryQuantityInput", inp)
        if version >= CHANGE_FROM_QUANTITY_REQUIRED_FROM and "changeFromQuantity" not in row:
            raise GqlError(
                f"Variable $input of type InventorySetQuantitiesInput! was provided invalid value for "
                f"quantities.{i}.changeFromQuantity (Expected value to be provided: from API version "
                f"{CHANGE_FROM_QUANTITY_REQUIRED_FROM} every quantity must give changeFromQuantity, null to skip the "
                "compare-and-swap check)",
                "INVALID_VARIABLE",
                value=inp,
                problems=[
                    {
                        "path": ["quantities", str(i), "changeFromQuantity"],
                        "explanation": "Expected value to be provided",
                    }
                ],
            )


def new_key() -> str:
    return str(uuid.uuid4())
