# Who read or wrote which table or object: Cloud Audit Logs' data access logs for BigQuery and
# Cloud Storage (issue 13). This is what the bucket's CKV_GCP_62 skip relies on instead of usage
# logs. BigQuery writes its data access logs whatever this says; Cloud Storage writes them only
# when asked. Note: google_project_iam_audit_config is authoritative for its service in the
# project; merge any audit exemptions you had for these two services here.

resource "google_project_iam_audit_config" "bigquery" {
  project = var.project_id
  service = "bigquery.googleapis.com"
  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}

resource "google_project_iam_audit_config" "storage" {
  project = var.project_id
  service = "storage.googleapis.com"
  audit_log_config {
    log_type = "DATA_READ"
  }
  audit_log_config {
    log_type = "DATA_WRITE"
  }
}
