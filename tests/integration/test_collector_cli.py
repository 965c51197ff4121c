"""`clickstream collector serve` as a real process on each server, publishing to the emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from clickstream.app.local.collector import settings_env
from clickstream.app.local.processes import free_port, stop_group
from clickstream.core.config import Settings
from tests.integration.test_collector import events_on, paused

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _serve_one_request(fresh_topic: Settings, server: str, tmp_path: Path) -> tuple[int, str]:
    """Run ``collector serve`` as its own process, post one event, stop it: its port and output."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        **settings_env(fresh_topic),
        "CLICKSTREAM_STATE_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",  # every line the servers print reaches the log before they stop
    }
    command = [sys.executable, "-m", "clickstream.app.cli", "collector", "serve", "--port", str(port)]
    command += ["--server", server, "--write-key", "cli-key"]
    log = tmp_path / "collector.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    item = paused()
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            assert http.get("/readyz").status_code == 200, log.read_text()
            response = http.post("/v1/events", json=item, headers={"X-Write-Key": "cli-key"})
            assert response.status_code == 202, response.text
            assert http.post("/v1/events", json=item, headers={"X-Write-Key": "local-write-key"}).status_code == 401
    finally:
        stop_group(process.pid, process.pid)
    assert process.wait(timeout=30) is not None
    assert set(events_on(fresh_topic, expect=1)) == {item["event_id"]}
    output = log.read_text()
    assert f"http://127.0.0.1:{port}/v1/events ({server})" in output.replace("\n", "")
    return port, output


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_collector_serve_publishes_on_either_server(fresh_topic: Settings, server: str, tmp_path: Path) -> None:
    _serve_one_request(fresh_topic, server, tmp_path)


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_collector_serve_logs_no_client_address(fresh_topic: Settings, server: str, tmp_path: Path) -> None:
    # Privacy: only the client's network (/24, /48) is kept; an access log line would print
    # the whole address and port of every client.
    port, output = _serve_one_request(fresh_topic, server, tmp_path)
    assert "POST /v1/events" not in output, output
    emulator_port = int((fresh_topic.pubsub_emulator_host or ":0").rsplit(":", 1)[1])
    printed = {int(found) for found in re.findall(r"127\.0\.0\.1:(\d+)", output)}
    assert printed <= {port, emulator_port}, output  # no client's ip:port
