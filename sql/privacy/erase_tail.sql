-- Done when every table was cleared in this run; otherwise partial, retried by the next run.
UPDATE `${project}.${dataset}.deletion_requests`
SET
  status = IF(detail IS NULL, 'done', 'partial'),
  completed_at = IF(detail IS NULL, CURRENT_TIMESTAMP(), NULL)
WHERE status IN ('pending', 'partial') AND last_run_at IS NOT NULL;
