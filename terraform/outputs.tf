output "events_topic" {
  description = "Topic the emitters publish to (set CLICKSTREAM_TOPIC to its short name)."
  value       = google_pubsub_topic.events.id
}

output "pipeline_subscription" {
  description = "Subscription the Dataflow job reads."
  value       = google_pubsub_subscription.pipeline.id
}

output "rejected_subscription" {
  description = "Subscription of the events the collector refused; the Dataflow job reads it (--rejected_subscription) into dead_letters."
  value       = google_pubsub_subscription.rejected.id
}

output "collector_url" {
  description = "HTTPS URL of the collector (POST /v1/events with X-Write-Key); empty until collector_image is set."
  value       = one(google_cloud_run_v2_service.collector[*].uri)
}

output "dead_letter_subscription" {
  description = "Subscription of the dead-letter topic (for non-Dataflow consumers): inspect it, or drain it with clickstream replay --input pubsub://<this>."
  value       = google_pubsub_subscription.dead_letter.id
}

output "parked_subscription" {
  description = "Subscription of the parked topic (dead letters that kept failing), kept 31 days, never expires."
  value       = google_pubsub_subscription.parked.id
}

output "dataset" {
  description = "BigQuery dataset with events, sessions, dead letters and signals."
  value       = google_bigquery_dataset.clickstream.id
}

output "bucket" {
  description = "Bucket for Dataflow staging/temp and replay archives (archive/ prefix)."
  value       = google_storage_bucket.pipeline.url
}

output "service_accounts" {
  description = "Service accounts by role."
  value = {
    dataflow_worker = google_service_account.dataflow_worker.email
    emitter         = google_service_account.emitter.email
    signals         = google_service_account.signals.email
    replay          = google_service_account.replay.email
    collector       = google_service_account.collector.email
    erasure         = google_service_account.erasure.email
  }
}

output "dataflow_job_id" {
  description = "Id of the streaming job (empty until a template path is given)."
  value       = one(google_dataflow_flex_template_job.pipeline[*].job_id)
}

output "pseudonym_key_secret" {
  description = "Secret Manager secret that holds the pseudonymisation key (one hex key per line, newest first); Terraform creates it without a version."
  value       = google_secret_manager_secret.pseudonym_key.id
}

output "pseudonym_key_command" {
  description = "Run once after the first apply, before the job starts: adds a fresh random key as the secret's first version, version 1, which pseudonym_key_version (default \"1\") names (the value never passes through Terraform or its state). Rotation: docs/deploy.md."
  value       = "python3 -c 'import secrets; print(secrets.token_hex(32))' | gcloud secrets versions add ${google_secret_manager_secret.pseudonym_key.secret_id} --project=${var.project_id} --data-file=-"
}

output "pseudonym_key_version_name" {
  description = "The key version the job reads (pseudonym_key_version): set CLICKSTREAM_PSEUDONYM_KEY to it where `clickstream privacy forget` and `recommend --user` run, so they hash with the keys the job holds."
  value       = local.pseudonym_key_version_name
}
