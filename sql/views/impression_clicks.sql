-- impression_clicks: one row per impression (a thumbnail the app showed), with its click if any.
--
-- Every column of `impressions`, plus:
--   clicked         the impression has a ThumbnailClicked (events_deduplicated) of the same viewer
--                   (user_id) with its impression_id
--   click_event_id  that click's event_id (the first one, should a viewer click twice)
--   click_ts        its event_ts; a signal computed as of T counts a click only when click_ts <= T
-- One row per viewer and impression_id: a re-sent ThumbnailsShown (same event_id) is written once
-- here, the first copy, as events_deduplicated does for events. The pipeline checks that ids are
-- unique within a row, but a page may supply its own ids, so two viewers can show the same one:
-- each keeps their impression, and a click joins only its own viewer's.
-- Bot rows stay, flagged by the impression's is_bot (what the app showed a crawler is still what
-- it showed); every signal leaves them out (sql/signals).
-- ${project} and ${dataset} are filled in by the deployer.
WITH shown AS (
  SELECT * EXCEPT (copy)
  FROM (
    SELECT i.*, ROW_NUMBER() OVER (PARTITION BY user_id, impression_id ORDER BY processed_at, event_id) AS copy
    FROM `${project}.${dataset}.impressions` AS i
  )
  WHERE copy = 1
),
clicks AS (
  SELECT user_id, impression_id, event_id AS click_event_id, event_ts AS click_ts
  FROM (
    SELECT
      user_id,
      impression_id,
      event_id,
      event_ts,
      ROW_NUMBER() OVER (PARTITION BY user_id, impression_id ORDER BY event_ts, event_id) AS nth
    FROM `${project}.${dataset}.events_deduplicated`
    WHERE event_type = 'ThumbnailClicked' AND impression_id IS NOT NULL
  )
  WHERE nth = 1
)
SELECT s.*, c.click_event_id IS NOT NULL AS clicked, c.click_event_id, c.click_ts
FROM shown AS s
LEFT JOIN clicks AS c ON c.impression_id = s.impression_id AND c.user_id = s.user_id
