"""The on-disk spool: FIFO, bounded, persistent across reopen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from emitters.spool import DiskSpool, SpoolFullError
from tests.support.spool_faults import fill_the_disk


def test_fifo_and_persistence(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "s.sqlite")
    for i in range(10):
        spool.append(f"m{i}".encode(), {"event_id": str(i)})
    first = spool.peek(3)
    assert [m.data for m in first] == [b"m0", b"m1", b"m2"]
    spool.remove([m.seq for m in first])
    spool.close()
    reopened = DiskSpool(tmp_path / "s.sqlite")
    assert len(reopened) == 7
    assert [m.attributes["event_id"] for m in reopened.peek(100)] == [str(i) for i in range(3, 10)]


def test_bounded_by_bytes_and_count(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path / "s.sqlite", max_bytes=100, max_messages=3)
    spool.append(b"x" * 40, {})
    spool.append(b"x" * 40, {})
    with pytest.raises(SpoolFullError, match="full"):
        spool.append(b"x" * 40, {})
    spool.append(b"x" * 10, {})
    with pytest.raises(SpoolFullError):
        spool.append(b"", {})
    assert len(spool) == 3 and spool.size_bytes == 90


def test_disk_full_is_a_spool_full_error_and_counts_nothing(tmp_path: Path) -> None:
    """Issue 11, item 1: SQLite's disk-full error escaped as a bare OperationalError."""
    spool = DiskSpool(tmp_path / "s.sqlite")
    spool.append(b"kept", {"event_id": "0"})
    fill_the_disk(spool)
    with pytest.raises(SpoolFullError, match="disk is full"):
        for i in range(100):  # the first page fills up after a dozen of these
            spool.append(b"x" * 300, {"event_id": str(i + 1)})
    stored = spool.peek(1000)
    assert len(spool) == len(stored) and spool.size_bytes == sum(len(m.data) for m in stored)
    assert stored[0].data == b"kept"


def _quarantined(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if p.name.startswith(f"{path.name}.corrupt-"))


def test_a_spool_file_that_is_not_a_database_is_set_aside_and_a_new_one_started(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 11, item 3a: a corrupt spool file made the publisher unable to start."""
    path = tmp_path / "s.sqlite"
    garbage = b"this is not an SQLite database\n" * 200
    path.write_bytes(garbage)
    spool = DiskSpool(path)
    spool.append(b"new", {"event_id": "1"})
    assert [m.data for m in spool.peek(10)] == [b"new"]
    spool.close()
    (aside,) = _quarantined(path)
    assert aside.read_bytes() == garbage  # kept for inspection, not deleted
    assert any(str(aside) in r.getMessage() and r.levelname == "ERROR" for r in caplog.records), caplog.text


def test_a_spool_file_damaged_inside_is_set_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    spool = DiskSpool(path)
    for i in range(200):  # a dozen pages of rows
        spool.append(b"x" * 300, {"event_id": str(i)})
    spool.close()
    damaged = bytearray(path.read_bytes())
    page = 4096
    damaged[3 * page : 4 * page] = b"\xff" * page  # a b-tree page of the table, not the header
    path.write_bytes(bytes(damaged))
    reopened = DiskSpool(path)
    assert len(reopened) == 0
    reopened.close()
    (aside,) = _quarantined(path)
    assert aside.read_bytes() == bytes(damaged)


def test_appended_events_survive_a_killed_process(tmp_path: Path) -> None:
    """What synchronous=NORMAL promises (issue 11, item 3d): an append that returned is on
    disk when the process dies without closing anything; only a power loss can undo it."""
    path = tmp_path / "s.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", APPEND_AND_HANG, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "appended"
    finally:
        child.kill()
        child.wait()
    reopened = DiskSpool(path)
    assert [m.attributes["event_id"] for m in reopened.peek(1000)] == [str(i) for i in range(100)]
    reopened.close()


APPEND_AND_HANG = """
import sys, time
from emitters.spool import DiskSpool
spool = DiskSpool(sys.argv[1])
for i in range(100):
    spool.append(b"x" * 200, {"event_id": str(i)})
print("appended", flush=True)
time.sleep(600)
"""
