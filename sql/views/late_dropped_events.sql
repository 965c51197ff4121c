-- late_dropped_events: per user, how many stored events no final session counted.
--
-- An event that arrives after its session window expired (later than the allowed
-- lateness) is still written to `events`, but Beam drops it from sessionization. This view
-- makes those "droppably late" events visible instead of silently missing from session
-- metrics. Two places they hide:
--   * inside the span of a final session that did not count them (events in the span
--     minus the session's event_count), and
--   * outside every final session (their own window had already expired).
-- Sessions still open (not fired yet) also show up here; read it for event times older
-- than the allowed lateness. ${project} and ${dataset} are filled in by the deployer.
WITH in_span AS (
  SELECT s.user_id, s.session_id, s.event_count, COUNT(e.event_id) AS events_in_span
  FROM `${project}.${dataset}.sessions_final` AS s
  JOIN `${project}.${dataset}.events` AS e
    ON e.user_id = s.user_id
    AND e.event_ts BETWEEN s.session_start AND s.session_end
  GROUP BY s.user_id, s.session_id, s.event_count
),
outside AS (
  SELECT e.user_id, COUNT(*) AS events_outside
  FROM `${project}.${dataset}.events` AS e
  LEFT JOIN `${project}.${dataset}.sessions_final` AS s
    ON s.user_id = e.user_id
    AND e.event_ts BETWEEN s.session_start AND s.session_end
  WHERE s.session_id IS NULL
  GROUP BY e.user_id
),
per_user AS (
  SELECT user_id, events_in_span - event_count AS dropped FROM in_span
  UNION ALL
  SELECT user_id, events_outside AS dropped FROM outside
)
SELECT user_id, SUM(dropped) AS late_dropped_events
FROM per_user
GROUP BY user_id
HAVING SUM(dropped) > 0
