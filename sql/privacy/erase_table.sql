-- <table>
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.<table>` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~<table>' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.<table>`
  WHERE user_id IN (
    SELECT pseudonym
    FROM `${project}.${dataset}.deletion_requests`, UNNEST(user_ids) AS pseudonym
    WHERE (status IN ('pending', 'partial') AND last_run_at IS NOT NULL OR status = 'done' AND requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
  );
  UPDATE `${project}.${dataset}.deletion_requests` AS r
  SET rows_deleted = ARRAY(SELECT AS STRUCT REPLACE(d.table_name, '~', '') AS table_name, d.`rows` FROM UNNEST(r.rows_deleted) AS d)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
EXCEPTION WHEN ERROR THEN
  UPDATE `${project}.${dataset}.deletion_requests` AS r
  SET
    rows_deleted = ARRAY(SELECT AS STRUCT d.table_name, d.`rows` FROM UNNEST(r.rows_deleted) AS d WHERE NOT STARTS_WITH(d.table_name, '~')),
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), '<table>: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;
