"""Operator CLI: an order's sync state, the parked list, and replay of parked messages.

    intacct-sync ops status --stack NAME --connection shopify-main --order '#1001'
    intacct-sync ops status --stack NAME --connection shopify-main --order-id 450789469
    intacct-sync ops parked --stack NAME
    intacct-sync ops replay --stack NAME --queue orders [--max 100] [--dry-run]
    intacct-sync ops reindex --stack NAME --retention-days DAYS [--dry-run]

`--stack` reads the table and queue URLs from the CloudFormation stack's outputs; `--table`,
`--dlq-url` and `--queue-url` give them directly; without either, the environment's STATE_TABLE,
ORDERS_QUEUE_URL, ORDERS_DLQ_URL, PAYMENTS_QUEUE_URL and PAYMENTS_DLQ_URL (the names template.yaml
gives the functions; `make local` prints them for the local stack).

`status --order` takes the number finance sees: Shopify's order name (`#1001` or `1001`), the
WooCommerce order number, the BigCommerce order id. The ledger is keyed by the channel's internal
order id, so a number is looked up by one filtered scan of the state table (read on demand, here
only); `--order-id` takes the internal id (the webhook's `id`) and reads one item. An `--order`
that no entry has as its number is tried as an internal id (the option's earlier meaning). Exit
status: 0 shown, 1 no entry or several (listed), 2 could not run (one line: why, and the fix).

`reindex` is the one-off after upgrading a stack whose ledger predates the writeback index and
`LedgerRetentionDays`: one scan gives every ledger item the attributes its entry calls for (the
writeback's pending-work index, `expires` for finished entries); `--retention-days` must be the
stack's `LedgerRetentionDays`. Safe to repeat and to run while the stack works.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any

from intacct_sync.cli.main import (
    EXIT_OK,
    EXIT_PROBLEMS,
    Progress,
    aws_client,
    command,
    common_options,
    environment_outputs,
    note,
    progress_enabled,
    stack_outputs,
)
from intacct_sync.environment import MIN_RETENTION_DAYS
from intacct_sync.ledger import DynamoLedger, LedgerEntry

_SHOPIFY_GID = re.compile(r"^gid://shopify/Order/(\d+)$")


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
    for key, w in entry.waiting.items():  # payments and refunds waiting for the invoice (posting.waiting)
        lines.append(f"    waiting {key} since {w.since:%Y-%m-%d %H:%M}: {w.reason}")
        if w.fix:
            lines.append(f"      how to fix     {w.fix}")
    if entry.last_error:
        e = entry.last_error
        lines.append(f"  last error       {e.kind} at {e.at:%Y-%m-%d %H:%M}: {e.message}")
        if e.fix:
            lines.append(f"  how to fix       {e.fix}")
    lines.append("  history")
    lines.extend(f"    {h.at:%Y-%m-%d %H:%M:%S}  {h.action}  {h.detail}" for h in entry.history)
    return "\n".join(lines)


def order_number(text: str) -> str:
    """The number as the ledger records it: Shopify's name without its '#', trimmed."""
    return text.strip().lstrip("#").strip()


def order_id(text: str) -> str:
    """The channel's order id; a Shopify GraphQL id (`gid://shopify/Order/<n>`) becomes `<n>`."""
    text = text.strip()
    m = _SHOPIFY_GID.match(text)
    return m.group(1) if m else text


def find_order(
    ledger: Any, number: str, connection_id: str | None, *, on_page: Callable[[int], None] | None = None
) -> list[LedgerEntry]:
    """The ledger entries for the order number finance sees (normalised by `order_number`).

    With a connection, the number is first read as an order id (one item: BigCommerce ids and
    WooCommerce numbers usually are the id); an entry carrying that number is the answer. Else
    one filtered scan finds the entries carrying the number. When none does, an entry whose id is
    the number is the answer (an internal id given as --order, the command's earlier meaning)."""
    by_id: LedgerEntry | None = ledger.get(connection_id, number) if connection_id else None
    if by_id is not None and by_id.order_number == number:
        return [by_id]
    found: list[LedgerEntry] = ledger.find_by_order_number(number, connection_id, on_page=on_page)
    return found or ([by_id] if by_id is not None else [])


def replay(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    limit: int,
    dry_run: bool,
    on_move: Callable[[int], None] | None = None,
) -> list[dict[str, str]]:
    """Move up to `limit` parked messages back to their queue, in order; returns what moved.
    A dry run lists them (FIFO: the first parked message of each order) and makes them visible
    again at once, so a replay can follow right away.
    `on_move` gets the running count (progress)."""
    moved: list[dict[str, str]] = []
    seen: list[str] = []  # receipt handles a dry run hands back
    try:
        _move(sqs, dlq_url, queue_url, limit=limit, dry_run=dry_run, on_move=on_move, moved=moved, seen=seen)
    finally:
        for start in range(0, len(seen), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(seen[start : start + 10])
                ],
            )
    return moved


