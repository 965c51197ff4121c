-- Signal 0: position_propensity(as_of, surface, slot, theta, theta_relative, impressions, clicks,
--                               method, iterations), with its working table propensity_em_cells
--
-- Over impressions (impression_clicks) with event_ts in (@as_of - @lookback_days, @as_of], bots
-- left out, a click counting when it happened at or before @as_of:
-- method 'em': the position-based model P(click | surface, slot k, video v) = theta_k * gamma_v,
--   fitted per surface by expectation-maximisation (Wang et al., WSDM 2018, without the regression).
--   Impressions are pre-aggregated into (surface, slot, video) cells of n impressions and c clicks,
--   so an iteration costs one pass over the cells, not over the impressions. Each iteration:
--     E: a non-click was examined with P = theta (1 - gamma) / (1 - theta gamma),
--        relevant with P = (1 - theta) gamma / (1 - theta gamma)
--     M: theta_k = SUM_v(c + (n - c) P(examined)) / SUM_v n;  gamma_v = SUM_k(c + (n - c) P(relevant)) / SUM_k n
--   Start: theta_k = the slot's click rate / the surface's best slot's, gamma_v = c / SUM(n theta_k)
--   (both clipped to [0.01, 0.99]). @em_iterations iterations, unrolled: BigQuery and the local
--   stand-in both run the statements one after another, and the stand-in has no LOOP. Only the
--   ratio theta_k / theta_1 is identified (theta and gamma trade a common factor).
-- method 'swap': where swap_first exploration swapped rank 1 with rank k, theta_k / theta_1 =
--   (click rate of rank-k items at slot k, unswapped) / (click rate of rank-k items shown at slot 1
--   by the swap): the same items, two positions. Slots k >= 2 with clicks on both sides only.
-- Every row carries the impressions and clicks behind its estimate.
-- Re-running one @as_of replaces that as_of's rows and nothing else; the runs older than the newest
-- @keep_runs are deleted.
-- Parameters: @as_of TIMESTAMP, @lookback_days INT64, @em_iterations INT64, @keep_runs INT64.
BEGIN TRANSACTION;

DELETE FROM `${project}.${dataset}.propensity_em_cells` WHERE as_of = @as_of;

INSERT INTO `${project}.${dataset}.propensity_em_cells`
  (as_of, surface, slot, video_id, impressions, clicks, theta, gamma)
WITH cells AS (
  SELECT surface, slot, video_id, COUNT(*) AS impressions, COUNTIF(clicked AND click_ts <= @as_of) AS clicks
  FROM `${project}.${dataset}.impression_clicks`
  WHERE event_ts > TIMESTAMP_SUB(@as_of, INTERVAL @lookback_days DAY)
    AND event_ts <= @as_of
    AND NOT COALESCE(is_bot, FALSE)
  GROUP BY surface, slot, video_id
),
slot_rates AS (
  SELECT surface, slot, SUM(clicks) / SUM(impressions) AS ctr FROM cells GROUP BY surface, slot
),
theta0 AS (
  SELECT
    surface,
    slot,
    LEAST(GREATEST(COALESCE(SAFE_DIVIDE(ctr, MAX(ctr) OVER (PARTITION BY surface)), 0.5), 0.01), 0.99) AS theta
  FROM slot_rates
),
gamma0 AS (
  SELECT
    c.surface,
    c.video_id,
    LEAST(GREATEST(COALESCE(SAFE_DIVIDE(SUM(c.clicks), SUM(c.impressions * t.theta)), 0.5), 0.01), 0.99) AS gamma
  FROM cells AS c
  JOIN theta0 AS t ON t.surface = c.surface AND t.slot = c.slot
  GROUP BY c.surface, c.video_id
)
SELECT @as_of AS as_of, c.surface, c.slot, c.video_id, c.impressions, c.clicks, t.theta, g.gamma
FROM cells AS c
JOIN theta0 AS t ON t.surface = c.surface AND t.slot = c.slot
JOIN gamma0 AS g ON g.surface = c.surface AND g.video_id = c.video_id;
