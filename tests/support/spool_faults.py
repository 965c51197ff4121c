"""Real faults for the emitter: a broker that is down, and SQLite faults on a spool's connection.

A broker that is down is a port where nothing listens. A full disk cannot be made without root
(no tiny tmpfs), but SQLite's own page limit gives the very error a full disk gives ("database
or disk is full", SQLITE_FULL) on the real connection.
"""

from __future__ import annotations

from pathlib import Path

from clickstream.app.local.processes import free_port
from emitters.publisher import PublisherConfig
from emitters.spool import DiskSpool


def broker_down_config(tmp_path: Path, **overrides: object) -> PublisherConfig:
    """A publisher pointed at a port where nothing listens: a broker that is down."""
    fields: dict[str, object] = dict(
        topic_path="projects/p/topics/t",
        spool_path=tmp_path / "spool.sqlite",
        pubsub_emulator_host=f"127.0.0.1:{free_port()}",
        publish_deadline_s=2.0,
        max_drain_backoff_s=30.0,
    )
    fields.update(overrides)
    return PublisherConfig(**fields)  # type: ignore[arg-type]


def fill_the_disk(spool: DiskSpool) -> None:
    """From now on the spool file may not grow past the pages it has (in use: free pages left
    by events already drained are given back first, so the next few events find no room)."""
    with spool._lock:
        spool._db.execute("VACUUM")
        pages = spool._db.execute("PRAGMA page_count").fetchone()[0]
        spool._db.execute(f"PRAGMA max_page_count={pages}")


def free_the_disk(spool: DiskSpool) -> None:
    """Undo ``fill_the_disk``: SQLite's default page limit again."""
    spool._db.execute("PRAGMA max_page_count=1073741823")


def make_read_only(spool: DiskSpool, read_only: bool = True) -> None:
    """Writes to the spool fail for real ("attempt to write a readonly database") until undone."""
    with spool._lock:
        spool._db.execute(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
