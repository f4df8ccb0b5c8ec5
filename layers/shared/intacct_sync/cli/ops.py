"""Operator CLI: an order's sync state, the parked list, and replay of parked messages.

    intacct-sync ops status --stack NAME --connection shopify-main --order '#1001'
    intacct-sync ops status --stack NAME --connection shopify-main --order-id 450789469
    intacct-sync ops parked --stack NAME
    intacct-sync ops replay --stack NAME --queue orders [--max 100] [--dry-run]
    intacct-sync ops reindex --stack NAME --retention-days DAYS [--dry-run]
    intacct-sync ops pause --stack NAME --connection acme [--reason TEXT]     (month end: `cli.month_end`)
    intacct-sync ops resume --stack NAME --connection acme
    intacct-sync ops connections --stack NAME [--json]
    intacct-sync ops resync --stack NAME --connection acme --order '#1001'
    intacct-sync ops backfill --stack NAME --connection acme --since 2026-11-01 [--until 2026-12-01]
    intacct-sync ops replay --stack NAME --queue orders --connection acme --order '#1001' | --message-id ID

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
import time
from collections.abc import Callable, Sequence
from typing import Any

from intacct_sync.cli import payouts as payouts_cli
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
    match: Callable[[dict[str, str]], bool] | None = None,
) -> list[dict[str, str]]:
    """Move up to `limit` parked messages back to their queue, in order; returns what moved.
    A dry run lists them (FIFO: the first parked message of each order) and makes them visible
    again at once, so a replay can follow right away.
    `on_move` gets the running count (progress). `match` (message_id, source_message_id, group,
    reason) picks the messages to move; the others are left in place, visible again at the end."""
    moved: list[dict[str, str]] = []
    seen: list[str] = []  # receipt handles handed back: a dry run's, and those `match` leaves
    try:
        _move(
            sqs,
            dlq_url,
            queue_url,
            limit=limit,
            dry_run=dry_run,
            on_move=on_move,
            moved=moved,
            seen=seen,
            match=match,
        )
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
    match: Callable[[dict[str, str]], bool] | None = None,
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
                "source_message_id": attrs.get("source_message_id", {}).get("StringValue", ""),
            }
            if match is not None and not match(info):
                seen.append(m["ReceiptHandle"])
                continue
            if len(moved) >= limit:
                seen.append(m["ReceiptHandle"])
                continue
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
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="{status,parked,replay,reindex,pause,resume,connections,resync,backfill,payouts}",
    )
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
    rp.add_argument("--connection", help="with --order: the order's connection id")
    one = rp.add_mutually_exclusive_group()
    one.add_argument(
        "--order",
        metavar="NUMBER",
        help="only this order's parked messages (number finance sees; needs --connection)",
    )
    one.add_argument("--order-id", metavar="ID", help="only this order's parked messages, by the channel's order id")
    one.add_argument("--message-id", metavar="ID", help="only this parked message (as `ops replay --dry-run` lists it)")
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
    _month_end_parsers(sub, shared)
    payouts_cli.add_parser(sub, shared)
    return parser


def _month_end_parsers(sub: Any, shared: list[argparse.ArgumentParser]) -> None:
    """pause, resume, connections, resync, backfill (issue 14; carried out in `cli.month_end`)."""
    pa = sub.add_parser(
        "pause",
        help="stop posting one store's orders and payments; they are held, never lost",
        parents=shared,
        description="Pause posting for one connection: its events are held in the state table until resumed.",
    )
    pa.add_argument("--connection", required=True, help="connection id (the /webhooks/<id> of its store)")
    pa.add_argument("--reason", default="", help="why (shown by ops status, ops connections and doctor)")
    re_ = sub.add_parser(
        "resume",
        help="post a paused store again: its held events are queued again, in order",
        parents=shared,
        description="Resume posting for one connection: queue its held events again, in order, and lift the pause.",
    )
    re_.add_argument("--connection", required=True, help="connection id")
    re_.add_argument(
        "--settle-seconds",
        type=float,
        default=None,
        metavar="S",
        help="wait before the last sweep for events a consumer held meanwhile (default: twice the consumers' "
        "10-second pause cache)",
    )
    _queue_options(re_)
    co = sub.add_parser(
        "connections",
        help="every connection with its pause state and held events",
        parents=shared,
        description="List the connections (their secrets) with pause state and the number of events held.",
    )
    co.add_argument("--json", action="store_true")
    rs = sub.add_parser(
        "resync",
        help="fetch one order's current state from the channel and post whatever is missing",
        parents=shared,
        description=(
            "Fetch one order (with its payments and refunds) from the channel API and queue all of it again; "
            "the consumers post what is missing in Intacct and skip what is there."
        ),
    )
    rs.add_argument("--connection", required=True, help="connection id (the /webhooks/<id> of its store)")
    which_rs = rs.add_mutually_exclusive_group(required=True)
    which_rs.add_argument("--order", metavar="NUMBER", help="the order number finance sees (found in the ledger)")
    which_rs.add_argument("--order-id", metavar="ID", help="the channel's internal order id")
    _queue_options(rs)
    bf = sub.add_parser(
        "backfill",
        help="queue the orders placed in a date range (historic orders), resumable",
        parents=shared,
        description=(
            "Queue the orders placed from --since up to --until (their current state, with payments and refunds) "
            "through the same pipeline as webhooks: duplicates dropped, resumable after an interruption."
        ),
    )
    bf.add_argument("--connection", required=True, help="connection id")
    bf.add_argument("--since", required=True, metavar="DATE", help="first day (YYYY-MM-DD, UTC) or an ISO-8601 time")
    bf.add_argument("--until", metavar="DATE", help="day after the last (exclusive; default: now)")
    bf.add_argument("--restart", action="store_true", help="ignore the saved checkpoint of an interrupted run")
    _queue_options(bf)


def _queue_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orders-queue-url", help="orders queue (OrdersQueueUrl output; env ORDERS_QUEUE_URL)")
    p.add_argument("--payments-queue-url", help="payments queue (PaymentsQueueUrl output; env PAYMENTS_QUEUE_URL)")
    p.add_argument(
        "--bucket", help="claim-check bucket for large messages (ClaimCheckBucketName output; env CLAIM_CHECK_BUCKET)"
    )


def _retention_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if days != 0 and days < MIN_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(f"give 0 (keep for ever) or at least {MIN_RETENTION_DAYS} days, not {days}")
    return days


@command
def main(
    argv: Sequence[str] | None = None,
    *,
    clients: dict[str, Any] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """`sleep`: stands in for time.sleep where a command waits (tests)."""
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

    if args.command in MONTH_END:
        return _month_end(parser, args, outputs, client, progress=progress, sleep=sleep)
    if args.command == "payouts":
        return payouts_cli.run(parser, args, outputs, client)

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
    match = _replay_match(parser, args, outputs, client)
    sqs = client("sqs")
    with Progress("moved" if not args.dry_run else "listed", enabled=progress) as shown:
        if shown.enabled and match is None:
            shown.update(0, _waiting(sqs, dlq, args.max))
        moved = replay(sqs, dlq, target, limit=args.max, dry_run=args.dry_run, on_move=shown.update, match=match)
    for m in moved:
        print(f"{'would move' if args.dry_run else 'moved'} {m['message_id']} (order {m['group']}): {m['reason']}")
    print(f"{len(moved)} message(s) {'to move' if args.dry_run else 'moved back to ' + args.queue}")
    return EXIT_OK


MONTH_END = ("pause", "resume", "connections", "resync", "backfill")


def _month_end(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    outputs: dict[str, str],
    client: Callable[[str], Any],
    *,
    progress: bool | None,
    sleep: Callable[[float], None] | None,
) -> int:
    from intacct_sync.cli import month_end  # noqa: PLC0415
    from intacct_sync.pause import PauseStore  # noqa: PLC0415

    table = getattr(args, "table", None) or outputs.get("StateTableName")
    if not table:
        parser.error("give --stack or --table (or set STATE_TABLE)")
    note(table=table)
    store = PauseStore(table, client=client("dynamodb"))
    if args.command == "pause":
        return month_end.do_pause(store, args)
    if args.command == "connections":
        prefix = outputs.get("ConnectionSecretPrefix")
        found = _connections(prefix, client) if prefix else None
        return month_end.do_connections(store, found, as_json=args.json)
    queue = _event_queue(parser, args, outputs, client)
    if args.command == "resume":
        return month_end.do_resume(store, queue, args, progress, sleep=sleep or time.sleep)
    connection = _connection(args.connection, outputs, client)
    pipeline = month_end.pipeline_for(table, client("dynamodb"), queue)
    paused = store.get(args.connection)
    if paused is not None:
        print(
            f"note: connection {args.connection} is paused ({paused.reason}); what is queued now is held "
            f"until: intacct-sync ops resume --connection {args.connection}"
        )
    if args.command == "resync":
        ledger = DynamoLedger(table, client=client("dynamodb"))
        return month_end.do_resync(connection, pipeline, ledger, args, parser)
    return month_end.do_backfill(connection, pipeline, table, client("dynamodb"), args, progress=progress)


def _connection(connection_id: str, outputs: dict[str, str], client: Callable[[str], Any]) -> Any:
    from intacct_sync.connections import SecretsManagerConnections  # noqa: PLC0415
    from intacct_sync.errors import ConfigurationError  # noqa: PLC0415

    prefix = outputs.get("ConnectionSecretPrefix")
    if not prefix:
        raise ConfigurationError(
            "no connection secret prefix known",
            fix="give --stack, or set CONNECTION_SECRET_PREFIX (the stack's ConnectionSecretPrefix output)",
        )
    note(secret=prefix + connection_id)
    found = SecretsManagerConnections(prefix, client=client("secretsmanager"), ttl_s=0, miss_ttl_s=0).get(connection_id)
    if found is None:
        raise ConfigurationError(
            f"no connection '{connection_id}' (no secret {prefix}{connection_id})",
            fix="check --connection against `intacct-sync ops connections` (README 'Channel setup')",
        )
    return found


def _connections(prefix: str, client: Callable[[str], Any]) -> dict[str, str | None]:
    """Each connection id (its secret) with its `intacct_entity_id` ('?' when the secret is invalid)."""
    from intacct_sync.connections import SecretsManagerConnections  # noqa: PLC0415
    from intacct_sync.errors import ConfigurationError  # noqa: PLC0415

    note(secret=prefix + "*")
    store = SecretsManagerConnections(prefix, client=client("secretsmanager"), ttl_s=0, miss_ttl_s=0)
    out: dict[str, str | None] = {}
    for cid in store.list_ids():
        try:
            found = store.get(cid)
        except ConfigurationError:
            out[cid] = "?"
            continue
        out[cid] = found.intacct_entity_id if found is not None else None
    return out


def _event_queue(
    parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str], client: Callable[[str], Any]
) -> Any:
    from intacct_sync.queues import SqsEventQueue  # noqa: PLC0415

    orders = args.orders_queue_url or outputs.get("OrdersQueueUrl")
    payments = args.payments_queue_url or outputs.get("PaymentsQueueUrl")
    bucket = args.bucket or outputs.get("ClaimCheckBucketName") or ""
    if not orders or not payments:
        parser.error(
            "give --stack, or --orders-queue-url and --payments-queue-url "
            "(or set ORDERS_QUEUE_URL and PAYMENTS_QUEUE_URL)"
        )
    note(queue=orders)
    return SqsEventQueue(orders_url=orders, payments_url=payments, bucket=bucket, sqs=client("sqs"), s3=client("s3"))


def _replay_match(
    parser: argparse.ArgumentParser, args: argparse.Namespace, outputs: dict[str, str], client: Callable[[str], Any]
) -> Callable[[dict[str, str]], bool] | None:
    """`--order` / `--order-id` / `--message-id` as a filter on parked messages (None: all)."""
    if args.message_id:
        wanted = args.message_id.strip()
        return lambda info: wanted in (info["message_id"], info["source_message_id"])
    if not (args.order or args.order_id):
        return None
    if not args.connection:
        parser.error("--order and --order-id need --connection")
    oid = order_id(args.order_id) if args.order_id else None
    if oid is None:
        number = order_number(args.order)
        table = getattr(args, "table", None) or outputs.get("StateTableName")
        found = find_order(DynamoLedger(table, client=client("dynamodb")), number, args.connection) if table else []
        if len(found) > 1:
            parser.error(f"several orders carry number {number}: give --order-id")
        oid = found[0].order_id if found else number  # not in the ledger: the number is taken as the id
    group = f"{args.connection}:{oid}"
    return lambda info: info["group"] == group


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
        if not args.json:  # a paused connection (issue 14): why this order does not move
            from intacct_sync.cli.month_end import pause_lines  # noqa: PLC0415
            from intacct_sync.pause import PauseStore  # noqa: PLC0415

            for text in pause_lines(PauseStore(ledger.table, client=ledger.client), matches[0].connection_id):
                print(text)
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
