"""The demo's ``--report DIR``: four PNG charts and an ``index.html`` that shows them.

Charts: sessions per minute, the session-length distribution, the pause-position histogram
(watch ratio where viewers paused) and the clicks-by-slot curve. matplotlib's Agg backend
draws without a display, so this works on a headless machine and in CI.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

from clickstream.app.demo_result import DemoResult

BIN_S = 10  # a one-minute demo would be one or two bars per whole minute


def sessions_per_minute(result: DemoResult) -> tuple[list[str], list[float]]:
    """Session starts in ``BIN_S`` bins, scaled to a per-minute rate."""
    bins = Counter(
        s["session_start"].replace(second=s["session_start"].second // BIN_S * BIN_S, microsecond=0)
        for s in result.sessions
        if s["session_start"]
    )
    starts = sorted(bins)
    return [t.strftime("%H:%M:%S") for t in starts], [bins[t] * 60 / BIN_S for t in starts]


def write_report(result: DemoResult, out_dir: Path) -> list[Path]:
    """Write the charts and the HTML page; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []

    def save(fig, name: str) -> None:
        path = out_dir / name
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        files.append(path)

    labels, rates = sessions_per_minute(result)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(labels, rates, color="#4477aa")
    ax.set(
        title=f"Sessions started per minute ({BIN_S}s bins)", xlabel="session start (UTC)", ylabel="sessions / minute"
    )
    ax.tick_params(axis="x", labelrotation=45)
    save(fig, "sessions_per_minute.png")

    durations = [float(s["duration_s"]) for s in result.sessions if s["duration_s"] is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(durations, bins=20, color="#66ccee")
    median = result.median_session_s
    if median is not None:
        ax.axvline(median, color="#ee6677", linestyle="--", label=f"median {median:.0f}s")
        ax.legend()
    ax.set(title="Session length", xlabel="seconds (first to last event)", ylabel="sessions")
    save(fig, "session_length.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(result.pause_ratios, bins=20, range=(0, 1), color="#228833")
    ax.set(title="Where viewers paused", xlabel="position / video duration", ylabel="pauses")
    save(fig, "pause_positions.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    slots = [slot for slot, _ in result.clicks_by_slot]
    ax.plot(slots, [clicks for _, clicks in result.clicks_by_slot], marker="o", color="#aa3377")
    ax.set(title="Thumbnail clicks by slot", xlabel="slot (position in the row)", ylabel="clicks")
    save(fig, "clicks_by_slot.png")

    page = out_dir / "index.html"
    page.write_text(_html(result, [f.name for f in files]))
    files.append(page)
    return files


def _html(result: DemoResult, images: list[str]) -> str:
    ledger, published = result.ledger, result.published
    rows = [
        ("events published", published),
        ("events stored", ledger.stored),
        ("of which bots (stored, in no session or signal)", ledger.bots),
        ("of which rows of thumbnails shown (stored as impressions)", ledger.impressions),
        *((f"dead letters: {reason}", n) for reason, n in sorted(ledger.dead_letters.items())),
        ("duplicates dropped", ledger.duplicates),
        *((f"filtered: {reason}", n) for reason, n in sorted(ledger.filtered.items())),
        (
            "reconciliation",
            "OK"
            if ledger.balances(published)
            else f"difference {ledger.difference(published):+d}, doubled {ledger.doubled}",
        ),
        ("sessions", len(result.sessions)),
        ("median session length (s)", f"{result.median_session_s:.1f}" if result.median_session_s else "-"),
    ]
    table = "\n".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    charts = "\n".join(f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in images)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>clickstream demo report</title>
<style>body{{font-family:sans-serif;margin:2em}} th{{text-align:left;padding-right:2em}}
img{{max-width:600px;margin:1em 1em 0 0}}</style></head>
<body><h1>clickstream demo</h1>
<p>Messages published since {html.escape(result.since.isoformat())}.</p>
<table>{table}</table>
{charts}
</body></html>
"""
