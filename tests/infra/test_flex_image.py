"""One image is the Flex Template launcher and the workers' SDK container (issue 13).

With private IPs neither the launcher nor the workers reach PyPI: the image has every dependency
installed, so the launcher must not pip-download a requirements file at launch
(``FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE``), and the workers run the template image itself
(``sdk_container_image``), as Google's guide to Flex Templates with a custom image recommends.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.core.paths import REPO_ROOT
from tests.infra.test_identifier_rules import assert_plan_refuses
from tests.infra.test_identifier_rules import variables_module as variables_module  # the module fixture
from tests.support import infra_checks as checks

DOCKERFILE = (REPO_ROOT / "dataflow" / "Dockerfile").read_text()
# What the launcher would fetch or build at launch, over the network.
LAUNCH_TIME_INSTALLS = (
    "FLEX_TEMPLATE_PYTHON_REQUIREMENTS_FILE",
    "FLEX_TEMPLATE_PYTHON_SETUP_FILE",
    "FLEX_TEMPLATE_PYTHON_EXTRA_PACKAGES",
)


def _instructions() -> list[str]:
    """The Dockerfile's instructions, comments and line continuations removed."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_launcher_downloads_no_requirements_at_launch() -> None:
    env = [line for line in _instructions() if line.startswith("ENV ")]
    assert [line for line in env if any(name in line for name in LAUNCH_TIME_INSTALLS)] == []
    assert any(line.startswith("ENV FLEX_TEMPLATE_PYTHON_PY_FILE=") for line in env)


def test_the_workers_run_the_template_image() -> None:
    job = checks.load_hcl(REPO_ROOT)["resource"]["google_dataflow_flex_template_job"]["pipeline"]
    assert str(job.get("sdk_container_image")) == "${var.pipeline_image}"


def test_deploy_passes_the_image_it_built_to_terraform() -> None:
    result = CliRunner().invoke(
        app, ["deploy", "--project", "my-project-1", "--region", "europe-west1", "--tag", "abc123", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    [apply] = [line for line in result.output.splitlines() if "terraform -chdir=terraform apply" in line]
    image = "europe-west1-docker.pkg.dev/my-project-1/clickstream/pipeline:abc123"
    assert f"-var=pipeline_image={image}" in apply
    [build] = [line for line in result.output.splitlines() if "flex-template build" in line]
    assert f"--image={image}" in build


@pytest.mark.parametrize(
    ("values", "refused_variable"),
    [
        ({"template_gcs_path": "gs://b/t.json", "pipeline_image": "r-docker.pkg.dev/p/c/pipeline:t"}, None),
        ({"template_gcs_path": "gs://b/t.json"}, "pipeline_image"),
        ({}, None),
    ],
)
def test_a_template_needs_its_image(
    variables_module: Path, values: dict[str, str], refused_variable: str | None
) -> None:
    assert_plan_refuses(variables_module, values, refused_variable)


def test_the_image_works_as_the_sdk_container() -> None:
    """Beam's boot entrypoint and SDK of the Beam and Python versions the image installs, and the
    launcher of that Python: the launcher runs FLEX_TEMPLATE_PYTHON_PY_FILE, a worker runs boot."""
    pinned = re.search(r"^apache-beam\[gcp\]==(\S+)$", (REPO_ROOT / "dataflow/requirements.txt").read_text(), re.M)
    assert pinned, "dataflow/requirements.txt does not pin apache-beam"
    instructions = _instructions()
    [base] = [line for line in instructions if line.startswith("FROM ")]
    python = re.fullmatch(r"FROM python:(3\.\d+)-slim", base)
    assert python, base
    version = python.group(1).replace(".", "")
    sdk = f"apache/beam_python{python.group(1)}_sdk:{pinned.group(1)}"
    assert f"COPY --from={sdk} /opt/apache/beam /opt/apache/beam" in instructions
    launcher = f"gcr.io/dataflow-templates-base/python{version}-template-launcher-base"
    assert any(line.startswith(f"COPY --from={launcher}:") for line in instructions)
    assert instructions[-1] == 'ENTRYPOINT ["/opt/apache/beam/boot"]'
