"""Offline checks of terraform/ and dataflow/: the real tree passes each, a broken copy fails it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.support import infra_checks as checks


@pytest.mark.parametrize("check", checks.ALL_CHECKS, ids=lambda c: c.__name__)
def test_the_repository_passes(check: Callable[[Path], list[str]]) -> None:
    problems = check(REPO_ROOT)
    assert problems == [], "\n".join(problems)


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for part in ("terraform", "dataflow", "schemas", "sql"):
        shutil.copytree(REPO_ROOT / part, root / part, ignore=shutil.ignore_patterns(".terraform*"))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


_INSPECT_RETRY = (
    '    max_delivery_attempts = 100\n  }\n  retry_policy {\n    minimum_backoff = "10s"\n'
    '    maximum_backoff = "600s"\n  }\n}\n'
)
_DATAFLOW_DEAD_LETTERS = (
    "  retain_acked_messages      = true # seek back to replay after a bad deploy\n"
    "  dead_letter_policy {\n    dead_letter_topic     = google_pubsub_topic.dead_letter.id\n"
    "    max_delivery_attempts = 5\n  }\n"
)


BREAKAGES: list[tuple[str, Callable[[Path], list[str]], Callable[[Path], None]]] = [
    (
        "misformatted",
        checks.terraform_fmt,
        lambda r: _edit(
            r / "terraform/storage.tf", "  location                    = var.region", "location=var.region"
        ),
    ),
    (
        "schema without table entry",
        checks.tables_match_schemas,
        lambda r: (r / "schemas/bigquery/orphan.schema.json").write_text('[{"name": "x", "type": "STRING"}]'),
    ),
    (
        "cluster field not in schema",
        checks.tables_match_schemas,
        lambda r: _edit(r / "schemas/bigquery/tables.json", '"user_id",\n      "video_id"', '"user_id",\n      "nope"'),
    ),
    (
        "dead-letter policy on the subscription Dataflow reads",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/pubsub.tf",
            "  retain_acked_messages      = true # seek back to replay after a bad deploy\n",
            _DATAFLOW_DEAD_LETTERS,
        ),
    ),
    (
        "dead-letter policy to a topic not defined here",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/pubsub.tf",
            "    dead_letter_topic     = google_pubsub_topic.parked.id\n",
            "    dead_letter_topic     = google_pubsub_topic.missing.id\n",
        ),
    ),
    (
        "subscription without retry policy",
        checks.subscriptions_have_policies,
        lambda r: _edit(r / "terraform/pubsub.tf", _INSPECT_RETRY, "    max_delivery_attempts = 100\n  }\n}\n"),
    ),
    (
        "dead-letter topic whose only subscription expires",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/pubsub.tf",
            '  message_retention_duration = local.parked_retention\n  expiration_policy {\n    ttl = ""\n',
            '  message_retention_duration = local.parked_retention\n  expiration_policy {\n    ttl = "2678400s"\n',
        ),
    ),
    (
        "service agent cannot publish to the parked topic",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/pubsub.tf",
            '  topic  = google_pubsub_topic.parked.id\n  role   = "roles/pubsub.publisher"',
            '  topic  = google_pubsub_topic.parked.id\n  role   = "roles/pubsub.viewer"',
        ),
    ),
    (
        "basic role",
        checks.no_basic_roles_or_public_access,
        lambda r: _edit(r / "terraform/iam.tf", '"roles/bigquery.jobUser"', '"roles/editor"'),
    ),
    (
        "public member",
        checks.no_basic_roles_or_public_access,
        lambda r: _edit(r / "terraform/iam.tf", "google_service_account.emitter.member", '"allUsers"'),
    ),
    (
        "stale metadata",
        checks.flex_parameters_match_options,
        lambda r: _edit(r / "dataflow/metadata.json", '"name": "session_gap_s"', '"name": "gap"'),
    ),
    (
        "job parameters not from metadata",
        checks.flex_parameters_match_options,
        lambda r: _edit(
            r / "terraform/dataflow.tf",
            "parameters              = local.pipeline_parameters",
            "parameters              = {}",
        ),
    ),
    (
        "scheduled query with other SQL",
        checks.scheduled_query_runs_signal_sql,
        lambda r: _edit(r / "terraform/scheduled_query.tf", "sql/signals/${name}.sql", "sql/other/${name}.sql"),
    ),
    (
        "identifier rule copied into Terraform",
        checks.identifier_rules_are_shared,
        lambda r: _edit(
            r / "terraform/variables.tf", "regex(local.identifiers.dataset_id.pattern,", 'regex("^[A-Za-z_]+$",'
        ),
    ),
    (
        "Dockerfile lint",
        checks.hadolint,
        lambda r: _edit(
            r / "dataflow/Dockerfile",
            "RUN pip install --no-cache-dir -r requirements.txt",
            "RUN cd /tmp && pip install -r requirements.txt",
        ),
    ),
    (
        "metadata missing a required field",
        checks.flex_template_build,
        lambda r: _edit(r / "dataflow/metadata.json", '"name": "Clickstream streaming pipeline",', ""),
    ),
    (
        "rejected subscription not passed to the job",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/dataflow.tf",
            "    rejected_subscription = google_pubsub_subscription.rejected.id\n",
            "",
        ),
    ),
    (
        "dead-letter policy on the rejected subscription Dataflow reads",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/pubsub.tf",
            "  retain_acked_messages      = true # seek back to replay rejected events too\n",
            _DATAFLOW_DEAD_LETTERS,
        ),
    ),
    (
        "Dataflow worker may not consume the rejected subscription",
        checks.subscriptions_have_policies,
        lambda r: _edit(
            r / "terraform/iam.tf",
            '  subscription = google_pubsub_subscription.rejected.id\n  role         = "roles/pubsub.subscriber"',
            '  subscription = google_pubsub_subscription.rejected.id\n  role         = "roles/pubsub.viewer"',
        ),
    ),
    (
        "public member on the collector other than invoker",
        checks.no_basic_roles_or_public_access,
        lambda r: _edit(r / "terraform/collector.tf", '"roles/run.invoker"', '"roles/run.developer"'),
    ),
    (
        "collector may subscribe",
        checks.collector_service,
        lambda r: (r / "terraform/extra.tf").write_text(
            'resource "google_pubsub_subscription_iam_member" "collector_reads" {\n'
            "  subscription = google_pubsub_subscription.pipeline.id\n"
            '  role         = "roles/pubsub.subscriber"\n'
            "  member       = google_service_account.collector.member\n}\n"
        ),
    ),
    (
        "collector may not publish rejected events",
        checks.collector_service,
        lambda r: _edit(
            r / "terraform/collector.tf",
            "  topic  = google_pubsub_topic.rejected.id\n",
            "  topic  = google_pubsub_topic.parked.id\n",
        ),
    ),
    (
        "collector without the rejected topic in its environment",
        checks.collector_service,
        lambda r: _edit(r / "terraform/collector.tf", '"CLICKSTREAM_REJECTED_TOPIC"', '"CLICKSTREAM_REJECTED"'),
    ),
    (
        "collector scaling not from variables",
        checks.collector_service,
        lambda r: _edit(
            r / "terraform/collector.tf",
            "max_instance_count = var.collector_max_instances",
            "max_instance_count = 100",
        ),
    ),
    (
        "Cloud Build does not build the collector",
        checks.collector_service,
        lambda r: _edit(
            r / "dataflow/cloudbuild.yaml", '"dataflow/collector.Dockerfile", "-t"', '"collector/Dockerfile", "-t"'
        ),
    ),
    (
        "Cloud Trace role whatever the exporter",
        checks.tracing_is_wired,
        lambda r: _edit(r / "terraform/iam.tf", "  count   = local.cloud_trace ? 1 : 0\n", ""),
    ),
    (
        "collector without Cloud Trace role",
        checks.tracing_is_wired,
        lambda r: _edit(
            r / "terraform/collector.tf",
            '  role    = "roles/cloudtrace.agent"',
            '  role    = "roles/logging.logWriter"',
        ),
    ),
    (
        "Dataflow job without the trace exporter",
        checks.tracing_is_wired,
        lambda r: _edit(r / "terraform/dataflow.tf", "    trace_exporter        = var.trace_exporter\n", ""),
    ),
    (
        "collector without its sample ratio",
        checks.tracing_is_wired,
        lambda r: _edit(
            r / "terraform/collector.tf",
            "value = var.collector_trace_sample_ratio",
            "value = var.pipeline_trace_sample_ratio",
        ),
    ),
    (
        "argument the provider does not have",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/pubsub.tf", "  ack_deadline_seconds       = 60\n", "  ack_deadline = 60\n"),
    ),
    (
        "nested argument the provider does not have",
        checks.provider_arguments,
        lambda r: _edit(
            r / "terraform/collector.tf",
            "max_instance_count = var.collector_max_instances",
            "max_instances = var.collector_max_instances",
        ),
    ),
    (
        "required argument missing",
        checks.provider_arguments,
        lambda r: _edit(r / "terraform/collector.tf", "  location = var.region\n", ""),
    ),
    (
        "collector Dockerfile lint",
        checks.hadolint,
        lambda r: _edit(
            r / "dataflow/collector.Dockerfile",
            "RUN pip install --no-cache-dir -r collector-requirements.txt",
            "RUN cd /tmp && pip install -r collector-requirements.txt",
        ),
    ),
    (
        "collector image runs as root",
        checks.checkov,
        lambda r: _edit(r / "dataflow/collector.Dockerfile", "USER 10001\n", ""),
    ),
    (
        "checkov finding",
        checks.checkov,
        lambda r: _edit(
            r / "terraform/storage.tf",
            'public_access_prevention    = "enforced"',
            'public_access_prevention    = "inherited"',
        ),
    ),
]


@pytest.mark.parametrize(("what", "check", "breakage"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_each_check_fails_on_a_broken_copy(tmp_path: Path, what: str, check, breakage) -> None:
    root = _copy(tmp_path)
    assert check(root) == [], f"the unbroken copy should pass {check.__name__}"
    breakage(root)
    problems = check(root)
    print(f"{what}: {problems[0].splitlines()[0] if problems else 'NOT DETECTED'}")
    assert problems, f"{check.__name__} did not notice: {what}"
