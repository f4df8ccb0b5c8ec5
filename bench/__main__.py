"""Run every bench section and print its figures, each next to its goal (met / NOT met), then a
summary of the goals. A section that fails prints its error and the others still run; the
command then exits non-zero. What each section stubs is in its module docstring."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable

from bench import cold_import, intacct_client, posting, stock, webhook, writeback
from bench.report import Figure, print_goals, print_section
from local.moto_atomic import make_dynamodb_atomic

make_dynamodb_atomic()  # the posting bench's gate and ledger rely on atomic conditional writes

SECTIONS: list[tuple[str, Callable[[], list[Figure]]]] = [
    ("Intacct client", intacct_client.run),
    ("Webhook intake", webhook.run),
    ("Cold import of every handler (Lambda-like: layer on sys.path, tracing as deployed)", cold_import.run),
    ("Posting into Intacct", posting.run),
    (stock.TITLE, stock.run),
    ("Writeback (steady state: nothing to write back)", writeback.run),
]


def main() -> int:
    logging.disable(logging.INFO)
    print("intacct-sync bench (figures vary by machine; compare runs on the same one)")
    done: list[tuple[str, list[Figure]]] = []
    failed: list[str] = []
    for title, section in SECTIONS:
        try:
            figures = section()
        except Exception:  # report it and run the other sections
            print(f"\n== {title}\n  FAILED:")
            print("  " + traceback.format_exc().rstrip().replace("\n", "\n  "))
            failed.append(title)
            continue
        print_section(title, figures)
        done.append((title, figures))
    print_goals(done)
    for title in failed:
        print(f"  FAILED section: {title}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
