"""terraform/ against the real provider schemas (npm @cdktf/provider-google and -google-beta,
generated from provider 6.50.0), offline: each breakage of a copy is caught, the real tree passes
(tests/infra/test_offline_checks.py runs both checks on it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.infra.test_offline_checks import _copy, _edit
from tests.support import infra_checks as checks

BREAKAGES: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], None], str]] = [
    (
        "misspelled argument of a google-beta resource",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/dataflow.tf", "  max_workers             =", "  max_worker              ="),
        "google_dataflow_flex_template_job.pipeline: the provider has no argument or block 'max_worker'",
    ),
    (
        "beta-only resource without provider = google-beta",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/dataflow.tf", "  provider                = google-beta\n", ""),
        "the google provider has no resource google_dataflow_flex_template_job",
    ),
    (
        "missing required argument",
        checks.provider_arguments,
        lambda r: _edit(
            r / "terraform/collector.tf",
            '  topic  = google_pubsub_topic.events.id\n  role   = "roles/pubsub.publisher"\n',
            '  role   = "roles/pubsub.publisher"\n',
        ),
        "required argument 'topic' is missing",
    ),
    (
        "missing required argument in a nested block",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/storage.tf", '      type = "Delete"\n', ""),
        "lifecycle_rule.action: required argument 'type' is missing",
    ),
    (
        "unknown nested block",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/collector.tf", "    scaling {\n", "    scale {\n"),
        "google_cloud_run_v2_service.collector.template: the provider has no argument or block 'scale'",
    ),
    (
        "unknown block inside dynamic content",
        checks.provider_arguments,
        lambda r: _edit(
            r / "terraform/storage.tf",
            "      condition {\n        age            = lifecycle_rule.value\n",
            "      conditions {\n        age            = lifecycle_rule.value\n",
        ),
        "google_storage_bucket.pipeline.lifecycle_rule: the provider has no argument or block 'conditions'",
    ),
    (
        "unknown dynamic block",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/storage.tf", '  dynamic "encryption" {', '  dynamic "encryption_key" {'),
        "the provider has no argument or block 'encryption_key'",
    ),
    (
        "reference to an attribute the resource does not expose",
        checks.provider_arguments,
        lambda r: _edit(
            r / "terraform/collector.tf",
            "service_account                  = google_service_account.collector.email",
            "service_account                  = google_service_account.collector.mail",
        ),
        "google_service_account.collector.mail: google_service_account has no attribute 'mail'",
    ),
    (
        "reference to an attribute a data source does not expose",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/pubsub.tf", "data.google_project.this.number", "data.google_project.this.num"),
        "data.google_project.this.num: google_project has no attribute 'num'",
    ),
    (
        "unknown data source",
        checks.provider_arguments,
        lambda r: _edit(
            r / "terraform/kms.tf",
            'data "google_storage_project_service_account" "this" {',
            'data "google_storage_service_account" "this" {',
        ),
        "the google provider has no data source google_storage_service_account",
    ),
    (
        "provider range wider than the schema checked",
        checks.provider_pins_match_schema,
        lambda r: _edit(r / "terraform/versions.tf", '"~> 6.50.0"', '">= 6.0, < 8.0"'),
        "versions.tf pins google to '>= 6.0, < 8.0'; the schema checked is 6.50.0",
    ),
]


@pytest.mark.parametrize(("what", "check", "breakage", "expected"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_the_provider_schema_check_catches(tmp_path: Path, what: str, check, breakage, expected: str) -> None:
    root = _copy(tmp_path)
    assert check(root) == [], f"the unbroken copy should pass {check.__name__}"
    breakage(root)
    problems = check(root)
    assert any(expected in p for p in problems), f"{what}: {problems}"


def test_the_google_beta_schema_is_read() -> None:
    """The flex template job exists only in google-beta: both providers' schemas are loaded."""
    google = checks._provider_schema(checks.provider_schema_file("google"))
    beta = checks._provider_schema(checks.provider_schema_file("google-beta"))
    assert "google_dataflow_flex_template_job" not in google["resource"]
    assert "google_dataflow_flex_template_job" in beta["resource"]
    assert "number" in google["data"]["google_project"]["attributes"]
