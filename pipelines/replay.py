"""Replay and backfill: the streaming pipeline's transforms in batch over archived messages.

Inputs (``--input``):

* JSON lines or Avro files, local or ``gs://`` (globs allowed): archived Pub/Sub messages,
  see ``pipelines.archive``. A line that is not a message becomes an
  ``unreadable_archive_line`` dead letter (with the line and its file); the rest go through;
* ``pubsub://projects/P/subscriptions/S``: every message the subscription holds (pulled until
  it is empty, acknowledged only after the pipeline has written: ``pipelines.subscription``),
  e.g. the dead-letter topic's subscription;
* ``bq://project.dataset.dead_letters``: re-process dead letters after a fix (optionally
  ``--dead_letter_filter "reason = 'x'"``). A dead letter's ``payload_ids`` says what its payload
  holds: ``pseudonymised`` ids are not hashed again (``RawMessage.ids_pseudonymised``),
  ``encrypted`` payloads are opened with the keyring first, NULL (an older row) is raw.

Every input needs ``--pseudonym_key`` (the key the pipeline pseudonymises with); an archive line
that is not a message is kept sealed, as it may hold raw ids anywhere.

Outputs: the BigQuery tables (as streaming), or with ``--output_dir`` the files
``events.jsonl``, ``sessions.jsonl``, ``dead_letters.jsonl``, ``duplicates.jsonl`` and ``filtered.jsonl``.

Run::

    clickstream replay --input archive/*.jsonl --output-dir out/
    python -m pipelines.replay --input gs://bucket/archive/*.avro --project P

Batch runs use Beam's in-process FnApiRunner explicitly (the default DirectRunner would
first try to download the Prism runner). Sessions fire once per window (ON_TIME, final).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import logging
import shutil
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import orjson
from apache_beam.coders import BytesCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms import window

from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings
from clickstream.core.pseudonyms import Keyring, load_keyring
from clickstream.core.reasons import STAGE_OF, Reason, Stage
from clickstream.core.sealing import SealError, open_sealed, seal
from clickstream.core.tables import REPLAYED_AT
from pipelines import archive, replay_shards, subscription
from pipelines.graph import Outputs, catalog_input, erased_users_input, process, write_to_bigquery
from pipelines.messages import RawMessage, dead_letter_row, raw_from_dead_letter
from pipelines.options import ClickstreamOptions
from pipelines.rules import pseudonymise
from pipelines.rules.collect import rejected_dead_letter
from pipelines.rules.pseudonymise import ENCRYPTED, PSEUDONYMISED
from pipelines.timefmt import iso
from pipelines.transforms import EVENTS, IMPRESSIONS, METRICS_NAMESPACE, TABLES
from pipelines.transforms.by_user import rows_of
from pipelines.transforms.decode import require_pseudonym_key
from pipelines.transforms.park import PARKED, PARKED_DEAD_LETTER_ROW

log = logging.getLogger(__name__)

# Side outputs of reading: inputs that cannot be re-processed (as dead letters: an archive line
# that is not a message, a refused row that is not a row), and rows the warehouse refused, as
# (table, row), that go back into their table.
UNREADABLE = "unreadable"
REFUSED = "refused"
TOO_OLD_WITHOUT_PUBLISH_TIME = "too_old_without_publish_time"
# The tables with a writer of their own (``write_files``); the others' rows and the lineage
# rows are tagged lines in the part files named ``_TAGGED``.
_OWN_WRITER = (EVENTS, IMPRESSIONS)
_TAGGED = "tagged"


class ReplayOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            "--input",
            default=None,
            help="Files (JSON lines or .avro, globs, gs://), bq://PROJECT.DATASET.dead_letters or "
            "pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION.",
        )
        parser.add_argument("--output_dir", default=None, help="Write JSON-lines files here instead of BigQuery.")
        parser.add_argument("--dead_letter_filter", default=None, help="SQL condition on dead_letters rows (bq://).")
        parser.add_argument(
            "--shards",
            type=int,
            default=1,
            help="Files only, with --output_dir: split the archive by person into N shards and replay them "
            "one after another (pipelines.replay_shards). The in-process runner holds a replay's whole "
            "grouping by user in memory, so peak RSS follows the largest shard, not the archive.",
        )


class _WithKeyring(beam.DoFn):
    """``fn(element, *args, keyring)``, the keyring read once per worker from its source (the
    key itself is never pickled into the pipeline graph)."""

    def __init__(self, fn: Any, pseudonym_key: str, *args: Any) -> None:
        self.fn, self.pseudonym_key, self.args = fn, pseudonym_key, args
        self._keyring: Keyring | None = None

    def setup(self) -> None:
        self._keyring = load_keyring(self.pseudonym_key)

    def process(self, element: Any):
        yield from self.fn(element, *self.args, self._keyring)


def _sealed_letter(letter: dict[str, Any], data: bytes, keyring: Keyring) -> dict[str, Any]:
    """A dead letter whose bytes may hold raw ids anywhere (not a message at all): sealed."""
    if not data:
        return {**letter, "payload_ids": pseudonymise.NONE}
    payload = base64.b64encode(seal(keyring, data)).decode("ascii")
    return {**letter, "payload": payload, "payload_ids": ENCRYPTED, "user_id": None}


def _read_entry(element: tuple[str, bytes], keyring: Keyring) -> Iterator[RawMessage | beam.pvalue.TaggedOutput]:
    """One archive entry -> its message, or (tagged UNREADABLE) the dead letter that keeps it, sealed."""
    source, entry = element
    if entry.strip():  # a blank line holds no message
        try:
            yield archive.from_json_line(entry)
        except archive.Unreadable as exc:
            letter = archive.unreadable_dead_letter(entry, source, exc)
            yield beam.pvalue.TaggedOutput(UNREADABLE, _sealed_letter(letter, entry, keyring))


def _file_messages(element: tuple[str, str], keyring: Keyring) -> Iterator[RawMessage | beam.pvalue.TaggedOutput]:
    """Every entry of one archive file (``(path, source)``) as ``_read_entry`` makes it, named
    after ``source``, the archive file it came from."""
    path, source = element
    for entry, _ in replay_shards.text_entries(path):
        yield from _read_entry((source, entry), keyring)


def from_leased(message: RawMessage, source: str, keyring: Keyring) -> Iterator[RawMessage | beam.pvalue.TaggedOutput]:
    """A message from a subscription: itself, or, when the pipeline parked a dead-letter row it
    could not store (``transforms.park``), the message that row kept."""
    if message.attributes.get(PARKED) != PARKED_DEAD_LETTER_ROW:
        yield message
        return
    try:
        row = json.loads(message.data)
        if not isinstance(row, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:  # kept, as a dead letter saying why it cannot be replayed
        error = f"replay: a parked dead-letter row that cannot be read: {exc}"
        letter = dead_letter_row(message, Stage.READ, Reason.UNREADABLE_ARCHIVE_LINE, error)
        yield beam.pvalue.TaggedOutput(UNREADABLE, _sealed_letter(letter, message.data, keyring))
        return
    yield from from_dead_letter(row, source, keyring)


def _refused_row(payload: bytes, table: str) -> dict[str, Any]:
    """The row ``table`` refused, from the payload of its ``warehouse_rejected`` dead letter."""
    if table not in TABLES:  # the tables a refused row can go back to
        raise ValueError(f"refused_table {table!r} is not a table the pipeline writes")
    refused = json.loads(payload)
    if not isinstance(refused, dict):
        raise ValueError("the refused row is not a JSON object")
    return refused


def _stored_message(row: dict[str, Any], keyring: Keyring) -> RawMessage:
    """The message a dead letter keeps, as the pipeline must read it: a sealed payload opened
    (raises ``SealError`` when no key of the keyring opens it), pseudonymised ids marked as such
    (never hashed twice), an older row's payload (NULL ``payload_ids``) raw as it was stored."""
    raw = raw_from_dead_letter(row)
    kind = row.get("payload_ids")
    if kind == PSEUDONYMISED:
        return dataclasses.replace(raw, ids_pseudonymised=True)
    if kind == ENCRYPTED:
        return dataclasses.replace(raw, data=open_sealed(keyring, raw.data))
    return raw