def _move(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    limit: int,
    dry_run: bool,
    on_move: Callable[[int], None] | None,
    moved: list[dict[str, str]],
    seen: list[str],
) -> None:
    while len(moved) < limit:
        note(queue=dlq_url)
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
            if dry_run:
                seen.append(m["ReceiptHandle"])
            else:
                keep = {k: v for k, v in attrs.items() if not k.startswith("parked_") and k != "source_message_id"}
                note(queue=queue_url)
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
                note(queue=dlq_url)
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=m["ReceiptHandle"])
            moved.append(info)
            if on_move is not None:
                on_move(len(moved))


def _parser() -> argparse.ArgumentParser:
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--stack", default=argparse.SUPPRESS, help="CloudFormation stack name (reads the table and queues)"
    )
    where.add_argument(
        "--table", default=argparse.SUPPRESS, help="state table name (StateTableName output; env STATE_TABLE)"
    )
    shared = [where, common_options(aws=True, progress=True)]
    parser = argparse.ArgumentParser(
        prog="intacct-sync ops",
        description=(__doc__ or "").split("\n")[0],
        parents=shared,
        epilog="--stack, --table, --region, --progress and --debug go before or after the subcommand.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{status,parked,replay,reindex}")
    st = sub.add_parser("status", help="one order's sync state", parents=shared, description="One order's sync state.")
    st.add_argument("--connection", help="connection id (the /webhooks/<id> of its store); needed with --order-id")
    which = st.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--order",
        metavar="NUMBER",
        help="the order number finance sees: Shopify '#1001' or 1001, WooCommerce number, BigCommerce id",
    )
    which.add_argument("--order-id", metavar="ID", help="the channel's internal order id (the webhook's id)")
    st.add_argument("--json", action="store_true", help="the ledger entry as JSON (a list when several match)")
    pk = sub.add_parser(
        "parked", help="orders stopped by a permanent error, with the fix", parents=shared, description="Parked orders."
    )
    pk.add_argument("--connection", help="only this connection's orders")
    pk.add_argument("--json", action="store_true")
    rp = sub.add_parser(
        "replay",
        help="move parked messages back to their queue after a fix",
        parents=shared,
        description="Move parked messages from a dead-letter queue back to their queue, in order.",
    )
    rp.add_argument("--queue", choices=["orders", "payments"], required=True)
    rp.add_argument("--dlq-url", help="the dead-letter queue (env ORDERS_DLQ_URL / PAYMENTS_DLQ_URL)")
    rp.add_argument("--queue-url", help="the queue to move them to (env ORDERS_QUEUE_URL / PAYMENTS_QUEUE_URL)")
    rp.add_argument("--max", type=int, default=100, help="messages moved at most (default 100)")
    rp.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    ri = sub.add_parser(
        "reindex",
        help="one-off after an upgrade: writeback index and retention attributes on every ledger item",
        parents=shared,
        description=(
            "Give every ledger item the attributes its entry calls for: the writeback's pending-work "
            "index and, for finished entries, `expires` (retention). One scan of the state table."
        ),
    )
    ri.add_argument(
        "--retention-days",
        type=_retention_days,
        required=True,
        metavar="DAYS",
        help="the stack's LedgerRetentionDays (0: keep for ever; else at least 365)",
    )
    ri.add_argument("--dry-run", action="store_true", help="count what would change; change nothing")
    return parser


def _retention_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if days != 0 and days < MIN_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"give 0 (keep for ever) or at least {MIN_RETENTION_DAYS} days, not {days}")
    return days


