-- Signal 0b: video_ctr(as_of, video_id, surface, impressions, clicks, raw_ctr, debiased_ctr, ips_ctr, supported)
--
-- Per video and surface, over the same impressions as position_propensity (this as_of's
-- propensity_em_cells: non-bot impressions with event_ts in (@as_of - lookback, @as_of], a click
-- counting when at or before @as_of), so it runs after sql/signals/position_propensity.sql:
--   raw_ctr      = clicks / impressions
--   debiased_ctr = SUM(clicks) / SUM(impressions * GREATEST(theta_relative[surface, slot], @propensity_floor))
--                  the ratio estimator: clicks over the examinations expected at slot 1's
--                  propensity, i.e. the CTR the video would have at slot 1 (the position-based
--                  model's maximum-likelihood gamma given theta). theta_relative is the EM estimate
--                  (method 'em', which exists for every slot shown); the floor bounds how little an
--                  impression far down the row counts. A surface with no slot-1 impressions has no
--                  theta_relative: its impressions count fully.
--   ips_ctr      = SUM(click / GREATEST(theta_relative, @propensity_floor)) / impressions, inverse
--                  propensity weighting (Joachims et al., WSDM 2017): unbiased for the same quantity,
--                  but each deep click weighs up to 1 / floor, so it is much noisier; measured on 3M
--                  simulated impressions it ranks videos worse than raw CTR, the ratio estimator
--                  better (docs/benchmarks.md). Kept for comparison; nothing reads it.
--   supported    = impressions >= @min_impressions: below that a CTR is mostly noise, and the
--                  recommendation query (sql/serving/recommend.sql) ignores it.
-- Re-running one @as_of replaces that as_of's rows and nothing else; the runs older than the newest
-- @keep_runs are deleted.
-- Parameters: @as_of TIMESTAMP, @propensity_floor FLOAT64, @min_impressions INT64, @keep_runs INT64.
BEGIN TRANSACTION;

DELETE FROM `${project}.${dataset}.video_ctr` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.video_ctr`
  (as_of, video_id, surface, impressions, clicks, raw_ctr, debiased_ctr, ips_ctr, supported)
WITH propensity AS (
  SELECT surface, slot, theta_relative
  FROM `${project}.${dataset}.position_propensity`
  WHERE as_of = @as_of AND method = 'em'
)
SELECT
  @as_of AS as_of,
  c.video_id,
  c.surface,
  SUM(c.impressions) AS impressions,
  SUM(c.clicks) AS clicks,
  SUM(c.clicks) / SUM(c.impressions) AS raw_ctr,
  SUM(c.clicks) / SUM(c.impressions * GREATEST(COALESCE(p.theta_relative, 1.0), @propensity_floor)) AS debiased_ctr,
  SUM(c.clicks / GREATEST(COALESCE(p.theta_relative, 1.0), @propensity_floor)) / SUM(c.impressions) AS ips_ctr,
  SUM(c.impressions) >= @min_impressions AS supported
FROM `${project}.${dataset}.propensity_em_cells` AS c
LEFT JOIN propensity AS p ON p.surface = c.surface AND p.slot = c.slot
WHERE c.as_of = @as_of
GROUP BY c.video_id, c.surface;

-- Retention: only the newest @keep_runs as_of runs stay (a backfill of an older as_of is one of them
-- only while it is among the newest).
DELETE FROM `${project}.${dataset}.video_ctr`
WHERE as_of IN (
  SELECT as_of
  FROM (SELECT as_of, DENSE_RANK() OVER (ORDER BY as_of DESC) AS run FROM `${project}.${dataset}.video_ctr`)
  WHERE run > @keep_runs
);

COMMIT TRANSACTION;
