-- Record a deletion request (clickstream privacy forget): the person's pseudonyms under every key
-- held, never the raw id. A DML INSERT, not a streaming insert: the erasure job UPDATEs this table,
-- and BigQuery refuses DML over rows still in the streaming buffer.
-- Parameters: @request_id STRING, @user_ids ARRAY<STRING>, @reason STRING (may be NULL).
INSERT INTO `${project}.${dataset}.deletion_requests`
  (request_id, user_ids, reason, requested_at, status, rows_deleted)
VALUES (@request_id, @user_ids, @reason, CURRENT_TIMESTAMP(), 'pending', [])
