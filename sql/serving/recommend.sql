-- Recommendations for one person or thousands in one query (clickstream.app.recommendations:
-- `clickstream recommend`, `clickstream signals evaluate`).
--
-- Parameters: @person_ids ARRAY<STRING> and @user_ids ARRAY<STRING>, zipped by offset (the person
-- at offset i has the pseudonym at offset i: a person appears once per pseudonym), @n INT64,
-- @as_of TIMESTAMP (the signal run used is the latest at or before it), and the blend's weights
-- from sql/serving/params.json: @pool_size INT64, @category_prior FLOAT64, @similar_weight FLOAT64,
-- @ctr_weight FLOAT64, @finished_watch_ratio FLOAT64.
-- Output: person_id, position (1..@n), video_id, score, reason; ordered by person_id, position.
--
-- One blended score over the union of two candidate sets: the top @pool_size of the popularity
-- ranking (the same for everyone) and the videos similar to the person's top-10 affinity videos.
--
--   score = popularity x category_lift x (1 + @similar_weight x similar)
--
-- * popularity = trending score x POW(ctr lift, @ctr_weight), divided by the largest (so in (0, 1]).
--   What a viewer clicks next is mostly what is shown and appealing, which trending measures; the
--   ctr lift (below) corrects it for where it was shown (an exponent < 1: trending already counts
--   the clicks, which hold the appeal).
-- * category_lift = how much more the person engages with the video's catalog category than
--   everyone does, smoothed towards 1 by @category_prior (in units of affinity score):
--       (S_person(c) / share(c) + @category_prior) / (S_person + @category_prior)
--   S_person(c) = the person's affinity score on videos of category c, S_person = over all videos,
--   share(c) = c's part of all affinity score of the run (an aggregate). A person with no
--   affinity rows, or a video without a catalog category, has lift 1.
-- * similar = SUM(affinity x similarity) over the seeds, divided by the person's largest (so in
--   [0, 1]; 0 for a video similar to none of the seeds).
-- The reason says "similar to <seed>" (the seed that contributed most) for a similar video, else
-- "trending #<rank>". Ties: video_id.
-- The ctr lift, from the position-debiased CTR (video_ctr): a video's ctr = its debiased_ctr
-- averaged over the surfaces where it is `supported` (>= min_impressions), weighted by
-- impressions; its lift = ctr / the mean ctr of all videos with support; a video without support
-- has lift 1 (its CTR is mostly noise). A video that is clicked often only because it was shown in
-- the first slots drops, one that is clicked often wherever it is shown rises.
-- Never recommended: a video the person has finished (watch ratio >= @finished_watch_ratio in their affinity rows of
-- the run, i.e. within the signal window). A person without affinity rows (personalization denied)
-- is served exactly like a stranger: nothing of their history is read, not even to leave out what
-- they finished (the consent rule of sql/signals/user_video_affinity.sql), and the query reads no
-- events table, so a call scans the signal tables only.
--
-- @user_ids are each person's pseudonyms under every key held (clickstream.core.pseudonyms): the
-- caller hashes the raw id, which no table holds. After a key rotation the signal window holds rows
-- under the old and the new pseudonym, so a video's affinity is summed over them. A user whose latest
-- event denied personalization has no affinity rows (sql/signals/user_video_affinity.sql), so gets
-- the popularity ranking only (category_lift 1, no similar videos).
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
  SELECT DISTINCT person_id, video_id FROM affinity WHERE max_watch_ratio >= @finished_watch_ratio
),
finished_count AS (
  SELECT person_id, COUNT(*) AS videos FROM finished GROUP BY person_id
),
catalog AS (
  SELECT video_id, category
  FROM (
    SELECT video_id, category, ROW_NUMBER() OVER (PARTITION BY video_id ORDER BY updated_at DESC) AS version
    FROM `${project}.${dataset}.video_catalog`
  )
  WHERE version = 1
),
category_score AS (
  -- everyone's affinity per category (an aggregate, like trending)
  SELECT c.category, SUM(a.score) AS score
  FROM `${project}.${dataset}.user_video_affinity` AS a
  JOIN latest ON a.as_of = latest.as_of
  JOIN catalog AS c ON c.video_id = a.video_id
  GROUP BY c.category
),
category_share AS (
  SELECT category, SAFE_DIVIDE(score, SUM(score) OVER ()) AS share FROM category_score
),
person_category AS (
  SELECT a.person_id, c.category, SUM(a.score) AS score
  FROM affinity AS a
  JOIN catalog AS c ON c.video_id = a.video_id
  GROUP BY a.person_id, c.category
),
person_total AS (
  SELECT person_id, SUM(score) AS score FROM affinity GROUP BY person_id
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
lifted AS (
  SELECT t.video_id, t.rank, t.score * POW(COALESCE(l.lift, 1.0), @ctr_weight) AS score
  FROM `${project}.${dataset}.video_trending` AS t
  JOIN latest ON t.as_of = latest.as_of
  LEFT JOIN lift AS l ON l.video_id = t.video_id
),
popularity AS (
  SELECT
    video_id,
    rank,
    SAFE_DIVIDE(score, MAX(score) OVER ()) AS score,
    ROW_NUMBER() OVER (ORDER BY score DESC, video_id) AS position
  FROM lifted
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
similar_top AS (
  SELECT person_id, MAX(score) AS score FROM similar GROUP BY person_id
),
strongest_seed AS (
  SELECT person_id, video_id, seed
  FROM (
    SELECT person_id, video_id, seed, ROW_NUMBER() OVER (PARTITION BY person_id, video_id ORDER BY part DESC, seed) AS r
    FROM contributions
  )
  WHERE r = 1
),
candidates AS (
  -- the popular pool (deep enough that @n remain after the person's finished videos) and the
  -- similar videos; a video in both is one candidate
  SELECT DISTINCT person_id, video_id
  FROM (
    SELECT p.person_id, t.video_id
    FROM persons AS p
    LEFT JOIN finished_count AS f ON f.person_id = p.person_id
    JOIN popularity AS t ON t.position <= GREATEST(@pool_size, @n) + COALESCE(f.videos, 0)
    UNION ALL
    SELECT person_id, video_id FROM similar
  )
),
scored AS (
  SELECT
    c.person_id,
    c.video_id,
    COALESCE(t.score, 0.0)
      * IF(
        v.category IS NULL,
        1.0,
        (COALESCE(SAFE_DIVIDE(pc.score, sh.share), 0.0) + @category_prior) / (COALESCE(pt.score, 0.0) + @category_prior)
      )
      * (1 + @similar_weight * COALESCE(SAFE_DIVIDE(s.score, st.score), 0.0)) AS score,
    IF(
      k.seed IS NOT NULL, CONCAT('similar to ', k.seed), CONCAT('trending #', CAST(t.rank AS STRING))
    ) AS reason
  FROM candidates AS c
  LEFT JOIN popularity AS t ON t.video_id = c.video_id
  LEFT JOIN catalog AS v ON v.video_id = c.video_id
  LEFT JOIN category_share AS sh ON sh.category = v.category
  LEFT JOIN person_category AS pc ON pc.person_id = c.person_id AND pc.category = v.category
  LEFT JOIN person_total AS pt ON pt.person_id = c.person_id
  LEFT JOIN similar AS s ON s.person_id = c.person_id AND s.video_id = c.video_id
  LEFT JOIN similar_top AS st ON st.person_id = c.person_id
  LEFT JOIN strongest_seed AS k ON k.person_id = c.person_id AND k.video_id = c.video_id
  -- an anti-join (the stand-in mis-evaluates correlated NOT EXISTS; see sessions_final)
  LEFT JOIN finished AS f ON f.person_id = c.person_id AND f.video_id = c.video_id
  WHERE f.video_id IS NULL
),
ordered AS (
  SELECT
    person_id,
    video_id,
    score,
    reason,
    ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY score DESC, video_id) AS position
  FROM scored
)
SELECT person_id, position, video_id, score, reason
FROM ordered
WHERE position <= @n
ORDER BY person_id, position
