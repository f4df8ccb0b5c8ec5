"""Run every bench section and print its figures."""

from __future__ import annotations

import logging

from bench import intacct_client, posting, stock, webhook
from bench.report import print_section


def main() -> None:
    logging.disable(logging.INFO)
    print("intacct-sync bench (figures vary by machine; compare runs on the same one)")
    print_section("Intacct client", intacct_client.run())
    print_section("Webhook intake", webhook.run())
    print_section("Posting into Intacct", posting.run())
    print_section("Stock push (50,000 SKUs x 2 channels)", stock.run())


if __name__ == "__main__":
    main()
