"""`clickstream signals evaluate` end to end on the stand-in, on a small simulated log.

The simulator's clean traffic is loaded as the warehouse rows the pipeline writes (events with
pseudonymised user ids, impressions, sessions; ``bench.simulated_log``), its truth written to a file,
and the command replays the recommender on the last fifth of the simulated time.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.simulated_log import SimulatedLog, clean_profile, simulate
from clickstream.app.cli import app
from clickstream.app.evaluation import load_holdout
from clickstream.app.recommendations import recommend
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import create_key_file, load_keyring
from tests.support.warehouse_seeds import AS_OF, cli_env, event, fresh_dataset, load, ts

pytestmark = pytest.mark.integration

_ROW = re.compile(r"^\W*(ours|most-popular|random)\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)\W+([0-9.]+)")


@pytest.fixture(scope="module")
def simulated(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, SimulatedLog, Path]:
    folder = tmp_path_factory.mktemp("evaluate")
    key = create_key_file(folder / "pseudonym.key")
    settings = replace(fresh_dataset(stack), pseudonym_key=str(key))
    # 50 events/s: about 6.5 simulated minutes, so the last 20% (the holdout) holds most viewers.
    log = simulate(60_000, clean_profile(seed=3, exploration=0.05, viewers=300, rate=50), load_keyring(key).pseudonym)
    log.load_into(bigquery_client(settings), settings)
    truth = folder / "truth.json"
    log.truth.write(truth)
    return settings, log, truth


def _evaluate(settings: Settings, log: SimulatedLog, *extra: str):
    as_of = (log.end + timedelta(seconds=1)).replace(microsecond=0)
    holdout_days = (log.end - log.start).total_seconds() * 0.2 / 86400
    args = ["signals", "evaluate", "--as-of", as_of.isoformat(), "--holdout-days", f"{holdout_days:.8f}", *extra]
    return CliRunner().invoke(app, args, env=cli_env(settings), terminal_width=200)


def test_evaluate_prints_three_rows_and_ours_beats_random(simulated) -> None:
    settings, log, truth = simulated
    result = _evaluate(settings, log, "--truth", str(truth))
    assert result.exit_code == 0, result.output
    rows = {m.group(1): [float(x) for x in m.groups()[1:]] for m in map(_ROW.match, result.output.splitlines()) if m}
    assert set(rows) == {"ours", "most-popular", "random"}, result.output
    # recall@10 and NDCG@10 against observed clicks (columns 1-2) and against the truth (4-5)
    for column in (0, 1, 3, 4):
        assert rows["ours"][column] > rows["random"][column], result.output
    assert "ours - most-popular" in result.output


def test_evaluate_refuses_bad_input_before_the_warehouse(simulated, tmp_path: Path) -> None:
    settings, log, _ = simulated
    bad_time = CliRunner().invoke(
        app, ["signals", "evaluate", "--as-of", "yesterday", "--holdout-days", "1"], env=cli_env(settings)
    )
    assert bad_time.exit_code == 1 and "--as-of" in bad_time.output
    missing = _evaluate(settings, log, "--truth", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "truth file" in missing.output


def test_the_holdout_and_recommend_agree_on_a_video_watched_to_exactly_the_finished_ratio(stack: Settings) -> None:
    """The evaluation leaves out what recommend.sql never offers; a video watched to exactly the
    threshold is finished for both (the evaluation once used > where the query uses >=)."""
    settings = fresh_dataset(stack)
    watched = event("me", "fin", "VideoPaused", ts(1), position_ms=90_000, duration_ms=100_000)
    rows = [{**watched, "watch_ratio": 0.9}, *(event(f"o{i}", "fin", "ThumbnailClicked", ts(1)) for i in range(5))]
    load(settings, "events", rows)
    client = bigquery_client(settings)
    holdout = load_holdout(client, settings, AS_OF + timedelta(days=1), holdout_days=1)
    served = recommend(client, settings, {"me": ["me"], "other": ["o1"]}, n=3, as_of=AS_OF)
    assert [r["video_id"] for r in served["other"]] == ["fin"]  # fin is recommendable ...
    assert served["me"] == []  # ... but not to "me", who finished it
    assert holdout.finished == {"me": {"fin"}}
