"""Which ledger entries sit in the writeback's index of pending work, under which key, and when an
entry expires: one pure function of the entry (`index_keys`), and the in-memory ledger that
follows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from intacct_sync.environment import ledger_retention_days
from intacct_sync.errors import ConfigurationError
from intacct_sync.ledger import (
    FINISHED,
    IndexKeys,
    InMemoryLedger,
    LedgerEntry,
    Status,
    change_text,
    index_keys,
    needs_document_writeback,
    needs_paid_writeback,
)

CHANGED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ALL_STATUSES: list[Status] = [
    "received", "skipped", "invoiced", "partially_paid", "paid", "deleted", "closed", "credited", "parked",
]  # fmt: skip


def entry(status: Status = "invoiced", *, connection: str = "shop", order: str = "1", **fields: object) -> LedgerEntry:
    e = LedgerEntry(connection_id=connection, order_id=order, channel="shopify", status=status)
    e.document_key = "Sales Invoice-INV0001"
    e.ar_record_key = "3001"
    for name, value in fields.items():
        setattr(e, name, value)
    return e


def keys(e: LedgerEntry, retention_days: int = 0) -> IndexKeys:
    return index_keys(e, changed_at=CHANGED, retention_days=retention_days)


# --- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["invoiced", "partially_paid", "paid"])
def test_an_invoice_whose_number_is_not_written_back_is_queued_under_its_connection(status: Status) -> None:
    k = keys(entry(status))
    assert needs_document_writeback(entry(status))
    assert k.queue == "shop" and k.step == "d#2026-03-01T12:00:00.000000Z"


@pytest.mark.parametrize("status", ["received", "skipped", "deleted", "closed", "credited", "parked"])
def test_no_live_invoice_means_no_document_number_to_write_back(status: Status) -> None:
    assert not needs_document_writeback(entry(status))
    assert not (keys(entry(status)).step or "").startswith("d#")


def test_the_number_written_back_moves_an_open_invoice_to_its_ar_key_and_a_paid_one_out() -> None:
    e = entry()
    e.writeback.document_written_at = CHANGED
    assert keys(e) == IndexKeys(queue="shop", step="p#3001", ar="3001")
    e.status = "paid"
    assert keys(e) == IndexKeys()
    assert keys(entry(document_key=None)) == IndexKeys()  # nothing to write yet


def test_an_invoice_waiting_for_its_number_carries_its_ar_key_too() -> None:
    """The paid lookup finds it by its invoice while the document step has not reached it."""
    assert keys(entry()).ar == "3001" and (keys(entry()).step or "").startswith("d#")
    assert keys(entry("paid")).ar is None


@pytest.mark.parametrize("status", ["invoiced", "partially_paid"])
def test_an_open_invoice_is_found_by_connection_and_ar_record_key(status: Status) -> None:
    e = entry(status)
    e.writeback.document_written_at = CHANGED
    assert needs_paid_writeback(e)
    assert keys(e).queue == "shop" and keys(e).step == "p#3001" and keys(e).ar == "3001"


@pytest.mark.parametrize("status", [s for s in ALL_STATUSES if s not in ("invoiced", "partially_paid")])
def test_paid_on_the_channel_or_without_an_open_invoice_is_not_looked_up_for_payment(status: Status) -> None:
    e = entry(status)
    e.writeback.document_written_at = CHANGED
    assert keys(e).ar is None and keys(e).queue is None and keys(e).step is None


def test_marked_paid_or_without_ar_record_key_leaves_the_index() -> None:
    e = entry()
    e.writeback.paid_written_at = CHANGED
    e.writeback.document_written_at = CHANGED
    assert keys(e) == IndexKeys()
    assert keys(entry(ar_record_key=None)).ar is None
    assert keys(entry(document_key=None)).ar is None


def test_the_sort_key_is_fixed_width_so_text_order_is_time_order() -> None:
    times = [
        CHANGED,
        CHANGED + timedelta(microseconds=1),
        CHANGED + timedelta(seconds=1),
        CHANGED + timedelta(days=400),
    ]
    texts = [change_text(t) for t in times]
    assert sorted(texts) == texts and len({len(t) for t in texts}) == 1


# --- retention ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(FINISHED))
def test_a_finished_entry_expires_its_retention_after_its_last_change(status: Status) -> None:
    e = entry(status)
    e.writeback.document_written_at = CHANGED
    assert keys(e, 2557).expires == int((CHANGED + timedelta(days=2557)).timestamp())


@pytest.mark.parametrize("status", ["received", "invoiced", "partially_paid", "parked"])
def test_open_receivables_waiting_and_parked_entries_never_expire(status: Status) -> None:
    assert keys(entry(status), 2557).expires is None


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_retention_zero_keeps_every_entry(status: Status) -> None:
    assert keys(entry(status), 0).expires is None


def test_a_paid_entry_whose_number_was_never_written_back_still_expires() -> None:
    """The writeback is off by default: a pending label must not keep the entry past retention."""
    k = keys(entry("paid"), 365)
    assert k.queue == "shop" and (k.step or "").startswith("d#") and k.expires is not None


@pytest.mark.parametrize(("value", "days"), [(None, 0), ("0", 0), ("365", 365), ("2557", 2557)])
def test_retention_from_the_environment(value: str | None, days: int) -> None:
    assert ledger_retention_days({} if value is None else {"LEDGER_RETENTION_DAYS": value}) == days


@pytest.mark.parametrize("value", ["30", "364", "-1", "seven years"])
def test_a_retention_shorter_than_a_year_or_not_a_number_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="LEDGER_RETENTION_DAYS"):
        ledger_retention_days({"LEDGER_RETENTION_DAYS": value})


# --- the in-memory ledger follows the same rule -------------------------------------------------


def pending(ledger: InMemoryLedger, connection: str) -> list[str]:
    return [e.order_id for page in ledger.documents_to_write_back(connection) for e in page]


def test_in_memory_ledger_pages_pending_entries_of_one_connection_oldest_change_first() -> None:
    ledger = InMemoryLedger()
    for order in ("3", "1", "2"):
        ledger.put(entry(order=order))
    ledger.put(entry(connection="other", order="9"))
    ledger.put(entry("credited", order="4"))
    assert pending(ledger, "shop") == ["3", "1", "2"]
    assert [len(p) for p in ledger.documents_to_write_back("shop", page_size=2)] == [2, 1]
    assert pending(ledger, "other") == ["9"]


def test_in_memory_ledger_drops_an_entry_from_the_queue_once_written_back() -> None:
    ledger = InMemoryLedger()
    ledger.put(entry(order="1"))
    e = next(iter(ledger.documents_to_write_back("shop")))[0]
    e.writeback.document_written_at = CHANGED
    ledger.put(e)
    assert pending(ledger, "shop") == []
    assert ledger.index["shop:1"].step == "p#3001"  # the open invoice: its paid state is still to come


def test_in_memory_ledger_leaves_entries_changed_during_a_pass_to_the_next() -> None:
    ledger = InMemoryLedger()
    ledger.put(entry(order="1"))
    pages = ledger.documents_to_write_back("shop")
    first = next(pages)[0]
    ledger.put(first)  # refused by the channel, say: noted, still pending, changed now
    assert list(pages) == []
    assert pending(ledger, "shop") == ["1"]


def test_in_memory_ledger_finds_open_invoices_by_ar_record_key_of_that_connection_only() -> None:
    ledger = InMemoryLedger()
    ledger.put(entry(order="1", ar_record_key="3001"))
    ledger.put(entry(order="2", ar_record_key="3002", status="paid"))
    ledger.put(entry(connection="other", order="1", ar_record_key="3003"))
    found = list(ledger.awaiting_paid_writeback("shop", ["3001", "3002", "3003", "", "9999"]))
    assert [e.key if e else None for e in found] == ["shop:1", None, None, None, None]


def test_in_memory_ledger_records_expiry_only_with_a_retention() -> None:
    kept, expiring = InMemoryLedger(), InMemoryLedger(retention_days=2557)
    for ledger in (kept, expiring):
        ledger.put(entry("credited", order="1"))
        ledger.put(entry("invoiced", order="2"))
    assert kept.index["shop:1"].expires is None
    assert expiring.index["shop:1"].expires is not None and expiring.index["shop:2"].expires is None
