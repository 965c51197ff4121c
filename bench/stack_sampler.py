"""A sampling profiler for a running local pipeline: where the runner's threads spend their time.

py-spy is not installed here and cProfile sees only the thread that enables it, while the local
runner works on background threads. This samples every thread's stack (``sys._current_frames``)
every few milliseconds, like py-spy does from outside, and charges the CPU time each thread used
since the previous sample (its own CPU clock, ``pthread_getcpuclockid``) to the functions on its
stack: inclusive (on the stack) and self (on top). A thread that waits (a lock, a socket, a
sleep) used no CPU and is charged nothing.

    python -m bench.stack_sampler OUT.txt [run_pipeline options...]

runs ``clickstream.app.local.run_pipeline`` with those options and writes the table to OUT.txt
when the pipeline returns (use ``--idle_stop_s`` so that it does).
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path

INTERVAL_S = 0.01


class Sampler:
    def __init__(self, interval_s: float = INTERVAL_S):
        self.interval_s = interval_s
        self.cpu_s = 0.0
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.self_time: collections.Counter[str] = collections.Counter()
        self._last_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval_s):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                try:
                    cpu = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except OSError:  # the thread ended meanwhile
                    continue
                spent = cpu - self._last_cpu.get(ident, cpu)
                self._last_cpu[ident] = cpu
                if spent <= 0:
                    continue  # waiting (a lock, a socket, a sleep): no CPU since the last sample
                self.cpu_s += spent
                self.self_time[_name(frame)] += spent
                seen = set()
                while frame is not None:
                    seen.add(_name(frame))
                    frame = frame.f_back
                for name in seen:
                    self.inclusive[name] += spent

    def table(self, top: int = 40) -> str:
        total = max(self.cpu_s, 1e-9)
        lines = [f"CPU seconds sampled: {self.cpu_s:.1f} (every {self.interval_s * 1000:g} ms, all threads)"]
        lines += ["", "inclusive (share of the CPU time with the function on the stack):"]
        lines += [f"{100 * n / total:6.1f}%  {name}" for name, n in self.inclusive.most_common(top)]
        lines += ["", "self (share with the function on top):"]
        lines += [f"{100 * n / total:6.1f}%  {name}" for name, n in self.self_time.most_common(top)]
        return "\n".join(lines) + "\n"


def _name(frame) -> str:
    code = frame.f_code
    path = code.co_filename
    short = path.split("site-packages/")[-1] if "site-packages/" in path else Path(path).name
    return f"{short}:{code.co_name}"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    out, pipeline_args = Path(args[0]), args[1:]
    from clickstream.app.local.runner import main as run_pipeline

    sampler = Sampler()
    sampler.start()
    try:
        run_pipeline(pipeline_args)
    finally:
        sampler.stop()
        out.write_text(sampler.table())


if __name__ == "__main__":
    main()
