-- The top @n of the latest trending run.
SELECT t.rank, t.video_id, c.title, t.score, t.unique_users
FROM `${project}.${dataset}.video_trending` AS t
LEFT JOIN `${project}.${dataset}.video_catalog` AS c ON c.video_id = t.video_id
WHERE t.as_of = (SELECT MAX(as_of) FROM `${project}.${dataset}.video_trending`) AND t.rank <= @n
ORDER BY t.rank
