"""Every query parameter of the signal SQL is a SignalParams field with its default in params.json:
the CLI binds them all, and the scheduled query in Terraform turns each params.json entry into a literal."""

from __future__ import annotations

import json
import re
from dataclasses import fields

from clickstream.app.signals import SIGNALS, SignalParams
from clickstream.core.paths import sql_dir


def test_signal_sql_parameters_are_signal_params_with_defaults_in_params_json() -> None:
    used = {p for name in SIGNALS for p in re.findall(r"@(\w+)", (sql_dir() / "signals" / f"{name}.sql").read_text())}
    defaults = set(json.loads((sql_dir() / "signals" / "params.json").read_text()))
    assert used == {f.name for f in fields(SignalParams)} == defaults | {"as_of"}
