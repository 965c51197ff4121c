"""Fixtures of the browser tests: the tracker's minified bundle, a real headless chromium, and the
test page server (tests/support/browser.py) on a free 127.0.0.1 port."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, WEB, PageServer


@pytest.fixture(scope="session")
def tracker_bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The minified ES module bundle the page loads: what a site would ship (emitters/web/scripts/build.js)."""
    if not (WEB / "node_modules" / "esbuild").is_dir():
        pytest.fail("emitters/web/node_modules is missing: run `npm ci --prefix emitters/web`", pytrace=False)
    out = tmp_path_factory.mktemp("bundle")
    result = subprocess.run(
        ["node", "scripts/build.js", "--out", str(out)], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return (out / "tracker.min.js").read_bytes()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page_server(tracker_bundle: bytes) -> Iterator[PageServer]:
    """The test page on a free 127.0.0.1 port, recording the tracker's posts to its own /v1/events."""
    server = PageServer(tracker_bundle)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), server.handler())
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
