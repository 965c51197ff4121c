locals {
  signal_defaults = jsondecode(file("${path.module}/../sql/signals/params.json"))
  # The same SQL files `clickstream signals run` executes. A scheduled query has no query
  # parameters but @run_time, so each parameter becomes a typed literal from params.json;
  # the values are numbers from this repository, not user input.
  signal_sql = join("\n\n", [
    for name in ["user_video_affinity", "video_similarity", "video_trending"] :
    replace(replace(replace(replace(replace(
      templatefile("${path.module}/../sql/signals/${name}.sql", {
        project = var.project_id
        dataset = google_bigquery_dataset.clickstream.dataset_id
      }),
      "@as_of", "TIMESTAMP_TRUNC(@run_time, HOUR)"),
      "@lookback_days", "CAST(${local.signal_defaults.lookback_days} AS INT64)"),
      "@half_life_days", "CAST(${local.signal_defaults.half_life_days} AS FLOAT64)"),
      "@top_k", "CAST(${local.signal_defaults.top_k} AS INT64)"),
    "@min_support", "CAST(${local.signal_defaults.min_support} AS INT64)")
  ])
}

resource "google_bigquery_data_transfer_config" "signals" {
  display_name         = "${var.name_prefix} recommendation signals"
  location             = var.region
  data_source_id       = "scheduled_query"
  schedule             = var.signal_schedule
  service_account_name = google_service_account.signals.email
  params = {
    query = local.signal_sql
  }
  depends_on = [
    google_bigquery_table.tables,
    google_bigquery_table.derived_views,
    google_project_iam_member.signals_job_user,
    google_bigquery_dataset_iam_member.signals_editor,
  ]
}
