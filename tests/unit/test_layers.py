"""The direction of dependencies holds (import-linter), and breaking it fails the check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _copy(tmp_path: Path) -> Path:
    for part in ("clickstream", "emitters", "pipelines"):
        shutil.copytree(REPO_ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_repository_keeps_every_layer_contract() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "inverted_import", "contract"),
    [
        ("clickstream/core/config.py", "import clickstream.app.cli", "The core imports nothing else of ours"),
        ("emitters/events.py", "import apache_beam", "Emitters import only the core, and never Beam"),
        ("emitters/spool.py", "import pipelines.graph", "Emitters import only the core, and never Beam"),
        ("pipelines/graph.py", "import clickstream.app.demo", "Pipelines import only the core"),
    ],
)
def test_an_inverted_import_breaks_the_check(tmp_path: Path, module: str, inverted_import: str, contract: str) -> None:
    root = _copy(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{inverted_import}  # deliberately inverted\n")
    result = _lint_imports(root)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout
