locals {
  signal_defaults = jsondecode(file("${path.module}/../sql/signals/params.json"))
  # The same SQL files `clickstream signals run` executes. A scheduled query has no query
  # parameters but @run_time, so each parameter becomes a typed literal from params.json;
  # the values are numbers from this repository, not user input.
  signal_sql = join("\n\n", [
    # The order of clickstream.app.signals.SIGNALS: video_ctr reads what position_propensity wrote.
    # position_propensity.sql is generated with params.json's em_iterations unrolled.
    for name in ["position_propensity", "video_ctr", "user_video_affinity", "video_similarity", "video_trending"] :
    replace(replace(replace(replace(replace(replace(replace(replace(replace(
      templatefile("${path.module}/../sql/signals/${name}.sql", {
        project = var.project_id
        dataset = google_bigquery_dataset.clickstream.dataset_id
      }),
      "@as_of", "TIMESTAMP_TRUNC(@run_time, HOUR)"),
      "@lookback_days", "CAST(${local.signal_defaults.lookback_days} AS INT64)"),
      "@half_life_days", "CAST(${local.signal_defaults.half_life_days} AS FLOAT64)"),
      "@top_k", "CAST(${local.signal_defaults.top_k} AS INT64)"),
      "@min_support", "CAST(${local.signal_defaults.min_support} AS INT64)"),
      "@keep_runs", "CAST(${local.signal_defaults.keep_runs} AS INT64)"),
      "@em_iterations", "CAST(${local.signal_defaults.em_iterations} AS INT64)"),
      "@propensity_floor", "CAST(${local.signal_defaults.propensity_floor} AS FLOAT64)"),
    "@min_impressions", "CAST(${local.signal_defaults.min_impressions} AS INT64)")
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
    google_bigquery_table_iam_member.signals,
  ]
}

# The erasure job (issue 13): the SQL `clickstream privacy erase` runs locally, run here by a
# scheduled query as its own account (iam.tf, access.tf). It deletes the rows of every pending
# deletion request from the per-person tables and records the result in deletion_requests; a
# table that refuses (rows still in the streaming buffer of the insertAll API) leaves the request
# `partial`, retried at the next run.
locals {
  erasure_sql = templatefile("${path.module}/../sql/privacy/erase.sql", {
    project = var.project_id
    dataset = google_bigquery_dataset.clickstream.dataset_id
    # Done requests are swept again for as long as the pipeline may still let their rows in.
    sweep_days = var.erased_user_suppression_days
  })
}

resource "google_bigquery_data_transfer_config" "erasure" {
  display_name         = "${var.name_prefix} erasure of deletion requests"
  location             = var.region
  data_source_id       = "scheduled_query"
  schedule             = var.erasure_schedule
  service_account_name = google_service_account.erasure.email
  params = {
    query = local.erasure_sql
  }
  depends_on = [
    google_bigquery_table.tables,
    google_project_iam_member.erasure_job_user,
    google_bigquery_table_iam_member.erasure,
  ]
}
