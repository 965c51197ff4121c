"""The traffic simulator: deterministic by seed, realistic behaviour, honest knobs."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import replace

import pytest

from clickstream.core.synthetic_videos import generate_videos
from emitters.events import Consent, ShownThumbnail, ThumbnailClicked, ThumbnailsShown, VideoPaused, encode_event
from emitters.ground_truth import ExaminationCurve, GroundTruth
from emitters.simulator import (
    BOT_USER_AGENTS,
    INVALID_REASONS,
    POLICY_VERSION,
    SURFACES,
    Emission,
    Simulator,
    TrafficProfile,
)
from emitters.traffic import play
from pipelines.rules.enrich import bot_reason

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def run(profile: TrafficProfile, n: int = 4000) -> list[Emission]:
    return list(itertools.islice(Simulator(profile, START_MS).emissions(), n))


def test_same_seed_same_traffic_different_seed_different_traffic() -> None:
    profile = TrafficProfile(rate=30, session_gap_s=30, seed=42, duplicates=0.05, invalid=0.05, late=0.05, skewed=0.1)
    first, second = run(profile, 2000), run(profile, 2000)
    assert first == second
    other = run(TrafficProfile(rate=30, session_gap_s=30, seed=43, duplicates=0.05), 2000)
    assert [e.event.event_id for e in first] != [e.event.event_id for e in other]


def test_emissions_are_time_ordered_and_match_the_rate() -> None:
    emissions = run(TrafficProfile(rate=50, session_gap_s=20, seed=1), 5000)
    dues = [e.due_s for e in emissions]
    assert dues == sorted(dues)
    achieved = len(emissions) / dues[-1]
    print(f"target 50 events/s, simulated {achieved:.1f} events/s")
    assert 40 <= achieved <= 60


def test_every_valid_emission_satisfies_the_contract() -> None:
    for emission in run(TrafficProfile(rate=50, session_gap_s=20, seed=2, invalid=0.1), 3000):
        size = len(encode_event(emission.event))
        # Small payloads: ids, not rows; a rendered row is 12 thumbnails of about 80 bytes.
        assert size < (1200 if emission.event.event_type == "ThumbnailsShown" else 512)


def test_sessions_are_separated_by_more_than_the_gap_and_steps_by_less() -> None:
    gap = 20.0
    emissions = run(TrafficProfile(rate=40, session_gap_s=gap, seed=5), 12000)
    times: dict[str, list[float]] = defaultdict(list)
    for e in emissions:
        if e.kind == "valid":
            times[e.event.user_id].append(e.event.event_ts_ms / 1000)
    within, between = [], []
    for series in times.values():
        series.sort()
        for a, b in itertools.pairwise(series):
            (between if b - a > gap else within).append(b - a)
    assert between, "viewers should come back for more than one session"
    assert min(between) > 1.2 * gap * 0.95
    assert max(within) < gap
    returning = sum(1 for s in times.values() if any(b - a > gap for a, b in itertools.pairwise(s)))
    print(f"{len(times)} viewers, {returning} with more than one session")


def test_browsing_looks_like_browsing() -> None:
    emissions = [e for e in run(TrafficProfile(rate=40, session_gap_s=20, seed=7), 8000) if e.kind == "valid"]
    clicks = [e.event.payload for e in emissions if isinstance(e.event.payload, ThumbnailClicked)]
    pauses = [e.event.payload for e in emissions if isinstance(e.event.payload, VideoPaused)]
    assert len(clicks) > 500 and len(pauses) > 500
    surfaces = Counter(c.surface for c in clicks)
    assert {"home", "search", "up_next"} <= set(surfaces)
    slots = Counter(c.slot for c in clicks)
    assert slots[1] > slots[3] > slots[8]  # position bias
    assert all(0 <= p.position_ms <= (p.video_duration_ms or 10**9) for p in pauses)
    catalog_ids = {v.video_id for v in generate_videos(500)}
    known = sum(1 for c in clicks if c.video_id in catalog_ids) / len(clicks)
    assert 0.95 < known < 1.0  # a few fresh uploads miss the catalog
    devices_per_user: dict[str, set[str]] = defaultdict(set)
    for e in emissions:
        devices_per_user[e.event.user_id].add(e.event.device_id)
    assert any(len(d) == 2 for d in devices_per_user.values())


def test_pauses_within_a_viewing_move_forward() -> None:
    emissions = [e for e in run(TrafficProfile(rate=40, session_gap_s=20, seed=8), 4000) if e.kind == "valid"]
    last: dict[tuple[str, str], int] = {}
    forward = backward = 0
    for e in emissions:
        p = e.event.payload
        if isinstance(p, ThumbnailClicked):
            last.pop((e.event.user_id, p.video_id), None)
        elif isinstance(p, VideoPaused):
            key = (e.event.user_id, p.video_id)
            if key in last:
                forward += p.position_ms >= last[key]
                backward += p.position_ms < last[key]
            last[key] = p.position_ms
    assert forward > 50 and backward == 0


@pytest.mark.parametrize("knob", ["duplicates", "invalid", "late"])
def test_fraction_knobs_hit_their_share(knob: str) -> None:
    emissions = run(TrafficProfile(rate=40, session_gap_s=20, seed=11, **{knob: 0.1}), 6000)
    kinds = Counter(e.kind.split(":")[0] for e in emissions)
    name = {"duplicates": "duplicate", "invalid": "invalid", "late": "late"}[knob]
    share = kinds[name] / (len(emissions) - (kinds["duplicate"] if name != "duplicate" else 0))
    print(f"{knob}=0.1 gives {share:.3f}")
    assert 0.08 < share < 0.12


def test_duplicates_repeat_the_same_event() -> None:
    emissions = run(TrafficProfile(rate=40, session_gap_s=20, seed=12, duplicates=0.2), 2000)
    originals = {e.event.event_id: e.event for e in emissions if e.kind != "duplicate"}
    dupes = [e for e in emissions if e.kind == "duplicate"]
    assert dupes
    assert all(originals[d.event.event_id] == d.event for d in dupes if d.event.event_id in originals)


def test_invalid_events_carry_the_bad_value_they_name() -> None:
    emissions = run(TrafficProfile(rate=40, session_gap_s=20, seed=13, invalid=0.3), 4000)
    seen = set()
    for e in emissions:
        if not e.kind.startswith("invalid:"):
            continue
        reason = e.kind.split(":", 1)[1]
        seen.add(reason)
        p, ev = e.event.payload, e.event
        delta_ms = ev.event_ts_ms - ev.sent_at_ms
        holds = {
            "negative_position": lambda p=p: p.position_ms < 0,
            "position_beyond_duration": lambda p=p: p.position_ms > p.video_duration_ms,
            "event_time_in_future": lambda d=delta_ms: d > 86_400_000,
            "event_time_too_old": lambda d=delta_ms: -d > 300 * 86_400_000,
            "missing_video_id": lambda p=p: p.video_id == "",
            "invalid_slot": lambda p=p: p.slot < 1,
            "duplicate_impression_id": lambda p=p: len({i.impression_id for i in p.items}) < len(p.items),
        }[reason]()
        assert holds, reason
        encode_event(ev)  # still valid Avro: only the values are wrong
    assert seen == set(INVALID_REASONS)


def test_late_events_are_sent_long_after_they_happened() -> None:
    gap = 20.0
    emissions = run(TrafficProfile(rate=40, session_gap_s=gap, seed=14, late=0.1), 4000)
    late = [e for e in emissions if e.kind == "late"]
    assert late
    for e in late:
        assert (e.event.sent_at_ms - e.event.event_ts_ms) / 1000 >= 0.5 * gap
        assert e.due_s * 1000 >= e.event.event_ts_ms - START_MS + 0.5 * gap * 1000


def test_skewed_devices_have_a_consistent_clock_offset() -> None:
    emissions = run(TrafficProfile(rate=40, session_gap_s=20, seed=15, skewed=0.3), 3000)
    skewed = [e for e in emissions if e.kind == "skewed"]
    assert skewed
    for e in skewed:
        offset_ms = e.event.sent_at_ms - (START_MS + e.due_s * 1000)
        assert abs(offset_ms) >= 5 * 60_000 - 1000  # the device clock is minutes to hours off


def test_profile_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        TrafficProfile(rate=0)
    with pytest.raises(ValueError, match="duplicates"):
        TrafficProfile(duplicates=1.5)


def _per_viewer(emissions: list[Emission]) -> dict[str, list[Emission]]:
    viewers: dict[str, list[Emission]] = defaultdict(list)
    for e in emissions:
        viewers[e.event.user_id].append(e)
    return viewers


# Many short sessions over many viewers: enough people to measure per-viewer shares.
CROWD = TrafficProfile(rate=500, session_gap_s=5, seed=21)


def test_the_default_profile_mixes_consent_answers_per_viewer() -> None:
    viewers = _per_viewer(run(CROWD, 30_000))
    humans = {u: es for u, es in viewers.items() if not es[0].bot}
    answers = Counter()
    for emissions in humans.values():
        consents = {e.event.consent for e in emissions}
        assert len(consents) == 1, "a person answers the banner once: every event of theirs carries it"
        (consent,) = consents
        if consent is None:
            answers["none"] += 1
        else:
            assert consent.policy_version == POLICY_VERSION
            answers[
                "analytics_denied"
                if not consent.analytics
                else ("granted" if consent.personalization else "personalization_denied")
            ] += 1
            if not consent.analytics:
                assert not consent.personalization, "who declines analytics declines personalisation too"
    shares = {k: n / len(humans) for k, n in answers.items()}
    print(f"{len(humans)} people: {shares}")
    assert len(humans) > 800
    assert 0.015 < shares["analytics_denied"] < 0.05
    assert 0.07 < shares["personalization_denied"] < 0.13
    assert 0.02 < shares["none"] < 0.07
    assert shares["granted"] > 0.75


def test_a_bot_share_of_viewers_send_with_crawler_user_agents_the_pipeline_marks() -> None:
    viewers = _per_viewer(run(CROWD, 30_000))
    bots = {u: es for u, es in viewers.items() if es[0].bot}
    share = len(bots) / len(viewers)
    print(f"{len(bots)} bots among {len(viewers)} viewers ({share:.3f})")
    assert 0.01 < share < 0.035
    bot_agents = {e.event.client.user_agent for es in bots.values() for e in es}
    human_agents = {e.event.client.user_agent for u, es in viewers.items() if u not in bots for e in es}
    assert bot_agents <= set(BOT_USER_AGENTS) and len(bot_agents) > 1
    # The pipeline's own classifier (enrichment) recognises every one, and no human's.
    assert all(bot_reason(ua) for ua in bot_agents)
    assert not any(bot_reason(ua) for ua in human_agents)
    assert all(e.bot == (u in bots) for u, es in viewers.items() for e in es)
    assert all(e.event.consent is None for es in bots.values() for e in es), "a crawler answers no banner"


def test_consent_and_bots_change_nothing_else_of_the_stream() -> None:
    """Consent and bots draw from their own random stream: a seed plays the same events, at the
    same times, with or without them (the seeds other tests rely on keep their traffic)."""
    plain = replace(CROWD, analytics_denied=0.0, personalization_denied=0.0, no_consent=0.0, bots=0.0)
    mixed, clean = run(CROWD, 5000), run(plain, 5000)
    strip = lambda e: (e.due_s, e.kind, replace(e.event, consent=None, client=None))  # noqa: E731
    assert [strip(e) for e in mixed] == [strip(e) for e in clean]
    assert all(e.event.consent == Consent(True, True, POLICY_VERSION) and not e.bot for e in clean)
    assert run(CROWD, 5000) == mixed  # and the mix itself is deterministic under the seed


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ({"bots": 1.5}, "bots"),
        ({"analytics_denied": -0.1}, "analytics_denied"),
        ({"analytics_denied": 0.5, "personalization_denied": 0.4, "no_consent": 0.2}, "add up to more than 1"),
    ],
)
def test_consent_and_bot_shares_are_checked(shares: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrafficProfile(**shares)


def test_the_traffic_summary_counts_consent_and_bots_per_send() -> None:
    class Recorder:  # stands in for the publisher: play() only needs publish and flush
        def __init__(self) -> None:
            self.events: list = []

        def publish(self, event) -> None:
            self.events.append(event)

        def flush(self) -> None:
            return None

    profile = replace(CROWD, invalid=0.05, duplicates=0.05)
    sink = Recorder()
    summary = play(profile, sink, max_events=20_000, realtime=False)
    emissions = run(profile, 20_000)  # the same stream (play starts it at the wall clock's now)
    assert [e.event_id for e in sink.events] == [e.event.event_id for e in emissions]
    assert summary.bot_sends == sum(e.bot for e in emissions) > 0
    assert sum(summary.by_consent.values()) == summary.sent
    assert summary.by_consent["analytics_denied"] == sum(
        1 for e in emissions if e.event.consent is not None and not e.event.consent.analytics
    )
    # What the pipeline filters as consent_denied: denied sends that pass validation (duplicates too).
    assert summary.consent_denied_valid == sum(
        1
        for e in emissions
        if e.event.consent is not None and not e.event.consent.analytics and not e.kind.startswith("invalid:")
    )
    assert 0 < summary.consent_denied_valid < summary.by_consent["analytics_denied"]


# -- rows of thumbnails and the click model (issue 14) ------------------------------------------
ROWS = TrafficProfile(rate=400, session_gap_s=10, seed=31)


def _rows(emissions: list[Emission]) -> list[tuple[Emission, ThumbnailsShown]]:
    return [(e, e.event.payload) for e in emissions if isinstance(e.event.payload, ThumbnailsShown)]


def test_each_browsing_step_renders_a_row_of_twelve_ranked_thumbnails() -> None:
    emissions = [e for e in run(ROWS, 6000) if e.kind != "duplicate"]
    rows = _rows(emissions)
    assert 0.2 < len(rows) / len(emissions) < 0.6
    impressions = [item.impression_id for _, row in rows for item in row.items]
    assert len(impressions) == len(set(impressions)) == 12 * len(rows), "one impression id per thumbnail"
    assert len({row.request_id for _, row in rows}) == len(rows)
    for e, row in rows:
        assert row.surface in SURFACES and row.model_version and row.exploration is None
        assert [item.slot for item in row.items] == list(range(1, 13))
        assert [item.rank for item in row.items] == list(range(1, 13)), "slot = rank unless explored"
        assert len({item.video_id for item in row.items}) == 12
        assert len(encode_event(e.event)) < 1024
    assert {row.surface for _, row in rows} == set(SURFACES)


def test_every_click_joins_to_the_thumbnail_it_was_shown_as() -> None:
    emissions = [e for e in run(ROWS, 8000) if e.kind == "valid"]
    shown: dict[str, tuple[Emission, ThumbnailsShown, ShownThumbnail]] = {}
    clicks = 0
    for e in emissions:
        payload = e.event.payload
        if isinstance(payload, ThumbnailsShown):
            shown.update({item.impression_id: (e, payload, item) for item in payload.items})
        elif isinstance(payload, ThumbnailClicked):
            clicks += 1
            row_emission, row, item = shown[payload.impression_id]
            assert (payload.video_id, payload.slot, payload.rank) == (item.video_id, item.slot, item.rank)
            assert payload.recommendation_request_id == row.request_id
            assert payload.surface == row.surface
            assert e.event.user_id == row_emission.event.user_id
            assert e.event.event_ts_ms > row_emission.event.event_ts_ms
    assert clicks > 500


def test_a_video_is_shown_at_many_slots_so_position_and_appeal_can_be_told_apart() -> None:
    slots_of: dict[str, set[int]] = defaultdict(set)
    for _, row in _rows(run(ROWS, 20_000)):
        for item in row.items:
            slots_of[item.video_id].add(item.slot)
    shown_often = sorted(slots_of, key=lambda v: -len(slots_of[v]))[:50]
    assert len(shown_often) == 50
    assert all(len(slots_of[v]) >= 10 for v in shown_often)


def _click_model_counts(profile: TrafficProfile, until_s: float) -> tuple[dict, dict, GroundTruth]:
    """Per (surface, slot): observed clicks, and the sum of gamma over the thumbnails shown there
    (so clicks / sum(gamma) estimates theta: the position-based model's examination)."""
    simulator = Simulator(profile, START_MS)
    emissions = list(simulator.emissions(until_s=until_s))
    truth = simulator.truth()
    gamma_sum: dict[tuple[str, int], float] = defaultdict(float)
    clicks: Counter[tuple[str, int]] = Counter()
    for e in emissions:
        if e.kind != "valid":
            continue
        payload, user = e.event.payload, e.event.user_id
        if isinstance(payload, ThumbnailsShown):
            for item in payload.items:
                gamma_sum[payload.surface, item.slot] += truth.gamma(user, item.video_id)
        elif isinstance(payload, ThumbnailClicked):
            clicks[payload.surface, payload.slot] += 1
    return clicks, gamma_sum, truth


def test_clicks_by_slot_follow_theta_times_gamma() -> None:
    """The position-based model, checked on a large sample: at every slot of every surface the
    clicks are what theta_k * gamma(viewer, video) predicts, summed over the thumbnails shown."""
    profile = replace(ROWS, seed=32)
    clicks, gamma_sum, truth = _click_model_counts(profile, until_s=240.0)
    for surface in SURFACES:
        for slot in range(1, 13):
            expected = truth.examination(surface, slot) * gamma_sum[surface, slot]
            observed = clicks[surface, slot]
            assert expected > 40, (surface, slot)
            # Poisson-binomial: the standard deviation is at most sqrt(expected).
            assert abs(observed - expected) < 4.5 * expected**0.5, (surface, slot, observed, expected)
    # And the examination curve itself comes back: clicks / sum(gamma) on the busiest surface.
    for slot in range(1, 11):
        estimate = clicks["home", slot] / gamma_sum["home", slot]
        assert estimate == pytest.approx(truth.examination("home", slot), rel=0.15), slot  # ~3 sd


def test_viewers_click_what_they_like_when_they_examine_it() -> None:
    """At the same slot, thumbnails of high gamma are clicked more often than those of low gamma."""
    simulator = Simulator(replace(ROWS, seed=33), START_MS)
    emissions = [e for e in itertools.islice(simulator.emissions(), 40_000) if e.kind == "valid"]
    truth = simulator.truth()
    clicked = {e.event.payload.impression_id for e in emissions if isinstance(e.event.payload, ThumbnailClicked)}
    shown = [(e.event.user_id, item) for e, row in _rows(emissions) for item in row.items if item.slot <= 3]
    high = [item.impression_id in clicked for u, item in shown if truth.gamma(u, item.video_id) > 0.4]
    low = [item.impression_id in clicked for u, item in shown if truth.gamma(u, item.video_id) < 0.1]
    assert sum(high) / len(high) > 4 * sum(low) / len(low)


def test_exploration_swaps_rank_one_with_a_random_rank_and_logs_its_propensity() -> None:
    rows = _rows([e for e in run(replace(ROWS, exploration=0.2), 20_000) if e.kind != "duplicate"])
    explored = [row for _, row in rows if row.exploration is not None]
    share = len(explored) / len(rows)
    print(f"exploration=0.2 randomised {share:.3f} of {len(rows)} rows")
    assert 0.17 < share < 0.23
    swapped = Counter()
    for row in explored:
        k = row.exploration.swapped_rank
        swapped[k] += 1
        assert row.exploration.method == "swap_first"
        assert row.exploration.propensity == pytest.approx(0.2 / 11)
        ranks = [item.rank for item in row.items]
        assert ranks[0] == k and ranks[k - 1] == 1, "slot 1 shows rank k, slot k shows rank 1"
        assert all(item.slot == item.rank for item in row.items if item.slot not in (1, k))
        assert [item.slot for item in row.items] == list(range(1, 13))
    assert set(swapped) == set(range(2, 13))
    assert all(not (r.exploration is None and any(i.slot != i.rank for i in r.items)) for _, r in rows)
    assert not [r for _, r in _rows(run(ROWS, 3000)) if r.exploration is not None], "no exploration by default"


def test_the_truth_covers_every_viewer_and_video_played_and_round_trips(tmp_path) -> None:
    simulator = Simulator(ROWS, START_MS)
    emissions = list(itertools.islice(simulator.emissions(), 5000))
    truth = simulator.truth()
    assert {e.event.user_id for e in emissions} <= set(truth.viewer_tastes)
    shown = {item.video_id for _, row in _rows(emissions) for item in row.items}
    assert shown <= set(truth.video_appeal)
    assert {v.video_id for v in generate_videos(ROWS.catalog_size)} <= set(truth.video_appeal)
    assert truth.theta == {s: c.thetas() for s, c in ROWS.examination.items()}
    assert GroundTruth.load(truth.write(tmp_path / "truth.json")) == truth
    # The same seed plays the same truth.
    again = Simulator(ROWS, START_MS)
    list(itertools.islice(again.emissions(), 5000))
    assert again.truth() == truth


def test_the_examination_curves_are_configurable() -> None:
    flat = {surface: ExaminationCurve(top=0.5, decay=0.0) for surface in SURFACES}
    clicks, gamma_sum, truth = _click_model_counts(replace(ROWS, seed=34, examination=flat), until_s=100.0)
    assert truth.theta["home"] == (0.5,) * 12
    first = clicks["home", 1] / gamma_sum["home", 1]
    tenth = clicks["home", 10] / gamma_sum["home", 10]
    assert tenth / first == pytest.approx(1.0, rel=0.35)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"exploration": 1.5}, "exploration"),
        ({"examination": {"home": ExaminationCurve(0.9, 1.0)}}, "examination curve for"),
    ],
)
def test_click_model_settings_are_checked(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrafficProfile(**change)


def test_a_stream_that_ends_at_a_time_finishes_the_rows_it_rendered() -> None:
    """Cut off at an event count, the stream loses the clicks still to come of the rows in
    flight, the later the slot the more (a row's clicks play in slot order): with many
    concurrent sessions that biases theta_k for deep slots low. ``emissions(until_s=T)`` renders
    no row from T on and lets every rendered row play out, so each row has all its clicks."""
    profile = TrafficProfile(rate=2000, session_gap_s=60, seed=35)
    simulator = Simulator(profile, START_MS)
    emissions = list(simulator.emissions(until_s=15.0))
    truth = simulator.truth()
    rows = _rows(emissions)
    assert rows and max(e.due_s for e, _ in rows) < 15.0 + 1.0  # rendered before T (plus the send delay)
    assert max(e.due_s for e in emissions) > 15.0, "the rows in flight play out after T"
    clicked = {e.event.payload.impression_id for e in emissions if isinstance(e.event.payload, ThumbnailClicked)}
    observed, expected = Counter(), defaultdict(float)
    for e, row in rows:
        for item in row.items:
            band = "deep" if item.slot > 6 else "top"
            observed[band] += item.impression_id in clicked
            expected[band] += truth.examination(row.surface, item.slot) * truth.gamma(e.event.user_id, item.video_id)
    for band in ("top", "deep"):
        assert abs(observed[band] - expected[band]) < 4 * expected[band] ** 0.5, (band, observed, expected)


def test_the_traffic_summary_counts_rows_and_thumbnails_and_carries_the_truth(tmp_path) -> None:
    """What `clickstream emit` prints and writes with --truth: rows, thumbnails, and the model."""

    class Recorder:
        def __init__(self) -> None:
            self.events: list = []

        def publish(self, event) -> None:
            self.events.append(event)

        def flush(self) -> None:
            return None

    sink = Recorder()
    summary = play(replace(ROWS, exploration=0.1), sink, max_events=3000, realtime=False)
    rows = [e.payload for e in sink.events if isinstance(e.payload, ThumbnailsShown)]
    assert summary.by_type["ThumbnailsShown"] == len(rows) > 0
    assert summary.impressions == 12 * len(rows)
    assert sum(summary.by_type.values()) == summary.sent
    assert summary.truth is not None
    assert {e.user_id for e in sink.events} <= set(summary.truth.viewer_tastes)
    assert GroundTruth.load(summary.truth.write(tmp_path / "truth.json")) == summary.truth
