"""Run the stock push once for one connection, printing the changes (the diff).

    intacct-sync stock push --connection-file shop.json --intacct-file creds.json \\
        [--settings-file settings.json] [--location WH-EAST=70000000001 ...] \\
        [--snapshot-file snap.json | --table STATE_TABLE] [--dry-run] [--region R] [--progress]

Without a snapshot (file or the stack's state table) every figure counts as changed: a real push
then rewrites them all (absolute figures, so harmless), and a dry run shows the full picture.
Exit status: 0 done, 1 refused (the error line names the fix), 2 the push stopped before the end
(the next run resumes) or another error (one line with the fix).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from intacct_sync.channels.api import client_for
from intacct_sync.cli.main import Progress, aws_client, command, common_options, explain, note, progress_enabled
from intacct_sync.cli.webhooks import load_connection
from intacct_sync.errors import ConfigurationError, SyncError
from intacct_sync.intacct import IntacctClient, IntacctCredentials
from intacct_sync.retry import Deadline
from intacct_sync.settings import DEFAULT_SETTINGS, Settings, StockConnection, load_settings_file
from intacct_sync.stock import DynamoSnapshotStore, InMemorySnapshotStore, PushReport, push_connection
from intacct_sync.stock.snapshot import SnapshotStore


class FileSnapshotStore:
    """Snapshot documents in one local JSON file (base64 values): for runs from a laptop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, bytes] = {}
        if path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                self.items = {k: base64.b64decode(v) for k, v in raw.items()}
            except (ValueError, AttributeError) as exc:
                raise ConfigurationError(
                    f"The snapshot file '{path}' is not one this command wrote ({exc}).",
                    fix="Delete it (the next push then writes every figure once) or pass another --snapshot-file.",
                ) from None

    def get(self, keys: Sequence[str]) -> dict[str, bytes]:
        return {k: self.items[k] for k in keys if k in self.items}

    def put(self, items: Mapping[str, bytes]) -> None:
        self.items.update(items)
        data = {k: base64.b64encode(v).decode() for k, v in self.items.items()}
        self.path.write_text(json.dumps(data), encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    common = common_options(aws=True, progress=True)
    parser = argparse.ArgumentParser(
        prog="intacct-sync stock", description=__doc__.split("\n")[0], parents=[common_options()]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    push = sub.add_parser(
        "push",
        help="push changed stock figures to one connection",
        description="Push the stock figures that changed since the last push to one connection.",
        epilog="exit status: 0 done, 1 refused (the fix is printed), 2 stopped before the end (the next run "
        "resumes) or another error",
        parents=[common],
    )
    source = push.add_mutually_exclusive_group(required=True)
    source.add_argument("--connection-file", type=Path, help="JSON file with the connection secret's keys")
    source.add_argument("--secret-id", help="the connection's Secrets Manager secret name or ARN")
    push.add_argument("--intacct-file", type=Path, required=True, help="JSON file with the Intacct credentials")
    push.add_argument("--settings-file", type=Path, help="sync settings JSON (default: the built-in defaults)")
    push.add_argument(
        "--location",
        action="append",
        default=[],
        metavar="WAREHOUSE=LOCATION",
        help="map an Intacct warehouse to a channel location (adds to the settings' map)",
    )
    store = push.add_mutually_exclusive_group()
    store.add_argument("--snapshot-file", type=Path, help="local file holding the last pushed figures")
    store.add_argument("--table", help="the stack's state table (the deployed snapshot)")
    push.add_argument("--dry-run", action="store_true", help="show the changes; write nothing")
    push.add_argument("--timeout", type=float, default=600.0, help="seconds the run may take (default 600)")
    push.add_argument("--max-lines", type=int, default=200, help="changes printed at most (default 200)")
    return parser


def _settings(args: argparse.Namespace, connection_id: str) -> Settings:
    settings = load_settings_file(args.settings_file) if args.settings_file else DEFAULT_SETTINGS
    if not args.location and connection_id in settings.stock.connections:
        return settings
    extra: dict[str, str] = {}
    for pair in args.location:
        warehouse, sep, location = str(pair).partition("=")
        if not sep or not warehouse or not location:
            raise ConfigurationError(f"--location {pair!r} is not WAREHOUSE=LOCATION.", fix="e.g. --location WH-EAST=1")
        extra[warehouse] = location
    current = settings.stock.connections.get(connection_id) or StockConnection()
    merged = current.model_copy(update={"locations": {**current.locations, **extra}})
    stock = settings.stock.model_copy(update={"connections": {**settings.stock.connections, connection_id: merged}})
    return settings.model_copy(update={"stock": stock})


def print_report(report: PushReport, out: TextIO, max_lines: int) -> None:
    verb = "would write" if report.dry_run else "changes"
    print(f"{report.rows_read} on-hand row(s) read, {report.figures} figure(s), {len(report.changes)} {verb}", file=out)
    for change in report.changes[:max_lines]:
        before = "-" if change.previous is None else str(change.previous)
        print(f"  {change.sku:<30} {change.location:<36} {before:>8} -> {change.quantity}", file=out)
    if len(report.changes) > max_lines:
        print(f"  ... and {len(report.changes) - max_lines} more", file=out)
    for key, reason in list(report.rejected.items())[:max_lines]:
        print(f"  refused {key}: {reason}", file=out)
    if report.unknown_in_channel:
        print(
            f"not in the channel ({len(report.unknown_in_channel)}): {', '.join(report.unknown_in_channel[:20])}",
            file=out,
        )
    if report.unknown_in_intacct:
        print(
            f"not in Intacct ({len(report.unknown_in_intacct)}): {', '.join(report.unknown_in_intacct[:20])}", file=out
        )
    summary = {k: v for k, v in report.summary().items() if k in ("written", "batches", "channel_calls", "complete")}
    print(" ".join(f"{k}={v}" for k, v in summary.items()), file=out)
    if report.error:
        print(f"stopped: {report.error}", file=out)


class _Shown:
    """Progress of a push on stderr: Intacct on-hand rows read, then stock rows written."""

    def __init__(self, enabled: bool | None, stream: TextIO) -> None:
        self.reading = Progress("Intacct on-hand rows read", enabled=enabled, stream=stream)
        self.writing = Progress("stock figures sent to the channel", enabled=enabled, stream=stream)
        self.enabled = self.reading.enabled

    def close(self) -> None:
        self.reading.close()
        self.writing.close()


class _CountingReader:
    """The Intacct client, counting the on-hand rows it hands the push."""

    def __init__(self, client: IntacctClient, shown: Progress) -> None:
        self.client, self.shown = client, shown

    def item_totals(self, *, deadline: Deadline, item_id: str | None = None, warehouse_id: str | None = None) -> Any:
        totals = self.client.item_totals(deadline=deadline, item_id=item_id, warehouse_id=warehouse_id)
        self.shown.update(len(totals))
        return totals

    def iter_item_totals(
        self, *, deadline: Deadline, item_id: str | None = None, warehouse_id: str | None = None
    ) -> Iterator[Any]:
        """Streamed as the push reads it (the CLI holds no more of the answer than the function)."""
        for total in self.client.iter_item_totals(deadline=deadline, item_id=item_id, warehouse_id=warehouse_id):
            self.shown.advance()
            yield total

    def iter_query(
        self, obj: str, fields: Sequence[str], *, deadline: Deadline, page_size: int = 1000
    ) -> Iterator[Any]:
        for record in self.client.iter_query(obj, fields, deadline=deadline, page_size=page_size):
            self.shown.advance()
            yield record


class _CountingChannel:
    """The channel client, counting the stock rows written (everything else passes through)."""

    def __init__(self, client: Any, shown: _Shown) -> None:
        self._client, self._shown = client, shown

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def write_stock(self, batch: Sequence[Any], **kwargs: Any) -> Any:
        self._shown.reading.close()
        try:
            return self._client.write_stock(batch, **kwargs)
        finally:
            self._shown.writing.advance(len(batch))


@command
def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    **client_options: Any,
) -> int:
    """Run the command; returns the exit status. `client_options` go to `client_for` (tests)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = _parser().parse_args(argv)
    region: str | None = getattr(args, "region", None)
    shown = _Shown(progress_enabled(args), err)
    try:
        connection = load_connection(args)
        try:
            raw = args.intacct_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot read the Intacct credentials file '{args.intacct_file}' ({exc.strerror}).",
                fix="Pass --intacct-file with a JSON file of the Intacct secret's keys.",
            ) from None
        intacct = IntacctClient(IntacctCredentials.from_secret(raw, source=f"'{args.intacct_file}'"))
        note(table=args.table)
        store: SnapshotStore = (
            DynamoSnapshotStore(args.table, client=aws_client("dynamodb", region))
            if args.table
            else FileSnapshotStore(args.snapshot_file)
            if args.snapshot_file
            else InMemorySnapshotStore()
        )
        print(f"connection {connection.id} ({connection.channel}, store {connection.store})", file=out)
        channel = client_for(connection, **client_options)
        report = push_connection(
            connection,
            _CountingReader(intacct, shown.reading) if shown.enabled else intacct,
            _CountingChannel(channel, shown) if shown.enabled else channel,
            store,
            _settings(args, connection.id),
            deadline=Deadline.after(args.timeout),
            dry_run=args.dry_run,
        )
    except SyncError as exc:
        print(explain(exc).line(), file=err)
        return 1
    finally:
        shown.close()
    print_report(report, out, args.max_lines)
    return 0 if report.complete else 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
