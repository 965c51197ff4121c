"""Project and dataset names: Terraform's variables and Python (``Settings``, the pipeline
options) accept exactly the same ones, because both read ``schemas/identifiers.json``.

Terraform runs for real (offline: ``terraform plan`` on a module of ``variables.tf`` alone,
which declares no provider), on values either side of each rule's edges.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from clickstream.core.config import Settings
from clickstream.core.paths import REPO_ROOT
from pipelines.options import ClickstreamOptions

GOOD_PROJECT, GOOD_DATASET = "clickstream-local", "clickstream"

CASES = [
    ("dataset_id", value)
    for value in (
        "clickstream",
        "_x",
        "A1_b2",
        "a" * 1024,
        "a" * 1025,
        "1abc",
        "a-b",
        "a.b",
        "a`b",
        "x` WHERE TRUE; --",
        "é",
        "",
    )
] + [
    ("project_id", value)
    for value in (
        "clickstream-local",
        "my-project-1",
        "abcdef",
        "a" * 30,
        "a" * 31,
        "abcde",
        "Abcdef",
        "abcdef-",
        "1abcdef",
        "ab_cdef",
        "example.com:proj",
        "proj`x",
    )
]


@pytest.fixture(scope="module")
def variables_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """terraform/variables.tf with the schemas/ it reads, laid out as in the repository."""
    root = tmp_path_factory.mktemp("tf")
    (root / "terraform").mkdir()
    shutil.copy2(REPO_ROOT / "terraform" / "variables.tf", root / "terraform" / "variables.tf")
    shutil.copytree(REPO_ROOT / "schemas", root / "schemas")
    _terraform(root / "terraform", "init", "-input=false", "-backend=false")
    return root / "terraform"


def _terraform(module: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "TF_IN_AUTOMATION": "1"}
    return subprocess.run(
        ["terraform", *args, "-no-color"], cwd=module, env=env, capture_output=True, text=True, timeout=120
    )


def _terraform_accepts(module: Path, variable: str, value: str) -> bool:
    values = {"project_id": GOOD_PROJECT, "dataset_id": GOOD_DATASET, variable: value}
    result = _terraform(module, "plan", "-input=false", "-refresh=false", *(f"-var={k}={v}" for k, v in values.items()))
    if result.returncode == 0:
        return True
    assert "Invalid value for variable" in result.stderr, result.stderr
    assert f'variable "{variable}"' in result.stderr, result.stderr
    return False


def assert_plan_refuses(module: Path, values: dict[str, str], refused_variable: str | None) -> None:
    """``terraform plan`` of the variables module with ``values`` (on top of good required ones)
    passes, or, when ``refused_variable`` is named, fails on that variable's validation."""
    base = {"project_id": GOOD_PROJECT, "dataset_id": GOOD_DATASET}
    args = (f"-var={k}={v}" for k, v in {**base, **values}.items())
    result = _terraform(module, "plan", "-input=false", "-refresh=false", *args)
    if refused_variable is None:
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode != 0, result.stdout
        assert "Invalid value for variable" in result.stderr, result.stderr
        assert f'variable "{refused_variable}"' in result.stderr, result.stderr


def _settings_accept(variable: str, value: str) -> bool:
    field = {"project_id": "project", "dataset_id": "dataset"}[variable]
    try:
        Settings(**{field: value})
    except ValueError:
        return False
    return True


def _pipeline_options_accept(variable: str, value: str) -> bool:
    flag = {"project_id": "--bq_project", "dataset_id": "--dataset"}[variable]
    try:
        PipelineOptions([f"{flag}={value}"]).view_as(ClickstreamOptions)
    except SystemExit:
        return False
    return True


@pytest.mark.parametrize(("variable", "value"), CASES, ids=[f"{v}={x[:20]!r}" for v, x in CASES])
def test_terraform_and_python_accept_the_same_identifiers(variables_module: Path, variable: str, value: str) -> None:
    terraform = _terraform_accepts(variables_module, variable, value)
    assert _settings_accept(variable, value) == terraform, (
        f"Settings and Terraform disagree on {variable}={value[:40]!r}"
    )
    assert _pipeline_options_accept(variable, value) == terraform, (
        f"the pipeline options and Terraform disagree on {variable}={value[:40]!r}"
    )


def test_the_edge_cases_cover_both_outcomes(variables_module: Path) -> None:
    outcomes = {(variable, _terraform_accepts(variables_module, variable, value)) for variable, value in CASES}
    assert outcomes == {("dataset_id", True), ("dataset_id", False), ("project_id", True), ("project_id", False)}
