"""Stripe payouts of WooCommerce and BigCommerce stores that take card payments through Stripe.

Read with the connection's `stripe_secret_key` (a secret key, or a restricted key with read
access to Balance and Payouts) sent as `Authorization: Bearer`; it is never logged (every
error text is redacted). Endpoints (Stripe API reference, docs.stripe.com/api):
- `GET /v1/payouts?arrival_date[gte]=<unix>&limit=100`: the payouts reaching the bank from that
  day on (`status` paid / pending / in_transit / canceled / failed, `arrival_date` unix seconds,
  `amount` in the currency's minor unit, `currency` lowercase ISO, `automatic`);
- `GET /v1/balance_transactions?payout=<po_...>&limit=100&expand[]=data.source`: what an
  automatic payout paid out (`type`, `amount`, `fee`, `net` minor units, `reporting_category`,
  `source` expanded to the charge, refund or dispute); the payout's own `payout` transaction
  (its negative amount) is left out;
- `GET /v1/payment_intents/<pi_...>`: a charge's PaymentIntent, when the order is named only
  in its metadata.
Lists page with `has_more` and `starting_after=<last id>`. HTTP 429 (rate limit: 100 read
requests a second live, 25 in test mode) is retried after `Retry-After` when sent, else with
backoff (`ChannelHttp`).

A charge becomes the AR payment the payment consumer posted for its order:
- the order: the first of `payouts.stripe_order_metadata_keys` (default `order_id`, what the
  WooCommerce Stripe Gateway sets: the order number) found in the charge's metadata, else in its
  PaymentIntent's;
- WooCommerce: the payment id is `<order id>-paid` (channels/woocommerce.py: one payment per
  order, its reference the order's `transaction_id`, a `ch_` or `pi_` id);
- BigCommerce: the order's v3 transaction whose `gateway_transaction_id` is the charge's or its
  PaymentIntent's id (the payment's `reference`), else the order's only payment.
A charge with no order found is reported by the payout waiting on it (`ops payouts`).

Amounts: minor units to Decimal exactly: zero-decimal currencies (JPY, KRW, ...) as they are,
three-decimal ones (BHD, JOD, KWD, OMR, TND) / 1000, every other / 100.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Protocol

from intacct_sync.channels.api.base import site_url
from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.http import ChannelHttp
from intacct_sync.errors import ConfigurationError, SyncError
from intacct_sync.models.connection import Connection
from intacct_sync.models.events import CanonicalEvent
from intacct_sync.models.order import Payment
from intacct_sync.payouts.model import BalanceTransaction, Kind, Payout
from intacct_sync.retry import Deadline

log = logging.getLogger(__name__)

API_BASE: Final = "https://api.stripe.com"
PAGE: Final = 100
ZERO_DECIMAL: Final = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)
"""Stripe's zero-decimal currencies (docs.stripe.com/currencies#zero-decimal)."""
THREE_DECIMAL: Final = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
CHARGE_TYPES: Final = frozenset({"charge", "payment"})
REFUND_TYPES: Final = frozenset({"refund", "payment_refund", "payment_failure_refund", "refund_failure"})
FEE_TYPES: Final = frozenset({"stripe_fee", "tax_fee"})
"""Balance transactions that are a fee by themselves (Radar, billing...): booked to the fee account."""
DISPUTE_CATEGORIES: Final = frozenset({"dispute", "dispute_reversal"})
AUTH_FIX: Final = (
    "Put a working Stripe secret key (sk_...) or a restricted key with read access to Balance and "
    "Payouts (rk_...) in 'stripe_secret_key' of the connection secret '{id}' (Stripe Dashboard > "
    "Developers > API keys), or remove the key to stop reading this store's Stripe payouts."
)


