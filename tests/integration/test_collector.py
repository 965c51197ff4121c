"""The HTTP collector as a real server, publishing to the real Pub/Sub emulator."""

from __future__ import annotations

import gzip
import json
import uuid
from dataclasses import replace
from typing import Any

import httpx
import pytest

from clickstream.app.local.processes import free_port
from clickstream.core import attributes, contract
from clickstream.core.config import Settings
from clickstream.core.pubsub_clients import publisher_api
from clickstream.core.reasons import Reason
from tests.support.collector import ORIGIN, WRITE_KEY, client, collector_config, serving
from tests.support.events import pull_all

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def paused(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "VideoPaused",
        "event_ts": 1_760_000_000_000,
        "sent_at": 1_760_000_001_000,
        "user_id": "u-web",
        "device_id": "d-web",
        "client": {"platform": "web", "app_version": "1.0.0", "user_agent": "Tracker/1"},
        "payload": {"video_id": "vid-000001", "position_ms": 12_000},
    }
    item.update(overrides)
    return item


def clicked(**overrides: Any) -> dict[str, Any]:
    item = paused(
        event_type="ThumbnailClicked",
        payload={"video_id": "vid-000002", "impression_id": "imp-9", "surface": "home", "slot": 3, "rank": 7},
    )
    item.update(overrides)
    return item


def events_on(settings: Settings, expect: int | None = None) -> dict[str, Any]:
    received = pull_all(settings, expect=expect, idle_s=2 if expect is None else 3.0)
    return {m.message.attributes["event_id"]: m.message for m in received}


def rejected_on(settings: Settings, expect: int | None = None) -> list[Any]:
    received = pull_all(settings, settings.rejected_subscription_path, expect=expect, idle_s=2)
    return [m.message for m in received]


def test_a_single_event_is_published_as_the_contract_with_the_collectors_stamps(fresh_topic: Settings) -> None:
    item = paused()
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json=item)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 1, "rejected": []}
    message = events_on(fresh_topic, expect=1)[item["event_id"]]
    attrs = dict(message.attributes)
    decoded = contract.decode(message.data, attrs["schema_version"])
    assert decoded["payload"] == (
        "io.clickstream.v1.VideoPaused",
        {**item["payload"], "video_duration_ms": None, "playback_rate": None},
    )
    assert {k: attrs[k] for k in ("event_id", "event_type", "schema_version", "event_ts")} == (
        attributes.contract_attributes(decoded)
    )
    assert attrs["googclient_schemaencoding"] == "BINARY"  # the topic's schema accepted the bytes
    assert attrs[attributes.CLIENT_IP_PREFIX] == "127.0.0.0/24"
    assert int(attrs[attributes.RECEIVED_AT]) > 1_760_000_000_000
    assert attributes.trace_ids(attrs[attributes.TRACEPARENT]) is not None  # a new trace
    assert attributes.EVENT_ID_GENERATED not in attrs


def test_a_batch_with_invalid_items_publishes_the_good_ones_and_dead_letters_the_rest(fresh_topic: Settings) -> None:
    good = [paused(), clicked(), paused()]
    bad_type = paused(event_type="VideoScrubbed")
    batch = [good[0], bad_type, good[1], "not an event", good[2]]
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": batch}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 3
    assert [(r["index"], r["reason"]) for r in body["rejected"]] == [
        (1, Reason.UNKNOWN_EVENT_TYPE.value),
        (3, Reason.NOT_AN_EVENT.value),
    ]
    published = events_on(fresh_topic, expect=3)
    assert set(published) == {e["event_id"] for e in good}
    dead = sorted(rejected_on(fresh_topic, expect=2), key=lambda m: m.attributes[attributes.REJECT_REASON])
    assert [m.attributes[attributes.REJECT_REASON] for m in dead] == ["not_an_event", "unknown_event_type"]
    assert json.loads(dead[0].data) == "not an event"
    assert json.loads(dead[1].data) == bad_type
    assert dead[1].attributes[attributes.EVENT_ID] == bad_type["event_id"]
    assert attributes.EVENT_ID not in dead[0].attributes
    assert "VideoScrubbed" in dead[1].attributes[attributes.REJECT_DETAIL]
    for message in [*published.values(), *dead]:
        assert attributes.trace_ids(message.attributes[attributes.TRACEPARENT])[0] == TRACE_ID
        assert message.attributes[attributes.CLIENT_IP_PREFIX] == "127.0.0.0/24"


