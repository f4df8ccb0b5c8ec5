"""One writeback run of one connection.

1. Every ledger entry of the connection with an invoice and no document number written back yet
   gets it on the channel order (Shopify tag and/or metafield, WooCommerce meta + private note,
   BigCommerce staff note). Those entries are read from the ledger's sparse index of pending
   writeback work, a page at a time: never the rest of the ledger.
2. Intacct is polled for AR invoices modified since the watermark and fully paid (`ARINVOICE`
   `WHENMODIFIED > watermark - overlap AND TOTALDUE = 0`); each one the ledger knows, whose
   channel order is not paid on the channel's side (ledger status not `paid`), is marked paid.
   The ledger is asked for those invoices only, by their AR record keys (the same index).

Each step is recorded in the ledger entry (`writeback`) right after the channel accepted it, so
it is never done twice; a crash between the channel write and the ledger write repeats it once,
which is harmless for tags, meta, staff notes and paid status (a WooCommerce order note would be
added twice: the only visible effect).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from intacct_sync import logs
from intacct_sync.channels.api.errors import ChannelRequestError
from intacct_sync.channels.api.port import ChannelClient, WritebackOptions
from intacct_sync.connections import ConnectionStore
from intacct_sync.errors import SyncError, TransientError
from intacct_sync.intacct import Record
from intacct_sync.intacct import query as q
from intacct_sync.intacct_gate import SKIP_FIX, IntacctCheck, RunGate
from intacct_sync.ledger import LedgerConflict, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings
from intacct_sync.state import StateStore

log = logging.getLogger(__name__)

OVERLAP: Final = timedelta(hours=1)
"""The paid poll looks this far behind its watermark (clock differences with Intacct)."""
RESERVE_S: Final = 3.0
_PAID_FIELDS: Final = ("RECORDNO", "RECORDID", "TOTALDUE", "WHENMODIFIED")


class WritebackLedger(Protocol):
    """What the writeback reads and writes: only the entries it has work for (`ledger.py`)."""

    def documents_to_write_back(self, connection_id: str) -> Iterator[list[LedgerEntry]]:
        """Pages of the connection's entries whose document number is to be written back."""
        ...

    def awaiting_paid_writeback(
        self, connection_id: str, ar_record_keys: Iterable[str]
    ) -> Iterator[LedgerEntry | None]:
        """Per AR record key in turn, the connection's entry awaiting its paid state, or None."""
        ...

    def put(self, entry: LedgerEntry) -> None: ...


class InvoiceReader(Protocol):
    """The part of `IntacctClient` the writeback uses."""

    def iter_query(
        self, obj: str, fields: Sequence[str], *, deadline: Deadline, filter: q.Filter | None = None
    ) -> Iterator[Record]: ...


@dataclass
class WritebackReport:
    connection_id: str
    documents_written: list[str] = field(default_factory=list)
    """Channel order ids that got their document number in this run."""
    marked_paid: list[str] = field(default_factory=list)
    paid_invoices_seen: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    complete: bool = True
    paid_skipped: str | None = None
    """Why the paid poll (the Intacct part) was skipped this run: Intacct unavailable."""

    def summary(self) -> dict[str, object]:
        return {
            "connection": self.connection_id,
            "documents_written": len(self.documents_written),
            "marked_paid": len(self.marked_paid),
            "paid_invoices_seen": self.paid_invoices_seen,
            "failed": len(self.failed),
            "complete": self.complete,
            "paid_skipped": self.paid_skipped,
        }


def document_number(entry: LedgerEntry, settings: Settings) -> str | None:
    """The number a finance user sees ("INV0042"), from the document key "Sales Invoice-INV0042"."""
    key = entry.document_key
    if not key:
        return None
    for definition in (settings.invoice.transaction_definition, "Sales Invoice", "Sales Order"):
        if key.startswith(f"{definition}-"):
            return key[len(definition) + 1 :]
    return key


