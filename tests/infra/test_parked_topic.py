"""On Google Cloud the pipeline parks the dead letters the warehouse refuses: Terraform must
hand it the parked topic and let the worker publish there, and nowhere else."""

from __future__ import annotations

from clickstream.core.paths import REPO_ROOT
from tests.support.infra_checks import load_hcl


def _resources(hcl: dict, kind: str) -> dict[str, dict]:
    return hcl["resource"].get(kind, {})


def test_the_dataflow_job_gets_the_parked_topic_and_may_publish_to_it() -> None:
    hcl = load_hcl(REPO_ROOT)
    assert "google_pubsub_topic.parked.id" in str(hcl["locals"]["deployment_parameters"].get("parked_topic"))
    grants = [
        body
        for body in _resources(hcl, "google_pubsub_topic_iam_member").values()
        if "google_pubsub_topic.parked" in str(body.get("topic")) and "dataflow_worker" in str(body.get("member"))
    ]
    assert [g["role"] for g in grants] == ["roles/pubsub.publisher"]


def test_a_replay_may_park_what_the_dead_letters_table_refuses() -> None:
    """``clickstream replay`` runs the same sinks, so it parks on the same topic."""
    hcl = load_hcl(REPO_ROOT)
    grants = [
        body
        for body in _resources(hcl, "google_pubsub_topic_iam_member").values()
        if "google_pubsub_topic.parked" in str(body.get("topic")) and "replay" in str(body.get("member"))
    ]
    assert [g["role"] for g in grants] == ["roles/pubsub.publisher"]


def test_the_schema_revisions_are_committed_again_when_the_schema_is_replaced() -> None:
    """A replaced schema starts with its first revision only: the step that commits the rest
    must run again, not only when a revision file changes."""
    hcl = load_hcl(REPO_ROOT)
    step = hcl["resource"]["terraform_data"]["schema_revisions"]
    assert "google_pubsub_schema.event.id" in str(step["triggers_replace"])
