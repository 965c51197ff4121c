"""What a demo run found: the ledger, the sessions and the signals, as the summary and the report show them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from clickstream.core.ledger import Ledger


@dataclass
class DemoResult:
    since: datetime
    sent: int
    by_kind: dict[str, int]
    published: int
    ledger: Ledger
    sessions: list[dict[str, Any]]
    trending: list[dict[str, Any]]
    recommendations: dict[str, list[dict[str, Any]]]
    signal_rows: dict[str, int]
    pause_ratios: list[float]
    clicks_by_slot: list[tuple[int, int]]
    timings: dict[str, float]
    report_files: list[Path] = field(default_factory=list)

    @property
    def median_session_s(self) -> float | None:
        durations = [float(s["duration_s"]) for s in self.sessions if s["duration_s"] is not None]
        return statistics.median(durations) if durations else None
