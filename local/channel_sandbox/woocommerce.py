"""WooCommerce REST API v3 imitation (`/wp-json/wc/v3/...`): orders, refunds, notes, webhooks,
products, variations and their batch endpoints.

Store root `{base}/woocommerce/{store}` stands for the site URL.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .common import (
    ApiError,
    Request,
    Response,
    fmt_wc_gmt,
    fmt_wc_local,
    now_utc,
    parse_iso,
)
from .state import OrderRec, Product, StoreState, Variant

PREFIX = "/wp-json/wc/v3"
ORDER_STATUSES = (
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "trash",
    "checkout-draft",
)
ORDER_ORDERBY = ("date", "id", "include", "title", "slug", "modified")
WEBHOOK_RESOURCES = ("coupon", "customer", "order", "product")
WEBHOOK_EVENTS = ("created", "updated", "deleted", "restored")


def wp_error(status: int, code: str, message: str, **data: Any) -> ApiError:
    return ApiError(status, {"code": code, "message": message, "data": {"status": status, **data}})


def invalid_param(name: str, why: str) -> ApiError:
    return wp_error(
        400,
        "rest_invalid_param",
        f"Invalid parameter(s): {name}",
        params={name: why},
        details={name: {"code": "rest_invalid_param", "message": why, "data": None}},
    )


def no_route() -> ApiError:
    return wp_error(404, "rest_no_route", "No route was found matching the URL and request method.")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes", "on")


class WooCommerceApi:
    def unknown_store(self, key: str) -> Response:
        return Response(404, b"<html><body><h1>Not Found</h1></body></html>", content_type="text/html")

    def bad_request(self, message: str) -> Response:
        return wp_error(400, "rest_invalid_param", message).response

    def authenticate(self, sb: Any, st: StoreState, req: Request) -> None:
        if not req.path.startswith(PREFIX + "/"):
            return  # unknown routes answer rest_no_route (WordPress checks routes before auth)
        ck = cs = None
        auth = req.header("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                ck, _, cs = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                ck = cs = None
        if ck is None and "consumer_key" in req.query:
            ck, cs = req.query.get("consumer_key"), req.query.get("consumer_secret")
        if not ck:
            what = {"GET": "list resources" if req.path.count("/") <= 4 else "view this resource"}.get(
                req.method, "create resources" if req.method == "POST" else "edit this resource"
            )
            code = {"GET": "woocommerce_rest_cannot_view", "POST": "woocommerce_rest_cannot_create"}.get(
                req.method, "woocommerce_rest_cannot_edit"
            )
            raise wp_error(401, code, f"Sorry, you cannot {what}.")
        key = next((k for k in st.config.get("keys", []) if k["consumer_key"] == ck), None)
        if key is None:
            raise wp_error(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        if cs != key["consumer_secret"]:
            raise wp_error(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        perms = key.get("permissions", "read_write")
        if req.method == "GET" and perms not in ("read", "read_write"):
            raise wp_error(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions."
            )
        if req.method != "GET" and perms not in ("write", "read_write"):
            raise wp_error(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions."
            )

    def pre_limit(self, sb: Any, st: StoreState, req: Request) -> Response | None:
        return None  # core wc/v3 has no rate limit (hosting/WAF limits: inject a rate_limit fault)

    def post_headers(self, sb: Any, st: StoreState, req: Request) -> dict[str, str]:
        return {}

    def fault_response(self, fault: Any) -> Response:
        if fault.kind == "rate_limit":
            return Response(
                fault.status or 429,
                fault.body or b"<html><body><h1>429 Too Many Requests</h1></body></html>",
                {"Retry-After": str(max(1, math.ceil(fault.retry_after)))},
                "text/html",
            )
        status = fault.status or 500
        if fault.body is not None:
            return Response(status, fault.body)
        if status >= 502:
            return Response(status, f"<html><body><h1>{status}</h1></body></html>".encode(), content_type="text/html")
        return Response(
            status,
            {
                "code": "internal_server_error",
                "message": "<p>There has been a critical error on this website.</p>",
                "data": {"status": status},
            },
        )

    # ---------------------------------------------------------------- routing
    def handle(self, sb: Any, st: StoreState, req: Request) -> Response:
        if not req.path.startswith(PREFIX + "/"):
            raise no_route()
        segs = [s for s in req.path[len(PREFIX) + 1 :].split("/") if s]
        method = "PUT" if req.method in ("POST", "PATCH") and len(segs) == 2 and segs[1].isdigit() else req.method
        if not segs:
            raise no_route()
        if segs[0] == "orders":
            return self._orders(sb, st, req, segs, method)
        if segs[0] == "webhooks":
            return self._webhooks(sb, st, req, segs, method)
        if segs[0] == "products":
            return self._products(sb, st, req, segs, method)
        raise no_route()

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _paging(req: Request, default_per_page: int = 10) -> tuple[int, int]:
        q = req.query
        try:
            per_page = int(q.get("per_page") or default_per_page)
        except ValueError:
            raise invalid_param("per_page", "per_page is not of type integer.") from None
        if per_page < 1 or per_page > 100:
            raise invalid_param("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        try:
            page = int(q.get("page") or 1)
        except ValueError:
            raise invalid_param("page", "page is not of type integer.") from None
        if page < 1:
            raise invalid_param("page", "page must be greater than or equal to 1")
        return page, per_page

    @staticmethod
    def _page_response(
        req: Request,
        route: str,
        items: list[Any],
        page: int,
        per_page: int,
        *,
        render: Callable[[Any], Any] | None = None,
    ) -> Response:
        total = len(items)
        pages = math.ceil(total / per_page) if total else 0
        offset_raw = req.query.get("offset")
        start = int(offset_raw) if offset_raw else (page - 1) * per_page
        chunk = items[start : start + per_page]
        if render is not None:  # only the page is serialised, so crawling 50k products stays fast
            chunk = [render(x) for x in chunk]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        others = "&".join(f"{k}={v}" for k, v in req.query_list if k not in ("page", "consumer_key", "consumer_secret"))
        base = f"{req.base}{PREFIX}/{route}?" + (others + "&" if others else "")
        links = []
        if page > 1 and pages:
            links.append(f'<{base}page={min(page - 1, pages)}>; rel="prev"')
        if page < pages:
            links.append(f'<{base}page={page + 1}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return Response(200, chunk, headers)

    def _date_bound(self, st: StoreState, req: Request, name: str) -> datetime | None:
        raw = req.query.get(name)
        if not raw:
            return None
        gmt = _bool(req.query.get("dates_are_gmt", "false"))
        try:
            return parse_iso(raw, UTC if gmt else st.tz)
        except ValueError:
            raise invalid_param(name, "Invalid date.") from None

    # ---------------------------------------------------------------- orders
    def _orders(self, sb: Any, st: StoreState, req: Request, segs: list[str], method: str) -> Response:
        if segs == ["orders"] and method == "GET":
            return self._list_orders(st, req)
        if len(segs) < 2 or not segs[1].isdigit():
            raise no_route()
        rec = st.orders.get(int(segs[1]))
        if rec is None:
            raise wp_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        rest = segs[2:]
        if not rest and method == "GET":
            return Response(200, rec.data)
        if not rest and method == "PUT":
            return self._update_order(sb, st, rec, req)
        if not rest and method == "DELETE":
            if _bool(req.query.get("force", "false")):
                del st.orders[rec.id]
                return Response(200, rec.data)
            rec.data["status"] = "trash"
            sb.world.touch_order(st, rec)
            return Response(200, rec.data)
        if rest == ["refunds"] and method == "GET":
            page, per_page = self._paging(req)
            return self._page_response(req, f"orders/{rec.id}/refunds", rec.refunds, page, per_page)
        if len(rest) == 2 and rest[0] == "refunds" and method == "GET":
            for r in rec.refunds:
                if str(r.get("id")) == rest[1]:
                    return Response(200, r)
            raise wp_error(404, "woocommerce_rest_invalid_id", "Invalid ID.")
        if rest == ["notes"] and method == "GET":
            return Response(200, list(reversed(rec.notes)))
        if rest == ["notes"] and method == "POST":
            body = req.json() or {}
            if not body.get("note"):
                raise wp_error(400, "rest_missing_callback_param", "Missing parameter(s): note", params=["note"])
            now = now_utc()
            note = {
                "id": st.next_id("note"),
                "author": "WooCommerce" if not _bool(body.get("added_by_user", False)) else "admin",
                "date_created": fmt_wc_local(now, st.tz),
                "date_created_gmt": fmt_wc_gmt(now),
                "note": body["note"],
                "customer_note": _bool(body.get("customer_note", False)),
            }
            rec.notes.append(note)
            return Response(201, note)
        raise no_route()

    def _list_orders(self, st: StoreState, req: Request) -> Response:
        q = req.query
        page, per_page = self._paging(req)
        order = q.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid_param("order", "order is not one of asc and desc.")
        orderby = q.get("orderby", "date")
        if orderby not in ORDER_ORDERBY:
            raise invalid_param("orderby", f"orderby is not one of {', '.join(ORDER_ORDERBY)}.")
        statuses = [s for s in q.get("status", "any").split(",") if s]
        for s in statuses:
            if s != "any" and s not in ORDER_STATUSES:
                raise invalid_param("status", f"status[0] is not one of any, {', '.join(ORDER_STATUSES)}.")
        bounds = {n: self._date_bound(st, req, n) for n in ("after", "before", "modified_after", "modified_before")}
        include = {int(x) for x in q.get("include", "").split(",") if x.strip()}
        exclude = {int(x) for x in q.get("exclude", "").split(",") if x.strip()}
        customer = q.get("customer")
        recs: list[OrderRec] = []
        for rec in st.orders.values():
            status = rec.data.get("status")
            if "any" in statuses:
                if status in ("trash", "checkout-draft") and not (set(statuses) - {"any"}):
                    continue
            elif status not in statuses:
                continue
            if include and rec.id not in include:
                continue
            if rec.id in exclude:
                continue
            if customer is not None and str(rec.data.get("customer_id")) != customer:
                continue
            # WP_Date_Query after/before are exclusive (inclusive=false).
            if bounds["after"] and not rec.created > bounds["after"]:
                continue
            if bounds["before"] and not rec.created < bounds["before"]:
                continue
            if bounds["modified_after"] and not rec.modified > bounds["modified_after"]:
                continue
            if bounds["modified_before"] and not rec.modified < bounds["modified_before"]:
                continue
            recs.append(rec)

        def key(r: OrderRec) -> tuple[Any, int]:
            if orderby == "modified":
                return (r.modified, r.id)
            if orderby in ("id", "include"):
                return (r.id, r.id)
            if orderby in ("title", "slug"):
                return (str(r.data.get("number", r.id)), r.id)
            return (r.created, r.id)

        recs.sort(key=key, reverse=order == "desc")
        return self._page_response(req, "orders", [r.data for r in recs], page, per_page)

    def _update_order(self, sb: Any, st: StoreState, rec: OrderRec, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
        d = rec.data
        if "status" in body and body["status"] not in ORDER_STATUSES:
            raise invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")
        if "meta_data" in body:
            if not isinstance(body["meta_data"], list):
                raise invalid_param("meta_data", "meta_data is not of type array.")
            for item in body["meta_data"]:
                _apply_meta(st, d.setdefault("meta_data", []), item)
        for k in ("customer_note", "transaction_id", "payment_method", "payment_method_title"):
            if k in body:
                d[k] = body[k]
        now = now_utc()
        if _bool(body.get("set_paid", False)):
            if not d.get("date_paid_gmt"):
                d["date_paid_gmt"] = fmt_wc_gmt(now)
                d["date_paid"] = fmt_wc_local(now, st.tz)
            if d.get("status") in ("pending", "on-hold", "failed", "cancelled", None):
                d["status"] = "processing"
            d["needs_payment"] = False
        if "status" in body:
            d["status"] = body["status"]
            if body["status"] == "completed" and not d.get("date_completed_gmt"):
                d["date_completed_gmt"] = fmt_wc_gmt(now)
                d["date_completed"] = fmt_wc_local(now, st.tz)
        sb.world.touch_order(st, rec)
        return Response(200, d)

    # ---------------------------------------------------------------- webhooks
    def _webhook_json(self, hook: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in hook.items() if k != "secret"}

    def _webhooks(self, sb: Any, st: StoreState, req: Request, segs: list[str], method: str) -> Response:
        if segs == ["webhooks"] and method == "GET":
            page, per_page = self._paging(req)
            status = req.query.get("status", "all")
            hooks = [h for h in st.webhooks.values() if status == "all" or h["status"] == status]
            hooks.sort(key=lambda h: h["id"], reverse=req.query.get("order", "desc") == "desc")
            return self._page_response(req, "webhooks", [self._webhook_json(h) for h in hooks], page, per_page)
        if segs == ["webhooks"] and method == "POST":
            body = req.json()
            if not isinstance(body, dict):
                raise wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
            return Response(201, self._webhook_json(self._create_webhook(sb, st, body)))
        if segs == ["webhooks", "batch"] and method == "POST":
            raise no_route()
        if len(segs) == 2 and segs[1].isdigit():
            hook = st.webhooks.get(int(segs[1]))
            if hook is None:
                raise wp_error(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
            if method == "GET":
                return Response(200, self._webhook_json(hook))
            if method == "DELETE":
                if not _bool(req.query.get("force", "false")):
                    raise wp_error(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
                del st.webhooks[hook["id"]]
                return Response(200, self._webhook_json(hook))
            if method == "PUT":
                body = req.json() or {}
                for k in ("name", "status", "delivery_url", "secret"):
                    if k in body:
                        hook[k] = body[k]
                if "status" in body and body["status"] not in ("active", "paused", "disabled"):
                    raise invalid_param("status", "status is not one of active, paused, and disabled.")
                if "topic" in body:
                    self._set_topic(hook, body["topic"])
                now = now_utc()
                hook["date_modified"], hook["date_modified_gmt"] = fmt_wc_local(now, st.tz), fmt_wc_gmt(now)
                return Response(200, self._webhook_json(hook))
        raise no_route()

    @staticmethod
    def _set_topic(hook: dict[str, Any], topic: Any) -> None:
        resource, _, event = str(topic or "").partition(".")
        valid = (resource in WEBHOOK_RESOURCES and event in WEBHOOK_EVENTS) or (resource == "action" and event)
        if not valid:
            raise wp_error(
                400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid."
            )
        hook["topic"], hook["resource"], hook["event"] = topic, resource, event
        hook["hooks"] = [f"woocommerce_{'new' if event == 'created' else event}_{resource}"]

    def _create_webhook(self, sb: Any, st: StoreState, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("delivery_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise wp_error(
                400,
                "woocommerce_rest_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            )
        if sb.limit("woocommerce", "require_https") and not url.startswith("https://"):
            raise wp_error(
                400, "woocommerce_rest_webhook_invalid_delivery_url", "Webhook delivery URL must use https://."
            )
        status = body.get("status", "active")
        if status not in ("active", "paused", "disabled"):
            raise invalid_param("status", "status is not one of active, paused, and disabled.")
        now = now_utc()
        hook: dict[str, Any] = {"id": st.next_id("webhook")}
        self._set_topic(hook, body.get("topic"))
        hook.update(
            {
                "name": body.get("name") or f"Webhook created on {now:%B %d, %Y @ %I:%M %p}",
                "status": status,
                "delivery_url": url,
                "api_version": body.get("api_version", "wp_api_v3"),
                "secret": body.get("secret") or f"wcsecret{hook['id']}",
                "date_created": fmt_wc_local(now, st.tz),
                "date_created_gmt": fmt_wc_gmt(now),
                "date_modified": fmt_wc_local(now, st.tz),
                "date_modified_gmt": fmt_wc_gmt(now),
            }
        )
        order = ["id", "name", "status", "topic", "resource", "event", "hooks", "delivery_url", "secret"]
        hook = {k: hook[k] for k in order} | {k: v for k, v in hook.items() if k not in order}
        st.webhooks[hook["id"]] = hook
        return hook

    # ---------------------------------------------------------------- products
    def product_json(self, st: StoreState, p: Product) -> dict[str, Any]:
        modified = p.modified or now_utc()
        if p.type == "variable":
            manage, qty = p.stock is not None, p.stock
            price = st.variants[p.variant_ids[0]].price if p.variant_ids else ""
        else:
            v = st.variants[p.id]
            manage, price = v.tracked, v.price
            qty = st.levels.get((p.id, None)) if manage else None
        return {
            "id": p.id,
            "name": p.name,
            "slug": p.name.lower().replace(" ", "-"),
            "date_modified": fmt_wc_local(modified, st.tz),
            "date_modified_gmt": fmt_wc_gmt(modified),
            "type": p.type,
            "status": "publish",
            "sku": p.sku,
            "price": price,
            "regular_price": price,
            "sale_price": "",
            "manage_stock": manage,
            "stock_quantity": qty,
            "stock_status": _stock_status(manage, qty),
            "backorders": "no",
            "parent_id": 0,
            "variations": list(p.variant_ids) if p.type == "variable" else [],
            "meta_data": [],
        }

    def variation_json(self, st: StoreState, v: Variant, as_product: bool = False) -> dict[str, Any]:
        p = st.products[v.product_id]
        modified = p.modified or now_utc()
        qty = st.levels.get((v.id, None)) if v.tracked else None
        out: dict[str, Any] = {
            "id": v.id,
            "date_modified": fmt_wc_local(modified, st.tz),
            "date_modified_gmt": fmt_wc_gmt(modified),
            "sku": v.sku,
            "price": v.price,
            "regular_price": v.price,
            "sale_price": "",
            "status": "publish",
            "manage_stock": v.tracked,
            "stock_quantity": qty,
            "stock_status": _stock_status(v.tracked, qty),
            "backorders": "no",
            "attributes": [{"id": 0, "name": "Option", "option": v.title}],
            "meta_data": [],
        }
        if as_product:  # a variation returned by GET /products?sku=
            out = {"id": v.id, "name": f"{p.name} - {v.title}", "type": "variation", "parent_id": p.id} | out
            out["variations"] = []
        return out

    def _products(self, sb: Any, st: StoreState, req: Request, segs: list[str], method: str) -> Response:
        if segs == ["products"] and method == "GET":
            return self._list_products(st, req)
        if segs == ["products", "batch"] and method in ("POST", "PUT", "PATCH"):
            return self._batch_products(sb, st, req)
        if len(segs) < 2 or not segs[1].isdigit():
            raise no_route()
        p = st.products.get(int(segs[1]))
        if p is None:
            raise wp_error(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        rest = segs[2:]
        if not rest and method == "GET":
            return Response(200, self.product_json(st, p))
        if not rest and method == "PUT":
            body = req.json() or {}
            self._update_product(st, p, body)
            return Response(200, self.product_json(st, p))
        if rest == ["variations"] and method == "GET":
            page, per_page = self._paging(req)
            vs = [self.variation_json(st, st.variants[v]) for v in p.variant_ids] if p.type == "variable" else []
            if req.query.get("sku"):
                wanted = set(req.query["sku"].split(","))
                vs = [v for v in vs if v["sku"] in wanted]
            return self._page_response(req, f"products/{p.id}/variations", vs, page, per_page)
        if rest == ["variations", "batch"] and method in ("POST", "PUT", "PATCH"):
            return self._batch_variations(sb, st, p, req)
        if len(rest) == 2 and rest[0] == "variations" and rest[1].isdigit():
            vid = int(rest[1])
            if p.type != "variable" or vid not in p.variant_ids:
                raise wp_error(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            v = st.variants[vid]
            if method == "GET":
                return Response(200, self.variation_json(st, v))
            if method in ("PUT", "POST", "PATCH"):
                self._update_stock(st, v, req.json() or {}, "rest:variation")
                return Response(200, self.variation_json(st, v))
        raise no_route()

    def _list_products(self, st: StoreState, req: Request) -> Response:
        q = req.query
        page, per_page = self._paging(req)
        skus = [s for s in q.get("sku", "").split(",") if s]
        items: list[dict[str, Any]] = []
        if skus:
            # With `sku`, WooCommerce queries products *and* variations (post types product and
            # product_variation); variations come back product-shaped with type "variation".
            wanted = set(skus)
            for sku in skus:
                for v in st.variants_for_sku(sku):
                    if v.is_base:
                        items.append(self.product_json(st, st.products[v.product_id]))
                    else:
                        items.append(self.variation_json(st, v, as_product=True))
            for p in st.products.values():  # variable parents carrying the SKU themselves
                if p.type == "variable" and p.sku in wanted:
                    items.append(self.product_json(st, p))
            items.sort(key=lambda x: x["id"], reverse=q.get("order", "desc") == "desc")
        else:
            ptype = q.get("type")
            include = {int(x) for x in q.get("include", "").split(",") if x.strip()}
            ids = st.sorted_ids("products")
            if ptype or include:
                ids = [i for i in ids if (not ptype or st.products[i].type == ptype) and (not include or i in include)]
            if q.get("order", "desc") == "desc":
                ids = ids[::-1]
            return self._page_response(
                req, "products", ids, page, per_page, render=lambda i: self.product_json(st, st.products[i])
            )
        return self._page_response(req, "products", items, page, per_page)

    def _check_batch(self, sb: Any, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise wp_error(400, "rest_invalid_json", "Invalid JSON body passed.")
        limit = int(sb.limit("woocommerce", "batch_limit"))
        total = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if total > limit:
            raise wp_error(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {limit} items for this request.",
            )
        return body

    def _batch_products(self, sb: Any, st: StoreState, req: Request) -> Response:
        body = self._check_batch(sb, req.json())
        out: dict[str, list[Any]] = {}
        if "create" in body:
            out["create"] = []
            for item in body["create"] or []:
                if not item.get("name"):
                    out["create"].append(
                        _item_error(0, "woocommerce_rest_product_invalid_name", "Product name is required.")
                    )
                    continue
                sku = item.get("sku", "")
                if sku and st.sku_index.get(sku):
                    out["create"].append(_item_error(0, "product_invalid_sku", "Invalid or duplicated SKU."))
                    continue
                [pid] = sb.world.add_products("woocommerce", st.key, [sku], int(item.get("stock_quantity") or 0))
                st.products[pid].name = item["name"]
                out["create"].append(self.product_json(st, st.products[pid]))
        if "update" in body:
            out["update"] = []
            for item in body["update"] or []:
                pid = item.get("id")
                p = st.products.get(int(pid)) if str(pid).isdigit() else None
                if p is None:
                    out["update"].append(_item_error(pid or 0, "woocommerce_rest_product_invalid_id", "Invalid ID."))
                    continue
                self._update_product(st, p, item)
                out["update"].append(self.product_json(st, p))
        if "delete" in body:
            out["delete"] = [
                _item_error(
                    i, "woocommerce_rest_trash_not_supported", "Deleting products is not supported by the sandbox.", 501
                )
                for i in body["delete"] or []
            ]
        return Response(200, out)

    def _batch_variations(self, sb: Any, st: StoreState, p: Product, req: Request) -> Response:
        body = self._check_batch(sb, req.json())
        out: dict[str, list[Any]] = {}
        if "update" in body:
            out["update"] = []
            for item in body["update"] or []:
                vid = item.get("id")
                ok = p.type == "variable" and str(vid).isdigit() and int(vid) in p.variant_ids
                if not ok:
                    out["update"].append(
                        _item_error(vid or 0, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
                    )
                    continue
                v = st.variants[int(vid)]
                self._update_stock(st, v, item, "rest:variations/batch")
                out["update"].append(self.variation_json(st, v))
        for k in ("create", "delete"):
            if k in body:
                out[k] = [
                    _item_error(
                        0, "woocommerce_rest_not_supported", f"Variation {k} is not supported by the sandbox.", 501
                    )
                    for _ in body[k] or []
                ]
        return Response(200, out)

    def _update_product(self, st: StoreState, p: Product, body: dict[str, Any]) -> None:
        if "name" in body:
            p.name = body["name"]
        if p.type == "variable":
            # Parent-level stock on a variable product: stored, but never reaches the variations.
            if _bool(body.get("manage_stock", p.stock is not None)) and "stock_quantity" in body:
                p.stock = int(body["stock_quantity"])
            elif "manage_stock" in body and not _bool(body["manage_stock"]):
                p.stock = None
            p.modified = now_utc()
            return
        self._update_stock(st, st.variants[p.id], body, "rest:products")

    def _update_stock(self, st: StoreState, v: Variant, body: dict[str, Any], via: str) -> None:
        if "manage_stock" in body:
            v.tracked = _bool(body["manage_stock"])
        if v.tracked and "stock_quantity" in body and body["stock_quantity"] is not None:
            qty = int(body["stock_quantity"])
            st.levels[(v.id, None)] = qty
            st.adjustments.append({"sku": v.sku, "location": None, "quantity": qty, "via": via})
        if "regular_price" in body:
            v.price = str(body["regular_price"])
        st.products[v.product_id].modified = now_utc()

    # ---------------------------------------------------------------- views
    def order_view(self, sb: Any, st: StoreState, rec: OrderRec) -> dict[str, Any]:
        return rec.data


def _stock_status(manage: bool, qty: int | None) -> str:
    if not manage or qty is None:
        return "instock"
    return "instock" if qty > 0 else "outofstock"


def _item_error(id_: Any, code: str, message: str, status: int = 400) -> dict[str, Any]:
    return {"id": id_, "error": {"code": code, "message": message, "data": {"status": status}}}


def _apply_meta(st: StoreState, meta: list[dict[str, Any]], item: Any) -> None:
    if not isinstance(item, dict) or ("key" not in item and "id" not in item):
        return
    if item.get("id") is not None:
        for m in meta:
            if m["id"] == item["id"]:
                if item.get("value") is None:
                    meta.remove(m)
                else:
                    m["value"] = item["value"]
                    m["key"] = item.get("key", m["key"])
                return
    for m in meta:
        if m["key"] == item["key"]:
            m["value"] = item.get("value")
            return
    meta.append({"id": st.next_id("meta"), "key": item["key"], "value": item.get("value")})
