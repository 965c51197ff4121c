"""terraform/monitoring.tf (docs/operations.md): the dashboard and alerts on-call needs, checked
offline; the real tree passes (tests/infra/test_offline_checks.py), each breakage of a copy fails."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.infra.test_identifier_rules import _terraform
from tests.infra.test_offline_checks import _copy, _edit
from tests.support import infra_checks as checks

MONITORING = "terraform/monitoring.tf"

BREAKAGES: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], None], str]] = [
    (
        "dashboard without Dataflow system lag",
        checks.monitoring_is_wired,
        lambda r: _edit(r / MONITORING, "dataflow.googleapis.com/job/system_lag", "dataflow.googleapis.com/job/lag"),
        "the dashboard does not chart dataflow.googleapis.com/job/system_lag",
    ),
    (
        "threshold not from its variable",
        checks.monitoring_is_wired,
        lambda r: _edit(r / MONITORING, "threshold_value = var.alert_data_freshness_s", "threshold_value = 600"),
        "alert data_freshness's threshold is not var.alert_data_freshness_s",
    ),
    (
        "alert that notifies nobody",
        checks.monitoring_is_wired,
        lambda r: _edit(
            r / MONITORING, "notification_channels = var.notification_channels", "notification_channels = []"
        ),
        "does not notify var.notification_channels",
    ),
    (
        "erasure job failing unnoticed",
        checks.monitoring_is_wired,
        lambda r: _edit(r / MONITORING, "    erasure = google_bigquery_data_transfer_config.erasure.name\n", ""),
        "no alert when the erasure scheduled query fails",
    ),
    (
        "counter the pipeline does not define",
        checks.monitoring_is_wired,
        lambda r: _edit(r / MONITORING, 'metric_name=~\\"dead_lettered|', 'metric_name=~\\"dead_letters|'),
        "monitoring reads the counter 'dead_letters', which pipelines/ does not define",
    ),
    (
        "alert condition block the provider does not have",
        checks.provider_arguments,
        lambda r: _edit(r / MONITORING, "condition_matched_log {", "condition_log_match {"),
        "google_monitoring_alert_policy.scheduled_query_failed.conditions: the provider has no argument or block "
        "'condition_log_match'",
    ),
    (
        "misformatted monitoring",
        checks.terraform_fmt,
        lambda r: _edit(r / MONITORING, '  combiner              = "OR"', 'combiner="OR"'),
        "terraform fmt -check failed",
    ),
]


@pytest.mark.parametrize(("what", "check", "breakage", "expected"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_the_monitoring_checks_catch(tmp_path: Path, what: str, check, breakage, expected: str) -> None:
    root = _copy(tmp_path)
    root.joinpath("pipelines").symlink_to(REPO_ROOT / "pipelines")
    assert check(root) == [], f"the unbroken copy should pass {check.__name__}"
    breakage(root)
    problems = check(root)
    assert any(expected in p for p in problems), f"{what}: {problems}"


def test_every_alert_has_a_section_in_the_operations_guide() -> None:
    """Each alert's documentation links docs/operations.md#<anchor>: that heading exists."""
    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    headings = {
        line.lstrip("#").strip().lower().replace(" ", "-") for line in guide.splitlines() if line.startswith("#")
    }
    text = (REPO_ROOT / MONITORING).read_text()
    anchors = {a.replace("${each.key}", key) for a in re.findall(r"operations\.md#([a-z0-9{}$.-]+[a-z])", text)
               for key in ("erasure", "signals")}  # fmt: skip
    assert anchors, "no alert links docs/operations.md"
    assert sorted(anchors - headings) == []


@pytest.fixture(scope="module")
def monitoring_variables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """terraform/monitoring_variables.tf alone: variables and validations, no provider needed."""
    module = tmp_path_factory.mktemp("tf") / "terraform"
    module.mkdir()
    shutil.copy2(REPO_ROOT / "terraform" / "monitoring_variables.tf", module / "monitoring_variables.tf")
    assert _terraform(module, "init", "-input=false", "-backend=false").returncode == 0
    return module


@pytest.mark.parametrize(
    ("variable", "value", "refused"),
    [
        ("notification_channels", '["projects/p/notificationChannels/123"]', False),
        ("notification_channels", '["123"]', True),
        ("alert_dead_letter_share", "0.05", False),
        ("alert_dead_letter_share", "5", True),
        ("alert_dead_letter_window_s", "60", True),
        ("alert_oldest_unacked_age_s", "0", True),
        ("alert_duration_s", "10", True),
    ],
)
def test_the_monitoring_variables_refuse_values_that_cannot_work(
    monitoring_variables: Path, variable: str, value: str, refused: bool
) -> None:
    result = _terraform(monitoring_variables, "plan", "-input=false", "-refresh=false", f"-var={variable}={value}")
    if refused:
        assert result.returncode != 0 and f'variable "{variable}"' in result.stderr, result.stderr
    else:
        assert result.returncode == 0, result.stderr
