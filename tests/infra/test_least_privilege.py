"""Least privilege on Google Cloud (issue 13): per-table BigQuery grants, no dataset-wide role,
dataset access blocks that leave project viewers out, bucket grants by prefix, the template
image readable by the worker, private worker IPs, audited data access and an optional CMEK key.

Grants are read from terraform/ with python-hcl2 and, where a grant has ``count`` or
``for_each``, expanded by Terraform itself (``terraform console``, offline).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.infra.test_identifier_rules import assert_plan_refuses
from tests.infra.test_identifier_rules import variables_module as variables_module  # the module fixture
from tests.support import infra_checks as checks

EDITOR, VIEWER = "roles/bigquery.dataEditor", "roles/bigquery.dataViewer"
PER_PERSON = ("events", "sessions", "dead_letters", "duplicates", "filtered", "impressions", "user_video_affinity")
SIGNAL_TABLES = (
    "propensity_em_cells",
    "position_propensity",
    "video_ctr",
    "user_video_affinity",
    "video_similarity",
    "video_trending",
)

# (table or view, role) per account: the pipeline writes its sinks and reads the catalog and the
# deletion requests; a replay runs the same sinks (dataEditor on dead_letters also reads them);
# the signal job reads events, sessions and impressions (and the views its SQL reads them through),
# the catalog and the consent refusals in filtered, and writes the signal tables only; the erasure
# job deletes from every per-person table and updates the deletion requests.
TABLE_GRANTS = {
    "dataflow_worker": {
        **{t: EDITOR for t in checks.PIPELINE_SINKS},
        "video_catalog": VIEWER,
        "deletion_requests": VIEWER,
    },
    "replay": {**{t: EDITOR for t in checks.PIPELINE_SINKS}, "video_catalog": VIEWER, "deletion_requests": VIEWER},
    "signals": {
        "events": VIEWER,
        "sessions": VIEWER,
        "impressions": VIEWER,
        "filtered": VIEWER,
        "events_deduplicated": VIEWER,
        "sessions_final": VIEWER,
        "impression_clicks": VIEWER,
        "video_catalog": VIEWER,
        **{t: EDITOR for t in SIGNAL_TABLES},
    },
    "erasure": {**{t: EDITOR for t in PER_PERSON}, "deletion_requests": EDITOR},
}


def _table_grants(account: str) -> dict[str, str]:
    granted = checks.account_grants(REPO_ROOT, account)
    tables = [(target, role) for kind, target, role in granted if kind == "google_bigquery_table_iam_member"]
    assert len({t for t, _ in tables}) == len(tables), f"{account}: two roles on one table: {sorted(tables)}"
    return dict(tables)


def test_no_account_has_a_role_on_the_whole_dataset() -> None:
    """dataEditor on the dataset let the pipeline and the signal job rewrite raw events; and a
    dataset-level *_iam_member would fight the dataset's access blocks on every apply."""
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    dataset_wide = [kind for kind in resources if kind.startswith("google_bigquery_dataset_iam")]
    assert dataset_wide == []


@pytest.mark.parametrize("account", sorted(TABLE_GRANTS))
def test_each_account_has_exactly_its_table_grants(account: str) -> None:
    assert _table_grants(account) == TABLE_GRANTS[account]


def test_only_the_pipeline_a_replay_and_the_erasure_job_may_write_raw_events() -> None:
    writers = {account for account in TABLE_GRANTS if _table_grants(account).get("events") == EDITOR}
    assert writers == {"dataflow_worker", "replay", "erasure"}


def test_every_granted_table_exists() -> None:
    """A grant on a table that tables.json or sql/views does not define would fail at apply."""
    names = set(json.loads((REPO_ROOT / "schemas/bigquery/tables.json").read_text()))
    names |= {p.stem for p in (REPO_ROOT / "sql/views").glob("*.sql")}
    for account in TABLE_GRANTS:
        assert set(_table_grants(account)) <= names, account


def test_the_erasure_job_has_its_own_account_that_may_run_queries() -> None:
    granted = checks.account_grants(REPO_ROOT, "erasure")
    assert ("google_project_iam_member", "project", "roles/bigquery.jobUser") in granted
    assert not any(kind.startswith("google_pubsub") or kind.startswith("google_storage") for kind, _, _ in granted)


