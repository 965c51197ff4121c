"""The BigQuery stand-in as the local stack starts it (``clickstream.app.local.standin``)."""

from __future__ import annotations

import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.cloud import bigquery

from clickstream.app.local import install, standin_main
from clickstream.core.bigquery_clients import bigquery_client
from clickstream.core.config import Settings

pytestmark = pytest.mark.integration


def test_the_stand_in_copies_no_table_on_an_insert(stack: Settings) -> None:
    """bqemulator copies the whole table into a time-travel snapshot after every write, so each
    insert cost as much as the table held: the local pipeline fell further behind the longer it
    ran. The local stack turns those copies off; time travel then reads the live table, which is
    the only view from outside of whether a copy was made."""
    client = bigquery_client(stack)
    dataset = client.create_dataset(f"{stack.project}.standin_{uuid.uuid4().hex[:8]}")
    table = client.create_table(
        bigquery.Table(f"{stack.project}.{dataset.dataset_id}.t", schema=[bigquery.SchemaField("n", "INTEGER")])
    )
    assert client.insert_rows_json(table, [{"n": 1}]) == []
    time.sleep(1.0)
    between = datetime.now(UTC)
    time.sleep(1.0)
    assert client.insert_rows_json(table, [{"n": 2}]) == []
    as_of = f"TIMESTAMP '{between.isoformat()}'"
    rows = client.query(f"SELECT n FROM `{stack.project}.{dataset.dataset_id}.t` FOR SYSTEM_TIME AS OF {as_of}")
    assert sorted(row.n for row in rows.result()) == [1, 2]


def test_the_pinned_stand_in_still_has_what_the_local_stack_turns_off() -> None:
    """Fails loudly when a bqemulator upgrade moves what ``standin_main`` patches (or the pin
    leaves the versions it was written against), instead of silently copying tables again."""
    pinned = next(r for r in install.BQEMULATOR_REQUIREMENTS if r.startswith("bqemulator=="))
    assert pinned.removeprefix("bqemulator==").startswith(standin_main.PATCHED_VERSIONS)
    python = install.bigquery_emulator_python(Settings.from_env())
    check = "import sys, standin_main; sys.exit(0 if standin_main.cheaper_writes() else 1)"
    done = subprocess.run(
        [str(python), "-W", "error", "-c", check],
        cwd=Path(standin_main.__file__).parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