def exponent(currency: str) -> int:
    """Decimal places of a Stripe amount in `currency` (its minor unit)."""
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def from_minor(value: object, currency: str, what: str = "amount") -> Decimal:
    """A Stripe integer amount in minor units as Decimal (exact: no float ever)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChannelRequestError(f"stripe answered a {what} that is not an integer", channel="stripe")
    return Decimal(value).scaleb(-exponent(currency))


def base_url(connection: Connection) -> str:
    """https://api.stripe.com, or `stripe_api_base_url` (https; http only on localhost)."""
    if connection.stripe_api_base_url is None:
        return API_BASE
    return site_url(
        connection.stripe_api_base_url, connection_id=connection.id, key="stripe_api_base_url", explicit=False
    )


_KEY_LIKE: Final = re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[\w*]*")


def _scrubbed(status: int, data: Any, error: Exception) -> Exception:
    """Stripe quotes (part of) the key in some refusals ("Invalid API Key provided: sk_test_****1234"):
    no part of a key reaches a message or a log."""
    if isinstance(error, SyncError):
        error.message = _KEY_LIKE.sub("<key>", error.message)
        error.args = (error.message,)
    return error


class StripeApi:
    """HTTP to Stripe for one connection (its key, its pace, retries on 429 and 5xx)."""

    def __init__(self, connection: Connection, **options: Any) -> None:
        key = connection.stripe_secret_key.get_secret_value() if connection.stripe_secret_key else ""
        if not key:
            raise ConfigurationError(
                f"Connection '{connection.id}' has no stripe_secret_key.",
                fix=AUTH_FIX.replace("{id}", connection.id),
            )
        self.http = ChannelHttp(
            channel="stripe",
            connection_id=connection.id,
            base_url=base_url(connection),
            auth_headers={"Authorization": f"Bearer {key}"},
            auth_fix=AUTH_FIX.replace("{id}", connection.id),
            pace_key=f"stripe:{connection.id}",
            **options,
        )

    def get(
        self,
        path: str,
        params: Mapping[str, str | int],
        *,
        deadline: Deadline,
        path_params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any]:
        """One object; `path` is a template (`/v1/payment_intents/{id}`) filled from `path_params`."""
        data = self.http.request(
            "GET", path, params=params, path_params=path_params, deadline=deadline, refine=_scrubbed
        ).data
        if not isinstance(data, dict):
            raise ChannelRequestError(f"stripe GET {path} answered no object", channel="stripe")
        return data

    def list(self, path: str, params: Mapping[str, str | int], *, deadline: Deadline) -> Iterator[dict[str, Any]]:
        """Every object of a list, page after page (`has_more`, `starting_after`)."""
        after: str | None = None
        while True:
            query = dict(params) | ({"starting_after": after} if after else {})
            page = self.get(path, query, deadline=deadline)
            items = page.get("data")
            if not isinstance(items, list):
                raise ChannelRequestError(f"stripe GET {path} answered a list without data", channel="stripe")
            for item in items:
                if isinstance(item, dict):
                    yield item
            if not page.get("has_more") or not items:
                return
            after = str(items[-1].get("id") or "")
            if not after:
                raise ChannelRequestError(f"stripe GET {path}: a page without ids says it has more", channel="stripe")


class OrderEvents(Protocol):
    """The part of a channel client the BigCommerce mapping uses."""

    def fetch_order_events(self, order_id: str, *, deadline: Deadline) -> list[CanonicalEvent]: ...


