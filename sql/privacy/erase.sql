-- The erasure job (the right to be forgotten): deletes every row of each person with a pending
-- or partial request in deletion_requests, from every table that holds a person's rows, and records
-- per request the rows deleted per table.
--
-- Runs as it is on BigQuery: a Terraform scheduled query (no parameters; ${project}, ${dataset} and
-- ${sweep_days} filled in by templatefile) and `clickstream privacy erase` (clickstream.app.privacy,
-- which renders the same three). The local stand-in runs it statement by statement;
-- clickstream.core.sql plays BigQuery's part for the exception blocks.
--
-- The requests a run works on ("this run's requests"):
--   * pending or partial ones, stamped by the run's first statement (last_run_at set), so a request
--     recorded while it runs waits for the next run instead of being marked done half-erased;
--   * done ones made less than ${sweep_days} days ago (requested_at): the sweep. Rows of the person can
--     still arrive after the request is done (the pipeline reads deletion_requests once at start
--     locally and refreshes it every few minutes on Dataflow; open session windows still fire). The
--     pipeline drops the person's new events for --erased_user_suppression_days after requested_at, so
--     sweep_days is that same period (default clickstream.core.config.ERASED_USER_SUPPRESSION_DAYS).
--     A sweep adds what it deletes to rows_deleted and sets last_run_at; a done request stays done
--     (completed_at kept): a table that refuses puts the error in detail and the next run retries.
--
-- Per table, one exception block over this run's requests:
--   1. stage: add ('~<table>', rows the request's pseudonyms have there) to each request's rows_deleted
--   2. delete those rows
--   3. commit: drop the '~' from the staged entries
--   on error (BigQuery refuses DML over rows still in the streaming buffer, the first ~30 minutes after
--   a legacy streaming insert): drop the staged entries and append "<table>: <error>" to detail. Other
--   tables still go ahead. A pending request ends 'partial' and the next run retries it (rows_deleted
--   then holds one entry per table per run that found rows: the status command adds them up).
-- A request ends 'done' (completed_at set) on the first run in which every table was cleared.
-- deletion_requests keeps the pseudonyms: the pipeline's erased_user suppression reads them.

UPDATE `${project}.${dataset}.deletion_requests`
SET last_run_at = CURRENT_TIMESTAMP(), detail = NULL
WHERE status IN ('pending', 'partial')
  OR status = 'done' AND requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY);

-- events
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.events` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~events' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.events`
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
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), 'events: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;

-- sessions
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.sessions` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~sessions' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.sessions`
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
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), 'sessions: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;

-- dead_letters
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.dead_letters` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~dead_letters' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.dead_letters`
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
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), 'dead_letters: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;

-- duplicates
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.duplicates` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~duplicates' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.duplicates`
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
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), 'duplicates: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;

-- filtered
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.filtered` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~filtered' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.filtered`
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
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), 'filtered: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;

-- user_video_affinity
BEGIN
  MERGE `${project}.${dataset}.deletion_requests` AS r
  USING (
    SELECT q.request_id, COUNT(*) AS found
    FROM `${project}.${dataset}.deletion_requests` AS q
    CROSS JOIN UNNEST(q.user_ids) AS pseudonym
    JOIN `${project}.${dataset}.user_video_affinity` AS t ON t.user_id = pseudonym
    WHERE (q.status IN ('pending', 'partial') AND q.last_run_at IS NOT NULL OR q.status = 'done' AND q.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY))
    GROUP BY q.request_id
  ) AS c
  ON r.request_id = c.request_id
  WHEN MATCHED THEN
    UPDATE SET rows_deleted = ARRAY_CONCAT(r.rows_deleted, [STRUCT('~user_video_affinity' AS table_name, c.found AS `rows`)]);
  DELETE FROM `${project}.${dataset}.user_video_affinity`
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
    detail = CONCAT(IFNULL(CONCAT(r.detail, '; '), ''), 'user_video_affinity: ', @@error.message)
  WHERE (r.status IN ('pending', 'partial') AND r.last_run_at IS NOT NULL OR r.status = 'done' AND r.requested_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL ${sweep_days} DAY));
END;

-- Done when every table was cleared in this run; otherwise partial, retried by the next run.
UPDATE `${project}.${dataset}.deletion_requests`
SET
  status = IF(detail IS NULL, 'done', 'partial'),
  completed_at = IF(detail IS NULL, CURRENT_TIMESTAMP(), NULL)
WHERE status IN ('pending', 'partial') AND last_run_at IS NOT NULL;