def from_dead_letter(
    row: dict[str, Any], source: str, keyring: Keyring
) -> Iterator[RawMessage | beam.pvalue.TaggedOutput]:
    """A dead-letter row -> what to re-process: the row its table refused (tagged REFUSED), the
    archive line again, or the original message. An event the HTTP collector refused is JSON, not
    a contract message: it stays the same ``collect`` dead letter (tagged UNREADABLE), rebuilt from
    the attributes that say why, until the client is fixed and sends it again. A payload sealed
    under a key the keyring no longer holds stays the dead letter it was, with why."""
    reason, table = row.get("reason"), row.get("refused_table")
    try:
        raw = _stored_message(row, keyring)
    except SealError as exc:
        kept = raw_from_dead_letter(row)
        error = f"replay: {exc} (replay with the --pseudonym_key that sealed it, or let it expire)"
        dead = dead_letter_row(
            kept,
            row.get("stage") or STAGE_OF.get(reason, Stage.DECODE),
            reason or Reason.UNDECODABLE,
            error,
            event_id=row.get("event_id"),
            event_type=row.get("event_type"),
            refused_table=table,
            payload_ids=ENCRYPTED,
            user_id=row.get("user_id"),
        )
        yield beam.pvalue.TaggedOutput(UNREADABLE, dead)
        return
    if row.get("stage") == Stage.COLLECT:
        yield beam.pvalue.TaggedOutput(UNREADABLE, rejected_dead_letter(raw, keyring))
    elif reason == Reason.UNREADABLE_ARCHIVE_LINE:
        yield from _read_entry((source, raw.data), keyring)
    elif reason == Reason.WAREHOUSE_REJECTED and table:
        try:
            refused = _refused_row(raw.data, table)
        except ValueError as exc:  # kept as a dead letter, with why it cannot go back
            stage, error = STAGE_OF[Reason.WAREHOUSE_REJECTED], f"replay: {exc}"
            dead = dead_letter_row(
                raw,
                stage,
                reason,
                error,
                event_id=row.get("event_id"),
                refused_table=table,
                payload_ids=row.get("payload_ids"),
                user_id=row.get("user_id"),
            )
            yield beam.pvalue.TaggedOutput(UNREADABLE, dead)
        else:
            yield beam.pvalue.TaggedOutput(REFUSED, (table, refused))
    else:
        yield raw


