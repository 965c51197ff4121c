"""The local runner's remembered DoFn specs (clickstream.app.local.runner_patches): the same
answers as Beam's own, and Beam still has what the patch relies on."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.internal import pickler
from apache_beam.runners.direct import transform_evaluator
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import userstate
from apache_beam.transforms.userstate import ReadModifyWriteStateSpec, TimerSpec, on_timer

from clickstream.app.local import runner_patches
from pipelines import streaming
from tests.support.keys import key_file
from tests.support.teststream import transforms_by_label

COUNT = ReadModifyWriteStateSpec("count", VarIntCoder())
FLUSH = TimerSpec("flush", beam.TimeDomain.WATERMARK)


class _CountFn(beam.DoFn):
    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield element[0], seen

    def counted(self, element, count=beam.DoFn.StateParam(COUNT), flush=beam.DoFn.TimerParam(FLUSH)):
        yield element

    @on_timer(FLUSH)
    def on_flush(self):
        return []


def _plain(element):
    return element


@pytest.fixture
def beams_own(monkeypatch: pytest.MonkeyPatch):
    """Beam's get_dofn_specs, counting its calls by DoFn class; restored after the test."""
    original = userstate.get_dofn_specs
    calls: dict[str, int] = {}

    def counting(dofn):
        calls[type(dofn).__name__] = calls.get(type(dofn).__name__, 0) + 1
        return original(dofn)

    monkeypatch.setattr(userstate, "get_dofn_specs", counting)
    monkeypatch.setattr(transform_evaluator, "get_dofn_specs", counting)
    return original, calls


def _pipeline_dofns() -> list[beam.DoFn]:
    options = streaming.make_options(
        ["--input_subscription=projects/local-project/subscriptions/sub", f"--pseudonym_key={key_file()}"]
    )
    pipeline = streaming.new_pipeline(options)  # the local runner: bucketed dedup, session windows
    streaming.build(pipeline, options)
    return [t.dofn for t in transforms_by_label(pipeline).values() if isinstance(t, beam.ParDo)]


def test_beam_still_calls_the_specs_function_the_patch_replaces(beams_own) -> None:
    """Fails loudly if Beam 2.77's names move: the runner must reach get_dofn_specs through
    userstate (common.py, direct_userstate.py, is_stateful_dofn) or transform_evaluator's by-name import."""
    _, calls = beams_own
    assert transform_evaluator.is_stateful_dofn is userstate.is_stateful_dofn
    assert "get_dofn_specs" in userstate.is_stateful_dofn.__code__.co_names
    assert runner_patches.enable()
    assert userstate.get_dofn_specs is transform_evaluator.get_dofn_specs
    calls.clear()
    with beam.Pipeline(runner=BundleBasedDirectRunner()) as pipeline:
        counted = (
            pipeline
            | beam.Create([("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3)], reshuffle=False)
            | beam.ParDo(_CountFn())
        )
        assert_that(counted, equal_to([("a", 1), ("b", 1), ("a", 2), ("c", 1), ("a", 3)]))
    # Every bundle asked (start_bundle, DoFnSignature, the user state context); Beam answered once.
    assert calls.get("_CountFn") == 1, calls
    assert runner_patches.supported("2.77.0") and not runner_patches.supported("2.78.0")


def test_remembered_specs_equal_beams_own_for_the_pipelines_dofns(beams_own) -> None:
    original, _ = beams_own
    assert runner_patches.enable()
    remembered = userstate.get_dofn_specs
    plain_map = beam.Map(_plain).dofn
    with_params = beam.Map(lambda element, ts=beam.DoFn.TimestampParam, w=beam.DoFn.WindowParam: element).dofn
    counted = _CountFn()
    # A bound method wrapped by beam.FlatMap (Map wraps it in a lambda): Beam inspects it (a
    # MethodType), so the answer depends on the method, not only on the class CallableWrapperDoFn.
    map_of_stateful = beam.FlatMap(counted.process).dofn
    dofns = [*_pipeline_dofns(), plain_map, with_params, map_of_stateful, counted]
    stateful = [d for d in dofns if original(d) != (set(), set())]
    assert any(type(d).__name__ == "_DropSeenInBucketsFn" for d in stateful)
    assert {map_of_stateful, counted} <= set(stateful)
    for _ in range(2):  # the second round is answered from memory
        for dofn in dofns:
            for copy in (dofn, pickler.roundtrip(dofn)):  # the runner asks about a fresh copy per bundle
                assert remembered(copy) == original(copy), dofn
    assert original(counted)[1] == {FLUSH} and not original(map_of_stateful)[1]


def test_remembered_specs_are_fresh_sets_and_errors_are_not_remembered(beams_own) -> None:
    original, _ = beams_own
    assert runner_patches.enable()
    specs = userstate.get_dofn_specs(_CountFn())
    specs[0].clear()
    assert userstate.get_dofn_specs(_CountFn()) == original(_CountFn())

    class _TwoKeys(beam.DoFn):
        def process(self, element, a=beam.DoFn.KeyParam, b=beam.DoFn.KeyParam):
            yield element

    for _ in range(2):
        with pytest.raises(ValueError, match="duplicate"):
            userstate.get_dofn_specs(_TwoKeys())
