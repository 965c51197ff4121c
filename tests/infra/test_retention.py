"""Retention on Google Cloud (issue 13): every table of per-person data expires its partitions
after the number of days in schemas/bigquery/tables.json (the number the local stack uses too),
unless its own Terraform variable (``<table>_retention_days``, named in tables.json) overrides it.

The days are evaluated by Terraform itself (``terraform console`` on the module's variables and
locals, offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.infra.test_identifier_rules import assert_plan_refuses
from tests.infra.test_identifier_rules import variables_module as variables_module  # the module fixture
from tests.support import infra_checks as checks

TABLES = json.loads((REPO_ROOT / "schemas" / "bigquery" / "tables.json").read_text())
RETAINED = {name: spec for name, spec in TABLES.items() if "partition_expiration_days" in spec}


def _expiration_days(values: dict[str, str] | None = None) -> dict[str, int | None]:
    [days] = checks._evaluate(
        REPO_ROOT, ["local.partition_expiration_days"], {**checks.REQUIRED_VARIABLES, **(values or {})}
    )
    return days


def test_every_per_person_table_expires_after_the_days_in_tables_json() -> None:
    assert set(RETAINED) >= {"events", "sessions", "dead_letters", "duplicates", "filtered"}
    days = _expiration_days()
    assert {name: days.get(name) for name in RETAINED} == {
        name: spec["partition_expiration_days"] for name, spec in RETAINED.items()
    }


def test_a_table_without_a_retention_keeps_its_partitions() -> None:
    days = _expiration_days()
    assert all(days.get(name) is None for name in TABLES if name not in RETAINED)


@pytest.mark.parametrize("table", sorted(RETAINED))
def test_a_retention_variable_overrides_its_own_table_only(table: str) -> None:
    days = _expiration_days({RETAINED[table]["retention_variable"]: "3"})
    assert days[table] == 3
    assert {n: d for n, d in days.items() if n != table and n in RETAINED} == {
        n: s["partition_expiration_days"] for n, s in RETAINED.items() if n != table
    }


def test_every_retention_variable_named_in_tables_json_exists() -> None:
    variables = checks.load_hcl(REPO_ROOT)["variable"]
    for name, spec in RETAINED.items():
        variable = variables.get(spec["retention_variable"])
        assert variable is not None, f"{name}: no variable {spec['retention_variable']}"
        assert variable.get("default") is None, f"{spec['retention_variable']}: null means the tables.json number"


def test_the_tables_expire_partitions_by_those_days() -> None:
    tables = checks.load_hcl(REPO_ROOT)["resource"]["google_bigquery_table"]["tables"]
    assert "local.partition_expiration_days" in str(tables["dynamic"])


def test_the_raw_events_variable_is_gone() -> None:
    """One variable per table replaces it; keeping both would leave two numbers for events."""
    assert "raw_events_partition_expiration_days" not in checks.load_hcl(REPO_ROOT)["variable"]


@pytest.mark.parametrize(
    ("values", "refused_variable"),
    [
        ({"events_retention_days": "1"}, None),
        ({"events_retention_days": "0"}, "events_retention_days"),
        ({"duplicates_retention_days": "-1"}, "duplicates_retention_days"),
    ],
)
def test_the_retention_variables_refuse_a_retention_under_a_day(
    variables_module: Path, values: dict[str, str], refused_variable: str | None
) -> None:
    assert_plan_refuses(variables_module, values, refused_variable)


def test_the_scheduled_signal_query_fills_in_every_parameter_including_keep_runs() -> None:
    """A scheduled query has no query parameters but @run_time: each one of params.json (keep_runs,
    the signal tables' retention in runs, among them) becomes a literal, or the query fails."""
    params = json.loads((REPO_ROOT / "sql" / "signals" / "params.json").read_text())
    assert "keep_runs" in params
    signal_sql = str(checks.load_hcl(REPO_ROOT)["locals"]["signal_sql"])
    replaced = set(re.findall(r'"@([a-z_]+)"', signal_sql))
    assert replaced == {"as_of", *params}