def test_an_oversize_event_id_is_not_an_attribute_and_fails_no_other_message(fresh_topic: Settings) -> None:
    good, bad = paused(), paused(event_id="x" * 5000)
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": [good, bad]})
    assert response.status_code == 202, response.text
    assert response.json()["rejected"][0]["reason"] == Reason.INVALID_EVENT_ID.value
    assert list(events_on(fresh_topic, expect=1)) == [good["event_id"]]
    [dead] = rejected_on(fresh_topic, expect=1)
    attrs = dict(dead.attributes)
    assert attributes.EVENT_ID not in attrs  # Pub/Sub refuses attribute values over 1024 bytes
    assert all(len(value.encode()) <= 1024 for value in attrs.values())
    assert json.loads(dead.data)["event_id"] == bad["event_id"]


def test_text_plain_beacon_with_the_key_in_the_query_string(fresh_topic: Settings) -> None:
    item = clicked()
    with serving(fresh_topic) as base, httpx.Client(base_url=base) as http:
        response = http.post(
            f"/v1/events?write_key={WRITE_KEY}",
            content=json.dumps({"events": [item]}),
            headers={"Content-Type": "text/plain;charset=UTF-8"},
        )
    assert response.status_code == 202, response.text
    assert set(events_on(fresh_topic, expect=1)) == {item["event_id"]}


def test_a_gzip_body_is_inflated(fresh_topic: Settings) -> None:
    items = [paused() for _ in range(20)]
    body = gzip.compress(json.dumps({"events": items}).encode())
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post(
            "/v1/events", content=body, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 20
    assert set(events_on(fresh_topic, expect=20)) == {e["event_id"] for e in items}


def test_missing_event_id_and_user_agent_are_filled_in_and_marked(fresh_topic: Settings) -> None:
    item = paused()
    del item["event_id"]
    item["client"] = {"platform": "web", "app_version": "1.0.0"}
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json=item, headers={"User-Agent": "Mozilla/5.0 (Test) Chromium/1"})
    assert response.status_code == 202, response.text
    ((event_id, message),) = events_on(fresh_topic, expect=1).items()
    assert contract.is_uuid(event_id)
    assert message.attributes[attributes.EVENT_ID_GENERATED] == "true"
    decoded = contract.decode(message.data, message.attributes["schema_version"])
    assert decoded["client"]["user_agent"] == "Mozilla/5.0 (Test) Chromium/1"


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {}),
        (b"[1, 2]", {}),
        (b'{"events": "x"}', {}),
        (b'{"events": []}', {}),
        (b'{"events": [], "extra": 1}', {}),
        (b"\xff\xfe", {}),
        (b"not gzip", {"Content-Encoding": "gzip"}),
        (gzip.compress(b'{"events": []}')[:-6], {"Content-Encoding": "gzip"}),
        (b"{}", {"Content-Encoding": "br"}),
        (b'{"events": [NaN]}', {}),
        (b'{"events": [{"event_ts": -Infinity}]}', {}),
    ],
    ids=[
        "not-json",
        "array",
        "events-not-list",
        "empty",
        "extra-key",
        "not-utf8",
        "bad-gzip",
        "cut-gzip",
        "brotli",
        "nan",
        "infinity",
    ],
)
def test_a_body_that_is_no_event_or_batch_is_a_400_and_nothing_is_published(
    fresh_topic: Settings, content: bytes, headers: dict[str, str]
) -> None:
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", content=content, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]
    assert events_on(fresh_topic) == {} and rejected_on(fresh_topic) == []


def test_an_unknown_or_missing_write_key_is_a_401(fresh_topic: Settings) -> None:
    with serving(fresh_topic) as base, httpx.Client(base_url=base) as http:
        assert http.post("/v1/events", json=paused()).status_code == 401
        assert http.post("/v1/events", json=paused(), headers={"X-Write-Key": "stolen"}).status_code == 401
        assert http.post("/v1/events?write_key=nope", json=paused()).status_code == 401
    assert events_on(fresh_topic) == {}


def test_limits_are_a_413_and_nothing_is_published(fresh_topic: Settings) -> None:
    config = collector_config(max_events=5, max_event_bytes=1024, max_request_bytes=4096)
    with serving(fresh_topic, config) as base, client(base) as http:
        too_many = http.post("/v1/events", json={"events": [paused() for _ in range(6)]})
        big_event = http.post("/v1/events", json={"events": [paused(), paused(user_id="x" * 1100)]})
        big_single = http.post("/v1/events", json=paused(user_id="x" * 1100))
        big_body = http.post("/v1/events", content=b" " * 5000 + json.dumps(paused()).encode())
        bomb = http.post(
            "/v1/events",
            content=gzip.compress(json.dumps(paused()).encode() + b" " * 10_000),
            headers={"Content-Encoding": "gzip"},
        )
    assert too_many.status_code == 413 and too_many.json()["limit"] == 5
    assert big_event.status_code == 413 and big_event.json()["index"] == 1
    assert big_single.status_code == 413 and big_single.json()["limit"] == 1024
    assert big_body.status_code == 413
    assert bomb.status_code == 413 and "inflated" in bomb.json()["error"]
    assert events_on(fresh_topic) == {} and rejected_on(fresh_topic) == []


