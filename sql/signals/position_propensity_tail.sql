DELETE FROM `${project}.${dataset}.position_propensity` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.position_propensity`
  (as_of, surface, slot, theta, theta_relative, impressions, clicks, method, iterations)
WITH em AS (
  -- theta is the same on every cell of a slot
  SELECT surface, slot, MAX(theta) AS theta, SUM(impressions) AS impressions, SUM(clicks) AS clicks
  FROM `${project}.${dataset}.propensity_em_cells`
  WHERE as_of = @as_of
  GROUP BY surface, slot
),
first_slot AS (
  SELECT surface, theta FROM em WHERE slot = 1
),
shown AS (
  SELECT surface, slot, rank, exploration_method, exploration_swapped_rank, clicked AND click_ts <= @as_of AS clicked
  FROM `${project}.${dataset}.impression_clicks`
  WHERE event_ts > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
    AND event_ts <= @as_of
    AND NOT COALESCE(is_bot, FALSE)
),
swapped AS (
  -- rank k shown at slot 1 because swap_first traded it with rank 1
  SELECT surface, rank AS slot, COUNT(*) AS impressions, COUNTIF(clicked) AS clicks
  FROM shown
  WHERE exploration_method = 'swap_first' AND slot = 1 AND rank = exploration_swapped_rank AND rank > 1
  GROUP BY surface, rank
),
unswapped AS (
  SELECT surface, slot, COUNT(*) AS impressions, COUNTIF(clicked) AS clicks
  FROM shown
  WHERE slot = rank AND slot > 1
  GROUP BY surface, slot
)
SELECT
  @as_of AS as_of,
  em.surface,
  em.slot,
  em.theta,
  SAFE_DIVIDE(em.theta, f.theta) AS theta_relative,
  em.impressions,
  em.clicks,
  'em' AS method,
  @em_iterations AS iterations
FROM em
LEFT JOIN first_slot AS f ON f.surface = em.surface
UNION ALL
SELECT
  @as_of AS as_of,
  s.surface,
  s.slot,
  CAST(NULL AS FLOAT64) AS theta,
  (u.clicks / u.impressions) / (s.clicks / s.impressions) AS theta_relative,
  s.impressions + u.impressions AS impressions,
  s.clicks + u.clicks AS clicks,
  'swap' AS method,
  CAST(NULL AS INT64) AS iterations
FROM swapped AS s
JOIN unswapped AS u ON u.surface = s.surface AND u.slot = s.slot
WHERE s.clicks > 0 AND u.clicks > 0;

-- Retention: only the newest @keep_runs as_of runs stay (a backfill of an older as_of is one of them
-- only while it is among the newest).
DELETE FROM `${project}.${dataset}.propensity_em_cells`
WHERE as_of IN (
  SELECT as_of
  FROM (SELECT as_of, DENSE_RANK() OVER (ORDER BY as_of DESC) AS run FROM `${project}.${dataset}.propensity_em_cells`)
  WHERE run > @keep_runs
);

DELETE FROM `${project}.${dataset}.position_propensity`
WHERE as_of IN (
  SELECT as_of
  FROM (SELECT as_of, DENSE_RANK() OVER (ORDER BY as_of DESC) AS run FROM `${project}.${dataset}.position_propensity`)
  WHERE run > @keep_runs
);

COMMIT TRANSACTION;
