-- EM iteration <iteration>: both updates read the previous iteration's theta and gamma.
UPDATE `${project}.${dataset}.propensity_em_cells` AS cell
SET theta = t.theta, gamma = g.gamma
FROM (
  SELECT
    surface,
    slot,
    SUM(clicks + (impressions - clicks) * COALESCE(SAFE_DIVIDE(theta * (1 - gamma), 1 - theta * gamma), 0))
      / SUM(impressions) AS theta
  FROM `${project}.${dataset}.propensity_em_cells`
  WHERE as_of = @as_of
  GROUP BY surface, slot
) AS t,
(
  SELECT
    surface,
    video_id,
    SUM(clicks + (impressions - clicks) * COALESCE(SAFE_DIVIDE((1 - theta) * gamma, 1 - theta * gamma), 0))
      / SUM(impressions) AS gamma
  FROM `${project}.${dataset}.propensity_em_cells`
  WHERE as_of = @as_of
  GROUP BY surface, video_id
) AS g
WHERE cell.as_of = @as_of
  AND t.surface = cell.surface AND t.slot = cell.slot
  AND g.surface = cell.surface AND g.video_id = cell.video_id;
