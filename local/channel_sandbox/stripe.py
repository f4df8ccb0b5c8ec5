"""Stripe's API as a WooCommerce or BigCommerce store taking card payments through it sees it.

Each WooCommerce / BigCommerce sandbox store has one Stripe account, made on first use, at
`/stripe/<channel>/<store>/v1/...` (the value of a connection's `stripe_api_base_url` is
`base_url(sb, channel, store)`). Shapes from the Stripe API reference (docs.stripe.com/api):
- `GET /v1/payouts` (filters `status`, `arrival_date[gt|gte|lt|lte]`, `created[...]`): payout
  objects {id po_, object, amount, currency (lowercase), arrival_date, created, status,
  automatic, method, type, balance_transaction};
- `GET /v1/balance_transactions` (filters `payout`, `type`, `source`; `expand[]=data.source`):
  {id txn_, object, amount, fee, net, currency, type, reporting_category, source, created,
  available_on, status, fee_details};
- `GET /v1/payouts/<id>`, `/v1/charges/<id>`, `/v1/payment_intents/<id>`, `/v1/refunds/<id>`,
  `/v1/disputes/<id>`, `/v1/balance_transactions/<id>`.
Lists: newest first, `limit` 1..100 (default 10), `starting_after` / `ending_before`, answer
{object: "list", data, has_more, url}. Amounts are integers in the currency's minor unit
(zero-decimal currencies such as JPY as they are). Auth: `Authorization: Bearer <key>` (or Basic
with the key as user name): the account's secret key, or a restricted key whose `permissions`
name `payouts` / `balance` (read); otherwise 401 / 403 with Stripe's error body. Rate limit: a
fixed window per account (`quota` requests per `window_ms`, test mode's 25 a second), 429 with
error code `rate_limit`; `sb.configure("stripe", quota=..)` changes it, `ChannelFault(channel=
"stripe", kind="rate_limit")` forces one.

Money comes from the store's orders: `charge_order` makes the charge (and its PaymentIntent,
with the WooCommerce Stripe Gateway's metadata `order_id`) for an order's total and records
its id on the order (WooCommerce `transaction_id`; a BigCommerce v3 transaction with
`gateway_transaction_id`); `refund`, `dispute`, `stripe_fee` add the other balance transactions;
`add_payout` pays out the given (default: every not yet paid out) balance transactions.
"""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .common import ApiError, Request, Response
from .state import StoreState

ZERO_DECIMAL = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
CHANNELS = ("woocommerce", "bigcommerce")
PREFIX = {
    "payout": "po",
    "balance_transaction": "txn",
    "charge": "ch",
    "payment_intent": "pi",
    "refund": "re",
    "dispute": "dp",
}
COLLECTIONS = {
    "payouts": "payout",
    "balance_transactions": "balance_transaction",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "disputes": "dispute",
}
PERMISSION = {"payouts": "payouts", "balance_transactions": "balance"}
"""Restricted keys: the permission (read) each resource needs; others need `charges`."""


def error(status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None) -> ApiError:
    body: dict[str, Any] = {"error": {"type": kind, "message": message}}
    if code:
        body["error"]["code"] = code
    return ApiError(status, body)


def to_minor(amount: Decimal | str, currency: str) -> int:
    """A decimal amount in the currency's minor unit (exact, else ValueError)."""
    code = currency.upper()
    places = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    scaled = Decimal(str(amount)).scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {code} is not a whole number of minor units")
    return int(scaled)


# ---------------------------------------------------------------- the account


def account(st: StoreState) -> dict[str, Any]:
    """The store's Stripe account (made on first use; a sandbox reset starts a new one)."""
    if st.channel not in CHANNELS:
        raise ValueError(f"a {st.channel} store has no Stripe account in the sandbox")
    acct = st.config.get("_stripe")
    if acct is None:
        slug = "".join(c for c in st.key if c.isalnum())[:24] or "store"
        acct = {
            "secret_key": f"sk_test_sandbox_{slug}_0123456789abcdef",
            "restricted_keys": [
                {"key": f"rk_test_sandbox_{slug}_payouts", "permissions": ["payouts", "balance", "charges"]},
                {"key": f"rk_test_sandbox_{slug}_charges_only", "permissions": ["charges"]},
            ],
            "seq": 0,
            "objects": {kind: {} for kind in PREFIX},
        }
        st.config["_stripe"] = acct
    return acct


