"""Cloud Trace on Google Cloud (terraform/, docs/tracing.md): one variable turns it on for the
pipeline and the collector, and only then may their service accounts write spans."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clickstream.core.paths import REPO_ROOT
from tests.infra.test_identifier_rules import assert_plan_refuses
from tests.infra.test_identifier_rules import variables_module as variables_module  # the module fixture
from tests.support import infra_checks as checks


@pytest.mark.parametrize("account", sorted(checks.BASE_GRANTS))
def test_with_tracing_off_no_account_may_write_spans(account: str) -> None:
    granted = checks.account_grants(REPO_ROOT, account, {"trace_exporter": "none"})
    assert granted == checks.BASE_GRANTS[account]
    assert checks.account_grants(REPO_ROOT, account) == granted, "tracing must be off by default"


@pytest.mark.parametrize("account", sorted(checks.BASE_GRANTS))
def test_with_cloud_trace_each_account_gets_exactly_the_trace_agent_role(account: str) -> None:
    off = checks.account_grants(REPO_ROOT, account, {"trace_exporter": "none"})
    on = checks.account_grants(REPO_ROOT, account, {"trace_exporter": "gcp"})
    assert on - off == {checks.CLOUD_TRACE_AGENT} and off <= on


def test_the_job_and_the_collector_get_the_tracing_variables() -> None:
    assert checks.tracing_is_wired(REPO_ROOT) == []
    parameters = checks.load_hcl(REPO_ROOT)["locals"]["deployment_parameters"]
    assert "trace_exporter" in parameters and "trace_sample_ratio" in parameters


def test_the_pipeline_samples_nothing_unless_spans_go_somewhere() -> None:
    """A sample ratio with trace_exporter = none would build spans only to drop them."""
    values = {"pipeline_trace_sample_ratio": "0.5", "collector_trace_sample_ratio": "0.25"}
    assert checks._evaluate(
        REPO_ROOT, ["local.pipeline_trace_sample_ratio"], {**checks.REQUIRED_VARIABLES, **values}
    ) == ["0"]
    assert checks._evaluate(
        REPO_ROOT,
        ["local.pipeline_trace_sample_ratio"],
        {**checks.REQUIRED_VARIABLES, **values, "trace_exporter": "gcp"},
    ) == ["0.5"]


@pytest.mark.parametrize(
    ("values", "refused_variable"),
    [
        ({}, None),
        ({"trace_exporter": "gcp"}, None),
        ({"trace_exporter": "gcp", "pipeline_trace_sample_ratio": "1", "collector_trace_sample_ratio": "0"}, None),
        ({"trace_exporter": "otlp"}, "trace_exporter"),  # no OTLP endpoint on Google Cloud here
        ({"trace_exporter": "GCP"}, "trace_exporter"),
        ({"pipeline_trace_sample_ratio": "1.5"}, "pipeline_trace_sample_ratio"),
        ({"collector_trace_sample_ratio": "-0.1"}, "collector_trace_sample_ratio"),
        # Set through the tracing variables, or the grant and the exporter would disagree.
        ({"pipeline_parameters": '{trace_exporter = "gcp"}'}, "pipeline_parameters"),
        ({"pipeline_parameters": '{trace_sample_ratio = "1.0"}'}, "pipeline_parameters"),
    ],
)
def test_the_tracing_variables_refuse_a_deployment_that_cannot_work(
    variables_module: Path, values: dict[str, str], refused_variable: str | None
) -> None:
    assert_plan_refuses(variables_module, values, refused_variable)


@pytest.mark.parametrize("ratio", ["0", "1e-9", "0.01", "0.5", "1"])
def test_the_job_gets_a_sample_ratio_its_template_accepts(ratio: str) -> None:
    """The Flex Template checks each parameter with the regex the pipeline's option parser wrote
    into dataflow/metadata.json: Terraform must render the number in that form (never 1e-09)."""
    metadata = json.loads((REPO_ROOT / "dataflow" / "metadata.json").read_text())
    [parameter] = [p for p in metadata["parameters"] if p["name"] == "trace_sample_ratio"]
    values = {**checks.REQUIRED_VARIABLES, "trace_exporter": "gcp", "pipeline_trace_sample_ratio": ratio}
    [rendered] = checks._evaluate(REPO_ROOT, ["local.pipeline_trace_sample_ratio"], values)
    assert all(re.fullmatch(regex, rendered) for regex in parameter["regexes"]), rendered
    assert float(rendered) == float(ratio)
