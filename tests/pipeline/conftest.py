"""Every pipeline test names its runner (tests.support.teststream: streaming_pipeline,
batch_pipeline). Beam's default DirectRunner first tries to download the Prism runner: offline
that fails after a network attempt and falls back silently, so it is refused here instead."""

from __future__ import annotations

import pytest
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner


@pytest.fixture(autouse=True)
def _no_default_direct_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, pipeline, options):
        raise AssertionError(
            "a test ran Beam's default DirectRunner, which tries to download Prism: use "
            "tests.support.teststream.streaming_pipeline() or batch_pipeline()"
        )

    monkeypatch.setattr(SwitchingDirectRunner, "run_pipeline", refuse)
