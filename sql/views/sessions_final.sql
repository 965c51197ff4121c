-- sessions_final: exactly one row per final session.
--
-- The pipeline writes a row for every pane of a session window (EARLY, ON_TIME, LATE),
-- and panes accumulate, so the latest pane of a window is the whole session so far.
-- Two wrinkles make "latest pane per session_id" not enough:
--   * Beam restarts pane_index when windows merge, so panes are ordered by emitted_at.
--   * A late event can bridge two sessions that already fired; Beam merges them into one
--     larger window. The merged window keeps the first session's id (same start) but the
--     second session's id is left behind with its stale panes. Such a swallowed session is
--     recognised because a later pane of the same user covers its whole window.
-- ${project} and ${dataset} are filled in by the deployer (Terraform templatefile, or
-- clickstream.core.tables.ensure_views locally).
WITH latest AS (
  SELECT * EXCEPT (pane_rank)
  FROM (
    SELECT
      s.*,
      ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY emitted_at DESC, pane_index DESC) AS pane_rank
    FROM `${project}.${dataset}.sessions` AS s
  )
  WHERE pane_rank = 1
)
-- An anti-join rather than NOT EXISTS: same meaning, and the local stand-in mis-evaluates
-- this correlated NOT EXISTS (measured), while both engines agree on the join.
SELECT l.*
FROM latest AS l
LEFT JOIN latest AS o
  ON o.user_id = l.user_id
  AND o.session_id != l.session_id
  AND o.session_start <= l.session_start
  AND o.window_end >= l.window_end
  AND o.emitted_at >= l.emitted_at
WHERE o.session_id IS NULL
