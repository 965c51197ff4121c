"""Dataflow workers with private IPs only (issue 13) on a network where that works.

A worker without a public IP reaches Pub/Sub, BigQuery, Secret Manager and Artifact Registry only
through Private Google Access, which the default network's subnetworks have off: with
``dataflow_subnetwork = null`` Terraform therefore creates a network and a regional subnetwork
with Private Google Access on, and the firewall rule Dataflow workers need among themselves
(ingress TCP 12345-12346 between VMs tagged ``dataflow``, which Dataflow tags every worker with).
A given subnetwork is used as it is (docs/deploy.md: it needs Private Google Access).
"""

from __future__ import annotations

import json

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.support import infra_checks as checks

CREATED = "local.create_dataflow_network"


def _resources() -> dict:
    return checks.load_hcl(REPO_ROOT)["resource"]


def _created_only_without_a_subnetwork(body: dict) -> bool:
    return CREATED in str(body.get("count"))


@pytest.mark.parametrize(
    ("subnetwork", "created"),
    [(None, True), ("regions/us-central1/subnetworks/dataflow", False)],
)
def test_terraform_creates_the_network_only_when_no_subnetwork_is_given(subnetwork: str | None, created: bool) -> None:
    values = dict(checks.REQUIRED_VARIABLES)
    if subnetwork is not None:
        values["dataflow_subnetwork"] = subnetwork
    assert checks._evaluate(REPO_ROOT, [CREATED], values) == [created]


def test_without_a_subnetwork_the_workers_get_one_with_private_google_access() -> None:
    resources = _resources()
    network = resources.get("google_compute_network", {}).get("dataflow")
    assert network, "no google_compute_network.dataflow: null put private workers on the default network"
    assert _created_only_without_a_subnetwork(network)
    assert network.get("auto_create_subnetworks") is False
    subnetwork = resources.get("google_compute_subnetwork", {}).get("dataflow")
    assert subnetwork and _created_only_without_a_subnetwork(subnetwork)
    assert subnetwork.get("private_ip_google_access") is True
    assert "var.region" in str(subnetwork.get("region"))
    assert "google_compute_network.dataflow[0]" in str(subnetwork.get("network"))
    assert subnetwork.get("log_config"), "flow logs: who the workers talked to"


def test_the_job_runs_on_the_given_subnetwork_or_the_created_one() -> None:
    hcl = checks.load_hcl(REPO_ROOT)
    job = hcl["resource"]["google_dataflow_flex_template_job"]["pipeline"]
    assert job.get("ip_configuration") == "WORKER_IP_PRIVATE"
    assert str(job.get("subnetwork")) == "${local.dataflow_subnetwork}"
    chosen = str(hcl["locals"].get("dataflow_subnetwork"))
    assert "var.dataflow_subnetwork" in chosen and "google_compute_subnetwork.dataflow" in chosen, chosen


def test_workers_may_reach_each_other_on_the_dataflow_ports_and_nothing_else() -> None:
    rules = _resources().get("google_compute_firewall", {})
    rule = rules.get("dataflow_workers")
    assert rule, "no firewall rule between Dataflow workers: a new network denies all ingress"
    assert _created_only_without_a_subnetwork(rule)
    assert "google_compute_network.dataflow[0]" in str(rule.get("network"))
    assert rule.get("direction") == "INGRESS"
    assert rule.get("source_tags") == ["dataflow"] and rule.get("target_tags") == ["dataflow"]
    assert "source_ranges" not in rule
    assert [(a.get("protocol"), a.get("ports")) for a in rule.get("allow", [])] == [("tcp", ["12345-12346"])]
    assert len(rules) == 1, sorted(rules)


def test_the_job_waits_for_the_network_it_runs_on() -> None:
    job = _resources()["google_dataflow_flex_template_job"]["pipeline"]
    assert "google_compute_firewall.dataflow_workers" in json.dumps(job.get("depends_on"))
