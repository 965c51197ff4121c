"""Replay: the same transforms in batch over archives and dead letters."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.core.paths import REPO_ROOT
from clickstream.core.pseudonyms import create_key_file, new_keyring
from clickstream.core.reasons import STAGE_OF, Reason
from clickstream.core.sealing import open_sealed, seal
from clickstream.core.synthetic_videos import generate_videos
from emitters.events import encode_event
from emitters.simulator import Simulator, TrafficProfile
from pipelines import replay
from pipelines.archive import from_json_line, to_json_line
from pipelines.graph import Outputs
from pipelines.messages import RawMessage, dead_letter_row
from pipelines.options import ClickstreamOptions
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.rules.dedup import dedup_key
from pipelines.rules.enrich import enrich
from pipelines.rules.impressions import impression_rows, is_impressions
from pipelines.rules.privacy_filter import GRANTED, filter_reason
from pipelines.transforms.enrich import load_catalog
from tests.support.archives import write_pubsub_avro
from tests.support.keys import key_file, keyring, pseudonym
from tests.support.teststream import T0_MS, at, clicked, message, paused, run_stream, shown
from tests.support.warehouse_seeds import write_catalog

GAP_S = 30


def _messages(n: int, seed: int = 3, **knobs: float) -> list[RawMessage]:
    profile = TrafficProfile(rate=50, session_gap_s=GAP_S, seed=seed, **knobs)
    out = []
    for i, emission in enumerate(Simulator(profile, T0_MS).emissions()):
        if i == n:
            break
        event = emission.event
        out.append(
            RawMessage(encode_event(event), event.attributes(), f"m-{i}", T0_MS + int(emission.due_s * 1000) + 40)
        )
    return out


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog") / "catalog.jsonl", 500)


def _no_deletion_requests(folder: Path) -> Path:
    """An empty deletion_requests file: an offline replay reads who was forgotten from a file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "deletion_requests.jsonl"
    path.write_text("")
    return path


def _replay(input_path: Path, out: Path, catalog: Path, *extra: str) -> dict[str, list[dict]]:
    replay.run(
        [
            f"--input={input_path}",
            f"--output_dir={out}",
            f"--catalog_path={catalog}",
            f"--deletion_requests_path={_no_deletion_requests(out.parent)}",
            f"--session_gap_s={GAP_S}",
            f"--pseudonym_key={key_file()}",
            *extra,
        ]
    )
    return {
        name: [json.loads(line) for line in (out / f"{name}.jsonl").read_text().splitlines()]
        for name in ("events", "impressions", "sessions", "dead_letters", "duplicates", "filtered")
    }


def _stored_messages(out: dict[str, list[dict]]) -> int:
    """Messages stored: events rows, and ThumbnailsShown messages (several impressions rows each)."""
    return len(out["events"]) + len({(r["message_id"], r["event_id"]) for r in out["impressions"]})


def _final(sessions: list[dict]) -> set[tuple]:
    """The sessions_final view's rule in Python: latest pane per session_id, minus sessions
    that a later pane of the same user covers (swallowed by a merge)."""
    latest: dict[str, dict] = {}
    for row in sorted(sessions, key=lambda r: (r["emitted_at"], r["pane_index"])):
        latest[row["session_id"]] = row
    kept = [
        r
        for r in latest.values()
        if not any(
            o["user_id"] == r["user_id"]
            and o["session_id"] != r["session_id"]
            and o["session_start"] <= r["session_start"]
            and o["window_end"] >= r["window_end"]
            and o["emitted_at"] >= r["emitted_at"]
            for o in latest.values()
        )
    ]
    return {
        (
            r["session_id"],
            r["user_id"],
            r["session_start"],
            r["session_end"],
            r["event_count"],
            json.dumps(r["videos_paused"], sort_keys=True),
        )
        for r in kept
    }


