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
