"""`clickstream deploy --dry-run` prints the exact commands, in order, and runs nothing."""

from __future__ import annotations

from typer.testing import CliRunner

from clickstream.app.cli import app


def test_dry_run_prints_image_template_terraform_in_order() -> None:
    result = CliRunner().invoke(
        app, ["deploy", "--project", "my-project-1", "--region", "europe-west1", "--tag", "abc123", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    commands = [line.strip()[2:] for line in result.output.splitlines() if line.strip().startswith("$ ")]
    assert [c.split()[0:3] for c in commands] == [
        ["gcloud", "artifacts", "repositories"],
        ["gcloud", "builds", "submit"],
        ["gcloud", "dataflow", "flex-template"],
        ["terraform", "-chdir=terraform", "init"],
        ["terraform", "-chdir=terraform", "apply"],
    ]
    image = "europe-west1-docker.pkg.dev/my-project-1/clickstream/pipeline:abc123"
    template = "gs://my-project-1_cloudbuild/clickstream/templates/abc123.json"
    collector = "europe-west1-docker.pkg.dev/my-project-1/clickstream/collector:abc123"
    assert f"--substitutions=_IMAGE={image},_COLLECTOR_IMAGE={collector}" in commands[1]
    assert f"-var=collector_image={collector}" in commands[4]
    assert f"build {template} --image={image}" in commands[2]
    assert "--metadata-file=dataflow/metadata.json" in commands[2]
    assert f"-var=template_gcs_path={template}" in commands[4] and "-auto-approve" not in commands[4]
