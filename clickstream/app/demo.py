"""`clickstream demo`: the whole local path in one run, and the numbers that prove it.

Stack up -> streaming pipeline (DirectRunner, its own process) -> a minute of simulated
viewers with duplicates, invalid, late and skewed events, published by the Python publisher
or (``via="collector"``) posted as JSON batches to the local HTTP collector -> wait until the pipeline has
accounted for every published message and closed its session windows -> signal job ->
summary (reconciliation, dead letters, sessions, trending, recommendations).

Everything the demo starts it stops again, also on Ctrl-C: the pipeline process always, the
local services unless ``keep_running`` (services that were already running are left alone).

Why the pipeline runs as a subprocess: it can then be stopped like any service, by process
group, and the demo's own process stays responsive for progress and Ctrl-C. It stops itself
once no message arrived for ``session_gap_s + 35`` seconds: the local runner advances the
watermark only when a Pub/Sub pull returns, and an empty pull waits 30 s, so that is when
the last session windows close.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clickstream.app import demo_catch_up as catch_up
from clickstream.app.collector_client import CollectorSender
from clickstream.app.demo_report import write_report
from clickstream.app.demo_result import DemoResult
from clickstream.app.local import services
from clickstream.app.pipeline_process import PipelineProcess
from clickstream.app.recommendations import recommend
from clickstream.app.signals import SignalParams, run_signals
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.ledger import read_ledger
from clickstream.core.pseudonyms import load_keyring
from clickstream.core.sql import read_sql, run_script
from collector.config import LOCAL_WRITE_KEY
from emitters.publisher import EventPublisher, PublisherConfig
from emitters.simulator import Emission, TrafficProfile
from emitters.traffic import TrafficSummary, play

Say = Callable[[str], None]

# The pull that finds the subscription empty waits this long before the local runner moves
# its watermark (measured on the emulator); session windows close only after it.
EMPTY_PULL_WAIT_S = 30
# How the simulated viewers' events reach the topic.
VIA = ("publisher", "collector")


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float | None = 60.0
    events: int | None = None
    rate: float = 25.0
    seed: int = 1
    session_gap_s: int = 15
    early_firing_s: int = 10
    duplicates: float = 0.03
    invalid: float = 0.02
    late: float = 0.02
    skewed: float = 0.05
    keep_running: bool = False
    report_dir: Path | None = None
    catch_up_grace_s: float = catch_up.GRACE_S  # then wait as long as the lag falls fast enough
    via: str = "publisher"

    def __post_init__(self) -> None:
        if self.via not in VIA:
            raise ValueError(f"via must be one of {VIA}, not {self.via!r}")

    @property
    def idle_stop_s(self) -> int:
        return self.session_gap_s + EMPTY_PULL_WAIT_S + 5


class DemoError(RuntimeError):
    """The demo could not run to the end; the message says which step failed."""


class _Stop(Exception):
    """Raised inside the emitter thread to end ``play`` early (Ctrl-C)."""


class Interrupted(KeyboardInterrupt):
    """The demo was asked to stop (SIGINT or SIGTERM); cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Demo:
    def __init__(self, settings: Settings, options: DemoOptions, say: Say):
        self.settings = settings
        self.options = options
        self.say = say
        self._started_services: list[str] = []
        self._pipeline: PipelineProcess | None = None
        self._stop_emitting = threading.Event()
        self._viewers: set[str] = set()  # the raw user ids played (never stored; see _collect)
        self._interrupted: int | None = None

    def interrupt(self, signum: int) -> None:
        """Called from a signal handler: every wait of the demo ends at its next check, even if
        the exception the handler raises is swallowed by a library call it lands in. A second
        signal is ignored, so that it cannot cut the cleanup of the first short."""
        if self._interrupted is not None:
            return
        self._interrupted = signum
        self._stop_emitting.set()
        raise Interrupted(signum)

    # -- the steps -----------------------------------------------------------------------
    def run(self) -> DemoResult:
        timings: dict[str, float] = {}
        began = time.monotonic()
        try:
            local = self._stack_up()
            timings["stack"] = time.monotonic() - began
            client = bigquery_client(local)
            o = self.options
            self._pipeline = PipelineProcess(
                local,
                local.state_dir / "logs" / f"demo-pipeline-{os.getpid()}.log",
                f"--session_gap_s={o.session_gap_s}",
                f"--early_firing_s={o.early_firing_s}",
                f"--idle_stop_s={o.idle_stop_s}",
            )
            self.say(
                f"pipeline started (pid {self._pipeline.process.pid}, log {self._pipeline.log_path}); "
                f"session gap {self.options.session_gap_s}s"
            )
            # Rows are told apart from earlier runs by publish time; the emulator shares this clock.
            since = datetime.now(UTC) - timedelta(seconds=1)
            step = time.monotonic()
            summary = self._emit(local, client, since)
            timings["emit"] = time.monotonic() - step
            step = time.monotonic()
            self._catch_up(client, local, since, summary.report.delivered, timings["emit"])
            timings["catch_up"] = time.monotonic() - step
            step = time.monotonic()
            self._close_sessions()
            timings["close_sessions"] = time.monotonic() - step
            step = time.monotonic()
            self.say("running the signal job (affinity, similarity, trending)")
            signal_rows = run_signals(client, local, SignalParams(as_of=datetime.now(UTC).replace(microsecond=0)))
            timings["signals"] = time.monotonic() - step
            result = self._collect(client, local, since, summary, signal_rows)
            result.timings = timings
            if self.options.report_dir is not None:
                result.report_files = write_report(result, self.options.report_dir)
            result.timings["total"] = time.monotonic() - began
            return result
        finally:
            self._cleanup()

    def _stack_up(self) -> Settings:
        before = {s.name: s.running for s in services.status(self.settings)}
        self._started_services = [name for name, running in before.items() if not running]
        if self._started_services:
            self.say(f"starting the local stack ({', '.join(self._started_services)})")
        else:
            self.say("reusing the running local stack")
        try:
            states = services.up(self.settings)
        except services.StackError as exc:
            raise DemoError(str(exc)) from exc
        ports = {s.name: s.port for s in states}
        local = replace(
            self.settings,
            pubsub_port=ports["pubsub"],
            bigquery_port=ports["bigquery"],
            collector_port=ports["collector"],
        ).with_local_endpoints()
        self.say(f"stack ready: Pub/Sub {local.pubsub_emulator_host}, BigQuery {local.bigquery_endpoint}")
        return local

    def _emit(self, local: Settings, client, since: datetime):
        o = self.options
        profile = TrafficProfile(
            rate=o.rate,
            seed=o.seed,
            session_gap_s=o.session_gap_s,
            duplicates=o.duplicates,
            invalid=o.invalid,
            late=o.late,
            skewed=o.skewed,
        )
        outcome: dict[str, Any] = {}
        sent = [0]
        if o.via == "collector":
            endpoint = f"http://127.0.0.1:{local.collector_port}/v1/events"
            self.say(f"sending through the HTTP collector at {endpoint}")
            publisher: EventPublisher | CollectorSender = CollectorSender(endpoint, LOCAL_WRITE_KEY)
        else:
            publisher = EventPublisher(PublisherConfig.from_settings(local))

        def count(emission: Emission) -> None:
            if self._stop_emitting.is_set():
                raise _Stop
            sent[0] += 1
            self._viewers.add(emission.event.user_id)

        def emitter() -> None:
            try:
                outcome["summary"] = play(
                    profile,
                    publisher,  # type: ignore[arg-type]  # CollectorSender keeps EventPublisher's interface
                    max_events=o.events,
                    duration_s=o.duration_s,
                    on_emit=count,
                )
            except _Stop:
                outcome["stopped"] = True
            except Exception as exc:  # surfaced in the main thread
                outcome["error"] = exc

        planned = o.events if o.events is not None else int(o.rate * (o.duration_s or 0))
        self.say(
            f"emitting about {planned} events at {o.rate:g}/s from {profile.viewer_count} simulated viewers "
            f"(duplicates {o.duplicates:.0%}, invalid {o.invalid:.0%}, late {o.late:.0%}, skewed clocks {o.skewed:.0%})"
        )
        thread = threading.Thread(target=emitter, name="demo-emitter", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(timeout=5.0)
                report = publisher.report()
                landed = self._landed(client, local, since)
                self.say(
                    f"  emitted {sent[0]:>5}  published {report.delivered:>5}  "
                    f"pipeline accounted for {landed:>5}  lag {max(report.delivered - landed, 0):>4}"
                )
                self._check_pipeline()
        finally:
            self._stop_emitting.set()
            thread.join(timeout=30)
            publisher.close(timeout=30)
        if "error" in outcome:
            raise DemoError(f"the emitter failed: {outcome['error']}") from outcome["error"]
        summary: TrafficSummary = outcome["summary"]
        report = summary.report
        if report.rejected or report.lost or report.spool_depth:
            raise DemoError(
                f"the topic refused {report.rejected} event(s), {report.lost} lost, "
                f"{report.spool_depth} still spooled: {report.rejections[:3]}"
            )
        self.say(f"emitted {summary.sent} events in {summary.elapsed_s:.0f}s; all published")
        return summary

    def _landed(self, client, local: Settings, since: datetime) -> int:
        """Published messages the pipeline has accounted for so far (the lag's other half)."""
        return read_ledger(client, local, since).accounted

    def _check_pipeline(self) -> None:
        assert self._pipeline is not None
        if self._interrupted is not None:
            raise Interrupted(self._interrupted)
        if not self._pipeline.running:
            raise DemoError(
                f"the pipeline exited early (code {self._pipeline.process.returncode}); "
                f"last log lines:\n{self._pipeline.log_tail()}"
            )

    def _catch_up(self, client, local: Settings, since: datetime, published: int, emit_s: float) -> None:
        """Wait until every published message is accounted for; how long scales with the lag
        (``demo_catch_up``): no giving up while the lag still falls fast enough."""
        began = time.monotonic()
        samples: list[catch_up.Sample] = []
        while True:
            landed = self._landed(client, local, since)
            waited = time.monotonic() - began
            samples.append(catch_up.Sample(waited, max(published - landed, 0)))
            verdict = catch_up.verdict(samples, grace_s=self.options.catch_up_grace_s)
            if verdict.done:
                self.say(
                    f"pipeline caught up {waited:.0f}s after the last event: "
                    f"all {published} published messages accounted for"
                )
                return
            if verdict.give_up:
                raise DemoError(
                    catch_up.give_up_message(
                        landed,
                        published,
                        waited,
                        verdict,
                        catch_up.sustained_rate(landed, emit_s + waited),
                        self.options.rate,
                        str(self._pipeline.log_path if self._pipeline else ""),
                    )
                )
            rate = f", draining {verdict.drain_per_s:.0f}/s" if verdict.drain_per_s else ""
            self.say(f"  waiting for the pipeline: lag {published - landed} messages{rate}")
            self._check_pipeline()
            time.sleep(3)

    def _close_sessions(self) -> None:
        assert self._pipeline is not None
        wait = self.options.idle_stop_s
        self.say(
            f"closing session windows: the pipeline stops itself after {wait}s without messages "
            "(the watermark must pass the last session gap)"
        )
        started = time.monotonic()
        while not self._pipeline.wait(timeout=10):
            if self._interrupted is not None:
                raise Interrupted(self._interrupted)
            elapsed = time.monotonic() - started
            if elapsed > wait + 60:
                self.say("the pipeline did not stop by itself; stopping it")
                self._pipeline.stop()
                break
            self.say(f"  {elapsed:.0f}s of about {wait}s")

    def _collect(self, client, local: Settings, since: datetime, summary, signal_rows) -> DemoResult:
        def query(name: str, **params: Any) -> list[dict[str, Any]]:
            return run_script(client, local, read_sql(f"demo/{name}.sql", local), {"since": since, **params})

        # The tables hold pseudonyms only; the demo knows the raw ids it played, so it shows the two
        # most active viewers as an operator would look them up: raw id -> its pseudonyms.
        keyring = load_keyring(local.pseudonym_key_source)
        raw_of = {keyring.pseudonym(raw): raw for raw in self._viewers}
        users = [raw_of.get(row["user_id"], row["user_id"]) for row in query("sample_users", n=2)]
        recommendations = recommend(client, local, {u: keyring.all_pseudonyms(u) for u in users}, n=5)
        return DemoResult(
            since=since,
            sent=summary.sent,
            by_kind=dict(summary.by_kind),
            published=summary.report.delivered,
            ledger=read_ledger(client, local, since),
            sessions=query("sessions"),
            trending=run_script(client, local, read_sql("demo/trending.sql", local), {"n": 5}),
            recommendations=recommendations,
            signal_rows=signal_rows,
            pause_ratios=[float(r["watch_ratio"]) for r in query("pause_positions")],
            clicks_by_slot=[(int(r["slot"]), int(r["clicks"])) for r in query("clicks_by_slot")],
            timings={},
        )

    def _cleanup(self) -> None:
        self._stop_emitting.set()
        if self._pipeline is not None and self._pipeline.running:
            self.say("stopping the pipeline")
            self._pipeline.stop()
        if self.options.keep_running:
            if self._started_services:
                self.say("the local stack stays up (--keep-running); stop it with `clickstream local down`")
            return
        stopped = [name for name in reversed(self._started_services) if services.stop_service(self.settings, name)]
        if stopped:
            self.say(f"stopped what the demo started: {', '.join(stopped)}")
