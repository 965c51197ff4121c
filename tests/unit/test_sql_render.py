"""``render_sql``: only ``${project}`` and ``${dataset}`` are placeholders; every other ``$`` is SQL."""

from __future__ import annotations

from clickstream.core.sql import render_sql


def test_render_sql_leaves_every_other_dollar_sign_alone() -> None:
    text = "SELECT JSON_VALUE(j, '$.a'), '$$', '$5', '$name', '${other}' FROM `${project}.${dataset}.t`"
    rendered = render_sql(text, "my-project-1", "analytics")
    assert rendered == "SELECT JSON_VALUE(j, '$.a'), '$$', '$5', '$name', '${other}' FROM `my-project-1.analytics.t`"


def test_render_sql_fills_every_placeholder() -> None:
    assert render_sql("${dataset}.a ${dataset}.b ${project}", "p-123456", "d") == "d.a d.b p-123456"
