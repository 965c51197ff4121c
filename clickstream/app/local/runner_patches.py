"""Remembered DoFn state/timer specs for the local runner: the second place this project
reaches into Beam (the first is ``pull_size``; both are applied by ``clickstream.app.local.runner``).

For every bundle of every stateful-or-not ParDo, Beam's in-process runner (``_ParDoEvaluator.start_bundle``
in ``apache_beam/runners/direct/transform_evaluator.py``) asks ``userstate.is_stateful_dofn`` and
``get_dofn_specs``, and the ``DoFnSignature`` its ``DoFnRunner`` builds asks them again
(``apache_beam/runners/common.py``), as does ``DirectUserStateContext``; the executor asks
``is_stateful_dofn`` once more per bundle (``should_execute_serially``). Each call walks ``dir(dofn)``
and runs ``inspect.signature`` on every method: 28% of the local pipeline's CPU at 100 events/s
(docs/local-streaming.md), for answers that never change while it runs.

What ``get_dofn_specs`` answers depends on the DoFn's class (its methods and their defaults, where
``DoFn.StateParam``/``TimerParam`` name the specs) and on the instance's own attributes only where
those shadow a class method or are bound methods (``dir`` lists them and only ``MethodType``
values are inspected). ``beam.Map``/``FlatMap``/``Filter`` (``CallableWrapperDoFn``) store their
callable as the instance's ``process``: a plain function or lambda is not a ``MethodType``, so Beam
itself never inspects it, but a bound method is. So the answer is remembered per class (weakly:
a class pickled by value may be rebuilt) and per set of instance attributes shadowing a class method, and is
not remembered at all for an instance holding a bound method (its answer depends on that method),
for classes with their own ``__getattr__``/``__dir__``, or for instances without a ``__dict__``.
Errors (Beam's ``ValueError`` for duplicate parameters) are not remembered: every call raises.
Callers get fresh sets, as from Beam.

Applied only by ``clickstream.app.local.runner`` (local runs), never on Dataflow, and only on the
Beam versions it was written against (``pull_size.BEAM_VERSIONS``, the range ``pyproject.toml``
pins); on another version it logs a warning and changes nothing.
"""

from __future__ import annotations

import inspect
import logging
import types
import weakref
from collections.abc import Callable
from typing import Any

import apache_beam

from clickstream.app.local.pull_size import supported

log = logging.getLogger(__name__)

Specs = tuple[set[Any], set[Any]]

_MARK = "__clickstream_original__"


def _cache_key(dofn: Any) -> frozenset[str] | None:
    """The instance's part of the key (the class is the other), or None when not to remember."""
    cls = type(dofn)
    if "__getattr__" in _own_overrides(cls) or "__dir__" in _own_overrides(cls):
        return None
    try:
        attributes = vars(dofn)
    except TypeError:  # __slots__: no instance dict to reason about
        return None
    if any(isinstance(value, types.MethodType) for value in attributes.values()):
        return None
    # Only an instance attribute hiding a class *method* changes what Beam inspects (it
    # inspects bound methods only); the runner adds plain attributes (batch converters) as it goes.
    return frozenset(name for name in attributes if _is_method_like(inspect.getattr_static(cls, name, None)))


def _is_method_like(attribute: Any) -> bool:
    return callable(attribute) or isinstance(attribute, (classmethod, staticmethod))


def _own_overrides(cls: type) -> set[str]:
    """Which of ``__getattr__``/``__getattribute__``/``__dir__`` ``cls`` or a base other than
    ``object`` defines: with those, ``dir``/``getattr`` may answer per instance."""
    return {
        name
        for name in ("__getattr__", "__getattribute__", "__dir__")
        for base in cls.__mro__
        if base is not object and name in base.__dict__
    }


def remembering(original: Callable[[Any], Specs]) -> Callable[[Any], Specs]:
    """``original`` (Beam's ``get_dofn_specs``) with its answers remembered as described above."""
    by_class: weakref.WeakKeyDictionary[type, dict[frozenset[str], Specs]] = weakref.WeakKeyDictionary()

    def get_dofn_specs(dofn: Any) -> Specs:
        key = _cache_key(dofn)
        if key is None:
            return original(dofn)
        per_class = by_class.setdefault(type(dofn), {})
        specs = per_class.get(key)
        if specs is None:
            specs = per_class[key] = original(dofn)
        return set(specs[0]), set(specs[1])

    setattr(get_dofn_specs, _MARK, original)
    return get_dofn_specs


def enable() -> bool:
    """Remember DoFn specs for the local runner; True when applied (idempotent)."""
    if not supported():
        log.warning(
            "apache-beam %s is not a version this patch was written for: the local runner keeps "
            "re-inspecting DoFn signatures for every bundle",
            apache_beam.__version__,
        )
        return False
    from apache_beam.runners.direct import transform_evaluator
    from apache_beam.transforms import userstate

    original = getattr(userstate.get_dofn_specs, _MARK, userstate.get_dofn_specs)
    patched = remembering(original)
    # runners/common.py and direct_userstate.py call userstate.get_dofn_specs, and
    # userstate.is_stateful_dofn looks it up there too; transform_evaluator imported it by name.
    userstate.get_dofn_specs = patched
    transform_evaluator.get_dofn_specs = patched  # type: ignore[attr-defined]
    log.info("local runner: DoFn state/timer specs are remembered, not re-inspected per bundle (%s)", __name__)
    return True
