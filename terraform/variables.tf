locals {
  # The rules for project and dataset names, shared with Python (clickstream.core.identifiers):
  # a pattern for the characters plus length bounds (RE2 refuses repeat counts over 1000).
  identifiers = jsondecode(file("${path.module}/../schemas/identifiers.json"))

  # Spans go to Cloud Trace: then, and only then, the Dataflow worker and the collector may write
  # them (roles/cloudtrace.agent, iam.tf and collector.tf).
  cloud_trace = var.trace_exporter == "gcp"
  # With no exporter the pipeline samples nothing: it would build spans only to drop them.
  pipeline_trace_sample_ratio = local.cloud_trace ? tostring(var.pipeline_trace_sample_ratio) : "0"
}

variable "project_id" {
  description = "Google Cloud project that holds every resource."
  type        = string
  validation {
    condition = (
      can(regex(local.identifiers.project_id.pattern, var.project_id))
      && length(var.project_id) >= local.identifiers.project_id.min_length
      && length(var.project_id) <= local.identifiers.project_id.max_length
    )
    error_message = "project_id must be ${local.identifiers.project_id.min_length}-${local.identifiers.project_id.max_length} ${local.identifiers.project_id.rule} (schemas/identifiers.json)."
  }
}

variable "region" {
  description = "Region for Dataflow, the bucket and the BigQuery dataset location."
  type        = string
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of Pub/Sub, service account and bucket names."
  type        = string
  default     = "clickstream"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,18}$", var.name_prefix))
    error_message = "name_prefix must be 3-19 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "dataset_id" {
  description = "BigQuery dataset for events, sessions, dead letters and signals."
  type        = string
  default     = "clickstream"
  validation {
    condition = (
      can(regex(local.identifiers.dataset_id.pattern, var.dataset_id))
      && length(var.dataset_id) >= local.identifiers.dataset_id.min_length
      && length(var.dataset_id) <= local.identifiers.dataset_id.max_length
    )
    error_message = "dataset_id must be ${local.identifiers.dataset_id.min_length}-${local.identifiers.dataset_id.max_length} ${local.identifiers.dataset_id.rule} (schemas/identifiers.json)."
  }
}

variable "raw_events_partition_expiration_days" {
  description = "Days to keep partitions of the raw events table (null keeps them forever)."
  type        = number
  default     = 400
  validation {
    condition     = var.raw_events_partition_expiration_days == null || var.raw_events_partition_expiration_days >= 1
    error_message = "raw_events_partition_expiration_days must be at least 1, or null."
  }
}

variable "message_retention_days" {
  description = "How long Pub/Sub keeps messages on the subscriptions, for replay after an incident."
  type        = number
  default     = 7
  validation {
    condition     = var.message_retention_days >= 1 && var.message_retention_days <= 7
    error_message = "Pub/Sub retains messages on a subscription for 1 to 7 days."
  }
}

variable "max_delivery_attempts" {
  description = "Deliveries before Pub/Sub moves a message to the dead-letter topic."
  type        = number
  default     = 5
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub allows 5 to 100 delivery attempts."
  }
}

variable "archive_nearline_after_days" {
  description = "Move replay archives in the bucket to Nearline after this many days."
  type        = number
  default     = 30
}

variable "template_gcs_path" {
  description = "gs:// path of the Flex Template spec built by `clickstream deploy` (empty: no Dataflow job yet)."
  type        = string
  default     = ""
  validation {
    condition     = var.template_gcs_path == "" || can(regex("^gs://.+\\.json$", var.template_gcs_path))
    error_message = "template_gcs_path must be a gs:// path to a .json template spec."
  }
}

variable "pipeline_parameters" {
  description = "Overrides of the pipeline's options (Flex Template parameters), e.g. { session_gap_s = \"900\" }."
  type        = map(string)
  default     = {}
  validation {
    condition     = length(setintersection(keys(var.pipeline_parameters), ["trace_exporter", "trace_sample_ratio"])) == 0
    error_message = "Set tracing with trace_exporter and pipeline_trace_sample_ratio, not pipeline_parameters: trace_exporter also grants the Cloud Trace role."
  }
}

variable "dataflow_max_workers" {
  description = "Upper bound for Dataflow autoscaling."
  type        = number
  default     = 5
  validation {
    condition     = var.dataflow_max_workers >= 1
    error_message = "dataflow_max_workers must be at least 1."
  }
}

