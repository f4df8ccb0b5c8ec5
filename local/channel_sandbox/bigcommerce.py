"""BigCommerce API imitation: v2 orders, v3 order transactions/refunds, v3 hooks, v3 catalog,
v3 inventory (locations, items, absolute/relative adjustments), with the per-store request quota.

`{base}/bigcommerce` stands for `https://api.bigcommerce.com`; routes are `/stores/{hash}/v2|v3/...`.
"""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime
from typing import Any

from .common import ApiError, Request, Response, parse_any_date
from .state import BC_STATUSES, OrderRec, StoreState, Variant

ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
NO_CREDENTIALS = "No valid credentials were found in this request"
V2_SORT_FIELDS = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id")
V2_ORDER_WRITABLE = ("staff_notes", "status_id", "customer_message", "external_id", "payment_method", "order_source")
HOOK_SCOPES = (
    "store/order/*",
    "store/order/created",
    "store/order/updated",
    "store/order/archived",
    "store/order/statusUpdated",
    "store/order/message/created",
    "store/order/refund/created",
    "store/order/transaction/created",
    "store/product/*",
    "store/product/created",
    "store/product/updated",
    "store/product/deleted",
    "store/product/inventory/updated",
    "store/product/inventory/order/updated",
    "store/sku/*",
    "store/sku/inventory/updated",
    "store/sku/inventory/order/updated",
    "store/app/uninstalled",
)


def v2_error(status: int, message: str) -> ApiError:
    return ApiError(status, [{"status": status, "message": message}])


def v3_error(status: int, title: str, errors: dict[str, Any] | None = None) -> ApiError:
    body: dict[str, Any] = {"status": status, "title": title, "type": ERROR_TYPE}
    body["errors"] = errors or {}
    return ApiError(status, body)