def dead_letters_query(table: str, dead_letter_filter: str | None) -> str:
    """The dead letters of ``table`` to replay: those matching the filter whose message has not
    been recovered yet, so replaying the same dead letters twice stores their events once. A
    message's current outcome is the ledger's (``message_outcomes``, in the same dataset); a dead
    letter without a publish time has no identity there and is always replayed."""
    outcomes = f"{table.rsplit('.', 1)[0]}.message_outcomes"
    where = f"({dead_letter_filter}) AND " if dead_letter_filter else ""
    return (
        "SELECT d.message_id, d.publish_time, d.failed_at, d.payload, d.attributes, d.stage, d.reason, "
        f"d.refused_table, d.event_id, d.event_type, d.payload_ids, d.user_id FROM `{table}` AS d WHERE {where}"
        f"NOT EXISTS (SELECT 1 FROM `{outcomes}` AS o WHERE o.is_input "
        "AND o.outcome != 'dead_letter' AND o.message_id = d.message_id "
        # The ledger's message is (message id, publish time), a missing publish time included.
        "AND (o.publish_time = d.publish_time OR (o.publish_time IS NULL AND d.publish_time IS NULL)))"
    )


def _message_key(row: dict[str, Any]) -> tuple[str, str]:
    """The ledger's identity of a message; a row without a message id is a message of its own."""
    if row.get("message_id") is None:
        return ("", uuid.uuid4().hex)
    return (row["message_id"], str(row.get("publish_time")))


