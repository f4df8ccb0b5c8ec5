"""The month-end subcommands of `intacct-sync ops` (issue 14): pause / resume a store's posting,
the connections listing, re-sync of one order, backfill of a date range. `ops.py` parses them and
hands over here.
"""

from __future__ import annotations

import argparse
import getpass
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from intacct_sync.cli.main import EXIT_OK, EXIT_PROBLEMS, Progress, note
from intacct_sync.pause import CACHE_S, Pause, PauseStore, resume


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): the pause still works
        return "-"


def _since(p: Pause) -> str:
    return f"{p.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def pause_lines(store: PauseStore, connection_id: str) -> list[str]:
    """What `ops status` adds about the order's connection: nothing when it is not paused."""
    pause = store.get(connection_id)
    if pause is None:
        return []
    held = store.count_held(connection_id)
    return [
        f"  connection       PAUSED since {_since(pause)} by {pause.by}: {pause.reason}"
        + (" (resuming)" if pause.state == "resuming" else ""),
        f"                   {held} event(s) of this connection held; posting resumes with: "
        f"intacct-sync ops resume --connection {connection_id}",
    ]


def do_pause(store: PauseStore, args: argparse.Namespace) -> int:
    note(table=store.table)
    pause, started = store.pause(args.connection, reason=args.reason or "", by=_who())
    if started:
        print(
            f"connection {args.connection} paused (within {CACHE_S:.0f} s the consumers hold its orders, "
            "payments and refunds in the state table instead of posting them; nothing is lost)"
        )
    else:
        print(f"connection {args.connection} was already paused since {_since(pause)} by {pause.by}: {pause.reason}")
    print(f"resume with: intacct-sync ops resume --connection {args.connection}")
    return EXIT_OK