def _meta(total: int, count: int, per_page: int, page: int, req: Request) -> dict[str, Any]:
    pages = math.ceil(total / per_page) if per_page else 0
    links: dict[str, str] = {"current": f"?page={page}&limit={per_page}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={per_page}"
    if page < pages:
        links["next"] = f"?page={page + 1}&limit={per_page}"
    return {
        "pagination": {
            "total": total,
            "count": count,
            "per_page": per_page,
            "current_page": page,
            "total_pages": pages,
            "links": links,
        }
    }


def _paging(req: Request, default: int, maximum: int, v2: bool = False) -> tuple[int, int]:
    try:
        page = int(req.query.get("page") or 1)
        limit = int(req.query.get("limit") or default)
    except ValueError:
        if v2:
            raise v2_error(400, "The 'page' and 'limit' parameters must be integers.") from None
        raise v3_error(400, "The 'page' and 'limit' parameters must be integers.") from None
    if page < 1 or limit < 1:
        if v2:
            raise v2_error(400, "The 'page' and 'limit' parameters must be positive integers.")
        raise v3_error(422, "The 'page' and 'limit' parameters must be positive integers.")
    return page, min(limit, maximum)


def _csv_ints(value: str | None) -> set[int]:
    return {int(x) for x in (value or "").split(",") if x.strip()}


def _csv(value: str | None) -> list[str]:
    return [x for x in (value or "").split(",") if x]


class BigCommerceApi:
    # ---------------------------------------------------------------- plumbing hooks
    def unknown_store(self, key: str) -> Response:
        return Response(404, {"status": 404, "title": "Store not found", "type": ERROR_TYPE, "errors": {}})

    def bad_request(self, message: str) -> Response:
        return v3_error(400, message).response

    def authenticate(self, sb: Any, st: StoreState, req: Request) -> None:
        token = req.header("X-Auth-Token")
        tok = next((t for t in st.config.get("access_tokens", []) if token and t["token"] == token), None)
        if tok is None:
            if req.path.startswith("/v2/"):
                raise v2_error(401, NO_CREDENTIALS)
            raise v3_error(401, NO_CREDENTIALS)
        scope = self._scope_for(req.path)
        if scope is None:
            return
        scopes = set(tok.get("scopes", []))
        ok = scope in scopes or (req.method == "GET" and f"{scope}_read_only" in scopes)
        if not ok:
            title = "You don't have a required scope to access the endpoint"
            if req.path.startswith("/v2/"):
                raise v2_error(403, title)
            raise v3_error(403, title)

    @staticmethod
    def _scope_for(path: str) -> str | None:
        if path.startswith(("/v2/orders", "/v3/orders")):
            return "store_v2_orders"
        if path.startswith("/v3/catalog"):
            return "store_v2_products"
        if path.startswith("/v3/inventory"):
            return "store_inventory"
        return None

    def pre_limit(self, sb: Any, st: StoreState, req: Request) -> Response | None:
        if not sb.bucket("bigcommerce", st.key, "window").take():
            return Response(429, {"status": 429, "title": "Too Many Requests", "type": ERROR_TYPE, "errors": {}})
        return None

    def post_headers(self, sb: Any, st: StoreState, req: Request) -> dict[str, str]:
        win = sb.bucket("bigcommerce", st.key, "window")
        left, reset_ms = win.state()
        return {
            "X-Rate-Limit-Requests-Left": str(left),
            "X-Rate-Limit-Requests-Quota": str(win.quota),
            "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
            "X-Rate-Limit-Time-Window-Ms": str(win.window_ms),
        }

    def fault_response(self, fault: Any) -> Response:
        if fault.kind == "rate_limit":
            return Response(
                fault.status or 429,
                fault.body or {"status": 429, "title": "Too Many Requests", "type": ERROR_TYPE, "errors": {}},
            )
        status = fault.status or 500
        if fault.body is not None:
            return Response(status, fault.body)
        return Response(status, {"status": status, "title": "Internal Server Error", "type": ERROR_TYPE, "errors": {}})

    # ---------------------------------------------------------------- routing
    def handle(self, sb: Any, st: StoreState, req: Request) -> Response:
        segs = [s for s in req.path.split("/") if s]
        if not segs or segs[0] not in ("v2", "v3"):
            raise v3_error(404, "Not Found")
        if segs[0] == "v2":
            if len(segs) >= 2 and segs[1] == "orders":
                return self._v2_orders(sb, st, req, segs[2:])
            raise v2_error(404, "The requested resource was not found.")
        if len(segs) >= 2 and segs[1] == "orders":
            return self._v3_orders(st, req, segs[2:])
        if len(segs) >= 2 and segs[1] == "hooks":
            return self._hooks(sb, st, req, segs[2:])
        if len(segs) >= 3 and segs[1] == "catalog":
            return self._catalog(st, req, segs[2:])
        if len(segs) >= 3 and segs[1] == "inventory":
            return self._inventory(sb, st, req, segs[2:])
        raise v3_error(404, "Not Found")

    # ---------------------------------------------------------------- v2 orders
    def order_view(self, sb: Any, st: StoreState, rec: OrderRec, base: str | None = None) -> dict[str, Any]:
        root = base or (sb.api_base_url("bigcommerce", st.key) + f"/stores/{st.key}" if sb._server else "")
        d = dict(rec.data)
        for name, path in (
            ("products", "products"),
            ("shipping_addresses", "shipping_addresses"),
            ("coupons", "coupons"),
        ):
            d[name] = {"url": f"{root}/v2/orders/{rec.id}/{path}", "resource": f"/orders/{rec.id}/{path}"}
        return d

    def _v2_orders(self, sb: Any, st: StoreState, req: Request, segs: list[str]) -> Response:
        if not segs and req.method == "GET":
            return self._v2_list(st, req)
        if segs == ["count"] and req.method == "GET":
            return Response(200, {"count": len(st.orders)})
        if not segs or not segs[0].isdigit():
            raise v2_error(404, "The requested resource was not found.")
        rec = st.orders.get(int(segs[0]))
        if rec is None:
            raise v2_error(404, "The requested resource was not found.")
        rest = segs[1:]
        if not rest and req.method == "GET":
            return Response(200, self.order_view(sb, st, rec, req.base))
        if not rest and req.method == "PUT":
            return self._v2_update(sb, st, rec, req)
        if len(rest) == 1 and req.method == "GET":
            sub = {
                "products": rec.products,
                "shipping_addresses": rec.shipping_addresses,
                "shippingaddresses": rec.shipping_addresses,
                "coupons": rec.extra.get("coupons", []),
                "taxes": rec.extra.get("taxes", []),
                "fees": rec.extra.get("fees", []),
            }.get(rest[0])
            if sub is None:
                raise v2_error(404, "The requested resource was not found.")
            page, limit = _paging(req, 50, 250, v2=True)
            chunk = sub[(page - 1) * limit : page * limit]
            return Response(200, chunk) if chunk else Response(204)
        raise v2_error(404, "The requested resource was not found.")

    def _v2_list(self, st: StoreState, req: Request) -> Response:
        q = req.query
        page, limit = _paging(req, 50, 250, v2=True)
        bounds: dict[str, datetime] = {}
        for name in ("min_date_created", "max_date_created", "min_date_modified", "max_date_modified"):
            if q.get(name):
                try:
                    bounds[name] = parse_any_date(q[name])
                except (ValueError, TypeError):
                    raise v2_error(400, f"The field '{name}' is invalid.") from None
        sort_raw = q.get("sort", "id:asc")
        field_name, _, direction = sort_raw.partition(":")
        direction = direction or "asc"
        if field_name not in V2_SORT_FIELDS or direction not in ("asc", "desc"):
            raise v2_error(400, "The field 'sort' is invalid.")
        status_id = q.get("status_id")
        is_deleted = q.get("is_deleted", "false").lower() == "true"
        min_id, max_id = q.get("min_id"), q.get("max_id")
        customer, email = q.get("customer_id"), q.get("email")
        recs = []
        for rec in st.orders.values():
            d = rec.data
            if bool(d.get("is_deleted", False)) != is_deleted:
                continue
            sid = int(d.get("status_id", 0))
            if status_id is not None and status_id != "":
                if sid != int(status_id):
                    continue
            elif sid == 0:
                continue  # Incomplete orders are only listed when asked for (status_id=0)
            if min_id and rec.id < int(min_id):
                continue
            if max_id and rec.id > int(max_id):
                continue
            if customer and str(d.get("customer_id")) != customer:
                continue
            if email and (d.get("billing_address") or {}).get("email") != email:
                continue
            if "min_date_created" in bounds and rec.created < bounds["min_date_created"]:
                continue
            if "max_date_created" in bounds and rec.created > bounds["max_date_created"]:
                continue
            if "min_date_modified" in bounds and rec.modified < bounds["min_date_modified"]:
                continue
            if "max_date_modified" in bounds and rec.modified > bounds["max_date_modified"]:
                continue
            recs.append(rec)

        def key(r: OrderRec) -> tuple[Any, int]:
            if field_name == "date_modified":
                return (r.modified, r.id)
            if field_name == "date_created":
                return (r.created, r.id)
            if field_name == "id":
                return (r.id, r.id)
            return (str(r.data.get(field_name) or ""), r.id)

        recs.sort(key=key, reverse=direction == "desc")
        chunk = recs[(page - 1) * limit : page * limit]
        if not chunk:
            return Response(204)
        return Response(200, [self.order_view(None, st, r, req.base) for r in chunk])

    def _v2_update(self, sb: Any, st: StoreState, rec: OrderRec, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise v2_error(400, "The request body is not valid JSON.")
        for k in body:
            if k not in V2_ORDER_WRITABLE:
                raise v2_error(400, f"The field '{k}' cannot be written to. Please remove it from your request.")
        if "status_id" in body:
            try:
                sid = int(body["status_id"])
            except (TypeError, ValueError):
                raise v2_error(400, "The field 'status_id' is invalid.") from None
            if sid not in BC_STATUSES:
                raise v2_error(400, "The field 'status_id' is invalid.")
            rec.data["status_id"] = sid
            rec.data["status"] = BC_STATUSES[sid]
        for k in body:
            if k != "status_id":
                rec.data[k] = body[k]
        sb.world.touch_order(st, rec)
        return Response(200, self.order_view(sb, st, rec, req.base))

    # ---------------------------------------------------------------- v3 orders
    def _v3_orders(self, st: StoreState, req: Request, segs: list[str]) -> Response:
        if req.method != "GET":
            raise v3_error(405, "Method Not Allowed")
        if segs[:2] == ["payment_actions", "refunds"]:
            refunds = [r for rec in st.orders.values() for r in rec.refunds]
            if len(segs) == 3:
                for r in refunds:
                    if str(r.get("id")) == segs[2]:
                        return Response(200, {"data": r, "meta": {}})
                raise v3_error(404, "Refund not found")
            wanted = _csv_ints(req.query.get("order_id:in"))
            if wanted:
                refunds = [r for r in refunds if int(r.get("order_id", 0)) in wanted]
            page, limit = _paging(req, 50, 250)
            chunk = refunds[(page - 1) * limit : page * limit]
            return Response(200, {"data": chunk, "meta": _meta(len(refunds), len(chunk), limit, page, req)})
        if not segs or not segs[0].isdigit():
            raise v3_error(404, "Not Found")
        rec = st.orders.get(int(segs[0]))
        if rec is None:
            raise v3_error(404, "Order not found")
        rest = segs[1:]
        if rest == ["transactions"]:
            page, limit = _paging(req, 50, 250)
            chunk = rec.transactions[(page - 1) * limit : page * limit]
            return Response(200, {"data": chunk, "meta": _meta(len(rec.transactions), len(chunk), limit, page, req)})
        if rest == ["payment_actions", "refunds"]:
            return Response(200, {"data": rec.refunds, "meta": {}})
        raise v3_error(404, "Not Found")

    # ---------------------------------------------------------------- hooks
    def _hooks(self, sb: Any, st: StoreState, req: Request, segs: list[str]) -> Response:
        if not segs and req.method == "GET":
            hooks = list(st.webhooks.values())
            q = req.query
            if q.get("is_active"):
                hooks = [h for h in hooks if h["is_active"] == (q["is_active"].lower() == "true")]
            if q.get("scope"):
                hooks = [h for h in hooks if h["scope"] == q["scope"]]
            if q.get("destination"):
                hooks = [h for h in hooks if h["destination"] == q["destination"]]
            page, limit = _paging(req, 50, 250)
            chunk = hooks[(page - 1) * limit : page * limit]
            return Response(200, {"data": chunk, "meta": _meta(len(hooks), len(chunk), limit, page, req)})
        if not segs and req.method == "POST":
            body = req.json()
            if not isinstance(body, dict):
                raise v3_error(400, "The request body is not valid JSON.")
            hook = self._validate_hook(sb, st, body, None)
            return Response(200, {"data": hook, "meta": {}})
        if len(segs) == 1 and segs[0].isdigit():
            found = st.webhooks.get(int(segs[0]))
            if found is None:
                raise v3_error(404, "Webhook not found")
            hook = found
            if req.method == "GET":
                return Response(200, {"data": hook, "meta": {}})
            if req.method == "DELETE":
                del st.webhooks[hook["id"]]
                return Response(200, {"data": hook, "meta": {}})
            if req.method == "PUT":
                body = req.json() or {}
                self._validate_hook(sb, st, {**hook, **body}, hook)
                return Response(200, {"data": hook, "meta": {}})
        raise v3_error(404, "Not Found")

    def _validate_hook(
        self, sb: Any, st: StoreState, body: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any]:
        errors: dict[str, str] = {}
        scope, dest = body.get("scope"), body.get("destination")
        if not scope:
            errors["scope"] = "scope is required"
        elif scope not in HOOK_SCOPES:
            errors["scope"] = f"scope '{scope}' is not a valid webhook scope"
        if not isinstance(dest, str) or not dest:
            errors["destination"] = "destination is required"
        elif sb.limit("bigcommerce", "require_https") and not dest.startswith("https://"):
            errors["destination"] = "destination must be an https:// URL on port 443"
        headers = body.get("headers")
        if headers is not None and not isinstance(headers, dict):
            errors["headers"] = "headers must be an object of string values"
        if errors:
            raise v3_error(422, "Input is invalid", errors)
        for h in st.webhooks.values():
            if h is not existing and h["scope"] == scope and h["destination"] == dest:
                raise v3_error(422, "A webhook with this scope and destination already exists", {"scope": "duplicate"})
        now = int(time.time())
        hook: dict[str, Any] = existing if existing is not None else {"id": st.next_id("webhook"), "created_at": now}
        hook.update(
            {
                "client_id": st.config.get("client_id", ""),
                "store_hash": st.key,
                "scope": scope,
                "destination": dest,
                "headers": headers,
                "is_active": bool(body.get("is_active", True)),
                "events_history_enabled": bool(body.get("events_history_enabled", False)),
                "updated_at": now,
            }
        )
        st.webhooks[hook["id"]] = hook
        return hook

    # ---------------------------------------------------------------- catalog
    def variant_json(self, st: StoreState, v: Variant) -> dict[str, Any]:
        return {
            "id": v.id,
            "product_id": v.product_id,
            "sku": v.sku,
            "sku_id": None if v.is_base else v.id + 1000,
            "price": float(v.price),
            "calculated_price": float(v.price),
            "inventory_level": st.stock_of(v.id),
            "inventory_warning_level": 0,
            "bin_picking_number": "",
            "option_values": [] if v.is_base else [{"id": v.id, "label": v.title, "option_display_name": "Size"}],
            "purchasing_disabled": False,
        }

    def product_json(self, st: StoreState, pid: int, include_variants: bool) -> dict[str, Any]:
        p = st.products[pid]
        vs = [st.variants[v] for v in p.variant_ids]
        base = len(vs) == 1 and vs[0].is_base
        out: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "type": "physical",
            "sku": p.sku if p.sku else (vs[0].sku if base else ""),
            "price": float(vs[0].price) if vs else 0.0,
            "inventory_tracking": "product" if base else "variant",
            "inventory_level": sum(st.stock_of(v) for v in p.variant_ids),
            "is_visible": True,
            "base_variant_id": vs[0].id if base else None,
        }
        if include_variants:
            out["variants"] = [self.variant_json(st, v) for v in vs]
        return out

    def _catalog(self, st: StoreState, req: Request, segs: list[str]) -> Response:
        if req.method != "GET":
            raise v3_error(405, "Method Not Allowed")
        q = req.query
        page, limit = _paging(req, 50, 250)
        skus = set(_csv(q.get("sku:in"))) | ({q["sku"]} if q.get("sku") else set())
        if segs == ["variants"]:
            vids = sorted({v for s in skus for v in st.sku_index.get(s, ())}) if skus else sorted(st.variants)
            pids = _csv_ints(q.get("product_id:in"))
            if pids:
                vids = [v for v in vids if st.variants[v].product_id in pids]
            chunk = vids[(page - 1) * limit : page * limit]
            data = [self.variant_json(st, st.variants[v]) for v in chunk]
            return Response(200, {"data": data, "meta": _meta(len(vids), len(data), limit, page, req)})
        if segs == ["products"]:
            include = "variants" in _csv(q.get("include"))
            if skus:
                prod_ids = sorted({st.variants[vid].product_id for s in skus for vid in st.sku_index.get(s, ())})
            else:
                prod_ids = list(st.sorted_ids("products"))
            wanted = _csv_ints(q.get("id:in"))
            if wanted:
                prod_ids = [p for p in prod_ids if p in wanted]
            page_ids = prod_ids[(page - 1) * limit : page * limit]
            data = [self.product_json(st, p, include) for p in page_ids]
            return Response(200, {"data": data, "meta": _meta(len(prod_ids), len(data), limit, page, req)})
        if len(segs) == 3 and segs[0] == "products" and segs[1].isdigit() and segs[2] == "variants":
            pid = int(segs[1])
            if pid not in st.products:
                raise v3_error(404, "The requested product was not found.")
            vs = st.products[pid].variant_ids
            chunk = vs[(page - 1) * limit : page * limit]
            data = [self.variant_json(st, st.variants[v]) for v in chunk]
            return Response(200, {"data": data, "meta": _meta(len(vs), len(data), limit, page, req)})
        raise v3_error(404, "Not Found")

    # ---------------------------------------------------------------- inventory
    def location_json(self, loc: Any) -> dict[str, Any]:
        return {
            "id": loc.id,
            "code": loc.code,
            "label": loc.name,
            "description": "",
            "managed_by_external_source": False,
            "type_id": "PHYSICAL",
            "enabled": loc.active,
            "time_zone": "Etc/UTC",
            "storefront_visibility": True,
        }

    def _identity(self, v: Variant) -> dict[str, Any]:
        return {
            "sku": v.sku,
            "variant_id": v.id,
            "product_id": v.product_id,
            "sku_id": None if v.is_base else v.id + 1000,
        }

    def _item_location(self, st: StoreState, vid: int, lid: int) -> dict[str, Any]:
        qty = st.levels.get((vid, lid), 0)
        loc = st.locations[lid]
        return {
            "location_id": lid,
            "location_code": loc.code,
            "location_name": loc.name,
            "available_to_sell": qty,
            "total_inventory_onhand": qty,
            "location_enabled": loc.active,
            "settings": {"safety_stock": 0, "is_in_stock": qty > 0, "warning_level": 0, "bin_picking_number": ""},
        }

    def _select_variants(self, st: StoreState, q: dict[str, str]) -> list[int]:
        skus = _csv(q.get("sku:in"))
        vids: list[int] = sorted({v for s in skus for v in st.sku_index.get(s, ())}) if skus else sorted(st.variants)
        want_v, want_p = _csv_ints(q.get("variant_id:in")), _csv_ints(q.get("product_id:in"))
        if want_v:
            vids = [v for v in vids if v in want_v]
        if want_p:
            vids = [v for v in vids if st.variants[v].product_id in want_p]
        return vids

    def _inventory(self, sb: Any, st: StoreState, req: Request, segs: list[str]) -> Response:
        q = req.query
        if segs == ["locations"] and req.method == "GET":
            locs = list(st.locations.values())
            ids = _csv_ints(q.get("location_id:in"))
            if ids:
                locs = [loc for loc in locs if loc.id in ids]
            page, limit = _paging(req, 50, 250)
            data = [self.location_json(loc) for loc in locs[(page - 1) * limit : page * limit]]
            return Response(200, {"data": data, "meta": _meta(len(locs), len(data), limit, page, req)})
        if segs == ["items"] and req.method == "GET":
            page, limit = _paging(req, 50, 1000)
            vids = self._select_variants(st, q)
            lids = _csv_ints(q.get("location_id:in")) or set(st.locations)
            chunk = vids[(page - 1) * limit : page * limit]
            data = [
                {
                    "identity": self._identity(st.variants[v]),
                    "locations": [self._item_location(st, v, lid) for lid in sorted(lids) if lid in st.locations],
                }
                for v in chunk
            ]
            return Response(200, {"data": data, "meta": _meta(len(vids), len(data), limit, page, req)})
        if (
            len(segs) == 3
            and segs[0] == "locations"
            and segs[1].isdigit()
            and segs[2] == "items"
            and req.method == "GET"
        ):
            lid = int(segs[1])
            if lid not in st.locations:
                raise v3_error(404, f"Location with id {lid} not found")
            page, limit = _paging(req, 50, 1000)
            vids = self._select_variants(st, q)
            chunk = vids[(page - 1) * limit : page * limit]
            data = []
            for v in chunk:
                loc = self._item_location(st, v, lid)
                data.append(
                    {
                        "identity": self._identity(st.variants[v]),
                        "available_to_sell": loc["available_to_sell"],
                        "total_inventory_onhand": loc["total_inventory_onhand"],
                        "settings": loc["settings"],
                    }
                )
            return Response(200, {"data": data, "meta": _meta(len(vids), len(data), limit, page, req)})
        if segs == ["adjustments", "absolute"] and req.method == "PUT":
            return self._adjust(sb, st, req, relative=False)
        if segs == ["adjustments", "relative"] and req.method == "POST":
            return self._adjust(sb, st, req, relative=True)
        raise v3_error(404, "Not Found")

    def _adjust(self, sb: Any, st: StoreState, req: Request, relative: bool) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("items"), list) or not body["items"]:
            raise v3_error(422, "Input is invalid", {"items": "items is required and must be a non-empty array"})
        items = body["items"]
        limit = int(sb.limit("bigcommerce", "max_absolute_items"))
        if len(items) > limit:
            raise v3_error(
                422, "Input is invalid", {"items": f"The number of items in the payload must not exceed {limit}."}
            )
        errors: dict[str, str] = {}
        missing: list[str] = []
        mode: list[str] = []
        resolved: list[tuple[int, int, int, str]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                errors[f"items.{i}"] = "must be an object"
                continue
            idents = [k for k in ("sku", "variant_id", "product_id") if item.get(k) is not None]
            if len(idents) != 1:
                errors[f"items.{i}"] = "exactly one of sku, variant_id or product_id is required"
                continue
            lid, qty = item.get("location_id"), item.get("quantity")
            if not isinstance(lid, int) or lid not in st.locations:
                errors[f"items.{i}.location_id"] = f"Location with id {lid} not found"
                continue
            if not isinstance(qty, int) or isinstance(qty, bool) or (qty < 0 and not relative):
                errors[f"items.{i}.quantity"] = "quantity must be a non-negative integer"
                continue
            kind = idents[0]
            value = item[kind]
            v: Variant | None = None
            if kind == "sku":
                found = st.variants_for_sku(str(value))
                v = found[0] if found else None
            elif kind == "variant_id":
                v = st.variants.get(int(value))
                if v is not None and v.is_base:
                    mode.append(
                        f"[Item with variant_id {value} is tracked by product, please update stock by product id]"
                    )
                    continue
            else:
                p = st.products.get(int(value))
                if p is not None:
                    first = st.variants[p.variant_ids[0]] if p.variant_ids else None
                    if first is None or not first.is_base:
                        mode.append(
                            f"[Item with product_id {value} is tracked by variant, "
                            "please update stock by variant id or sku]"
                        )
                        continue
                    v = first
            if v is None:
                missing.append(f"{kind} {value}")
                continue
            resolved.append((v.id, lid, qty, v.sku))
        if errors:
            raise v3_error(422, "Input is invalid", errors)
        if mode:
            raise v3_error(422, mode[0])
        if missing:
            raise v3_error(422, f"Items with identity: [{', '.join(missing)}] were not found")
        txn = str(uuid.uuid4())
        via = "v3:adjustments/relative" if relative else "v3:adjustments/absolute"
        for vid, lid, qty, sku in resolved:
            new = st.levels.get((vid, lid), 0) + qty if relative else qty
            st.levels[(vid, lid)] = new
            st.adjustments.append({"sku": sku, "location": lid, "quantity": new, "via": via, "transaction_id": txn})
        req.notes["items"] = len(resolved)
        return Response(200, {"transaction_id": txn})
