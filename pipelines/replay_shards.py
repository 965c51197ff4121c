"""A replay in shards by person (``--shards N``): what keeps a large archive inside one machine.

Beam's in-process runner holds a replay's whole grouping by user in memory (about 9 KB per
event at 100k events, docs/benchmarks.md), so the peak RSS of a replay grows with the archive.
Everything the batch graph decides across messages is decided within one person: the
de-duplication key is the person and the event_id (``rules.dedup.dedup_key``), sessions are per
person, and the privacy filter and decoding look at one message. So an archive split by person
replays shard by shard into exactly the rows one replay writes, and the peak RSS follows the
largest shard, not the archive.

``split`` is the pre-pass: it streams the archive once, entry by entry (bounded memory), and
writes each entry, untouched, into the file of its shard. The shard is a stable hash of the
person (``shard_of``): the ``user_id`` the contract decode reads from the payload (the raw id;
the pipeline keys by its pseudonym, one per raw id, so a person's messages share a shard). An
entry with no readable person (not a message, bytes that are not the contract) goes to shard 0,
so every entry is in exactly one shard, once. Each source file has its own file in each shard
(``{shard:05d}/{source:06d}.jsonl``), so that the replay of a shard still names the archive
file an unreadable line came from (``shard_files``). Avro records become lines of the archive
format (``archive.avro_entry``), as the replay reads them.

A message is decoded twice in all: here, for its person, and in the replay of its shard.
``ShardedResult`` is the replay's result: its state and its counters, added up over the shards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import fastavro
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.execution import MetricResult
from apache_beam.metrics.metric import MetricResults, MetricsFilter
from apache_beam.runners.runner import PipelineResult, PipelineState

from pipelines import archive
from pipelines.messages import RawMessage
from pipelines.rules.decode import read_record
from pipelines.rules.dedup import bucket_of

NO_PERSON_SHARD = 0


def person_of(raw: RawMessage) -> str | None:
    """The person of a message as the pipeline's decode reads it (the raw ``user_id`` of the
    contract record), or None when its bytes are not an event of the contract."""
    try:
        record = read_record(raw.data, raw.attributes.get("schema_version"))
    except Exception:  # the pipeline makes it a dead letter: no person, no grouping
        return None
    user = record.get("user_id") if isinstance(record, dict) else None
    return user if isinstance(user, str) and user.strip() else None


def shard_of(person: str | None, shards: int) -> int:
    """A stable shard for a person (the same in every process and run, unlike ``hash``)."""
    if person is None:
        return NO_PERSON_SHARD
    return bucket_of(person, shards)


def entry_shard(entry: bytes, shards: int, person: Callable[[RawMessage], str | None] = person_of) -> int:
    """The shard of one archive entry (a JSON line without its line end)."""
    if not entry.strip():
        return NO_PERSON_SHARD
    try:
        raw = archive.from_json_line(entry)
    except archive.Unreadable:
        return NO_PERSON_SHARD
    return shard_of(person(raw), shards)


@dataclass(frozen=True)
class Shard:
    index: int
    folder: str
    sources: tuple[str, ...]  # the source of file ``{i:06d}.jsonl`` of every shard: sources[i]
    messages: int  # entries written (blank lines, which hold no message, are not counted)

    @property
    def pattern(self) -> str:
        return f"{self.folder}/{self.index:05d}/*.jsonl"


def shard_folder(folder: str, index: int) -> str:
    return f"{folder.rstrip('/')}/{index:05d}"


def source_index(path: str) -> int:
    """The source number of a shard file, from its name (``000012.jsonl`` -> 12)."""
    return int(path.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0])


def text_entries(path: str) -> Iterator[tuple[bytes, bytes]]:
    """(entry, its line as stored) per line, split as Beam's text reader splits them: at ``\\n``,
    a ``\\r`` before it part of the line end; the last line may have no end."""
    with FileSystems.open(path) as handle:
        while line := handle.readline():
            if line.endswith(b"\n"):
                yield line[:-2] if line.endswith(b"\r\n") else line[:-1], line
            else:  # the last line, without an end: one that reads back as the same entry
                yield line, line + (b"\r\n" if line.endswith(b"\r") else b"\n")


def _avro_entries(path: str) -> Iterator[tuple[bytes, bytes]]:
    with FileSystems.open(path) as handle:
        for record in fastavro.reader(handle):
            entry = archive.avro_entry(record)
            yield entry, entry + b"\n"


def paths_matching(pattern: str) -> list[str]:
    """The paths a file pattern (local or ``gs://``, globs allowed) matches, sorted."""
    return sorted(m.path for r in FileSystems.match([pattern]) for m in r.metadata_list)


def matched(pattern: str) -> list[str]:
    paths = paths_matching(pattern)
    if not paths:
        raise FileNotFoundError(f"No files found based on the file pattern {pattern}")
    return paths


def split(source: str, shards: int, folder: str, person: Callable[[RawMessage], str | None] = person_of) -> list[Shard]:
    """Writes every entry of the files ``source`` matches into the file of its shard under
    ``folder``, one entry in memory at a time; returns the shards. Avro files (``.avro``) are
    read as the replay reads them, under the name the replay gives them (the pattern)."""
    avro = source.endswith(".avro")
    paths = matched(source)
    counts = [0] * shards
    for number, path in enumerate(paths):
        writers: dict[int, Any] = {}
        try:
            for entry, stored in (_avro_entries if avro else text_entries)(path):
                k = entry_shard(entry, shards, person)
                if k not in writers:
                    writers[k] = FileSystems.create(f"{shard_folder(folder, k)}/{number:06d}.jsonl")
                writers[k].write(stored)
                counts[k] += bool(entry.strip())
        finally:
            for writer in writers.values():
                writer.close()
    sources = tuple(source if avro else path for path in paths)
    return [Shard(k, folder.rstrip("/"), sources, counts[k]) for k in range(shards)]


def shard_files(shard: Shard) -> list[tuple[str, str]]:
    """A shard's files as (path, source): each with the name of the archive file its entries
    came from, which the replay gives an unreadable line's dead letter."""
    return [(path, shard.sources[source_index(path)]) for path in paths_matching(shard.pattern)]


def _add(a: Any, b: Any) -> Any:
    """Two shards' values of one metric: counters added, distributions and gauges combined."""
    if a is None or b is None:
        return b if a is None else a
    if isinstance(a, int | float):
        return a + b
    data = getattr(a, "data", None)
    if data is not None and hasattr(data, "combine"):
        return type(a)(data.combine(b.data))
    return b


class _SummedMetrics(MetricResults):
    def __init__(self, results: list[PipelineResult]) -> None:
        self.results = results

    def query(self, filter: MetricsFilter | None = None) -> dict[str, list[MetricResult]]:
        merged: dict[str, dict[Any, MetricResult]] = {}
        for result in self.results:
            for kind, items in result.metrics().query(filter).items():
                by_key = merged.setdefault(kind, {})
                for item in items:
                    seen = by_key.get(item.key)
                    if seen is None:
                        by_key[item.key] = MetricResult(item.key, item.committed, item.attempted)
                    else:
                        seen.committed = _add(seen.committed, item.committed)
                        seen.attempted = _add(seen.attempted, item.attempted)
        kinds = (MetricResults.COUNTERS, MetricResults.DISTRIBUTIONS, MetricResults.GAUGES)
        return {kind: list(merged.get(kind, {}).values()) for kind in {*kinds, *merged}}


class ShardedResult(PipelineResult):
    """The result of a sharded replay: DONE once every shard is; metrics added up over shards."""

    def __init__(self, shard_results: list[PipelineResult]) -> None:
        done = all(r.state == PipelineState.DONE for r in shard_results)
        super().__init__(PipelineState.DONE if done else PipelineState.FAILED)
        self.shard_results = shard_results

    def wait_until_finish(self, duration: int | None = None) -> str:
        return self.state

    def metrics(self) -> MetricResults:
        return _SummedMetrics(self.shard_results)
