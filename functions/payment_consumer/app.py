"""Payments queue -> Intacct: AR payments applied to invoices, and credit memos for refunds."""

from intacct_sync.posting.handler import consumer_handler

lambda_handler = consumer_handler("payments")
