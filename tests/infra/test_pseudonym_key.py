"""The pseudonymisation key on Google Cloud (issue 13): a Secret Manager secret that Terraform
creates without a version (the key's value must never be in Terraform state), readable by the
accounts that pseudonymise and by no one else, handed to the Dataflow job with the privacy
options."""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

from clickstream.core.paths import REPO_ROOT
from pipelines.options import CONSENT_DEFAULTS
from tests.infra.test_identifier_rules import assert_plan_refuses
from tests.infra.test_identifier_rules import variables_module as variables_module  # the module fixture
from tests.support import infra_checks as checks

ACCESSOR = "roles/secretmanager.secretAccessor"
METADATA = REPO_ROOT / "dataflow" / "metadata.json"


def test_the_secret_has_no_version_in_terraform() -> None:
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    assert "pseudonym_key" in resources.get("google_secret_manager_secret", {})
    assert "google_secret_manager_secret_version" not in resources
    for path in (REPO_ROOT / "terraform").glob("*.tf"):
        assert not re.search(r"\bsecret_data\b", path.read_text()), path.name


def test_only_the_accounts_that_pseudonymise_may_read_the_key_and_only_that_secret() -> None:
    resources = checks.load_hcl(REPO_ROOT)["resource"]
    readers = {
        re.sub(r".*google_service_account\.([a-z_]+)\..*", r"\1", str(g.get("member")))
        for g in resources.get("google_secret_manager_secret_iam_member", {}).values()
        if g.get("role") == ACCESSOR
        and "google_secret_manager_secret.pseudonym_key." in str(g.get("secret_id"))
        and "google_service_account." in str(g.get("member"))
    }
    # The pipeline and a replay pseudonymise; `clickstream privacy forget` and `recommend --user`
    # run as the erasure account hash the raw id they are given.
    assert readers == {"dataflow_worker", "replay", "erasure"}
    for kind, named in resources.items():
        for name, grant in named.items():
            if "secretmanager" in str(grant.get("role")):
                assert kind == "google_secret_manager_secret_iam_member", f"{kind}.{name}: beyond the one secret"


def test_the_job_gets_the_key_the_consent_default_and_the_suppression_period() -> None:
    parameters = checks.load_hcl(REPO_ROOT)["locals"]["deployment_parameters"]
    assert str(parameters.get("pseudonym_key")) == "${local.pseudonym_key_version_name}"
    assert "var.consent_default" in str(parameters.get("consent_default"))
    assert "var.erased_user_suppression_days" in str(parameters.get("erased_user_suppression_days"))


def test_the_job_waits_for_its_key_access() -> None:
    job = checks.load_hcl(REPO_ROOT)["resource"]["google_dataflow_flex_template_job"]["pipeline"]
    depends = str(job.get("depends_on"))
    assert "google_secret_manager_secret_iam_member.dataflow_reads_pseudonym_key" in depends
    assert "google_bigquery_table_iam_member.dataflow_worker" in depends


def test_an_output_gives_the_one_time_command_that_adds_the_key() -> None:
    with (REPO_ROOT / "terraform" / "outputs.tf").open() as handle:
        parsed = hcl2.load(handle, serialization_options=SerializationOptions(strip_string_quotes=True))
    outputs = {name: body for block in parsed.get("output", []) for name, body in block.items()}
    command = str(outputs["pseudonym_key_command"]["value"])
    assert "gcloud secrets versions add" in command and "--data-file=-" in command
    assert "google_secret_manager_secret.pseudonym_key" in command


def test_the_consent_default_is_one_the_pipeline_accepts() -> None:
    variable = checks.load_hcl(REPO_ROOT)["variable"]["consent_default"]
    assert variable["default"] in CONSENT_DEFAULTS


@pytest.mark.parametrize(
    ("values", "refused_variable"),
    [
        ({"consent_default": "denied"}, None),
        ({"consent_default": "granted"}, None),
        ({"consent_default": "maybe"}, "consent_default"),
        ({"erased_user_suppression_days": "0"}, None),
        ({"erased_user_suppression_days": "-1"}, "erased_user_suppression_days"),
        ({"erased_user_suppression_days": "1.5"}, "erased_user_suppression_days"),
        # Set through their variables, so the secret and its grant are the ones the job reads.
        ({"pipeline_parameters": '{pseudonym_key = "/tmp/key"}'}, "pipeline_parameters"),
        ({"pipeline_parameters": '{consent_default = "denied"}'}, "pipeline_parameters"),
    ],
)
def test_the_key_and_consent_variables_refuse_a_deployment_that_cannot_work(
    variables_module: Path, values: dict[str, str], refused_variable: str | None
) -> None:
    assert_plan_refuses(variables_module, values, refused_variable)