def read_inputs(
    pipeline: beam.Pipeline,
    source: str,
    dead_letter_filter: str | None,
    options: ClickstreamOptions,
    lease: subscription.Lease | None = None,
    shard: replay_shards.Shard | None = None,
    in_process: bool = True,
) -> beam.pvalue.DoOutputsTuple:
    """The input as RawMessages (main output), UNREADABLE dead letters and REFUSED rows;
    ``shard``: only that shard of the files (``replay_shards.split``). ``in_process``: Beam's
    in-process runner, which reads JSON-lines files whole, one step per file; on workers
    (``--runner``), Beam's splittable text reader."""
    key = require_pseudonym_key(options.pseudonym_key)
    if lease is not None:  # pubsub://: the messages pulled before the pipeline started
        leased = pipeline | "Leased" >> beam.Create(lease.messages)
        return leased | "ToRawMessage" >> beam.ParDo(_WithKeyring(from_leased, key, source)).with_outputs(
            UNREADABLE, REFUSED, main="messages"
        )
    if source.startswith("bq://"):
        endpoint, project = options.bigquery_endpoint, options.view_as(GoogleCloudOptions).project
        rows = (
            pipeline
            | "Query" >> beam.Create([dead_letters_query(source.removeprefix("bq://"), dead_letter_filter)])
            | "ReadDeadLetters" >> beam.FlatMap(_query_rows, endpoint, project)
            | "ByMessage" >> beam.Map(lambda row: (_message_key(row), row))
            | "GroupByMessage" >> beam.GroupByKey()
            # A message dead-lettered twice (a redelivery, an earlier replay) is replayed once.
            | "OnePerMessage" >> beam.Map(lambda kv: max(kv[1], key=lambda row: str(row["failed_at"])))
        )
        return rows | "FromDeadLetter" >> beam.ParDo(_WithKeyring(from_dead_letter, key, source)).with_outputs(
            UNREADABLE, REFUSED, main="messages"
        )
    if shard is not None or (in_process and not source.endswith(".avro")):
        # One process reads every file anyway: each file read whole by one step, its lines split
        # as Beam's text reader splits them. Beam's splittable reader claims a restriction per
        # line and adds a step per message: about 5% of a replay's CPU (docs/benchmarks.md).
        files = replay_shards.shard_files(shard) if shard else [(p, p) for p in replay_shards.matched(source)]
        return (
            pipeline
            | "ArchiveFiles" >> beam.Create(files)
            | "ReadArchive"
            >> beam.ParDo(_WithKeyring(_file_messages, key)).with_outputs(UNREADABLE, REFUSED, main="messages")
        )
    if source.endswith(".avro"):
        # Each record as a JSON line of our archive format: one reader for every entry.
        entries = (
            pipeline
            | "ReadAvro" >> beam.io.ReadFromAvro(source)
            | "AvroEntries" >> beam.Map(lambda record: (source, archive.avro_entry(record)))
        )
    else:  # workers: Beam's splittable reader spreads a large file over them
        entries = pipeline | "ReadLines" >> beam.io.ReadFromTextWithFilename(source, coder=BytesCoder())
    return entries | "ToRawMessage" >> beam.ParDo(_WithKeyring(_read_entry, key)).with_outputs(
        UNREADABLE, REFUSED, main="messages"
    )


def _query_rows(query: str, endpoint: str | None, project: str | None):
    settings = Settings(project=project or Settings().project, bigquery_endpoint=endpoint)
    for row in bigquery_client(settings).query(query).result():
        yield {**dict(row), "payload": row.payload}


def stamp(table: str, row: dict[str, Any], replayed_at: str) -> dict[str, Any]:
    """``row`` of ``table`` with its replay's ``replayed_at`` (the ledger's lineage). A sessions
    row is an output, not a message: not in the ledger, not stamped."""
    return row if table == "sessions" else {**row, REPLAYED_AT: replayed_at}


class _Stamp(beam.DoFn):
    """Stamps a table's rows (each row of a grouped element, ``Outputs.grouped``) on their way to
    BigQuery; files are stamped by their writer's coder (``write_files``), with no step per row."""

    def __init__(self, replayed_at: str) -> None:
        self.replayed_at = replayed_at

    def process(self, element: Any, table: str):
        if isinstance(element, list):  # one person's rows of the table (the batch graph)
            yield [stamp(table, row, self.replayed_at) for row in element]
        else:
            yield stamp(table, element, self.replayed_at)


