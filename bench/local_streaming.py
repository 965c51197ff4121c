"""Local streaming ceiling: the sustained rate at which the local pipeline's lag stays bounded.

Starts a local stack of its own (free ports, a temporary folder), then for each rate tried
plays the demo's traffic (duplicates, invalid, late, skewed clocks) in real time into a fresh
topic and dataset, with the streaming pipeline on the local runner as its own process and
the production defaults for the dedup horizon and allowed lateness. Every few seconds it reads
the ledger: the lag is published minus accounted-for messages (stored, dead-lettered,
duplicates, filtered). A rate is *sustained* when the lag over the second half of its run
stays under ``BOUND_S`` seconds of traffic; the search stops at the first rate that is not.
The highest sustained rate is then held for ``--minutes`` (default 5) to confirm it.

    python -m bench.local_streaming                    # search 50..300/s, then 5 minutes at the rate found
    python -m bench.local_streaming --rate 100 --minutes 5   # one rate, no search
    python -m bench.local_streaming --quick            # smoke test: 20/s for 20 s
    python -m bench.local_streaming --rate 100 --minutes 1 --profile /tmp/profile.txt
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam

from bench.common import machine, table
from clickstream.app import provisioning
from clickstream.app.local import services
from clickstream.app.local.pull_size import PULL_MAX_MESSAGES
from clickstream.app.pipeline_process import PipelineProcess
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import TrafficProfile
from emitters.traffic import play

RATES = (50.0, 100.0, 150.0, 200.0, 300.0)
PROBE_S = 60.0
BOUND_S = 15.0  # lag bounded: under this many seconds of traffic (the demo's catch-up goal)
SAMPLE_S = 5.0
STARTUP_S = 10.0  # the pipeline process starts pulling within this (measured: 4-6 s)
DRAIN_STALL_S = 60.0  # give up draining after this long without progress
SESSION_GAP_S = 15  # the demo's; the dedup horizon and allowed lateness keep production defaults


@dataclass
class Probe:
    rate: float
    seconds: float
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (t, published, accounted)
    catch_up_s: float | None = None  # after the last event; None: did not catch up
    emitted_rate: float = 0.0
    profile: str = ""

    def lag(self, sample: tuple[float, int, int]) -> int:
        return max(sample[1] - sample[2], 0)

    @property
    def bounded(self) -> bool:
        during = [s for s in self.samples if s[0] <= self.seconds]
        second_half = [self.lag(s) for s in during if s[0] >= self.seconds / 2] or [self.lag(during[-1])]
        return max(second_half) <= self.rate * BOUND_S and self.catch_up_s is not None


def probe(base: Settings, rate: float, seconds: float, logs: Path, profile_out: Path | None = None) -> Probe:
    settings = base.isolated(f"bench-ls-{rate:g}")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    result = Probe(rate, seconds)
    entry = ("bench.stack_sampler", str(profile_out)) if profile_out else ("clickstream.app.local.run_pipeline",)
    knobs = (f"--session_gap_s={SESSION_GAP_S}", "--early_firing_s=10", "--idle_stop_s=20")
    with PipelineProcess(settings, logs / f"pipeline-{rate:g}.log", *knobs, entry=entry) as pipeline:
        time.sleep(STARTUP_S)
        traffic = TrafficProfile(
            rate=rate, seed=7, session_gap_s=SESSION_GAP_S, duplicates=0.03, invalid=0.02, late=0.02, skewed=0.05
        )
        publisher = EventPublisher(PublisherConfig.from_settings(settings))
        since = datetime.now(UTC) - timedelta(seconds=1)
        emitter = threading.Thread(target=play, args=(traffic, publisher), kwargs={"duration_s": seconds}, daemon=True)
        began = time.monotonic()
        emitter.start()
        last_progress, last_accounted = time.monotonic(), -1
        while True:
            time.sleep(SAMPLE_S)
            now = time.monotonic() - began
            published = publisher.report().delivered
            accounted = read_ledger(client, settings, since).accounted
            result.samples.append((now, published, accounted))
            lag = published - accounted
            print(f"  {rate:g}/s  t={now:5.0f}s  published {published:>6}  accounted {accounted:>6}  lag {lag:>6}")
            if accounted != last_accounted:
                last_progress, last_accounted = time.monotonic(), accounted
            if emitter.is_alive():
                if not pipeline.running:
                    raise RuntimeError(f"the pipeline exited early:\n{pipeline.log_tail()}")
                continue
            if not result.emitted_rate:
                publisher.close(timeout=30)
                emitted_at = now
                result.emitted_rate = publisher.report().delivered / seconds
            if accounted >= published:
                result.catch_up_s = max(now - emitted_at, 0.0)
                break
            if time.monotonic() - last_progress > DRAIN_STALL_S or not pipeline.running:
                break
        if profile_out:
            pipeline.wait(timeout=120)  # it stops itself once idle, and writes the profile
            result.profile = profile_out.read_text() if profile_out.exists() else "(no profile written)"
    return result


def sustained(probes: list[Probe]) -> Probe | None:
    ok = [p for p in probes if p.bounded]
    return max(ok, key=lambda p: p.rate) if ok else None


def report(probes: list[Probe]) -> str:
    rows = []
    for p in probes:
        lags = [p.lag(s) for s in p.samples if s[0] <= p.seconds] or [0]
        rows.append(
            (
                f"{p.rate:g}/s for {p.seconds:g}s",
                f"{p.emitted_rate:.0f}",
                str(lags[-1]),
                str(max(lags)),
                f"{statistics.mean(lags):.0f}",
                "-" if p.catch_up_s is None else f"{p.catch_up_s:.0f}",
                "yes" if p.bounded else "no",
            )
        )
    header = ("rate", "emitted/s", "lag at end", "max lag", "mean lag", "catch-up s", "bounded")
    return table(f"local streaming (apache-beam {apache_beam.__version__}, {machine()})", rows, header)


def main(argv: list[str] | None = None) -> Probe | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES), help="rates tried, ascending")
    parser.add_argument("--probe-seconds", type=float, default=PROBE_S, help="how long each rate is tried")
    parser.add_argument("--rate", type=float, help="hold this rate only (no search)")
    parser.add_argument("--minutes", type=float, default=5.0, help="confirm the rate found for this long (0: no)")
    parser.add_argument("--quick", action="store_true", help="smoke test: 20/s for 20 s, no confirmation")
    parser.add_argument("--profile", type=Path, help="write a stack-sampling profile of the pipeline here")
    args = parser.parse_args(argv)
    print(f"apache-beam {apache_beam.__version__}; local runs pull up to {PULL_MAX_MESSAGES} messages")
    probes: list[Probe] = []
    with tempfile.TemporaryDirectory() as tmp, services.running(services.own_stack_settings(Path(tmp))) as base:
        logs = Path(tmp) / "logs"
        if args.quick:
            probes.append(probe(base, 20.0, 20.0, logs, args.profile))
        elif args.rate:
            probes.append(probe(base, args.rate, args.minutes * 60 or PROBE_S, logs, args.profile))
        else:
            for rate in (float(r) for r in args.rates.split(",")):
                probes.append(probe(base, rate, args.probe_seconds, logs))
                if not probes[-1].bounded:
                    break
            found = sustained(probes)
            if found and args.minutes:
                probes.append(probe(base, found.rate, args.minutes * 60, logs, args.profile))
    print(report(probes))
    for p in probes:
        if p.profile:
            print(f"profile of the pipeline at {p.rate:g}/s:\n{p.profile}")
    best = sustained(probes)
    if best is None:
        print("no rate tried was sustained")
    else:
        confirmed = probes[-1].rate == best.rate and probes[-1].bounded
        print(
            f"sustained: {best.emitted_rate:.0f} events/s ({best.rate:g}/s asked; lag bounded for "
            f"{probes[-1].seconds / 60:g} min: {'yes' if confirmed else 'no'})"
        )
    return best


if __name__ == "__main__":
    main()
