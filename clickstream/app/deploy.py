"""``clickstream deploy``: image (Cloud Build), Flex Template, then Terraform, in that order.

The template spec goes to the Cloud Build bucket (``gs://<project>_cloudbuild``), which
exists once the image build has run, so the first deploy needs no bucket of its own.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from clickstream.core.paths import REPO_ROOT


@dataclass(frozen=True)
class DeployPlan:
    project: str
    region: str
    tag: str
    name_prefix: str = "clickstream"
    auto_approve: bool = False

    @property
    def image(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.name_prefix}/pipeline:{self.tag}"

    @property
    def collector_image(self) -> str:
        return f"{self.region}-docker.pkg.dev/{self.project}/{self.name_prefix}/collector:{self.tag}"

    @property
    def template(self) -> str:
        return f"gs://{self.project}_cloudbuild/{self.name_prefix}/templates/{self.tag}.json"

    def steps(self) -> list[tuple[str, list[str], bool]]:
        """(what, command, may fail harmlessly) in execution order."""
        apply = [
            "terraform",
            "-chdir=terraform",
            "apply",
            "-input=false",
            f"-var=project_id={self.project}",
            f"-var=region={self.region}",
            f"-var=name_prefix={self.name_prefix}",
            f"-var=template_gcs_path={self.template}",
            # The workers run the same image as the launcher (their SDK container).
            f"-var=pipeline_image={self.image}",
            f"-var=collector_image={self.collector_image}",
        ]
        if self.auto_approve:
            apply.append("-auto-approve")
        return [
            (
                "create the Artifact Registry repository (already there is fine)",
                [
                    "gcloud",
                    "artifacts",
                    "repositories",
                    "create",
                    self.name_prefix,
                    "--repository-format=docker",
                    f"--location={self.region}",
                    f"--project={self.project}",
                ],
                True,
            ),
            (
                "build and push the pipeline and collector images with Cloud Build",
                [
                    "gcloud",
                    "builds",
                    "submit",
                    ".",
                    "--config=dataflow/cloudbuild.yaml",
                    f"--substitutions=_IMAGE={self.image},_COLLECTOR_IMAGE={self.collector_image}",
                    f"--project={self.project}",
                ],
                False,
            ),
            (
                "build the Flex Template spec",
                [
                    "gcloud",
                    "dataflow",
                    "flex-template",
                    "build",
                    self.template,
                    f"--image={self.image}",
                    "--sdk-language=PYTHON",
                    "--metadata-file=dataflow/metadata.json",
                    f"--project={self.project}",
                ],
                False,
            ),
            ("initialise Terraform", ["terraform", "-chdir=terraform", "init", "-input=false"], False),
            (
                "apply Terraform (Pub/Sub, BigQuery, GCS, IAM, the Dataflow job, the collector, the scheduled query)",
                apply,
                False,
            ),
        ]


def current_tag() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT)
    return result.stdout.strip() or "manual"


def run(plan: DeployPlan, dry_run: bool, echo: Callable[[str], object]) -> int:
    for number, (what, command, may_fail) in enumerate(plan.steps(), start=1):
        echo(f"[{number}/{len(plan.steps())}] {what}")
        echo(f"    $ {shlex.join(command)}")
        if dry_run:
            continue
        result = subprocess.run(command, cwd=REPO_ROOT)
        if result.returncode != 0 and not may_fail:
            echo(f"step {number} failed with exit code {result.returncode}; later steps were not run")
            return result.returncode
    return 0
