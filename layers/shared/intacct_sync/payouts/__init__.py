"""Payouts into Intacct (issue 14): a channel payout becomes one deposit equal to its bank line.

`model` (the canonical payout), `shopify` (reading Shopify Payments payouts), `stripe` (reading
the Stripe payouts of WooCommerce / BigCommerce stores), `ledger` (one
record per payout, exactly once), `plan` (pure: the receipt and the deposit), `run` (the
scheduled job, one connection at a time).
"""
