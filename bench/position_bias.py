"""Position bias recovered from a simulated log: estimated theta_k / theta_1 against the truth, and
Kendall's tau of raw and debiased CTR against the true attractiveness.

The simulator (with exploration: a share of rows has rank 1 swapped with a random rank) runs
in-process for the simulated time in which it shows about ``--impressions`` thumbnails (the rows
rendered by then play out, so no click is lost; the count is printed); its impressions, clicks, pauses and
sessions are loaded into a fresh dataset of the BigQuery stand-in (``bench.simulated_log``), the
signal job runs, and ``position_propensity`` and ``video_ctr`` are compared with the simulator's
ground truth. Goals (issue 14): theta_k / theta_1 for slots 1-10 within 10% (relative) of the truth
on every surface; debiased CTR's tau higher than raw CTR's.

    python -m bench.position_bias [--impressions 3000000] [--exploration 0.05]

Uses a running local stack (``clickstream local up``) or starts one of its own on free ports.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import timedelta

import numpy as np
import pyarrow as pa

from bench.common import machine, peak_rss_mb, table, warehouse
from bench.simulated_log import SimulatedLog, clean_profile, counts, simulate
from clickstream.app.evaluation import kendall_tau
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.sql import run_script

SLOTS = 10
SLOTS_SHOWN = 12
GOAL_RELATIVE_ERROR = 0.10


def em_cells(impressions: pa.Table, events: pa.Table) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per surface, the (slot x video) impressions and clicks the signal job's EM runs on."""
    clicked = {i for i in events.column("impression_id").to_pylist() if i}
    columns = impressions.select(["impression_id", "surface", "slot", "video_id"]).to_pydict()
    by_surface: dict[str, list[tuple[int, str, bool]]] = defaultdict(list)
    for impression, surface, slot, video in zip(*columns.values(), strict=True):
        by_surface[surface].append((slot, video, impression in clicked))
    cells = {}
    for surface, rows in by_surface.items():
        videos = {v: i for i, v in enumerate(sorted({v for _, v, _ in rows}))}
        slots = np.array([s - 1 for s, _, _ in rows])
        index = np.array([videos[v] for _, v, _ in rows])
        shown = np.zeros((max(slots) + 1, len(videos)))
        clicks = np.zeros_like(shown)
        np.add.at(shown, (slots, index), 1)
        np.add.at(clicks, (slots, index), np.array([c for _, _, c in rows], dtype=float))
        cells[surface] = (shown, clicks)
    return cells


def em_ratios(shown: np.ndarray, clicks: np.ndarray, iterations: int) -> np.ndarray:
    """theta_k / theta_1 by the EM of sql/signals/position_propensity_*.sql (same start, same
    updates) in numpy: a reference to check how many iterations the unrolled SQL needs."""
    ctr = clicks.sum(1) / shown.sum(1)
    theta = np.clip(ctr / ctr.max(), 0.01, 0.99)
    gamma = np.clip(clicks.sum(0) / (shown * theta[:, None]).sum(0), 0.01, 0.99)
    per_slot, per_video = shown.sum(1), np.maximum(shown.sum(0), 1)
    for _ in range(iterations):
        joint = 1 - theta[:, None] * gamma[None, :]
        examined = theta[:, None] * (1 - gamma[None, :]) / joint
        relevant = (1 - theta[:, None]) * gamma[None, :] / joint
        theta, gamma = (
            (clicks + (shown - clicks) * examined).sum(1) / per_slot,
            (clicks + (shown - clicks) * relevant).sum(0) / per_video,
        )
    return theta / theta[0]


def _rows(client, settings: Settings, table_name: str, as_of) -> list[dict]:
    sql = f"SELECT * FROM `{settings.table_id(table_name)}` WHERE as_of = @as_of"
    return run_script(client, settings, sql, {"as_of": as_of})


