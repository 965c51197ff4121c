"""End-to-end local latency: publish -> row visible in the BigQuery stand-in, p50 and p95.

An event's row is its ``events`` row or, for a row of thumbnails shown, its first ``impressions`` row.

Plays simulated viewers in real time (5 events/s for 60 s by default) into a fresh topic
and dataset, with the streaming pipeline running on the DirectRunner as its own process.
A poller queries the events table every 0.25 s; an event's latency is the time from its
``publish()`` call returning (it does not wait for the broker) to the first poll that sees
its row, so it includes up to 0.25 s of polling. The pipeline's own part (publish ->
``processed_at``) is shown beside it.

Needs a running local stack (``clickstream local up``), or run ``python -m bench``.

    python -m bench.latency [--rate 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.common import machine, table
from clickstream.app import provisioning
from clickstream.app.commands.common import resolve_endpoints
from clickstream.app.local.pull_size import PULL_MAX_MESSAGES
from clickstream.app.pipeline_process import PipelineProcess
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import Emission, TrafficProfile
from emitters.traffic import consent_label, play

POLL_S = 0.25


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def measure(base: Settings, rate: float, seconds: float) -> dict[str, float]:
    settings = base.isolated("bench-latency")
    provisioning.provision(settings)
    client = bigquery_client(settings)
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    processed: dict[str, float] = {}
    done = threading.Event()

    def poll() -> None:
        # A row of thumbnails shown (contract 1.3) is stored as one impressions row per thumbnail,
        # not as an events row; its slot-1 row stands for it (the simulator fills slots 1-12).
        sql = (
            f"SELECT event_id, processed_at FROM `{settings.table_id('events')}` UNION ALL "
            f"SELECT event_id, processed_at FROM `{settings.table_id('impressions')}` WHERE slot = 1"
        )
        while not done.is_set():
            for row in client.query(sql).result():
                if row.event_id not in seen:
                    seen[row.event_id] = time.time()
                    processed[row.event_id] = row.processed_at.timestamp()
            time.sleep(POLL_S)

    with (
        tempfile.TemporaryDirectory() as logs,
        PipelineProcess(settings, Path(logs) / "pipeline.log", "--session_gap_s=30") as pipeline,
    ):
        time.sleep(8)  # let the pipeline start pulling, so start-up is not counted as latency
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        profile = TrafficProfile(rate=rate, session_gap_s=30, seed=11)

        def note_publish(emission: Emission) -> None:  # called as publish() returns (it does not wait)
            if consent_label(emission.event) != "analytics_denied":  # the pipeline stores none of those
                published[emission.event.event_id] = time.time()

        with EventPublisher(PublisherConfig.from_settings(settings)) as publisher:
            play(profile, publisher, duration_s=seconds, on_emit=note_publish)
        deadline = time.monotonic() + 120
        while len(seen) < len(published) and time.monotonic() < deadline and pipeline.running:
            time.sleep(0.5)
        done.set()
        poller.join(timeout=10)
    ids = [i for i in published if i in seen]
    visible = [seen[i] - published[i] for i in ids]
    pipeline_part = [processed[i] - published[i] for i in ids]
    rows = [
        (
            "publish -> row visible (polled)",
            f"{_percentile(visible, 50):.2f}",
            f"{_percentile(visible, 95):.2f}",
            f"{max(visible):.2f}",
        ),
        (
            "publish -> processed_at (pipeline)",
            f"{_percentile(pipeline_part, 50):.2f}",
            f"{_percentile(pipeline_part, 95):.2f}",
            f"{max(pipeline_part):.2f}",
        ),
    ]
    print(
        table(
            f"end-to-end latency on the local stack, {len(ids)} of {len(published)} events at {rate:g}/s ({machine()})",
            rows,
            ("path", "p50 s", "p95 s", "max s"),
        )
    )
    print(f"polled every {POLL_S}s; local runs pull up to {PULL_MAX_MESSAGES} messages per bundle")
    if len(ids) < len(published):
        raise RuntimeError(f"only {len(ids)} of {len(published)} events became visible")
    return {"latency_p50_s": _percentile(visible, 50), "latency_p95_s": _percentile(visible, 95)}


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    base = base or resolve_endpoints(Settings.from_env())
    if not (base.pubsub_emulator_host and base.bigquery_endpoint):
        raise SystemExit("start the local stack first (clickstream local up), or run python -m bench")
    return measure(base, args.rate, args.seconds)


if __name__ == "__main__":
    main()
