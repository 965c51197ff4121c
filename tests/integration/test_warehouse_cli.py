"""`clickstream query`, `recommend` and the day-one queries against the seeded stand-in."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.paths import sql_dir
from clickstream.core.pseudonyms import create_key_file, load_keyring
from tests.support.warehouse_seeds import AS_OF, cli_env, event, fresh_dataset, load, load_visits, ts, visit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def warehouse(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    key = create_key_file(tmp_path_factory.mktemp("key") / "pseudonym.key")
    settings = replace(fresh_dataset(stack), pseudonym_key=str(key))
    me = load_keyring(key).pseudonym("me")  # rows hold pseudonyms, as the pipeline writes them
    load(
        settings,
        "events",
        [
            # "me" likes v1 (clicked twice) and watched v9 to the end: v9 must never be recommended.
            event(me, "v1", "ThumbnailClicked", ts(1)),
            event(me, "v1", "ThumbnailClicked", ts(2)),
            event(me, "v9", "VideoPaused", ts(1), position_ms=99_000, duration_ms=100_000),
            # others make v2, v9 and v5 popular
            *[event(f"p{i}", v, "ThumbnailClicked", ts(1)) for i in range(3) for v in ("v2", "v9", "v5")],
        ],
    )
    paused, clicked = "VideoPaused", "ThumbnailClicked"
    load_visits(
        settings,
        [
            visit("o1", [("v1", paused, ts(1)), ("v2", clicked, ts(1)), ("v9", clicked, ts(1))]),
            visit("o2", [("v1", paused, ts(2)), ("v2", paused, ts(2))]),
            visit("o3", [("v1", clicked, ts(3)), ("v9", clicked, ts(3))]),
        ],
    )
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def test_recommend_explains_and_excludes_what_was_watched(warehouse: Settings) -> None:
    # The person's affinity: v9 (watched 99%) and v1; sessions {v1,v2,v9}, {v1,v2}, {v1,v9} make
    # v1-v2 and v1-v9 similar (v2-v9 share one session only, below min support 2). So v1 (via v9)
    # and v2 (via v1) are recommended as similar, v9 is finished and never recommended, and the
    # third place is a popular video. The blend's arithmetic is tested in test_signals.py.
    result = CliRunner().invoke(app, ["recommend", "--user", "me", "-n", "3"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│" in line and "video_id" not in line]
    assert len(lines) == 3, result.output
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]
    assert [c[0] for c in cells] == ["1", "2", "3"]
    by_video = {c[1]: c for c in cells}
    assert by_video["v1"][3] == "similar to v9" and by_video["v2"][3] == "similar to v1", result.output
    (third,) = set(by_video) - {"v1", "v2"}
    assert by_video[third][3].startswith("trending #"), result.output
    assert "v9" not in result.output.replace("similar to v9", "")
    scores = [float(c[2]) for c in cells]
    assert scores == sorted(scores, reverse=True)


def test_query_with_parameters_and_formats(warehouse: Settings) -> None:
    runner = CliRunner()
    sql = "SELECT video_id, rank FROM `${project}.${dataset}.video_trending` WHERE rank <= @top ORDER BY rank"
    result = runner.invoke(app, ["query", sql, "--param", "top:INT64=2", "--format", "json"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    assert [r["rank"] for r in json.loads(result.output)] == [1, 2]
    result = runner.invoke(
        app, ["query", "SELECT @who AS who", "--param", "who:STRING=42", "--format", "csv"], env=cli_env(warehouse)
    )
    assert result.output.splitlines() == ["who", "42"]


def test_a_bad_query_is_one_line_and_a_nonzero_exit(warehouse: Settings) -> None:
    result = CliRunner().invoke(app, ["query", "SELEC nonsense FROM nowhere"], env=cli_env(warehouse))
    assert result.exit_code == 1
    assert "query failed" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["query", "SELECT @missing AS x"], env=cli_env(warehouse))
    assert result.exit_code == 1 and "missing" in result.output


@pytest.mark.parametrize("path", sorted((sql_dir() / "queries").glob("*.sql")), ids=lambda p: p.stem)
def test_day_one_queries_run(warehouse: Settings, path: Path) -> None:
    result = CliRunner().invoke(
        app, ["query", "--file", str(path), "--param", "days:INT64=3650", "--format", "json"], env=cli_env(warehouse)
    )
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.output), list)


def test_untyped_parameters_stay_strings(warehouse: Settings) -> None:
    sql = "SELECT @user_id AS user_id, @day AS day, @word AS word"
    params = ["--param", "user_id=00123", "--param", "day=2024-01-01", "--param", "word=maybe"]
    result = CliRunner().invoke(app, ["query", sql, *params, "--format", "json"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"user_id": "00123", "day": "2024-01-01", "word": "maybe"}]


def test_typed_parameters_convert_and_a_bad_value_is_a_clear_error(warehouse: Settings) -> None:
    runner = CliRunner()
    sql = "SELECT @n AS n, @x AS x, @b AS b, @d AS d, @t AS t"
    params = ["n:INT64=00123", "x:FLOAT64=1.5", "b:BOOL=true", "d:DATE=2024-01-01", "t:TIMESTAMP=2024-01-01T10:00:00Z"]
    args = [arg for p in params for arg in ("--param", p)]
    result = runner.invoke(app, ["query", sql, *args, "--format", "json"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["n"], row["x"], row["b"], row["d"]) == (123, 1.5, True, "2024-01-01")
    assert row["t"].startswith("2024-01-01") and "10:00:00" in row["t"]
    for bad, word in (("b:BOOL=maybe", "BOOL"), ("n:INT64=12x", "INT64"), ("n:BIGINT=1", "BIGINT"), ("=1", "name")):
        result = runner.invoke(app, ["query", "SELECT 1 AS one", "--param", bad], env=cli_env(warehouse))
        assert result.exit_code == 1, f"{bad}: {result.output}"
        assert word in result.output and "Traceback" not in result.output


def test_query_leaves_dollar_signs_other_than_the_placeholders_alone(warehouse: Settings) -> None:
    sql = """SELECT JSON_VALUE('{"a": "x"}', '$.a') AS a, '$$' AS d, '${dataset}' AS ds"""
    result = CliRunner().invoke(app, ["query", sql, "--format", "json"], env=cli_env(warehouse))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"a": "x", "d": "$$", "ds": warehouse.dataset}]
