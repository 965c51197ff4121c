"""The ground truth the simulator plays: the position-based model, its file, its clear errors."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from emitters.ground_truth import (
    DEFAULT_EXAMINATION,
    SLOTS,
    ExaminationCurve,
    GroundTruth,
    affinities,
    draw_appeal,
    draw_tastes,
)

CATEGORIES = ("music", "gaming", "news")


def small_truth() -> GroundTruth:
    return GroundTruth(
        theta={"home": ExaminationCurve(0.9, 1.0).thetas(), "up_next": ExaminationCurve(0.8, 0.5).thetas()},
        categories=CATEGORIES,
        video_category={"v1": 0, "v2": 0, "v3": 1, "v4": 2},
        video_appeal={"v1": 0.6, "v2": 0.3, "v3": 0.5, "v4": 0.4},
        viewer_tastes={"u-music": (0.8, 0.2, 0.0), "u-news": (0.0, 0.1, 0.9)},
        taste_floor=0.2,
    )


def test_default_curves_decrease_per_surface_start_below_one_and_differ() -> None:
    curves = {surface: curve.thetas() for surface, curve in DEFAULT_EXAMINATION.items()}
    for surface, thetas in curves.items():
        assert len(thetas) == SLOTS
        assert 0 < thetas[0] < 1, surface
        assert all(a > b for a, b in itertools.pairwise(thetas)), surface
    assert len(set(curves.values())) == len(curves), "every surface has a curve of its own"
    # Viewers read the first results of search and home; the up-next list is short and flat.
    assert curves["search"][9] / curves["search"][0] < curves["up_next"][9] / curves["up_next"][0]
    assert curves["home"][9] / curves["home"][0] < curves["up_next"][9] / curves["up_next"][0]


def test_the_curve_is_the_documented_power_law() -> None:
    assert ExaminationCurve(0.8, 1.0).thetas(4) == pytest.approx((0.8, 0.4, 0.8 / 3, 0.2))
    assert ExaminationCurve(0.5, 0.0).thetas(3) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(("top", "decay", "message"), [(0.0, 1.0, "top"), (1.2, 1.0, "top"), (0.9, -1, "decay")])
def test_a_nonsense_curve_is_refused(top: float, decay: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExaminationCurve(top, decay)


def test_gamma_is_appeal_times_the_viewers_affinity_for_the_category() -> None:
    truth = small_truth()
    # u-music: favourite music (affinity 1), gaming 0.2 + 0.8 * 0.2 / 0.8 = 0.4, news the floor.
    assert truth.gamma("u-music", "v1") == pytest.approx(0.6)
    assert truth.gamma("u-music", "v3") == pytest.approx(0.5 * 0.4)
    assert truth.gamma("u-music", "v4") == pytest.approx(0.4 * 0.2)
    assert truth.gamma("u-news", "v4") == pytest.approx(0.4)
    assert truth.examination("up_next", 4) == pytest.approx(0.8 * 4**-0.5)


def test_gamma_stays_strictly_between_zero_and_one_for_any_drawn_viewer_and_video() -> None:
    rng = random.Random(3)
    for _ in range(2000):
        tastes = draw_tastes(rng, 10)
        assert sum(tastes) == pytest.approx(1.0, abs=1e-4)
        appeal = draw_appeal(rng)
        assert 0 < appeal < 1
        assert all(0 < appeal * a < 1 for a in affinities(tastes))


def test_attractiveness_is_the_population_mean_of_gamma() -> None:
    truth = small_truth()
    for video in truth.video_appeal:
        mean = sum(truth.gamma(u, video) for u in truth.viewer_tastes) / len(truth.viewer_tastes)
        assert truth.attractiveness(video) == pytest.approx(mean)


def test_top_preferences_rank_by_gamma_and_leave_out_what_is_excluded() -> None:
    truth = small_truth()
    everything = sorted(truth.video_appeal, key=lambda v: (-truth.gamma("u-music", v), v))
    assert truth.top_preferences("u-music", 4) == everything == ["v1", "v2", "v3", "v4"]
    assert truth.top_preferences("u-music", 2, exclude={"v1"}) == ["v2", "v3"]
    assert truth.top_preferences("u-news", 1) == ["v4"]
    assert truth.top_preferences("u-news", 10) == ["v4", "v3", "v1", "v2"]  # n beyond the catalog: all


def test_top_preferences_agree_with_a_brute_force_sort_on_a_large_truth() -> None:
    rng = random.Random(5)
    categories = tuple(f"c{i}" for i in range(10))
    videos = {f"vid-{i:04d}": (rng.randrange(10), draw_appeal(rng)) for i in range(800)}
    truth = GroundTruth(
        theta={"home": DEFAULT_EXAMINATION["home"].thetas()},
        categories=categories,
        video_category={v: c for v, (c, _) in videos.items()},
        video_appeal={v: a for v, (_, a) in videos.items()},
        viewer_tastes={f"u{i}": draw_tastes(rng, 10) for i in range(30)},
    )
    seen = set(list(videos)[:50])
    for user in truth.viewer_tastes:
        brute = sorted((v for v in videos if v not in seen), key=lambda v: (-truth.gamma(user, v), v))
        assert truth.top_preferences(user, 25, exclude=seen) == brute[:25]


def test_the_truth_round_trips_through_its_json_file(tmp_path: Path) -> None:
    truth = small_truth()
    path = truth.write(tmp_path / "truth.json")
    loaded = GroundTruth.load(path)
    assert loaded == truth
    assert loaded.gamma("u-news", "v3") == truth.gamma("u-news", "v3")
    data = json.loads(path.read_text())
    assert data["videos"]["v3"] == {"category": "gaming", "appeal": 0.5}
    assert data["theta"]["home"][0] == 0.9
    assert not list(tmp_path.glob("*.partial"))


def test_unknown_viewers_and_videos_get_a_clear_error() -> None:
    truth = small_truth()
    with pytest.raises(KeyError, match="no viewer 'u-who'"):
        truth.gamma("u-who", "v1")
    with pytest.raises(KeyError, match="no video 'v9'"):
        truth.gamma("u-music", "v9")
    with pytest.raises(KeyError, match="no examination curve for surface 'shorts'"):
        truth.examination("shorts", 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="something-else"), "not a ground truth file"),
        (lambda d: d.update(version=99), "version 99"),
        (lambda d: d["videos"]["v1"].update(appeal=1.5), "appeal of 'v1'"),
        (lambda d: d["videos"]["v1"].update(category="opera"), "malformed ground truth"),
        (lambda d: d["theta"].update(home=[0.5, 0.0]), r"theta\['home'\]"),
        (lambda d: d["viewers"].update({"u-x": [1.0]}), "tastes of 'u-x'"),
        (lambda d: d.pop("viewers"), "malformed ground truth"),
    ],
)
def test_a_bad_truth_file_is_refused_with_a_clear_error(tmp_path: Path, change, message: str) -> None:
    data = small_truth().to_json()
    change(data)
    path = tmp_path / "truth.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message):
        GroundTruth.load(path)


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    path.write_text("{half")
    with pytest.raises(ValueError, match="not JSON"):
        GroundTruth.load(path)
