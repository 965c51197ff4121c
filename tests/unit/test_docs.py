"""The README is the front door and docs/ the reference: both must say what the code does.

``make test`` also runs ``mkdocs build --strict``, which fails on broken links and anchors; these
tests cover what MkDocs cannot see (the README, which is outside docs/) and what it does not
know (the option table, the reasons, the commands CI runs).
"""

from __future__ import annotations

import argparse
import re

import yaml

from clickstream.core.paths import REPO_ROOT
from clickstream.core.reasons import Reason
from emitters.simulator import INVALID_REASONS
from pipelines.options import ClickstreamOptions, option_names

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
MKDOCS = REPO_ROOT / "mkdocs.yml"
# The front door plus the two tables the issues asked it to show (validation rules, delivery
# guarantees); anything longer belongs in docs/.
README_MAX_BYTES = 14 * 1024


def _first_bash_block(text: str) -> str:
    return re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL).group(1)


def _nav_pages(nav: list) -> list[str]:
    pages: list[str] = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def _mkdocs_config() -> dict:
    # mkdocs.yml may use tags such as !ENV some day; a safe loader that ignores them is enough here.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(MKDOCS.read_text(), Loader=Loader)


def test_options_page_documents_every_pipeline_option() -> None:
    text = (DOCS / "options.md").read_text()
    documented = re.findall(r"^\| `--([a-z_]+)` \|", text, flags=re.MULTILINE)
    assert documented == option_names()


def test_options_page_shows_each_options_default() -> None:
    parser = argparse.ArgumentParser()
    ClickstreamOptions._add_argparse_args(parser)
    defaults = {a.dest: "-" if a.default is None else str(a.default) for a in parser._actions if a.dest != "help"}
    text = (DOCS / "options.md").read_text()
    documented = dict(re.findall(r"^\| `--([a-z_]+)` \| ([^|]+?) \|", text, flags=re.MULTILINE))
    assert documented == defaults


def test_pipeline_page_lists_every_dead_letter_reason() -> None:
    text = (DOCS / "pipeline.md").read_text()
    missing = [reason.value for reason in Reason if f"`{reason.value}`" not in text]
    assert not missing, f"docs/pipeline.md does not list {missing}"


def test_emitters_page_lists_every_invalid_kind_the_simulator_makes() -> None:
    text = (DOCS / "emitters.md").read_text()
    documented = set(re.findall(r"`invalid:([a-z_]+)`", text))
    assert documented == {str(reason) for reason in INVALID_REASONS}


def test_readme_first_command_runs_the_demo() -> None:
    text = README.read_text()
    assert _first_bash_block(text).splitlines()[0].startswith("make demo")
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo: setup\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE).group(1)
    assert "clickstream demo" in recipe


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in _first_bash_block(README.read_text())
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_readme_stays_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size < README_MAX_BYTES, f"README.md is {size} bytes; move reference material into docs/"


def test_readme_links_resolve() -> None:
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (REPO_ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_every_docs_page_is_in_the_nav() -> None:
    config = _mkdocs_config()
    assert config["docs_dir"] == "docs"
    assert config["strict"] is True
    pages = _nav_pages(config["nav"])
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk
    assert len(pages) == len(set(pages)), "a page is listed twice in the nav"


def test_mkdocs_turns_broken_links_and_unlisted_pages_into_errors() -> None:
    validation = _mkdocs_config()["validation"]
    assert validation["nav"]["omitted_files"] == "warn"
    assert validation["nav"]["not_found"] == "warn"
    for check in ("not_found", "unrecognized_links", "anchors", "absolute_links"):
        assert validation["links"][check] == "warn", check
