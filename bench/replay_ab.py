"""Paired A/B of the replay: the code of two checkouts on the same archive, both at once.

On this shared 2-core machine one replay swings by 10-25% from the next, so a change worth a
few percent is lost between runs made one after the other. Here the two replays run AT THE SAME
TIME, each pinned to a core of its own (``taskset``), so that what slows the machine slows both;
the cores swap every round, as one core can be steadily slower than the other. A round's figure
is B's replay seconds over A's (each measured inside its own process, as ``bench.replay`` does);
the result is the median of the rounds. Use an even number of rounds: each side then has each
core as often. Both must make the same sessions, or the comparison stops.

    git worktree add --detach ../before HEAD~1
    python -m bench.replay_ab ../before . --events 30000 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from bench.common import iter_messages, write_archive, write_catalog
from bench.replay import require_same_sessions
from clickstream.core.pseudonyms import create_key_file


def _start(checkout: Path, core: int, archive: Path, catalog: Path, key: Path, out: Path) -> subprocess.Popen:
    """``bench.replay``'s measurement of one replay, with the checkout's code, pinned to ``core``."""
    command = [sys.executable, "-m", "bench.replay", "--child", "replay", str(archive), str(catalog), str(key)]
    return subprocess.Popen(
        ["taskset", "-c", str(core), *command, str(out), "1"],
        cwd=checkout,  # ``-m`` puts the working directory first on the path: the checkout's code
        env={**os.environ, "PYTHONPATH": str(checkout)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _two_cores() -> tuple[int, int]:
    """Two of the cores this process may run on (not simply 0 and 1: under ``taskset`` or a
    container's cpuset those may not be ours)."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        raise SystemExit("bench.replay_ab: needs two cores (one replay on each)")
    return usable[0], usable[1]


def _finish_both(runs: list[subprocess.Popen], checkouts: tuple[Path, Path]) -> list[dict[str, float]]:
    """Both replays' figures, in ``runs``' order. Whichever fails first stops the other, which
    would otherwise hold its core for minutes after the error."""
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        waits = [pool.submit(_finish, run, checkout) for run, checkout in zip(runs, checkouts, strict=True)]
        try:
            for done in as_completed(waits):
                done.result()  # the first failure raises here
            return [wait.result() for wait in waits]
        finally:
            for run in runs:
                if run.poll() is None:
                    run.kill()  # its _finish then returns, and the pool can close


def _finish(run: subprocess.Popen, checkout: Path) -> dict[str, float]:
    stdout, stderr = run.communicate()
    if run.returncode:
        raise SystemExit(f"bench.replay_ab: the replay of {checkout} failed:\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path, help="the checkout measured against (the baseline)")
    parser.add_argument("b", type=Path, help="the checkout measured")
    parser.add_argument("--events", type=int, default=30_000, help="the archive's messages (default 30000)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds, an even number (default 6)")
    args = parser.parse_args(argv)
    first, second = _two_cores()
    checkouts = (args.a.resolve(), args.b.resolve())
    ratios, seconds = [], {"a": [], "b": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        catalog, key = write_catalog(work / "catalog.jsonl"), create_key_file(work / "pseudonym.key")
        archive = write_archive(work / "archive.jsonl", iter_messages(args.events, duplicates=0.01, invalid=0.01))
        for round_ in range(args.rounds):
            cores = (first, second) if round_ % 2 == 0 else (second, first)
            runs = [
                _start(checkout, core, archive, catalog, key, work / f"out-{round_}-{side}")
                for side, (checkout, core) in enumerate(zip(checkouts, cores, strict=True))
            ]
            a, b = _finish_both(runs, checkouts)
            require_same_sessions(int(a["sessions"]), int(b["sessions"]))
            seconds["a"].append(a["seconds"])
            seconds["b"].append(b["seconds"])
            ratios.append(b["seconds"] / a["seconds"])
            print(
                f"round {round_ + 1}: A {a['seconds']:.2f} s on core {cores[0]}, B {b['seconds']:.2f} s "
                f"on core {cores[1]}, B/A {ratios[-1]:.3f}",
                flush=True,
            )
    ratio = statistics.median(ratios)
    print(
        f"B/A replay seconds, median of {len(ratios)} paired rounds: {ratio:.3f} "
        f"(A {args.events / statistics.median(seconds['a']):,.0f} events/s, "
        f"B {args.events / statistics.median(seconds['b']):,.0f} events/s)"
    )
    return {"ratio": ratio, "rounds": len(ratios)}


if __name__ == "__main__":
    main()
