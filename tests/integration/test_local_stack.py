"""`clickstream local up | down | status`: idempotent, by PID, clear about taken ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.app.local import processes, services
from clickstream.core.config import Settings
from collector.config import LOCAL_WRITE_KEY
from tests.support.events import pull_all

pytestmark = pytest.mark.integration


def _own_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        state_dir=tmp_path / "state",
        pubsub_port=processes.free_port(),
        pubsub_emulator_host=None,
        bigquery_endpoint=None,
        bigquery_port=processes.free_port(),
        bigquery_grpc_port=processes.free_port(),
        collector_port=processes.free_port(),
    )


def test_up_twice_is_a_no_op_and_down_leaves_no_process(tmp_path: Path) -> None:
    settings = _own_settings(tmp_path)
    try:
        first = {s.name: s for s in services.up(settings)}
        assert all(s.running and s.ready for s in first.values())
        second = {s.name: s for s in services.up(settings)}
        assert {n: s.pid for n, s in second.items()} == {n: s.pid for n, s in first.items()}
        pgids = [s.pid for s in first.values()]
    finally:
        stopped = services.down(settings)
    assert stopped == ["collector", "bigquery", "pubsub"]  # the collector first: it publishes to the emulator
    for pgid in pgids:
        assert not processes.group_alive(pgid), "a process of the stack outlived `down`"
    assert all(not s.running for s in services.status(settings))
    assert services.down(settings) == []  # a second down has nothing to stop


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    settings = _own_settings(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", settings.pubsub_port))
        blocker.listen()
        with pytest.raises(services.PortInUseError, match=f"port {settings.pubsub_port}"):
            services.start_service(settings, "pubsub")
    assert not services.service_state(settings, "pubsub").running


def _up_args(settings: Settings) -> list[str]:
    """``clickstream local up`` for the stack ``settings`` describe (own state dir and ports)."""
    return [
        "local",
        "up",
        "--state-dir",
        str(settings.state_dir),
        "--pubsub-port",
        str(settings.pubsub_port),
        "--bigquery-port",
        str(settings.bigquery_port),
        "--bigquery-grpc-port",
        str(settings.bigquery_grpc_port),
        "--collector-port",
        str(settings.collector_port),
    ]


def test_cli_status_and_taken_port_exit_code(tmp_path: Path) -> None:
    settings = _own_settings(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["local", "status", "--state-dir", str(settings.state_dir)])
    assert result.exit_code == 0 and "pubsub" in result.output and "bigquery" in result.output
    assert "collector" in result.output
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", settings.pubsub_port))
        blocker.listen()
        result = runner.invoke(app, _up_args(settings))
    assert result.exit_code == 1
    assert "is taken by another process" in result.output
    assert "Traceback" not in result.output


def test_down_never_signals_a_process_that_reused_a_recorded_pid(tmp_path: Path) -> None:
    """A pid file outlives its service (a crash, a reboot); the kernel hands the PID to an
    unrelated process. ``down`` must leave that process alone."""
    settings = _own_settings(tmp_path)
    unrelated = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        run_dir = settings.state_dir / "run"
        run_dir.mkdir(parents=True)
        # The record of a BigQuery stand-in that started at another moment with its own command line;
        # only the PID number (and so the process group) is now the unrelated process's.
        command = [sys.executable, "-m", "bqemulator", "start", "--rest-port", str(settings.bigquery_port)]
        (run_dir / "bigquery.json").write_text(
            json.dumps(
                {
                    "pid": unrelated.pid,
                    "pgid": unrelated.pid,
                    "port": settings.bigquery_port,
                    "command": command,
                    "started_at": time.time() - 3600,
                    "identity": {
                        "boot_id": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                        "start_ticks": 1,
                        "cmdline": command,
                    },
                }
            )
        )
        reported_running = services.service_state(settings, "bigquery").running
        result = CliRunner().invoke(app, ["local", "down", "--state-dir", str(settings.state_dir)])
        assert result.exit_code == 0, result.output
        time.sleep(0.5)  # a signal, had one been sent, has been delivered by now
        assert unrelated.poll() is None, "down signalled an unrelated process that reused a recorded PID"
        assert "nothing was running" in result.output
        assert not (run_dir / "bigquery.json").exists(), "the stale pid file was kept"
        assert not reported_running, "status called an unrelated process the BigQuery stand-in"
    finally:
        unrelated.kill()
        unrelated.wait()


def _service_processes(settings: Settings) -> dict[str, list[int]]:
    """PIDs of every process started as this stack's services, found by their port arguments
    (free ports, so no other stack's process matches)."""
    wanted = {
        "pubsub": f"--host-port=127.0.0.1:{settings.pubsub_port}",
        "bigquery": f"--rest-port\0{settings.bigquery_port}\0",
        "collector": f"--port\0{settings.collector_port}\0",
    }
    launcher = ("gcloud", "bqemulator", "clickstream.app.cli\0collector")
    found: dict[str, list[int]] = {name: [] for name in wanted}
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        for name, marker in wanted.items():
            if marker in cmdline and any(word in cmdline for word in launcher):
                found[name].append(int(proc.name))
    # The launcher itself, not a child it passed the same argument to or forked (a server's worker).
    return {name: [pid for pid in pids if parents.get(pid) not in pids] for name, pids in found.items()}


def test_two_concurrent_ups_start_one_stack_and_down_stops_it(tmp_path: Path) -> None:
    settings = _own_settings(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PUBSUB_EMULATOR_HOST", "CLICKSTREAM_BIGQUERY_ENDPOINT")}
    command = [sys.executable, "-m", "clickstream.app.cli", *_up_args(settings)]
    try:
        ups = [
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outputs = [up.communicate(timeout=300)[0] for up in ups]
        for up, output in zip(ups, outputs, strict=True):
            assert up.returncode == 0, output
        running = _service_processes(settings)
        for state in services.status(settings):
            assert running[state.name] == [state.pid], f"{state.name}: running {running[state.name]}, pid file {state}"
            assert state.running and state.ready
        logs = "".join(p.read_text(errors="replace") for p in (settings.state_dir / "logs").glob("*.log"))
        assert "already in use" not in logs.lower(), f"a second copy of a service was started:\n{logs[-2000:]}"
    finally:
        result = CliRunner().invoke(app, ["local", "down", "--state-dir", str(settings.state_dir)])
    assert result.exit_code == 0, result.output
    assert _service_processes(settings) == {"pubsub": [], "bigquery": [], "collector": []}, "a service outlived `down`"
    for port in (settings.pubsub_port, settings.bigquery_port, settings.bigquery_grpc_port, settings.collector_port):
        assert processes.port_is_free(port), f"port {port} is still taken after `down`"


def test_local_up_serves_the_collector_on_its_port_and_status_shows_it(tmp_path: Path) -> None:
    settings = _own_settings(tmp_path)
    item = {
        "event_type": "ThumbnailClicked",
        "event_ts": int(time.time() * 1000),
        "user_id": "u-local",
        "device_id": "d-local",
        "client": {"platform": "web", "app_version": "1.0.0"},
        "payload": {"video_id": "vid-000001", "impression_id": "imp-1", "surface": "home", "slot": 1, "rank": 1},
    }
    try:
        result = CliRunner().invoke(app, _up_args(settings))
        assert result.exit_code == 0, result.output
        states = {s.name: s for s in services.status(settings)}
        collector = states["collector"]
        assert collector.running and collector.ready and collector.port == settings.collector_port
        status = CliRunner().invoke(app, ["local", "status", "--state-dir", str(settings.state_dir)])
        (row,) = [line for line in status.output.splitlines() if "collector" in line]
        assert str(settings.collector_port) in row, status.output  # the port column
        response = httpx.post(
            f"http://127.0.0.1:{settings.collector_port}/v1/events",
            json=item,
            headers={"X-Write-Key": LOCAL_WRITE_KEY, "Origin": "http://localhost:5173"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        (message,) = pull_all(settings.with_local_endpoints(), expect=1)
        assert message.message.attributes["event_type"] == "ThumbnailClicked"
    finally:
        stopped = services.down(settings)
    assert "collector" in stopped
    assert not processes.group_alive(collector.pid)
    assert processes.port_is_free(settings.collector_port)