def audience(log: SimulatedLog) -> tuple[dict[tuple[str, str], float], dict[str, float], dict[str, list[float]]]:
    """What the log's own viewers make of the videos: the mean true gamma over each (surface, video)'s
    impressions and over each video's, and per surface and slot the mean of gamma / (its video's mean
    on the surface). The simulated recommender ranks with a (weak) personal term, so a video at slot 1
    is shown to viewers who like it a bit more than those who see it at slot 10: the per-video click
    model of the EM cannot tell that from position, and this last figure says by how much."""
    columns = log.impressions.select(["surface", "slot", "video_id", "user_id"]).to_pydict()
    gammas = [log.truth.gamma(u, v) for u, v in zip(columns["user_id"], columns["video_id"], strict=True)]
    cell: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
    pooled: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for surface, video, g in zip(columns["surface"], columns["video_id"], gammas, strict=True):
        cell[(surface, video)][0] += g
        cell[(surface, video)][1] += 1
        pooled[video][0] += g
        pooled[video][1] += 1
    by_cell = {k: total / n for k, (total, n) in cell.items()}
    slot_sum: dict[str, list[float]] = defaultdict(lambda: [0.0] * (SLOTS_SHOWN + 1))
    slot_n: dict[str, list[int]] = defaultdict(lambda: [0] * (SLOTS_SHOWN + 1))
    for surface, slot, video, g in zip(columns["surface"], columns["slot"], columns["video_id"], gammas, strict=True):
        slot_sum[surface][slot] += g / by_cell[(surface, video)]
        slot_n[surface][slot] += 1
    lift = {
        s: [total / n if n else float("nan") for total, n in zip(slot_sum[s], slot_n[s], strict=True)] for s in slot_sum
    }
    return by_cell, {v: total / n for v, (total, n) in pooled.items()}, lift


def propensity_table(
    estimates: list[dict], truth_theta: dict[str, tuple[float, ...]], lift: dict[str, list[float]] | None = None
) -> tuple[str, dict[str, float]]:
    """The per-surface table of theta_k / theta_1 (estimated vs true) and each method's worst relative
    error over slots 2-10 (slot 1 is 1 by definition; a method may leave it out). ``lift`` (from
    ``audience``) adds the column "audience": the true ratio times how much less the viewers at slot
    k like the same video than those at slot 1, i.e. what a per-video click model recovers at best."""
    lift = lift or {}
    rows, worst = [], {}
    by_key = {(r["surface"], r["method"], r["slot"]): r for r in estimates}
    for surface, method in sorted({(r["surface"], r["method"]) for r in estimates}):
        if surface not in truth_theta:
            continue
        theta = truth_theta[surface]
        for slot in range(2, SLOTS + 1):
            row = by_key.get((surface, method, slot))
            true_ratio = theta[slot - 1] / theta[0]
            factor = lift.get(surface)
            seen = f"{true_ratio * factor[slot] / factor[1]:.3f}" if factor else "-"
            if row is None:
                rows.append((surface, method, str(slot), f"{true_ratio:.3f}", seen, "-", "-", "-"))
                worst[method] = float("inf")
                continue
            error = abs(row["theta_relative"] - true_ratio) / true_ratio
            worst[method] = max(worst.get(method, 0.0), error)
            rows.append(
                (
                    surface,
                    method,
                    str(slot),
                    f"{true_ratio:.3f}",
                    seen,
                    f"{row['theta_relative']:.3f}",
                    f"{100 * error:.1f}%",
                    f"{row['impressions']:,}",
                )
            )
    text = table(
        "theta_k / theta_1 per surface: estimated (position_propensity) vs the simulator's truth",
        rows,
        ("surface", "method", "slot", "true", "audience", "estimated", "rel. error", "impressions"),
    )
    return text, worst


