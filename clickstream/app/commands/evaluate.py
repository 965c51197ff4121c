"""`clickstream signals evaluate`: the recommendations replayed on a held-out last period."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from clickstream.app.commands.common import (
    StateDir,
    console,
    fail,
    one_line,
    require_pseudonym_key,
    resolve_endpoints,
    settings_from,
)
from clickstream.app.evaluation import METHODS, Evaluation, Scores, evaluate
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.pseudonyms import KeyringError, load_keyring


def evaluate_cmd(
    as_of: Annotated[str, typer.Option(help="End of the holdout, T (ISO 8601, UTC)")],
    holdout_days: Annotated[float, typer.Option(help="Length of the holdout, D: signals are computed at T - D")],
    truth: Annotated[
        Path | None, typer.Option(help="The simulator's ground truth (clickstream emit --truth): also score against it")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="Length of each list scored")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline")] = 0,
    state_dir: StateDir = None,
) -> None:
    """Recall@k, NDCG@k and coverage of ours, most-popular and random on the holdout (T - D, T]."""
    # Imported here: the recommender (and, with --truth, the simulator's truth) only this command needs.
    from clickstream.app.recommendations import recommend

    try:
        when = datetime.fromisoformat(as_of.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--as-of must be an ISO 8601 time, got {as_of!r}")
    if holdout_days <= 0 or k < 1:
        fail("--holdout-days must be > 0 and --k >= 1")
    settings = resolve_endpoints(settings_from(state_dir))
    known = None
    pseudonyms = None
    if truth is not None:
        from emitters.ground_truth import GroundTruth

        try:
            known = GroundTruth.load(truth)
        except (OSError, ValueError, KeyError) as exc:
            fail(f"cannot read the truth file {truth}: {one_line(exc)}")
        try:  # the truth file has raw ids, the warehouse pseudonyms: hashed as the pipeline hashed them
            pseudonyms = load_keyring(require_pseudonym_key(settings)).all_pseudonyms
        except KeyringError as exc:
            fail(str(exc))
    client = bigquery_client(settings)
    with console.status(f"replaying the recommender on the {holdout_days:g} days before {when.isoformat()}..."):
        try:
            result = evaluate(
                client, settings, when, holdout_days, recommend, k=k, truth=known, pseudonyms=pseudonyms, seed=seed
            )
        except Exception as exc:
            fail(f"evaluation failed: {one_line(exc)}")
    console.print(evaluation_table(result))
    console.print(margin_text(result))


def _cells(scores: Scores) -> list[str]:
    return [f"{scores.recall:.4f}", f"{scores.ndcg:.4f}", f"{scores.coverage:.4f}"]


def evaluation_table(result: Evaluation) -> Table:
    h = result.holdout
    table = Table(
        title=f"holdout ({h.train_as_of.isoformat()}, {h.as_of.isoformat()}]: {len(h.clicked)} people active, "
        f"{result.observed['ours'].users} with clicks"
    )
    k = result.k
    table.add_column("method")
    for column in (f"recall@{k}", f"NDCG@{k}", "coverage"):
        table.add_column(column, justify="right")
    if result.truth is not None:
        for column in (f"recall@{k} (truth)", f"NDCG@{k} (truth)"):
            table.add_column(column, justify="right")
    for method in METHODS:
        cells = _cells(result.observed[method])
        if result.truth is not None:
            cells += _cells(result.truth[method])[:2]
        table.add_row(method, *cells)
    return table


def margin_text(result: Evaluation) -> str:
    recall, ndcg = result.margins("observed")
    text = f"ours - most-popular: recall@{result.k} {recall:+.4f}, NDCG@{result.k} {ndcg:+.4f} (observed clicks)"
    if result.truth is not None:
        recall, ndcg = result.margins("truth")
        text += f"; recall@{result.k} {recall:+.4f}, NDCG@{result.k} {ndcg:+.4f} (true preferences)"
    return text
