"""The validation rules live once, in schemas/validation.json: the pipeline reads them, docs/pipeline.md shows them."""

from __future__ import annotations

import re
import string

from typer.testing import CliRunner

from clickstream.app.cli import app
from clickstream.core import contract
from clickstream.core.paths import REPO_ROOT
from clickstream.core.reasons import Reason
from pipelines.options import ClickstreamOptions
from pipelines.rules.decode import Limits

PAGE = REPO_ROOT / "docs" / "pipeline.md"
_BLOCK = re.compile(r"<!-- validation rules:.*?-->\n(.*?)<!-- end of validation rules -->", re.S)


def test_the_pipeline_page_shows_the_rules_as_generated() -> None:
    shown = _BLOCK.search(PAGE.read_text())
    assert shown, "docs/pipeline.md has no generated validation-rules block"
    assert shown.group(1) == contract.rules_markdown(), "regenerate with: clickstream contract rules"


def test_the_command_prints_the_same_table() -> None:
    result = CliRunner().invoke(app, ["contract", "rules"])
    assert result.exit_code == 0 and result.output == contract.rules_markdown()


def test_every_threshold_a_rule_names_is_in_the_file_and_every_reason_exists() -> None:
    known = {str(r) for r in Reason}
    for key, rule in contract.validation_rules().items():
        named = {name for _, name, _, _ in string.Formatter().parse(rule["rule"]) if name}
        assert named <= set(rule), f"{key} names {named - set(rule)} but does not define them"
        for reason in (r.strip() for r in rule["reason"].split(",")):
            assert reason in known or reason.startswith("none"), f"{key}: {reason} is not a Reason"


def test_option_defaults_are_the_rules_thresholds() -> None:
    rules = contract.validation_rules()
    defaults = ClickstreamOptions([]).view_as(ClickstreamOptions).limits()
    assert defaults == Limits()
    assert defaults.max_payload_bytes == rules["payload_size"]["max_bytes"]
    assert defaults.future_tolerance_ms == rules["future"]["future_s"] * 1000
    assert defaults.max_age_ms == rules["max_age"]["max_age_s"] * 1000
    assert defaults.skew_tolerance_ms == rules["clock_skew"]["tolerance_s"] * 1000
    assert {rule["option"] for rule in rules.values() if "option" in rule} == {
        "max_payload_bytes",
        "future_tolerance_s",
        "max_event_age_s",
        "skew_tolerance_s",
    }