def _new(acct: dict[str, Any], kind: str, body: dict[str, Any], created: int) -> dict[str, Any]:
    acct["seq"] += 1
    obj = {"id": f"{PREFIX[kind]}_sandbox{acct['seq']:010d}", "object": kind, "created": created, "livemode": False}
    obj |= body
    obj["_seq"] = acct["seq"]  # creation order (Stripe lists newest first); never answered
    acct["objects"][kind][obj["id"]] = obj
    return obj


def _order_money(st: StoreState, order_id: int) -> tuple[Decimal, str]:
    data = st.orders[order_id].data
    if st.channel == "woocommerce":
        return Decimal(str(data["total"])), str(data.get("currency") or "USD")
    return Decimal(str(data["total_inc_tax"])), str(data.get("currency_code") or "USD")


def _unix(when: datetime | int | None) -> int:
    if when is None:
        return int(datetime.now(UTC).timestamp())
    if isinstance(when, datetime):
        return int(when.timestamp())
    return int(when)


def _balance(  # noqa: PLR0917 - one row of the balance, every column named at the call
    acct: dict[str, Any],
    kind: str,
    source: str,
    amount: int,
    fee: int,
    currency: str,
    created: int,
    category: str,
) -> dict[str, Any]:
    return _new(
        acct,
        "balance_transaction",
        {
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "currency": currency,
            "type": kind,
            "reporting_category": category,
            "source": source,
            "status": "available",
            "available_on": created,
            "description": None,
            "fee_details": [{"amount": fee, "currency": currency, "type": "stripe_fee"}] if fee else [],
            "_payout": None,
        },
        created,
    )


def charge_order(
    st: StoreState,
    order_id: int,
    *,
    fee: Decimal | str = "0",
    amount: Decimal | str | None = None,
    metadata_on: str = "both",
    record_as: str = "charge",
    created: datetime | int | None = None,
) -> dict[str, Any]:
    """A card charge for the order (its total unless `amount`), through a PaymentIntent; returns
    {"charge", "payment_intent", "balance_transaction"}. `metadata_on`: "both", "intent" (the
    charge carries none), "none". `record_as`: what the order records ("charge": the `ch_` id,
    "intent": the `pi_` id) as WooCommerce `transaction_id` / BigCommerce `gateway_transaction_id`."""
    acct = account(st)
    total, currency = _order_money(st, order_id)
    cur = currency.lower()
    value = to_minor(Decimal(str(amount)) if amount is not None else total, currency)
    when = _unix(created)
    data = st.orders[order_id].data
    number = str(data.get("number") or order_id) if st.channel == "woocommerce" else str(order_id)
    metadata = {"order_id": number, "site_url": f"https://{st.key}.example", "payment_type": "single"}
    intent = _new(
        acct,
        "payment_intent",
        {
            "amount": value,
            "amount_received": value,
            "currency": cur,
            "status": "succeeded",
            "metadata": metadata if metadata_on in ("both", "intent") else {},
            "latest_charge": None,
            "description": f"Order {number}",
        },
        when,
    )
    charge = _new(
        acct,
        "charge",
        {
            "amount": value,
            "amount_captured": value,
            "amount_refunded": 0,
            "currency": cur,
            "paid": True,
            "captured": True,
            "status": "succeeded",
            "payment_intent": intent["id"],
            "metadata": dict(metadata) if metadata_on == "both" else {},
            "description": f"Order {number}",
            "balance_transaction": None,
        },
        when,
    )
    intent["latest_charge"] = charge["id"]
    txn = _balance(acct, "charge", charge["id"], value, to_minor(fee, currency), cur, when, "charge")
    charge["balance_transaction"] = txn["id"]
    recorded = charge["id"] if record_as == "charge" else intent["id"]
    if st.channel == "woocommerce":
        data["transaction_id"] = recorded
    else:
        rec = st.orders[order_id]
        rec.transactions.append(
            {
                "id": st.next_id("transaction"),
                "order_id": str(order_id),
                "event": "purchase",
                "method": "credit_card",
                "amount": float(Decimal(value).scaleb(-(0 if currency.upper() in ZERO_DECIMAL else 2))),
                "currency": currency.upper(),
                "gateway": "stripe",
                "gateway_transaction_id": recorded,
                "status": "ok",
                "test": True,
                "fraud_review": False,
                "date_created": datetime.fromtimestamp(when, UTC).isoformat(),
            }
        )
    return {"charge": charge, "payment_intent": intent, "balance_transaction": txn}