def test_a_serving_identity_named_in_a_variable_may_read_the_key_and_nothing_else_by_it() -> None:
    """`clickstream recommend --user RAW` hashes the raw id: the identity that serves
    recommendations (not created here) needs the key, on that one secret."""
    resources = checks.load_hcl(REPO_ROOT)["resource"]["google_secret_manager_secret_iam_member"]
    grant = resources["extra_readers_of_pseudonym_key"]
    assert grant["role"] == ACCESSOR and "var.pseudonym_key_readers" in str(grant["for_each"])
    assert "google_secret_manager_secret.pseudonym_key.id" in str(grant["secret_id"])
    readers = '["serviceAccount:serving@p.iam.gserviceaccount.com"]'
    [count] = checks._evaluate(
        REPO_ROOT,
        ["length(toset(var.pseudonym_key_readers))"],
        {**checks.REQUIRED_VARIABLES, "pseudonym_key_readers": readers},
    )
    assert count == 1


@pytest.mark.parametrize(
    ("readers", "refused"),
    [
        ('["serviceAccount:serving@p.iam.gserviceaccount.com", "group:oncall@example.com"]', False),
        ('["allUsers"]', True),
        ('["allAuthenticatedUsers"]', True),
        ('["serving@p.iam.gserviceaccount.com"]', True),  # a member needs its kind
    ],
)
def test_the_key_readers_must_be_named_members(variables_module: Path, readers: str, refused: bool) -> None:
    assert_plan_refuses(
        variables_module, {"pseudonym_key_readers": readers}, "pseudonym_key_readers" if refused else None
    )


def test_the_template_refuses_a_consent_default_the_pipeline_does_not_know() -> None:
    """`gcloud dataflow flex-template run` (and the console) check parameters against metadata.json."""
    [parameter] = [p for p in json.loads(METADATA.read_text())["parameters"] if p["name"] == "consent_default"]
    patterns = parameter.get("regexes")
    assert patterns, "metadata.json lets consent_default be anything"
    for value, accepted in [*((v, True) for v in CONSENT_DEFAULTS), ("maybe", False), ("", False), ("Granted", False)]:
        assert all(re.fullmatch(p, value) for p in patterns) == accepted, value


def test_every_worker_reads_the_same_numbered_key_version_never_latest() -> None:
    """Each worker loads the key when it starts: with versions/latest, a worker started after a
    version was added (autoscaling, a replaced worker) would hash with the new key while the
    others still use the old one, giving one person two pseudonyms at once."""
    version_name = str(checks.load_hcl(REPO_ROOT)["locals"]["pseudonym_key_version_name"])
    assert version_name == "${google_secret_manager_secret.pseudonym_key.id}/versions/${var.pseudonym_key_version}"
    for path in sorted((REPO_ROOT / "terraform").glob("*.tf")):
        code = "\n".join(line.split("#")[0] for line in path.read_text().splitlines())
        assert "versions/latest" not in code, path.name


def test_the_key_version_defaults_to_the_first_version_the_key_command_adds() -> None:
    """A first deployment works without choosing a version: pseudonym_key_command adds version 1."""
    assert checks._evaluate(REPO_ROOT, ["var.pseudonym_key_version"], checks.REQUIRED_VARIABLES) == ["1"]


@pytest.mark.parametrize(
    ("version", "refused"),
    [
        *(("1", False), ("2", False), ("17", False)),
        *(("0", True), ("latest", True), ("-1", True), ("1.5", True), ("01", True), ("", True), ("v2", True)),
    ],
)
def test_the_key_version_must_be_a_positive_whole_number(variables_module: Path, version: str, refused: bool) -> None:
    assert_plan_refuses(
        variables_module, {"pseudonym_key_version": version}, "pseudonym_key_version" if refused else None
    )


def test_the_outputs_name_the_pinned_version_for_the_other_readers_and_the_rotation() -> None:
    """Erasure (`privacy forget`) and serving (`recommend --user`) read the key through
    CLICKSTREAM_PSEUDONYM_KEY: an output gives them the version the job uses."""
    with (REPO_ROOT / "terraform" / "outputs.tf").open() as handle:
        parsed = hcl2.load(handle, serialization_options=SerializationOptions(strip_string_quotes=True))
    outputs = {name: body for block in parsed.get("output", []) for name, body in block.items()}
    assert str(outputs["pseudonym_key_version_name"]["value"]) == "${local.pseudonym_key_version_name}"
    assert "pseudonym_key_version" in str(outputs["pseudonym_key_command"]["description"])


def test_the_deploy_guide_rotates_by_adding_a_version_then_pinning_it() -> None:
    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    assert "versions/latest" not in guide
    rotation = guide[guide.index("**Rotating the key on Google Cloud.**") :]
    steps = [rotation.index(s) for s in ("new key first", "pseudonym_key_version", "terraform")]
    assert steps == sorted(steps), steps
