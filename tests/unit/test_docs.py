"""The README is the front door: its option table must list exactly the pipeline's options."""

from __future__ import annotations

import re

from clickstream.core.paths import REPO_ROOT
from pipelines.options import option_names


def test_readme_documents_every_pipeline_option() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    documented = re.findall(r"^\| `--([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert documented == option_names()


def test_readme_first_command_runs_the_demo() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL).group(1)
    assert first_block.splitlines()[0].startswith("make demo")
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo: setup\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE).group(1)
    assert "clickstream demo" in recipe


def test_ci_runs_the_readme_test_command() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    assert "make test" in re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL).group(1)
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
