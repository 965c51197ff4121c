"""End to end from a real browser: chromium -> collector -> Pub/Sub emulator -> streaming pipeline
-> BigQuery stand-in, and the rows read back with the positions and slots the viewer produced.

The collector is started as a newcomer starts it, ``clickstream collector serve`` (the venv's
script), against this test's own topics, with the test page's origin allowed: the page is served
from another port, a cross-origin site as in production.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from clickstream.app import provisioning
from clickstream.app.local import runner
from clickstream.app.local.collector import settings_env
from clickstream.app.local.processes import free_port
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.paths import REPO_ROOT
from clickstream.core.pseudonyms import load_keyring
from tests.support.browser import WRITE_KEY, PageServer, open_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COLLECTOR_START_S = 60
# Slots and ranks as the page lays the row out (tests/web/page/index.html).
ROW = {1: ("web-test-a", 3), 2: ("web-test-b", 1), 3: ("web-test-c", 7), 4: ("web-test-d", 2), 5: ("web-test-e", 5)}


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def collector(settings: Settings, allowed_origin: str, log: Path) -> Iterator[str]:
    """``clickstream collector serve`` on a free port for ``settings``' topics; yields its base URL."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **settings_env(settings)}
    script = Path(sys.executable).with_name("clickstream")
    assert script.is_file(), f"no clickstream script next to {sys.executable}"
    args = [str(script), "collector", "serve", "--host", "127.0.0.1"]
    args += ["--port", str(port), "--write-key", WRITE_KEY, "--allowed-origin", allowed_origin]
    with log.open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + COLLECTOR_START_S
        while not _ready(f"{base}/readyz"):
            if process.poll() is not None or time.monotonic() > deadline:
                state = f"exited {process.returncode}" if process.poll() is not None else "still starting"
                pytest.fail(f"the collector did not become ready ({state}):\n{log.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _sent(page: Page, n: int) -> None:
    page.wait_for_function(f"window.tracker.stats().sent === {n} && window.tracker.stats().queued === 0")


def test_clicks_and_a_pause_in_chromium_are_stored_with_their_slots_and_position(
    stack: Settings, browser: Browser, page_server: PageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = stack.isolated("web")  # a topic, subscriptions and dataset of this test's own
    provisioning.provision(settings)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host)
    client = bigquery_client(settings)
    user = f"web-e2e-{uuid.uuid4().hex[:8]}"

    with collector(settings, page_server.origin, tmp_path / "collector.log") as base:
        endpoint = f"{base}/v1/events"
        page = open_page(
            browser, page_server, endpoint=endpoint, userId=user, flushIntervalMs=100, baseDelayMs=200, maxDelayMs=1000
        )
        page.click("[data-slot='2']")
        _sent(page, 1)
        # The viewer answers the banner: what follows on this page carries it.
        page.evaluate("window.tracker.setConsent({analytics: true, personalization: false, policyVersion: '2026-05'})")
        page.click("#play")
        page.wait_for_function("document.getElementById('player').currentTime > 0.5")
        page.click("#pause")
        _sent(page, 2)
        position_ms = page.evaluate("Math.round(document.getElementById('player').currentTime * 1000)")

        page.context.set_offline(True)  # the queue holds ...
        page.click("[data-slot='5']")
        page.wait_for_function("window.tracker.stats().retries >= 1")
        assert page.evaluate("window.tracker.stats().queued") == 1
        page.context.set_offline(False)  # ... and drains
        _sent(page, 3)
        page.context.close()

        # A second visit whose tracker waits: closing its tab sends the click with sendBeacon.
        page = open_page(browser, page_server, endpoint=endpoint, userId=user, flushIntervalMs=600_000)
        page.click("[data-slot='1']")
        assert page.evaluate("window.tracker.stats().queued") == 1
        page.close()

        # The pipeline reads what the collector published (the subscription keeps it meanwhile);
        # started now, its idle stop cannot fire while the browser is still at work.
        results: dict[str, object] = {}
        stop = runner.LocalStop(max_runtime_s=240, idle_stop_s=30)
        pipeline = threading.Thread(
            target=lambda: results.setdefault("result", runner.run(settings.pipeline_args(), stop)), daemon=True
        )
        pipeline.start()
        stored_as = load_keyring(settings.pseudonym_key_source).pseudonym(user)  # never the raw id
        sql = (
            "SELECT event_id, event_type, video_id, slot, rank, surface, impression_id, position_ms,"
            f" platform, user_agent, browser_family, locale, consent_analytics, consent_personalization,"
            f" consent_policy_version FROM `{settings.table_id('events')}` WHERE user_id = '{stored_as}'"
        )
        deadline = time.monotonic() + 120
        rows = list(client.query(sql).result())
        while len(rows) < 4 and time.monotonic() < deadline:
            time.sleep(2)
            rows = list(client.query(sql).result())
    pipeline.join(timeout=120)
    assert "result" in results, "the pipeline thread did not finish"

    assert len(rows) == 4, rows
    assert len({r.event_id for r in rows}) == 4, "each event stored once"
    clicks = sorted((r.slot, r.rank, r.video_id) for r in rows if r.event_type == "ThumbnailClicked")
    assert clicks == [(slot, ROW[slot][1], ROW[slot][0]) for slot in (1, 2, 5)]
    assert {(r.surface, r.impression_id) for r in rows if r.event_type == "ThumbnailClicked"} == {
        ("up_next", "imp-web-test-1")
    }
    [pause] = [r for r in rows if r.event_type == "VideoPaused"]
    assert (pause.video_id, pause.position_ms) == ("web-test-main", position_ms)
    assert {(r.platform, r.locale) for r in rows} == {("web", "en-GB")}
    # The collector filled in the browser's User-Agent; the pipeline parsed it and kept only the parsed fields.
    assert all("Chrome" in r.browser_family and r.user_agent is None for r in rows), rows
    consent = {
        (r.event_type, r.slot): (r.consent_analytics, r.consent_personalization, r.consent_policy_version) for r in rows
    }
    assert consent == {
        ("ThumbnailClicked", 2): (None, None, None),  # before the banner was answered
        ("VideoPaused", None): (True, False, "2026-05"),
        ("ThumbnailClicked", 5): (True, False, "2026-05"),
        ("ThumbnailClicked", 1): (None, None, None),  # another visit (its own storage) that was not asked
    }
    dead = f"SELECT COUNT(*) AS n FROM `{settings.table_id('dead_letters')}`"
    assert next(iter(client.query(dead).result())).n == 0
