"""Shopify Payments payouts through the Admin GraphQL API (`shopifyPaymentsAccount`).

Payouts are read newest first (`payouts(first, after, reverse: true)`) until one is older than
the window asked for; a payout's balance transactions are `balanceTransactions(query:
"<filter>:<payout legacy id>")`, paged. Access scope `read_shopify_payments_payouts`.
Sources: shopify.dev Admin GraphQL `ShopifyPaymentsAccount`, `ShopifyPaymentsPayout`,
`ShopifyPaymentsBalanceTransaction` (2025-10 / latest); the filter key is unsure (README, Payouts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.payouts.model import BalanceTransaction, Kind, Payout
from intacct_sync.retry import Deadline

PAGE = 50
TRANSACTIONS_PAGE = 100

PAYOUTS_QUERY = """query Payouts($first: Int!, $after: String) {
  shopifyPaymentsAccount {
    payouts(first: $first, after: $after, reverse: true) {
      nodes { legacyResourceId issuedAt status net { amount currencyCode } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

TRANSACTIONS_QUERY = """query PayoutTransactions($first: Int!, $after: String, $query: String) {
  shopifyPaymentsAccount {
    balanceTransactions(first: $first, after: $after, query: $query) {
      nodes {
        id type test amount { amount } fee { amount } net { amount }
        sourceOrderTransactionId associatedOrder { id name } associatedPayout { id }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""

ACCESS_FIX = (
    "Give the Shopify app the read_shopify_payments_payouts access scope (Dev Dashboard > the app > "
    "Versions > Access), release the version and approve it in the store; or set payouts.enabled to false."
)


class GraphQL(Protocol):
    """The part of `ShopifyClient` the reader uses."""

    def graphql(
        self, query: str, variables: Mapping[str, Any] | None = None, *, deadline: Deadline
    ) -> dict[str, Any]: ...


def kind_of(channel_type: str) -> Kind:
    """Shopify's transaction type as the GL account it is booked to."""
    t = channel_type.upper()
    if t == "CHARGE":
        return "charge"
    if t.startswith("REFUND"):
        return "refund"
    if t.startswith(("DISPUTE", "CHARGEBACK")):
        return "chargeback"
    return "adjustment"


def _money(node: Any, what: str) -> Decimal:
    try:
        return Decimal(str(node["amount"]))
    except (KeyError, TypeError, InvalidOperation):
        raise ChannelRequestError(f"shopify payout data without a valid {what}", channel="shopify") from None


def _tail(gid: object) -> str | None:
    return str(gid).rsplit("/", 1)[-1] if gid else None


class ShopifyPayouts:
    """Payouts and balance transactions of one Shopify connection."""

    def __init__(self, client: GraphQL, connection_id: str, *, transactions_filter: str = "payments_transfer_id"):
        self.client = client
        self.connection_id = connection_id
        self.transactions_filter = transactions_filter

    def _account(self, query: str, variables: dict[str, Any], root: str, deadline: Deadline) -> dict[str, Any]:
        answer = self.client.graphql(query, variables, deadline=deadline)
        errors = answer.get("errors") or []
        if any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "ACCESS_DENIED" for e in errors):
            raise ChannelRequestError(
                "shopify refused to show Shopify Payments payouts (access denied)", channel="shopify", fix=ACCESS_FIX
            )
        account = (answer.get("data") or {}).get("shopifyPaymentsAccount")
        if errors or not isinstance(account, dict) or not isinstance(account.get(root), dict):
            text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or "no data"
            raise ChannelRequestError(
                f"shopify {root} could not be read: {text}",
                channel="shopify",
                fix="If the store does not use Shopify Payments, set payouts.enabled to false.",
            )
        node: dict[str, Any] = account[root]
        return node

    def payouts_since(self, since: datetime, *, deadline: Deadline) -> Iterator[Payout]:
        """Payouts issued at or after `since`, newest first."""
        after: str | None = None
        while True:
            page = self._account(PAYOUTS_QUERY, {"first": PAGE, "after": after}, "payouts", deadline)
            for node in page.get("nodes") or []:
                issued = datetime.fromisoformat(str(node["issuedAt"]).replace("Z", "+00:00"))
                if issued < since:
                    return
                net = node.get("net") or {}
                yield Payout(
                    connection_id=self.connection_id,
                    payout_id=str(node["legacyResourceId"]),
                    issued_at=issued,
                    status=str(node.get("status") or ""),
                    net=_money(net, "net"),
                    currency=str(net.get("currencyCode") or ""),
                )
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    def transactions(self, payout_id: str, *, deadline: Deadline) -> list[BalanceTransaction]:
        """Every balance transaction of the payout, in the processor's order."""
        out: list[BalanceTransaction] = []
        after: str | None = None
        query = f"{self.transactions_filter}:{payout_id}"
        while True:
            variables = {"first": TRANSACTIONS_PAGE, "after": after, "query": query}
            page = self._account(TRANSACTIONS_QUERY, variables, "balanceTransactions", deadline)
            for node in page.get("nodes") or []:
                order = node.get("associatedOrder") or {}
                source = node.get("sourceOrderTransactionId")
                channel_type = str(node.get("type") or "")
                out.append(
                    BalanceTransaction(
                        transaction_id=_tail(node.get("id")) or "",
                        kind=kind_of(channel_type),
                        channel_type=channel_type,
                        amount=_money(node.get("amount"), "amount"),
                        fee=_money(node.get("fee"), "fee"),
                        net=_money(node.get("net"), "net"),
                        order_id=_tail(order.get("id")),
                        order_name=order.get("name"),
                        payment_id=str(source) if source is not None else None,
                        payout_id=_tail((node.get("associatedPayout") or {}).get("id")),
                        test=bool(node.get("test")),
                    )
                )
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return out
            after = info.get("endCursor")