def _too_old_without_publish_time(row: dict[str, Any]) -> bool:
    """A dead letter that exists only because its input had no publish time: the decode rules
    then measure an event's age from now (see ``warnings``)."""
    return row.get("reason") == Reason.EVENT_TIME_TOO_OLD and row.get("publish_time") is None


class _CountTooOld(beam.DoFn):
    """Counts the graph's ``_too_old_without_publish_time`` dead letters; a branch that yields nothing."""

    def __init__(self) -> None:
        self.too_old = Metrics.counter(METRICS_NAMESPACE, TOO_OLD_WITHOUT_PUBLISH_TIME)

    def process(self, row: dict[str, Any]):
        if _too_old_without_publish_time(row):
            self.too_old.inc()
        return ()


class _StampLineage(_CountTooOld):
    """Stamps (table, row) lineage rows, and counts their too-old dead letters."""

    def __init__(self, replayed_at: str) -> None:
        super().__init__()
        self.replayed_at = replayed_at

    def process(self, element: tuple[str, dict[str, Any]]):  # type: ignore[override]
        table, row = element
        if table == "dead_letters" and _too_old_without_publish_time(row):
            self.too_old.inc()
        yield table, stamp(table, row, self.replayed_at)


def with_lineage(
    outputs: Outputs, inputs: beam.pvalue.DoOutputsTuple, replayed_at: str, stamped_by_writer: bool = False
) -> Outputs:
    """The replay's outputs with their lineage: ``Outputs.lineage`` holds, as (table, row), the
    refused rows going back to their table and the inputs that were not messages (dead letters);
    every events/impressions/dead_letters/duplicates/filtered row, the graph's and the lineage's,
    is stamped with ``replayed_at`` (``stamp``). ``stamped_by_writer``: the graph's rows are left
    for ``write_files`` to stamp as it serialises them (given the same ``replayed_at``): a step
    per table was one more per-row hop on Beam's runner for every row of a replay."""
    stamped = {}
    for name in TABLES:
        rows = getattr(outputs, name)
        if not isinstance(rows.windowing.windowfn, window.GlobalWindows):  # streaming's session panes
            rows = rows | f"Global{name}" >> beam.WindowInto(window.GlobalWindows())
        if name != "sessions" and not stamped_by_writer:
            rows = rows | f"Stamp{name}" >> beam.ParDo(_Stamp(replayed_at), name)
        stamped[name] = rows
    _ = stamped["dead_letters"] | "CountTooOld" >> beam.ParDo(_CountTooOld())
    unreadable = inputs[UNREADABLE] | "UnreadableDeadLetters" >> beam.Map(lambda row: ("dead_letters", row))
    lineage = (
        (inputs[REFUSED], unreadable)
        | "Lineage" >> beam.Flatten()
        | "StampLineage" >> beam.ParDo(_StampLineage(replayed_at))
    )
    return dataclasses.replace(outputs, **stamped, lineage=lineage)


