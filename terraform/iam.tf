# Least privilege: every grant is on the one resource a service account needs (BigQuery grants
# per table: access.tf and bigquery_iam.tf), except the project-level roles that exist only at
# project level (dataflow.worker, bigquery.jobUser).

locals {
  # The prefix of the IAM resource name of every object in the bucket (for prefix conditions).
  bucket_objects = "projects/_/buckets/${google_storage_bucket.pipeline.name}/objects/"
}

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

# Dataflow staging and temp files only, not the replay archive (an IAM condition on the object
# name; the bucket has uniform access, which conditions need).
resource "google_storage_bucket_iam_member" "dataflow_objects" {
  bucket = google_storage_bucket.pipeline.name
  role   = "roles/storage.objectAdmin"
  member = google_service_account.dataflow_worker.member
  condition {
    title       = "staging-and-tmp-only"
    description = "Dataflow staging and temp files; not archive/"
    expression = join(" || ", [
      "resource.name.startsWith(\"${local.bucket_objects}staging/\")",
      "resource.name.startsWith(\"${local.bucket_objects}tmp/\")",
      # Listing is checked on the bucket: allowed for these prefixes only.
      "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"staging/\")",
      "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"tmp/\")",
    ])
  }
}

# The template image is also the workers' SDK container: they pull it from Artifact Registry
# (the repository `clickstream deploy` creates, named like the prefix).
resource "google_artifact_registry_repository_iam_member" "dataflow_reads_image" {
  location   = var.region
  repository = var.name_prefix
  role       = "roles/artifactregistry.reader"
  member     = google_service_account.dataflow_worker.member
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

# `clickstream replay` run as this account re-processes dead letters: it pulls and acknowledges the
# two subscriptions that hold dead-lettered messages (and no other), writes the pipeline's sink
# tables (bigquery_iam.tf), reads the replay archive and runs the query jobs that read dead_letters
# and the catalog.
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

# gs://<bucket>/archive/ is what `clickstream replay --input gs://...` reads; nothing else there.
resource "google_storage_bucket_iam_member" "replay_reads_archive" {
  bucket = google_storage_bucket.pipeline.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.replay.member
  condition {
    title       = "archive-only"
    description = "Replay archives; not Dataflow staging or temp files"
    expression = join(" || ", [
      "resource.name.startsWith(\"${local.bucket_objects}archive/\")",
      "api.getAttribute(\"storage.googleapis.com/objectListPrefix\", \"\").startsWith(\"archive/\")",
    ])
  }
}

resource "google_project_iam_member" "replay_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.replay.member
}

# The erasure job (issue 13): the scheduled query that deletes forgotten people's rows
# (scheduled_query.tf) runs as this account, which may delete from the per-person tables and
# update deletion_requests (access.tf) and nothing else. Operators run `clickstream privacy
# forget/erase/status` as this account too, so it may read the pseudonym key (secrets.tf).
resource "google_service_account" "erasure" {
  account_id   = "${var.name_prefix}-erasure"
  display_name = "Clickstream erasure job (deletes forgotten people's rows)"
}

resource "google_project_iam_member" "erasure_job_user" {
  project = var.project_id
  role    = "roles/bigquery.jobUser"
  member  = google_service_account.erasure.member
}
