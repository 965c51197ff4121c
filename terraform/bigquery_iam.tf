# Per-table BigQuery grants (the roles are in access.tf). Table-level IAM, unlike dataset-level
# *_iam_member resources, does not fight the dataset's access blocks (bigquery.tf).

locals {
  # Every table and view by name, so a grant waits for the table it is on.
  dataset_objects = merge(
    google_bigquery_table.tables,
    google_bigquery_table.base_views,
    google_bigquery_table.derived_views,
  )
}

resource "google_bigquery_table_iam_member" "dataflow_worker" {
  for_each   = local.table_roles.dataflow_worker
  project    = var.project_id
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  table_id   = local.dataset_objects[each.key].table_id
  role       = each.value
  member     = google_service_account.dataflow_worker.member
}

resource "google_bigquery_table_iam_member" "replay" {
  for_each   = local.table_roles.replay
  project    = var.project_id
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  table_id   = local.dataset_objects[each.key].table_id
  role       = each.value
  member     = google_service_account.replay.member
}

resource "google_bigquery_table_iam_member" "signals" {
  for_each   = local.table_roles.signals
  project    = var.project_id
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  table_id   = local.dataset_objects[each.key].table_id
  role       = each.value
  member     = google_service_account.signals.member
}

resource "google_bigquery_table_iam_member" "erasure" {
  for_each   = local.table_roles.erasure
  project    = var.project_id
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  table_id   = local.dataset_objects[each.key].table_id
  role       = each.value
  member     = google_service_account.erasure.member
}