def test_project_viewers_do_not_read_the_dataset() -> None:
    """Access blocks replace the default ACL (which gives projectReaders READER on every table)."""
    dataset = checks.load_hcl(REPO_ROOT)["resource"]["google_bigquery_dataset"]["clickstream"]
    access = dataset.get("access") or []
    assert access, "the dataset has no access blocks: the default ACL lets project viewers read raw events"
    groups = {(a.get("role"), a.get("special_group")) for a in access}
    assert ("OWNER", "projectOwners") in groups
    assert not any(group == "projectReaders" for _, group in groups)
    assert not any("allUsers" in str(a) or "allAuthenticatedUsers" in str(a) for a in access)


PREFIXES = {"dataflow_worker": {"staging/", "tmp/"}, "replay": {"archive/"}}


@pytest.mark.parametrize("account", sorted(PREFIXES))
def test_bucket_grants_are_restricted_by_prefix(account: str) -> None:
    grants = [
        g
        for g in checks.load_hcl(REPO_ROOT)["resource"].get("google_storage_bucket_iam_member", {}).values()
        if f"google_service_account.{account}." in str(g.get("member"))
    ]
    assert grants, f"{account} has no bucket grant"
    for grant in grants:
        condition = (grant.get("condition") or [None])[0]
        assert condition, f"{account}: {grant.get('role')} on the whole bucket"
        expression = str(condition.get("expression"))
        expression = expression.replace("\\", "")
        assert set(re.findall(r'objects/?\}?([a-z]+/)"\)', expression)) == PREFIXES[account], expression
        listed = set(re.findall(r'objectListPrefix", ""\)\.startsWith\("([a-z]+/)"\)', expression))
        assert listed <= PREFIXES[account], expression
        assert "resource.type" not in expression, "a condition on the bucket's type opens every object"


def test_no_bucket_grant_without_a_condition() -> None:
    grants = checks.load_hcl(REPO_ROOT)["resource"].get("google_storage_bucket_iam_member", {})
    assert all(g.get("condition") for g in grants.values())


def test_the_archive_expires_after_archive_retention_days() -> None:
    bucket = checks.load_hcl(REPO_ROOT)["resource"]["google_storage_bucket"]["pipeline"]
    deletes = [
        rule["condition"][0]
        for rule in bucket.get("lifecycle_rule", [])
        if rule["action"][0].get("type") == "Delete" and "archive/" in str(rule["condition"][0].get("matches_prefix"))
    ]
    assert any("var.archive_retention_days" in str(c.get("age")) for c in deletes), deletes


def test_the_worker_may_read_the_template_image() -> None:
    granted = checks.account_grants(REPO_ROOT, "dataflow_worker")
    assert ("google_artifact_registry_repository_iam_member", "var.name_prefix", "roles/artifactregistry.reader") in (
        granted
    )
    repository = next(
        iter(checks.load_hcl(REPO_ROOT)["resource"]["google_artifact_registry_repository_iam_member"].values())
    )
    assert "var.region" in str(repository.get("location"))


def test_data_access_to_bigquery_and_storage_is_audited() -> None:
    configs = checks.load_hcl(REPO_ROOT)["resource"].get("google_project_iam_audit_config", {}).values()
    audited = {
        (str(c.get("service")), str(log.get("log_type"))) for c in configs for log in c.get("audit_log_config", [])
    }
    for service in ("bigquery.googleapis.com", "storage.googleapis.com"):
        assert {(service, "DATA_READ"), (service, "DATA_WRITE")} <= audited, service


def test_every_checkov_skip_says_why() -> None:
    for path in sorted((REPO_ROOT / "terraform").glob("*.tf")):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z]+_\d+: \S.{20,}", line), f"{path.name}: {line.strip()}"


def test_the_cmek_skips_name_the_key_variable() -> None:
    """The skips for customer-managed keys used to say "pass a key" with nothing to pass it to."""
    for path in sorted((REPO_ROOT / "terraform").glob("*.tf")):
        for line in path.read_text().splitlines():
            if re.search(r"checkov:skip=CKV_GCP_(80|81|83):", line):
                assert "kms_key_name" in line or "view" in line, f"{path.name}: {line.strip()}"


