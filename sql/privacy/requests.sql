-- Deletion requests and the erasure job's progress (clickstream privacy status), newest first.
SELECT request_id, user_ids, reason, requested_at, status, rows_deleted, detail, last_run_at, completed_at
FROM `${project}.${dataset}.deletion_requests`
ORDER BY requested_at DESC, request_id
