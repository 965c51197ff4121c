"""docs/collector.md is the collector's reference: every setting, its variable and default, and every answer."""

from __future__ import annotations

import re
from dataclasses import fields

from clickstream.core.paths import REPO_ROOT
from collector.config import ENV_PREFIX, CollectorConfig

PAGE = REPO_ROOT / "docs" / "collector.md"


def _default(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def test_the_page_documents_every_setting_with_its_variable_and_default() -> None:
    text = PAGE.read_text()
    rows = dict(re.findall(r"^\| `(CLICKSTREAM_COLLECTOR_[A-Z_]+)` \| `([^`]*)` \|", text, flags=re.MULTILINE))
    defaults = CollectorConfig()
    expected = {ENV_PREFIX + f.name.upper(): _default(getattr(defaults, f.name)) for f in fields(CollectorConfig)}
    assert rows == expected


def test_the_page_lists_every_answer_and_is_in_the_nav() -> None:
    text = PAGE.read_text()
    for status in ("202", "400", "401", "403", "413", "429", "500", "503"):
        assert f"| {status} " in text, status
    assert "collector.md" in (REPO_ROOT / "mkdocs.yml").read_text()


def test_the_page_says_what_a_retry_after_429_or_503_does() -> None:
    # Published events come back as duplicates the pipeline drops by event_id, but refused items
    # are published again: each becomes a second dead letter. "Safe" would hide that.
    text = " ".join(PAGE.read_text().split())
    assert "is safe" not in text
    assert "second `collect` dead letter" in text
    assert "a single event over `max_event_bytes`" in text
