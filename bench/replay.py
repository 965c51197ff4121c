"""Replay throughput and memory (Beam batch, in-process runner) vs plain Python on the same file.

Both read the same JSON-lines archive of simulated traffic. The plain-Python baseline does
the minimum that yields the same sessions: decode, validate, the privacy filter, de-duplicate
by person and event_id, leave out ThumbnailsShown and bots, sort per user and cut at the gap;
the bench stops if the two session counts differ. The Beam replay runs the whole graph
(enrichment, impressions, session rows, dead letters, six output files) in a process of its
own, so that its peak RSS (ru_maxrss) is the replay's alone; plain Python runs in a process of
its own too. Each size in one piece is measured in ``--rounds`` rounds (default 3): plain Python
and the replay back to back, the order turning every round, and the figure is the median of the
rounds' ratios (one run of each swung by a quarter on this shared machine). ``--events``: the sizes replayed
in one piece (default 100k; a 1M replay in one piece passes 8 GB). The streaming-shaped figure
runs the streaming transforms in batch over the first 20k messages of the first file
(``streaming_shaped``; ~10x slower per event, so a smaller file).

``--sharded-events``: the sizes replayed with ``--shards`` (``pipelines.replay_shards``), as many
shards as give about ``--events-per-shard`` events each (default 25k), so that the peak RSS
follows the shard, not the archive; the time includes the pre-pass that splits the archive.
Default 100k; the 1M run takes about 15 minutes on 2 cores, so it is opt-in:

    python -m bench.replay [--events 100000] [--breakdown] [--streaming-events 20000]
    python -m bench.replay --events 100000 --sharded-events 100000 1000000   # memory growth, ~20 min
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from bench.common import iter_messages, machine, table, write_archive, write_catalog
from clickstream.core.pseudonyms import create_key_file, load_keyring
from pipelines import archive, replay
from pipelines.options import ClickstreamOptions
from pipelines.rules.decode import Limits, decode_and_validate
from pipelines.rules.dedup import dedup_key
from pipelines.rules.enrich import SHOWN, bot_reason
from pipelines.rules.privacy_filter import filter_reason
from pipelines.transforms import EVENTS, IMPRESSIONS
from pipelines.transforms.by_user import ByUser, DecodeFilterKeyFn
from pipelines.transforms.decode import DecodeAndValidate
from pipelines.transforms.dedup import DeduplicateEvents
from pipelines.transforms.enrich import CatalogSideInput, EnrichEvents
from pipelines.transforms.impressions import RouteImpressions
from pipelines.transforms.privacy_filter import PrivacyFilter
from pipelines.transforms.sessionize import Sessionize

GAP_S = 60
SIZES = (100_000,)
SHARDED_SIZES = (100_000,)
EVENTS_PER_SHARD = 25_000
ROUNDS = 3
REPO = Path(__file__).resolve().parents[1]


def plain_python(path: Path, key: Path, consent_default: str = "granted") -> tuple[float, int]:
    """The minimum that yields the pipeline's sessions: decode and validate, the privacy
    filter, de-duplicate by person and event_id, leave out what was shown (ThumbnailsShown make
    impressions, no session) and bots, then sort each person's event times and cut at the gap."""
    started = time.perf_counter()
    limits, seen, keyring = Limits(), set(), load_keyring(key)
    now_ms = time.time_ns() // 1_000_000
    per_user: dict[str, list[int]] = defaultdict(list)
    with path.open() as handle:
        for line in handle:
            outcome = decode_and_validate(archive.from_json_line(line), limits, keyring)
            event = outcome.event
            # The pipeline's order: filtered before dedup, a bot's event stored but in no session.
            if event is None or filter_reason(event, consent_default, {}, now_ms, 0):
                continue
            key_ = dedup_key(event)
            if key_ in seen:
                continue
            seen.add(key_)
            if event["event_type"] == SHOWN or bot_reason(event.get("user_agent") or ""):
                continue
            per_user[event["user_id"]].append(outcome.event_ts_ms)
    sessions = 0
    for times in per_user.values():
        times.sort()
        sessions += 1 + sum(1 for a, b in itertools.pairwise(times) if b - a >= GAP_S * 1000)
    return time.perf_counter() - started, sessions


