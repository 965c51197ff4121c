"""Writing rows to BigQuery through one code path, local stand-in or real BigQuery.

``INSERT_ALL`` (default) calls the insertAll API through google-cloud-bigquery with an
``insertId`` derived from the row (``pipelines.rules.bigquery_sink.row_id``: BigQuery's
best-effort de-duplication of a re-sent row) and ``skipInvalidRows``: rows the warehouse
rejects come back one by one and become dead letters (stage ``sink``) instead of being
retried forever; transient errors (5xx, connection failures, 429 and the 403 quota reasons)
are retried with exponential backoff for up to ``retry_deadline_s``, after which the bundle
fails and the runner retries it (Dataflow retries a failing bundle indefinitely in
streaming; nothing is acked meanwhile). A bundle is written in requests of at most 500 rows,
so a retried bundle re-sends rows already written: their row ids are what makes that safe.

``STORAGE_WRITE_API`` hands the rows to Beam's ``WriteToBigQuery`` (Dataflow only: it
needs the Java expansion service); its ``failed_rows_with_errors`` become dead letters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
import requests
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.reasons import Reason, Stage
from clickstream.core.tables import REPLAYED_AT
from pipelines.messages import RawMessage, dead_letter_row
from pipelines.rules.bigquery_sink import is_quota_error, row_id
from pipelines.rules.pseudonymise import NONE, PSEUDONYMISED
from pipelines.timefmt import parse_iso_ms
from pipelines.transforms import METRICS_NAMESPACE
from pipelines.worker_clients import kept_per_thread

log = logging.getLogger(__name__)
REJECTED = "rejected"
_TRANSIENT = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.TooManyRequests,
    gexc.DeadlineExceeded,
    ConnectionError,
    TimeoutError,
)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) or (
        isinstance(exc, gexc.Forbidden) and is_quota_error(getattr(exc, "errors", None))
    )


_MAX_ROWS = 500
_MAX_BYTES = 8 * 1024 * 1024  # under the 10 MB request limit


def _publish_ms(value: Any) -> int | None:
    """The refused row's publish time, if it is a readable timestamp (it may be what was refused)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_iso_ms(value)
    except ValueError:
        return None


def sink_dead_letter(table: str, row: dict[str, Any], error: str) -> dict[str, Any]:
    """A dead letter for a row the warehouse refused; the row itself (as JSON) is the payload.

    Every row the pipeline writes holds pseudonyms only (DecodeAndValidate made them), so the
    payload is stored as it is: ``payload_ids`` says ``pseudonymised`` when the row names a user
    (whose pseudonym is the dead letter's ``user_id``, for erasure), else ``none``."""
    user_id = row.get("user_id") if isinstance(row.get("user_id"), str) else None
    raw = RawMessage(
        data=json.dumps(row, default=str).encode(),
        attributes={"table": table},
        message_id=row.get("message_id"),
        publish_time_ms=_publish_ms(row.get("publish_time")),
    )
    letter = dead_letter_row(
        raw,
        Stage.SINK,
        Reason.WAREHOUSE_REJECTED,
        f"{table}: {error}",
        event_id=row.get("event_id"),
        event_type=row.get("event_type"),
        refused_table=table.rsplit(".", 1)[-1],
        trace=(row["trace_id"], row["span_id"]) if row.get("trace_id") and row.get("span_id") else None,
        payload_ids=PSEUDONYMISED if user_id else NONE,
        user_id=user_id,
    )
    if row.get(REPLAYED_AT) is not None:  # a replay's row stays the replay's record (lineage)
        letter[REPLAYED_AT] = row[REPLAYED_AT]
    return letter


