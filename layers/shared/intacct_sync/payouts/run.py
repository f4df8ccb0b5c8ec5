"""The scheduled payouts job: each paid payout of a connection becomes one deposit in Intacct.

Per connection, per run:
1. the payouts issued since the watermark (less `payouts.lookback_days` on the first run, and an
   overlap of a day on every run) are read from the channel, newest first, and the connection's
   open payouts (waiting or failed before) are read from the payout ledger by key;
2. each paid payout not deposited yet: its balance transactions are read and checked to net to
   the payout; each charge's AR payment is looked up in the order ledger; if one is not posted
   yet the payout waits (`waiting`, with the orders it waits for: `intacct-sync ops payouts`);
3. otherwise the other receipt with the fees, refunds, disputes and adjustments is recorded to
   undeposited funds (its key saved at once), then the deposit of the payments and that receipt
   into `payouts.bank_account_id` (key and total saved): deposit total = payout net.

Exactly once: each write has a deterministic controlid (`plan.receipt_controlid`,
`plan.deposit_controlid`) sent under uniqueid; an answer lost after the commit (time-out, 5xx)
or a duplicate-controlid refusal is settled by looking the receipt or deposit up by its
reference (`PO-<payout id>`) before anything is sent again; the ledger record is written after
each step, so a crash repeats at most the lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Protocol

from intacct_sync import logs
from intacct_sync.connections import ConnectionStore
from intacct_sync.errors import PermanentError, SyncError, TransientError
from intacct_sync.intacct import IntacctAlreadyExecuted, IntacctOutcomeUnknown
from intacct_sync.intacct import query as q
from intacct_sync.intacct.cash import create_journal_entry, record_deposit, record_otherreceipt
from intacct_sync.intacct.functions import query
from intacct_sync.intacct.wire import Function, Result
from intacct_sync.ledger import LedgerConflict, LedgerEntry
from intacct_sync.models.connection import Connection
from intacct_sync.payouts import plan as planning
from intacct_sync.payouts.ledger import PayoutRecord, PayoutStore, Status
from intacct_sync.payouts.model import BalanceTransaction, Payout
from intacct_sync.retry import Deadline
from intacct_sync.settings import Settings

log = logging.getLogger(__name__)

OVERLAP: Final = timedelta(days=1)
"""Every run re-reads this far behind its watermark (a payout issued late, clock differences)."""
RESERVE_S: Final = 5.0


class PayoutSource(Protocol):
    def payouts_since(self, since: datetime, *, deadline: Deadline) -> Iterable[Payout]: ...

    def transactions(self, payout_id: str, *, deadline: Deadline) -> list[BalanceTransaction]: ...


class OrderLedger(Protocol):
    def get_many(self, keys: list[tuple[str, str]]) -> dict[str, LedgerEntry]: ...


class IntacctGateway(Protocol):
    """The part of `IntacctClient` the job uses."""

    def execute(
        self, functions: Sequence[Function], *, deadline: Deadline, transaction: bool = False
    ) -> list[Result]: ...

    def raise_for(self, result: Result) -> None: ...


@dataclass
class PayoutsReport:
    connection_id: str
    deposited: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    waiting_too_long: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    complete: bool = True

    def summary(self) -> dict[str, object]:
        return {
            "connection": self.connection_id,
            "deposited": len(self.deposited),
            "waiting": len(self.waiting),
            "waiting_too_long": len(self.waiting_too_long),
            "failed": len(self.failed),
            "complete": self.complete,
        }


class PayoutPoster:
    def __init__(
        self,
        intacct: IntacctGateway,
        orders: OrderLedger,
        store: PayoutStore,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.intacct = intacct
        self.orders = orders
        self.store = store
        self.settings = settings
        self.clock = clock

    # --- one connection ------------------------------------------------------------------------

    def run_connection(self, connection: Connection, source: PayoutSource, *, deadline: Deadline) -> PayoutsReport:
        if connection.channel == "shopify":
            return self._run_connection(connection, source, deadline=deadline)
        shared = self.settings  # read from Stripe: booked under its own payer name
        payouts = shared.payouts.model_copy(update={"payer": shared.payouts.stripe_payer})
        self.settings = shared.model_copy(update={"payouts": payouts})
        try:
            return self._run_connection(connection, source, deadline=deadline)
        finally:
            self.settings = shared

    def _run_connection(self, connection: Connection, source: PayoutSource, *, deadline: Deadline) -> PayoutsReport:
        report = PayoutsReport(connection.id)
        now = self.clock()
        cfg = self.settings.payouts
        watermark = self.store.watermark(connection.id)
        since = (watermark - OVERLAP) if watermark else now - timedelta(days=cfg.lookback_days)
        seen = list(source.payouts_since(since, deadline=deadline))
        by_id: dict[str, Payout] = {p.payout_id: p for p in seen}
        open_ids = self.store.open_payouts(connection.id)
        records = self.store.get_many(connection.id, list(dict.fromkeys([*by_id, *open_ids])))
        for pid in open_ids:
            if pid not in by_id and pid in records:  # older than the window: from its record
                r = records[pid]
                by_id[pid] = Payout(connection.id, pid, r.issued_at, "PAID", r.net, r.currency)
        todo = [p for p in by_id.values() if p.paid and not (p.payout_id in records and not records[p.payout_id].open)]
        for payout in sorted(todo, key=lambda p: p.issued_at):
            if deadline.remaining() < RESERVE_S:
                report.complete = False
                break
            record = records.get(payout.payout_id) or PayoutRecord(
                connection_id=connection.id,
                payout_id=payout.payout_id,
                issued_at=payout.issued_at,
                net=payout.net,
                currency=payout.currency,
                first_seen=now,
            )
            with logs.context(payout_id=payout.payout_id):
                self._one(payout, record, source, report, deadline=deadline, now=now)
        if report.complete:
            pending = [p.issued_at for p in seen if not p.final]
            newest = max((p.issued_at for p in seen), default=None)
            mark = min(pending) if pending else newest
            if mark is not None and (watermark is None or mark > watermark):
                try:
                    self.store.set_watermark(connection.id, mark)
                except TransientError:
                    log.warning("payouts watermark not saved; the next run re-reads the same window")
        log.info("payouts", extra=report.summary())
        return report

    # --- one payout ----------------------------------------------------------------------------

    def _one(
        self,
        payout: Payout,
        record: PayoutRecord,
        source: PayoutSource,
        report: PayoutsReport,
        *,
        deadline: Deadline,
        now: datetime,
    ) -> None:
        keys = {"connection_id": payout.connection_id, "payout_id": payout.payout_id}
        if payout.net <= 0:
            # A withdrawal (the processor took money from the bank): Intacct has no deposit for it.
            # Reported once (alarm) and kept as skipped: retrying would not help.
            self._fail(
                record,
                PermanentError(
                    f"payout {payout.payout_id} takes {-payout.net} {payout.currency} out of the bank: there is no "
                    "deposit to record",
                    fix="Record the withdrawal in Intacct by hand (Cash Management: a bank charge or a journal entry "
                    "against the bank account); the payout is not tried again.",
                ),
                report,
                keys=keys,
                status="skipped",
            )
            return
        try:
            transactions = source.transactions(payout.payout_id, deadline=deadline)
            orders = sorted({t.order_id for t in transactions if t.kind == "charge" and t.order_id})
            entries = self.orders.get_many([(payout.connection_id, o) for o in orders]) if orders else {}
            decided = planning.plan(payout, transactions, entries)
            if isinstance(decided, planning.Waiting):
                self._wait(record, decided, report, now=now, keys=keys)
                return
            self._post(payout, record, decided, deadline=deadline)
        except planning.PayoutMismatch as exc:
            self._fail(
                record,
                PermanentError(
                    f"payout {payout.payout_id} cannot be booked: {exc}",
                    fix="Compare the payout in the channel's admin with its transactions; the job tries again every "
                    "run, and alarms until it adds up.",
                ),
                report,
                keys=keys,
            )
            return
        except TransientError as exc:
            report.complete = False
            report.failed[payout.payout_id] = exc.message
            log.warning(
                "payout not deposited yet",
                extra={**keys, "outcome": "retry", "reason": exc.message, "fix": exc.fix},
            )
            return  # what was done is saved; the window is read again (watermark kept)
        except SyncError as exc:
            self._fail(record, exc, report, keys=keys)
            return
        report.deposited.append(payout.payout_id)
        log.info(
            "payout deposited",
            extra={
                **keys,
                "outcome": "deposited",
                "amount": str(record.deposit_total),
                "currency": payout.currency,
                "deposit_key": record.deposit_key,
            },
        )

    def _wait(
        self,
        record: PayoutRecord,
        waiting: planning.Waiting,
        report: PayoutsReport,
        *,
        now: datetime,
        keys: dict[str, str],
    ) -> None:
        first = record.waiting_since is None
        record.status = "waiting"
        record.waiting_since = record.waiting_since or now
        record.reason = waiting.reason
        record.fix = (
            "Nothing to do while orders are flowing: the payout is deposited by the first run after its payments "
            "are posted. If an order is parked, fix and replay it (intacct-sync ops replay)."
        )
        if first:
            record.note("waiting", waiting.reason)
        self._save(record)
        report.waiting.append(record.payout_id)
        hours = int((now - record.waiting_since).total_seconds() // 3600)
        extra = {**keys, "outcome": "waiting", "reason": waiting.reason, "fix": record.fix, "waited_hours": hours}
        if hours >= self.settings.payouts.max_wait_hours:
            report.waiting_too_long.append(record.payout_id)
            log.warning("payout waiting too long", extra=extra)
        else:
            log.info("payout waiting", extra=extra)

    def _fail(
        self,
        record: PayoutRecord,
        exc: SyncError,
        report: PayoutsReport,
        *,
        keys: dict[str, str],
        status: Status | None = None,
    ) -> None:
        partly = record.receipt_key is not None or record.deposit_key is not None
        record.status = status or ("partly_booked" if partly else "failed")
        record.reason, record.fix = exc.message, exc.fix
        record.note("error", exc.message)
        self._save(record)
        report.failed[record.payout_id] = exc.message
        log.error("payout not deposited", extra={**keys, "outcome": "failed", "reason": exc.message, "fix": exc.fix})

    def _save(self, record: PayoutRecord) -> None:
        try:
            self.store.put(record)
        except LedgerConflict:
            log.warning("payout record changed concurrently; the next run re-reads it")

    # --- Intacct -------------------------------------------------------------------------------

    def _post(self, payout: Payout, record: PayoutRecord, p: planning.PayoutPlan, *, deadline: Deadline) -> None:
        cfg = self.settings.payouts
        on: date = payout.issued_at.astimezone(UTC).date()
        record.payment_keys = list(p.payment_keys)
        record.lines = dict(p.lines.items())
        if cfg.fees == "journal_entry":
            self._post_journal(payout, record, p, on=on, deadline=deadline)
            return
        if record.receipt_key is None:
            receipt = planning.receipt_for(payout, p, cfg, on=on)
            if receipt is not None:
                function = record_otherreceipt(receipt, controlid=planning.receipt_controlid(payout))
                lookup = query(
                    "OTHERRECEIPTS",
                    ["RECORDNO", "DOCNUMBER", "TOTALENTERED"],
                    filter=q.eq("DOCNUMBER", receipt.reference or ""),
                )
                record.receipt_key = self._write_once(function, lookup, receipt.total, deadline=deadline)
                record.receipt_total = receipt.total
                record.status = "partly_booked"
                record.reason = record.fix = None
                record.note("receipt recorded", f"{receipt.total} {payout.currency}: RECORDNO {record.receipt_key}")
                self._save(record)
        deposit = planning.deposit_for(payout, p, record.receipt_key, cfg, on=on)
        function = record_deposit(deposit, controlid=planning.deposit_controlid(payout))
        lookup = query(
            "DEPOSIT",
            ["RECORDNO", "DOCNUMBER", "TOTALENTERED"],
            filter=q.and_(q.eq("DOCNUMBER", deposit.deposit_id), q.eq("FINANCIALENTITY", deposit.bank_account_id)),
        )
        record.deposit_key = self._write_once(function, lookup, p.deposit_total, deadline=deadline)
        record.deposit_total = p.deposit_total
        record.status = "deposited"
        record.deposited_at = self.clock()
        record.reason = record.fix = None
        record.note("deposited", f"{p.deposit_total} {payout.currency} into {deposit.bank_account_id}")
        self._save(record)

    def _post_journal(
        self, payout: Payout, record: PayoutRecord, p: planning.PayoutPlan, *, on: date, deadline: Deadline
    ) -> None:
        """`payouts.fees = "journal_entry"`: the deposit of the payments, then the journal entry
        taking the rest off the bank's GL account; each key saved as soon as it is known."""
        cfg = self.settings.payouts
        if record.deposit_key is None and p.payment_keys:
            deposit = planning.deposit_for(payout, p, None, cfg, on=on)
            lookup = query(
                "DEPOSIT",
                ["RECORDNO", "DOCNUMBER", "TOTALENTERED"],
                filter=q.and_(q.eq("DOCNUMBER", deposit.deposit_id), q.eq("FINANCIALENTITY", deposit.bank_account_id)),
            )
            function = record_deposit(deposit, controlid=planning.deposit_controlid(payout))
            record.deposit_key = self._write_once(function, lookup, p.payments_total, deadline=deadline)
            record.deposit_total = p.payments_total
            record.status = "partly_booked"
            record.note("payments deposited", f"{p.payments_total} {payout.currency}: deposit {record.deposit_key}")
            self._save(record)
        entry = planning.journal_for(payout, p, cfg, on=on)
        if record.journal_key is None and entry is not None:
            debits = sum((x.amount for x in entry.lines if x.debit), Decimal(0))
            lookup = query(
                "GLBATCH",
                ["RECORDNO", "REFERENCENO", "TOTAL"],
                filter=q.and_(q.eq("REFERENCENO", entry.reference or ""), q.eq("JOURNAL", entry.journal)),
            )
            function = create_journal_entry(entry, controlid=planning.journal_controlid(payout))
            record.journal_key = self._write_once(function, lookup, debits, deadline=deadline, total_field="TOTAL")
            record.journal_total = p.receipt_total
        record.status = "deposited"
        record.deposited_at = self.clock()
        record.reason = record.fix = None
        record.note(
            "deposited",
            f"{record.deposit_total or 0} {payout.currency} deposited + journal {record.journal_total or 0} "
            f"= bank line {payout.net}",
        )
        self._save(record)

    def _write_once(
        self,
        function: Function,
        lookup: Function,
        total: Decimal,
        *,
        deadline: Deadline,
        total_field: str = "TOTALENTERED",
    ) -> str:
        """Send a write; when its outcome is unknown or it ran before, adopt what Intacct holds
        under its reference (with the same total), else send it again next run."""
        try:
            [result] = self.intacct.execute([function], deadline=deadline)
            self.intacct.raise_for(result)
        except (IntacctOutcomeUnknown, IntacctAlreadyExecuted):
            return self._adopt(lookup, total, what=function.name, deadline=deadline, total_field=total_field)
        key = result.key or next((r.get("RECORDNO") for r in result.records() if r.get("RECORDNO")), None)
        if not key:
            raise PermanentError(f"Intacct answered {function.name} without the record's key")
        return key

    def _adopt(
        self, lookup: Function, total: Decimal, *, what: str, deadline: Deadline, total_field: str = "TOTALENTERED"
    ) -> str:
        [result] = self.intacct.execute([lookup], deadline=deadline)
        self.intacct.raise_for(result)
        rows = [r for r in result.records() if Decimal(r.get(total_field) or "0") == total]
        if len(rows) == 1 and rows[0].get("RECORDNO"):
            return str(rows[0]["RECORDNO"])
        if len(rows) > 1:
            raise PermanentError(
                f"{len(rows)} Intacct records carry this payout's reference ({what})",
                fix="Keep one of them (reverse the others in Intacct), then the next run goes on.",
            )
        raise _NotCommitted(f"{what} was not committed; it is sent again on the next run")


class _NotCommitted(TransientError):
    """The lookup after a lost answer found nothing: the write did not happen."""


def reads_payouts(connection: Connection) -> bool:
    """Shopify connections (Shopify Payments), and WooCommerce / BigCommerce ones with a
    `stripe_secret_key` (Stripe)."""
    return connection.channel == "shopify" or connection.stripe_secret_key is not None


def source_for(connection: Connection, settings: Settings, **options: Any) -> PayoutSource:
    """The payout source of a connection: Shopify Payments through the Admin GraphQL API, or
    the connection's Stripe account. `options` go to the HTTP clients (backoff, sleep, pacer)."""
    from intacct_sync.channels.api import client_for  # noqa: PLC0415 - loaded with the job only

    if connection.channel == "shopify":
        from intacct_sync.payouts.shopify import ShopifyPayouts  # noqa: PLC0415

        client = client_for(connection, **options)
        return ShopifyPayouts(
            client,  # type: ignore[arg-type]
            connection.id,
            transactions_filter=settings.payouts.shopify_transactions_filter,
        )
    from intacct_sync.payouts.stripe import StripePayouts  # noqa: PLC0415

    return StripePayouts(
        connection,
        metadata_keys=settings.payouts.stripe_order_metadata_keys,
        description_pattern=settings.payouts.stripe_order_description_pattern,
        orders=lambda: client_for(connection, **options),
        **options,
    )


