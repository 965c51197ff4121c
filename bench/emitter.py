"""Emitter throughput: ``emitters.EventPublisher`` vs the bare google-cloud-pubsub publisher.

Both publish the same simulated events to the same schema-checked topic on the Pub/Sub
emulator with the same batching (100 messages, 1 MB, 10 ms: the client's defaults).

* baseline: the bare client, Avro-encoding each event with plain fastavro in the loop: the
  least any publisher of these events must do;
* ``EventPublisher``: also validates each event against the contract, applies flow control
  and tracks every message for the spool and the report;
* for reference, the bare client with bytes encoded beforehand (transport alone).

Rounds interleave the three, the order reversed every other round (the baseline and
``EventPublisher`` always back to back, each first as often as last), so emulator warm-up and
noise hit all alike. The emulator (Java) shares the machine's cores with the publisher, so
single rounds vary by up to 30%; the figure is the median of the rounds' ratios. Goal:
EventPublisher >= 0.9x the baseline.

Starts its own emulator on a free port unless ``PUBSUB_EMULATOR_HOST`` is set.

    python -m bench.emitter [--events 20000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import fastavro
from google.cloud import pubsub_v1

from bench.common import machine, table
from clickstream.app import provisioning
from clickstream.app.local import services
from clickstream.core import contract
from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import publisher_client
from emitters.events import Event, encode_event, now_ms
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import Simulator, TrafficProfile


def _events(n: int) -> list[Event]:
    profile = TrafficProfile(rate=500, session_gap_s=60, seed=3)
    emissions = Simulator(profile, start_ms=int(time.time() * 1000)).emissions()
    return [e.event for e in itertools.islice(emissions, n)]


def bare_client(settings: Settings, events: list[Event], encode_in_loop: bool) -> float:
    """The bare client; with ``encode_in_loop`` it also Avro-encodes each event with plain
    fastavro (no validation), the least any publisher of these events must do."""
    rev = contract.revision(contract.current_version())
    encoded = None if encode_in_loop else [(encode_event(e), e.attributes()) for e in events]
    config = PublisherConfig.from_settings(settings)
    batching = pubsub_v1.types.BatchSettings(
        max_messages=config.max_messages, max_bytes=config.max_bytes, max_latency=config.max_latency_s
    )
    client = publisher_client(settings, batch_settings=batching)
    started = time.perf_counter()
    if encoded is None:
        futures = []
        for event in events:  # the same per-event steps as EventPublisher, minus its checks
            buffer = io.BytesIO()
            fastavro.schemaless_writer(buffer, rev.parsed, event.to_record(now_ms()))
            futures.append(client.publish(settings.topic_path, buffer.getvalue(), **event.attributes()))
    else:
        futures = [client.publish(settings.topic_path, data, **attrs) for data, attrs in encoded]
    for future in futures:
        future.result(timeout=120)
    elapsed = time.perf_counter() - started
    client.stop()
    return elapsed


def event_publisher(settings: Settings, events: list[Event], spool_dir: Path) -> float:
    config = replace(PublisherConfig.from_settings(settings), spool_path=spool_dir / f"{uuid.uuid4().hex}.sqlite")
    publisher = EventPublisher(config)
    started = time.perf_counter()
    for event in events:
        publisher.publish(event)
    report = publisher.flush(timeout=120)
    elapsed = time.perf_counter() - started
    publisher.close()
    if report.delivered != len(events):
        raise RuntimeError(f"EventPublisher delivered {report.delivered} of {len(events)}: {report}")
    return elapsed


def interleaved_rounds(runners: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Seconds each runner took, round by round. Every round runs each once, in the given order
    and in reverse every other round: neighbours (the baseline and ours) always run back to
    back, each first as often as last, so drift and warm-up favour neither. Each run starts
    with the garbage of the one before collected, so none pays for another's."""
    order = list(runners)
    times: dict[str, list[float]] = {name: [] for name in order}
    for i in range(rounds):
        for name in order if i % 2 == 0 else reversed(order):
            gc.collect()  # outside the runner's timing
            times[name].append(runners[name]())
    return times


def median_ratio(ours: list[float], baseline: list[float]) -> float:
    """Our throughput over the baseline's, as the median of the rounds' ratios: each round's pair
    ran back to back, so a round the machine disturbed moves one ratio, not the figure."""
    return statistics.median(b / o for o, b in zip(ours, baseline, strict=True))


