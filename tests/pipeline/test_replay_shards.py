"""A replay sharded by person (``--shards N``): the same rows as one replay, each message once."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.core.pseudonyms import create_key_file
from clickstream.core.sealing import open_sealed
from pipelines import archive, replay, replay_shards
from pipelines.archive import to_json_line
from pipelines.messages import RawMessage
from tests.pipeline.test_dataflow_wiring import OFFLINE_DATAFLOW
from tests.pipeline.test_replay import _messages, _no_deletion_requests
from tests.support.archives import write_pubsub_avro
from tests.support.keys import key_file, keyring, pseudonym
from tests.support.teststream import clicked, message, paused, raw_message
from tests.support.warehouse_seeds import write_catalog

OUTPUTS = ("events", "impressions", "sessions", "dead_letters", "duplicates", "filtered")
# What differs between two runs of the same replay: when each row was written.
RUN_TIMES = ("replayed_at", "processed_at", "failed_at", "dropped_at", "emitted_at", "filtered_at")
AGES = f"--max_event_age_s={10 * 365 * 86400}"


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "catalog.jsonl", 500)


def _run(input_path: Path, out: Path, catalog: Path, *extra: str) -> tuple[dict[str, list[dict]], object]:
    """``tests.pipeline.test_replay._replay``, also returning the run's result."""
    result = replay.run(
        [
            f"--input={input_path}",
            f"--output_dir={out}",
            f"--catalog_path={catalog}",
            f"--deletion_requests_path={_no_deletion_requests(out.parent)}",
            "--session_gap_s=30",
            f"--pseudonym_key={key_file()}",
            *extra,
        ]
    )
    rows = {name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()] for name in OUTPUTS}
    return rows, result


def _replay(input_path: Path, out: Path, catalog: Path, *extra: str) -> dict[str, list[dict]]:
    return _run(input_path, out, catalog, *extra)[0]


def _counters(result) -> dict[str, int]:
    return {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}


def _opened(row: dict) -> dict:
    """A sealed payload, opened: sealing draws a new nonce each time, so two runs differ."""
    if row.get("payload_ids") != "encrypted":
        return row
    return {**row, "payload": open_sealed(keyring(), base64.b64decode(row["payload"])).decode("latin-1")}


