"""The collector as a real HTTP server for tests: uvicorn on a free port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from clickstream.app.local.processes import free_port
from clickstream.core.config import Settings
from collector.app import create_app
from collector.config import CollectorConfig

WRITE_KEY = "test-write-key"
ORIGIN = "https://shop.example"


def collector_config(**overrides: Any) -> CollectorConfig:
    values: dict[str, Any] = {"write_keys": (WRITE_KEY,), "allowed_origins": (ORIGIN,), "publish_timeout_s": 3.0}
    values.update(overrides)
    return CollectorConfig(**values)


@contextlib.contextmanager
def serving(settings: Settings, config: CollectorConfig | None = None, **app_options: Any) -> Iterator[str]:
    """Serve ``create_app`` on 127.0.0.1 until the block ends; yields the base URL."""
    app = create_app(config or collector_config(), settings, **app_options)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            # The collector decides itself whether to trust X-Forwarded-For (trusted_proxy_hops).
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            loop="asyncio",
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, name=f"collector-{port}", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the collector did not start on port {port}")
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"X-Write-Key": WRITE_KEY}, timeout=30)
