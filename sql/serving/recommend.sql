-- Candidate generation for one user (clickstream recommend).
--
-- From the latest signal run: videos similar to the user's top-10 affinity videos, scored
-- SUM(affinity x similarity) and explained by the seed that contributed most; then topped up
-- from trending. Videos the user already watched past 90% (max_watch_ratio > 0.9) are
-- excluded. Parameters: @user_ids ARRAY<STRING>, @n INT64.
-- ${project} and ${dataset} are filled in by the caller.
--
-- @user_ids are the person's pseudonyms under every key held (clickstream.core.pseudonyms): the
-- caller hashes the raw id, which no table holds. After a key rotation the signal window holds rows
-- under the old and the new pseudonym, so a video's affinity is summed over them. A user whose latest
-- event denied personalization has no affinity rows (sql/signals/user_video_affinity.sql), so gets
-- trending only.
WITH latest AS (
  SELECT MAX(as_of) AS as_of FROM `${project}.${dataset}.video_trending`
),
affinity AS (
  SELECT a.video_id, SUM(a.score) AS score, MAX(a.max_watch_ratio) AS max_watch_ratio
  FROM `${project}.${dataset}.user_video_affinity` AS a
  JOIN latest ON a.as_of = latest.as_of
  WHERE a.user_id IN UNNEST(@user_ids)
  GROUP BY a.video_id
),
seeds AS (
  SELECT video_id, score
  FROM (SELECT video_id, score, ROW_NUMBER() OVER (ORDER BY score DESC, video_id) AS position FROM affinity)
  WHERE position <= 10
),
watched AS (
  SELECT video_id FROM affinity WHERE max_watch_ratio > 0.9
),
contributions AS (
  SELECT s.similar_video_id AS video_id, s.video_id AS seed, seeds.score * s.score AS part
  FROM seeds
  JOIN `${project}.${dataset}.video_similarity` AS s ON s.video_id = seeds.video_id
  JOIN latest ON s.as_of = latest.as_of
),
similar AS (
  SELECT video_id, SUM(part) AS score FROM contributions GROUP BY video_id
),
strongest_seed AS (
  SELECT video_id, seed
  FROM (SELECT video_id, seed, ROW_NUMBER() OVER (PARTITION BY video_id ORDER BY part DESC, seed) AS r FROM contributions)
  WHERE r = 1
),
candidates AS (
  SELECT s.video_id, s.score, CONCAT('similar to ', k.seed) AS reason, 1 AS source
  FROM similar AS s
  JOIN strongest_seed AS k ON k.video_id = s.video_id
  UNION ALL
  SELECT t.video_id, t.score, CONCAT('trending #', CAST(t.rank AS STRING)) AS reason, 2 AS source
  FROM `${project}.${dataset}.video_trending` AS t
  JOIN latest ON t.as_of = latest.as_of
),
eligible AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY video_id ORDER BY source, score DESC) AS pick
  FROM candidates
  WHERE video_id NOT IN (SELECT video_id FROM watched)
),
ordered AS (
  SELECT video_id, score, reason, ROW_NUMBER() OVER (ORDER BY source, score DESC, video_id) AS position
  FROM eligible
  WHERE pick = 1
)
SELECT position, video_id, score, reason
FROM ordered
WHERE position <= @n
ORDER BY position
