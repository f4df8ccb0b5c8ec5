"""SQLite state: companies, records (JSON documents per object), sequences, executed controlids.

One connection guarded by a lock; the protocol layer holds `store.lock` for a whole request and
uses savepoints for per-function atomicity and `transaction="true"` rollback.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import values
from .objects import RECORDNO_START

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS senders (sender_id TEXT PRIMARY KEY, password TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS companies (company_id TEXT PRIMARY KEY, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    company TEXT NOT NULL, object TEXT NOT NULL, recordno INTEGER NOT NULL, name TEXT, data TEXT NOT NULL,
    PRIMARY KEY (company, object, recordno));
CREATE INDEX IF NOT EXISTS records_name ON records (company, object, name);
CREATE TABLE IF NOT EXISTS seq (company TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (company, name));
CREATE TABLE IF NOT EXISTS controlids (sender TEXT NOT NULL, company TEXT NOT NULL, controlid TEXT NOT NULL,
    function TEXT, at TEXT, PRIMARY KEY (sender, company, controlid));
"""

TABLES = ("meta", "senders", "companies", "records", "seq", "controlids")


class Store:
    def __init__(self, db_path: str | Path | None = None) -> None:
        self.db_path = str(db_path) if db_path else ":memory:"
        self.conn = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=MEMORY" if self.db_path == ":memory:" else "PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.RLock()
        self._sp = 0
        self.entity: str | None = None
        """The entity (login `locationid`) the running request signed in to: records it creates
        carry it as MEGAENTITYID, as a multi-entity company owns each record by an entity. None:
        the top level (no MEGAENTITYID written). Set by the gateway for the request, under `lock`."""

    # ---- lifecycle -----------------------------------------------------------------------
    def is_seeded(self) -> bool:
        row = self.conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
        return bool(row)

    def wipe(self) -> None:
        with self.lock:
            for t in TABLES:
                self.conn.execute(f"DELETE FROM {t}")  # noqa: S608 - fixed table names

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ---- transactions --------------------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Atomic block: rolled back if the body raises."""
        self._sp += 1
        name = f"sp{self._sp}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        else:
            self.conn.execute(f"RELEASE {name}")

    # ---- senders / companies -------------------------------------------------------------
    def put_sender(self, sender_id: str, password: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO senders VALUES (?, ?)", (sender_id, password))

    def sender_password(self, sender_id: str) -> str | None:
        row = self.conn.execute("SELECT password FROM senders WHERE sender_id=?", (sender_id,)).fetchone()
        return row[0] if row else None

    def put_company(self, company_id: str, config: dict[str, Any]) -> None:
        self.conn.execute("INSERT OR REPLACE INTO companies VALUES (?, ?)", (company_id, json.dumps(config)))

    def company(self, company_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT config FROM companies WHERE company_id=?", (company_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def company_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT company_id FROM companies ORDER BY rowid")]

    # ---- sequences -----------------------------------------------------------------------
    def next_seq(self, company: str, name: str, start: int = 1) -> int:
        row = self.conn.execute("SELECT value FROM seq WHERE company=? AND name=?", (company, name)).fetchone()
        value = row[0] if row else start
        self.conn.execute("INSERT OR REPLACE INTO seq VALUES (?, ?, ?)", (company, name, value + 1))
        return int(value)

    def peek_seq(self, company: str, name: str, start: int = 1) -> int:
        row = self.conn.execute("SELECT value FROM seq WHERE company=? AND name=?", (company, name)).fetchone()
        return int(row[0]) if row else start

    def set_seq(self, company: str, name: str, value: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO seq VALUES (?, ?, ?)", (company, name, value))

    # ---- records -------------------------------------------------------------------------
    def insert(self, company: str, obj: str, data: dict[str, Any], name: str | None) -> int:
        recordno = self.next_seq(company, f"rec:{obj}", RECORDNO_START.get(obj, 1))
        stamp = values.now_iso()
        data = {"RECORDNO": recordno, **{k: v for k, v in data.items() if k != "RECORDNO"}}
        if self.entity is not None:
            data.setdefault("MEGAENTITYID", self.entity)
        data.setdefault("WHENCREATED", stamp)
        data["WHENMODIFIED"] = stamp
        self.conn.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?)", (company, obj, recordno, name, json.dumps(data))
        )
        return recordno

    def update(self, company: str, obj: str, data: dict[str, Any], name: str | None = None) -> None:
        data["WHENMODIFIED"] = values.now_iso()
        recordno = int(data["RECORDNO"])
        if name is None:
            self.conn.execute(
                "UPDATE records SET data=? WHERE company=? AND object=? AND recordno=?",
                (json.dumps(data), company, obj, recordno),
            )
        else:
            self.conn.execute(
                "UPDATE records SET data=?, name=? WHERE company=? AND object=? AND recordno=?",
                (json.dumps(data), name, company, obj, recordno),
            )

    def delete(self, company: str, obj: str, recordno: int) -> None:
        self.conn.execute("DELETE FROM records WHERE company=? AND object=? AND recordno=?", (company, obj, recordno))

    def get(self, company: str, obj: str, recordno: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM records WHERE company=? AND object=? AND recordno=?", (company, obj, recordno)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def by_name(self, company: str, obj: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT data FROM records WHERE company=? AND object=? AND name=? ORDER BY recordno LIMIT 1",
            (company, obj, name),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, company: str, obj: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT data FROM records WHERE company=? AND object=? ORDER BY recordno", (company, obj)
        )
        return [json.loads(r[0]) for r in rows]

    # ---- uniqueid controlids -------------------------------------------------------------
    def controlid_done(self, sender: str, company: str, controlid: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM controlids WHERE sender=? AND company=? AND controlid=?",
            (sender, company, controlid),
        ).fetchone()
        return row is not None

    def mark_controlid(self, sender: str, company: str, controlid: str, function: str) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO controlids VALUES (?, ?, ?, ?, ?)",
            (sender, company, controlid, function, values.now_iso()),
        )

    def mark_seeded(self) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', '1')")
