"""The collector on Cloud Run (terraform/collector.tf, dataflow/collector.Dockerfile)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from clickstream.core.paths import REPO_ROOT
from tests.support import infra_checks as checks


def test_the_collector_service_account_may_only_publish_to_the_events_and_rejected_topics() -> None:
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    grants = sorted(
        (kind, checks._resource_name(target, "google_pubsub_topic") or target, role)
        for kind, target, role in checks._collector_grants(resources)
    )
    assert grants == [
        ("google_pubsub_topic_iam_member", "events", "roles/pubsub.publisher"),
        ("google_pubsub_topic_iam_member", "rejected", "roles/pubsub.publisher"),
    ]
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