def test_replay_and_streaming_agree_on_final_sessions(tmp_path: Path, catalog_file: Path) -> None:
    messages = _messages(1500, duplicates=0.05, invalid=0.02)
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(to_json_line(m) for m in messages) + "\n")
    batch = _replay(archive, tmp_path / "out", catalog_file)

    # The same messages streamed in publish order, the watermark following publish time.
    stream = TestStream(coder=beam.coders.PickleCoder())
    for chunk_start in range(0, len(messages), 100):
        chunk = messages[chunk_start : chunk_start + 100]
        stream = stream.add_elements(at(chunk)).advance_watermark_to(chunk[-1].publish_time_ms / 1000 - 1)
    stream = stream.advance_watermark_to_infinity()
    catalog = {
        v.video_id: {"title": v.title, "category": v.category, "duration_ms": v.duration_ms, "creator_id": v.creator_id}
        for v in generate_videos(500)
    }
    # Default limits: the simulator's "ancient" events are dead letters in both modes, so
    # every event that reaches a session is on time.
    events, sessions, dead = run_stream(stream, catalog=catalog, session_gap_s=GAP_S, max_event_age_s=3 * 86400)

    # The simulated viewers who declined analytics are filtered (consent_denied), in both modes.
    outcomes = ("dead_letters", "duplicates", "filtered")
    assert _stored_messages(batch) + sum(len(batch[name]) for name in outcomes) == len(messages) and batch["filtered"]
    assert sorted(e["event_id"] for e in batch["events"]) == sorted(e["event_id"] for e in events)
    assert len(batch["dead_letters"]) == len(dead)
    assert _final(batch["sessions"]) == _final(sessions)
    assert all(s["is_final"] and s["pane_timing"] == "ON_TIME" for s in batch["sessions"])


def test_replay_reads_pubsub_cloud_storage_avro(tmp_path: Path, catalog_file: Path) -> None:
    messages = _messages(200, seed=4)
    path = write_pubsub_avro(tmp_path / "archive.avro", messages)
    out = _replay(path, tmp_path / "out", catalog_file)
    # A row of thumbnails shown is stored as impressions, one per thumbnail: its slot-1 row stands for it.
    stored = out["events"] + out["filtered"] + [i for i in out["impressions"] if i["slot"] == 1]
    assert len(stored) == 200 and out["dead_letters"] == []
    assert {e["message_id"] for e in stored} == {m.message_id for m in messages}


def test_replay_with_an_unknown_input_is_a_clear_error(tmp_path: Path, catalog_file: Path) -> None:
    with pytest.raises(Exception, match=r"No files found|does not exist|matched no files"):
        _replay(tmp_path / "missing-*.jsonl", tmp_path / "out", catalog_file)


def test_an_unreadable_archive_line_is_a_dead_letter_and_the_rest_goes_through(
    tmp_path: Path, catalog_file: Path
) -> None:
    messages = _messages(40, seed=5)
    good = [to_json_line(m) for m in messages]
    data = json.loads(good[0])["data"]
    bad = [
        "this is not JSON",
        json.dumps({"data": "***not base64***", "message_id": "bad-base64", "publish_time": "2026-01-01T00:00:00Z"}),
        json.dumps({"data": data, "message_id": "bad-time", "publish_time": "yesterday"}),
        json.dumps({"data": data, "message_id": "bad-attributes", "attributes": ["a", "b"]}),
    ]
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(good[:10] + bad[:2] + good[10:30] + bad[2:] + good[30:]) + "\n")

    out = _replay(archive, tmp_path / "out", catalog_file)

    outcomes = ("duplicates", "dead_letters", "filtered")
    assert _stored_messages(out) + sum(len(out[name]) for name in outcomes) == len(good) + len(bad)
    unreadable = [d for d in out["dead_letters"] if d["reason"] == Reason.UNREADABLE_ARCHIVE_LINE]
    assert len(unreadable) == len(bad)
    assert {d["stage"] for d in unreadable} == {STAGE_OF[Reason.UNREADABLE_ARCHIVE_LINE]}
    # The dead letter keeps the line itself (sealed: it may hold raw ids anywhere), says which
    # file it came from, and keeps the message id where the line had a readable one.
    assert {d["payload_ids"] for d in unreadable} == {"encrypted"}
    assert sorted(open_sealed(keyring(), base64.b64decode(d["payload"])).decode() for d in unreadable) == sorted(bad)
    assert all(str(archive) in d["error"] for d in unreadable)
    assert {d["message_id"] for d in unreadable} >= {"bad-base64", "bad-time", "bad-attributes"}
    assert set(unreadable[0]) - {"replayed_at"} == set(dead_letter_row(RawMessage(b""), "s", "r", "e"))
    # Every readable line went through as before.
    assert {e["message_id"] for e in out["events"] + out["impressions"] + out["duplicates"] + out["filtered"]} | {
        d["message_id"] for d in out["dead_letters"] if d not in unreadable
    } == {m.message_id for m in messages}


