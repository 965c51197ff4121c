"""The recommendation-signal job: three tables computed by the SQL in ``sql/signals``.

Defaults live here, once; the CLI, the scheduled query in Terraform and the README read
them from ``SignalParams``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from google.cloud import bigquery

from clickstream.config import Settings
from clickstream.warehouse import read_sql, run_script

SIGNALS = ("user_video_affinity", "video_similarity", "video_trending")


@dataclass(frozen=True)
class SignalParams:
    as_of: datetime
    lookback_days: int = 28
    half_life_days: float = 7.0
    top_k: int = 20
    min_support: int = 2

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            object.__setattr__(self, "as_of", self.as_of.replace(tzinfo=UTC))
        if self.lookback_days < 1 or self.half_life_days <= 0 or self.top_k < 1 or self.min_support < 1:
            raise ValueError("lookback_days, top_k and min_support must be >= 1 and half_life_days > 0")


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