variable "signal_schedule" {
  description = "When the scheduled query runs the signal job (BigQuery Data Transfer schedule syntax)."
  type        = string
  default     = "every day 03:00"
}

variable "collector_image" {
  description = "Image of the HTTP collector, built by dataflow/cloudbuild.yaml (`clickstream deploy` passes it; empty: no collector service yet)."
  type        = string
  default     = ""
}

variable "collector_write_keys" {
  description = "Write keys the collector accepts (X-Write-Key header or ?write_key=), one per application. Public by design: every page that loads the tracker carries its key; they stop a stray site from writing, they are not credentials."
  type        = list(string)
  default     = []
  validation {
    condition     = var.collector_image == "" || length(var.collector_write_keys) > 0
    error_message = "collector_write_keys must name at least one key once collector_image is set (terraform.tfvars), or the collector refuses every event."
  }
  validation {
    condition     = alltrue([for k in var.collector_write_keys : can(regex("^[A-Za-z0-9_.~-]{8,128}$", k))])
    error_message = "Each write key must be 8-128 letters, digits or _ . ~ - (it travels in a header and a query string, comma-separated in the environment)."
  }
}

variable "collector_allowed_origins" {
  description = "Origins whose pages may post to the collector from a browser (CORS allowlist), e.g. [\"https://video.example.com\"]. Empty: no browser origin (servers and apps still may)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for o in var.collector_allowed_origins : can(regex("^https?://[^/,*]+$", o))])
    error_message = "Each allowed origin must be scheme://host[:port], without a path, comma or wildcard."
  }
}

variable "collector_min_instances" {
  description = "Collector instances kept warm (0 scales to zero; 1 avoids a cold start on the first event)."
  type        = number
  default     = 0
  validation {
    condition     = var.collector_min_instances >= 0
    error_message = "collector_min_instances must be 0 or more."
  }
}

variable "collector_max_instances" {
  description = "Upper bound of collector instances (caps cost, and the publish rate into Pub/Sub)."
  type        = number
  default     = 10
  validation {
    condition     = var.collector_max_instances >= 1 && var.collector_max_instances >= var.collector_min_instances
    error_message = "collector_max_instances must be at least 1 and at least collector_min_instances."
  }
}

variable "collector_concurrency" {
  description = "Requests one collector instance serves at once (async server; each request waits on Pub/Sub, not on CPU)."
  type        = number
  default     = 80
  validation {
    condition     = var.collector_concurrency >= 1 && var.collector_concurrency <= 1000
    error_message = "Cloud Run allows 1 to 1000 concurrent requests per instance."
  }
}

variable "collector_ingress" {
  description = "Who may reach the collector: INGRESS_TRAFFIC_ALL (browsers on the internet), or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER behind your own HTTPS load balancer, or INGRESS_TRAFFIC_INTERNAL_ONLY."
  type        = string
  default     = "INGRESS_TRAFFIC_ALL"
  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", "INGRESS_TRAFFIC_INTERNAL_ONLY"], var.collector_ingress)
    error_message = "collector_ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER or INGRESS_TRAFFIC_INTERNAL_ONLY."
  }
}

variable "trace_exporter" {
  description = "Where the pipeline and the collector send OpenTelemetry spans: none, or gcp (Cloud Trace, which also grants both service accounts roles/cloudtrace.agent). See docs/tracing.md."
  type        = string
  default     = "none"
  validation {
    condition     = contains(["none", "gcp"], var.trace_exporter)
    error_message = "trace_exporter must be none or gcp (console and otlp are for local runs: see docs/tracing.md)."
  }
}

variable "pipeline_trace_sample_ratio" {
  description = "Share of Pub/Sub messages the pipeline records a consumer span for, 0..1, once trace_exporter is gcp. One span per event, billed per span: keep it small."
  type        = number
  default     = 0.01
  validation {
    condition     = var.pipeline_trace_sample_ratio >= 0 && var.pipeline_trace_sample_ratio <= 1
    error_message = "pipeline_trace_sample_ratio must be within 0..1."
  }
}

variable "collector_trace_sample_ratio" {
  description = "Share of new traces the collector records, 0..1, once trace_exporter is gcp (a request whose traceparent is sampled is always recorded). One span per request, which may carry a batch of events."
  type        = number
  default     = 0.1
  validation {
    condition     = var.collector_trace_sample_ratio >= 0 && var.collector_trace_sample_ratio <= 1
    error_message = "collector_trace_sample_ratio must be within 0..1."
  }
}
