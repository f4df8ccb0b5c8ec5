"""Shopify Admin API imitation: REST orders/webhooks/locations/inventory and the GraphQL endpoint.

Store root `{base}/shopify/{shop}` stands for `https://{shop}`; every API route lives under
`/admin/api/{YYYY-MM}/`. `POST /admin/oauth/access_token` is the client credentials grant of the
store's Dev Dashboard apps (seed `apps`): it issues tokens that expire on the sandbox clock.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from .common import (
    ApiError,
    Request,
    Response,
    decode_cursor,
    encode_cursor,
    fmt_shopify,
    now_utc,
    parse_iso,
)
from .state import OrderRec, StoreState

VERSION_RE = re.compile(r"^/admin/api/(\d{4}-\d{2}|unstable)(/.*)$")
TOKEN_ROUTE = "/admin/oauth/access_token"  # noqa: S105 - a route

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105

WEBHOOK_TOPICS = (
    "app/uninstalled",
    "customers/create",
    "customers/update",
    "fulfillments/create",
    "fulfillments/update",
    "inventory_items/create",
    "inventory_items/delete",
    "inventory_items/update",
    "inventory_levels/connect",
    "inventory_levels/disconnect",
    "inventory_levels/update",
    "order_transactions/create",
    "orders/cancelled",
    "orders/create",
    "orders/delete",
    "orders/edited",
    "orders/fulfilled",
    "orders/paid",
    "orders/partially_fulfilled",
    "orders/updated",
    "products/create",
    "products/delete",
    "products/update",
    "refunds/create",
    "shop/update",
)

ORDER_SORT_FIELDS = ("id", "created_at", "updated_at", "processed_at")
PAGE_INFO_COMPANIONS = {"limit", "fields", "page_info"}

# REST resources and the scope each verb needs (read_* for GET, write_* otherwise).
SCOPES = {"orders": "orders", "webhooks": None, "locations": "locations", "inventory_levels": "inventory"}


def _gid(kind: str, id_: int) -> str:
    return f"gid://shopify/{kind}/{id_}"


def not_found() -> ApiError:
    return ApiError(404, {"errors": "Not Found"})


def _oauth_error(status: int, code: str, description: str) -> Response:
    """An OAuth error answer (RFC 6749 section 5.2 shape)."""
    return Response(status, {"error": code, "error_description": description})


class ShopifyApi:
    # ---------------------------------------------------------------- plumbing hooks
    def unknown_store(self, key: str) -> Response:
        return Response(404, {"errors": "Not Found"})

    def bad_request(self, message: str) -> Response:
        return Response(400, {"errors": {"base": [message]}})

    def _token(self, sb: Any, st: StoreState, req: Request) -> dict[str, Any] | None:
        token = req.header("X-Shopify-Access-Token")
        if not token:
            return None
        tokens: list[dict[str, Any]] = st.config.get("access_tokens", [])
        static = next((t for t in tokens if token == t["token"]), None)
        if static is not None:
            return static
        issued = st.issued_tokens.get(token)
        if issued is not None and sb.clock() < issued["expires_at"]:
            req.notes["auth"] = "issued"
            return issued
        if issued is not None:
            req.notes["auth"] = "expired"
        return None

    def authenticate(self, sb: Any, st: StoreState, req: Request) -> None:
        if req.path == TOKEN_ROUTE:
            return  # the token request authenticates with the client credentials in its body
        tok = self._token(sb, st, req)
        if tok is None:
            raise ApiError(401, {"errors": INVALID_TOKEN})
        req.notes["scopes"] = set(tok.get("scopes", []))

    def pre_limit(self, sb: Any, st: StoreState, req: Request) -> Response | None:
        if req.path.endswith("/graphql.json") or req.path == TOKEN_ROUTE:
            return None  # GraphQL is throttled by query cost inside the handler; OAuth is not limited here
        bucket = sb.bucket("shopify", st.key, "rest")
        if not bucket.take(1):
            rate = sb.limit("shopify", "rest_leak_rate")
            return Response(
                429,
                {
                    "errors": f"Exceeded {rate:g} calls per second for api client. "
                    "Reduce request rates to resume uninterrupted service."
                },
                {"Retry-After": f"{max(1.0, 1.0 / rate):.1f}"},
            )
        return None

    def post_headers(self, sb: Any, st: StoreState, req: Request) -> dict[str, str]:
        if req.path.endswith("/graphql.json") or req.path == TOKEN_ROUTE:
            return {}
        bucket = sb.bucket("shopify", st.key, "rest")
        used = math.ceil(bucket.size - bucket.available - 1e-9)
        return {"X-Shopify-Shop-Api-Call-Limit": f"{max(used, 0)}/{int(bucket.size)}"}

    def fault_response(self, fault: Any) -> Response:
        if fault.kind == "rate_limit":
            return Response(
                429,
                fault.body
                or {
                    "errors": "Exceeded 2 calls per second for api client. "
                    "Reduce request rates to resume uninterrupted service."
                },
                {"Retry-After": f"{float(fault.retry_after):.1f}"},
            )
        if fault.kind == "throttle":
            from .shopify_graphql import throttled_body

            return Response(200, throttled_body(fault))
        status = fault.status or 500
        body = fault.body
        if body is None:
            body = {500: {"errors": "Internal Server Error"}, 503: {"errors": "Unavailable Shop"}}.get(
                status, {"errors": f"HTTP {status}"}
            )
        return Response(status, body)

    def require_scope(self, req: Request, scope: str) -> None:
        scopes: set[str] = req.notes.get("scopes", set())
        if scope in scopes:
            return
        if scope.startswith("read_") and "write_" + scope[5:] in scopes:
            return
        raise ApiError(403, {"errors": f"[API] This action requires merchant approval for {scope} scope."})

    # ---------------------------------------------------------------- client credentials grant
    def _access_token(self, sb: Any, st: StoreState, req: Request) -> Response:
        """`POST /admin/oauth/access_token`: form-encoded or JSON `grant_type=client_credentials`,
        `client_id`, `client_secret` of an app installed on this store -> a token that lasts
        `token_expires_in` seconds of the sandbox clock (`{"access_token", "scope", "expires_in"}`)."""
        if req.method != "POST":
            raise ApiError(405, {"errors": "Method Not Allowed"})
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        params: dict[str, Any]
        if ctype == "application/json":
            try:
                loaded = json.loads(req.body or b"{}")
            except ValueError:
                loaded = None
            if not isinstance(loaded, dict):
                return _oauth_error(400, "invalid_request", "The request body is not a JSON object.")
            params, req.notes["encoding"] = loaded, "json"
        else:
            params = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
            req.notes["encoding"] = "form"
        req.notes["params"] = {k: ("***" if k == "client_secret" else v) for k, v in params.items()}
        grant, client_id, client_secret = (params.get(k) for k in ("grant_type", "client_id", "client_secret"))
        if not grant:
            return _oauth_error(400, "invalid_request", "The request is missing a required parameter: grant_type.")
        if grant != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "The authorization grant type is not supported by the server."
            )
        if not client_id or not client_secret:
            return _oauth_error(
                400, "invalid_request", "The request is missing a required parameter: client_id or client_secret."
            )
        apps: list[dict[str, Any]] = st.config.get("apps", [])
        app = next((a for a in apps if a.get("client_id") == client_id), None)
        if app is None or app.get("client_secret") != client_secret:
            return _oauth_error(
                401,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication included, or "
                "unsupported authentication method.",
            )
        if not app.get("installed", True):
            return _oauth_error(400, "app_not_installed", "The application is not installed on this shop.")
        expires_in = int(sb.limit("shopify", "token_expires_in"))
        token = "shpat_" + secrets.token_hex(16)
        scopes = list(app.get("scopes", []))
        st.issued_tokens[token] = {"client_id": client_id, "scopes": scopes, "expires_at": sb.clock() + expires_in}
        req.notes["client_id"] = client_id
        return Response(200, {"access_token": token, "scope": ",".join(scopes), "expires_in": expires_in})

    # ---------------------------------------------------------------- routing
    def handle(self, sb: Any, st: StoreState, req: Request) -> Response:
        if req.path == TOKEN_ROUTE:
            return self._access_token(sb, st, req)
        m = VERSION_RE.match(req.path)
        if m is None:
            raise not_found()
        version, route = m.group(1), m.group(2)
        req.notes["api_version"] = version
        method = req.method
        if route == "/graphql.json":
            if method != "POST":
                raise ApiError(405, {"errors": "Method Not Allowed"})
            from .shopify_graphql import execute

            return execute(sb, st, req, version)
        if not route.endswith(".json"):
            raise not_found()
        segs = route[1:-5].split("/")
        resource = segs[0]
        scope_base = SCOPES.get(resource, "")
        if scope_base:
            self.require_scope(req, ("read_" if method == "GET" else "write_") + scope_base)
        if resource == "orders":
            return self._orders(sb, st, req, segs, version)
        if resource == "webhooks":
            return self._webhooks(sb, st, req, segs, version)
        if resource == "locations" and segs == ["locations"] and method == "GET":
            return Response(200, {"locations": [self.location_json(st, loc) for loc in st.locations.values()]})
        if resource == "inventory_levels":
            return self._inventory_levels(sb, st, req, segs)
        raise not_found()

    # ---------------------------------------------------------------- orders
    def _orders(self, sb: Any, st: StoreState, req: Request, segs: list[str], version: str) -> Response:
        method = req.method
        if segs == ["orders"] and method == "GET":
            return self._list_orders(st, req, version)
        if segs == ["orders", "count"] and method == "GET":
            recs = self._filter_orders(st, self._order_filters(req.query))
            return Response(200, {"count": len(recs)})
        if len(segs) < 2 or not segs[1].isdigit():
            raise not_found()
        rec = st.orders.get(int(segs[1]))
        if rec is None:
            raise not_found()
        rest = segs[2:]
        if not rest and method == "GET":
            return Response(200, {"order": self._project(rec.data, req.query.get("fields"))})
        if not rest and method == "PUT":
            return self._update_order(sb, st, rec, req)
        if not rest and method == "DELETE":  # Shopify deletes for good: a later GET answers 404
            del st.orders[rec.id]
            return Response(200, {})
        if rest == ["transactions"] and method == "GET":
            return Response(200, {"transactions": rec.transactions})
        if rest == ["refunds"] and method == "GET":
            return Response(200, {"refunds": rec.data.get("refunds") or []})
        if len(rest) == 2 and rest[0] == "refunds" and method == "GET":
            for r in rec.data.get("refunds") or []:
                if str(r.get("id")) == rest[1]:
                    return Response(200, {"refund": r})
            raise not_found()
        if rest == ["metafields"] and method == "GET":
            return Response(200, {"metafields": rec.metafields})
        if rest == ["metafields"] and method == "POST":
            body = (req.json() or {}).get("metafield") or {}
            mf = set_metafield(st, rec, body)
            sb.world.touch_order(st, rec)
            return Response(201, {"metafield": mf})
        raise not_found()

    def _update_order(self, sb: Any, st: StoreState, rec: OrderRec, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
            raise ApiError(400, {"errors": {"order": "Required parameter missing or invalid"}})
        changes = body["order"]
        allowed = {"id", "tags", "note", "note_attributes", "email", "phone", "buyer_accepts_marketing", "metafields"}
        bad = set(changes) - allowed
        if bad:
            raise ApiError(422, {"errors": {k: ["cannot be changed through this sandbox"] for k in sorted(bad)}})
        for k in ("tags", "note", "note_attributes", "email", "phone", "buyer_accepts_marketing"):
            if k in changes:
                rec.data[k] = ", ".join(changes[k]) if k == "tags" and isinstance(changes[k], list) else changes[k]
        for mf in changes.get("metafields") or []:
            set_metafield(st, rec, mf)
        sb.world.touch_order(st, rec)
        return Response(200, {"order": rec.data})

    def _order_filters(self, q: dict[str, str]) -> dict[str, str]:
        keys = (
            "status",
            "ids",
            "since_id",
            "created_at_min",
            "created_at_max",
            "updated_at_min",
            "updated_at_max",
            "processed_at_min",
            "processed_at_max",
            "financial_status",
            "fulfillment_status",
            "order",
        )
        return {k: q[k] for k in keys if k in q}

    def _filter_orders(self, st: StoreState, f: dict[str, str]) -> list[OrderRec]:
        status = f.get("status", "open")
        if status not in ("open", "closed", "cancelled", "any"):
            raise ApiError(400, {"errors": {"status": ["is not included in the list"]}})
        bounds: list[tuple[str, str, datetime]] = []
        for name in ("created_at", "updated_at", "processed_at"):
            for side in ("min", "max"):
                raw = f.get(f"{name}_{side}")
                if raw:
                    try:
                        bounds.append((name, side, parse_iso(raw)))
                    except ValueError:
                        raise ApiError(400, {"errors": {f"{name}_{side}": ["is invalid"]}}) from None
        ids = {int(x) for x in f["ids"].split(",") if x.strip()} if f.get("ids") else None
        since = int(f["since_id"]) if f.get("since_id") else None
        fin = f.get("financial_status", "any")
        ful = f.get("fulfillment_status", "any")
        out = []
        for rec in st.orders.values():
            d = rec.data
            if status == "open" and (d.get("closed_at") or d.get("cancelled_at")):
                continue
            if status == "closed" and not d.get("closed_at"):
                continue
            if status == "cancelled" and not d.get("cancelled_at"):
                continue
            if ids is not None and rec.id not in ids:
                continue
            if since is not None and rec.id <= since:
                continue
            if not _financial_match(fin, d.get("financial_status")):
                continue
            if not _fulfillment_match(ful, d.get("fulfillment_status")):
                continue
            ok = True
            for name, side, bound in bounds:
                value = _order_time(rec, name)
                if value is None or (value < bound if side == "min" else value > bound):
                    ok = False
                    break
            if ok:
                out.append(rec)
        return out

    def _list_orders(self, st: StoreState, req: Request, version: str) -> Response:
        q = req.query
        try:
            limit = int(q.get("limit") or 50)
        except ValueError:
            raise ApiError(400, {"errors": {"limit": ["is not a number"]}}) from None
        if limit < 1:
            raise ApiError(400, {"errors": {"limit": ["must be greater than 0"]}})
        limit = min(limit, 250)  # Shopify caps at 250 (assumed: clamps rather than rejects)
        cursor: dict[str, Any] | None = None
        if "page_info" in q:
            extra = sorted(set(q) - PAGE_INFO_COMPANIONS)
            if extra:
                raise ApiError(
                    400,
                    {
                        "errors": {
                            "page_info": [
                                "cannot be combined with other parameters: "
                                + ", ".join(extra)
                                + " (only limit and fields are allowed with page_info)"
                            ]
                        }
                    },
                )
            try:
                cursor = decode_cursor(q["page_info"])
                filters = dict(cursor["f"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, {"errors": {"page_info": ["Invalid value."]}}) from None
        else:
            filters = self._order_filters(q)
        field_name, direction = _order_sort(filters)
        recs = self._filter_orders(st, filters)
        keyed = sorted(
            ((_sort_key(r, field_name), r.id, r) for r in recs),
            key=lambda t: (t[0], t[1]),
            reverse=direction == "desc",
        )

        def past(t: tuple[float, int], b: list[Any]) -> bool:
            return (t > tuple(b)) if direction == "asc" else (t < tuple(b))

        if cursor and "after" in cursor:
            rest = [x for x in keyed if past((x[0], x[1]), cursor["after"])]
            page = rest[:limit]
            has_next = len(rest) > limit
            has_prev = True
        elif cursor and "before" in cursor:
            before = [x for x in keyed if past((cursor["before"][0], cursor["before"][1]), [x[0], x[1]])]
            page = before[-limit:]
            has_prev = len(before) > limit
            has_next = True
        else:
            page = keyed[:limit]
            has_next = len(keyed) > limit
            has_prev = False
        links = []
        base = f"{req.base}/admin/api/{version}/orders.json"
        extra_q = f"&fields={q['fields']}" if q.get("fields") else ""
        if page and has_prev:
            tok = encode_cursor({"f": filters, "before": [page[0][0], page[0][1]]})
            links.append(f'<{base}?limit={limit}{extra_q}&page_info={tok}>; rel="previous"')
        if page and has_next:
            tok = encode_cursor({"f": filters, "after": [page[-1][0], page[-1][1]]})
            links.append(f'<{base}?limit={limit}{extra_q}&page_info={tok}>; rel="next"')
        headers = {"Link": ", ".join(links)} if links else {}
        orders = [self._project(x[2].data, q.get("fields")) for x in page]
        return Response(200, {"orders": orders}, headers)

    @staticmethod
    def _project(data: dict[str, Any], fields: str | None) -> dict[str, Any]:
        if not fields:
            return data
        wanted = [f.strip() for f in fields.split(",") if f.strip()]
        return {k: data[k] for k in wanted if k in data}

    # ---------------------------------------------------------------- webhooks
    def _webhooks(self, sb: Any, st: StoreState, req: Request, segs: list[str], version: str) -> Response:
        method = req.method
        if segs == ["webhooks"] and method == "GET":
            hooks = list(st.webhooks.values())
            q = req.query
            if q.get("topic"):
                hooks = [h for h in hooks if h["topic"] == q["topic"]]
            if q.get("address"):
                hooks = [h for h in hooks if h["address"] == q["address"]]
            if q.get("since_id"):
                hooks = [h for h in hooks if h["id"] > int(q["since_id"])]
            limit = min(int(q.get("limit") or 50), 250)
            return Response(200, {"webhooks": hooks[:limit]})
        if segs == ["webhooks", "count"] and method == "GET":
            return Response(200, {"count": len(st.webhooks)})
        if segs == ["webhooks"] and method == "POST":
            body = req.json()
            if not isinstance(body, dict) or not isinstance(body.get("webhook"), dict):
                raise ApiError(400, {"errors": {"webhook": "Required parameter missing or invalid"}})
            hook, errors = create_webhook(sb, st, body["webhook"], version)
            if errors:
                raise ApiError(422, {"errors": errors})
            return Response(201, {"webhook": hook})
        if len(segs) == 2 and segs[1].isdigit():
            hid = int(segs[1])
            found = st.webhooks.get(hid)
            if found is None:
                raise not_found()
            hook = found
            if method == "GET":
                return Response(200, {"webhook": hook})
            if method == "DELETE":
                del st.webhooks[hid]
                return Response(200, {})
            if method == "PUT":
                changes = (req.json() or {}).get("webhook") or {}
                if "address" in changes:
                    err = validate_address(sb, st, hook["topic"], changes["address"], exclude=hid)
                    if err:
                        raise ApiError(422, {"errors": err})
                    hook["address"] = changes["address"]
                for k in ("fields", "metafield_namespaces", "format"):
                    if k in changes:
                        hook[k] = changes[k]
                hook["updated_at"] = fmt_shopify(now_utc(), st.tz)
                return Response(200, {"webhook": hook})
        raise not_found()

    # ---------------------------------------------------------------- inventory (REST, legacy)
    @staticmethod
    def location_json(st: StoreState, loc: Any) -> dict[str, Any]:
        return {
            "id": loc.id,
            "name": loc.name,
            "active": loc.active,
            "legacy": False,
            "address1": None,
            "city": None,
            "country_code": "US",
            "admin_graphql_api_id": _gid("Location", loc.id),
        }

    def _inventory_levels(self, sb: Any, st: StoreState, req: Request, segs: list[str]) -> Response:
        if segs == ["inventory_levels"] and req.method == "GET":
            q = req.query
            items = {int(x) for x in q.get("inventory_item_ids", "").split(",") if x.strip()}
            locs = {int(x) for x in q.get("location_ids", "").split(",") if x.strip()}
            if not items and not locs:
                raise ApiError(422, {"errors": ["inventory_item_ids or location_ids is required"]})
            levels = []
            for (vid, loc_id), level_qty in st.levels.items():
                v = st.variants[vid]
                if (items and v.inventory_item_id not in items) or (locs and loc_id not in locs):
                    continue
                levels.append(level_json(st, v.inventory_item_id, loc_id, level_qty))
            limit = min(int(q.get("limit") or 50), 250)
            return Response(200, {"inventory_levels": levels[:limit]})
        if segs == ["inventory_levels", "set"] and req.method == "POST":
            body = req.json() or {}
            try:
                item = int(body["inventory_item_id"])
                lid = int(body["location_id"])
                qty = int(body["available"])
            except (KeyError, TypeError, ValueError):
                raise ApiError(422, {"errors": ["inventory_item_id, location_id and available are required"]}) from None
            target = st.by_item.get(item)
            if target is None or lid not in st.locations:
                raise ApiError(422, {"errors": ["Inventory item or location does not exist"]})
            if not st.variants[target].tracked:
                raise ApiError(422, {"errors": ["Inventory item does not have inventory tracking enabled"]})
            if (target, lid) not in st.levels:
                raise ApiError(422, {"errors": ["Inventory item is not stocked at the location"]})
            st.levels[(target, lid)] = qty
            st.adjustments.append(
                {"sku": st.variants[target].sku, "location": lid, "quantity": qty, "via": "rest:inventory_levels/set"}
            )
            return Response(200, {"inventory_level": level_json(st, item, lid, qty)})
        raise not_found()

    # ---------------------------------------------------------------- views
    def order_view(self, sb: Any, st: StoreState, rec: OrderRec) -> dict[str, Any]:
        view = dict(rec.data)
        view["transactions"] = rec.transactions
        view["metafields"] = rec.metafields
        return view


def level_json(st: StoreState, item: int, lid: int | None, qty: int) -> dict[str, Any]:
    return {
        "inventory_item_id": item,
        "location_id": lid,
        "available": qty,
        "updated_at": fmt_shopify(now_utc(), st.tz),
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{item}?inventory_item_id={item}",
    }


def validate_address(
    sb: Any, st: StoreState, topic: str, address: Any, exclude: int | None = None
) -> dict[str, list[str]]:
    if not isinstance(address, str) or not address.strip():
        return {"address": ["can't be blank"]}
    if sb.limit("shopify", "require_https") and not address.startswith("https://"):
        scheme = address.split(":", 1)[0]
        return {"address": [f"protocol {scheme}:// is not supported"]}
    for h in st.webhooks.values():
        if h["id"] != exclude and h["topic"] == topic and h["address"] == address:
            return {"address": ["for this topic has already been taken"]}
    return {}


def create_webhook(
    sb: Any, st: StoreState, data: dict[str, Any], version: str
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    topic = data.get("topic")
    if not topic:
        return {}, {"topic": ["can't be blank"]}
    if topic not in WEBHOOK_TOPICS:
        return {}, {"topic": [f"Invalid topic specified: {topic}. Valid topics are: {', '.join(WEBHOOK_TOPICS)}"]}
    fmt = data.get("format", "json")
    if fmt not in ("json", "xml"):
        return {}, {"format": ["is not included in the list"]}
    errors = validate_address(sb, st, topic, data.get("address"))
    if errors:
        return {}, errors
    hid = st.next_id("webhook")
    now = fmt_shopify(now_utc(), st.tz)
    hook = {
        "id": hid,
        "address": data["address"],
        "topic": topic,
        "created_at": now,
        "updated_at": now,
        "format": fmt,
        "fields": list(data.get("fields") or []),
        "metafield_namespaces": list(data.get("metafield_namespaces") or []),
        "api_version": version,
        "private_metafield_namespaces": [],
    }
    st.webhooks[hid] = hook
    return hook, {}


def set_metafield(st: StoreState, rec: OrderRec, data: dict[str, Any]) -> dict[str, Any]:
    namespace, key, value, type_ = data.get("namespace"), data.get("key"), data.get("value"), data.get("type")
    now = fmt_shopify(now_utc(), st.tz)
    for mf in rec.metafields:
        if mf["namespace"] == namespace and mf["key"] == key:
            mf.update({"value": value, "type": type_ or mf["type"], "updated_at": now})
            return mf
    mid = st.next_id("metafield")
    mf = {
        "id": mid,
        "namespace": namespace,
        "key": key,
        "value": value,
        "type": type_ or "single_line_text_field",
        "owner_id": rec.id,
        "owner_resource": "order",
        "created_at": now,
        "updated_at": now,
        "admin_graphql_api_id": _gid("Metafield", mid),
    }
    rec.metafields.append(mf)
    return mf


def _order_time(rec: OrderRec, name: str) -> datetime | None:
    if name == "updated_at":
        return rec.modified
    if name == "created_at":
        return rec.created
    raw = rec.data.get(name)
    return parse_iso(raw) if raw else None


def _order_sort(filters: dict[str, str]) -> tuple[str, str]:
    raw = filters.get("order")
    if not raw:
        return ("id", "asc") if filters.get("since_id") else ("id", "desc")
    parts = raw.replace("+", " ").split()
    field_name = parts[0]
    direction = parts[1].lower() if len(parts) > 1 else "asc"
    if field_name not in ORDER_SORT_FIELDS or direction not in ("asc", "desc"):
        raise ApiError(400, {"errors": {"order": ["is invalid"]}})
    return field_name, direction


def _sort_key(rec: OrderRec, field_name: str) -> float:
    if field_name == "id":
        return float(rec.id)
    t = _order_time(rec, field_name)
    return t.timestamp() if t else 0.0


def _financial_match(wanted: str, actual: str | None) -> bool:
    if wanted in ("any", ""):
        return True
    if wanted == "unpaid":
        return actual in ("authorized", "partially_paid", "pending")
    return wanted == actual


def _fulfillment_match(wanted: str, actual: str | None) -> bool:
    if wanted in ("any", ""):
        return True
    if wanted == "shipped":
        return actual == "fulfilled"
    if wanted == "partial":
        return actual == "partial"
    if wanted in ("unshipped", "unfulfilled"):
        return actual in (None, "partial") if wanted == "unfulfilled" else actual is None
    return wanted == actual
