"""The local streaming pipeline as a child process: started, watched and stopped by PID.

The demo and the reliability tests run the pipeline this way so that it can be stopped like
any service (by process group, also with SIGKILL to play a crash) and so that its memory
can be read from ``/proc`` without counting the caller's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from clickstream.app.local import processes
from clickstream.core.config import Settings

ENTRY = "clickstream.app.local.run_pipeline"


class PipelineProcess:
    """A local streaming run (``clickstream.app.local.run_pipeline``) against the local stack
    ``settings`` point at; ``extra_args`` are pipeline options and the local stop knobs.
    ``entry`` is the module run and its own first arguments (``bench.stack_sampler`` runs the
    same pipeline under a sampling profiler)."""

    def __init__(self, settings: Settings, log_path: Path, *extra_args: str, entry: tuple[str, ...] = (ENTRY,)):
        if not (settings.pubsub_emulator_host and settings.bigquery_endpoint):
            raise ValueError("the local pipeline needs the emulator host and the BigQuery stand-in endpoint")
        self.log_path = log_path
        args = [
            sys.executable,
            "-m",
            *entry,
            *settings.pipeline_args(),
            *extra_args,
        ]
        env = dict(os.environ, PUBSUB_EMULATOR_HOST=settings.pubsub_emulator_host)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float) -> bool:
        """True once the process has exited, False if it still runs after ``timeout`` seconds."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (then SIGKILL) the process group; ``kill`` goes straight to SIGKILL, as a crash."""
        if self.running:
            processes.stop_group(self.process.pid, self.process.pid, timeout=10.0, kill=kill)
            self.wait(5.0)  # settles Popen's own view of the exit

    def rss_mb(self) -> float | None:
        """Resident memory now (Linux /proc), or None once the process is gone."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> PipelineProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
