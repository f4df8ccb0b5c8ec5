"""Shopify Payments payouts and balance transactions (Admin GraphQL `shopifyPaymentsAccount`, issue 14).

Shapes: shopify.dev Admin GraphQL `ShopifyPaymentsPayout`, `ShopifyPaymentsPayoutSummary`,
`ShopifyPaymentsBalanceTransaction` (2025-10 / latest) and the `shopifyPaymentsAccount` query
example ("Return a list of all balance transactions")."""

from __future__ import annotations

from decimal import Decimal

from local.channel_sandbox import ChannelSandbox
from local.channel_sandbox.shopify_payments import add_payout_to

from .conftest import SHOP, ShopifyClient

ORDER, CAPTURE = 450789469, 389404470  # seed order #1001 and its 421.28 capture

PAYOUTS = """{ shopifyPaymentsAccount { payouts(first: 5, reverse: true) {
  nodes { id legacyResourceId issuedAt status net { amount currencyCode }
          summary { chargesGross { amount } chargesFee { amount } refundsFeeGross { amount } adjustmentsGross { amount } } }
  pageInfo { hasNextPage endCursor } } } }"""

TXNS = """query($q: String) { shopifyPaymentsAccount { balanceTransactions(first: 50, query: $q) {
  nodes { id type test amount { amount currencyCode } fee { amount } net { amount }
          sourceOrderTransactionId associatedOrder { id name } associatedPayout { id status } }
  pageInfo { hasNextPage } } } }"""


def _payout(cs: ChannelSandbox) -> dict[str, object]:
    return add_payout_to(
        cs,
        SHOP,
        [
            {"type": "CHARGE", "order_id": ORDER, "transaction_id": CAPTURE, "fee": "12.52"},
            {"type": "REFUND", "order_id": ORDER, "amount": "-20.00"},
            {"type": "DISPUTE_WITHDRAWAL", "order_id": ORDER, "amount": "-50.00", "fee": "15.00"},
            {"type": "ADJUSTMENT", "amount": "0.75", "reason": "fee refund"},
        ],
        issued_at="2024-05-06T09:00:00Z",
    )


def test_payout_net_is_the_sum_of_its_transactions_nets(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    payout = _payout(cs)
    body = shop.gql(PAYOUTS)
    [node] = body["data"]["shopifyPaymentsAccount"]["payouts"]["nodes"]
    assert node["legacyResourceId"] == str(payout["id"])
    assert node["status"] == "PAID"
    expected = (
        Decimal("421.28") - Decimal("12.52") - Decimal("20.00") - Decimal("50.00") - Decimal("15.00") + Decimal("0.75")
    )
    assert Decimal(node["net"]["amount"]) == expected
    assert node["summary"]["chargesGross"]["amount"] == "421.28"
    assert node["summary"]["chargesFee"]["amount"] == "12.52"

    txns = shop.gql(TXNS, {"q": f"payments_transfer_id:{payout['id']}"})["data"]["shopifyPaymentsAccount"]
    nodes = txns["balanceTransactions"]["nodes"]
    assert [n["type"] for n in nodes] == ["CHARGE", "REFUND", "DISPUTE_WITHDRAWAL", "ADJUSTMENT"]
    assert sum(Decimal(n["net"]["amount"]) for n in nodes) == expected
    charge = nodes[0]
    assert charge["sourceOrderTransactionId"] == str(CAPTURE)
    assert charge["associatedOrder"] == {"id": f"gid://shopify/Order/{ORDER}", "name": "#1001"}
    assert charge["associatedPayout"]["id"] == f"gid://shopify/ShopifyPaymentsPayout/{payout['id']}"
    assert nodes[3]["associatedOrder"] is None


def test_transactions_of_another_payout_are_not_listed(cs: ChannelSandbox, shop: ShopifyClient) -> None:
    first = _payout(cs)
    second = add_payout_to(cs, SHOP, [{"type": "ADJUSTMENT", "amount": "3.00"}], issued_at="2024-05-07T09:00:00Z")
    txns = shop.gql(TXNS, {"q": f"payments_transfer_id:{second['id']}"})["data"]["shopifyPaymentsAccount"]
    assert [n["type"] for n in txns["balanceTransactions"]["nodes"]] == ["ADJUSTMENT"]
    newest_first = shop.gql(PAYOUTS)["data"]["shopifyPaymentsAccount"]["payouts"]["nodes"]
    assert [n["legacyResourceId"] for n in newest_first] == [str(second["id"]), str(first["id"])]


def test_payouts_need_the_payouts_scope(cs: ChannelSandbox) -> None:
    readonly = ShopifyClient(cs, token="shpat_sandbox_readonly_000000000002")
    body = readonly.gql(PAYOUTS)
    assert body["data"]["shopifyPaymentsAccount"] is None
    assert body["errors"][0]["extensions"]["code"] == "ACCESS_DENIED"
    assert "read_shopify_payments_payouts" in body["errors"][0]["message"]
