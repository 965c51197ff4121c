"""The browser tracker in a real headless chromium, against a small HTTP server that records its posts.

The page (tests/web/page) loads the minified bundle and wires a row of thumbnails and a <video> to
the tracker, as a site would. The end-to-end run through the collector, the emulator, the pipeline
and the BigQuery stand-in is tests/web/test_tracker_end_to_end.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page

from clickstream.core import contract
from collector.events import Accepted, convert
from tests.support.browser import WRITE_KEY, PageServer, open_page

pytestmark = pytest.mark.slow

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
# Short timers so the test does not wait on the tracker's defaults (5 s batches, 1 s backoff base).
FAST = {"flushIntervalMs": 100, "baseDelayMs": 200, "maxDelayMs": 1000}


def _ids(server: PageServer, event_type: str | None = None) -> list[str]:
    return [e["event_id"] for e in server.accepted_events() if event_type in (None, e["event_type"])]


def _stored_queue(page: Page) -> list[dict]:
    return page.evaluate("JSON.parse(localStorage.getItem('clickstream:queue') || '[]')")


def test_a_thumbnail_click_is_posted_with_its_slot_and_rank(browser: Browser, page_server: PageServer) -> None:
    page = open_page(browser, page_server, **FAST)
    page.click("[data-slot='3']")
    page_server.wait_for(lambda s: len(_ids(s, "ThumbnailClicked")) == 1)

    [post] = page_server.posts
    assert post.content_type == "application/json"
    assert post.headers["x-write-key"] == WRITE_KEY
    [event] = post.events
    assert UUID.match(event["event_id"])
    assert event["event_type"] == "ThumbnailClicked"
    assert event["schema_version"] == contract.current_version()
    assert event["event_ts"] <= event["sent_at"]
    assert event["client"] == {"platform": "web", "app_version": "web-test-page/1", "locale": "en-GB"}
    assert "user_agent" not in event["client"], "the collector takes it from the User-Agent header"
    assert event["payload"] == {
        "video_id": "web-test-c",
        "impression_id": "imp-web-test-1",
        "surface": "up_next",
        "slot": 3,
        "rank": 7,
        "recommendation_request_id": "req-web-test-1",
    }
    assert event["user_id"] == event["device_id"], "an anonymous viewer: the user id is the device id"
    page.context.close()


def test_playing_then_pausing_the_video_posts_the_position(browser: Browser, page_server: PageServer) -> None:
    page = open_page(browser, page_server, **FAST)
    page.click("#play")
    page.wait_for_function("document.getElementById('player').currentTime > 0.5")
    page.click("#pause")
    page_server.wait_for(lambda s: len(_ids(s, "VideoPaused")) == 1)

    [event] = [e for e in page_server.accepted_events() if e["event_type"] == "VideoPaused"]
    position_ms = page.evaluate("Math.round(document.getElementById('player').currentTime * 1000)")
    assert event["payload"]["video_id"] == "web-test-main"
    assert event["payload"]["position_ms"] == position_ms
    assert position_ms > 500
    assert event["payload"]["playback_rate"] == 1
    assert "video_duration_ms" not in event["payload"], "a live stream has no duration"
    page.context.close()


def test_offline_the_queue_holds_and_drains_when_back_online(browser: Browser, page_server: PageServer) -> None:
    page = open_page(browser, page_server, **FAST)
    page.context.set_offline(True)
    page.click("[data-slot='1']")
    page.click("[data-slot='2']")
    page.wait_for_function("window.tracker.stats().retries >= 2")  # tried, failed, tried again

    assert page_server.posts == []
    assert [e["payload"]["slot"] for e in _stored_queue(page)] == [1, 2]
    assert page.evaluate("window.tracker.stats().queued") == 2

    page.context.set_offline(False)
    page_server.wait_for(lambda s: len(_ids(s)) == 2)
    assert [e["payload"]["slot"] for e in page_server.accepted_events()] == [1, 2]
    page.wait_for_function("window.tracker.stats().queued === 0")
    assert _stored_queue(page) == []
    page.context.close()


def test_an_event_the_collector_answered_503_survives_a_reload(browser: Browser, page_server: PageServer) -> None:
    page_server.answers = [503, 503]  # the first post, and the beacon the reload fires while failing
    page = open_page(browser, page_server, flushIntervalMs=100, baseDelayMs=60_000)
    page.click("[data-slot='4']")
    page_server.wait_for(lambda s: len(s.posts) == 1)
    [queued] = _stored_queue(page)

    page.reload()  # the next page's tracker finds the event in localStorage and sends it
    page.wait_for_function("window.trackerReady === true")
    page_server.wait_for(lambda s: queued["event_id"] in _ids(s))
    # The reload's beacon and the new page's post race for the second 503: either may deliver it.
    sent = next(e for e in page_server.accepted_events() if e["event_id"] == queued["event_id"])
    assert {k: v for k, v in sent.items() if k != "sent_at"} == queued
    assert sent["sent_at"] >= page_server.posts[0].events[0]["sent_at"], "sent_at is stamped at each attempt"
    page.context.close()


def test_closing_the_tab_sends_the_queue_with_a_beacon(browser: Browser, page_server: PageServer) -> None:
    page = open_page(browser, page_server, flushIntervalMs=600_000, batchSize=100)
    page.click("[data-slot='4']")
    page.click("[data-slot='5']")
    assert page_server.posts == [] and page.evaluate("window.tracker.stats().queued") == 2

    page.close()
    page_server.wait_for(lambda s: len(_ids(s)) == 2)
    [beacon] = page_server.posts
    assert beacon.content_type.startswith("text/plain"), "a text/plain beacon needs no CORS preflight"
    assert beacon.query["write_key"] == [WRITE_KEY], "sendBeacon cannot set headers: the key is in the query"
    assert "x-write-key" not in beacon.headers
    assert [e["payload"]["slot"] for e in beacon.events] == [4, 5]


def test_closing_the_tab_while_the_collector_fails_sends_the_kept_queue_in_one_beacon(
    browser: Browser, page_server: PageServer
) -> None:
    # visibilitychange (hidden) and pagehide both fire on a close: one beacon per hide episode.
    page_server.answers = [503, 503, 503]  # the post, then each beacon the close sends
    page = open_page(browser, page_server, flushIntervalMs=100, baseDelayMs=60_000)
    page.click("[data-slot='4']")
    page_server.wait_for(lambda s: len(s.posts) == 1)
    # Until the 503 reaches the page its fetch is in flight, and a request in flight gets no beacon.
    page.wait_for_function("window.tracker.stats().retries === 1")
    page.close()
    page_server.wait_for(lambda s: len(s.posts) >= 2)
    # A later page in another context posts after the close's beacons have all left the browser.
    other = open_page(browser, page_server, flushIntervalMs=100)
    other.click("[data-slot='1']")
    page_server.wait_for(lambda s: any(e["payload"]["slot"] == 1 for e in s.accepted_events()))
    beacons = [p for p in page_server.posts if "write_key" in p.query]
    assert len(beacons) == 1, f"{len(beacons)} beacons for one close"
    assert [e["payload"]["slot"] for e in beacons[0].events] == [4]
    other.context.close()


def test_set_consent_stamps_later_events_and_survives_a_reload(browser: Browser, page_server: PageServer) -> None:
    page = open_page(browser, page_server, **FAST)
    page.click("[data-slot='1']")  # before the banner was answered: no consent
    page.evaluate("window.tracker.setConsent({analytics: false, personalization: false, policyVersion: '2026-05'})")
    page.click("[data-slot='2']")  # denied: still sent, stamped denied (the pipeline filters it)
    page_server.wait_for(lambda s: len(set(_ids(s))) == 2)
    # A reload right after the post can come before the tracker read the 202 and cleared its stored
    # queue: the next page sends those events again (at least once; the pipeline drops the copy by
    # event_id), so count distinct events.
    page.reload()  # the next page's tracker reads the answer from localStorage
    page.wait_for_function("window.trackerReady === true")
    page.click("[data-slot='3']")
    page_server.wait_for(lambda s: len(set(_ids(s))) == 3)

    by_slot = {e["payload"]["slot"]: e for e in page_server.accepted_events()}
    denied = {"analytics": False, "personalization": False, "policy_version": "2026-05"}
    assert "consent" not in by_slot[1]
    assert by_slot[2]["consent"] == denied
    assert by_slot[3]["consent"] == denied
    page.context.close()


def test_with_require_consent_nothing_is_stored_or_sent_before_consent(
    browser: Browser, page_server: PageServer
) -> None:
    page = open_page(browser, page_server, requireConsent="true", flushIntervalMs=100, batchSize=1)
    page.click("[data-slot='1']")
    page.click("[data-slot='2']")
    page.wait_for_function("window.tracker.stats().droppedNoConsent === 2")
    # A flush, then a hide (visibilitychange + pagehide) would send a queue by fetch and by beacon.
    assert page.evaluate("window.tracker.flush()") is True
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
    assert page.evaluate("Object.keys(localStorage)") == [], "no device id, no queue before consent"

    page.evaluate("window.tracker.setConsent({analytics: true, personalization: false})")
    page.click("[data-slot='3']")
    page_server.wait_for(lambda s: len(_ids(s)) == 1)
    [event] = page_server.accepted_events()
    assert event["payload"]["slot"] == 3, "the clicks before consent never reached the collector"
    assert [p.events[0]["payload"]["slot"] for p in page_server.posts] == [3]
    assert event["device_id"] == page.evaluate("localStorage.getItem('clickstream:device')")

    page.evaluate("window.tracker.setConsent({analytics: false, personalization: false})")
    assert page.evaluate("Object.keys(localStorage)") == ["clickstream:consent"]
    page.click("[data-slot='4']")
    page.wait_for_function("window.tracker.stats().droppedNoConsent === 3")
    page.context.close()
    assert len(page_server.posts) == 1, "nothing after the withdrawal either"


def test_a_shown_row_and_a_click_on_it_arrive_with_the_same_impression_id(
    browser: Browser, page_server: PageServer
) -> None:
    """?shown=true: the page reports its row with tracker.shown when it renders, and a click passes on
    the impression id shown() gave that thumbnail, so the click joins to the impression (contract 1.3)."""
    page = open_page(browser, page_server, shown="true", **FAST)
    page_server.wait_for(lambda s: len(_ids(s, "ThumbnailsShown")) == 1)
    page.click("[data-slot='4']")
    page_server.wait_for(lambda s: len(_ids(s, "ThumbnailClicked")) == 1)

    events = {e["event_type"]: e for e in page_server.accepted_events()}
    row, click = events["ThumbnailsShown"], events["ThumbnailClicked"]
    assert row["schema_version"] == "1.3"
    assert row["payload"]["request_id"] == "req-web-test-1" and row["payload"]["surface"] == "up_next"
    items = row["payload"]["items"]
    assert [(i["video_id"], i["slot"], i["rank"]) for i in items] == [
        ("web-test-a", 1, 3),
        ("web-test-b", 2, 1),
        ("web-test-c", 3, 7),
        ("web-test-d", 4, 2),
        ("web-test-e", 5, 5),
    ]
    assert all(UUID.match(i["impression_id"]) for i in items) and len({i["impression_id"] for i in items}) == 5
    assert click["payload"]["impression_id"] == items[3]["impression_id"]
    assert click["payload"]["recommendation_request_id"] == row["payload"]["request_id"]
    assert (click["payload"]["slot"], click["payload"]["rank"]) == (4, 2)
    # What the page sent is the contract: the collector's own conversion takes both under 1.3.
    for event in (row, click):
        result = convert(event, received_at_ms=event["sent_at"], user_agent="chromium")
        assert isinstance(result, Accepted), result
        assert result.attributes["schema_version"] == "1.3"
    page.context.close()
