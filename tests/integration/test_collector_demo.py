"""`clickstream demo --via collector`: the simulator's events through the HTTP collector, still reconciled."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clickstream.app.local import services
from tests.demo.test_demo_command import _assert_all_stopped, _demo, _env, _pipeline_pid

pytestmark = pytest.mark.integration


def test_demo_via_the_collector_reconciles_and_stops_what_it_started(tmp_path: Path) -> None:
    env, settings = _env(tmp_path / "state")
    done, output = _demo(env, "--via", "collector", "--duration", "10", "--rate", "20", timeout=300)
    assert done.returncode == 0, output
    assert f"sending through the HTTP collector at http://127.0.0.1:{settings.collector_port}/v1/events" in output
    assert "reconciliation OK" in output
    published = int(re.search(r"published (\d+) = stored", output).group(1))
    assert published >= 150
    _assert_all_stopped(settings, _pipeline_pid(output))
    assert not services.service_state(settings, "collector").running