def test_replay_help_lists_every_option_it_takes() -> None:
    result = CliRunner().invoke(app, ["replay", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--input", "--output-dir", "--dead-letter-filter", "--catalog-path", "--deletion-requests-path",
                   "--session-gap-s", "--max-event-age-s"):  # fmt: skip
        assert option in result.output, option
    # Nothing else passes through unlisted: an option it does not list is refused.
    refused = CliRunner().invoke(app, ["replay", "--input", "x.jsonl", "--session_gap_s=60"])
    assert refused.exit_code == 2 and "No such option" in refused.output


def test_replaying_old_traffic_without_publish_time_says_why_and_how_to_fix(tmp_path: Path, catalog_file: Path) -> None:
    # Archived without publish times, and older than the default maximum age (3 days).
    lines = [json.dumps({**json.loads(to_json_line(m)), "publish_time": None}) for m in _messages(30, seed=6)]
    archive = tmp_path / "old.jsonl"
    archive.write_text("\n".join(lines) + "\n")
    args = ["replay", "--input", str(archive), "--catalog-path", str(catalog_file), "--state-dir", str(tmp_path)]
    args += ["--deletion-requests-path", str(_no_deletion_requests(tmp_path))]
    create_key_file(tmp_path / "pseudonym.key")  # as `clickstream local up` does

    result = CliRunner().invoke(app, [*args, "--output-dir", str(tmp_path / "out")], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    dead = [json.loads(line) for line in (tmp_path / "out" / "dead_letters.jsonl").read_text().splitlines()]
    too_old = sum(d["reason"] == Reason.EVENT_TIME_TOO_OLD for d in dead)
    assert too_old > 0
    said = " ".join(result.output.split())
    assert f"{too_old} message(s) without a publish_time" in said
    assert "--max-event-age-s" in said
    # The fix it offers works: a maximum age above the traffic's age stores every valid event.
    fixed = CliRunner().invoke(
        app, [*args, "--output-dir", str(tmp_path / "fixed"), "--max-event-age-s", str(100 * 365 * 86400)]
    )
    assert fixed.exit_code == 0, fixed.output
    dead = [json.loads(line) for line in (tmp_path / "fixed" / "dead_letters.jsonl").read_text().splitlines()]
    assert not any(d["reason"] == Reason.EVENT_TIME_TOO_OLD for d in dead)
    assert "publish_time" not in " ".join(fixed.output.split())


def test_a_replay_without_stack_catalog_or_credentials_is_one_clear_line(tmp_path: Path) -> None:
    archive = tmp_path / "a.jsonl"
    archive.write_text("\n".join(to_json_line(m) for m in _messages(5)) + "\n")
    # No emulator endpoints, no local stack in the state folder, no Google Cloud credentials.
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "NO_GCE_CHECK": "True",
        "PYTHONPATH": str(REPO_ROOT),
        "COLUMNS": "1000",  # the message is one line; rich wraps at the width
    }
    command = [sys.executable, "-m", "clickstream.app.cli", "replay", "--input", str(archive)]
    result = subprocess.run(
        [*command, "--output-dir", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "DefaultCredentialsError" not in result.stderr
    assert "--catalog-path" in lines[0] and "clickstream local up" in lines[0]
    assert "--deletion-requests-path" in lines[0]


def test_a_dead_letter_the_collector_refused_stays_a_collect_dead_letter_on_replay() -> None:
    """Its payload is the JSON the collector refused, not a contract message: decoding it would
    turn a clear `contract_violation` into `undecodable`. It is kept as it was (the replay's
    record), for the client to be fixed and the event sent again."""
    refused = RawMessage(
        b'{"event_type": "VideoPaused", "user_id": 7}',
        {"clickstream_reason": "contract_violation", "clickstream_detail": "user_id: 7 is not a string"},
        "r-1",
        T0_MS,
    )
    row = dead_letter_row(refused, "collect", "contract_violation", "user_id: 7 is not a string")
    row["payload"] = base64.b64decode(row["payload"])  # as BigQuery returns BYTES
    out = list(replay.from_dead_letter(row, "bq://p.d.dead_letters", keyring()))
    assert [o.tag for o in out] == [replay.UNREADABLE]
    kept = out[0].value
    assert (kept["stage"], kept["reason"], kept["error"], kept["message_id"]) == (
        "collect",
        "contract_violation",
        f"user_id: {pseudonym('7')} is not a string",  # an older row's raw id is pseudonymised on the way
        "r-1",
    )
    assert "d.stage" in replay.dead_letters_query("p.d.dead_letters", None)


def _as_stored(row: dict) -> dict:
    return {**row, "payload": base64.b64decode(row["payload"])}  # as BigQuery returns BYTES


def test_replaying_a_pseudonymised_dead_letter_does_not_hash_the_ids_again() -> None:
    raw = message(paused("raw-user-zoe", 0))
    too_old = decode_and_validate(raw, Limits(max_age_ms=1), keyring(), now_ms=T0_MS).dead_letter
    assert (too_old["reason"], too_old["payload_ids"]) == (Reason.EVENT_TIME_TOO_OLD, "pseudonymised")
    (again,) = replay.from_dead_letter(_as_stored(too_old), "bq://p.d.dead_letters", keyring())
    assert isinstance(again, RawMessage) and again.ids_pseudonymised
    event = decode_and_validate(again, Limits(), keyring(), now_ms=T0_MS).event
    assert (event["user_id"], event["device_id"]) == (pseudonym("raw-user-zoe"), pseudonym("d-raw-user-zoe"))


def test_a_pseudonymised_flag_comes_from_the_dead_letter_row_never_from_an_attribute() -> None:
    raw = message(paused("raw-user-zoe", 0))
    spoofed = RawMessage(raw.data, {**raw.attributes, "ids_pseudonymised": "true"}, "m-1", raw.publish_time_ms)
    event = decode_and_validate(spoofed, Limits(), keyring(), now_ms=T0_MS).event
    assert event["user_id"] == pseudonym("raw-user-zoe")
    letter = dead_letter_row(raw, "decode", "undecodable", "x")  # an old row: payload_ids NULL, raw bytes
    (again,) = replay.from_dead_letter(_as_stored(letter), "bq://p.d.dead_letters", keyring())
    assert not again.ids_pseudonymised
    assert decode_and_validate(again, Limits(), keyring(), now_ms=T0_MS).event["user_id"] == pseudonym("raw-user-zoe")


def test_a_sealed_dead_letter_is_opened_on_replay_and_one_sealed_under_a_dropped_key_is_kept() -> None:
    raw = message(paused("raw-user-zoe", 0))
    sealed = dead_letter_row(
        RawMessage(seal(keyring(), raw.data), raw.attributes, "m-1", raw.publish_time_ms),
        "decode",
        "undecodable",
        "x",
        payload_ids="encrypted",
    )
    (again,) = replay.from_dead_letter(_as_stored(sealed), "bq://p.d.dead_letters", keyring())
    assert again.data == raw.data and not again.ids_pseudonymised
    assert decode_and_validate(again, Limits(), keyring(), now_ms=T0_MS).event["user_id"] == pseudonym("raw-user-zoe")

    out = list(replay.from_dead_letter(_as_stored(sealed), "bq://p.d.dead_letters", new_keyring()))
    assert [o.tag for o in out] == [replay.UNREADABLE]
    kept = out[0].value
    assert (kept["payload_ids"], kept["payload"], kept["message_id"]) == ("encrypted", sealed["payload"], "m-1")
    assert "pseudonym_key" in kept["error"]


def test_a_pseudonymised_collector_reject_keeps_its_pseudonyms_on_replay() -> None:
    refused = RawMessage(
        json.dumps({"user_id": "raw-user-zoe", "device_id": "raw-dev-zoe"}).encode(),
        {"clickstream_reason": "contract_violation", "clickstream_detail": "no event_type"},
        "r-1",
        T0_MS,
    )
    first = replay.rejected_dead_letter(refused, keyring())
    assert first["user_id"] == pseudonym("raw-user-zoe")
    (kept,) = replay.from_dead_letter(_as_stored(first), "bq://p.d.dead_letters", keyring())
    assert (kept.value["payload"], kept.value["user_id"]) == (first["payload"], first["user_id"])
    assert "d.payload_ids" in replay.dead_letters_query("p.d.dead_letters", None)


def test_a_replayed_thumbnails_shown_is_stored_as_impressions_with_its_lineage(
    tmp_path: Path, catalog_file: Path
) -> None:
    row, click = shown("amy", 1), clicked("amy", 5)
    messages = [message(row), message(click), message(row, publish_delay_ms=900, message_id="m-again")]
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(to_json_line(m) for m in messages) + "\n")
    out = _replay(archive, tmp_path / "out", catalog_file, f"--max_event_age_s={10 * 365 * 86400}")
    assert sorted(r["impression_id"] for r in out["impressions"]) == ["req-1-1", "req-1-2", "req-1-3"]
    assert {(r["event_id"], r["message_id"]) for r in out["impressions"]} == {(row.event_id, message(row).message_id)}
    assert all(r["replayed_at"] for r in out["impressions"])
    assert [e["event_id"] for e in out["events"]] == [click.event_id]
    assert [d["message_id"] for d in out["duplicates"]] == ["m-again"]
    assert [s["event_count"] for s in out["sessions"]] == [1]  # the click's: what was shown is in no session


def test_the_impressions_file_is_one_json_line_per_thumbnail_of_every_stored_thumbnails_shown(
    tmp_path: Path, catalog_file: Path
) -> None:
    """The file a replay writes holds, line for line, ``impression_rows`` of each stored
    ThumbnailsShown (first delivery, not filtered), stamped with ``replayed_at``, keys sorted:
    however the batch graph carries the rows, the file holds the same rows."""
    messages = _messages(400, duplicates=0.05)
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(to_json_line(m) for m in messages) + "\n")
    _replay(archive, tmp_path / "out", catalog_file)
    catalog, seen, expected = load_catalog(str(catalog_file), None, None, None), set(), []
    for raw in sorted(messages, key=lambda m: m.publish_time_ms):  # the earliest delivery is kept
        event = decode_and_validate(raw, Limits(), keyring()).event
        if event is None or filter_reason(event, GRANTED, {}, raw.publish_time_ms, 0) or dedup_key(event) in seen:
            continue
        seen.add(dedup_key(event))
        row = enrich(event, catalog, "P")
        if is_impressions(row):
            stamped_rows = ({**r, "replayed_at": "R"} for r in impression_rows(row))
            expected += [json.dumps(r, sort_keys=True, default=str) for r in stamped_rows]
    got = []
    for line in (tmp_path / "out" / "impressions.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert list(row) == sorted(row)
        got.append(json.dumps({**row, "processed_at": "P", "replayed_at": "R"}, sort_keys=True))
    assert len(expected) > 100 and sorted(got) == sorted(expected)


def test_parts_left_by_an_interrupted_replay_are_not_joined_into_the_next_one(
    tmp_path: Path, catalog_file: Path
) -> None:
    """A replay killed after writing its part files leaves them in ``_parts``: the next replay
    into the same folder must write its own rows once, not the dead run's rows too."""
    click = clicked("ben", 5)
    archive = tmp_path / "archive.jsonl"
    archive.write_text(to_json_line(message(click)) + "\n")
    out = tmp_path / "out"
    stale = out / "_parts"
    stale.mkdir(parents=True)
    (stale / "events-00003-of-00004.jsonl").write_text(json.dumps({"event_id": "from-the-killed-run"}) + "\n")
    got = _replay(archive, out, catalog_file, f"--max_event_age_s={10 * 365 * 86400}")
    assert [e["event_id"] for e in got["events"]] == [click.event_id]


@pytest.mark.parametrize("stamped_by_writer", [False, True], ids=["stamp-steps", "stamped-by-writer"])
def test_lineage_rows_reach_their_own_tables_files_stamped_beside_the_graphs_rows(
    tmp_path: Path, stamped_by_writer: bool
) -> None:
    """Rows a replay adds besides the graph's (a refused row going back to its table, an input
    that was no message) are written as tagged lines, with the small tables' own rows, and joined
    into the right file: a tab inside a value does not confuse the split. Every row is stamped,
    whether by a step per table or by the files' writer."""
    refused_impression = {"impression_id": "imp\t1", "message_id": "m-1"}
    refused_session = {"session_id": "s-1"}
    unreadable = {"message_id": "m-2", "reason": Reason.UNREADABLE_ARCHIVE_LINE}
    out = tmp_path / "out"
    with beam.Pipeline(runner=FnApiRunner()) as p:
        inputs = {
            replay.REFUSED: p
            | "Refused" >> beam.Create([("impressions", refused_impression), ("sessions", refused_session)]),
            replay.UNREADABLE: p | "Unreadable" >> beam.Create([unreadable]),
        }
        graph_rows = {
            name: p | f"Graph{name}" >> beam.Create([{"from": "graph"}])
            for name in ("events", "sessions", "dead_letters", "duplicates", "filtered")
        }
        shown_rows = p | "GraphImpressions" >> beam.Create([[{"impression_id": "a"}, {"impression_id": "b"}]])
        outputs = Outputs(impressions=shown_rows, grouped=True, **graph_rows)
        with_lineage = replay.with_lineage(outputs, inputs, "R", stamped_by_writer=stamped_by_writer)
        replay.write_files(with_lineage, str(out), "R" if stamped_by_writer else None)
    replay.join_files(str(out))
    files = {f.stem: [json.loads(line) for line in f.read_text().splitlines()] for f in out.glob("*.jsonl")}
    stamp = {"replayed_at": "R"}
    assert sorted(files["impressions"], key=lambda r: r["impression_id"]) == [
        {"impression_id": "a", **stamp},
        {"impression_id": "b", **stamp},
        {**refused_impression, **stamp},
    ]
    in_any_order = lambda rows: sorted(rows, key=str)  # noqa: E731  (a file's row order is no contract)
    # outputs, not messages: no stamp
    assert in_any_order(files["sessions"]) == in_any_order([{"from": "graph"}, refused_session])
    assert in_any_order(files["dead_letters"]) == in_any_order([{"from": "graph", **stamp}, {**unreadable, **stamp}])
    assert [files[name] for name in ("events", "duplicates", "filtered")] == [[{"from": "graph", **stamp}]] * 3
    assert not (out / "_parts").exists()


def test_a_row_the_fast_json_writer_refuses_is_still_written_whole() -> None:
    """A lone surrogate (an archive line may carry ``"\\ud800"`` in an attribute) or an integer
    beyond 64 bits: orjson refuses them, ``json`` writes them; the row is not lost."""
    row = {"attribute": "\ud800", "big": 2**70, "when": "2026-11-28T00:00:00Z"}
    coder = replay._JsonLineCoder()
    assert json.loads(coder.encode(row)) == row
    assert [json.loads(line) for line in coder.encode([row, {"b": 1}]).splitlines()] == [row, {"b": 1}]


@pytest.mark.parametrize("in_process", [True, False], ids=["whole-files", "beams-splittable-reader"])
def test_the_in_process_reader_and_beams_splittable_reader_read_an_archive_alike(
    tmp_path: Path, in_process: bool
) -> None:
    """The in-process runner reads each file whole (one step per file); workers use Beam's
    splittable text reader. Both give every message and the same unreadable dead letters, with
    the same line ends (``\\r\\n``, a last line without one, a blank line), over two files."""
    good = [to_json_line(m) for m in _messages(12, seed=8)]
    first, second = tmp_path / "a-1.jsonl", tmp_path / "a-2.jsonl"
    first.write_bytes(("\r\n".join(good[:5]) + "\r\n\nnot JSON\n").encode())
    second.write_bytes(("\n".join(good[5:]) + "\n{also not JSON\r").encode())
    options = PipelineOptions([f"--pseudonym_key={key_file()}"]).view_as(ClickstreamOptions)
    expected = [(m.message_id, m.data, sorted(m.attributes.items())) for m in map(from_json_line, good)]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        inputs = replay.read_inputs(p, str(tmp_path / "a-*.jsonl"), None, options, in_process=in_process)
        messages = inputs.messages | beam.Map(lambda m: (m.message_id, m.data, sorted(m.attributes.items())))
        assert_that(messages, equal_to(expected), label="Messages")
        letters = inputs[replay.UNREADABLE] | beam.Map(
            lambda d: (str(first) in d["error"], open_sealed(keyring(), base64.b64decode(d["payload"])))
        )
        assert_that(letters, equal_to([(True, b"not JSON"), (False, b"{also not JSON\r")]), label="Letters")
