"""The browser tests' test page server and helpers (tests/web).

``PageServer`` serves the test page (tests/web/page) and the tracker bundle on 127.0.0.1 and,
when the page posts to its own ``/v1/events``, records each request the way the collector's
interface defines it (docs/web-tracker.md). Debian's chromium at /usr/bin/chromium, driven by
playwright: no browser download.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from clickstream.core.paths import REPO_ROOT

WEB = REPO_ROOT / "emitters" / "web"
PAGE = REPO_ROOT / "tests" / "web" / "page"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WRITE_KEY = "local-write-key"


def open_page(browser: Browser, server: PageServer, **options: object) -> Page:
    """The test page in a fresh browser context (its own localStorage), tracker options in the query."""
    page = browser.new_context(locale="en-GB").new_page()
    page.goto(server.page_url(**options))
    page.wait_for_function("window.trackerReady === true")
    return page


@dataclass
class Post:
    """One request the tracker made to /v1/events."""

    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict
    status: int

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def events(self) -> list[dict]:
        return self.body.get("events", [self.body])


@dataclass
class PageServer:
    """Serves the test page and the tracker bundle; records the posts to /v1/events.

    ``answers`` scripts the status of the next posts (e.g. ``[503]``, answered with Retry-After:
    1); with none left a post is answered 202 as the collector does.
    """

    bundle: bytes
    posts: list[Post] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    port: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, **options: object) -> str:
        return f"{self.origin}/?{urlencode({k: v for k, v in options.items() if v is not None})}"

    def accepted_events(self) -> list[dict]:
        return [e for p in self.posts if p.status == 202 for e in p.events]

    def wait_for(self, predicate: Callable[[PageServer], bool], timeout_s: float = 20) -> None:
        """Block until ``predicate(self)`` holds; fail with what arrived when it does not."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"condition not met in {timeout_s} s; posts: {self.posts}", pytrace=False)
                self._changed.wait(left)

    def _record(self, post: Post) -> None:
        with self._changed:
            self.posts.append(post)
            self._changed.notify_all()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self
        files = {
            "/": ("text/html; charset=utf-8", (PAGE / "index.html").read_bytes()),
            "/page.js": ("text/javascript", (PAGE / "page.js").read_bytes()),
            "/tracker.js": ("text/javascript", self.bundle),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path not in files:
                    self.send_error(404)
                    return
                content_type, data = files[path]
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/v1/events":
                    self.send_error(404)
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = server.answers.pop(0) if server.answers else 202
                body = json.loads(raw)
                answer = {"accepted": len(body.get("events", [body])), "rejected": []} if status == 202 else {}
                data = json.dumps(answer).encode()
                self.send_response(status)
                if status in (429, 503):
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                headers = {k.lower(): v for k, v in self.headers.items()}
                server._record(Post(parse_qs(url.query), headers, body, status))

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
