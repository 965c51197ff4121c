-- The @n most active users since @since (TIMESTAMP): the demo shows their recommendations.
SELECT user_id, COUNT(*) AS events
FROM `${project}.${dataset}.events`
WHERE publish_time >= @since
GROUP BY user_id
ORDER BY events DESC, user_id
LIMIT @n
