"""position_propensity.sql is generated (EM iterations unrolled): the checked-in file is what its
generator makes from its parts, with params.json's iteration count."""

from __future__ import annotations

import pytest

from clickstream.app.signals import DEFAULTS, propensity_script
from clickstream.core.paths import sql_dir
from clickstream.core.sql import statements


def test_the_checked_in_propensity_sql_is_what_its_generator_makes() -> None:
    checked_in = (sql_dir() / "signals" / "position_propensity.sql").read_text()
    assert checked_in == propensity_script(), "run `clickstream signals render-sql` and commit the result"


def test_each_em_iteration_is_one_update_statement_between_head_and_tail() -> None:
    updates = [s for s in statements(propensity_script(3)) if s.startswith("UPDATE")]
    assert len(updates) == 3
    assert len([s for s in statements(propensity_script()) if s.startswith("UPDATE")]) == DEFAULTS["em_iterations"]


def test_zero_iterations_are_refused() -> None:
    with pytest.raises(ValueError):
        propensity_script(0)
