"""`clickstream demo` end to end, as a newcomer runs it: a subprocess on free ports.

Short traffic keeps it near a minute and a half; the defaults are exercised by `make demo`.
Each test checks that the demo stopped everything it started (stack services and pipeline).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clickstream.app.local import services
from clickstream.core.config import Settings
from tests.support.warehouse_scan import matches, table_rows

pytestmark = pytest.mark.integration


def _env(state_dir: Path) -> tuple[dict[str, str], Settings]:
    settings = services.own_stack_settings(state_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("PUBSUB_EMULATOR_HOST", "CLICKSTREAM_BIGQUERY_ENDPOINT")}
    env.update(
        CLICKSTREAM_PUBSUB_PORT=str(settings.pubsub_port),
        CLICKSTREAM_BIGQUERY_PORT=str(settings.bigquery_port),
        CLICKSTREAM_BIGQUERY_GRPC_PORT=str(settings.bigquery_grpc_port),
        CLICKSTREAM_COLLECTOR_PORT=str(settings.collector_port),
        CLICKSTREAM_STATE_DIR=str(state_dir),
        COLUMNS="120",
    )
    return env, settings


def _demo(env: dict[str, str], *args: str, timeout: float) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``clickstream demo`` to the end; returns the process and its whole output."""
    command = [sys.executable, "-m", "clickstream.app.cli", "demo", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    print(output[-3000:])
    return done, output


def _pipeline_pid(output: str) -> int:
    match = re.search(r"pipeline started \(pid (\d+)", output)
    assert match, f"no pipeline pid in the output:\n{output}"
    return int(match.group(1))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _assert_all_stopped(settings: Settings, pipeline_pid: int) -> None:
    for name in services.SERVICES:
        assert not services.service_state(settings, name).running, f"{name} was left running"
    assert not _alive(pipeline_pid), "the pipeline process was left running"


# The simulator's raw ids (emitters.simulator: "u-" + 16 hex, "d-" + 12 hex). A pseudonym is 32
# hex characters with no prefix, so any match is a raw id that reached the warehouse.
RAW_ID = re.compile(r"\b[ud]-[0-9a-f]{12}(?:[0-9a-f]{4})?\b")
# The simulator's User-Agents (browsers, apps and crawlers): parsed at enrichment, never stored.
RAW_USER_AGENT = re.compile(r"Mozilla/5\.0|Dalvik/|CFNetwork/|Googlebot|bingbot|python-requests|HeadlessChrome")


def test_demo_reconciles_reports_and_stops_what_it_started(tmp_path: Path) -> None:
    env, settings = _env(tmp_path / "state")
    report = tmp_path / "report"
    started = time.monotonic()
    try:
        done, output = _demo(
            env, "--duration", "15", "--rate", "20", "--report", str(report), "--keep-running", timeout=300
        )
        print(f"demo took {time.monotonic() - started:.0f}s")
        assert done.returncode == 0, output
        # No table, view, column or dead-letter payload holds a raw user or device id (issue 13).
        tables = table_rows(settings.with_local_endpoints())
        assert {"events", "dead_letters", "sessions", "user_video_affinity"} <= set(tables)
        assert tables["events"] and tables["dead_letters"]  # the scan saw real rows
        assert matches(tables, RAW_ID) == {}
        assert matches(tables, RAW_USER_AGENT) == {}
        assert matches({"output": [{"text": output}]}, RAW_ID), "the demo shows its viewers by raw id"
    finally:
        subprocess.run([sys.executable, "-m", "clickstream.app.cli", "local", "down"], env=env, timeout=120)
    assert "reconciliation OK" in output
    published = int(re.search(r"published (\d+) = stored", output).group(1))
    assert published >= 200
    assert "top trending videos" in output and "recommendations for u-" in output
    assert {p.name for p in report.iterdir()} == {
        "index.html",
        "sessions_per_minute.png",
        "session_length.png",
        "pause_positions.png",
        "clicks_by_slot.png",
    }
    assert all(p.stat().st_size > 1000 for p in report.glob("*.png"))
    _assert_all_stopped(settings, _pipeline_pid(output))


@pytest.mark.parametrize(("stop_signal", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_everything_the_demo_started(tmp_path: Path, stop_signal: int, exit_code: int) -> None:
    env, settings = _env(tmp_path / "state")
    process = subprocess.Popen(
        [sys.executable, "-m", "clickstream.app.cli", "demo", "--duration", "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:  # wait until traffic flows: stack and pipeline are both up
        lines.append(line)
        if "emitted" in line:
            break
    process.send_signal(stop_signal)
    rest, _ = process.communicate(timeout=90)
    output = "".join(lines) + rest
    print(output[-2000:])
    assert process.returncode == exit_code, output
    assert "everything the demo started has been stopped" in output
    _assert_all_stopped(settings, _pipeline_pid(output))


def test_a_taken_port_is_one_clear_error_and_nothing_is_left_running(tmp_path: Path) -> None:
    env, settings = _env(tmp_path / "state")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", settings.pubsub_port))
        taken.listen()
        done, output = _demo(env, "--duration", "5", timeout=120)
    assert done.returncode == 1
    assert f"port {settings.pubsub_port} on 127.0.0.1 is taken" in output
    assert "Traceback" not in output
    for name in services.SERVICES:
        assert not services.service_state(settings, name).running