def refund(
    st: StoreState, charge_id: str, amount: Decimal | str, *, created: datetime | int | None = None
) -> dict[str, Any]:
    """A refund of (part of) a charge: a `refund` balance transaction of -amount (no fee)."""
    acct = account(st)
    charge = acct["objects"]["charge"][charge_id]
    value = to_minor(amount, charge["currency"])
    when = _unix(created)
    re = _new(
        acct,
        "refund",
        {
            "amount": value,
            "currency": charge["currency"],
            "charge": charge_id,
            "payment_intent": charge["payment_intent"],
            "status": "succeeded",
            "metadata": {},
        },
        when,
    )
    charge["amount_refunded"] += value
    txn = _balance(acct, "refund", re["id"], -value, 0, charge["currency"], when, "refund")
    re["balance_transaction"] = txn["id"]
    return {"refund": re, "balance_transaction": txn}


def dispute(
    st: StoreState,
    charge_id: str,
    *,
    fee: Decimal | str = "15.00",
    won: bool = False,
    created: datetime | int | None = None,
) -> dict[str, Any]:
    """A dispute of the whole charge: an `adjustment` (reporting category `dispute`) withdrawing
    the amount and the dispute fee; `won` adds the reversal (`dispute_reversal`) giving both back."""
    acct = account(st)
    charge = acct["objects"]["charge"][charge_id]
    cur = charge["currency"]
    when = _unix(created)
    dp = _new(
        acct,
        "dispute",
        {
            "amount": charge["amount"],
            "currency": cur,
            "charge": charge_id,
            "payment_intent": charge["payment_intent"],
            "status": "won" if won else "needs_response",
            "reason": "fraudulent",
        },
        when,
    )
    fee_minor = to_minor(fee, cur)
    txns = [_balance(acct, "adjustment", dp["id"], -charge["amount"], fee_minor, cur, when, "dispute")]
    if won:
        txns.append(_balance(acct, "adjustment", dp["id"], charge["amount"], -fee_minor, cur, when, "dispute_reversal"))
    dp["balance_transactions"] = [t["id"] for t in txns]
    return {"dispute": dp, "balance_transactions": txns}


def stripe_fee(
    st: StoreState, amount: Decimal | str, currency: str = "usd", *, created: datetime | int | None = None
) -> dict[str, Any]:
    """A fee billed from the balance by itself (Radar, billing): `stripe_fee` of -amount."""
    acct = account(st)
    value = to_minor(amount, currency)
    return _balance(acct, "stripe_fee", "", -value, 0, currency.lower(), _unix(created), "fee")


