"""A cost note derived from the figures the benchmarks measured in the same run.

vCPU-hours per billion events on Dataflow, as a range:
- low: the pipeline's per-event logic alone (``bench.pipeline_chain``, one core), i.e. the
  floor if the runner's own overhead were nil;
- high: the whole Beam graph (decode, filter, dedup, enrich, impressions, sessions, files) on
  Beam's portable runner in one process (``bench.replay``, its first size: 100k events), which
  carries the Python SDK harness overhead a Dataflow Python worker also pays;
- streaming: the streaming graph's transforms (per-key dedup state and timers, merging
  ``Sessions`` windows with their trigger) run in batch over the same file on the same runner
  (``bench.replay.streaming_shaped``): neither TestStream nor the local streaming runner gives
  a throughput. It ends in counts, not writes, and has no Pub/Sub read: a floor for the CPU a
  streaming job spends, not a measurement of one.

Assumptions, stated so they can be argued with: a Dataflow vCPU does the work of one core
of the benchmark machine; workers run at 70% CPU (autoscaling headroom); with Streaming
Engine, shuffle and state live in the service, not on worker vCPUs; BigQuery writes add
network wait, not CPU, on workers. Excluded: Streaming Engine data processed, Pub/Sub
(about 300 bytes per event: ``clickstream contract show``), BigQuery storage and streaming
inserts.
"""

from __future__ import annotations

from bench.common import table

UTILIZATION = 0.7
BILLION = 1_000_000_000


def vcpu_hours_per_billion(events_per_s_per_core: float) -> float:
    return BILLION / events_per_s_per_core / 3600 / UTILIZATION


def note(figures: dict[str, float]) -> dict[str, float]:
    low = vcpu_hours_per_billion(figures["chain_events_per_s"])
    high = vcpu_hours_per_billion(figures["replay_events_per_s"])
    rows = [
        (
            "per-event logic only (chain)",
            f"{figures['chain_events_per_s']:,.0f}",
            f"{low:,.1f}",
            f"{100_000 / figures['chain_events_per_s'] / UTILIZATION:,.0f}",
        ),
        (
            "whole Beam graph (replay)",
            f"{figures['replay_events_per_s']:,.0f}",
            f"{high:,.1f}",
            f"{100_000 / figures['replay_events_per_s'] / UTILIZATION:,.0f}",
        ),
    ]
    found = {"vcpu_hours_per_billion_low": low, "vcpu_hours_per_billion_high": high}
    if "streaming_shaped_events_per_s" in figures:
        rate = figures["streaming_shaped_events_per_s"]
        found["vcpu_hours_per_billion_streaming"] = vcpu_hours_per_billion(rate)
        rows.append(
            (
                "streaming-shaped graph (batch run)",
                f"{rate:,.0f}",
                f"{found['vcpu_hours_per_billion_streaming']:,.1f}",
                f"{100_000 / rate / UTILIZATION:,.0f}",
            )
        )
    print(
        table(
            f"cost note: vCPU-hours per billion events on Dataflow ({UTILIZATION:.0%} utilisation)",
            rows,
            ("basis", "events/s/core", "vCPU-h / 1e9", "vCPUs at 100k ev/s"),
        )
    )
    print("assumptions and exclusions: see bench/cost.py and docs/benchmarks.md")
    return found
