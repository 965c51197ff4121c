"""The recommendation-signal job: three tables computed by the SQL in ``sql/signals``.

The default parameters live once, in ``sql/signals/params.json``: ``SignalParams`` (the CLI)
and the scheduled query in Terraform both read that file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from google.cloud import bigquery

from clickstream.core.config import Settings
from clickstream.core.paths import sql_dir
from clickstream.core.sql import read_sql, run_script

SIGNALS = ("user_video_affinity", "video_similarity", "video_trending")
DEFAULTS = json.loads((sql_dir() / "signals" / "params.json").read_text())


@dataclass(frozen=True)
class SignalParams:
    as_of: datetime
    lookback_days: int = DEFAULTS["lookback_days"]
    half_life_days: float = DEFAULTS["half_life_days"]
    top_k: int = DEFAULTS["top_k"]
    min_support: int = DEFAULTS["min_support"]
    # Retention of the signal tables: the newest keep_runs as_of runs stay, older ones are deleted.
    keep_runs: int = DEFAULTS["keep_runs"]

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            object.__setattr__(self, "as_of", self.as_of.replace(tzinfo=UTC))
        if min(self.lookback_days, self.top_k, self.min_support, self.keep_runs) < 1 or self.half_life_days <= 0:
            raise ValueError("lookback_days, top_k, min_support and keep_runs must be >= 1 and half_life_days > 0")


def run_signals(client: bigquery.Client, settings: Settings, params: SignalParams) -> dict[str, int]:
    """Compute every signal for ``params.as_of``; returns the rows each table now holds for it."""
    values = asdict(params)
    written = {}
    for name in SIGNALS:
        run_script(client, settings, read_sql(f"signals/{name}.sql", settings), values)
        count = run_script(
            client,
            settings,
            f"SELECT COUNT(*) AS n FROM `{settings.table_id(name)}` WHERE as_of = @as_of",
            {"as_of": params.as_of},
        )
        written[name] = int(count[0]["n"])
    return written