def payouts_all(
    connections: ConnectionStore,
    poster: PayoutPoster,
    *,
    deadline: Deadline,
    source_factory: Callable[[Connection], PayoutSource],
    intacct_for: Callable[[str | None], IntacctGateway] | None = None,
    paused: Callable[[str], object | None] | None = None,
) -> dict[str, dict[str, object]]:
    """The scheduled run over every connection with a payout source (`reads_payouts`: Shopify
    Payments, or Stripe for WooCommerce / BigCommerce); nothing while `payouts.enabled` is false.

    `intacct_for(entity)`: the Intacct client of a connection's entity (`intacct_entity_id`, None:
    where the Intacct secret points), so a store's payouts are deposited in its own entity, where
    its payments are. `paused(connection_id)`: the connection's pause (`ops pause`), if any: a
    paused store's payouts are not deposited either; the first run after `ops resume` does it
    (nothing about a payout is recorded while its store is paused)."""
    summary: dict[str, dict[str, object]] = {}
    if not poster.settings.payouts.enabled:
        return summary
    for connection_id in connections.list_ids():
        if deadline.remaining() < 2 * RESERVE_S:
            summary[connection_id] = {"complete": False, "error": "out of time: next run"}
            continue
        with logs.context(connection_id=connection_id):
            try:
                connection = connections.get(connection_id)
                if connection is None or not reads_payouts(connection):
                    continue  # neither Shopify Payments nor a Stripe key: no payouts to read
                if paused is not None and paused(connection_id) is not None:
                    log.info(
                        "payouts skipped: connection paused",
                        extra={
                            "outcome": "skipped",
                            "reason": "the connection is paused (ops pause)",
                            "fix": f"intacct-sync ops resume --connection {connection_id}; the next run deposits",
                        },
                    )
                    summary[connection_id] = {"complete": False, "paused": True}
                    continue
                if intacct_for is not None:
                    poster.intacct = intacct_for(getattr(connection, "intacct_entity_id", None))
                report = poster.run_connection(connection, source_factory(connection), deadline=deadline)
            except SyncError as exc:
                log.error("payouts failed", extra={"outcome": "failed", "reason": exc.message, "fix": exc.fix})
                summary[connection_id] = {"complete": False, "error": exc.message, "fix": exc.fix}
                continue
        summary[connection_id] = report.summary()
    return summary
