"""Shopify Payments payouts and balance transactions (Admin GraphQL `shopifyPaymentsAccount`).

Shapes from shopify.dev (Admin GraphQL 2025-10 / latest): `ShopifyPaymentsAccount.payouts`
(connection of `ShopifyPaymentsPayout`: id, legacyResourceId, issuedAt, status, net, summary,
transactionType) and `ShopifyPaymentsAccount.balanceTransactions` (connection of
`ShopifyPaymentsBalanceTransaction`: id, type, test, amount, fee, net, transactionDate,
sourceOrderTransactionId, sourceId, sourceType, associatedOrder {id, name}, associatedPayout {id,
status}, adjustmentReason). Money is `MoneyV2` {amount, currencyCode}; amounts are strings.
Access scope: `read_shopify_payments_payouts`.

A payout is made from money the store already has: a CHARGE is one of an order's transactions
(its amount is the transaction's), a REFUND, a dispute or an adjustment a signed amount. Each
balance transaction's net is amount - fee; the payout's net is the sum of its transactions' nets
(what reaches the bank).

Filters (`query:`): balance transactions by `payments_transfer_id:<payout legacy id>`
(**[UNSURE]** the GraphQL search key; REST's is `payout_id`, also accepted here so the client's
`payouts.shopify_transactions_filter` can be switched); payouts take `first`/`after`/`reverse`
only (newest first with `reverse: true`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .state import Counter, StoreState

SCOPE = "read_shopify_payments_payouts"
TRANSACTION_FILTERS = ("payments_transfer_id", "payout_id")

SCHEMA: dict[str, dict[str, str]] = {
    "ShopifyPaymentsAccount": {
        "id": "ID",
        "activated": "Boolean",
        "payouts": "ShopifyPaymentsPayoutConnection",
        "balanceTransactions": "ShopifyPaymentsBalanceTransactionConnection",
    },
    "MoneyV2": {"amount": "Decimal", "currencyCode": "String"},
    "ShopifyPaymentsPayout": {
        "id": "ID",
        "legacyResourceId": "UnsignedInt64",
        "issuedAt": "DateTime",
        "status": "String",
        "transactionType": "String",
        "net": "MoneyV2",
        "summary": "ShopifyPaymentsPayoutSummary",
    },
    "ShopifyPaymentsPayoutSummary": dict.fromkeys(
        (
            "adjustmentsFee",
            "adjustmentsGross",
            "chargesFee",
            "chargesGross",
            "refundsFee",
            "refundsFeeGross",
            "reservedFundsFee",
            "reservedFundsGross",
            "retriedPayoutsFee",
            "retriedPayoutsGross",
        ),
        "MoneyV2",
    ),
    "ShopifyPaymentsBalanceTransaction": {
        "id": "ID",
        "type": "String",
        "test": "Boolean",
        "amount": "MoneyV2",
        "fee": "MoneyV2",
        "net": "MoneyV2",
        "transactionDate": "DateTime",
        "sourceId": "UnsignedInt64",
        "sourceType": "String",
        "sourceOrderTransactionId": "UnsignedInt64",
        "adjustmentReason": "String",
        "associatedOrder": "ShopifyPaymentsAssociatedOrder",
        "associatedPayout": "ShopifyPaymentsBalanceTransactionAssociatedPayout",
    },
    "ShopifyPaymentsAssociatedOrder": {"id": "ID", "name": "String"},
    "ShopifyPaymentsBalanceTransactionAssociatedPayout": {"id": "ID", "status": "String"},
}
CONNECTED = ("ShopifyPaymentsPayout", "ShopifyPaymentsBalanceTransaction")

_CENT = Decimal("0.01")
PAYOUT_ID_START = 623721858  # the REST docs' example payout id
TRANSACTION_ID_START = 699519475
_DISPUTE = re.compile(r"^(DISPUTE|CHARGEBACK)")


def _money(value: Decimal, currency: str) -> dict[str, Any]:
    return {"__typename": "MoneyV2", "amount": str(value.quantize(_CENT)), "currencyCode": currency}


def add_payout(
    st: StoreState,
    items: list[dict[str, Any]],
    *,
    issued_at: str,
    status: str = "PAID",
    payout_id: int | None = None,
) -> dict[str, Any]:
    """A payout made of `items` (what a payout's balance transactions come from), returned as stored.

    Each item: `{"type": "CHARGE", "order_id": .., "transaction_id": .., "fee": "1.46"}` (amount
    = that order transaction's), or `{"type": "REFUND" | "DISPUTE_WITHDRAWAL" | "DISPUTE_REVERSAL"
    | "ADJUSTMENT" | ..., "amount": "-10.00", "fee": "0", "order_id"?: ..}`. An order or
    transaction the store does not have is a KeyError (a payout pays out money the store took)."""
    currency = str(st.config.get("currency", "USD"))
    st.ids.setdefault("payout", Counter(PAYOUT_ID_START))
    st.ids.setdefault("balance_transaction", Counter(TRANSACTION_ID_START))
    pid = payout_id or st.next_id("payout")
    st.see_id("payout", pid)
    txns: list[dict[str, Any]] = []
    net = Decimal(0)
    for item in items:
        kind = str(item["type"])
        order_id = item.get("order_id")
        rec = st.orders[int(order_id)] if order_id is not None else None
        source_txn = None
        if kind == "CHARGE":
            assert rec is not None, "a CHARGE belongs to an order"
            wanted = str(item["transaction_id"])
            source_txn = next(t for t in rec.transactions if str(t["id"]) == wanted)
            amount = Decimal(str(source_txn["amount"]))
        else:
            amount = Decimal(str(item["amount"]))
        fee = Decimal(str(item.get("fee", "0")))
        tid = st.next_id("balance_transaction")
        st.see_id("balance_transaction", tid)
        txn = {
            "id": tid,
            "type": kind,
            "test": bool(item.get("test", False)),
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "transactionDate": item.get("transaction_date", issued_at),
            "sourceType": "DISPUTE" if _DISPUTE.match(kind) else kind,
            "sourceId": int(source_txn["id"]) if source_txn else tid,
            "sourceOrderTransactionId": int(source_txn["id"]) if source_txn else None,
            "adjustmentReason": item.get("reason") if kind == "ADJUSTMENT" else None,
            "order_id": int(order_id) if order_id is not None else None,
            "order_name": rec.data.get("name") if rec is not None else None,
            "payout_id": pid,
        }
        st.balance_transactions[tid] = txn
        txns.append(txn)
        net += amount - fee

    def total(kinds: tuple[str, ...], what: str) -> Decimal:
        return sum((t[what] for t in txns if t["sourceType"] in kinds), Decimal(0))

    payout = {
        "id": pid,
        "issuedAt": issued_at,
        "status": status,
        "transactionType": "DEPOSIT" if net >= 0 else "WITHDRAWAL",
        "net": net,
        "currency": currency,
        "summary": {
            "chargesGross": total(("CHARGE",), "amount"),
            "chargesFee": total(("CHARGE",), "fee"),
            "refundsFeeGross": total(("REFUND",), "amount"),
            "refundsFee": total(("REFUND",), "fee"),
            "adjustmentsGross": total(("ADJUSTMENT", "DISPUTE"), "amount"),
            "adjustmentsFee": total(("ADJUSTMENT", "DISPUTE"), "fee"),
            "reservedFundsGross": Decimal(0),
            "reservedFundsFee": Decimal(0),
            "retriedPayoutsGross": Decimal(0),
            "retriedPayoutsFee": Decimal(0),
        },
    }
    st.payouts[pid] = payout
    return payout


def set_status(st: StoreState, payout_id: int, status: str) -> None:
    """A payout moves on (SCHEDULED -> IN_TRANSIT -> PAID, or FAILED / CANCELED)."""
    st.payouts[payout_id]["status"] = status


def payout_node(st: StoreState, pid: int) -> dict[str, Any]:
    p = st.payouts[pid]
    cur = p["currency"]
    return {
        "__typename": "ShopifyPaymentsPayout",
        "id": f"gid://shopify/ShopifyPaymentsPayout/{pid}",
        "legacyResourceId": str(pid),
        "issuedAt": p["issuedAt"],
        "status": p["status"],
        "transactionType": p["transactionType"],
        "net": _money(p["net"], cur),
        "summary": {"__typename": "ShopifyPaymentsPayoutSummary"}
        | {k: _money(v, cur) for k, v in p["summary"].items()},
    }


def transaction_node(st: StoreState, tid: int) -> dict[str, Any]:
    t = st.balance_transactions[tid]
    cur = str(st.config.get("currency", "USD"))
    payout = st.payouts[t["payout_id"]]
    return {
        "__typename": "ShopifyPaymentsBalanceTransaction",
        "id": f"gid://shopify/ShopifyPaymentsBalanceTransaction/{tid}",
        "type": t["type"],
        "test": t["test"],
        "amount": _money(t["amount"], cur),
        "fee": _money(t["fee"], cur),
        "net": _money(t["net"], cur),
        "transactionDate": t["transactionDate"],
        "sourceId": str(t["sourceId"]),
        "sourceType": t["sourceType"],
        "sourceOrderTransactionId": (
            str(t["sourceOrderTransactionId"]) if t["sourceOrderTransactionId"] is not None else None
        ),
        "adjustmentReason": t["adjustmentReason"],
        "associatedOrder": (
            {
                "__typename": "ShopifyPaymentsAssociatedOrder",
                "id": f"gid://shopify/Order/{t['order_id']}",
                "name": t["order_name"],
            }
            if t["order_id"] is not None
            else None
        ),
        "associatedPayout": {
            "__typename": "ShopifyPaymentsBalanceTransactionAssociatedPayout",
            "id": f"gid://shopify/ShopifyPaymentsPayout/{t['payout_id']}",
            "status": payout["status"],
        },
    }


def transaction_ids(st: StoreState, query: str | None) -> list[int]:
    """Balance transaction ids matching `query` (`payments_transfer_id:<id>`; no query: all)."""
    if not query:
        return sorted(st.balance_transactions)
    m = re.fullmatch(r"\s*(\w+):(\d+)\s*", query)
    if not m or m.group(1) not in TRANSACTION_FILTERS:
        return []  # Shopify ignores unknown search terms' matches: nothing found
    pid = int(m.group(2))
    return sorted(i for i, t in st.balance_transactions.items() if t["payout_id"] == pid)


def add_payout_to(sb: Any, store: str, items: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """`add_payout` on a running `ChannelSandbox`'s Shopify store (its lock held)."""
    with sb.world.lock:
        return add_payout(sb.world.store("shopify", store), items, **kw)


def set_status_on(sb: Any, store: str, payout_id: int, status: str) -> None:
    with sb.world.lock:
        set_status(sb.world.store("shopify", store), payout_id, status)
