"""The erasure SQL reaches every table that holds a person's rows, and the local script runner
reads its exception blocks the way BigQuery scripting does."""

from __future__ import annotations

import re

import pytest

from clickstream.app.privacy import ERASED_TABLES
from clickstream.core.paths import sql_dir
from clickstream.core.sql import Block, script_steps
from clickstream.core.tables import table_specs

ERASE = (sql_dir() / "privacy" / "erase.sql").read_text()


def test_erasure_deletes_from_every_table_with_a_user_id() -> None:
    holders = {
        name
        for name, spec in table_specs().items()
        if "user_id" in spec.field_names() and name != "deletion_requests"  # the request keeps its pseudonyms
    }
    deleted = set(re.findall(r"DELETE FROM `\$\{project\}\.\$\{dataset\}\.(\w+)`", ERASE))
    assert deleted == holders == set(ERASED_TABLES)


def test_erasure_sql_renders_with_only_project_and_dataset() -> None:
    # Terraform's templatefile() reads every ${...} and %{...}: only the two placeholders may appear.
    assert set(re.findall(r"[$%]\{([^}]*)\}", ERASE)) == {"project", "dataset"}
    assert not re.search(r"@(?!@)\w+", ERASE.replace("@@error.message", "")), "a scheduled query has no parameters"


def test_exception_blocks_are_read_as_body_and_handler() -> None:
    script = (
        "UPDATE t SET a = 1;\n"
        "BEGIN\n  DELETE FROM t WHERE a = 1;\n  SELECT 2;\n"
        "EXCEPTION WHEN ERROR THEN\n  UPDATE t SET e = @@error.message;\nEND;\n"
        "SELECT 3;\n"
    )
    assert script_steps(script) == [
        "UPDATE t SET a = 1",
        Block(body=("DELETE FROM t WHERE a = 1", "SELECT 2"), handler=("UPDATE t SET e = @@error.message",)),
        "SELECT 3",
    ]


@pytest.mark.parametrize(
    "script",
    [
        "BEGIN\n  SELECT 1;\nEND;\n",  # no handler: a plain block is pointless here
        "BEGIN\n  BEGIN\n SELECT 1;\nEXCEPTION WHEN ERROR THEN\n SELECT 2;\nEND;\n"  # nested
        "EXCEPTION WHEN ERROR THEN\n SELECT 3;\nEND;\n",
        "BEGIN\n  SELECT 1;\nEXCEPTION WHEN ERROR THEN\n  SELECT 2;\n",  # never closed
    ],
)
def test_blocks_the_local_runner_cannot_run_are_refused(script: str) -> None:
    with pytest.raises(ValueError):
        script_steps(script)
