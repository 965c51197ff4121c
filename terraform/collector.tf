# The HTTP collector (collector/, docs/deploy.md#the-collector-on-cloud-run): browsers and apps POST
# JSON events; it validates them with the contract and publishes Avro BINARY to the events topic,
# and what it refuses to the rejected topic. Created once an image is given (`clickstream deploy`
# builds it with dataflow/cloudbuild.yaml and passes collector_image).

resource "google_service_account" "collector" {
  account_id   = "${var.name_prefix}-collector"
  display_name = "Clickstream HTTP collector (publishes events and rejected events only)"
}

# Least privilege: publish to the two topics it writes and look them up, nothing else (no
# subscriber, no project role).
resource "google_pubsub_topic_iam_member" "collector_publishes_events" {
  topic  = google_pubsub_topic.events.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.collector.member
}

resource "google_pubsub_topic_iam_member" "collector_publishes_rejected" {
  topic  = google_pubsub_topic.rejected.id
  role   = "roles/pubsub.publisher"
  member = google_service_account.collector.member
}

# /readyz, the startup probe, looks both topics up (pubsub.topics.get, which the publisher role
# lacks): without this no revision would ever become ready. The viewer role on the topic itself
# reads its metadata only, not its messages.
resource "google_pubsub_topic_iam_member" "collector_looks_up_events" {
  topic  = google_pubsub_topic.events.id
  role   = "roles/pubsub.viewer"
  member = google_service_account.collector.member
}

resource "google_pubsub_topic_iam_member" "collector_looks_up_rejected" {
  topic  = google_pubsub_topic.rejected.id
  role   = "roles/pubsub.viewer"
  member = google_service_account.collector.member
}

# Writes the collector's request spans to Cloud Trace; only when trace_exporter is gcp (a project
# role: Cloud Trace has no smaller resource to grant on).
resource "google_project_iam_member" "collector_trace_agent" {
  count   = local.cloud_trace ? 1 : 0
  project = var.project_id
  role    = "roles/cloudtrace.agent"
  member  = google_service_account.collector.member
}

resource "google_cloud_run_v2_service" "collector" {
  count    = var.collector_image == "" ? 0 : 1
  name     = local.collector_service_name
  location = var.region
  # Browsers post from anywhere; INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER puts it behind your own
  # external HTTPS load balancer (Cloud Armor, a custom domain) instead.
  ingress = var.collector_ingress
  # Stateless: the image and every setting are here and in git, so `terraform destroy` may remove it.
  deletion_protection = false

  template {
    service_account                  = google_service_account.collector.email
    max_instance_request_concurrency = var.collector_concurrency
    # A request waits for Pub/Sub's acknowledgement of its batch, never for processing.
    timeout = "30s"
    scaling {
      min_instance_count = var.collector_min_instances
      max_instance_count = var.collector_max_instances
    }

    containers {
      image = var.collector_image
      ports {
        container_port = 8080 # Cloud Run passes it as $PORT; the image listens there
      }
      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        # Nothing runs between requests: the 202 is sent once Pub/Sub has acknowledged.
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "CLICKSTREAM_PROJECT"
        value = var.project_id
      }
      env {
        name  = "CLICKSTREAM_TOPIC"
        value = google_pubsub_topic.events.name
      }
      env {
        name  = "CLICKSTREAM_REJECTED_TOPIC"
        value = google_pubsub_topic.rejected.name
      }
      # Write keys are public by design (every page that loads the tracker carries one), so a
      # variable, not Secret Manager: a secret would not hide them, and reading it would give this
      # account a second permission beyond publishing. See variables.tf.
      env {
        name  = "CLICKSTREAM_COLLECTOR_WRITE_KEYS"
        value = join(",", var.collector_write_keys)
      }
      env {
        name  = "CLICKSTREAM_COLLECTOR_ALLOWED_ORIGINS"
        value = join(",", var.collector_allowed_origins)
      }
      # Cloud Run's front end appends the caller's address to X-Forwarded-For: the peer the
      # collector sees is the proxy, so it reads one hop back to keep the client's /24 or /48.
      env {
        name  = "CLICKSTREAM_COLLECTOR_TRUSTED_PROXY_HOPS"
        value = "1"
      }
      # Tracing (docs/tracing.md): "none" loads no OpenTelemetry SDK; "gcp" sends spans to Cloud Trace.
      env {
        name  = "CLICKSTREAM_COLLECTOR_TRACING_EXPORTER"
        value = var.trace_exporter
      }
      env {
        name  = "CLICKSTREAM_COLLECTOR_TRACING_SAMPLE_RATIO"
        value = var.collector_trace_sample_ratio
      }

      # Traffic only once the instance can publish (/readyz); restarted if the process hangs (/healthz).
      startup_probe {
        http_get {
          path = "/readyz"
        }
        period_seconds    = 2
        failure_threshold = 15
      }
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.collector_publishes_events,
    google_pubsub_topic_iam_member.collector_publishes_rejected,
    google_pubsub_topic_iam_member.collector_looks_up_events,
    google_pubsub_topic_iam_member.collector_looks_up_rejected,
    google_project_iam_member.collector_trace_agent,
  ]
}

# Cloud Run logs every request with the caller's full address (httpRequest.remoteIp), where the
# collector itself keeps only its /24 or /48 and no raw IP is stored: Cloud Logging drops this
# service's request log (run.googleapis.com/requests) before storing it, in the _Default sink
# (a project exclusion). Its application log (stdout, stderr) is kept; so is the request log of
# every other service. A sink of your own that routes Cloud Run logs elsewhere needs the same
# exclusion (docs/deploy.md).
resource "google_logging_project_exclusion" "collector_request_logs" {
  name        = "${var.name_prefix}-collector-request-logs"
  description = "Request logs of the ${var.name_prefix}-collector Cloud Run service: they hold each client's full IP address."
  filter      = "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Frequests\" AND resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${local.collector_service_name}\""
}

# Anyone may call the collector: browsers cannot hold Google credentials. What keeps a stray site
# out is the application's write key (401 without one of var.collector_write_keys) and the CORS
# allowlist, both checked by the collector itself.
resource "google_cloud_run_v2_service_iam_member" "collector_public" {
  count    = length(google_cloud_run_v2_service.collector)
  project  = google_cloud_run_v2_service.collector[0].project
  location = google_cloud_run_v2_service.collector[0].location
  name     = google_cloud_run_v2_service.collector[0].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