def warm_up(settings: Settings, events: list[Event], spool_dir: Path) -> None:
    """One untimed run of each compared publisher: the emulator's JIT and schema check, and both
    code paths, are warm before the first round, so the first round does not pay for them."""
    bare_client(settings, events[:2000], encode_in_loop=True)
    event_publisher(settings, events[:2000], spool_dir)


def measure(settings: Settings, n: int, rounds: int) -> dict[str, float]:
    events = _events(n)
    with tempfile.TemporaryDirectory() as spool_dir:
        warm_up(settings, events, Path(spool_dir))
        times = interleaved_rounds(
            {
                "transport": lambda: bare_client(settings, events, encode_in_loop=False),
                "bare": lambda: bare_client(settings, events, encode_in_loop=True),
                "ours": lambda: event_publisher(settings, events, Path(spool_dir)),
            },
            rounds,
        )
    transport_rate, bare_rate, our_rate = (n / statistics.median(times[k]) for k in ("transport", "bare", "ours"))
    ratio = median_ratio(times["ours"], times["bare"])
    per_round = " ".join(f"{b / o:.2f}" for o, b in zip(times["ours"], times["bare"], strict=True))
    print(
        table(
            f"emitter: {n} events to the Pub/Sub emulator, median of {rounds} interleaved rounds ({machine()})",
            [
                ("bare client + fastavro encode (baseline)", f"{bare_rate:,.0f}", "1.00"),
                ("emitters.EventPublisher", f"{our_rate:,.0f}", f"{ratio:.2f}"),
                (
                    "bare client, bytes encoded beforehand",
                    f"{transport_rate:,.0f}",
                    f"{median_ratio(times['transport'], times['bare']):.2f}",
                ),
            ],
            ("publisher", "events/s (median)", "ratio (median of rounds)"),
        )
    )
    print(
        f"EventPublisher / baseline, round by round: {per_round}; median {ratio:.2f} (goal >= 0.9). Same batching "
        "(100 messages, 1 MB, 10 ms); EventPublisher also validates each event against the contract, applies "
        "flow control and tracks each event for the spool"
    )
    return {
        "emitter_events_per_s": our_rate,
        "bare_publisher_events_per_s": bare_rate,
        "bare_publisher_preencoded_events_per_s": transport_rate,
        "emitter_ratio": ratio,
    }


def profile(settings: Settings, n: int, rounds: int) -> dict[str, float]:
    """cProfile of one run of the baseline and one of ``EventPublisher`` (``--profile``): where the
    publishing thread's time goes, to find per-event work the bare client does not do. Not
    figures to quote (the profiler slows both); ``rounds`` is unused."""
    events = _events(n)
    with tempfile.TemporaryDirectory() as spool_dir:
        warm_up(settings, events, Path(spool_dir))
        runs: dict[str, Callable[[], float]] = {
            "baseline (bare client + fastavro encode)": lambda: bare_client(settings, events, encode_in_loop=True),
            "emitters.EventPublisher": lambda: event_publisher(settings, events, Path(spool_dir)),
        }
        for name, run in runs.items():
            profiler = cProfile.Profile()
            seconds = profiler.runcall(run)
            print(f"\n{name}: {n} events in {seconds:.2f}s under the profiler; by own time:")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {}


def topic_settings(base: Settings) -> Settings:
    """A fresh schema-checked topic (no subscription: nothing accumulates in the emulator)."""
    settings = replace(base, topic=f"bench-emitter-{uuid.uuid4().hex[:8]}")
    provisioning.ensure_schema(settings)
    provisioning.ensure_event_topic(settings)
    return settings


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile one run of each instead of measuring")
    args = parser.parse_args(argv)
    run = profile if args.profile else measure
    if base is not None or Settings.from_env().pubsub_emulator_host:
        return run(topic_settings(base or Settings.from_env()), args.events, args.rounds)
    with tempfile.TemporaryDirectory() as state:
        own = services.own_stack_settings(Path(state))
        services.start_service(own, "pubsub")
        try:
            return run(topic_settings(own.with_local_endpoints()), args.events, args.rounds)
        finally:
            services.stop_service(own, "pubsub")


if __name__ == "__main__":
    main()
