"""`intacct-sync ops payouts`: the payouts not deposited yet (waiting for their payments, or
failed) with the reason and the fix; `--all` also lists the deposited ones, each with its
deposit in Intacct next to the payout's bank line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from intacct_sync.cli.main import EXIT_OK, note
from intacct_sync.payouts.ledger import DynamoPayoutStore, PayoutRecord


def add_parser(sub: Any, shared: list[argparse.ArgumentParser]) -> None:
    pp = sub.add_parser(
        "payouts",
        help="payouts waiting for their payments or failed, with the fix (--all: deposited ones too)",
        parents=shared,
        description=(
            "Payouts into Intacct: each paid payout becomes one deposit equal to its bank line. Lists those "
            "not deposited yet (waiting, failed) with the reason and the fix; --all adds the deposited ones."
        ),
    )
    pp.add_argument("--connection", help="only this connection's payouts")
    pp.add_argument("--all", action="store_true", help="deposited payouts too (bank line = deposit)")
    pp.add_argument("--json", action="store_true", help="the payout records as JSON")


def describe(r: PayoutRecord) -> str:
    head = f"{r.connection_id} payout {r.payout_id} ({r.issued_at.date().isoformat()}): {r.net} {r.currency}"
    if r.status == "deposited" and r.journal_key:  # payouts.fees = "journal_entry"
        booked = (r.deposit_total or 0) + (r.journal_total or 0)
        same = "=" if booked == r.net else "!="
        return (
            f"{head} deposited: bank line {r.net} {same} deposit {r.deposit_total or 0} + journal entry "
            f"{r.journal_total} (Intacct deposit {r.deposit_key}, journal entry {r.journal_key})"
        )
    if r.status == "deposited":
        same = "=" if r.deposit_total == r.net else "!="
        return f"{head} deposited: bank line {r.net} {same} deposit {r.deposit_total} (Intacct deposit {r.deposit_key})"
    since = r.waiting_since or r.first_seen
    return f"{head} {r.status} since {since.isoformat(timespec='minutes')}: {r.reason or '?'}"


def run(
    parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str], client: Callable[[str], Any]
) -> int:
    table = getattr(args, "table", None) or outputs.get("StateTableName")
    if not table:
        parser.error("give --stack or --table (or set STATE_TABLE)")
    note(table=table)
    store = DynamoPayoutStore(table, client=client("dynamodb"), retention_days=0)
    records = [r for r in store.list_records(args.connection) if args.all or r.open]
    if args.json:
        print(json.dumps([json.loads(r.model_dump_json()) for r in records], indent=2))
        return EXIT_OK
    for r in records:
        print(describe(r))
        if r.open and r.fix:
            print(f"    fix: {r.fix}")
    waiting = sum(1 for r in records if r.status == "waiting")
    failed = sum(1 for r in records if r.status in ("failed", "partly_booked"))
    print(f"{waiting} payout(s) waiting, {failed} failed" + (f", {len(records)} listed" if args.all else ""))
    return EXIT_OK
