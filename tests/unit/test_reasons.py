"""One vocabulary of outcomes: the reasons live in clickstream.core.reasons and nowhere else."""

from __future__ import annotations

import re

from clickstream.core.paths import REPO_ROOT
from clickstream.core.reasons import STAGE_OF, Reason, Stage
from emitters.events import encode_event
from emitters.simulator import INVALID_REASONS, Simulator, TrafficProfile
from pipelines.messages import RawMessage
from pipelines.rules.decode import Limits, decode_and_validate
from tests.support.keys import keyring


def test_every_reason_has_a_stage() -> None:
    assert set(STAGE_OF) == set(Reason)
    assert STAGE_OF[Reason.UNDECODABLE] is Stage.DECODE
    assert STAGE_OF[Reason.INVALID_SLOT] is Stage.VALIDATE
    assert STAGE_OF[Reason.WAREHOUSE_REJECTED] is Stage.SINK


def test_no_module_spells_a_reason_code_itself() -> None:
    """Code names reasons through the enum, so a rename cannot leave a stale copy behind."""
    codes = "|".join(re.escape(r.value) for r in Reason)
    literal = re.compile(rf"""["']({codes})["']""")
    offenders = [
        f"{path.relative_to(REPO_ROOT)}: {match.group(1)}"
        for part in ("clickstream", "emitters", "pipelines")
        for path in (REPO_ROOT / part).rglob("*.py")
        if path.name != "reasons.py"
        for match in literal.finditer(path.read_text())
    ]
    assert offenders == []


def test_the_simulator_names_invalid_events_after_the_reason_the_pipeline_gives() -> None:
    assert set(INVALID_REASONS) <= set(Reason)
    start_ms = 1_790_000_000_000
    simulator = Simulator(TrafficProfile(rate=50, session_gap_s=10, seed=5, invalid=0.3), start_ms)
    seen: dict[str, str] = {}
    for emission in simulator.emissions():
        if not emission.kind.startswith("invalid:"):
            continue
        # Sent, published and processed when the simulator says it was sent.
        sent_at = int(start_ms + emission.due_s * 1000)
        raw = RawMessage(encode_event(emission.event, sent_at), emission.event.attributes(), "m-1", sent_at)
        outcome = decode_and_validate(raw, Limits(), keyring(), now_ms=sent_at)
        assert outcome.dead_letter is not None, emission.kind
        seen[emission.kind.removeprefix("invalid:")] = outcome.dead_letter["reason"]
        if len(seen) == len(INVALID_REASONS):
            break
    assert seen == {reason: reason for reason in INVALID_REASONS}
