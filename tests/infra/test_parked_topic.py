"""On Google Cloud the pipeline (and a replay, which runs the same sinks) parks the dead letters
the warehouse refuses: Terraform must hand the job the parked topic and let exactly those two
accounts publish there."""

from __future__ import annotations

from clickstream.core.paths import REPO_ROOT
from tests.support.infra_checks import load_hcl


def _roles_on_parked_topic(hcl: dict, account: str) -> list[str]:
    return [
        body["role"]
        for body in hcl["resource"].get("google_pubsub_topic_iam_member", {}).values()
        if "google_pubsub_topic.parked" in str(body.get("topic")) and account in str(body.get("member"))
    ]


def test_the_dataflow_job_gets_the_parked_topic_and_may_publish_to_it() -> None:
    hcl = load_hcl(REPO_ROOT)
    assert "google_pubsub_topic.parked.id" in str(hcl["locals"]["deployment_parameters"].get("parked_topic"))
    assert _roles_on_parked_topic(hcl, "dataflow_worker") == ["roles/pubsub.publisher"]


def test_a_replay_may_park_what_the_dead_letters_table_refuses() -> None:
    assert _roles_on_parked_topic(load_hcl(REPO_ROOT), "service_account.replay") == ["roles/pubsub.publisher"]


def test_the_schema_revisions_are_committed_again_when_the_schema_is_replaced() -> None:
    """A replaced schema starts with its first revision only: the step that commits the rest
    must run again, not only when a revision file changes."""
    step = load_hcl(REPO_ROOT)["resource"]["terraform_data"]["schema_revisions"]
    assert "google_pubsub_schema.event.id" in str(step["triggers_replace"])
