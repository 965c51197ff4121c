"""The collector on Cloud Run (terraform/collector.tf, dataflow/collector.Dockerfile)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.infra.test_identifier_rules import assert_plan_refuses
from tests.infra.test_identifier_rules import variables_module as variables_module  # the module fixture
from tests.support import infra_checks as checks


def test_the_collector_service_account_may_only_publish_to_and_look_up_the_events_and_rejected_topics() -> None:
    """With tracing off (the default); tests/infra/test_tracing.py adds the one role Cloud Trace needs.

    /readyz (the Cloud Run startup probe) looks both topics up (pubsub.topics.get, which
    roles/pubsub.publisher lacks): without the viewer role on each, no revision would ever serve.
    """
    assert sorted(checks.account_grants(REPO_ROOT, "collector")) == [
        ("google_pubsub_topic_iam_member", "events", "roles/pubsub.publisher"),
        ("google_pubsub_topic_iam_member", "events", "roles/pubsub.viewer"),
        ("google_pubsub_topic_iam_member", "rejected", "roles/pubsub.publisher"),
        ("google_pubsub_topic_iam_member", "rejected", "roles/pubsub.viewer"),
    ]
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    service = resources["google_cloud_run_v2_service"]["collector"]
    assert "google_service_account.collector.email" in str(service["template"][0]["service_account"])


def test_the_only_public_grant_is_invoking_the_collector() -> None:
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    public = [
        (kind, name, grant.get("role"))
        for kind, named in resources.items()
        for name, grant in named.items()
        if kind.endswith("_iam_member") and grant.get("member") in checks.PUBLIC_MEMBERS
    ]
    assert public == [("google_cloud_run_v2_service_iam_member", "collector_public", "roles/run.invoker")]


def test_the_collector_image_runs_the_clickstream_command_without_the_pipeline_extra() -> None:
    """dataflow/collector.Dockerfile installs [collector,tracing] and the command line's own
    dependencies, not Beam: `clickstream` must import without apache_beam, ua_parser, sqlglot."""
    script = textwrap.dedent(
        """
        import sys

        class Absent:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("apache_beam", "ua_parser", "sqlglot", "matplotlib", "pipelines"):
                    raise ModuleNotFoundError(name, name=name)
                return None

        sys.meta_path.insert(0, Absent())
        from clickstream.app.cli import app
        print("imported")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0 and "imported" in result.stdout, result.stderr[-2000:]
    requirements = (REPO_ROOT / "dataflow" / "collector-requirements.txt").read_text()
    for package in ("typer==", "rich==", "google-cloud-bigquery==", "starlette==", "granian==", "uvicorn"):
        assert package in requirements, f"{package} is not pinned in dataflow/collector-requirements.txt"


@pytest.mark.parametrize(
    ("values", "refused_variable"),
    [
        ({}, None),  # no image yet: no collector, no key needed
        ({"collector_image": "img", "collector_write_keys": '["web-prod-3f9a1c2b"]'}, None),
        ({"collector_image": "img"}, "collector_write_keys"),  # a collector that would refuse everything
        ({"collector_write_keys": '["a,b-too-short"]'}, "collector_write_keys"),  # a comma splits the env value
        ({"collector_allowed_origins": '["https://video.example.com/path"]'}, "collector_allowed_origins"),
        ({"collector_min_instances": "3", "collector_max_instances": "2"}, "collector_max_instances"),
        ({"collector_concurrency": "1001"}, "collector_concurrency"),
        ({"collector_ingress": "ALL"}, "collector_ingress"),
    ],
)
def test_the_collector_variables_refuse_a_deployment_that_cannot_work(
    variables_module: Path, values: dict[str, str], refused_variable: str | None
) -> None:
    assert_plan_refuses(variables_module, values, refused_variable)


def test_cloud_run_does_not_store_the_collector_request_logs_with_the_client_ip() -> None:
    """Cloud Run logs every request with the caller's full address (httpRequest.remoteIp), which
    the collector itself never keeps (it keeps a /24 or /48): an exclusion keeps Cloud Logging
    from storing that service's request log. Its own application logs are kept."""
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    service_name = str(resources["google_cloud_run_v2_service"]["collector"]["name"])
    exclusions = resources.get("google_logging_project_exclusion", {}).values()
    matching = [
        e
        for e in exclusions
        if 'logName="projects/${var.project_id}/logs/run.googleapis.com%2Frequests"' in str(e.get("filter"))
    ]
    assert matching, "Cloud Logging stores the collector's request logs, with each client's full IP"
    [exclusion] = matching
    assert not exclusion.get("disabled", False)
    text = str(exclusion["filter"])
    assert 'resource.type="cloud_run_revision"' in text
    assert f'resource.labels.service_name="{service_name}"' in text, text
    assert " OR " not in text, "the exclusion must not widen to other logs"
