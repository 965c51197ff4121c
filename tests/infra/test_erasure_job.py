"""The erasure job on Google Cloud (issue 13): a scheduled query that runs the same SQL as
`clickstream privacy erase`, as its own service account, which may delete from the per-person
tables and update the deletion requests and nothing else (tests/infra/test_least_privilege.py)."""

from __future__ import annotations

import re

from clickstream.core.paths import REPO_ROOT
from tests.support import infra_checks as checks


def test_a_scheduled_query_runs_the_erasure_sql_as_the_erasure_account() -> None:
    hcl = checks.load_hcl(REPO_ROOT)
    transfer = hcl["resource"]["google_bigquery_data_transfer_config"]["erasure"]
    assert transfer["data_source_id"] == "scheduled_query"
    assert "google_service_account.erasure.email" in str(transfer["service_account_name"])
    assert "var.erasure_schedule" in str(transfer["schedule"])
    assert "local.erasure_sql" in str(transfer["params"])
    assert "sql/privacy/" in str(hcl["locals"]["erasure_sql"]), "the scheduled query must run the files in sql/privacy"
    depends = str(transfer.get("depends_on"))
    assert "google_bigquery_table_iam_member.erasure" in depends
    assert "google_project_iam_member.erasure_job_user" in depends


def test_the_signal_job_waits_for_its_table_grants_not_a_dataset_role() -> None:
    transfer = checks.load_hcl(REPO_ROOT)["resource"]["google_bigquery_data_transfer_config"]["signals"]
    depends = str(transfer.get("depends_on"))
    assert "google_bigquery_table_iam_member.signals" in depends
    assert "dataset_iam" not in depends


def test_the_erasure_query_fills_in_every_template_variable_of_its_sql() -> None:
    """templatefile() fails the plan on a ${name} it is not given: the SQL's variables (project,
    dataset, and the sweep period of done requests) must all be passed, the sweep period from the
    pipeline's own suppression variable."""
    sql = (REPO_ROOT / "sql" / "privacy" / "erase.sql").read_text()
    wanted = set(re.findall(r"\$\{([a-z_]+)\}", sql))
    call = str(checks.load_hcl(REPO_ROOT)["locals"]["erasure_sql"])
    given = set(re.findall(r"'([a-z_]+)': ", call)) | set(re.findall(r"\b([a-z_]+) = ", call))
    assert wanted <= given, f"erase.sql needs {sorted(wanted - given)} from terraform/scheduled_query.tf"
    assert "var.erased_user_suppression_days" in call
