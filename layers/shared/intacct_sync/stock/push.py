"""One stock push of one connection: Intacct on-hand -> changed figures -> channel writes.

Resume rule: the snapshot records a figure only once the channel accepted it, and the changes are
written in a stable order; a run that runs out of time stops between batches, saves, and the next
run finds only the rest still different. Every write is an absolute figure, so a batch whose
answer was lost (and whose snapshot was therefore not saved) is harmless to send again.

The SKU -> channel id map is crawled from the channel and cached in the snapshot store; the crawl
saves its cursor as it goes, so a catalogue too large for one run is finished by the next ones
(while the previous map, if any, keeps serving).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from intacct_sync import logs
from intacct_sync.channels.api.errors import ChannelRequestError, ChannelTransientError
from intacct_sync.channels.api.port import DEFAULT_LOCATION, ChannelClient, StockRow, StockWriteOptions
from intacct_sync.connections import ConnectionStore
from intacct_sync.errors import ConfigurationError, SyncError
from intacct_sync.intacct_gate import SKIP_FIX, IntacctCheck, RunGate
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings, StockConnection
from intacct_sync.stock.model import OnHand, PushReport, StockChange, diff, publishable
from intacct_sync.stock.snapshot import SnapshotStore, StockState, load_state, save_state, shard_of
from intacct_sync.stock.source import OnHandReader, read_on_hand

log = logging.getLogger(__name__)

RESERVE_S: Final = 3.0
"""No new channel request starts with less than this left: time to save the snapshot."""
SAVE_EVERY: Final = 25
"""Save the snapshot every this many batches (a hard kill loses at most that much memory)."""
_SAMPLE: Final = 50


def _calls(client: ChannelClient) -> int:
    http = getattr(client, "http", None)
    return int(getattr(http, "requests_sent", 0))


def location_map(connection: Connection, cfg: StockConnection, client: ChannelClient) -> dict[str, str] | None:
    """Warehouse -> channel location key; None: every warehouse to the one default location."""
    if not cfg.locations:
        if connection.channel == "woocommerce":
            return None
        raise ConfigurationError(
            f"stock.connections.{connection.id}.locations is empty.",
            fix="Map each Intacct WAREHOUSEID to a channel location id, e.g. "
            '{"WH-EAST": "70000000001"} (docs/settings.md, stock).',
        )
    try:
        return {warehouse: client.stock_location_key(loc) for warehouse, loc in cfg.locations.items()}
    except ConfigurationError as exc:
        raise ConfigurationError(f"stock.connections.{connection.id}.locations: {exc.message}", fix=exc.fix) from None


def _crawl(
    state: StockState, client: ChannelClient, report: PushReport, *, deadline: Deadline, now: datetime, every_h: int
) -> None:
    """Refresh the SKU map when it is stale, page by page, checkpointing the cursor."""
    resolved_at = state.meta.get("resolved_at")
    stale = resolved_at is None or now - datetime.fromisoformat(resolved_at) >= timedelta(hours=every_h)
    if not (stale or state.meta.get("crawling")):
        return
    if not state.meta.get("crawling"):
        state.start_crawl()
        state.meta.update(crawling=True, cursor=None, listed=False)
    cursor: str | None = state.meta.get("cursor")
    # `listed`: every page was read (only the locations are left): a run that fails on the
    # locations, a channel outage say, does not make the next one crawl the catalogue again.
    while not state.meta.get("listed"):
        if deadline.remaining() < RESERVE_S:
            report.crawl_pending = True
            report.complete = False
            return
        page, cursor = client.crawl_stock_targets(cursor, deadline=deadline)
        state.add_crawled(page)
        state.meta.update(cursor=cursor, listed=cursor is None)
    state.meta["locations"] = client.stock_locations(deadline=deadline)
    state.finish_crawl()
    for key in state.meta.pop("refused", {}):
        sku, _, location = key.partition("@")
        state.forget_pushed(sku, location)
    state.meta.pop("listed", None)
    state.meta.update(crawling=False, cursor=None, resolved_at=now.isoformat())


def _counted(rows: Iterable[OnHand], report: PushReport) -> Iterator[OnHand]:
    for row in rows:
        report.rows_read += 1
        yield row


def push_connection(
    connection: Connection,
    intacct_client: OnHandReader,
    channel_client: ChannelClient,
    snapshot_store: SnapshotStore,
    settings: Settings,
    *,
    deadline: Deadline,
    dry_run: bool = False,
    now: datetime | None = None,
    run_id: str | None = None,
) -> PushReport:
    """Push the stock figures that changed since the last push to one connection.

    Returns what was found and done; channel refusals and unknown SKUs are in the report, not
    raised. Raises ConfigurationError (settings, credentials) and IntacctError / transient
    errors from reading Intacct. `dry_run` reads everything, writes nothing, saves nothing.
    """
    stock = settings.stock
    now = now or datetime.now(UTC)
    report = PushReport(connection.id, dry_run=dry_run)
    cfg = stock.connections.get(connection.id)
    if cfg is None or not cfg.enabled:
        report.error = "not configured for the stock push (settings stock.connections)"
        return report
    locations = location_map(connection, cfg, channel_client)
    calls_before = _calls(channel_client)
    state = load_state(snapshot_store, connection.id)
    try:
        # The on-hand rows stream in (read and parsed as they arrive) and are summed as they come:
        # only the figures are kept. Every row is read before anything is written, so an answer
        # cut off part-way raises here and the channel sees nothing from this run.
        wanted = publishable(
            _counted(read_on_hand(intacct_client, stock.source, deadline=deadline), report),
            locations=locations,
            default_location=DEFAULT_LOCATION,
            buffer=cfg.safety_buffer if cfg.safety_buffer is not None else stock.safety_buffer,
            subtract_on_hold=stock.subtract_on_hold,
            sku_for=stock.sku_for,
            wants=stock.wants,
        )
        report.figures = len(wanted)
        _crawl(state, channel_client, report, deadline=deadline, now=now, every_h=stock.resolve_every_hours)
        if not state.has_targets():
            return report  # the first crawl has not finished yet
        known_locations: Mapping[str, Any] = state.meta.get("locations") or {}
        if stock.skus == "all":
            wanted_skus = {sku for sku, _ in wanted}
            report.unknown_in_intacct = sorted(sku for sku in state.target_skus() if sku not in wanted_skus)
            del wanted_skus
        # What can be published: in place (no second dict of the catalogue's size), one map
        # lookup per figure.
        unknown: set[str] = set()
        unpublishable = []
        for key in wanted:
            sku, location = key
            if not state.targets_of(sku):
                unknown.add(sku)
                unpublishable.append(key)
            elif known_locations and location not in known_locations:
                report.rejected[f"{sku}@{location}"] = "no such channel location (check stock.connections.locations)"
                unpublishable.append(key)
        report.unknown_in_channel = sorted(unknown)
        del unknown
        for key in unpublishable:
            del wanted[key]
        del unpublishable
        report.changes = diff(wanted, state.last_pushed())
        del wanted
        if dry_run or not report.changes:
            return report
        options = stock_options(settings, run_id or now.isoformat())
        _write(state, channel_client, snapshot_store, report, options=options, deadline=deadline)
        return report
    finally:
        report.channel_calls = _calls(channel_client) - calls_before
        if not dry_run:
            save_state(snapshot_store, state)
        log.info("stock push", extra=report.summary())


def stock_options(settings: Settings, run_id: str) -> StockWriteOptions:
    shopify = settings.stock.shopify
    return StockWriteOptions(
        shopify_quantity_name=shopify.quantity_name,
        shopify_reason=shopify.reason,
        shopify_reference_uri=shopify.reference_uri,
        run_id=run_id,
    )


def _shard_of_change(change: StockChange) -> int:
    return shard_of(change.sku)


def _write(
    state: StockState,
    client: ChannelClient,
    store: SnapshotStore,
    report: PushReport,
    *,
    options: StockWriteOptions,
    deadline: Deadline,
) -> None:
    # Written shard by shard (SKU order within a shard): a periodic save then rewrites only the
    # few shards written since the previous one, so the saves of a first run cost O(catalogue).
    rows = [
        StockRow(change.sku, change.location, change.quantity, target)
        for change in sorted(report.changes, key=_shard_of_change)
        for target in state.targets_of(change.sku)
    ]
    for number, batch in enumerate(client.stock_batches(rows), start=1):
        if deadline.remaining() < RESERVE_S:
            report.complete = False
            return
        try:
            rejected = client.write_stock(batch, options=options, deadline=deadline)
        except ChannelTransientError as exc:
            # Rate-limited past the deadline or the channel is down: stop; the next run resumes.
            report.complete = False
            report.error = exc.message
            return
        except ChannelRequestError as exc:
            for row in batch:
                report.rejected[f"{row.sku}@{row.location}"] = exc.message
            continue
        report.batches += 1
        refused = {(r.row.sku, r.row.location) for r in rejected}
        for row in batch:
            if (row.sku, row.location) not in refused:
                state.record_pushed(row.sku, row.location, row.quantity)
                report.written += 1
        refused_before = state.meta.setdefault("refused", {})
        for r in rejected:
            # Remembered as if written, so the same refusal is not repeated every run; the next
            # catalogue crawl forgets it (the item may be stocked there by then).
            state.record_pushed(r.row.sku, r.row.location, r.row.quantity)
            refused_before[f"{r.row.sku}@{r.row.location}"] = r.reason
            report.rejected[f"{r.row.sku}@{r.row.location}"] = r.reason
        if number % SAVE_EVERY == 0:
            # The shard still being written stays dirty until a later save: each shard is then
            # encoded once as it fills (per location group), not again by every save its rows
            # straddle (a first run of 200,000 SKUs encoded half its shards twice).
            save_state(store, state, hold=(("pushed", shard_of(batch[-1].sku)),))


def push_all(
    connections: ConnectionStore,
    intacct_client: OnHandReader,
    snapshot_store: SnapshotStore,
    settings: Settings,
    *,
    deadline: Deadline,
    client_factory: Callable[[Connection], ChannelClient],
    intacct_check: IntacctCheck | None = None,
    now: datetime | None = None,
) -> dict[str, dict[str, object]]:
    """The scheduled run: every connection listed in `stock.connections`, one after the other,
    each until the deadline. A failing connection is reported and the others still run.

    `intacct_check` (the stack's circuit breaker, `intacct_gate.breaker_check`): while it says
    Intacct is down, a connection is skipped before it reads Intacct (logged, `skipped` in the
    summary; the next scheduled run pushes). An Intacct failure of one connection skips the
    connections after it in the same run."""
    summary: dict[str, dict[str, object]] = {}
    gate = RunGate(intacct_check)
    for connection_id, cfg in settings.stock.connections.items():
        if not cfg.enabled:
            continue
        if deadline.remaining() < 2 * RESERVE_S:
            summary[connection_id] = {"complete": False, "error": "out of time: next run"}
            continue
        with logs.context(connection_id=connection_id):
            reason = gate.closed_reason()
            if reason is not None:
                log.warning(
                    "stock push skipped: Intacct unavailable",
                    extra={"outcome": "skipped", "reason": reason, "fix": SKIP_FIX},
                )
                summary[connection_id] = {"complete": False, "skipped": reason}
                continue
            try:
                connection = connections.get(connection_id)
                if connection is None:
                    raise ConfigurationError(
                        f"stock.connections names {connection_id!r} but there is no connection secret of that id",
                        fix="Create the connection secret (Channel setup in the README) or remove the connection "
                        "from the settings' stock.connections.",
                    )
                report = push_connection(
                    connection,
                    intacct_client,
                    client_factory(connection),
                    snapshot_store,
                    settings,
                    deadline=deadline,
                    now=now,
                )
            except SyncError as exc:
                gate.failed(exc)
                log.error("stock push failed", extra={"outcome": "failed", "reason": exc.message, "fix": exc.fix})
                summary[connection_id] = {"complete": False, "error": exc.message, "fix": exc.fix}
                continue
        summary[connection_id] = report.summary()
    return summary