def test_cors_allows_listed_origins_caches_the_preflight_and_refuses_others(fresh_topic: Settings) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-write-key"}
    with serving(fresh_topic) as base, client(base) as http:
        allowed = http.options("/v1/events", headers={"Origin": ORIGIN, **preflight})
        stranger = http.options("/v1/events", headers={"Origin": "https://evil.example", **preflight})
        post = http.post("/v1/events", json=paused(), headers={"Origin": ORIGIN})
        refused = http.post("/v1/events", json=paused(), headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert int(allowed.headers["access-control-max-age"]) == 7200
    assert "x-write-key" in allowed.headers["access-control-allow-headers"].lower()
    assert stranger.status_code == 400 and "access-control-allow-origin" not in stranger.headers
    assert post.status_code == 202 and post.headers["access-control-allow-origin"] == ORIGIN
    assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
    assert len(events_on(fresh_topic, expect=1)) == 1


def test_unreachable_pubsub_is_a_503_with_retry_after_and_not_ready(fresh_topic: Settings) -> None:
    closed = replace(fresh_topic, pubsub_emulator_host=f"127.0.0.1:{free_port()}")  # nothing listens there
    config = collector_config(publish_timeout_s=1.5, unavailable_retry_after_s=7)
    with serving(closed, config) as base, client(base) as http:
        assert http.get("/healthz").status_code == 200
        ready = http.get("/readyz")
        response = http.post("/v1/events", json={"events": [paused(), "bad"]})
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("topic", ["events", "rejected"])
def test_a_missing_topic_is_a_500_without_retry_after_not_a_503(fresh_topic: Settings, topic: str) -> None:
    # A permanent error (here NotFound, as for PermissionDenied or InvalidArgument) will not go
    # away by retrying: a 503 would have clients retry for ever.
    path = fresh_topic.topic_path if topic == "events" else fresh_topic.rejected_topic_path
    publisher_api(fresh_topic).delete_topic(request={"topic": path})
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": [paused(), "bad"]})
    assert response.status_code == 500, response.text
    assert "retry-after" not in response.headers
    assert "misconfigured" in response.json()["error"] and "NotFound" in response.json()["error"]


def test_readyz_is_true_when_both_topics_answer(fresh_topic: Settings) -> None:
    with serving(fresh_topic) as base, client(base) as http:
        assert http.get("/readyz").json() == {"ready": True}


def test_full_flow_control_is_a_429_with_retry_after(fresh_topic: Settings) -> None:
    # One message may wait for Pub/Sub, and the batch waits a second before it is sent: the
    # second event of the request finds flow control full.
    config = collector_config(flow_control_max_messages=1, batch_max_latency_s=1.0, busy_retry_after_s=2)
    with serving(fresh_topic, config) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": [paused(), paused()]})
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == "2"


def test_forwarded_for_is_honoured_only_behind_a_trusted_proxy(fresh_topic: Settings) -> None:
    forwarded = {"X-Forwarded-For": "6.6.6.6, 198.51.100.23"}
    first, second = paused(), paused()
    with serving(fresh_topic) as base, client(base) as http:
        assert http.post("/v1/events", json=first, headers=forwarded).status_code == 202
    with serving(fresh_topic, collector_config(trusted_proxy_hops=1)) as base, client(base) as http:
        assert http.post("/v1/events", json=second, headers=forwarded).status_code == 202
    published = events_on(fresh_topic, expect=2)
    assert published[first["event_id"]].attributes[attributes.CLIENT_IP_PREFIX] == "127.0.0.0/24"
    assert published[second["event_id"]].attributes[attributes.CLIENT_IP_PREFIX] == "198.51.100.0/24"


def test_requests_without_traceparent_start_distinct_traces(fresh_topic: Settings) -> None:
    items = [paused(), paused()]
    with serving(fresh_topic) as base, client(base) as http:
        for item in items:
            assert http.post("/v1/events", json=item).status_code == 202
    published = events_on(fresh_topic, expect=2)
    trace_ids = {attributes.trace_ids(m.attributes[attributes.TRACEPARENT])[0] for m in published.values()}
    assert len(trace_ids) == 2


def test_a_traced_request_continues_the_callers_trace_on_every_message(fresh_topic: Settings) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    good, bad = paused(), paused(event_id="not-a-uuid")
    with serving(fresh_topic, span_exporter=exporter) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": [good, bad]}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 202, response.text
    (span,) = exporter.get_finished_spans()
    assert f"{span.parent.span_id:016x}" == TRACEPARENT.split("-")[2]
    assert span.attributes["clickstream.accepted"] == 1 and span.attributes["clickstream.rejected"] == 1
    assert span.attributes["http.response.status_code"] == 202
    server_context = (TRACE_ID, f"{span.context.span_id:016x}")
    (event,) = events_on(fresh_topic, expect=1).values()
    (dead,) = rejected_on(fresh_topic, expect=1)
    assert dead.attributes[attributes.REJECT_REASON] == Reason.INVALID_EVENT_ID
    for message in (event, dead):
        assert attributes.trace_ids(message.attributes[attributes.TRACEPARENT]) == server_context


def test_consent_reaches_the_topic_and_a_malformed_one_the_rejected_topic(fresh_topic: Settings) -> None:
    consent = {"analytics": False, "personalization": False, "policy_version": "2026-05"}
    with_consent, without, malformed = paused(consent=consent), clicked(), paused(consent={"analytics": "no"})
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": [with_consent, without, malformed]})
    assert response.status_code == 202, response.text
    assert [(r["index"], r["reason"]) for r in response.json()["rejected"]] == [(2, "contract_violation")]
    published = events_on(fresh_topic, expect=2)
    decoded = {event_id: contract.decode(m.data, m.attributes["schema_version"]) for event_id, m in published.items()}
    assert decoded[with_consent["event_id"]]["consent"] == consent  # the topic's 1.2 schema took it
    assert decoded[without["event_id"]]["consent"] is None
    (dead,) = rejected_on(fresh_topic, expect=1)
    assert json.loads(dead.data) == malformed
    assert "consent.analytics must be true or false" in dead.attributes[attributes.REJECT_DETAIL]


def shown(**overrides: Any) -> dict[str, Any]:
    """A rendered row of four thumbnails (contract 1.3), as a page sends it: items without row/col."""
    item = paused(
        event_type="ThumbnailsShown",
        payload={
            "request_id": "req-7",
            "surface": "home",
            "items": [
                {"video_id": f"vid-00000{slot}", "impression_id": f"imp-{slot}", "slot": slot, "rank": slot}
                for slot in (1, 2, 3, 4)
            ],
        },
    )
    item.update(overrides)
    return item


def test_a_thumbnails_shown_row_reaches_the_topic_as_1_3_and_a_malformed_row_the_rejected_topic(
    fresh_topic: Settings,
) -> None:
    row = shown()
    explored = shown()
    explored["payload"].update(
        model_version="ranker-7",
        experiment_ids=["exp-a"],
        exploration={"method": "swap_first", "swapped_rank": 3, "propensity": 0.02},
    )
    explored["payload"]["items"][0].update(row=1, col=1, visible_ms=1_500)
    click = clicked(
        payload={
            "video_id": "vid-000002",
            "impression_id": "imp-2",
            "surface": "home",
            "slot": 2,
            "rank": 2,
            "recommendation_request_id": "req-7",
        }
    )
    malformed = shown()
    del malformed["payload"]["items"][1]["slot"]
    too_old = shown(schema_version="1.2")
    with serving(fresh_topic) as base, client(base) as http:
        response = http.post("/v1/events", json={"events": [row, explored, click, malformed, too_old]})
    assert response.status_code == 202, response.text
    assert [(r["index"], r["reason"]) for r in response.json()["rejected"]] == [
        (3, "contract_violation"),
        (4, "unknown_event_type"),
    ]

    published = events_on(fresh_topic, expect=3)
    assert set(published) == {row["event_id"], explored["event_id"], click["event_id"]}
    decoded = {}
    for event_id, message in published.items():
        assert message.attributes["googclient_schemaencoding"] == "BINARY"  # the topic's schema took it
        decoded[event_id] = contract.decode(message.data, message.attributes["schema_version"])
    assert published[row["event_id"]].attributes["schema_version"] == "1.3"
    branch, payload = decoded[row["event_id"]]["payload"]
    assert branch == "io.clickstream.v1.ThumbnailsShown"
    assert payload["experiment_ids"] == [] and payload["exploration"] is None
    assert payload["items"][1] == {**row["payload"]["items"][1], "row": None, "col": None, "visible_ms": None}
    assert decoded[explored["event_id"]]["payload"][1]["exploration"] == explored["payload"]["exploration"]
    assert decoded[explored["event_id"]]["payload"][1]["items"][0]["visible_ms"] == 1_500
    clicked_payload = decoded[click["event_id"]]["payload"][1]
    assert clicked_payload["impression_id"] == payload["items"][1]["impression_id"]
    assert clicked_payload["recommendation_request_id"] == payload["request_id"]

    dead = {m.attributes[attributes.EVENT_ID]: m for m in rejected_on(fresh_topic, expect=2)}
    assert json.loads(dead[malformed["event_id"]].data) == malformed  # the row as sent: nothing lost
    assert "items[1]: missing ['slot']" in dead[malformed["event_id"]].attributes[attributes.REJECT_DETAIL]
    assert "not in contract 1.2" in dead[too_old["event_id"]].attributes[attributes.REJECT_DETAIL]
