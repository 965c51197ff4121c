"""bench.replay: its baseline makes the pipeline's sessions, its breakdown runs on today's traffic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import replay as bench_replay
from bench import replay_ab
from bench.common import messages, write_archive, write_catalog
from clickstream.core.pseudonyms import create_key_file


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    work = tmp_path_factory.mktemp("bench")
    archive = write_archive(work / "archive.jsonl", messages(1500, duplicates=0.02, invalid=0.02))
    return archive, write_catalog(work / "catalog.jsonl"), create_key_file(work / "pseudonym.key")


def test_the_traffic_holds_thumbnails_shown(files: tuple[Path, Path, Path]) -> None:
    assert "ThumbnailsShown" in files[0].read_text()


def test_plain_python_makes_the_same_sessions_as_the_replay(files: tuple[Path, Path, Path], tmp_path: Path) -> None:
    archive, catalog, key = files
    _, plain_sessions = bench_replay.plain_python(archive, key)
    _, beam_sessions = bench_replay.beam_replay(archive, catalog, tmp_path / "out", key)
    assert plain_sessions == beam_sessions


def test_the_bench_fails_loudly_when_the_session_counts_differ() -> None:
    with pytest.raises(SystemExit, match=r"15515.*10915"):
        bench_replay.require_same_sessions(15515, 10915)
    bench_replay.require_same_sessions(10915, 10915)


def test_the_stage_breakdown_runs_on_traffic_with_thumbnails_shown(files: tuple[Path, Path, Path]) -> None:
    archive, catalog, key = files
    rows = bench_replay.stage_breakdown(archive, catalog, key)
    assert len(rows) >= 3 and all(seconds > 0 for _, seconds in rows)


def test_the_bench_measures_the_replay_alone_and_the_streaming_shaped_graph() -> None:
    figures = bench_replay.main(["--events", "800", "--streaming-events", "300", "--sharded-events"])
    assert figures["replay_events_per_s"] > 0 and figures["streaming_shaped_events_per_s"] > 0
    # The replay's own process: its peak RSS is tens of MB at least, not the bench's.
    assert figures["replay_800_peak_rss_kb_per_event"] * 800 > 50_000


def test_the_bench_measures_a_sharded_replay_making_the_same_sessions_with_its_own_peak_rss() -> None:
    figures = bench_replay.main(
        ["--events", "600", "--streaming-events", "0", "--sharded-events", "900", "--events-per-shard", "300"]
    )
    assert figures["replay_sharded_900_shards"] == 3
    assert figures["replay_sharded_900_events_per_s"] > 0
    # The sharded replay's own process (main stops if its sessions differ from plain Python's).
    assert figures["replay_sharded_900_peak_rss_kb_per_event"] * 900 > 50_000


def test_the_paired_ab_runs_each_checkouts_own_code_and_compares_like_with_like(tmp_path: Path) -> None:
    """Each side's replay imports its checkout's code (not the caller's), and both sides make the
    same sessions. A checkout whose replay is broken stops the comparison, naming it."""
    repo = Path(bench_replay.__file__).resolve().parents[1]
    figures = replay_ab.main([str(repo), str(repo), "--events", "300", "--rounds", "2"])
    assert figures["rounds"] == 2 and figures["ratio"] > 0
    with pytest.raises(SystemExit, match=r"the replay of .*broken failed"):
        replay_ab.main([str(repo), str(_broken_checkout(tmp_path)), "--events", "50", "--rounds", "1"])


@pytest.mark.parametrize("broken_side", ["a", "b"])
def test_when_one_side_fails_the_other_sides_replay_is_stopped_not_left_running(
    tmp_path: Path, broken_side: str
) -> None:
    """Whichever side fails first, the other's replay (here one that would take 30 s and then
    leave a mark) is killed at once, not waited for nor left running."""
    slow = _checkout(
        tmp_path / "slow",
        "import pathlib, time\ntime.sleep(30)\npathlib.Path(__file__).with_name('finished').touch()\n",
    )
    broken = _broken_checkout(tmp_path)
    sides = [broken, slow] if broken_side == "a" else [slow, broken]
    before = _children()
    with pytest.raises(SystemExit, match=r"the replay of .*broken failed"):
        replay_ab.main([*map(str, sides), "--events", "50", "--rounds", "1"])
    assert _children() - before == set()
    assert not (slow / "bench" / "finished").exists()


def _broken_checkout(tmp_path: Path) -> Path:
    return _checkout(tmp_path / "broken", "raise SystemExit('this checkout cannot replay')\n")


def _checkout(root: Path, replay_source: str) -> Path:
    """A checkout whose ``bench.replay`` is ``replay_source``."""
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "__init__.py").write_text("")
    (root / "bench" / "replay.py").write_text(replay_source)
    return root


def _children() -> set[int]:
    """The processes this one started and has not reaped."""
    pid = os.getpid()
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
