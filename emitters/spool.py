"""A bounded, ordered, on-disk spool for events the broker could not take.

SQLite gives crash-safe appends and FIFO reads by rowid without a hand-written file
format. The bound is on bytes and on entries, so an outage can never grow memory
or disk without limit: when the spool is full, ``append`` raises ``SpoolFullError``
and the caller decides (the event is never dropped silently). A disk that fills up
before the bound is reached is the same condition, and raises the same error.

A spool file SQLite finds corrupt is set aside (renamed, with its WAL, to
``<name>.corrupt-<UTC time>``) and a new one started, so a damaged file never keeps
the publisher from starting; the file is kept for inspection, nothing is deleted.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

# SQLite's own sidecar files of a database: they belong to it and move with it.
_SIDECARS = ("-wal", "-shm", "-journal")


class SpoolFullError(RuntimeError):
    """The on-disk spool reached its bound; the event was not accepted."""


class _CorruptSpool(Exception):
    """SQLite says the spool file is not a sound database."""


def _primary_code(exc: sqlite3.Error) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF  # extended codes keep the primary one in the low byte


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    seq: int
    data: bytes
    attributes: dict[str, str]


class DiskSpool:
    def __init__(self, path: Path, max_bytes: int = 64 * 1024 * 1024, max_messages: int = 1_000_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except _CorruptSpool as corrupt:
            aside = self._set_aside()
            log.error(
                "spool %s is corrupt (%s): moved it to %s and started a new, empty spool; "
                "the events in it were not sent",
                self.path,
                corrupt,
                aside,
            )
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        """Connect, check the file is sound and read the counts; ``_CorruptSpool`` if it is not."""
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS spool ("
                " seq INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL, attributes TEXT NOT NULL)"
            )
            problems = [str(row[0]) for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise _CorruptSpool("; ".join(problems[:3]))
            row = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM spool").fetchone()
            self._count, self._bytes = int(row[0]), int(row[1])
        except sqlite3.DatabaseError as exc:
            db.close()
            if _primary_code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
                raise _CorruptSpool(str(exc)) from exc
            raise
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self) -> Path:
        """Rename the file and its sidecars to a name no spool uses; returns the new path."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():  # never rename over an earlier one
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        self.path.rename(aside)
        for sidecar in _SIDECARS:
            old = self.path.with_name(self.path.name + sidecar)
            if old.exists():
                old.rename(aside.with_name(aside.name + sidecar))
        return aside

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def append(self, data: bytes, attributes: dict[str, str]) -> int:
        with self._lock:
            if self._count + 1 > self.max_messages or self._bytes + len(data) > self.max_bytes:
                raise SpoolFullError(
                    f"spool {self.path} is full ({self._count} events, {self._bytes} bytes; "
                    f"bounds {self.max_messages} events, {self.max_bytes} bytes)"
                )
            try:
                cursor = self._db.execute(
                    "INSERT INTO spool (data, attributes) VALUES (?, ?)", (data, json.dumps(attributes))
                )
            except sqlite3.OperationalError as exc:
                if _primary_code(exc) != sqlite3.SQLITE_FULL:
                    raise
                # The failed statement was rolled back: nothing was written, nothing is counted.
                raise SpoolFullError(
                    f"spool {self.path} cannot grow: {exc} ({self._count} events, {self._bytes} bytes spooled)"
                ) from exc
            self._count += 1
            self._bytes += len(data)
            return int(cursor.lastrowid or 0)

    def peek(self, limit: int) -> list[SpooledMessage]:
        """The oldest ``limit`` messages, in the order they were spooled."""
        with self._lock:
            rows = self._db.execute("SELECT seq, data, attributes FROM spool ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [SpooledMessage(seq, bytes(data), json.loads(attrs)) for seq, data, attrs in rows]

    def remove(self, seqs: list[int]) -> None:
        if not seqs:
            return
        with self._lock:
            placeholders = ",".join("?" * len(seqs))
            removed_bytes = self._db.execute(
                f"SELECT COALESCE(SUM(LENGTH(data)), 0), COUNT(*) FROM spool WHERE seq IN ({placeholders})",
                seqs,
            ).fetchone()
            self._db.execute(f"DELETE FROM spool WHERE seq IN ({placeholders})", seqs)
            self._bytes -= int(removed_bytes[0])
            self._count -= int(removed_bytes[1])

    def close(self) -> None:
        with self._lock:
            self._db.close()