_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _json_line(row: dict[str, Any]) -> bytes:
    """A row as one JSON line (no newline), keys sorted, what JSON has no type for as ``str``.

    orjson, because serialising the rows was the replay's largest cost after our own decode
    (docs/benchmarks.md): about a tenth of a replay under ``json.dumps``. Datetimes still go
    through ``str`` as before. What orjson refuses and ``json`` writes (a lone surrogate in a
    string, an integer beyond 64 bits) is written by ``json`` as before: a row is never lost
    to its serialisation."""
    try:
        return orjson.dumps(row, default=str, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(row, sort_keys=True, default=str).encode()


class _JsonLineCoder(beam.coders.Coder):
    """A row as one JSON line: the sink serialises while it writes (no step of its own per row).
    A list of rows (the batch graph's rows of one person, ``Outputs.grouped``) is one line per row.
    Each line ends here, not in the sink (one write per element instead of two). With
    ``replayed_at``, each row of ``table`` is stamped as it is written (``stamp``)."""

    def __init__(self, table: str = "", replayed_at: str | None = None) -> None:
        self.table, self.replayed_at = table, replayed_at

    def encode(self, element: dict[str, Any] | list[dict[str, Any]]) -> bytes:
        return _json_lines(element, self.table, self.replayed_at)

    def decode(self, encoded: bytes) -> dict[str, Any]:
        return json.loads(encoded)

    def is_deterministic(self) -> bool:
        return True


def _json_lines(
    element: dict[str, Any] | list[dict[str, Any]], table: str, replayed_at: str | None, prefix: bytes = b""
) -> bytes:
    """The rows of ``element`` (``rows_of``) of ``table`` as JSON lines, each ended and after
    ``prefix``, stamped with ``replayed_at`` when given (``stamp``)."""
    return b"".join(
        prefix + _json_line(row if replayed_at is None else stamp(table, row, replayed_at)) + b"\n"
        for row in rows_of(element)
    )


def _tagged_lines(element: dict[str, Any] | list[dict[str, Any]], table: str, replayed_at: str | None) -> bytes:
    """``_json_lines`` as ``table<TAB>JSON line``: the lines of every small table share one
    writer, and ``join_files`` splits them. JSON escapes a tab in a string, so the first tab
    ends the name."""
    return _json_lines(element, table, replayed_at, table.encode() + b"\t")


def _parts_dir(output_dir: str) -> str:
    return f"{output_dir.rstrip('/')}/_parts"


def _parts_prefix(output_dir: str, name: str) -> str:
    return f"{_parts_dir(output_dir)}/{name}"


def _remove(path: str) -> None:
    if FileSystems.exists(path):
        FileSystems.delete([path])


def _clear_parts(output_dir: str) -> None:
    """Part files a replay killed before ``join_files`` left behind: gone before the next run
    writes its own, or the join would add the dead run's rows to this one's."""
    _remove(_parts_dir(output_dir))


def write_files(outputs: Outputs, output_dir: str, replayed_at: str | None = None) -> None:
    """Each output as part files (``join_files`` makes them ``{name}.jsonl`` once the run is done).
    ``replayed_at``: the graph's rows are stamped as they are written (``with_lineage(...,
    stamped_by_writer=True)`` left them unstamped).

    The large tables (``_OWN_WRITER``: most of a replay's rows) have a writer each, fused into
    the step that makes their rows. The other tables' rows and the lineage rows go, as tagged
    lines (``_tagged_lines``), through one writer: Beam's runner materialises the Flatten that
    joins them (each line written to a buffer and read back), which costs little for these few
    rows, while each writer costs a fixed ~0.3 s of a run here (docs/benchmarks.md).

    Not ``num_shards=1``: in Beam Python a fixed shard count sends every row through a
    GroupByKey, which the in-process runner holds in memory whole; unsharded, each bundle
    writes its own part and Beam's finalize step keeps only the parts of bundles that succeeded.
    """
    for name in _OWN_WRITER:
        getattr(outputs, name) | f"Write{name}" >> beam.io.WriteToText(
            _parts_prefix(output_dir, name),
            file_name_suffix=".jsonl",
            coder=_JsonLineCoder(name, replayed_at),
            append_trailing_newlines=False,  # the coder ends each line: one write per element
        )
    tagged = [
        getattr(outputs, name) | f"Lines{name}" >> beam.Map(_tagged_lines, name, replayed_at).with_output_types(bytes)
        for name in TABLES
        if name not in _OWN_WRITER
    ]
    if outputs.lineage is not None:  # stamped already (with_lineage)
        lineage_lines = beam.Map(lambda kv: _tagged_lines(kv[1], kv[0], None)).with_output_types(bytes)
        tagged.append(outputs.lineage | "LineageLines" >> lineage_lines)
    (
        tuple(tagged)
        | "TaggedLines" >> beam.Flatten()
        | "WriteTagged"
        >> beam.io.WriteToText(
            _parts_prefix(output_dir, _TAGGED),
            file_name_suffix=".tsv",
            coder=BytesCoder(),
            append_trailing_newlines=False,
        )
    )


def _part_paths(output_dir: str, name: str, suffix: str) -> list[str]:
    return replay_shards.paths_matching(f"{_parts_prefix(output_dir, name)}-*{suffix}")


def join_files(output_dir: str) -> None:
    """After a run of ``write_files``: ``{name}.jsonl`` from its parts and its tagged lines, and
    the parts removed."""
    with contextlib.ExitStack() as stack:
        targets = {
            name: stack.enter_context(FileSystems.create(f"{output_dir.rstrip('/')}/{name}.jsonl")) for name in TABLES
        }
        for name, out in targets.items():
            for part in _part_paths(output_dir, name, ".jsonl"):
                with FileSystems.open(part) as handle:
                    shutil.copyfileobj(handle, out)
        for part in _part_paths(output_dir, _TAGGED, ".tsv"):
            with FileSystems.open(part) as handle:
                for line in iter(handle.readline, b""):
                    table, _, row = line.partition(b"\t")
                    targets[table.decode()].write(row)
    _clear_parts(output_dir)


def warnings(result: beam.runners.runner.PipelineResult, age_flag: str = "--max_event_age_s") -> list[str]:
    """What the user of a finished replay must know, each with its fix."""
    query = result.metrics().query(MetricsFilter().with_name(TOO_OLD_WITHOUT_PUBLISH_TIME))
    too_old = sum(counter.committed or 0 for counter in query["counters"])
    found = []
    if too_old:
        found.append(
            f"{too_old} message(s) without a publish_time were dead-lettered as {Reason.EVENT_TIME_TOO_OLD}: "
            "without a publish time an event's age is measured from now, so replayed traffic older than the "
            f"maximum age is dead-lettered whole. Replay it with {age_flag} set above the age of its oldest "
            "event (in seconds), or give the archive lines their publish_time"
        )
    return found


def _graph(
    pipeline: beam.Pipeline,
    inputs: beam.pvalue.DoOutputsTuple,
    clickstream: ClickstreamOptions,
    replayed_at: str,
    output_dir: str | None,
) -> None:
    """The replay: the pipeline's graph, the replay's lineage, and the writers (files in
    ``output_dir``, or the BigQuery tables)."""
    catalog, erased = catalog_input(pipeline, clickstream), erased_users_input(pipeline, clickstream)
    outputs = process(inputs.messages, clickstream, catalog, erased=erased)
    if output_dir:
        write_files(with_lineage(outputs, inputs, replayed_at, stamped_by_writer=True), output_dir, replayed_at)
    else:
        write_to_bigquery(with_lineage(outputs, inputs, replayed_at), clickstream)


def _refuse_shards_where_they_do_not_apply(options: PipelineOptions) -> None:
    replay = options.view_as(ReplayOptions)
    if replay.shards < 1:
        raise ValueError(f"--shards must be 1 or more, not {replay.shards}")
    scheme = next((s for s in ("bq://", subscription.SCHEME) if replay.input.startswith(s)), None)
    if scheme:
        raise ValueError(
            f"--shards splits files (JSON lines or Avro) by person; a {scheme} input is read whole: "
            "replay it without --shards"
        )
    if not replay.output_dir:
        raise ValueError(
            "--shards needs --output_dir: the shards' rows stay part files until every shard is done, "
            "so a failed shard leaves no half output (BigQuery tables could not be taken back)"
        )
    if options.view_as(StandardOptions).runner:
        raise ValueError(
            "--shards is for the in-process runner, which holds a replay's grouping in memory; with "
            f"--runner {options.view_as(StandardOptions).runner} the workers hold it: replay without --shards"
        )


def _adopt_parts(shard_dir: str, output_dir: str, index: int) -> None:
    """A finished shard's part files, moved into the replay's ``_parts`` and named per shard
    (``events-shard00003-...``: shards do not overwrite each other's), for ``join_files``."""
    parts = replay_shards.paths_matching(f"{_parts_dir(shard_dir)}/*")
    if not parts:
        return
    target = _parts_dir(output_dir)
    if not FileSystems.exists(target):
        FileSystems.mkdirs(target)
    renamed = []
    for part in parts:
        name, _, rest = part.rsplit("/", 1)[-1].partition("-")
        renamed.append(f"{target}/{name}-shard{index:05d}-{rest}")
    FileSystems.rename(parts, renamed)


def _run_sharded(options: PipelineOptions) -> replay_shards.ShardedResult:
    """``--shards N``: the archive split by person (``replay_shards.split``), each shard replayed
    in turn as an ordinary replay, all stamped with one ``replayed_at``; the outputs are joined
    once every shard is done. A failed shard fails the replay with no output file written, and
    what it leaves (``_parts``, ``_shards``) is removed here or by the next run, never joined."""
    _refuse_shards_where_they_do_not_apply(options)
    replay, clickstream = options.view_as(ReplayOptions), options.view_as(ClickstreamOptions)
    output_dir, replayed_at = replay.output_dir, iso(time.time_ns() // 1_000_000)
    work = f"{output_dir.rstrip('/')}/_shards"
    _clear_parts(output_dir)
    _remove(work)
    results = []
    try:
        shards = replay_shards.split(replay.input, replay.shards, f"{work}/in")
        for shard in shards:
            if not shard.messages:
                continue
            shard_dir = f"{work}/out-{shard.index:05d}"
            try:
                pipeline = beam.Pipeline(runner=FnApiRunner(), options=options)
                inputs = read_inputs(pipeline, replay.input, None, clickstream, shard=shard)
                _graph(pipeline, inputs, clickstream, replayed_at, shard_dir)
                result = pipeline.run()
                result.wait_until_finish()
            except Exception as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise RuntimeError(
                    f"shard {shard.index + 1} of {len(shards)} failed ({type(exc).__name__}: {detail}); "
                    f"the replay wrote no output file in {output_dir}: run it again"
                ) from exc
            if result.state != PipelineState.DONE:
                raise RuntimeError(f"shard {shard.index + 1} of {len(shards)} ended {result.state}: no output file")
            results.append(result)
            _adopt_parts(shard_dir, output_dir, shard.index)
            _remove(replay_shards.shard_folder(f"{work}/in", shard.index))  # its copy of the archive: done
        join_files(output_dir)
    except BaseException:
        _clear_parts(output_dir)
        raise
    finally:
        _remove(work)
    return replay_shards.ShardedResult(results)


def run(argv: Sequence[str] | None = None) -> beam.runners.runner.PipelineResult:
    options = PipelineOptions(argv)
    options.view_as(StandardOptions).streaming = False
    replay = options.view_as(ReplayOptions)
    clickstream = options.view_as(ClickstreamOptions)
    if not replay.input:
        raise ValueError(
            "--input is required: files (JSON lines or .avro), bq://PROJECT.DATASET.dead_letters "
            "or pubsub://projects/PROJECT/subscriptions/SUBSCRIPTION"
        )
    if replay.shards != 1:
        return _run_sharded(options)
    runner = None if options.view_as(StandardOptions).runner else FnApiRunner()
    # pubsub://: lease everything first; acknowledged only once the pipeline has written, handed
    # back (a delivery attempt) if anything fails.
    pubsub = replay.input.startswith(subscription.SCHEME)
    with subscription.leased(replay.input) if pubsub else contextlib.nullcontext() as lease:
        pipeline = beam.Pipeline(runner=runner, options=options)
        inputs = read_inputs(
            pipeline, replay.input, replay.dead_letter_filter, clickstream, lease, in_process=runner is not None
        )
        # A dry run (--dry_run, a Dataflow graph built offline) writes no parts: nothing to clear or join.
        files = replay.output_dir if not options.view_as(TestOptions).dry_run else None
        if files:
            _clear_parts(files)
        _graph(pipeline, inputs, clickstream, iso(time.time_ns() // 1_000_000), replay.output_dir)
        result = pipeline.run()
        result.wait_until_finish()
        if files and result.state == PipelineState.DONE:
            join_files(files)
        if lease is not None:
            if result.state != PipelineState.DONE:
                raise RuntimeError(f"the replay ended {result.state}: the messages go back to {lease.subscription}")
            lease.ack()
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for warning in warnings(run(sys.argv[1:])):
        log.warning(warning)