def tau_table(
    ctr: list[dict], attractiveness, seen: dict[tuple[str, str], float], seen_pooled: dict[str, float]
) -> tuple[str, dict[str, tuple[float, float]]]:
    """Kendall's tau of raw and debiased CTR against the truth, per surface and over all (all: each
    video's impression-weighted means), on the same videos for both: those with support.

    Two truths. "population": the issue's true attractiveness, the mean gamma over ALL viewers.
    "audience": the mean gamma over the viewers the video was actually shown to (on that surface):
    the recommender picks them, a bit by taste, so a video's audience likes it more than the average
    viewer, and no CTR computed from the log can see the others. The debiased CTR estimates the
    audience's figure (times theta_1), so "audience" is the truth it is measured against; the
    population figure is printed because it is what the issue names."""
    by_surface: dict[str, list[dict]] = defaultdict(list)
    for r in ctr:
        if r["supported"]:
            by_surface[r["surface"]].append(r)
    pooled: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in ctr:
        if r["supported"]:
            p = pooled[r["video_id"]]
            p[0] += r["impressions"]
            p[1] += r["raw_ctr"] * r["impressions"]
            p[2] += r["debiased_ctr"] * r["impressions"]
            p[3] += r["ips_ctr"] * r["impressions"]
    groups = {
        s: [(r["video_id"], r["raw_ctr"], r["debiased_ctr"], r["ips_ctr"], seen[(s, r["video_id"])]) for r in rs]
        for s, rs in by_surface.items()
    }
    groups["all"] = [(v, p[1] / p[0], p[2] / p[0], p[3] / p[0], seen_pooled[v]) for v, p in pooled.items() if p[0]]
    taus, rows = {}, []
    for name, videos in sorted(groups.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        if len(videos) < 2:
            continue
        raw, debiased, ips = ([x[i] for x in videos] for i in (1, 2, 3))
        truths = {"audience": [x[4] for x in videos], "population": [attractiveness(x[0]) for x in videos]}
        for truth_name, truth in truths.items():
            tau_raw, tau_debiased = kendall_tau(raw, truth), kendall_tau(debiased, truth)
            tau_ips = kendall_tau(ips, truth)
            taus[f"{truth_name}_{name}"] = (tau_raw, tau_debiased)
            taus[f"ips_{truth_name}_{name}"] = (tau_raw, tau_ips)
            rows.append(
                (
                    name,
                    truth_name,
                    f"{len(videos):,}",
                    f"{tau_raw:.3f}",
                    f"{tau_debiased:.3f}",
                    f"{tau_debiased - tau_raw:+.3f}",
                    f"{tau_ips:.3f}",
                )
            )
    text = table(
        "Kendall's tau of the CTRs against the truth (the same videos for all: those with support)",
        rows,
        ("surface", "truth", "videos", "raw CTR", "debiased CTR", "gain", "IPS CTR (ips_ctr, for comparison)"),
    )
    return text, taus


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=3_000_000)
    parser.add_argument("--exploration", type=float, default=0.05, help="share of rows with a swap_first")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    log = simulate(args.impressions, clean_profile(args.seed, args.exploration))
    simulated_s = time.perf_counter() - started
    sizes = counts(log)
    shown = sizes["impressions"]
    print(
        f"simulated {shown:,} impressions, {log.events.num_rows:,} events, {sizes['sessions']:,} sessions "
        f"in {simulated_s:.1f}s ({shown / simulated_s:,.0f} impressions/s), exploration {args.exploration:.0%}"
    )
    as_of = (log.end + timedelta(seconds=1)).replace(microsecond=0)
    with warehouse(base, "bench_bias") as settings:
        client = bigquery_client(settings)
        started = time.perf_counter()
        log.load_into(client, settings)
        loaded_s = time.perf_counter() - started
        started = time.perf_counter()
        written = run_signals(client, settings, SignalParams(as_of=as_of))
        job_s = time.perf_counter() - started
        estimates = _rows(client, settings, "position_propensity", as_of)
        ctr = _rows(client, settings, "video_ctr", as_of)
    print(
        f"loaded in {loaded_s:.1f}s; signal job {job_s:.1f}s ({shown / job_s:,.0f} impressions/s); "
        f"rows written: {', '.join(f'{k}={v}' for k, v in written.items())}; peak memory {peak_rss_mb():.0f} MB"
    )
    print()
    seen, seen_pooled, lift = audience(log)
    text, worst = propensity_table(estimates, log.truth.theta, lift)
    print(text)
    for method, error in sorted(worst.items()):
        verdict = "met" if error <= GOAL_RELATIVE_ERROR else "NOT met"
        goal = f"goal <= {GOAL_RELATIVE_ERROR:.0%} on every surface: {verdict}"
        print(f"{method}: worst relative error over slots 2-{SLOTS}: {100 * error:.1f}% ({goal})")
    print()
    text, taus = tau_table(ctr, log.truth.attractiveness, seen, seen_pooled)
    print(text)
    for name, (raw, debiased) in sorted(taus.items()):
        if name.endswith("_all") and not name.startswith("ips_"):
            closer = "yes" if debiased > raw else "NO"
            truth = name.removesuffix("_all")
            print(
                f"debiased CTR ranks closer to the {truth} truth over all surfaces: {closer} "
                f"({raw:.3f} -> {debiased:.3f})"
            )
    print(f"({machine()})")
    figures = {
        "position_bias_impressions": float(shown),
        "position_bias_job_s": job_s,
    }
    for method, error in worst.items():
        figures[f"position_bias_worst_rel_error_{method}"] = error
    for name, (raw, debiased) in taus.items():
        figures[f"position_bias_tau_raw_{name}"] = raw
        figures[f"position_bias_tau_debiased_{name}"] = debiased
    return figures


if __name__ == "__main__":
    main()