@command
def main(argv: Sequence[str] | None = None, *, clients: dict[str, Any] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "status" and args.order_id is not None and not args.connection:
        parser.error("--order-id needs --connection (or give --order with the order number)")
    clients = dict(clients or {})
    region: str | None = getattr(args, "region", None)
    stack: str | None = getattr(args, "stack", None)

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = aws_client(service, region)
        return clients[service]

    outputs = stack_outputs(stack, client("cloudformation")) if stack else environment_outputs()
    progress = progress_enabled(args)

    if args.command in ("status", "parked", "reindex"):
        table = getattr(args, "table", None) or outputs.get("StateTableName")
        if not table:
            parser.error("give --stack or --table (or set STATE_TABLE)")
        note(table=table)
        retention = args.retention_days if args.command == "reindex" else 0  # only reindex writes
        ledger = DynamoLedger(table, client=client("dynamodb"), retention_days=retention)
        if args.command == "status":
            return status(ledger, args, progress)
        if args.command == "reindex":
            return reindex(ledger, dry_run=args.dry_run, progress=progress)
        with Progress("reading the ledger (items)", enabled=progress) as shown:
            parked = ledger.list_entries("parked", on_page=shown.update)
        if args.connection:
            parked = [e for e in parked if e.connection_id == args.connection]
        if args.json:
            print(json.dumps([json.loads(e.model_dump_json()) for e in parked], indent=2))
        else:
            for e in parked:
                err = e.last_error
                print(f"{e.connection_id}:{e.order_id} #{e.order_number}: {err.message if err else '?'}")
                if err and err.fix:
                    print(f"    fix: {err.fix}")
            print(f"{len(parked)} parked order(s)")
        return EXIT_OK

    prefix = "Orders" if args.queue == "orders" else "Payments"
    dlq = args.dlq_url or outputs.get(f"{prefix}DeadLetterQueueUrl")
    target = args.queue_url or outputs.get(f"{prefix}QueueUrl")
    if not dlq or not target:
        env = args.queue.upper()
        parser.error(f"give --stack, or --dlq-url and --queue-url (or set {env}_DLQ_URL and {env}_QUEUE_URL)")
    sqs = client("sqs")
    with Progress("moved" if not args.dry_run else "listed", enabled=progress) as shown:
        if shown.enabled:
            shown.update(0, _waiting(sqs, dlq, args.max))
        moved = replay(sqs, dlq, target, limit=args.max, dry_run=args.dry_run, on_move=shown.update)
    for m in moved:
        print(f"{'would move' if args.dry_run else 'moved'} {m['message_id']} (order {m['group']}): {m['reason']}")
    print(f"{len(moved)} message(s) {'to move' if args.dry_run else 'moved back to ' + args.queue}")
    return EXIT_OK


def _waiting(sqs: Any, dlq: str, limit: int) -> int | None:
    """How many messages the run will move at most (for the progress total); None if unknown."""
    try:
        attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return min(limit, int(attrs["Attributes"]["ApproximateNumberOfMessages"]))
    except Exception:  # only the progress total is lost; replay itself reports real errors
        return None


def reindex(ledger: DynamoLedger, *, dry_run: bool, progress: bool | None) -> int:
    with Progress("reindexing the ledger (items read)", enabled=progress) as shown:
        report = ledger.reindex(dry_run=dry_run, on_page=shown.update)
    verb = "would update" if dry_run else "updated"
    retention = f"{ledger.retention_days} days" if ledger.retention_days else "keep for ever"
    print(
        f"{report.read} ledger item(s) read, {report.changed} {verb} (retention: {retention})"
        + (f", {report.raced} written meanwhile by the stack (already up to date)" if report.raced else "")
    )
    return EXIT_OK


def status(ledger: DynamoLedger, args: argparse.Namespace, progress: bool | None) -> int:
    connection: str | None = args.connection
    if args.order_id is not None and connection:
        oid = order_id(args.order_id)
        entry = ledger.get(connection, oid)
        matches = [entry] if entry is not None else []
        asked = f"order id {oid}"
    else:
        number = order_number(args.order)
        with Progress("searching the ledger (items read)", enabled=progress) as shown:
            matches = find_order(ledger, number, connection, on_page=shown.update)
        asked = f"order number {number}"
    where = f" on connection {connection}" if connection else " on any connection"

    if len(matches) == 1:
        print(matches[0].model_dump_json(indent=2) if args.json else describe(matches[0]))
        return EXIT_OK
    if not matches:
        lines = [
            f"no ledger entry for {asked}{where}",
            "hint: check --connection (the <id> of its store's /webhooks/<id> URL) and the number as the channel "
            "shows it (Shopify '#1001', WooCommerce's order number, BigCommerce's order id; --order-id takes the "
            "internal id); an order whose webhook never arrived has no entry until the reconcile poll fetches it, "
            "and one that was refused or stopped shows in `intacct-sync ops parked`",
        ]
        if args.json:
            print("[]")
            print("\n".join(lines), file=sys.stderr)
        else:
            print("\n".join(lines))
        return EXIT_PROBLEMS
    if args.json:
        print(json.dumps([json.loads(e.model_dump_json()) for e in matches], indent=2))
        return EXIT_PROBLEMS
    print(f"{len(matches)} ledger entries match {asked}{where}:")
    for e in sorted(matches, key=lambda e: (e.connection_id, e.order_id)):
        number = f"#{e.order_number}" if e.order_number else "(no number yet)"
        print(f"  --connection {e.connection_id} --order-id {e.order_id}   {number}  {e.channel}  {e.status}")
    print("show one with: intacct-sync ops status --connection <id> --order-id <id>")
    return EXIT_PROBLEMS


if __name__ == "__main__":
    sys.exit(main())
