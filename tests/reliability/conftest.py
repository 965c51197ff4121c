"""``own_stack``: a Pub/Sub emulator and BigQuery stand-in for one test that breaks them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clickstream import local_stack
from clickstream.config import Settings


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings.from_env(
        state_dir=tmp_path / "own-stack",
        pubsub_port=local_stack.free_port(),
        bigquery_port=local_stack.free_port(),
        bigquery_grpc_port=local_stack.free_port(),
        pubsub_emulator_host=None,
        bigquery_endpoint=None,
    )
    try:
        local_stack.up(settings)
    except local_stack.StackError as exc:
        local_stack.down(settings)
        pytest.fail(f"local stack did not start: {exc}", pytrace=False)
    try:
        yield settings.with_local_endpoints()
    finally:
        local_stack.down(settings)
