"""Replay throughput (Beam batch, in-process runner) vs plain-Python sessionization of the same file.

Both read the same JSON-lines archive of simulated traffic. The plain-Python baseline does
the minimum that yields the same sessions: parse, decode, validate, de-duplicate, sort per
user and cut at the gap. The Beam replay does the full pipeline (enrichment, session rows,
dead letters, four output files). A stage breakdown shows where Beam's time goes.

    python -m bench.replay [--events 100000] [--breakdown]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from bench.common import machine, messages, peak_rss_mb, table, write_archive, write_catalog
from clickstream.core.pseudonyms import create_key_file, load_keyring
from pipelines import archive, replay
from pipelines.options import ClickstreamOptions
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.rules.enrich import bot_reason
from pipelines.rules.privacy_filter import filter_reason
from pipelines.transforms import EVENTS
from pipelines.transforms.decode import DecodeAndValidate
from pipelines.transforms.dedup import DeduplicateEvents
from pipelines.transforms.enrich import CatalogSideInput, EnrichEvents
from pipelines.transforms.sessionize import Sessionize

GAP_S = 60


def plain_python(path: Path, key: Path, consent_default: str = "granted") -> tuple[float, int]:
    started = time.perf_counter()
    limits, seen, keyring = Limits(), set(), load_keyring(key)
    now_ms = time.time_ns() // 1_000_000
    per_user: dict[str, list[int]] = defaultdict(list)
    with path.open() as handle:
        for line in handle:
            outcome = decode_and_validate(archive.from_json_line(line), limits, keyring)
            # The pipeline's order: filtered before dedup, a bot's event stored but in no session.
            if outcome.event is None or filter_reason(outcome.event, consent_default, {}, now_ms, 0):
                continue
            if outcome.event["event_id"] in seen:
                continue
            seen.add(outcome.event["event_id"])
            if bot_reason(outcome.event.get("user_agent") or ""):
                continue
            per_user[outcome.event["user_id"]].append(outcome.event_ts_ms)
    sessions = 0
    for times in per_user.values():
        times.sort()
        sessions += 1 + sum(1 for a, b in itertools.pairwise(times) if b - a >= GAP_S * 1000)
    return time.perf_counter() - started, sessions


def beam_replay(path: Path, catalog: Path, out: Path, key: Path) -> tuple[float, int]:
    started = time.perf_counter()
    requests = out.parent / "deletion_requests.jsonl"  # nobody forgotten, as in plain_python
    requests.write_text("")
    replay.run(
        [
            f"--input={path}",
            f"--output_dir={out}",
            f"--catalog_path={catalog}",
            f"--session_gap_s={GAP_S}",
            f"--pseudonym_key={key}",
            f"--deletion_requests_path={requests}",
        ]
    )
    elapsed = time.perf_counter() - started
    return elapsed, sum(1 for _ in (out / "sessions.jsonl").open())


def stage_breakdown(path: Path, catalog: Path, key: Path) -> list[tuple[str, float]]:
    """Cumulative pipelines that stop after each stage (each ends in a cheap count)."""
    rows = []
    for depth, label in enumerate(("read+decode+validate", "+ dedup", "+ enrich", "+ sessionize"), start=1):
        opts = PipelineOptions([f"--catalog_path={catalog}", f"--session_gap_s={GAP_S}"])
        opts.view_as(StandardOptions).streaming = False
        options = opts.view_as(ClickstreamOptions)
        started = time.perf_counter()
        with beam.Pipeline(runner=FnApiRunner(), options=opts) as p:
            pcoll = p | beam.io.ReadFromText(str(path)) | beam.Map(archive.from_json_line)
            pcoll = (pcoll | DecodeAndValidate(options.limits(), pseudonym_key=str(key))).events
            if depth >= 2:
                pcoll = (pcoll | DeduplicateEvents(streaming=False))[EVENTS]
            if depth >= 3:
                side = p | CatalogSideInput((str(catalog), None, None, None), 0)
                pcoll = pcoll | EnrichEvents(side)
            if depth >= 4:
                pcoll = pcoll | Sessionize(GAP_S, 0, 0, streaming=False)
            _ = pcoll | beam.WindowInto(beam.window.GlobalWindows()) | beam.combiners.Count.Globally()
        rows.append((label, time.perf_counter() - started))
    return rows


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--breakdown", action="store_true", help="also time the pipeline stage by stage")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = write_archive(work / "archive.jsonl", messages(args.events, duplicates=0.01, invalid=0.01))
        catalog = write_catalog(work / "catalog.jsonl")
        key = create_key_file(work / "pseudonym.key")
        plain_s, plain_sessions = plain_python(path, key)
        beam_s, beam_sessions = beam_replay(path, catalog, work / "out", key)
        print(
            table(
                f"replay of {args.events} events ({machine()})",
                [
                    (
                        "plain Python sessionization",
                        f"{args.events / plain_s:,.0f}",
                        f"{plain_s:.1f}",
                        str(plain_sessions),
                    ),
                    (
                        "Beam replay (full pipeline)",
                        f"{args.events / beam_s:,.0f}",
                        f"{beam_s:.1f}",
                        str(beam_sessions),
                    ),
                ],
                ("run", "events/s", "seconds", "sessions"),
            )
        )
        print(f"Beam / plain Python: {plain_s / beam_s:.2f}x; peak RSS {peak_rss_mb():.0f} MB")
        figures = {"replay_events_per_s": args.events / beam_s, "plain_python_events_per_s": args.events / plain_s}
        if args.breakdown:
            rows = stage_breakdown(path, catalog, key)
            added = [seconds - before for (_, seconds), (_, before) in zip(rows, [("", 0.0), *rows], strict=False)]
            print(
                table(
                    "where the Beam replay's time goes (cumulative pipelines, each ending in a count)",
                    [
                        (label, f"{seconds:.1f}", f"+{extra:.1f}")
                        for (label, seconds), extra in zip(rows, added, strict=True)
                    ],
                    ("stages", "seconds", "added"),
                )
            )

        return figures


if __name__ == "__main__":
    main()
