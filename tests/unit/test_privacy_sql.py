"""The erasure SQL reaches every table that holds a person's rows, and the local script runner
reads its exception blocks the way BigQuery scripting does."""

from __future__ import annotations

import re

import pytest

from clickstream.app.privacy import erase_script, erase_sql, erased_tables
from clickstream.core.config import ERASED_USER_SUPPRESSION_DAYS, Settings
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
    assert deleted == holders == set(erased_tables())


def test_erasure_sql_renders_with_project_dataset_and_the_sweep_period() -> None:
    # Terraform's templatefile() reads every ${...} and %{...}: only these placeholders may appear,
    # and Terraform passes each (terraform/scheduled_query.tf).
    assert set(re.findall(r"[$%]\{([^}]*)\}", ERASE)) == {"project", "dataset", "sweep_days"}
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


def test_erasure_sweeps_done_requests_for_the_sweep_period_after_they_were_made() -> None:
    # Rows of an erased person can still arrive after the request is done (the pipeline's
    # suppression side input refreshes late, open session windows still fire): the job keeps
    # deleting for done requests made less than ${sweep_days} days ago.
    assert "status = 'done' AND requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY)" in ERASE


def test_the_sweep_period_renders_as_a_whole_number_of_days_defaulting_to_the_pipelines() -> None:
    settings = Settings()
    assert f"INTERVAL {ERASED_USER_SUPPRESSION_DAYS} DAY" in erase_sql(settings)
    assert "INTERVAL 7 DAY" in erase_sql(settings, sweep_days=7)
    with pytest.raises(ValueError, match="sweep"):
        erase_sql(settings, sweep_days=-1)


def test_the_sweep_period_defaults_to_the_pipelines_suppression_period() -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.options import ClickstreamOptions

    options = PipelineOptions(["--pseudonym_key=k"]).view_as(ClickstreamOptions)
    assert options.erased_user_suppression_days == ERASED_USER_SUPPRESSION_DAYS


def test_the_checked_in_erasure_sql_is_what_its_generator_makes() -> None:
    # erase.sql is generated (one exception block per table with a user_id, from erase_table.sql) and
    # checked in, because Terraform's templatefile and `clickstream privacy erase` read it as it is.
    assert erase_script() == ERASE, "sql/privacy/erase.sql is stale: regenerate with `clickstream privacy render-sql`"
