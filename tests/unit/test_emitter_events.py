"""The Python emitter's ThumbnailsShown constructor (contract 1.3) and its join key to a click."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import emitters
from clickstream.core import attributes, contract
from emitters.events import Exploration, ShownThumbnail, encode_event, thumbnail_clicked, thumbnails_shown
from tests.support.events import CLIENT

ROW = (
    ShownThumbnail("vid-000003", "imp-a", slot=1, rank=3),
    ShownThumbnail("vid-000007", "imp-b", slot=2, rank=2, row=1, col=2, visible_ms=1_200),
    ShownThumbnail("vid-000001", "imp-c", slot=3, rank=1),
)


def _shown(**overrides: object):
    fields: dict[str, object] = dict(
        user_id="u-1", device_id="d-1", client=CLIENT, request_id="req-9", surface="home", items=ROW
    )
    fields.update(overrides)
    return thumbnails_shown(**fields)  # type: ignore[arg-type]


def test_thumbnails_shown_is_exported_like_the_other_constructors() -> None:
    for name in ("thumbnails_shown", "ThumbnailsShown", "ShownThumbnail", "Exploration"):
        assert name in emitters.__all__ and hasattr(emitters, name), name


def test_thumbnails_shown_makes_a_1_3_event_with_defaults_like_thumbnail_clicked() -> None:
    event = _shown(items=iter(ROW), experiment_ids=["exp-1"], event_ts=datetime(2026, 5, 1, tzinfo=UTC))
    assert contract.is_uuid(event.event_id)
    assert (event.event_type, event.schema_version) == ("ThumbnailsShown", contract.current_version())
    assert event.event_ts_ms == 1_777_593_600_000
    assert event.payload.items == ROW and event.payload.experiment_ids == ("exp-1",)  # any iterable, kept as tuples
    assert event.attributes()[attributes.EVENT_TYPE] == "ThumbnailsShown"
    record = contract.decode(encode_event(event, sent_at_ms=event.event_ts_ms), event.schema_version)
    assert record["payload"][1]["items"][1] == {
        "video_id": "vid-000007",
        "impression_id": "imp-b",
        "slot": 2,
        "rank": 2,
        "row": 1,
        "col": 2,
        "visible_ms": 1_200,
    }


def test_a_click_on_a_shown_thumbnail_carries_its_impression_id_and_the_row_s_request_id() -> None:
    shown = _shown(exploration=Exploration("swap_first", swapped_rank=3, propensity=0.1))
    item = shown.payload.items[0]
    click = thumbnail_clicked(
        user_id="u-1",
        device_id="d-1",
        client=CLIENT,
        video_id=item.video_id,
        impression_id=item.impression_id,
        surface=shown.payload.surface,
        slot=item.slot,
        rank=item.rank,
        recommendation_request_id=shown.payload.request_id,
    )
    shown_record = contract.decode(encode_event(shown), contract.current_version())["payload"][1]
    click_record = contract.decode(encode_event(click), contract.current_version())["payload"][1]
    assert click_record["impression_id"] == shown_record["items"][0]["impression_id"] == "imp-a"
    assert click_record["recommendation_request_id"] == shown_record["request_id"] == "req-9"
    assert shown_record["exploration"] == {"method": "swap_first", "swapped_rank": 3, "propensity": 0.1}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"items": (ShownThumbnail("v", "imp", slot="1", rank=1),)}, "slot"),  # type: ignore[arg-type]
        ({"request_id": None}, "request_id"),
        ({"experiment_ids": [7]}, "experiment_ids"),
    ],
)
def test_a_malformed_row_is_a_contract_error_at_the_call_site(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(contract.ContractError, match=field):
        encode_event(_shown(**overrides))