def add_payout(
    st: StoreState,
    *,
    arrival_date: datetime | int,
    transactions: list[str] | None = None,
    status: str = "paid",
    automatic: bool = True,
    created: datetime | int | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    """Pay out `transactions` (balance transaction ids; default: all not paid out yet) as one
    payout of their net; its own `payout` balance transaction takes the amount off the balance."""
    acct = account(st)
    objects = acct["objects"]["balance_transaction"]
    ids = (
        transactions
        if transactions is not None
        else [t["id"] for t in objects.values() if t["_payout"] is None and t["type"] != "payout"]
    )
    if not ids:
        raise ValueError("a payout needs balance transactions")
    txns = [objects[i] for i in ids]
    if any(t["_payout"] is not None for t in txns):
        raise ValueError("a balance transaction is in another payout already")
    cur = currency or txns[0]["currency"]
    if any(t["currency"] != cur for t in txns):
        raise ValueError("a payout is in one currency")
    amount = sum(t["net"] for t in txns)
    when = _unix(created) if created is not None else _unix(arrival_date) - 2 * 86400
    po = _new(
        acct,
        "payout",
        {
            "amount": amount,
            "currency": cur,
            "arrival_date": _unix(arrival_date),
            "status": status,
            "automatic": automatic,
            "method": "standard",
            "type": "bank_account",
            "source_type": "card",
            "description": "STRIPE PAYOUT",
            "statement_descriptor": None,
            "metadata": {},
        },
        when,
    )
    own = _balance(acct, "payout", po["id"], -amount, 0, cur, when, "payout")
    own["_payout"] = po["id"]
    po["balance_transaction"] = own["id"]
    for t in txns:
        t["_payout"] = po["id"]
    return po


def set_payout_status(st: StoreState, payout_id: str, status: str) -> None:
    account(st)["objects"]["payout"][payout_id]["status"] = status


# ---------------------------------------------------------------- on a running sandbox


def base_url(sb: Any, channel: str, store: str) -> str:
    """The value of a connection's `stripe_api_base_url` for that store's Stripe account."""
    sb.world.store(channel, store)
    return f"{sb.base_url}/stripe/{channel}/{store}"


def secret_key(sb: Any, channel: str, store: str, *, restricted: str | None = None) -> str:
    """The account's secret key, or its restricted key named by `restricted` ("payouts" or "charges_only")."""
    with sb.world.lock:
        acct = account(sb.world.store(channel, store))
    if restricted is None:
        return str(acct["secret_key"])
    return next(str(k["key"]) for k in acct["restricted_keys"] if k["key"].endswith("_" + restricted))


def connection_secret(sb: Any, channel: str, store: str, connection_id: str, **kw: Any) -> dict[str, Any]:
    """`sb.connection_secret(...)` plus the Stripe keys: what a store selling through Stripe stores."""
    data: dict[str, Any] = sb.connection_secret(channel, store, connection_id)
    return data | {
        "stripe_secret_key": secret_key(sb, channel, store, **kw),
        "stripe_api_base_url": base_url(sb, channel, store),
    }


def on(sb: Any, channel: str, store: str, fn: Any, *args: Any, **kw: Any) -> Any:
    """Run one of the functions above on a running sandbox's store, its lock held."""
    with sb.world.lock:
        return fn(sb.world.store(channel, store), *args, **kw)


# ---------------------------------------------------------------- HTTP


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in obj.items() if not k.startswith("_")}


def _range(req: Request, name: str, value: int) -> bool:
    """`name[gt|gte|lt|lte]=<unix>` (or `name=<unix>`, equal) filters."""
    for op, test in (
        ("gt", value.__gt__),
        ("gte", value.__ge__),
        ("lt", value.__lt__),
        ("lte", value.__le__),
    ):
        raw = req.query.get(f"{name}[{op}]")
        if raw is not None and not test(int(raw)):
            return False
    exact = req.query.get(name)
    return exact is None or value == int(exact)


