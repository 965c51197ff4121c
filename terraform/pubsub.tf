data "google_project" "this" {}

locals {
  avro_dir = "${path.module}/../schemas/avro"
  # The newest contract revision. sort() is lexical: keep minor versions below 10.
  avro_current = reverse(sort(fileset(local.avro_dir, "clickstream_event.v*.avsc")))[0]
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  retention    = "${var.message_retention_days * 86400}s"
}

resource "google_pubsub_schema" "event" {
  name       = "${var.name_prefix}-event"
  type       = "AVRO"
  definition = file("${local.avro_dir}/${local.avro_current}")
}

resource "google_pubsub_topic" "events" {
  #checkov:skip=CKV_GCP_83: Google-managed encryption; pass a CMEK key here if your policy requires one.
  name = "${var.name_prefix}-events"
  schema_settings {
    schema   = google_pubsub_schema.event.id
    encoding = "BINARY" # Avro BINARY: compact, and what the emitters write (docs/contract.md)
  }
  message_retention_duration = local.retention
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83: Google-managed encryption; pass a CMEK key here if your policy requires one.
  name                       = "${var.name_prefix}-events-dead-letter"
  message_retention_duration = local.retention
}

resource "google_pubsub_topic" "parked" {
  #checkov:skip=CKV_GCP_83: Google-managed encryption; pass a CMEK key here if your policy requires one.
  name                       = "${var.name_prefix}-events-parked"
  message_retention_duration = local.retention
}

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
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
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
    # A dead letter that an inspector keeps failing on is parked, not dropped.
    dead_letter_topic     = google_pubsub_topic.parked.id
    max_delivery_attempts = 100
  }
  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }
}

# Pub/Sub's service agent forwards undeliverable messages: it must publish to the dead-letter
# topic and acknowledge on the source subscription.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

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

resource "google_pubsub_subscription_iam_member" "agent_acks_source" {
  subscription = google_pubsub_subscription.pipeline.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}
