"""The recommendations replayed on a held-out last period of simulated traffic: ours vs most-popular
vs random, against the clicks observed in the holdout and against the simulator's true preferences.

The simulator runs in-process (a fixed pool of viewers, so each has a history before the holdout);
its rows are loaded into a fresh dataset of the BigQuery stand-in with user ids pseudonymised by a
key made for the run, and ``clickstream.app.evaluation.evaluate`` (what ``clickstream signals
evaluate`` runs) scores the three recommenders; the truth's raw ids are mapped with the same key.
Goal (issue 14): ours beats most-popular on recall@10 and NDCG@10.

    python -m bench.recommendations [--impressions 300000] [--viewers 1500] [--holdout 0.2]

Uses a running local stack (``clickstream local up``) or starts one of its own on free ports.
"""

from __future__ import annotations

import argparse
import time

from bench.common import machine, peak_rss_mb, table, warehouse
from bench.simulated_log import clean_profile, counts, simulate
from clickstream.app.evaluation import METHODS, Evaluation, evaluate
from clickstream.app.recommendations import recommend
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import new_keyring


def _viewers_per_event_per_s(seed: int, exploration: float) -> float:
    """Viewers the simulator needs per event/s of rate (its own pool size at rate 1, unpinned)."""
    return clean_profile(seed, exploration, rate=100.0).viewer_count / 100.0


def result_table(result: Evaluation) -> str:
    k = result.k
    header = ("method", f"recall@{k}", f"NDCG@{k}", "coverage", f"recall@{k} (truth)", f"NDCG@{k} (truth)")
    rows = []
    for method in METHODS:
        seen, true = result.observed[method], result.truth[method] if result.truth else None
        rows.append(
            (
                method,
                f"{seen.recall:.4f}",
                f"{seen.ndcg:.4f}",
                f"{seen.coverage:.4f}",
                f"{true.recall:.4f}" if true else "-",
                f"{true.ndcg:.4f}" if true else "-",
            )
        )
    h = result.holdout
    title = (
        f"recommendations on the holdout: {len(h.clicked):,} people active, "
        f"{result.observed['ours'].users:,} with clicks, catalog {len(h.catalog):,}"
    )
    return table(title, rows, header)


def main(argv: list[str] | None = None, base: Settings | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impressions", type=int, default=300_000)
    parser.add_argument("--viewers", type=int, default=1500)
    parser.add_argument("--holdout", type=float, default=0.2, help="the last share of the simulated time held out")
    parser.add_argument("--exploration", type=float, default=0.05)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    keyring = new_keyring()
    started = time.perf_counter()
    # The rate a pool of this size sustains with real idle gaps between sessions (the simulator sizes
    # its own pool the same way, TrafficProfile.viewer_count): at a higher rate the fixed pool runs
    # dry, the log shows far fewer impressions than asked in the time it is given, and each viewer
    # has less history before the holdout.
    rate = max(1.0, args.viewers / _viewers_per_event_per_s(args.seed, args.exploration))
    profile = clean_profile(args.seed, args.exploration, viewers=args.viewers, rate=rate)
    log = simulate(args.impressions, profile, keyring.pseudonym)
    simulated_s = time.perf_counter() - started
    sizes = counts(log)
    span = log.end - log.start
    holdout_days = span.total_seconds() * args.holdout / 86400
    print(
        f"simulated {sizes['impressions']:,} impressions, {log.events.num_rows:,} events, {sizes['sessions']:,} "
        f"sessions of {args.viewers:,} viewers over {span.total_seconds() / 60:.0f} min in {simulated_s:.1f}s; "
        f"the last {args.holdout:.0%} held out"
    )
    with warehouse(base, "bench_recs") as settings:
        client = bigquery_client(settings)
        log.load_into(client, settings)
        started = time.perf_counter()
        result = evaluate(
            client,
            settings,
            log.end,
            holdout_days,
            recommend,
            k=args.k,
            truth=log.truth,
            pseudonyms=keyring.all_pseudonyms,
        )
        evaluated_s = time.perf_counter() - started
    print(f"signals + replay took {evaluated_s:.1f}s; peak memory {peak_rss_mb():.0f} MB ({machine()})")
    print(result_table(result))
    figures = {}
    for against in ("observed", "truth"):
        recall, ndcg = result.margins(against)
        beats = "yes" if recall > 0 and ndcg > 0 else "NO"
        print(f"ours - most-popular ({against}): recall@{args.k} {recall:+.4f}, NDCG@{args.k} {ndcg:+.4f}: {beats}")
        figures[f"recommendations_margin_recall_{against}"] = recall
        figures[f"recommendations_margin_ndcg_{against}"] = ndcg
    for method in METHODS:
        figures[f"recommendations_ndcg_{method}"] = result.observed[method].ndcg
    return figures


if __name__ == "__main__":
    main()
