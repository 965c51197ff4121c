"""Real SQLite faults on a spool's connection, for the faults a test cannot cause otherwise.

A full disk cannot be made without root (no tiny tmpfs), but SQLite's own page limit gives the
very error a full disk gives ("database or disk is full", SQLITE_FULL) on the real connection.
"""

from __future__ import annotations

from emitters.spool import DiskSpool


def fill_the_disk(spool: DiskSpool) -> None:
    """From now on the spool file may not grow past the pages it has."""
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
    spool._db.execute(f"PRAGMA max_page_count={pages}")