def _id_of(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if isinstance(value, str) and value else None


def _unplaced(kind: Kind, source_id: str | None) -> str | None:
    """How a transaction without an order is named where a waiting payout lists what it waits for."""
    if kind == "charge":
        return f"charge {source_id} (no order named: payouts.stripe_order_metadata_keys)"
    return source_id


class StripePayouts:
    """Payouts and balance transactions of one connection's Stripe account (a `PayoutSource`)."""

    def __init__(
        self,
        connection: Connection,
        *,
        api: StripeApi | None = None,
        metadata_keys: Sequence[str] = ("order_id",),
        description_pattern: str | None = None,
        orders: Callable[[], OrderEvents] | None = None,
        **options: Any,
    ) -> None:
        """`description_pattern`: a regular expression whose one group is the order id, searched
        in the description when no metadata key names the order. `orders`: the channel client
        (made when first needed), to map BigCommerce charges to the order's transactions."""
        self.connection = connection
        self.api = api or StripeApi(connection, **options)
        self.metadata_keys = tuple(metadata_keys)
        self.description = re.compile(description_pattern) if description_pattern else None
        self._orders_factory = orders
        self._orders: OrderEvents | None = None
        self._intents: dict[str, dict[str, Any]] = {}
        self._payments: dict[str, list[Payment]] = {}

    # --- payouts ---------------------------------------------------------------------------

    def payouts_since(self, since: datetime, *, deadline: Deadline) -> Iterator[Payout]:
        """Automatic payouts arriving on or after `since`'s day (manual ones are logged and left out:
        Stripe cannot list what a manual payout paid out)."""
        params: dict[str, str | int] = {"limit": PAGE, "arrival_date[gte]": int(since.timestamp())}
        for node in self.api.list("/v1/payouts", params, deadline=deadline):
            pid = _id_of(node)
            if pid is None:
                raise ChannelRequestError("stripe listed a payout without an id", channel="stripe")
            if node.get("automatic") is False:
                log.warning(
                    "stripe manual payout not deposited",
                    extra={
                        "payout_id": pid,
                        "outcome": "skipped",
                        "reason": "a manual payout's balance transactions cannot be listed",
                        "fix": "Record the deposit of a manual Stripe payout in Intacct by hand.",
                    },
                )
                continue
            currency = str(node.get("currency") or "").upper()
            arrival = node.get("arrival_date")
            if isinstance(arrival, bool) or not isinstance(arrival, int):
                raise ChannelRequestError(f"stripe payout {pid} has no arrival_date", channel="stripe")
            yield Payout(
                connection_id=self.connection.id,
                payout_id=pid,
                issued_at=datetime.fromtimestamp(arrival, UTC),
                status=str(node.get("status") or ""),
                net=from_minor(node.get("amount"), currency),
                currency=currency,
            )

    def transactions(self, payout_id: str, *, deadline: Deadline) -> list[BalanceTransaction]:
        """What the payout paid out (without its own `payout` transaction), oldest first."""
        params: dict[str, str | int] = {"payout": payout_id, "limit": PAGE, "expand[]": "data.source"}
        out: list[BalanceTransaction] = []
        for node in self.api.list("/v1/balance_transactions", params, deadline=deadline):
            kind_name = str(node.get("type") or "")
            source = node.get("source")
            if kind_name == "payout" or _id_of(source) == payout_id:
                continue
            out.append(self._transaction(node, payout_id, deadline=deadline))
        out.reverse()  # Stripe lists newest first
        return out

    def _transaction(self, node: dict[str, Any], payout_id: str, *, deadline: Deadline) -> BalanceTransaction:
        currency = str(node.get("currency") or "")
        tid = _id_of(node) or ""
        channel_type = str(node.get("type") or "")
        amount = from_minor(node.get("amount"), currency)
        fee = from_minor(node.get("fee"), currency, "fee")
        net = from_minor(node.get("net"), currency, "net")
        source = node.get("source")
        kind: Kind
        order_id = payment_id = None
        if channel_type in CHARGE_TYPES:
            kind = "charge"
            charge = source if isinstance(source, dict) else {"id": source}
            order_id = self._order_of(charge, deadline=deadline)
            if order_id is not None:
                payment_id = self._payment_of(order_id, charge, deadline=deadline)
        elif channel_type in REFUND_TYPES:
            kind = "refund"
        elif channel_type in FEE_TYPES:
            kind, fee, amount = "adjustment", fee - amount, Decimal(0)  # all of it on the fee line
        elif str(node.get("reporting_category") or "") in DISPUTE_CATEGORIES or (_id_of(source) or "").startswith(
            ("dp_", "du_")
        ):
            kind = "chargeback"
        else:
            kind = "adjustment"
        return BalanceTransaction(
            transaction_id=tid,
            kind=kind,
            channel_type=channel_type,
            amount=amount,
            fee=fee,
            net=net,
            order_id=order_id,
            order_name=f"#{order_id}" if order_id else _unplaced(kind, _id_of(source)),
            payment_id=payment_id,
            payout_id=payout_id,
        )

    # --- charge -> order -> payment ---------------------------------------------------------

    def _metadata_order(self, obj: Mapping[str, Any]) -> str | None:
        metadata = obj.get("metadata")
        if isinstance(metadata, dict):
            for key in self.metadata_keys:
                value = metadata.get(key)
                if value is not None and str(value).strip():
                    return str(value).strip().lstrip("#")
        return None

    def _described_order(self, obj: Mapping[str, Any]) -> str | None:
        text = obj.get("description")
        if self.description is None or not isinstance(text, str):
            return None
        found = self.description.search(text)
        order_id = (found.group(1) or "").strip() if found else ""
        return order_id or None

    def _intent(self, intent_id: str, *, deadline: Deadline) -> dict[str, Any]:
        if intent_id not in self._intents:
            self._intents[intent_id] = self.api.get(
                "/v1/payment_intents/{intent_id}", {}, path_params={"intent_id": intent_id}, deadline=deadline
            )
        return self._intents[intent_id]

    def _order_of(self, charge: Mapping[str, Any], *, deadline: Deadline) -> str | None:
        """The order named by the charge's metadata, else its PaymentIntent's; then (with a
        `description_pattern`) by the charge's description, else its PaymentIntent's."""
        found = self._metadata_order(charge)
        if found is not None:
            return found
        intent: object = charge.get("payment_intent")
        if isinstance(intent, str) and intent.startswith("pi_"):
            intent = self._intent(intent, deadline=deadline)
        intent = intent if isinstance(intent, dict) else {}
        return self._metadata_order(intent) or self._described_order(charge) or self._described_order(intent)

    def _payment_of(self, order_id: str, charge: Mapping[str, Any], *, deadline: Deadline) -> str | None:
        if self.connection.channel == "woocommerce":
            return f"{order_id}-paid"
        ids = {i for i in (_id_of(charge), _id_of(charge.get("payment_intent"))) if i}
        payments = self._order_payments(order_id, deadline=deadline)
        for p in payments:
            if p.reference and p.reference in ids:
                return p.payment_id
        if len(payments) == 1:
            return payments[0].payment_id
        return None

    def _order_payments(self, order_id: str, *, deadline: Deadline) -> list[Payment]:
        if order_id not in self._payments:
            if self._orders is None:
                if self._orders_factory is None:
                    raise ConfigurationError(
                        f"connection '{self.connection.id}': no channel client to map Stripe charges to orders"
                    )
                self._orders = self._orders_factory()
            events = self._orders.fetch_order_events(order_id, deadline=deadline)
            self._payments[order_id] = [e.payload for e in events if isinstance(e.payload, Payment)]
        return self._payments[order_id]


def probe(connection: Connection, *, deadline: Deadline, **options: Any) -> str:
    """What `doctor` shows: the key reads payouts and balance transactions (raises the channel
    error otherwise: 401 wrong key, 403 a restricted key without the permission)."""
    api = StripeApi(connection, **options)
    payouts = api.get("/v1/payouts", {"limit": 1}, deadline=deadline)
    api.get("/v1/balance_transactions", {"limit": 1}, deadline=deadline)
    latest = next(iter(payouts.get("data") or []), None)
    when = ""
    if isinstance(latest, dict) and isinstance(latest.get("arrival_date"), int):
        when = f"; latest payout arrives {datetime.fromtimestamp(latest['arrival_date'], UTC).date().isoformat()}"
    return f"Stripe key reads payouts and balance transactions{when}"
