"""`clickstream local up | down | status`: idempotent, by PID, clear about taken ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.app.local import processes, services
from clickstream.core.config import Settings

pytestmark = pytest.mark.integration


def _own_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        state_dir=tmp_path / "state",
        pubsub_port=processes.free_port(),
        pubsub_emulator_host=None,
        bigquery_endpoint=None,
        bigquery_port=processes.free_port(),
        bigquery_grpc_port=processes.free_port(),
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
    assert sorted(stopped) == ["bigquery", "pubsub"]
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


def test_cli_status_and_taken_port_exit_code(tmp_path: Path) -> None:
    settings = _own_settings(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["local", "status", "--state-dir", str(settings.state_dir)])
    assert result.exit_code == 0 and "pubsub" in result.output and "bigquery" in result.output
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", settings.pubsub_port))
        blocker.listen()
        result = runner.invoke(
            app,
            [
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
            ],
        )
    assert result.exit_code == 1
    assert "is taken by another process" in result.output
    assert "Traceback" not in result.output
