locals {
  # Parameter names and defaults come from dataflow/metadata.json, which is generated from the
  # pipeline's option parser: the job passes every option, so the three lists stay equal.
  flex_metadata = jsondecode(file("${path.module}/../dataflow/metadata.json"))
  deployment_parameters = {
    input_subscription    = google_pubsub_subscription.pipeline.id
    rejected_subscription = google_pubsub_subscription.rejected.id
    bq_project            = var.project_id
    dataset               = google_bigquery_dataset.clickstream.dataset_id
    parked_topic          = google_pubsub_topic.parked.id
    trace_exporter        = var.trace_exporter
    trace_sample_ratio    = local.pipeline_trace_sample_ratio
    # The Storage Write API (issue 13): no streaming buffer, so the erasure job can delete rows
    # as soon as they are written (insertAll's buffer refuses DML for up to 90 minutes), and
    # exactly-once writes. The image carries the Java it needs (dataflow/Dockerfile).
    # pipeline_parameters = { write_method = "INSERT_ALL" } goes back to insertAll.
    write_method = "STORAGE_WRITE_API"
    # Privacy (issue 13): the key is read from Secret Manager when the workers start (never a
    # value here: secrets.tf), from the numbered version var.pseudonym_key_version names, so
    # every worker hashes with the same key; a rotation reaches the job when that variable
    # changes (an update of the job).
    pseudonym_key                = local.pseudonym_key_version_name
    consent_default              = var.consent_default
    erased_user_suppression_days = tostring(var.erased_user_suppression_days)
  }
  pipeline_parameters = {
    for p in local.flex_metadata.parameters :
    p.name => lookup(var.pipeline_parameters, p.name, lookup(local.deployment_parameters, p.name, p.defaultValue))
  }
}

resource "google_dataflow_flex_template_job" "pipeline" {
  provider                = google-beta
  count                   = var.template_gcs_path == "" ? 0 : 1
  name                    = local.pipeline_job_name
  region                  = var.region
  container_spec_gcs_path = var.template_gcs_path
  parameters              = local.pipeline_parameters
  service_account_email   = google_service_account.dataflow_worker.email
  temp_location           = "${google_storage_bucket.pipeline.url}/tmp"
  staging_location        = "${google_storage_bucket.pipeline.url}/staging"
  max_workers             = var.dataflow_max_workers
  # The workers run the template's own image (every dependency installed, Beam's boot entrypoint),
  # as Google's guide to Flex Templates with a custom image recommends: nothing is pip-installed
  # at launch or on a worker, which private IPs could not reach anyway.
  sdk_container_image     = var.pipeline_image
  enable_streaming_engine = true
  # No public IPs (issue 13): workers reach Google APIs through Private Google Access on their
  # subnetwork (var.dataflow_subnetwork, or the one network.tf creates when that is null).
  ip_configuration = "WORKER_IP_PRIVATE"
  subnetwork       = local.dataflow_subnetwork
  # The optional customer-managed key (kms.tf) also encrypts the job's Streaming Engine state
  # (dedup and session state, pseudonyms in it) and its workers' disks; null keeps Google's keys.
  kms_key_name = var.kms_key_name
  # `terraform destroy` drains: in-flight data is finished, not dropped (docs/deploy.md, teardown).
  on_delete = "drain"

  depends_on = [
    google_project_iam_member.dataflow_worker,
    google_project_iam_member.dataflow_trace_agent,
    google_pubsub_subscription_iam_member.dataflow_subscriber,
    google_pubsub_subscription_iam_member.dataflow_reads_rejected,
    google_bigquery_table_iam_member.dataflow_worker,
    google_storage_bucket_iam_member.dataflow_objects,
    google_secret_manager_secret_iam_member.dataflow_reads_pseudonym_key,
    google_artifact_registry_repository_iam_member.dataflow_reads_image,
    # Workers that cannot reach each other stall the job.
    google_compute_firewall.dataflow_workers,
    # With a key, the job cannot start until its service agents may use it.
    google_kms_crypto_key_iam_member.dataflow_uses_key,
    google_kms_crypto_key_iam_member.compute_uses_key,
  ]
}