class StripeApi:
    """The channel-sandbox handler of `/stripe/<channel>/<store>/...` (see the module doc)."""

    def unknown_store(self, key: str) -> Response:
        return error(404, f"No such Stripe account for store '{key}'").response

    def bad_request(self, message: str) -> Response:
        return error(400, message).response

    def authenticate(self, sb: Any, st: StoreState, req: Request) -> None:
        acct = account(st)
        raw = req.header("Authorization") or ""
        key = ""
        if raw.startswith("Bearer "):
            key = raw[len("Bearer ") :].strip()
        elif raw.startswith("Basic "):
            try:
                key = base64.b64decode(raw[len("Basic ") :]).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            raise error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if key == acct["secret_key"]:
            return
        restricted = next((k for k in acct["restricted_keys"] if k["key"] == key), None)
        if restricted is None:
            raise error(401, f"Invalid API Key provided: {key[:8]}{'*' * 12}{key[-4:]}")
        resource = next((s for s in req.path.split("/") if s and s != "v1"), "")
        needed = PERMISSION.get(resource, "charges")
        if needed not in restricted["permissions"]:
            raise error(
                403,
                f"The provided key '{key[:8]}***{key[-4:]}' does not have the required permissions for this "
                f"endpoint. Having the '{needed}' read permission would allow this request to continue.",
            )

    def pre_limit(self, sb: Any, st: StoreState, req: Request) -> Response | None:
        if not sb.bucket("stripe", f"{st.channel}:{st.key}", "window").take():
            return error(
                429,
                "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
                code="rate_limit",
            ).response
        return None

    def post_headers(self, sb: Any, st: StoreState, req: Request) -> dict[str, str]:
        acct = account(st)
        return {"Request-Id": f"req_sandbox{acct['seq']:010d}", "Stripe-Version": "2025-10-29.clover"}

    def fault_response(self, fault: Any) -> Response:
        if fault.kind == "rate_limit":
            body = (
                fault.body or error(429, "Too many requests hit the API too quickly.", code="rate_limit").response.body
            )
            return Response(fault.status or 429, body)
        status = fault.status or 500
        return Response(status, fault.body or {"error": {"type": "api_error", "message": "An unknown error occurred"}})

    def handle(self, sb: Any, st: StoreState, req: Request) -> Response:
        segs = [s for s in req.path.split("/") if s]
        if len(segs) < 2 or segs[0] != "v1" or segs[1] not in COLLECTIONS:
            raise error(404, f"Unrecognized request URL (GET: {req.path}).")
        if req.method != "GET":
            raise error(405, f"Unrecognized request URL ({req.method}: {req.path}).")
        acct = account(st)
        kind = COLLECTIONS[segs[1]]
        expand = [v for k, v in req.query_list if k in ("expand[]", "expand")]
        if len(segs) == 3:
            obj = acct["objects"][kind].get(segs[2])
            if obj is None:
                raise error(404, f"No such {kind}: '{segs[2]}'", code="resource_missing")
            return Response(200, self._expand(acct, _public(obj), expand, list_item=False))
        if len(segs) != 2:
            raise error(404, f"Unrecognized request URL (GET: {req.path}).")
        limit = int(req.query.get("limit") or 10)
        if not 1 <= limit <= 100:
            raise error(400, "This value must be greater than or equal to 1 and less than or equal to 100 (limit).")
        items = sorted(acct["objects"][kind].values(), key=lambda o: (o["created"], o["_seq"]), reverse=True)
        items = [o for o in items if self._matches(acct, kind, o, req)]
        after, before = req.query.get("starting_after"), req.query.get("ending_before")
        ids = [o["id"] for o in items]
        if after:
            if after not in ids:
                raise error(400, f"No such object: '{after}'", code="resource_missing")
            items = items[ids.index(after) + 1 :]
        elif before:
            if before not in ids:
                raise error(400, f"No such object: '{before}'", code="resource_missing")
            items = items[: ids.index(before)][-limit:]
        page = items[:limit]
        req.notes["returned"] = len(page)
        return Response(
            200,
            {
                "object": "list",
                "url": f"/v1/{segs[1]}",
                "has_more": len(items) > limit,
                "data": [self._expand(acct, _public(o), expand, list_item=True) for o in page],
            },
        )

    def _matches(self, acct: dict[str, Any], kind: str, obj: dict[str, Any], req: Request) -> bool:
        if kind == "payout":
            status = req.query.get("status")
            if status and obj["status"] != status:
                return False
            return _range(req, "arrival_date", obj["arrival_date"]) and _range(req, "created", obj["created"])
        if kind == "balance_transaction":
            payout = req.query.get("payout")
            if payout is not None:
                po = acct["objects"]["payout"].get(payout)
                if po is None:
                    raise error(400, f"No such payout: '{payout}'", code="resource_missing")
                if not po["automatic"]:
                    raise error(
                        400,
                        "Balance transaction history can only be filtered on automatic transfers, not manual.",
                    )
                if obj["_payout"] != payout:
                    return False
            for name in ("type", "source", "currency"):
                wanted = req.query.get(name)
                if wanted is not None and obj.get(name) != wanted:
                    return False
            return _range(req, "created", obj["created"])
        return _range(req, "created", obj["created"])

    def _expand(
        self, acct: dict[str, Any], obj: dict[str, Any], expand: list[str], *, list_item: bool
    ) -> dict[str, Any]:
        for path in expand:
            parts = path.split(".")
            if list_item:
                if parts[0] != "data":
                    raise error(400, f"This property cannot be expanded ({path}).")
                parts = parts[1:]
            self._expand_path(acct, obj, parts, path)
        return obj

    def _expand_path(self, acct: dict[str, Any], obj: dict[str, Any], parts: list[str], path: str) -> None:
        if not parts:
            return
        name = parts[0]
        value = obj.get(name)
        if name not in obj:
            raise error(400, f"This property cannot be expanded ({path}).")
        if isinstance(value, str) and value:
            found = next((o[value] for o in acct["objects"].values() if value in o), None)
            if found is None:
                return
            value = obj[name] = _public(found)
        if isinstance(value, dict):
            self._expand_path(acct, value, parts[1:], path)