def require_same_sessions(plain_sessions: int, beam_sessions: int) -> None:
    """A ratio between runs that did different work means nothing: stop, saying so."""
    if plain_sessions != beam_sessions:
        raise SystemExit(
            f"bench.replay: plain Python made {plain_sessions} sessions but the Beam replay {beam_sessions}: "
            "the baseline no longer does the pipeline's work, so the ratio is not a measurement"
        )


def beam_replay(path: Path, catalog: Path, out: Path, key: Path, shards: int = 1) -> tuple[float, int]:
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
            f"--shards={shards}",
        ]
    )
    elapsed = time.perf_counter() - started
    return elapsed, sum(1 for _ in (out / "sessions.jsonl").open())


def stage_breakdown(path: Path, catalog: Path, key: Path) -> list[tuple[str, float]]:
    """Cumulative pipelines that stop after each step of the batch graph (each ends in a count);
    the last row is the whole replay (lineage stamps and the six files, written by three
    writers). The grouping's count is of its elements: one per person since issue 16's fourth
    pass, not one per event."""
    rows = []
    for depth, label in enumerate(("read + decode/validate/filter/key", "+ group by user (dedup, enrich, sessions)")):
        opts = PipelineOptions([f"--catalog_path={catalog}", f"--session_gap_s={GAP_S}", f"--pseudonym_key={key}"])
        opts.view_as(StandardOptions).streaming = False
        options = opts.view_as(ClickstreamOptions)
        started = time.perf_counter()
        with beam.Pipeline(runner=FnApiRunner(), options=opts) as p:
            messages = p | beam.io.ReadFromText(str(path)) | beam.Map(archive.from_json_line)
            erased = p | "NoErasedUsers" >> beam.Create([{}])
            if depth == 0:
                fn = DecodeFilterKeyFn(options.limits(), str(key), None, options.consent_default, 0)
                out = (messages | beam.ParDo(fn, beam.pvalue.AsSingleton(erased)).with_outputs())[None]
            else:
                side = p | CatalogSideInput((str(catalog), None, None, None), 0)
                out = (messages | ByUser(erased, side, options.limits(), None, str(key), gap_s=GAP_S))[EVENTS]
            _ = out | beam.combiners.Count.Globally()
        rows.append((label, time.perf_counter() - started))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(
            (
                "+ lineage and six files, three writers (whole replay)",
                beam_replay(path, catalog, Path(tmp) / "out", key)[0],
            )
        )
    return rows


def streaming_shaped(path: Path, catalog: Path, key: Path) -> float:
    """Seconds for the STREAMING graph's transforms (per-key dedup state with timers, merging
    ``Sessions`` windows with their trigger) run in batch over the same file on the same runner:
    a TestStream or the local streaming runner measures no throughput. Ends in counts, as a
    streaming job's rows leave for BigQuery (no files)."""
    opts = PipelineOptions([f"--catalog_path={catalog}", f"--session_gap_s={GAP_S}", f"--pseudonym_key={key}"])
    options = opts.view_as(ClickstreamOptions)
    started = time.perf_counter()
    with beam.Pipeline(runner=FnApiRunner(), options=opts) as p:
        messages = p | beam.io.ReadFromText(str(path)) | beam.Map(archive.from_json_line)
        decoded = messages | DecodeAndValidate(options.limits(), None, str(key), options.consent_default)
        erased = p | "NoErasedUsers" >> beam.Create([{}])
        kept = decoded.events | PrivacyFilter(erased, options.consent_default, 0)
        deduplicated = kept[EVENTS] | DeduplicateEvents(options.dedup_horizon_s, streaming=True)
        side = p | CatalogSideInput((str(catalog), None, None, None), 0)
        routed = deduplicated[EVENTS] | EnrichEvents(side) | RouteImpressions()
        sessions = routed[EVENTS] | Sessionize(GAP_S, options.allowed_lateness_s, 0, streaming=True)
        for label, pcoll in (("Events", routed[EVENTS]), ("Impressions", routed[IMPRESSIONS]), ("Sessions", sessions)):
            _ = (
                pcoll
                | f"{label}Global" >> beam.WindowInto(beam.window.GlobalWindows())
                | f"Count{label}" >> beam.combiners.Count.Globally()
            )
    return time.perf_counter() - started


