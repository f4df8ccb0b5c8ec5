"""Orders queue -> Intacct: customers and Sales Invoices (create, update, delete, credit)."""

from intacct_sync.posting.handler import consumer_handler

lambda_handler = consumer_handler("orders")
