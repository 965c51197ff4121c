"""One spool file, one process: concurrent publishers on one spool path never take each other's events.

``clickstream emit`` and ``clickstream demo`` (or any two applications) derive the same spool
path from the same settings. Sharing one SQLite file, each would drain the other's events (sent
twice) and count them in its own report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clickstream.core.paths import REPO_ROOT
from emitters.publisher import EventPublisher
from emitters.spool import DiskSpool
from tests.support.events import sample_paused
from tests.support.spool_faults import broker_down_config

# Another process: spools five events while the broker is down, and holds on to them until told to close.
OTHER_PROCESS = """
import json, sys
from pathlib import Path
from emitters.publisher import EventPublisher, PublisherConfig
from tests.support.events import sample_paused

config = PublisherConfig(
    topic_path="projects/p/topics/t", spool_path=Path(sys.argv[1]), pubsub_emulator_host=sys.argv[2],
    publish_deadline_s=1.0, max_drain_backoff_s=30.0,
)
publisher = EventPublisher(config)
events = [sample_paused() for _ in range(5)]
for event in events:
    publisher.publish(event)
report = publisher.flush(timeout=60)
print(json.dumps({"ids": [e.event_id for e in events], "spooled": report.spooled}), flush=True)
sys.stdin.readline()
print(json.dumps({"spool_depth": publisher.close(timeout=10).spool_depth}), flush=True)
"""


def test_two_processes_on_one_spool_path_never_take_each_others_events(tmp_path: Path) -> None:
    """Issue 11, item 3b: two processes shared one spool file with no lock between them."""
    config = broker_down_config(tmp_path)
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(config.spool_path), str(config.pubsub_emulator_host)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert other.stdout is not None and other.stdin is not None
        theirs = json.loads(other.stdout.readline())
        assert theirs["spooled"] == 5

        publisher = EventPublisher(config)
        assert publisher.report().inherited == 0, "took over the spool of a process that is still running"
        mine = [sample_paused() for _ in range(3)]
        for event in mine:
            publisher.publish(event)
        report = publisher.close(timeout=30)
        assert (report.spooled, report.spool_depth, report.drained) == (3, 3, 0), report

        other.stdin.write("\n")
        other.stdin.flush()
        assert json.loads(other.stdout.readline())["spool_depth"] == 5  # still all theirs
        assert other.wait(timeout=60) == 0
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()

    # Both processes are gone: the next publisher on the path takes over what either left.
    later = EventPublisher(config)
    assert later.close(timeout=5).inherited == 8
    spool = DiskSpool(config.spool_path)
    try:
        spooled = sorted(m.attributes["event_id"] for m in spool.peek(100))
    finally:
        spool.close()
    assert spooled == sorted(theirs["ids"] + [e.event_id for e in mine])


def test_a_spool_held_open_is_not_opened_twice_and_its_leftovers_are_taken_over_later(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first = DiskSpool.claim(path)
    second = DiskSpool.claim(path)  # the same process, a second publisher
    assert first.path == path and second.path != path
    first.append(b"a", {"event_id": "a"})
    second.append(b"b", {"event_id": "b"})
    assert [m.data for m in first.peek(10)] == [b"a"] and [m.data for m in second.peek(10)] == [b"b"]
    second.close()
    third = DiskSpool.claim(path)  # the second's file is free now, and holds an event
    assert third.path != path and [m.data for m in third.peek(10)] == [b"b"]
    third.close()
    first.close()
    again = DiskSpool.claim(path)
    assert again.path == path and sorted(m.data for m in again.peek(10)) == [b"a", b"b"]
    again.close()
    emptied = DiskSpool(second.path)
    assert len(emptied) == 0  # taken over, not copied: nothing is sent twice
    emptied.close()