def writeback_options(settings: Settings) -> WritebackOptions:
    wb = settings.writeback
    return WritebackOptions(
        shopify_tag_prefix=wb.shopify_tag_prefix,
        shopify_metafield=(wb.shopify_metafield.namespace, wb.shopify_metafield.key) if wb.shopify_metafield else None,
        woocommerce_meta_key=wb.woocommerce_meta_key,
        woocommerce_note=wb.woocommerce_note,
        bigcommerce_staff_note=wb.bigcommerce_staff_note,
        woocommerce_paid_status=wb.woocommerce_paid_status,
        bigcommerce_paid_status_id=wb.bigcommerce_paid_status_id,
    )


def _watermark_id(connection_id: str) -> str:
    return f"{connection_id}#writeback-paid"


def writeback_connection(
    connection: Connection,
    intacct_client: InvoiceReader,
    channel_client: ChannelClient,
    ledger: WritebackLedger,
    state: StateStore,
    *,
    settings: Settings,
    deadline: Deadline,
    now: datetime | None = None,
    intacct_check: IntacctCheck | None = None,
) -> WritebackReport:
    """Write document numbers and paid states back to one connection's orders (see module doc).

    A channel refusal for one order is recorded in the report and the ledger history, and the
    run goes on; a transient failure propagates (the next run continues where this one stopped).
    While `intacct_check` says Intacct is down, the paid poll is skipped (its watermark stays)."""
    now = now or datetime.now(UTC)
    report = WritebackReport(connection.id)
    options = writeback_options(settings)
    try:
        done = _documents(
            connection=connection,
            channel_client=channel_client,
            ledger=ledger,
            report=report,
            options=options,
            settings=settings,
            deadline=deadline,
            now=now,
        )
        if not done:
            return report
        skipped = intacct_check() if settings.writeback.mark_paid and intacct_check is not None else None
        if skipped is not None:
            report.paid_skipped = skipped
            report.complete = False
            log.warning(
                "writeback paid poll skipped: Intacct unavailable",
                extra={"outcome": "skipped", "reason": skipped, "fix": SKIP_FIX},
            )
        elif settings.writeback.mark_paid:
            lookback = timedelta(days=settings.writeback.lookback_days)
            _paid(
                connection=connection,
                intacct=intacct_client,
                channel=channel_client,
                ledger=ledger,
                state=state,
                report=report,
                options=options,
                deadline=deadline,
                now=now,
                lookback=lookback,
            )
    finally:
        log.info("writeback", extra=report.summary())
    return report


def _documents(
    *,
    connection: Connection,
    channel_client: ChannelClient,
    ledger: WritebackLedger,
    report: WritebackReport,
    options: WritebackOptions,
    settings: Settings,
    deadline: Deadline,
    now: datetime,
) -> bool:
    """Step 1 over the pending entries, page by page; False when the time ran out (the entries
    not reached stay pending: the next run starts with them)."""
    for page in ledger.documents_to_write_back(connection.id):
        for entry in page:
            if deadline.remaining() < RESERVE_S:
                report.complete = False
                return False
            number = document_number(entry, settings) or ""

            def write_number(e: LedgerEntry = entry, n: str = number) -> None:
                channel_client.write_document_number(e.order_id, n, options=options, deadline=deadline)
                e.writeback.document_number = n
                e.writeback.document_written_at = now

            if _apply(entry, report, ledger, "document number", write_number):
                report.documents_written.append(entry.order_id)
    return True