class InsertAllFn(beam.DoFn):
    """Buffers rows per bundle and writes them with insertAll; emits refused rows as dead letters."""

    def __init__(
        self,
        project: str,
        table_id: str,
        endpoint: str | None,
        row_id_columns: Sequence[str],
        retry_deadline_s: float = 600.0,
    ):
        self.project = project
        self.table_id = table_id
        self.endpoint = endpoint
        self.row_id_columns = tuple(row_id_columns)
        self.retry_deadline_s = retry_deadline_s
        self.written = Metrics.counter(METRICS_NAMESPACE, f"written_{table_id.rsplit('.', 1)[-1]}")
        self.rejected = Metrics.counter(METRICS_NAMESPACE, f"rejected_{table_id.rsplit('.', 1)[-1]}")
        self.retries = Metrics.counter(METRICS_NAMESPACE, "bigquery_retries")

    def setup(self) -> None:
        self._client = kept_per_thread(
            (bigquery_client, self.project, self.endpoint),
            lambda: bigquery_client(Settings(project=self.project, bigquery_endpoint=self.endpoint)),
        )
        self._retry = Retry(
            predicate=_transient,
            initial=0.5,
            maximum=30.0,
            multiplier=2.0,
            timeout=self.retry_deadline_s,
            on_error=lambda exc: (self.retries.inc(), log.warning("BigQuery insert retry: %s", exc)),
        )

    def start_bundle(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._bytes = 0

    def process(self, row: dict[str, Any]):
        self._rows.append(row)
        self._bytes += len(json.dumps(row, default=str))
        if len(self._rows) >= _MAX_ROWS or self._bytes >= _MAX_BYTES:
            yield from self._flush()

    def finish_bundle(self):
        now = Timestamp.now()
        for out in self._flush():
            yield beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, now, [GlobalWindow()]))

    def _flush(self):
        rows, self._rows, self._bytes = self._rows, [], 0
        if not rows:
            return
        row_ids = [row_id(r, self.row_id_columns) for r in rows] if self.row_id_columns else None
        errors = self._client.insert_rows_json(
            self.table_id,
            rows,
            row_ids=row_ids,
            skip_invalid_rows=True,
            retry=self._retry,
            timeout=60,
        )
        failed = {e["index"]: e["errors"] for e in errors}
        self.written.inc(len(rows) - len(failed))
        for index, row_errors in failed.items():
            self.rejected.inc()
            yield beam.pvalue.TaggedOutput(
                REJECTED, sink_dead_letter(self.table_id, rows[index], json.dumps(row_errors))
            )


class WriteRows(beam.PTransform):
    """Rows -> BigQuery table; returns the dead letters for rows the warehouse refused."""

    def __init__(
        self,
        project: str,
        table_id: str,
        endpoint: str | None = None,
        row_id: Sequence[str] = (),
        method: str = "INSERT_ALL",
        schema: Any = None,
        retry_deadline_s: float = 600.0,
    ):
        super().__init__()
        self.retry_deadline_s = retry_deadline_s
        self.project = project
        self.table_id = table_id
        self.endpoint = endpoint
        self.row_id = tuple(row_id)
        self.method = method
        self.schema = schema

    def expand(self, rows):
        if self.method == "STORAGE_WRITE_API":
            result = rows | "StorageWrite" >> beam.io.WriteToBigQuery(
                self.table_id.replace(".", ":", 1) if self.table_id.count(".") == 2 else self.table_id,
                schema=self.schema,
                method=beam.io.WriteToBigQuery.Method.STORAGE_WRITE_API,
                create_disposition=beam.io.BigQueryDisposition.CREATE_NEVER,
                write_disposition=beam.io.BigQueryDisposition.WRITE_APPEND,
            )
            table_id = self.table_id
            return result.failed_rows_with_errors | "ToDeadLetter" >> beam.Map(
                lambda failed: sink_dead_letter(table_id, failed[1], str(failed[2]))
            )
        written = rows | "InsertAll" >> beam.ParDo(
            InsertAllFn(self.project, self.table_id, self.endpoint, self.row_id, self.retry_deadline_s)
        ).with_outputs(REJECTED, main="ignored")
        return written[REJECTED]
