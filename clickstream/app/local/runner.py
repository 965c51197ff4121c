"""Local streaming runs that stop by themselves: after ``max_runtime_s``, or once no message
has arrived for ``idle_stop_s``.

The local runner's ``wait_until_finish`` takes no duration, so a run that should end is
polled and cancelled from here. These knobs are not pipeline options: on Dataflow a job
is drained or cancelled by its operator, so they would be meaningless Flex Template
parameters. The run is in-process, so the arrival tap (a function of this module, pickled
by reference) and the poll loop share ``_LAST_ARRIVAL``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.runners.runner import PipelineResult, PipelineState

from clickstream.app.local import pull_size, runner_patches
from pipelines import streaming

log = logging.getLogger(__name__)

# Wall-clock time of the last message each local run read, by run key.
_LAST_ARRIVAL: dict[str, float] = {}


def note_arrival(message, run_key: str):
    _LAST_ARRIVAL[run_key] = time.monotonic()
    return message


@dataclass(frozen=True)
class LocalStop:
    max_runtime_s: int = 0  # 0: no limit
    idle_stop_s: int = 0  # 0: never stop for lack of traffic

    @property
    def any(self) -> bool:
        return bool(self.max_runtime_s or self.idle_stop_s)


def parse_args(argv: Sequence[str]) -> tuple[LocalStop, list[str]]:
    """Split this module's two knobs from the Beam pipeline options that follow them."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--max_runtime_s", type=int, default=0)
    parser.add_argument("--idle_stop_s", type=int, default=0)
    known, beam_args = parser.parse_known_args(list(argv))
    return LocalStop(known.max_runtime_s, known.idle_stop_s), beam_args


def run(beam_args: Sequence[str], stop: LocalStop) -> PipelineResult:
    """The streaming pipeline on the local runner; returns once it finished or was stopped."""
    options = streaming.make_options(beam_args)
    if streaming.is_dataflow(options):
        raise ValueError("local runs only: on Dataflow, drain or cancel the job instead")
    pull_size.enable()  # the local runner's 10-message pulls cannot catch up; see pull_size
    runner_patches.enable()  # it re-inspects every DoFn's signature per bundle; see runner_patches
    pipeline = streaming.new_pipeline(options)
    run_key = uuid.uuid4().hex
    streaming.build(pipeline, options, tap=beam.Map(note_arrival, run_key) if stop.idle_stop_s else None)
    result = pipeline.run()
    if stop.any:
        _wait_then_cancel(result, stop, run_key)
    else:
        result.wait_until_finish()
    return result


def _wait_then_cancel(result: PipelineResult, stop: LocalStop, run_key: str) -> None:
    """Poll, then cancel. The local runner acks on pull, so whatever it pulled and had not
    written yet is lost on cancel; an idle stop makes that window empty. Session windows
    still open at the stop do not fire (their events are in ``events`` already)."""
    started = time.monotonic()
    while not PipelineState.is_terminal(result.state):
        now = time.monotonic()
        if stop.max_runtime_s and now - started >= stop.max_runtime_s:
            log.info("max runtime reached; cancelling the local pipeline")
            break
        if stop.idle_stop_s and now - max(started, _LAST_ARRIVAL.get(run_key, 0.0)) >= stop.idle_stop_s:
            log.info("no message for %ss; cancelling the local pipeline", stop.idle_stop_s)
            break
        time.sleep(0.5)
    _LAST_ARRIVAL.pop(run_key, None)
    result.cancel()


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO)
    stop, beam_args = parse_args(sys.argv[1:] if argv is None else argv)
    run(beam_args, stop)
