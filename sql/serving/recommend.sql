-- Recommendations for one person or thousands in one query (clickstream.app.recommendations:
-- `clickstream recommend`, `clickstream signals evaluate`).
--
-- Parameters: @person_ids ARRAY<STRING> and @user_ids ARRAY<STRING>, zipped by offset (the person
-- at offset i has the pseudonym at offset i: a person appears once per pseudonym), @n INT64,
-- @as_of TIMESTAMP (the signal run used is the latest at or before it).
-- Output: person_id, position (1..@n), video_id, score, reason; ordered by person_id, position.
--
-- Candidates, from the signal run: videos similar to the person's top-10 affinity videos, scored
-- SUM(affinity x similarity) and explained by the seed that contributed most; then topped up from
-- trending (one ranking for everyone).
-- The blend with the position-debiased CTR (video_ctr): a video's ctr = its debiased_ctr averaged
-- over the surfaces where it is `supported` (>= min_impressions), weighted by impressions; its
-- lift = ctr / the mean ctr of all videos with support; a video without support has lift 1 (its
-- CTR is mostly noise). Every candidate's score is multiplied by its lift: a video that is clicked
-- often only because it was shown in the first slots drops, one that is clicked often wherever it
-- is shown rises. Similar videos stay ahead of trending ones.
-- Never recommended: a video the person has finished (watch ratio >= 0.9), from their affinity rows
-- of the run and from their stored VideoPaused events up to @as_of, so a person without affinity
-- rows (personalization denied) is not shown what they finished either.
--
-- @user_ids are each person's pseudonyms under every key held (clickstream.core.pseudonyms): the
-- caller hashes the raw id, which no table holds. After a key rotation the signal window holds rows
-- under the old and the new pseudonym, so a video's affinity is summed over them. A user whose latest
-- event denied personalization has no affinity rows (sql/signals/user_video_affinity.sql), so gets
-- trending only.
-- ${project} and ${dataset} are filled in by the caller.
WITH pseudonyms AS (
  SELECT person_id, user_id
  FROM UNNEST(@person_ids) AS person_id WITH OFFSET AS i
  JOIN UNNEST(@user_ids) AS user_id WITH OFFSET AS j ON i = j
),
persons AS (
  SELECT DISTINCT person_id FROM pseudonyms
),
latest AS (
  SELECT MAX(as_of) AS as_of FROM `${project}.${dataset}.video_trending` WHERE as_of <= @as_of
),
affinity AS (
  SELECT p.person_id, a.video_id, SUM(a.score) AS score, MAX(a.max_watch_ratio) AS max_watch_ratio
  FROM `${project}.${dataset}.user_video_affinity` AS a
  JOIN latest ON a.as_of = latest.as_of
  JOIN pseudonyms AS p ON p.user_id = a.user_id
  GROUP BY p.person_id, a.video_id
),
finished AS (
  SELECT DISTINCT person_id, video_id
  FROM (
    SELECT person_id, video_id FROM affinity WHERE max_watch_ratio >= 0.9
    UNION ALL
    SELECT p.person_id, e.video_id
    FROM `${project}.${dataset}.events_deduplicated` AS e
    JOIN pseudonyms AS p ON p.user_id = e.user_id
    WHERE e.event_type = 'VideoPaused' AND e.watch_ratio >= 0.9 AND e.event_ts <= @as_of
  )
),
finished_count AS (
  SELECT person_id, COUNT(*) AS videos FROM finished GROUP BY person_id
),
seeds AS (
  SELECT person_id, video_id, score
  FROM (
    SELECT person_id, video_id, score, ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY score DESC, video_id) AS position
    FROM affinity
  )
  WHERE position <= 10
),
ctr AS (
  SELECT c.video_id, SUM(c.debiased_ctr * c.impressions) / SUM(c.impressions) AS ctr
  FROM `${project}.${dataset}.video_ctr` AS c
  JOIN latest ON c.as_of = latest.as_of
  WHERE c.supported
  GROUP BY c.video_id
),
lift AS (
  SELECT video_id, SAFE_DIVIDE(ctr, AVG(ctr) OVER ()) AS lift FROM ctr
),
contributions AS (
  SELECT seeds.person_id, s.similar_video_id AS video_id, s.video_id AS seed, seeds.score * s.score AS part
  FROM seeds
  JOIN `${project}.${dataset}.video_similarity` AS s ON s.video_id = seeds.video_id
  JOIN latest ON s.as_of = latest.as_of
),
similar AS (
  SELECT person_id, video_id, SUM(part) AS score FROM contributions GROUP BY person_id, video_id
),
strongest_seed AS (
  SELECT person_id, video_id, seed
  FROM (
    SELECT person_id, video_id, seed, ROW_NUMBER() OVER (PARTITION BY person_id, video_id ORDER BY part DESC, seed) AS r
    FROM contributions
  )
  WHERE r = 1
),
trending AS (
  -- one ranking for everyone; a person needs at most @n + (videos they finished) of it
  SELECT
    t.video_id,
    t.rank,
    t.score * COALESCE(l.lift, 1.0) AS score,
    ROW_NUMBER() OVER (ORDER BY t.score * COALESCE(l.lift, 1.0) DESC, t.video_id) AS position
  FROM `${project}.${dataset}.video_trending` AS t
  JOIN latest ON t.as_of = latest.as_of
  LEFT JOIN lift AS l ON l.video_id = t.video_id
),
candidates AS (
  SELECT s.person_id, s.video_id, s.score * COALESCE(l.lift, 1.0) AS score, CONCAT('similar to ', k.seed) AS reason, 1 AS source
  FROM similar AS s
  JOIN strongest_seed AS k ON k.person_id = s.person_id AND k.video_id = s.video_id
  LEFT JOIN lift AS l ON l.video_id = s.video_id
  UNION ALL
  SELECT p.person_id, t.video_id, t.score, CONCAT('trending #', CAST(t.rank AS STRING)) AS reason, 2 AS source
  FROM persons AS p
  LEFT JOIN finished_count AS f ON f.person_id = p.person_id
  JOIN trending AS t ON t.position <= @n + COALESCE(f.videos, 0)
),
eligible AS (
  -- an anti-join (the stand-in mis-evaluates correlated NOT EXISTS; see sessions_final)
  SELECT c.*, ROW_NUMBER() OVER (PARTITION BY c.person_id, c.video_id ORDER BY c.source, c.score DESC) AS pick
  FROM candidates AS c
  LEFT JOIN finished AS f ON f.person_id = c.person_id AND f.video_id = c.video_id
  WHERE f.video_id IS NULL
),
ordered AS (
  SELECT
    person_id,
    video_id,
    score,
    reason,
    ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY source, score DESC, video_id) AS position
  FROM eligible
  WHERE pick = 1
)
SELECT person_id, position, video_id, score, reason
FROM ordered
WHERE position <= @n
ORDER BY person_id, position