def _child(argv: list[str]) -> None:
    """One measurement in a process of its own, so that its peak RSS is the replay's alone
    (not the bench's generated messages), and so that plain Python and the replay start alike
    (each pays its own first calls: the user-agent parser's regexes are compiled once per
    process): prints seconds, sessions and ru_maxrss as JSON."""
    kind, path, catalog, key, out, shards = argv
    if kind == "replay":
        seconds, sessions = beam_replay(Path(path), Path(catalog), Path(out), Path(key), int(shards))
    elif kind == "plain":
        seconds, sessions = plain_python(Path(path), Path(key))
    else:
        seconds, sessions = streaming_shaped(Path(path), Path(catalog), Path(key)), -1
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "sessions": sessions, "peak_rss_kb": rss_kb}))


def in_child(kind: str, path: Path, catalog: Path, key: Path, out: Path, shards: int = 1) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    args = [kind, str(path), str(catalog), str(key), str(out), str(shards)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.replay", "--child", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"bench.replay: the {kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--events", type=int, nargs="*", default=list(SIZES), help="sizes replayed in one piece (default: 100000)"
    )
    parser.add_argument(
        "--sharded-events",
        type=int,
        nargs="*",
        default=list(SHARDED_SIZES),
        help="sizes replayed with --shards (default: 100000; add 1000000 to see memory growth, ~15 min more)",
    )
    parser.add_argument(
        "--events-per-shard",
        type=int,
        default=EVENTS_PER_SHARD,
        help=f"the sharded replays' shard size: --shards = events / this, rounded up (default {EVENTS_PER_SHARD})",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"rounds of plain Python and the replay in one piece, back to back, order turning; "
        f"the figure is the median of the rounds' ratios (default {ROUNDS})",
    )
    parser.add_argument("--breakdown", action="store_true", help="also time the batch graph step by step")
    parser.add_argument(
        "--streaming-events",
        type=int,
        default=20_000,
        help="run the streaming-shaped graph on the first N messages of the first archive (0: skip); "
        "it is ~10x slower, so a smaller file keeps the bench short",
    )
    args = parser.parse_args(argv)
    figures: dict[str, float] = {}
    rows, breakdown = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        catalog = write_catalog(work / "catalog.jsonl")
        key = create_key_file(work / "pseudonym.key")
        for n in sorted({*args.events, *args.sharded_events}):
            path = write_archive(work / f"archive-{n}.jsonl", iter_messages(n, duplicates=0.01, invalid=0.01))
            shard_counts = [1] if n in args.events else []
            shard_counts += [max(2, math.ceil(n / args.events_per_shard))] if n in args.sharded_events else []
            plain_runs: list[dict[str, float]] = []
            for shards in shard_counts:
                pairs = []
                for round_ in range(args.rounds if shards == 1 else 1):
                    out = work / f"out-{n}-{shards}-{round_}"
                    order = ("plain", "replay") if round_ % 2 == 0 else ("replay", "plain")
                    pair = {kind: in_child(kind, path, catalog, key, out, shards) for kind in order}
                    require_same_sessions(int(pair["plain"]["sessions"]), int(pair["replay"]["sessions"]))
                    pairs.append(pair)
                plain_runs += [pair["plain"] for pair in pairs]
                ratio = statistics.median(pair["plain"]["seconds"] / pair["replay"]["seconds"] for pair in pairs)
                plain_s = statistics.median(pair["plain"]["seconds"] for pair in pairs)
                run = {
                    "seconds": statistics.median(pair["replay"]["seconds"] for pair in pairs),
                    "sessions": pairs[0]["replay"]["sessions"],
                    "peak_rss_kb": max(pair["replay"]["peak_rss_kb"] for pair in pairs),
                }
                plain_sessions = int(pairs[0]["plain"]["sessions"])
                kb_per_event = run["peak_rss_kb"] / n
                rows.append(
                    (
                        f"{n:,}",
                        "one piece" if shards == 1 else f"{shards} (~{n // shards:,} events each)",
                        str(len(pairs)),
                        f"{n / plain_s:,.0f}",
                        f"{n / run['seconds']:,.0f}",
                        " ".join(f"{pair['plain']['seconds'] / pair['replay']['seconds']:.2f}" for pair in pairs),
                        f"{ratio:.2f}x",
                        f"{plain_sessions} / {int(run['sessions'])}",
                        f"{run['peak_rss_kb'] / 1024:,.0f}",
                        f"{kb_per_event:.2f}",
                    )
                )
                figures[f"{'replay' if shards == 1 else 'replay_sharded'}_{n}_ratio"] = ratio
                name = f"replay_{n}" if shards == 1 else f"replay_sharded_{n}"
                figures[f"{name}_events_per_s"] = n / run["seconds"]
                figures[f"{name}_peak_rss_kb_per_event"] = kb_per_event
                if shards != 1:
                    figures[f"{name}_shards"] = shards
                    figures[f"{name}_peak_rss_mb"] = run["peak_rss_kb"] / 1024
            if n in args.events and "replay_events_per_s" not in figures:  # the headline: the first size
                figures["replay_events_per_s"] = figures[f"replay_{n}_events_per_s"]
                figures["plain_python_events_per_s"] = n / statistics.median(r["seconds"] for r in plain_runs)
                figures["replay_ratio"] = figures[f"replay_{n}_ratio"]
                figures["replay_peak_rss_kb_per_event"] = figures[f"replay_{n}_peak_rss_kb_per_event"]
                if args.streaming_events:
                    m = min(n, args.streaming_events)
                    head = work / "head.jsonl"
                    with path.open() as src, head.open("w") as dst:
                        dst.writelines(itertools.islice(src, m))
                    streamed = in_child("streaming", head, catalog, key, work / "unused")
                    figures["streaming_shaped_events_per_s"] = m / streamed["seconds"]
                    figures["streaming_shaped_events"] = m
                if args.breakdown:
                    breakdown = stage_breakdown(path, catalog, key)
            path.unlink()
        print(
            table(
                f"replay vs plain Python on the same file ({machine()}); the replay runs in a process of its own",
                rows,
                (
                    "events",
                    "shards",
                    "rounds",
                    "plain ev/s",
                    "Beam ev/s",
                    "rounds' ratios",
                    "median ratio",
                    "sessions plain/Beam",
                    "peak RSS MB",
                    "KB/event",
                ),
            )
        )
        if "streaming_shaped_events_per_s" in figures:
            rate = figures["streaming_shaped_events_per_s"]
            print(
                "streaming-shaped graph (state+timers dedup, Sessions windows; a batch run of "
                f"the first {figures['streaming_shaped_events']:,.0f} messages, counts instead of files): "
                f"{rate:,.0f} events/s, "
                f"{rate / figures['plain_python_events_per_s']:.2f}x plain Python"
            )
        if args.breakdown:
            before = [0.0, *(seconds for _, seconds in breakdown)]
            added = [seconds - earlier for (_, seconds), earlier in zip(breakdown, before, strict=False)]
            print(
                table(
                    "where the batch graph's time goes (cumulative pipelines, each ending in a count)",
                    [
                        (label, f"{seconds:.1f}", f"+{extra:.1f}")
                        for (label, seconds), extra in zip(breakdown, added, strict=True)
                    ],
                    ("steps", "seconds", "added"),
                )
            )
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        main()
