data "google_project" "this" {}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  retention    = "${var.message_retention_days * 86400}s"
  # The end of the dead-letter chain keeps what reaches it as long as Pub/Sub can: 31 days.
  parked_retention = "${31 * 86400}s"
}

resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83: CMEK is optional (var.kms_key_name, below); null keeps Google-managed keys.
  kms_key_name = var.kms_key_name
  name         = "${var.name_prefix}-events"
  schema_settings {
    schema   = google_pubsub_schema.event.id
    encoding = "BINARY" # Avro BINARY: compact, and what the emitters write (docs/contract.md)
  }
  message_retention_duration = local.retention
  # Publishers are accepted once every revision is registered (terraform/schema.tf).
  depends_on = [terraform_data.schema_revisions, google_kms_crypto_key_iam_member.pubsub_uses_key]
}

# What the HTTP collector refused (not a JSON object, not the contract...): the event's JSON as
# received, with the reason in attributes (clickstream.core.attributes). No schema: these are,
# by definition, not contract events. The pipeline reads them (below) and writes each one as a
# dead_letters row with stage `collect`, so the ledger holds.
resource "google_pubsub_topic" "rejected" {
  #checkov:skip=CKV_GCP_83: CMEK is optional (var.kms_key_name, below); null keeps Google-managed keys.
  kms_key_name               = var.kms_key_name
  name                       = "${var.name_prefix}-events-rejected"
  message_retention_duration = local.retention
  # The service agent may use the key before the topic is created with it.
  depends_on = [google_kms_crypto_key_iam_member.pubsub_uses_key]
}

# Pub/Sub-side dead-lettering works only for a consumer that acknowledges what it has processed
# and nothing else: not the Dataflow job (see its subscription below), which dead-letters in the
# pipeline instead (the dead_letters table, with a reason). This topic is the dead-letter topic for
# every other subscription of the events topic (point its dead_letter_policy here); nothing here
# publishes to it by default. Its subscription is read by people and by
# `clickstream replay --input pubsub://<dead_letter_subscription>`, which acknowledges a message
# only once the pipeline has written it, so Pub/Sub's count of failed deliveries is real there.
resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83: CMEK is optional (var.kms_key_name, below); null keeps Google-managed keys.
  kms_key_name               = var.kms_key_name
  name                       = "${var.name_prefix}-events-dead-letter"
  message_retention_duration = local.retention
  # The service agent may use the key before the topic is created with it.
  depends_on = [google_kms_crypto_key_iam_member.pubsub_uses_key]
}

# Where a dead letter that keeps failing on its own subscription ends: kept, never dropped.
resource "google_pubsub_topic" "parked" {
  #checkov:skip=CKV_GCP_83: CMEK is optional (var.kms_key_name, below); null keeps Google-managed keys.
  kms_key_name               = var.kms_key_name
  name                       = "${var.name_prefix}-events-parked"
  message_retention_duration = local.parked_retention
  # The service agent may use the key before the topic is created with it.
  depends_on = [google_kms_crypto_key_iam_member.pubsub_uses_key]
}

# The subscription the Dataflow job reads. No dead_letter_policy and no retry_policy, on purpose:
# Dataflow's Pub/Sub source acknowledges a message once the job has checkpointed it, not once the
# pipeline has processed it, and lets leases lapse or hands messages back while it scales or works
# through a backlog; Google does not support dead-letter topics or retry backoff on a subscription
# Dataflow reads. A policy here would count those lapses as failed deliveries and move healthy
# messages out of the job's reach. The pipeline dead-letters what it cannot use itself (the
# dead_letters table, with a reason; `clickstream replay` re-processes them).
resource "google_pubsub_subscription" "pipeline" {
  name  = "${var.name_prefix}-pipeline"
  topic = google_pubsub_topic.events.id
  # Dataflow extends deadlines itself; 60 s covers a bundle between extensions.
  ack_deadline_seconds       = 60
  message_retention_duration = local.retention
  retain_acked_messages      = true # seek back to replay after a bad deploy
  expiration_policy {
    ttl = "" # never expire
  }
}

# The Dataflow job's second input (--rejected_subscription): like the events subscription, no
# dead-letter or retry policy, because Dataflow acknowledges on checkpoint (see above).
resource "google_pubsub_subscription" "rejected" {
  name                       = "${var.name_prefix}-pipeline-rejected"
  topic                      = google_pubsub_topic.rejected.id
  ack_deadline_seconds       = 60
  message_retention_duration = local.retention
  retain_acked_messages      = true # seek back to replay rejected events too
  expiration_policy {
    ttl = "" # never expire
  }
}

resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.name_prefix}-events-dead-letter-inspect"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = local.retention
  expiration_policy {
    ttl = ""
  }
  dead_letter_policy {
    # A dead letter that an inspector or a replay keeps failing on is parked, not dropped.
    dead_letter_topic     = google_pubsub_topic.parked.id
    max_delivery_attempts = 100
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# The end of the chain: no dead-letter policy (it would only move the problem one topic on), kept
# 31 days and never expiring, so a parked message waits for a person or
# `clickstream replay --input pubsub://<parked_subscription>` instead of the topic's retention.
resource "google_pubsub_subscription" "parked" {
  name                       = "${var.name_prefix}-events-parked-inspect"
  topic                      = google_pubsub_topic.parked.id
  ack_deadline_seconds       = 60
  message_retention_duration = local.parked_retention
  expiration_policy {
    ttl = ""
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# Pub/Sub's service agent forwards undeliverable messages: it must publish to each dead-letter
# topic and acknowledge on each subscription that dead-letters, and nothing more.
resource "google_pubsub_topic_iam_member" "agent_publishes_parked" {
  topic  = google_pubsub_topic.parked.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_acks_dead_letter_inspect" {
  subscription = google_pubsub_subscription.dead_letter.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
