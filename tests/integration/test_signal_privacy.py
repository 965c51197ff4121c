"""The signal job's privacy rules against the stand-in: bots count in no signal, a user whose
latest event denies personalization gets no affinity (and so trending only from `recommend`),
and each signal table keeps only the newest ``keep_runs`` as-of runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.app.signals import SIGNALS, SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import create_key_file, load_keyring
from tests.integration.test_signals import rows
from tests.support.warehouse_seeds import (
    AS_OF,
    click_on,
    event,
    fresh_dataset,
    impression,
    load,
    load_visits,
    session,
    ts,
    visit,
)

pytestmark = pytest.mark.integration


def bot(user: str, video: str, kind: str, at: str, **kwargs) -> dict:
    return {**event(user, video, kind, at, **kwargs), "is_bot": True, "bot_reason": "crawler_list"}


def consenting(user: str, video: str, kind: str, at: str, personalization: bool | None, **kwargs) -> dict:
    return {
        **event(user, video, kind, at, **kwargs),
        "consent_analytics": True,
        "consent_personalization": personalization,
        "consent_policy_version": "2026-01",
    }


@pytest.fixture(scope="module")
def seeded(stack: Settings) -> Settings:
    settings = fresh_dataset(stack)
    load(
        settings,
        "events",
        [
            event("human", "v1", "ThumbnailClicked", ts(0)),
            bot("crawler", "v1", "ThumbnailClicked", ts(0)),
            bot("crawler", "v2", "ThumbnailClicked", ts(0)),
            bot("crawler", "v2", "VideoPaused", ts(0), position_ms=10, duration_ms=100),
            # "private" granted personalization once, then withdrew it: the latest event decides.
            consenting("private", "v3", "ThumbnailClicked", ts(2), True),
            consenting("private", "v3", "ThumbnailClicked", ts(1), False),
            # "changed" denied, then granted: personalised again.
            consenting("changed", "v4", "ThumbnailClicked", ts(2), False),
            consenting("changed", "v4", "ThumbnailClicked", ts(1), True),
            # no consent record at all (an older client): personalised, as before contract 1.2
            event("legacy", "v4", "ThumbnailClicked", ts(1)),
            # "withdrawn" granted everything, then denied analytics: their new events are filtered,
            # not stored, so only the filtered row says they withdrew.
            consenting("withdrawn", "v5", "ThumbnailClicked", ts(2), True),
        ],
    )
    load(
        settings,
        "filtered",
        [
            {
                "message_id": "m-withdrawn",
                "publish_time": ts(1),
                "event_id": "e-withdrawn",
                "event_type": "ThumbnailClicked",
                "reason": "consent_denied",
                "filtered_at": ts(1),
                "user_id": "withdrawn",
            },
            {  # a refusal older than the consent that followed it does not count
                "message_id": "m-changed",
                "publish_time": ts(3),
                "event_id": "e-changed",
                "event_type": "ThumbnailClicked",
                "reason": "consent_denied",
                "filtered_at": ts(3),
                "user_id": "legacy",
            },
        ],
    )
    load(settings, "sessions", [session("human", ts(1), ["v1"], ["v3"]), session("human", ts(2), ["v1"], ["v3"])])
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def test_bots_count_in_no_signal(seeded: Settings) -> None:
    affinity = {r["user_id"] for r in rows(seeded, "user_video_affinity", "user_id")}
    assert "crawler" not in affinity
    trending = {r["video_id"]: (r["events"], r["unique_users"]) for r in rows(seeded, "video_trending", "rank")}
    assert trending["v1"] == (1, 1) and "v2" not in trending


def test_a_user_whose_latest_event_denies_personalization_has_no_affinity_but_counts_in_trending(
    seeded: Settings,
) -> None:
    affinity = {r["user_id"] for r in rows(seeded, "user_video_affinity", "user_id")}
    assert affinity == {"human", "changed", "legacy"}
    trending = {r["video_id"]: (r["events"], r["unique_users"]) for r in rows(seeded, "video_trending", "rank")}
    assert trending["v3"] == (2, 1)  # the private user's events still count in aggregate trending


def test_a_user_whose_later_events_were_filtered_for_consent_denied_has_no_affinity(seeded: Settings) -> None:
    affinity = {r["user_id"] for r in rows(seeded, "user_video_affinity", "user_id")}
    assert "withdrawn" not in affinity and "legacy" in affinity


def test_each_signal_table_keeps_only_the_newest_keep_runs(stack: Settings) -> None:
    settings = fresh_dataset(stack)
    load_visits(
        settings,
        [visit(user, [("v1", "ThumbnailClicked", ts(3)), ("v2", "VideoPaused", ts(3))]) for user in ("u", "w")],
    )
    shown = [impression("u", "v1", "home", 1, ts(3)), impression("u", "v2", "home", 2, ts(3))]
    load(settings, "impressions", shown)
    load(settings, "events", [click_on(shown[0])])
    client = bigquery_client(settings)
    runs = [AS_OF - timedelta(hours=h) for h in range(4)]
    for as_of in reversed(runs):  # oldest first, as a schedule runs them
        run_signals(client, settings, SignalParams(as_of=as_of, keep_runs=2))
    # a backfill of an old as_of does not push out the newest runs
    run_signals(client, settings, SignalParams(as_of=AS_OF - timedelta(days=1), keep_runs=2))
    for table in SIGNALS:
        kept = {r["as_of"] for r in rows_any_as_of(settings, table)}
        assert kept == set(runs[:2]), table


def rows_any_as_of(settings: Settings, table: str) -> list[dict]:
    client = bigquery_client(settings)
    return [dict(r) for r in client.query(f"SELECT as_of FROM `{settings.table_id(table)}`").result()]


def test_keep_runs_must_be_at_least_one() -> None:
    with pytest.raises(ValueError):
        SignalParams(as_of=AS_OF, keep_runs=0)


@pytest.fixture(scope="module")
def served(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    key = create_key_file(tmp_path_factory.mktemp("key") / "pseudonym.key")
    settings = replace(fresh_dataset(stack), pseudonym_key=str(key))
    keyring = load_keyring(key)
    me, private = keyring.pseudonym("me@example.com"), keyring.pseudonym("private@example.com")
    load(
        settings,
        "events",
        [
            consenting(me, "v1", "ThumbnailClicked", ts(1), True),
            consenting(private, "v1", "ThumbnailClicked", ts(1), False),
            # ... and finished v2: their history is not read to serve them (not even to leave v2 out)
            {
                **consenting(private, "v2", "VideoPaused", ts(1), False, position_ms=95_000, duration_ms=100_000),
                "watch_ratio": 0.95,
            },
            *[event(f"o{i}", v, "ThumbnailClicked", ts(1)) for i in range(3) for v in ("v2", "v5")],
        ],
    )
    load_visits(
        settings,
        [
            visit("o1", [("v1", "VideoPaused", ts(1)), ("v2", "ThumbnailClicked", ts(1))]),
            visit("o2", [("v1", "VideoPaused", ts(2)), ("v2", "VideoPaused", ts(2))]),
        ],
    )
    run_signals(bigquery_client(settings), settings, SignalParams(as_of=AS_OF))
    return settings


def _recommend(settings: Settings, user: str) -> list[str]:
    env = {
        "CLICKSTREAM_BIGQUERY_ENDPOINT": settings.bigquery_endpoint,
        "CLICKSTREAM_DATASET": settings.dataset,
        "PUBSUB_EMULATOR_HOST": settings.pubsub_emulator_host,
        "CLICKSTREAM_PSEUDONYM_KEY": settings.pseudonym_key,
    }
    result = CliRunner().invoke(app, ["recommend", "--user", user, "-n", "3"], env=env)
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if "│" in line and "video_id" not in line]


def test_recommend_hashes_the_raw_id_with_the_key(served: Settings) -> None:
    lines = _recommend(served, "me@example.com")
    assert "v2" in lines[0] and "similar to v1" in lines[0]  # personalised: found by the pseudonym


def test_a_personalization_denied_user_gets_trending_only(served: Settings) -> None:
    lines = _recommend(served, "private@example.com")
    assert lines and all("trending #" in line for line in lines)


def test_a_personalization_denied_user_is_served_like_a_stranger(served: Settings) -> None:
    """Denied personalization: the recommendation reads nothing of the person's history, so it is
    the list a person never seen gets (the reviewer found finished videos read from their events)."""
    assert _recommend(served, "private@example.com") == _recommend(served, "nobody@example.com")


def test_recommend_without_a_key_is_a_clear_error(served: Settings, tmp_path: Path) -> None:
    env = {
        "CLICKSTREAM_BIGQUERY_ENDPOINT": served.bigquery_endpoint,
        "CLICKSTREAM_DATASET": served.dataset,
        "CLICKSTREAM_PSEUDONYM_KEY": str(tmp_path / "missing.key"),
    }
    result = CliRunner().invoke(app, ["recommend", "--user", "me@example.com"], env=env)
    # rich wraps the long path over lines
    assert (
        result.exit_code == 1 and "missing.key" in result.output.replace("\n", "") and "Traceback" not in result.output
    )