def _comparable(out: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Each output's rows, sorted, without the times of the run that wrote them."""
    return {
        name: sorted(
            json.dumps({k: v for k, v in _opened(row).items() if k not in RUN_TIMES}, sort_keys=True) for row in rows
        )
        for name, rows in out.items()
    }


def _awkward() -> list[RawMessage]:
    """What a sharding could get wrong: an event_id two people use (two events, not a duplicate),
    a redelivery of a person's event (a duplicate), a payload that is not the contract."""
    amy_click = clicked("amy", 5)
    ben_same_id = clicked("ben", 6, event_id=amy_click.event_id)
    again = message(amy_click, publish_delay_ms=900, message_id="m-amy-again")
    garbage = RawMessage(b"\x00not avro at all", {"schema_version": "1.2"}, "m-garbage", again.publish_time_ms)
    return [message(amy_click), message(ben_same_id), again, message(paused("cat", 7)), garbage]


AWKWARD = _awkward()
SHARED_EVENT_ID = AWKWARD[0].attributes["event_id"]


def _archive_lines(n: int) -> list[str]:
    lines = [to_json_line(m) for m in _messages(n, seed=7, duplicates=0.05, invalid=0.03)]
    lines += [to_json_line(m) for m in AWKWARD]
    unreadable = ["this is not JSON", json.dumps({"data": "***", "message_id": "bad-base64"})]
    return lines[:40] + unreadable + lines[40:]


def test_a_sharded_replay_writes_exactly_what_an_unsharded_replay_writes(tmp_path: Path, catalog_file: Path) -> None:
    archive_path = tmp_path / "archive.jsonl"
    archive_path.write_text("\n".join(_archive_lines(600)) + "\n")
    # One erased person: their events are filtered in both (the deletion request is per person).
    requests = _no_deletion_requests(tmp_path / "requests")
    requests.write_text(json.dumps({"user_ids": [pseudonym("cat")], "requested_at": "2026-06-01T00:00:00Z"}) + "\n")
    erased = f"--deletion_requests_path={requests}"

    whole, one = _run(archive_path, tmp_path / "whole" / "out", catalog_file, AGES, erased)
    sharded, four = _run(archive_path, tmp_path / "sharded" / "out", catalog_file, AGES, erased, "--shards=4")

    assert len(four.shard_results) == 4  # it did run four replays
    assert _comparable(sharded) == _comparable(whole)
    assert _counters(four) == _counters(one)  # the counters of every shard, added up
    # The archive held what the comparison must cover.
    assert whole["duplicates"] and whole["filtered"] and whole["sessions"] and whole["impressions"]
    assert {d["reason"] for d in whole["dead_letters"]} >= {"unreadable_archive_line", "undecodable"}
    assert len({e["user_id"] for e in whole["events"] if e["event_id"] == SHARED_EVENT_ID}) == 2
    assert "erased_user" in {f["reason"] for f in whole["filtered"]}
    assert len({r["replayed_at"] for name in OUTPUTS if name != "sessions" for r in sharded[name]}) == 1
    assert not (tmp_path / "sharded" / "out" / "_shards").exists()
    assert not (tmp_path / "sharded" / "out" / "_parts").exists()


def test_a_sharded_replay_of_pubsub_avro_writes_what_an_unsharded_one_writes(
    tmp_path: Path, catalog_file: Path
) -> None:
    messages = _messages(300, seed=8, duplicates=0.05, invalid=0.03) + AWKWARD
    path = write_pubsub_avro(tmp_path / "archive.avro", messages)
    whole = _replay(path, tmp_path / "whole" / "out", catalog_file, AGES)
    sharded = _replay(path, tmp_path / "sharded" / "out", catalog_file, AGES, "--shards=3")
    assert _comparable(sharded) == _comparable(whole) and whole["events"]


def test_every_archive_line_goes_to_exactly_one_shard_and_each_person_to_one(tmp_path: Path) -> None:
    people = [f"person-{i}" for i in range(40)]
    lines = [to_json_line(message(clicked(p, i))) for i in range(3) for p in people]
    lines += ["", "not json", to_json_line(raw_message(b"\x01garbage", schema_version="1.2"))]
    # A second file in Windows line ends, its last line without an end: read as Beam reads them.
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_bytes(("\n".join(lines[:70]) + "\n").encode())
    second.write_bytes(("\r\n".join(lines[70:])).encode())

    shards = replay_shards.split(str(tmp_path / "*.jsonl"), 4, str(tmp_path / "shards"))

    assert [s.index for s in shards] == [0, 1, 2, 3]
    found: Counter[bytes] = Counter()
    shard_of_person: dict[str, set[int]] = {}
    for shard in shards:
        for path in sorted((tmp_path / "shards").glob(f"{shard.index:05d}/*.jsonl")):
            source = shard.sources[replay_shards.source_index(str(path))]
            for line in path.read_bytes().splitlines():
                found[(source, line)] += 1
                try:
                    person = replay_shards.person_of(archive.from_json_line(line))
                except archive.Unreadable:
                    person = None
                shard_of_person.setdefault(person or "", set()).add(shard.index)
    expected = Counter((str(first), line.encode()) for line in lines[:70]) + Counter(
        (str(second), line.encode()) for line in lines[70:]
    )
    assert found == expected  # every line once, in a shard that names its own file
    assert all(len(where) == 1 for where in shard_of_person.values())
    assert shard_of_person[""] == {0}  # no readable person: the fixed shard
    assert len({i for person, where in shard_of_person.items() if person for i in where}) == 4
    assert sum(s.messages for s in shards) == len(lines) - 1  # the blank line holds no message


def test_a_failing_shard_fails_the_whole_replay_and_joins_nothing(
    tmp_path: Path, catalog_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shard's pipeline that dies (here: the runner out of memory on one message of the third
    shard, after two shards wrote their parts) fails the replay loudly: no output file is
    written, nothing is left to be joined later, and a rerun writes every row once."""
    people = [f"person-{i}" for i in range(30)]
    victim = next(p for p in people if replay_shards.shard_of(p, 3) == 2)
    fatal = message(clicked(victim, 9), message_id="m-fatal")
    archive_path = tmp_path / "archive.jsonl"
    archive_path.write_text("\n".join([to_json_line(message(clicked(p, 1))) for p in people] + [to_json_line(fatal)]))
    real = replay._read_entry

    def dies_on_the_fatal_message(element, keyring):
        for out in real(element, keyring):
            if isinstance(out, RawMessage) and out.message_id == "m-fatal":
                raise MemoryError("the in-process runner ran out of memory")
            yield out

    monkeypatch.setattr(replay, "_read_entry", dies_on_the_fatal_message)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match=r"shard 3 of 3 failed.*MemoryError"):
        _replay(archive_path, out, catalog_file, AGES, "--shards=3")
    assert sorted(p.name for p in out.iterdir()) == []  # no output file, no parts, no shard files

    monkeypatch.setattr(replay, "_read_entry", real)
    again = _replay(archive_path, out, catalog_file, AGES, "--shards=3")
    assert Counter(e["user_id"] for e in again["events"]) == Counter(
        {pseudonym(p): 1 for p in people} | {pseudonym(victim): 2}
    )


def test_leftovers_of_a_killed_sharded_replay_are_not_joined_into_the_next_one(
    tmp_path: Path, catalog_file: Path
) -> None:
    click = clicked("ben", 5)
    archive_path = tmp_path / "archive.jsonl"
    archive_path.write_text(to_json_line(message(click)) + "\n")
    out = tmp_path / "out"
    (out / "_parts").mkdir(parents=True)
    (out / "_parts" / "events-shard00001-00000-of-00001.jsonl").write_text(json.dumps({"event_id": "dead-run"}) + "\n")
    (out / "_shards" / "00002").mkdir(parents=True)
    (out / "_shards" / "00002" / "000000.jsonl").write_text(to_json_line(message(clicked("old", 1))) + "\n")
    got = _replay(archive_path, out, catalog_file, AGES, "--shards=3")
    assert [e["event_id"] for e in got["events"]] == [click.event_id]


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--input=bq://p.d.dead_letters", "--output_dir=x"], r"--shards.*files"),
        (["--input=pubsub://projects/p/subscriptions/s", "--output_dir=x"], r"--shards.*files"),
        (["--input=a.jsonl"], r"--shards.*--output_dir"),
        (["--input=a.jsonl", "--output_dir=x", "--runner=DataflowRunner"], r"--shards.*DataflowRunner"),
    ],
)
def test_shards_where_they_do_not_apply_is_a_clear_error(argv: list[str], why: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=why):
        replay.run([*argv, "--shards=2", f"--pseudonym_key={create_key_file(tmp_path / 'k')}"])


def test_the_cli_passes_shards_and_reports_the_warnings_of_every_shard(tmp_path: Path, catalog_file: Path) -> None:
    # Archived without publish times and older than the maximum age: every shard dead-letters some.
    lines = [json.dumps({**json.loads(to_json_line(m)), "publish_time": None}) for m in _messages(60, seed=6)]
    archive_path = tmp_path / "old.jsonl"
    archive_path.write_text("\n".join(lines) + "\n")
    create_key_file(tmp_path / "pseudonym.key")
    args = ["replay", "--input", str(archive_path), "--catalog-path", str(catalog_file), "--state-dir", str(tmp_path)]
    args += ["--deletion-requests-path", str(_no_deletion_requests(tmp_path)), "--output-dir", str(tmp_path / "out")]

    result = CliRunner().invoke(app, [*args, "--shards", "3"], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    dead = [json.loads(line) for line in (tmp_path / "out" / "dead_letters.jsonl").read_text().splitlines()]
    too_old = sum(d["reason"] == "event_time_too_old" for d in dead)
    assert too_old > 0
    assert f"{too_old} message(s) without a publish_time" in " ".join(result.output.split())
    help_text = CliRunner().invoke(app, ["replay", "--help"], env={"COLUMNS": "200"}).output
    assert "--shards" in help_text and "memory" in " ".join(help_text.split())


def test_a_replay_beyond_one_machine_builds_for_dataflow_offline(tmp_path: Path) -> None:
    """``--runner DataflowRunner``: the workers hold the grouping, so an archive of any size
    replays without --shards. Its graph builds offline (--dry_run), files out to Cloud Storage:
    a dry run submits nothing, so it has no part files to join (and must not try to read them)."""
    archive_path = tmp_path / "archive.jsonl"
    archive_path.write_text(to_json_line(message(clicked("amy", 1))) + "\n")
    result = replay.run(
        [
            *OFFLINE_DATAFLOW,
            f"--input={archive_path}",  # a dry run checks a local file; a real job reads gs://
            "--output_dir=gs://offline-bucket/replay-out",
            "--catalog_path=gs://offline-bucket/catalog.jsonl",
            "--deletion_requests_path=gs://offline-bucket/deletion_requests.jsonl",
        ]
    )
    assert result.state == "DONE"
