-- events_deduplicated: one row per event_id, the first one written.
--
-- The pipeline already drops duplicates and writes with insertId = event_id, but insertId
-- de-duplication is best effort and a replay can write an event twice: everything that
-- computes on events reads this view (defence in depth).
-- ${project} and ${dataset} are filled in by the deployer.
SELECT * EXCEPT (copy)
FROM (
  SELECT e.*, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY processed_at, message_id) AS copy
  FROM `${project}.${dataset}.events` AS e
)
WHERE copy = 1
