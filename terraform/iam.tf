# Least privilege: every grant is on the one resource a service account needs, except
# the project-level roles that exist only at project level (dataflow.worker, bigquery.jobUser).

resource "google_service_account" "dataflow_worker" {
  account_id   = "${var.name_prefix}-dataflow"
  display_name = "Clickstream Dataflow worker"
}

resource "google_service_account" "emitter" {
  account_id   = "${var.name_prefix}-emitter"
  display_name = "Clickstream event emitters (publish only)"
}

resource "google_service_account" "signals" {
  account_id   = "${var.name_prefix}-signals"
  display_name = "Clickstream signal job (scheduled query)"
}

resource "google_project_iam_member" "dataflow_worker" {
  project = var.project_id
  role    = "roles/dataflow.worker"
  member  = google_service_account.dataflow_worker.member
}

# The catalog side input runs a query job.
resource "google_project_iam_member" "dataflow_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.dataflow_worker.member
}

# Writes the pipeline's consumer spans to Cloud Trace; only when trace_exporter is gcp.
resource "google_project_iam_member" "dataflow_trace_agent" {
  count   = local.cloud_trace ? 1 : 0
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = google_service_account.dataflow_worker.member
}

resource "google_pubsub_subscription_iam_member" "dataflow_subscriber" {
  subscription = google_pubsub_subscription.pipeline.id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.dataflow_worker.member
}

# The events the collector refused, which the pipeline writes as dead_letters rows.
resource "google_pubsub_subscription_iam_member" "dataflow_reads_rejected" {
  subscription = google_pubsub_subscription.rejected.id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.dataflow_worker.member
}

# The last resort for a dead letter the dead_letters table refuses (pipelines/transforms/park.py).
resource "google_pubsub_topic_iam_member" "dataflow_parks_refused_dead_letters" {
  topic  = google_pubsub_topic.parked.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.dataflow_worker.member
}

resource "google_bigquery_dataset_iam_member" "dataflow_editor" {
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.dataflow_worker.member
}

resource "google_storage_bucket_iam_member" "dataflow_objects" {
  bucket = google_storage_bucket.pipeline.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.dataflow_worker.member
}

resource "google_pubsub_topic_iam_member" "emitter_publisher" {
  topic  = google_pubsub_topic.events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.emitter.member
}

resource "google_project_iam_member" "signals_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.signals.member
}

resource "google_bigquery_dataset_iam_member" "signals_editor" {
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.signals.member
}

# `clickstream replay` run as this account re-processes dead letters: it pulls and acknowledges the
# two subscriptions that hold dead-lettered messages (and no other), writes the dataset's tables and
# runs the query jobs that read dead_letters and the catalog.
resource "google_service_account" "replay" {
  account_id   = "${var.name_prefix}-replay"
  display_name = "Clickstream replay (dead-letter and parked subscriptions, dead_letters table)"
}

resource "google_pubsub_subscription_iam_member" "replay_dead_letters" {
  subscription = google_pubsub_subscription.dead_letter.id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.replay.member
}

resource "google_pubsub_subscription_iam_member" "replay_parked" {
  subscription = google_pubsub_subscription.parked.id
  role         = "roles/pubsub.subscriber"
  member       = google_service_account.replay.member
}

# A replay runs the same sinks as the pipeline, so it parks what the dead_letters table refuses.
resource "google_pubsub_topic_iam_member" "replay_parks_refused_dead_letters" {
  topic  = google_pubsub_topic.parked.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.replay.member
}

resource "google_bigquery_dataset_iam_member" "replay_editor" {
  dataset_id = google_bigquery_dataset.clickstream.dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_service_account.replay.member
}

resource "google_project_iam_member" "replay_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.replay.member
}
