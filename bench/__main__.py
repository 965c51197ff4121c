"""Every benchmark in one run: ``python -m bench`` (``make bench``).

Starts a local stack of its own on free ports in a temporary folder (the emulator for the
emitter benchmark, both services for latency, the signal job, position bias and the
recommendations' evaluation; the local streaming benchmark starts another of its own), runs
each benchmark, prints its table, then the cost note derived from this run's figures and a
summary, and stops what it started. ``--quick`` uses smaller inputs (a smoke run, not figures
to quote).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench import (
    collector,
    cost,
    emitter,
    latency,
    local_streaming,
    pipeline_chain,
    position_bias,
    recommendations,
    replay,
    signals,
)
from bench.common import machine
from clickstream.app.local import services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs: checks the benchmarks run")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    quick = args.quick
    figures: dict[str, float] = {}
    started = time.monotonic()
    print(f"benchmarks on {machine()}\n")
    figures |= pipeline_chain.main(["--events", "20000" if quick else "100000"])
    print()
    # 100k in one piece and in shards of 25k; a 1M replay in one piece holds the whole grouping by
    # user in memory (over 8 GB, docs/benchmarks.md), and 1M in shards takes ~15 minutes more
    # (`python -m bench.replay --sharded-events 100000 1000000`), so neither is part of this run.
    quick_replay = ["--events", "10000", "--streaming-events", "2000", "--sharded-events", "10000"]
    figures |= replay.main(
        [*quick_replay, "--events-per-shard", "2500"] if quick else ["--events", "100000", "--sharded-events", "100000"]
    )
    print()
    with (
        tempfile.TemporaryDirectory() as state,
        services.running(services.own_stack_settings(Path(state))) as local,
    ):
        figures |= emitter.main(["--events", "3000" if quick else "20000"], base=local)
        print()
        figures |= collector.main(["--seconds", "3" if quick else "10"], base=local)
        print()
        figures |= latency.main(["--seconds", "15" if quick else "60"], base=local)
        print()
        figures |= signals.main(["--sizes", "10000", "100000"] if quick else [], base=local)
        print()
        figures |= position_bias.main(["--impressions", "100000" if quick else "1000000"], base=local)
        print()
        figures |= recommendations.main(["--impressions", "50000" if quick else "300000"], base=local)
        print()
    # Its own stack: the streaming pipeline must not share the cores with the benchmarks above.
    sustained = local_streaming.main(["--quick"] if quick else [])
    if sustained is not None:
        figures["local_streaming_events_per_s"] = sustained.emitted_rate
    print()
    figures |= cost.note(figures)
    print(f"\nall benchmarks took {time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")


if __name__ == "__main__":
    main()