def _apply(
    entry: LedgerEntry, report: WritebackReport, ledger: WritebackLedger, what: str, step: Callable[[], None]
) -> bool:
    """Run one channel write and record it in the ledger; True when both succeeded."""
    try:
        step()
    except ChannelRequestError as exc:
        written = False
        report.failed[entry.order_id] = f"{what}: {exc.message}"
        entry.note(f"writeback {what} refused", exc.message)
        log.warning(
            "order not written back",
            extra={**logs.order_keys(entry), "step": what, "outcome": "failed", "reason": exc.message, "fix": exc.fix},
        )
    else:
        written = True
        entry.note(f"writeback {what}", entry.writeback.document_number or "")
    try:
        ledger.put(entry)
    except LedgerConflict:
        # A consumer updated the order meanwhile: the next run re-reads it (and, at worst,
        # repeats this step once, which the channel write tolerates).
        return False
    return written  # this step's own outcome: an earlier step of the order may have failed


def _paid(
    *,
    connection: Connection,
    intacct: InvoiceReader,
    channel: ChannelClient,
    ledger: WritebackLedger,
    state: StateStore,
    report: WritebackReport,
    options: WritebackOptions,
    deadline: Deadline,
    now: datetime,
    lookback: timedelta,
) -> None:
    watermark = state.get_watermark(_watermark_id(connection.id)) or now - lookback
    since = (watermark - OVERLAP).astimezone(UTC).replace(tzinfo=None)
    rows = intacct.iter_query(
        "ARINVOICE",
        _PAID_FIELDS,
        filter=q.and_(q.gt("WHENMODIFIED", since), q.eq("TOTALDUE", 0)),
        deadline=deadline,
    )
    for entry in ledger.awaiting_paid_writeback(connection.id, (row.get("RECORDNO") or "" for row in rows)):
        report.paid_invoices_seen += 1
        if entry is None or entry.status == "paid" or entry.writeback.paid_written_at is not None:
            continue  # not ours, paid on the channel already, or done before
        if deadline.remaining() < RESERVE_S:
            report.complete = False
            return

        def mark(e: LedgerEntry = entry) -> None:
            channel.mark_paid(e.order_id, options=options, deadline=deadline)
            e.writeback.paid_written_at = now
            e.status = "paid"  # settled in Intacct (a bank transfer, say), now on the channel too
            e.settled_in_intacct = True  # the channel's "payment" that this causes is an echo (payments)

        if _apply(entry, report, ledger, "paid", mark):
            report.marked_paid.append(entry.order_id)
    if report.complete:
        try:
            state.set_watermark(_watermark_id(connection.id), now)
        except TransientError:
            log.warning("writeback watermark not saved; the next run re-reads the same window")


def writeback_all(
    connections: ConnectionStore,
    intacct_client: InvoiceReader,
    ledger: WritebackLedger,
    state: StateStore,
    *,
    settings: Settings,
    deadline: Deadline,
    client_factory: Callable[[Connection], ChannelClient],
    intacct_check: IntacctCheck | None = None,
) -> dict[str, dict[str, object]]:
    """The scheduled run over every connection; does nothing while `writeback.enabled` is false.
    `intacct_check`: see `writeback_connection`; an Intacct failure of one connection's paid poll
    skips the paid polls of the connections after it in the same run."""
    summary: dict[str, dict[str, object]] = {}
    if not settings.writeback.enabled:
        return summary
    gate = RunGate(intacct_check)
    for connection_id in connections.list_ids():
        if deadline.remaining() < 2 * RESERVE_S:
            summary[connection_id] = {"complete": False, "error": "out of time: next run"}
            continue
        with logs.context(connection_id=connection_id):
            try:
                connection = connections.get(connection_id)
                if connection is None:
                    continue
                report = writeback_connection(
                    connection,
                    intacct_client,
                    client_factory(connection),
                    ledger,
                    state,
                    settings=settings,
                    deadline=deadline,
                    intacct_check=gate.closed_reason,
                )
            except SyncError as exc:
                gate.failed(exc)
                log.error("writeback failed", extra={"outcome": "failed", "reason": exc.message, "fix": exc.fix})
                summary[connection_id] = {"complete": False, "error": exc.message, "fix": exc.fix}
                continue
        summary[connection_id] = report.summary()
    return summary
