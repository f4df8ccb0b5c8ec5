"""Operator CLI: an order's sync state, the parked list, and replay of parked messages.

    python -m intacct_sync.cli.ops status  --stack NAME --connection shopify-main --order 450789469
    python -m intacct_sync.cli.ops parked  --stack NAME
    python -m intacct_sync.cli.ops replay  --stack NAME --queue orders [--max 100] [--dry-run]

`--stack` reads the table and queue URLs from the CloudFormation stack's outputs; `--table`,
`--dlq-url` and `--queue-url` give them directly (the local stack prints them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from intacct_sync.ledger import DynamoLedger, LedgerEntry


def _outputs(stack: str, cfn: Any = None) -> dict[str, str]:
    import boto3  # noqa: PLC0415

    cfn = cfn or boto3.client("cloudformation")
    out = cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    return {o["OutputKey"]: o["OutputValue"] for o in out}


def describe(entry: LedgerEntry) -> str:
    """A finance-readable account of one order."""
    lines = [
        f"order {entry.order_number or entry.order_id} ({entry.channel}, connection {entry.connection_id}, "
        f"id {entry.order_id})",
        f"  status           {entry.status}",
        f"  customer         {entry.customer_id or '-'}",
        f"  invoice          {entry.document_key or '-'}"
        + (f"  total {entry.invoice_total} {entry.currency or ''}" if entry.invoice_total is not None else ""),
        f"  AR record        {entry.ar_record_key or '-'}",
        f"  paid             {entry.paid_total} in {len(entry.payments)} payment(s)",
    ]
    for p in entry.payments.values():
        lines.append(
            f"    payment {p.payment_id}: {p.amount} (ARPYMT {p.recordno or '?'}) at {p.posted_at:%Y-%m-%d %H:%M}"
        )
    for r in entry.refunds.values():
        lines.append(f"    credit {r.refund_id}: {r.amount} ({r.document_key or '?'}) at {r.posted_at:%Y-%m-%d %H:%M}")
    if entry.last_error:
        e = entry.last_error
        lines.append(f"  last error       {e.kind} at {e.at:%Y-%m-%d %H:%M}: {e.message}")
        if e.fix:
            lines.append(f"  how to fix       {e.fix}")
    lines.append("  history")
    lines.extend(f"    {h.at:%Y-%m-%d %H:%M:%S}  {h.action}  {h.detail}" for h in entry.history)
    return "\n".join(lines)


def replay(sqs: Any, dlq_url: str, queue_url: str, *, limit: int, dry_run: bool) -> list[dict[str, str]]:
    """Move up to `limit` parked messages back to their queue, in order; returns what moved."""
    moved: list[dict[str, str]] = []
    while len(moved) < limit:
        got = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(10, limit - len(moved)),
            AttributeNames=["MessageGroupId"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not got:
            break
        for m in got:
            attrs = m.get("MessageAttributes", {})
            info = {
                "message_id": m["MessageId"],
                "group": m["Attributes"]["MessageGroupId"],
                "reason": attrs.get("parked_reason", {}).get("StringValue", "(moved here by SQS after retries)"),
            }
            if not dry_run:
                keep = {k: v for k, v in attrs.items() if not k.startswith("parked_") and k != "source_message_id"}
                sqs.send_message(
                    QueueUrl=queue_url,
                    MessageBody=m["Body"],
                    MessageGroupId=info["group"],
                    MessageDeduplicationId=f"replay-{m['MessageId']}"[:128],
                    MessageAttributes={
                        k: {"DataType": "String", "StringValue": v["StringValue"]}
                        for k, v in keep.items()
                        if "StringValue" in v
                    },
                )
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved.append(info)
        if dry_run:
            break
    return moved


def main(argv: Sequence[str] | None = None, *, clients: dict[str, Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m intacct_sync.cli.ops", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", help="CloudFormation stack name (reads the outputs)")
    parser.add_argument("--table", help="state table name (StateTableName output)")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("status", help="one order's sync state")
    st.add_argument("--connection", required=True)
    st.add_argument("--order", required=True, help="the channel's order id")
    st.add_argument("--json", action="store_true")
    pk = sub.add_parser("parked", help="orders stopped by a permanent error, with the fix")
    pk.add_argument("--json", action="store_true")
    rp = sub.add_parser("replay", help="move parked messages back to their queue after a fix")
    rp.add_argument("--queue", choices=["orders", "payments"], required=True)
    rp.add_argument("--dlq-url")
    rp.add_argument("--queue-url")
    rp.add_argument("--max", type=int, default=100)
    rp.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    clients = clients or {}
    outputs = _outputs(args.stack, clients.get("cloudformation")) if args.stack else {}
    table = args.table or outputs.get("StateTableName")

    if args.command in ("status", "parked"):
        if not table:
            parser.error("give --stack or --table")
        ledger = DynamoLedger(table, client=clients.get("dynamodb"))
        if args.command == "status":
            entry = ledger.get(args.connection, args.order)
            if entry is None:
                print(f"no ledger entry for order {args.order} on connection {args.connection} (never received?)")
                return 1
            print(entry.model_dump_json(indent=2) if args.json else describe(entry))
            return 0
        parked = ledger.list_entries("parked")
        if args.json:
            print(json.dumps([json.loads(e.model_dump_json()) for e in parked], indent=2))
        else:
            for e in parked:
                err = e.last_error
                print(f"{e.connection_id}:{e.order_id} #{e.order_number}: {err.message if err else '?'}")
                if err and err.fix:
                    print(f"    fix: {err.fix}")
            print(f"{len(parked)} parked order(s)")
        return 0

    prefix = "Orders" if args.queue == "orders" else "Payments"
    dlq = args.dlq_url or outputs.get(f"{prefix}DeadLetterQueueUrl")
    target = args.queue_url or outputs.get(f"{prefix}QueueUrl")
    if not dlq or not target:
        parser.error("give --stack, or --dlq-url and --queue-url")
    if "sqs" not in clients:
        import boto3  # noqa: PLC0415

        clients["sqs"] = boto3.client("sqs")
    moved = replay(clients["sqs"], dlq, target, limit=args.max, dry_run=args.dry_run)
    for m in moved:
        print(f"{'would move' if args.dry_run else 'moved'} {m['message_id']} (order {m['group']}): {m['reason']}")
    print(f"{len(moved)} message(s) {'to move' if args.dry_run else 'moved back to ' + args.queue}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
