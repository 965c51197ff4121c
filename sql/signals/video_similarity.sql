-- Signal 2: video_similarity(video_id, similar_video_id, score, co_sessions, rank, as_of)
--
-- Contract (README, "Signals"), over de-duplicated events with event_ts in
-- (@as_of - @lookback_days, @as_of], like every signal: a session's video set is the videos
-- clicked or paused by events INSIDE that window, each event joined to its final session
-- (sessions_final: same user, event_ts within session_start..session_end). A session that began
-- before the window keeps its in-window videos; one that runs past @as_of brings none of the
-- videos after it, so a backfilled @as_of does not change when later events arrive.
--   co(a, b) = sessions holding both a and b (a != b);  n(a) = sessions holding a
--   score    = co / SQRT(n(a) * n(b)); pairs with co >= @min_support only
--   rank     = 1-based per video_id by score desc, co desc, similar_video_id asc; rank <= @top_k
-- Bots make no sessions (the pipeline sessionizes non-bot events only), so they count for nothing
-- here either; sessions of users who denied personalization count (co-occurrence is an aggregate).
-- Re-running one @as_of replaces that as_of's rows and nothing else; the runs older than the newest
-- @keep_runs are deleted.
-- Parameters: @as_of TIMESTAMP, @lookback_days INT64, @min_support INT64, @top_k INT64, @keep_runs INT64.
BEGIN TRANSACTION;

DELETE FROM `${project}.${dataset}.video_similarity` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.video_similarity`
  (video_id, similar_video_id, score, co_sessions, rank, as_of)
WITH windowed AS (
  SELECT user_id, video_id, event_ts
  FROM `${project}.${dataset}.events_deduplicated`
  WHERE event_ts > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
    AND event_ts <= @as_of
    AND event_type IN ('ThumbnailClicked', 'VideoPaused')
    AND NOT COALESCE(is_bot, FALSE)
),
session_videos AS (
  SELECT DISTINCT s.session_id, e.video_id
  FROM windowed AS e
  JOIN `${project}.${dataset}.sessions_final` AS s
    ON s.user_id = e.user_id
    AND e.event_ts >= s.session_start
    AND e.event_ts <= s.session_end
    -- only the sessions that can hold an in-window event
    AND s.session_start <= @as_of
    AND s.session_end > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
),
holders AS (
  SELECT video_id, COUNT(*) AS n FROM session_videos GROUP BY video_id
),
pairs AS (
  SELECT a.video_id, b.video_id AS similar_video_id, COUNT(*) AS co
  FROM session_videos AS a
  JOIN session_videos AS b ON a.session_id = b.session_id AND a.video_id != b.video_id
  GROUP BY a.video_id, b.video_id
),
scored AS (
  SELECT
    p.video_id,
    p.similar_video_id,
    p.co / SQRT(ha.n * hb.n) AS score,
    p.co AS co_sessions
  FROM pairs AS p
  JOIN holders AS ha ON ha.video_id = p.video_id
  JOIN holders AS hb ON hb.video_id = p.similar_video_id
  WHERE p.co >= @min_support
),
ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY video_id ORDER BY score DESC, co_sessions DESC, similar_video_id ASC) AS rank
  FROM scored
)
SELECT video_id, similar_video_id, score, co_sessions, rank, @as_of AS as_of
FROM ranked
WHERE rank <= @top_k;

-- Retention: only the newest @keep_runs as_of runs stay (a backfill of an older as_of is one of them
-- only while it is among the newest).
DELETE FROM `${project}.${dataset}.video_similarity`
WHERE as_of IN (
  SELECT as_of
  FROM (SELECT as_of, DENSE_RANK() OVER (ORDER BY as_of DESC) AS run FROM `${project}.${dataset}.video_similarity`)
  WHERE run > @keep_runs
);

COMMIT TRANSACTION;
