-- Signal 3: video_trending(video_id, score, events, unique_users, rank, as_of)
--
-- Contract (README, "Signals"), over de-duplicated events with event_ts in
-- (@as_of - @lookback_days, @as_of]:
--   score = SUM(decay(ts)) over all of the video's events,
--           decay(ts) = POW(0.5, seconds(@as_of - ts) / (@half_life_days * 86400))
--   rank  = 1-based by score desc, then video_id asc
-- Re-running one @as_of replaces that as_of's rows and nothing else.
-- Parameters: @as_of TIMESTAMP, @lookback_days INT64, @half_life_days FLOAT64.
BEGIN TRANSACTION;

DELETE FROM `${project}.${dataset}.video_trending` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.video_trending` (video_id, score, events, unique_users, rank, as_of)
WITH per_video AS (
  SELECT
    video_id,
    SUM(POW(0.5, TIMESTAMP_DIFF(@as_of, event_ts, MILLISECOND) / 1000 / (@half_life_days * 86400))) AS score,
    COUNT(*) AS events,
    COUNT(DISTINCT user_id) AS unique_users
  FROM `${project}.${dataset}.events_deduplicated`
  WHERE event_ts > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
    AND event_ts <= @as_of
  GROUP BY video_id
)
SELECT
  video_id,
  score,
  events,
  unique_users,
  ROW_NUMBER() OVER (ORDER BY score DESC, video_id ASC) AS rank,
  @as_of AS as_of
FROM per_video;

COMMIT TRANSACTION;