def test_an_optional_kms_key_encrypts_the_dataset_the_bucket_and_every_topic() -> None:
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    dataset = resources["google_bigquery_dataset"]["clickstream"]
    assert "kms_key_name" in str(dataset.get("dynamic", dataset.get("default_encryption_configuration")))
    tables = resources["google_bigquery_table"]["tables"]
    assert "kms_key_name" in str(tables.get("dynamic"))
    bucket = resources["google_storage_bucket"]["pipeline"]
    assert "kms_key_name" in str(bucket.get("dynamic", bucket.get("encryption")))
    for name, topic in resources["google_pubsub_topic"].items():
        assert "var.kms_key_name" in str(topic.get("kms_key_name")), name
    # The service agents that encrypt for them may use the key, and only when one is given.
    agents = resources.get("google_kms_crypto_key_iam_member", {})
    assert {"bigquery", "storage", "pubsub"} <= {n.split("_")[0] for n in agents}, sorted(agents)
    for grant in agents.values():
        assert grant.get("role") == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        assert "var.kms_key_name" in str(grant.get("crypto_key_id"))
        assert "local.cmek" in str(grant.get("count"))
    assert checks._evaluate(REPO_ROOT, ["local.cmek"], checks.REQUIRED_VARIABLES) == [False]


KEY = "projects/kms-proj/locations/{}/keyRings/ring/cryptoKeys/clickstream"


@pytest.mark.parametrize(
    ("values", "refused_variable"),
    [
        ({"kms_key_name": KEY.format("us-central1")}, None),
        ({"kms_key_name": KEY.format("europe-west1")}, "kms_key_name"),  # BigQuery needs the key in its location
        ({"kms_key_name": "clickstream-key"}, "kms_key_name"),
        ({"dataflow_subnetwork": "regions/us-central1/subnetworks/dataflow"}, None),
        (
            {
                "dataflow_subnetwork": "https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/subnetworks/s"
            },
            None,
        ),
        ({"dataflow_subnetwork": "dataflow"}, "dataflow_subnetwork"),
        ({"archive_retention_days": "0"}, "archive_retention_days"),
    ],
)
def test_the_privacy_variables_refuse_a_deployment_that_cannot_work(
    variables_module: Path, values: dict[str, str], refused_variable: str | None
) -> None:
    assert_plan_refuses(variables_module, values, refused_variable)


DATAFLOW_AGENTS = {
    "dataflow": "@dataflow-service-producer-prod.iam.gserviceaccount.com",
    "compute": "@compute-system.iam.gserviceaccount.com",
}


def test_the_kms_key_encrypts_the_dataflow_jobs_state() -> None:
    """Streaming Engine keeps the dedup and session state (pseudonyms in it) for the job: with a
    key given, that state is under the key too, which the Dataflow and Compute Engine service
    agents must be allowed to use (Google's Dataflow CMEK guide), before the job starts."""
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    job = resources["google_dataflow_flex_template_job"]["pipeline"]
    assert str(job.get("kms_key_name")) == "${var.kms_key_name}"
    grants = resources.get("google_kms_crypto_key_iam_member", {})
    for agent, domain in DATAFLOW_AGENTS.items():
        grant = grants[f"{agent}_uses_key"]
        assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
        assert "var.kms_key_name" in str(grant["crypto_key_id"]) and "local.cmek" in str(grant["count"])
        assert domain in str(grant["member"]) and "data.google_project.this.number" in str(grant["member"])
        assert f"google_kms_crypto_key_iam_member.{agent}_uses_key" in str(job.get("depends_on"))


def test_the_deploy_guide_says_what_the_dataset_access_blocks_do_not_stop() -> None:
    """The access blocks take the project viewers' default read away; project-level roles still
    reach the dataset, and project editors keep WRITER because they run Terraform."""
    dataset = checks.load_hcl(REPO_ROOT)["resource"]["google_bigquery_dataset"]["clickstream"]
    groups = {(a.get("role"), a.get("special_group")) for a in dataset.get("access") or []}
    assert groups == {("OWNER", "projectOwners"), ("WRITER", "projectWriters")}
    guide = " ".join((REPO_ROOT / "docs" / "deploy.md").read_text().split())
    for needed in ("project-level", "roles/bigquery.", "projectWriters", "runs Terraform"):
        assert needed in guide, needed
