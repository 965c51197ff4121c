"""The README is the front door: its option table must list exactly the pipeline's options."""

from __future__ import annotations

import re

from clickstream.paths import REPO_ROOT
from pipelines.options import option_names


def test_readme_documents_every_pipeline_option() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    documented = re.findall(r"^\| `--([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert documented == option_names()
