"""Which project and dataset names are accepted: one rule, read by Python and Terraform alike.

The names reach SQL as identifiers (``${project}``/``${dataset}``; identifiers cannot be query
parameters), so a name that is not one could rewrite a statement. ``schemas/identifiers.json``
holds each rule: a pattern for the characters plus length bounds. Terraform's
``terraform/variables.tf`` validates ``project_id`` and ``dataset_id`` with it; ``Settings``
and the pipeline options validate with it here. The patterns avoid counted repetition
(``{m,n}``): Terraform's RE2 refuses counts over 1000, so lengths are bounds of their own.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from clickstream.core.paths import schemas_dir

PROJECT_ID = "project_id"
DATASET_ID = "dataset_id"


class InvalidIdentifier(ValueError):
    """A project or dataset name that breaks its rule; the message names the setting and the rule."""


@dataclass(frozen=True)
class IdentifierRule:
    pattern: str
    min_length: int
    max_length: int
    rule: str  # which characters, in words: "<min>-<max> <rule>" reads as a sentence

    def accepts(self, value: str) -> bool:
        # fullmatch: with re.match, "$" would also accept a trailing newline.
        return self.min_length <= len(value) <= self.max_length and re.fullmatch(self.pattern, value) is not None

    def describe(self) -> str:
        return f"{self.min_length}-{self.max_length} {self.rule} (pattern {self.pattern})"


@functools.cache
def rules() -> dict[str, IdentifierRule]:
    data = json.loads((schemas_dir() / "identifiers.json").read_text())
    return {name: IdentifierRule(**rule) for name, rule in data.items()}


def problem(kind: str, value: object) -> str | None:
    """``None`` when ``value`` is a valid ``kind`` (``project_id``, ``dataset_id``); else why not, in one line."""
    rule = rules()[kind]
    if isinstance(value, str) and rule.accepts(value):
        return None
    return f"{value!r} is not a valid {kind}: {rule.describe()}"


def check(kind: str, value: object, setting: str) -> str:
    """``value`` when it is a valid ``kind``; else ``InvalidIdentifier`` naming ``setting``."""
    why = problem(kind, value)
    if why is not None:
        raise InvalidIdentifier(f"{setting}: {why}")
    return value  # type: ignore[return-value]
