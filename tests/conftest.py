"""Shared fixtures: the local stack for integration tests.

A session fixture starts the Pub/Sub emulator and the BigQuery stand-in on free
ports in a temporary state folder, and stops (by PID) exactly what it started.
To reuse a stack you already run, export PUBSUB_EMULATOR_HOST and
CLICKSTREAM_BIGQUERY_ENDPOINT. A service that cannot start is a test failure with
the reason, never a skip.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from clickstream.app import provisioning
from clickstream.app.local import services
from clickstream.core.config import Settings


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a ready local stack with every resource provisioned."""
    base = Settings.from_env()
    if base.pubsub_emulator_host and base.bigquery_endpoint:
        if not _reachable(f"http://{base.pubsub_emulator_host}/"):
            pytest.fail(f"PUBSUB_EMULATOR_HOST={base.pubsub_emulator_host} does not answer", pytrace=False)
        provisioning.provision(base)
        yield base
        return
    settings = services.own_stack_settings(tmp_path_factory.mktemp("stack"))
    try:
        with services.running(settings) as local:
            yield local
    except services.StackError as exc:
        pytest.fail(f"local stack did not start: {exc}", pytrace=False)


@pytest.fixture
def fresh_topic(stack: Settings) -> Settings:
    """The stack's settings with a topic and subscriptions of this test's own."""
    settings = stack.isolated("test", own_dataset=False)
    provisioning.ensure_topics_and_subscriptions(settings)
    return settings


@pytest.fixture(autouse=True)
def _no_real_gcp_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach real Google Cloud: without endpoints, clients would try to log in."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", os.environ.get("GOOGLE_CLOUD_PROJECT", "clickstream-local"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures tests recorded (``record_property("figure", ...)``), also under xdist,
    where a passing test's own output is not shown: CI's log then carries them."""
    figures = [
        (report.nodeid, value)
        for report in terminalreporter.getreports("passed")
        for key, value in report.user_properties
        if key == "figure"
    ]
    if figures:
        terminalreporter.section("figures")
        for nodeid, value in figures:
            terminalreporter.write_line(f"{nodeid}: {value}")
