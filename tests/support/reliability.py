"""Shared parts of the reliability suite.

Each test gets its own topic, subscription and BigQuery dataset (``isolated``), so its counts
are exact whatever ran before. The pipeline runs as a child process (``PipelineProcess``)
so a test can crash it, restart it and read its memory. Traffic is played in real time in a
background thread (``Traffic``), because the pipeline checks event times against the clock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from google.cloud import bigquery

from clickstream.app import provisioning
from clickstream.app.pipeline_process import PipelineProcess
from clickstream.core.config import Settings
from clickstream.core.ledger import Ledger, read_ledger
from clickstream.core.tables import table_specs
from emitters.events import Event
from emitters.publisher import EventPublisher, PublisherConfig, PublishReport


def isolated(base: Settings, tag: str) -> Settings:
    """``base`` with a topic, subscriptions and dataset of this test's own, all provisioned."""
    settings = base.isolated(tag)
    provisioning.provision(settings)
    return settings


def drift_column(client: bigquery.Client, settings: Settings, table: str, column: str) -> None:
    """Re-create ``table`` (empty) with ``column`` declared INTEGER, as a drifted schema would
    be: the warehouse then refuses, for real, every row whose value there is not a number."""
    table_id = settings.table_id(table)
    fields = [
        bigquery.SchemaField(f.name, "INTEGER", mode=f.mode) if f.name == column else f
        for f in table_specs()[table].schema()
    ]
    client.delete_table(table_id)
    client.create_table(bigquery.Table(table_id, schema=fields))


def start_pipeline(settings: Settings, log_dir: Path, *args: str) -> PipelineProcess:
    return PipelineProcess(settings, log_dir / f"pipeline-{uuid.uuid4().hex[:6]}.log", *args)


def column(client: bigquery.Client, sql: str) -> list:
    return [row[0] for row in client.query(sql).result()]


def wait_until_accounted(
    client: bigquery.Client, settings: Settings, expected: int, timeout_s: float, pipeline: PipelineProcess
) -> Ledger:
    """Poll until ``expected`` messages are accounted for; fail early if the pipeline died."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = read_ledger(client, settings)
        if now.accounted >= expected or time.monotonic() > deadline:
            return now
        if not pipeline.running:
            raise AssertionError(f"the pipeline exited (code {pipeline.process.returncode}):\n{pipeline.log_tail()}")
        time.sleep(2)


def stored_event_ids_sql(settings: Settings) -> str:
    """One row per stored copy of an event: an ``events`` row, or a row of thumbnails shown (contract
    1.3), which is stored as one ``impressions`` row per thumbnail: its slot-1 row stands for it (the
    simulator's rows always fill slots 1-12, and a row stored twice repeats its slot 1 too)."""
    return (
        f"SELECT event_id FROM `{settings.table_id('events')}` "
        f"UNION ALL SELECT event_id FROM `{settings.table_id('impressions')}` WHERE slot = 1"
    )


def wait_until_stored(
    client: bigquery.Client, settings: Settings, event_ids: set[str], timeout_s: float, pipeline: PipelineProcess
) -> set[str]:
    """Poll until every id in ``event_ids`` has an events row (extra deliveries can make the
    message count complete before the last event lands); returns the stored ids."""
    deadline = time.monotonic() + timeout_s
    sql = stored_event_ids_sql(settings)
    while True:
        stored = set(column(client, sql))
        if event_ids <= stored or time.monotonic() > deadline:
            return stored
        if not pipeline.running:
            raise AssertionError(f"the pipeline exited (code {pipeline.process.returncode}):\n{pipeline.log_tail()}")
        time.sleep(2)


class Traffic:
    """Sends ``(due_s, event)`` pairs in real time from a background thread."""

    def __init__(self, settings: Settings, schedule: list[tuple[float, Event]], **publisher_overrides: float):
        self.schedule = schedule
        self.publisher = EventPublisher(PublisherConfig.from_settings(settings, **publisher_overrides))
        self.sent: list[tuple[float, Event]] = []  # (monotonic send time, event)
        self.report: PublishReport | None = None
        self.error: BaseException | None = None
        self.started = 0.0
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> Traffic:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for due, event in self.schedule:
                wait = self.started + due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self.publisher.publish(event)
                self.sent.append((time.monotonic(), event))
            self.report = self.publisher.close(timeout=180, drain=True)
        except BaseException as exc:  # surfaced by join()
            self.error = exc

    def join(self, timeout: float = 300) -> PublishReport:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the traffic thread did not finish")
        if self.error is not None:
            raise self.error
        assert self.report is not None
        return self.report

    def progress(self) -> PublishReport:
        return self.publisher.report()


def simulated(profile, n: int | None = None, duration_s: float | None = None) -> list[tuple[float, Event, str]]:
    """The simulator's emissions as ``(due_s, event, kind)``, event times starting now."""
    from emitters.simulator import Simulator

    out = []
    for emission in Simulator(profile, start_ms=int(time.time() * 1000)).emissions():
        if (n is not None and len(out) >= n) or (duration_s is not None and emission.due_s > duration_s):
            break
        out.append((emission.due_s, emission.event, emission.kind))
    return out


def sample_every(interval_s: float, stop: threading.Event, sample: Callable[[], None]) -> threading.Thread:
    def loop() -> None:
        while not stop.wait(interval_s):
            sample()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread
