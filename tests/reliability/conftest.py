"""``own_stack``: a Pub/Sub emulator and BigQuery stand-in for one test that breaks them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clickstream.app.local import services
from clickstream.core.config import Settings


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Settings]:
    try:
        with services.running(services.own_stack_settings(tmp_path / "own-stack")) as local:
            yield local
    except services.StackError as exc:
        pytest.fail(f"local stack did not start: {exc}", pytrace=False)
