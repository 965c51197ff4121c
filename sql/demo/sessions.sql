-- Final sessions whose panes were emitted since @since (TIMESTAMP): one row per session.
SELECT session_id, user_id, session_start, duration_s, event_count
FROM `${project}.${dataset}.sessions_final`
WHERE emitted_at >= @since
ORDER BY session_start