def do_resume(
    store: PauseStore,
    queue: Any,
    args: argparse.Namespace,
    progress: bool | None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    note(table=store.table)
    held = store.count_held(args.connection)
    pause = store.get(args.connection)
    if pause is None and not held:
        print(f"connection {args.connection} is not paused and holds nothing")
        return EXIT_PROBLEMS
    with Progress("queued again", total=held, enabled=progress) as shown:
        settle = args.settle_seconds if args.settle_seconds is not None else 2 * CACHE_S
        report = resume(store, queue, args.connection, sleep=sleep, settle_s=max(0.0, settle), on_queued=shown.update)
    print(
        f"connection {args.connection} resumed: {report.queued} held event(s) queued again in their order"
        + (f" ({report.swept} held by a consumer meanwhile, taken by the last sweep)" if report.swept else "")
    )
    return EXIT_OK


def do_connections(store: PauseStore, connections: dict[str, str | None] | None, *, as_json: bool) -> int:
    """Every connection (its secret, or only a pause left) with its Intacct entity, pause state
    and held count. `connections`: id -> intacct_entity_id (None: the secrets were not listed)."""
    import json  # noqa: PLC0415

    pauses = {p.connection_id: p for p in store.list_pauses()}
    ids = sorted(set(connections or {}) | set(pauses))
    rows = []
    for cid in ids:
        p = pauses.get(cid)
        held = store.count_held(cid)
        rows.append(
            {
                "connection": cid,
                "state": p.state if p else "posting",
                "since": p.since.isoformat() if p else None,
                "by": p.by if p else None,
                "reason": p.reason if p else None,
                "held": held,
                "secret": connections is None or cid in connections,
                "entity": (connections or {}).get(cid),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for r in rows:
        line = f"{r['connection']:<24} {r['state']:<9} held {r['held']:<6} entity {r['entity'] or '(default)'}"
        if r["state"] != "posting":
            line += f"  since {str(r['since'])[:16]} by {r['by']}: {r['reason']}"
        if not r["secret"]:
            line += "  (no connection secret)"
        print(line)
    paused = sum(r["state"] != "posting" for r in rows)
    print(f"{len(rows)} connection(s), {paused} paused")
    return EXIT_OK


def now_utc() -> datetime:
    return datetime.now(UTC)


def pipeline_for(table: str, dynamodb: Any, queue: Any) -> Any:
    from intacct_sync.intake.pipeline import EventPipeline  # noqa: PLC0415
    from intacct_sync.state import DynamoStateStore  # noqa: PLC0415

    return EventPipeline(DynamoStateStore(table, client=dynamodb), queue)


def _order_id_of(connection: Any, ledger: Any, args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The channel's order id for `--order NUMBER` (the ledger's entry) or `--order-id`."""
    from intacct_sync.cli.ops import find_order, order_id, order_number  # noqa: PLC0415

    if args.order_id:
        return order_id(args.order_id)
    number = order_number(args.order)
    found = find_order(ledger, number, connection.id)
    if len(found) == 1:
        return str(found[0].order_id)
    if len(found) > 1:
        parser.error(f"several orders carry number {number} on {connection.id}: give --order-id")
    if connection.channel == "shopify":
        parser.error(
            f"no ledger entry for order number {number} on {connection.id}: a Shopify order's number is not its id; "
            "give --order-id (the number in the order's admin URL)"
        )
    return number  # WooCommerce and BigCommerce: the number is the id unless a plugin renumbers


def do_resync(
    connection: Any, pipeline: Any, ledger: Any, args: argparse.Namespace, parser: argparse.ArgumentParser
) -> int:
    from intacct_sync.channels.api import client_for  # noqa: PLC0415
    from intacct_sync.channels.api.errors import ChannelNotFound  # noqa: PLC0415
    from intacct_sync.intake.resync import resync_order  # noqa: PLC0415
    from intacct_sync.retry import Deadline  # noqa: PLC0415

    oid = _order_id_of(connection, ledger, args, parser)
    try:
        result = resync_order(client_for(connection), pipeline, oid, deadline=Deadline.after(300))
    except ChannelNotFound:
        print(f"the channel has no order {oid} on connection {connection.id}")
        print("hint: give the number finance sees with --order, or the channel's id with --order-id")
        return EXIT_PROBLEMS
    kinds: dict[str, int] = {}
    for e in result.events:
        kinds[e.type] = kinds.get(e.type, 0) + 1
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "nothing"
    print(
        f"order {oid} on {connection.id}: fetched {what}; {result.new} new event(s) and "
        f"{result.again} known one(s) queued again (the consumers post what is missing, skip what is there)"
    )
    print(f"follow it with: intacct-sync ops status --connection {connection.id} --order-id {oid}")
    return EXIT_OK if result.events else EXIT_PROBLEMS


def do_backfill(
    connection: Any, pipeline: Any, table: str, dynamodb: Any, args: argparse.Namespace, *, progress: bool | None
) -> int:
    from intacct_sync.channels.api import client_for  # noqa: PLC0415
    from intacct_sync.intake.resync import Checkpoint, CheckpointStore, backfill, parse_day  # noqa: PLC0415
    from intacct_sync.retry import Deadline  # noqa: PLC0415

    since = parse_day(args.since)
    until = parse_day(args.until) if args.until else now_utc()
    if until <= since:
        print(f"error: --until ({until:%Y-%m-%d %H:%M}) is not after --since ({since:%Y-%m-%d %H:%M})")
        return EXIT_PROBLEMS
    checkpoints = CheckpointStore(table, client=dynamodb)
    saved = None if args.restart else checkpoints.get(connection.id)
    if saved is not None and saved.since == since and saved.until == until and not saved.finished:
        reached = f"{saved.done_through:%Y-%m-%d %H:%M}" if saved.done_through else "the start"
        print(f"continuing the interrupted backfill of {connection.id} from changes at {reached} UTC")
    with Progress(f"backfill {connection.id}: orders listed", enabled=progress) as shown:

        def on_batch(cp: Checkpoint) -> None:
            if cp.done_through is not None:
                shown.label = f"backfill {connection.id} (changes up to {cp.done_through:%Y-%m-%d}): orders listed"
            shown.update(cp.seen)

        cp = backfill(
            client_for(connection),
            pipeline,
            checkpoints,
            connection.id,
            since=since,
            until=until,
            deadline=Deadline.after(7 * 86_400),
            restart=args.restart,
            on_batch=on_batch,
        )
    print(
        f"backfill of {connection.id} from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC done: "
        f"{cp.seen} order(s) listed, {cp.queued} event(s) queued (the rest were queued before: duplicates dropped)"
    )
    print("follow the posting with: intacct-sync ops parked")
    return EXIT_OK
