locals {
  # The rules for project and dataset names, shared with Python (clickstream.core.identifiers):
  # a pattern for the characters plus length bounds (RE2 refuses repeat counts over 1000).
  identifiers = jsondecode(file("${path.module}/../schemas/identifiers.json"))

  # Spans go to Cloud Trace: then, and only then, the Dataflow worker and the collector may write
  # them (roles/cloudtrace.agent, iam.tf and collector.tf).
  cloud_trace = var.trace_exporter == "gcp"
  # With no exporter the pipeline samples nothing: it would build spans only to drop them.
  pipeline_trace_sample_ratio = local.cloud_trace ? tostring(var.pipeline_trace_sample_ratio) : "0"

  # Every table in schemas/bigquery/tables.json (bigquery.tf creates them with their fields).
  tables = jsondecode(file("${path.module}/../schemas/bigquery/tables.json"))
  # Retention (issue 13): a table of per-person data names its variable in tables.json
  # ("retention_variable") next to its number of days ("partition_expiration_days", which the
  # local stack uses too); the variable, when set, overrides the number. Terraform cannot look a
  # variable up by a name it reads from a file, hence this map; a name in tables.json that is not
  # here fails the plan (tests/infra/test_retention.py).
  retention_overrides = {
    events_retention_days       = var.events_retention_days
    sessions_retention_days     = var.sessions_retention_days
    dead_letters_retention_days = var.dead_letters_retention_days
    duplicates_retention_days   = var.duplicates_retention_days
    filtered_retention_days     = var.filtered_retention_days
    impressions_retention_days  = var.impressions_retention_days
  }
  # Days each table keeps a partition; null keeps them (tables without per-person data).
  partition_expiration_days = {
    for name, spec in local.tables : name => (
      lookup(spec, "retention_variable", null) == null ? null : coalesce(
        local.retention_overrides[lookup(spec, "retention_variable", "")],
        lookup(spec, "partition_expiration_days", null),
      )
    )
  }

  # Customer-managed encryption: only when a key is given (variable kms_key_name).
  cmek = var.kms_key_name != null
  # Private workers reach Google APIs only through Private Google Access, which the default
  # network's subnetworks have off: without a subnetwork of yours Terraform makes one (network.tf).
  create_dataflow_network = var.dataflow_subnetwork == null
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

variable "events_retention_days" {
  description = "Days to keep partitions of the events table; null (the default) keeps the number in schemas/bigquery/tables.json (400)."
  type        = number
  default     = null
  validation {
    condition     = var.events_retention_days == null || try(var.events_retention_days >= 1, false)
    error_message = "events_retention_days must be at least 1 day, or null for the number in tables.json."
  }
}

variable "sessions_retention_days" {
  description = "Days to keep partitions of the sessions table; null (the default) keeps the number in schemas/bigquery/tables.json (400)."
  type        = number
  default     = null
  validation {
    condition     = var.sessions_retention_days == null || try(var.sessions_retention_days >= 1, false)
    error_message = "sessions_retention_days must be at least 1 day, or null for the number in tables.json."
  }
}

variable "dead_letters_retention_days" {
  description = "Days to keep partitions of the dead_letters table; null (the default) keeps the number in schemas/bigquery/tables.json (30)."
  type        = number
  default     = null
  validation {
    condition     = var.dead_letters_retention_days == null || try(var.dead_letters_retention_days >= 1, false)
    error_message = "dead_letters_retention_days must be at least 1 day, or null for the number in tables.json."
  }
}

variable "duplicates_retention_days" {
  description = "Days to keep partitions of the duplicates table; null (the default) keeps the number in schemas/bigquery/tables.json (7)."
  type        = number
  default     = null
  validation {
    condition     = var.duplicates_retention_days == null || try(var.duplicates_retention_days >= 1, false)
    error_message = "duplicates_retention_days must be at least 1 day, or null for the number in tables.json."
  }
}

variable "filtered_retention_days" {
  description = "Days to keep partitions of the filtered table; null (the default) keeps the number in schemas/bigquery/tables.json (30)."
  type        = number
  default     = null
  validation {
    condition     = var.filtered_retention_days == null || try(var.filtered_retention_days >= 1, false)
    error_message = "filtered_retention_days must be at least 1 day, or null for the number in tables.json."
  }
}

variable "impressions_retention_days" {
  description = "Days to keep partitions of the impressions table; null (the default) keeps the number in schemas/bigquery/tables.json (90)."
  type        = number
  default     = null
  validation {
    condition     = var.impressions_retention_days == null || try(var.impressions_retention_days >= 1, false)
    error_message = "impressions_retention_days must be at least 1 day, or null for the number in tables.json."
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
  description = "Move replay archives in the bucket to Nearline after this many days (only if that comes before archive_retention_days)."
  type        = number
  default     = 30
}

variable "archive_retention_days" {
  description = "Days the bucket keeps replay archives (archive/): raw messages cannot be erased per person, so this bounds how long an erased person's events survive there."
  type        = number
  default     = 30
  validation {
    condition     = var.archive_retention_days >= 1
    error_message = "archive_retention_days must be at least 1."
  }
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

variable "pipeline_image" {
  description = "The image the template spec names (`clickstream deploy` passes the one it built): the workers run it as their SDK container, with every dependency installed, so nothing is downloaded at launch (private IPs reach no package index)."
  type        = string
  default     = ""
  validation {
    condition     = var.template_gcs_path == "" || var.pipeline_image != ""
    error_message = "pipeline_image must be set with template_gcs_path: the workers run the template's image (clickstream deploy passes both)."
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
  validation {
    condition     = length(setintersection(keys(var.pipeline_parameters), ["pseudonym_key", "consent_default", "erased_user_suppression_days"])) == 0
    error_message = "Set consent_default and erased_user_suppression_days with their variables, not pipeline_parameters; the pseudonym key is the Secret Manager secret Terraform creates (and grants the worker)."
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

variable "dataflow_subnetwork" {
  description = "Subnetwork of the Dataflow workers, regions/REGION/subnetworks/NAME (or its full URL), in var.region. Workers get private IPs only: a given subnetwork is used as it is and needs Private Google Access (and the firewall rule between workers, docs/deploy.md). null: Terraform creates a network <prefix>-dataflow with such a subnetwork (dataflow_subnetwork_cidr) and that rule."
  type        = string
  default     = null
  validation {
    condition     = var.dataflow_subnetwork == null || can(regex("^(https://www\\.googleapis\\.com/compute/v1/)?(projects/[a-z0-9-]+/)?regions/[a-z0-9-]+/subnetworks/[a-z0-9-]+$", var.dataflow_subnetwork))
    error_message = "dataflow_subnetwork must be regions/REGION/subnetworks/NAME, projects/P/regions/REGION/subnetworks/NAME or its https://www.googleapis.com/compute/v1/ URL."
  }
  validation {
    condition     = var.dataflow_subnetwork == null || strcontains(coalesce(var.dataflow_subnetwork, "-"), "regions/${var.region}/")
    error_message = "dataflow_subnetwork must be in var.region, where the job runs."
  }
}

variable "dataflow_subnetwork_cidr" {
  description = "IP range of the subnetwork Terraform creates for the Dataflow workers when dataflow_subnetwork is null (one address per worker and launcher VM)."
  type        = string
  default     = "10.128.0.0/20"
  validation {
    condition     = can(cidrhost(var.dataflow_subnetwork_cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", var.dataflow_subnetwork_cidr))
    error_message = "dataflow_subnetwork_cidr must be an IPv4 range such as 10.128.0.0/20."
  }
}

variable "kms_key_name" {
  description = "Optional Cloud KMS key (projects/P/locations/REGION/keyRings/R/cryptoKeys/K) that encrypts the dataset, its tables, the bucket (and so the replay archive) and the topics; Terraform lets the BigQuery, Cloud Storage and Pub/Sub service agents use it. null: Google-managed keys."
  type        = string
  default     = null
  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
  validation {
    condition     = var.kms_key_name == null || try(split("/", var.kms_key_name)[3] == var.region, false)
    error_message = "kms_key_name must be a key in var.region: BigQuery and Cloud Storage encrypt with a key in their own location."
  }
}

variable "consent_default" {
  description = "What an event without a consent record means to the pipeline: granted (stored) or denied (counted as filtered: consent_denied). Contract revisions before 1.2 carry no consent record. See docs/deploy.md for the choice of default."
  type        = string
  default     = "granted"
  validation {
    condition     = contains(["granted", "denied"], var.consent_default)
    error_message = "consent_default must be granted or denied."
  }
}

variable "erased_user_suppression_days" {
  description = "Days after a deletion request during which the pipeline drops a forgotten person's new events (filtered: erased_user); 0 drops none."
  type        = number
  default     = 30
  validation {
    condition     = var.erased_user_suppression_days >= 0 && floor(var.erased_user_suppression_days) == var.erased_user_suppression_days
    error_message = "erased_user_suppression_days must be a whole number of days, 0 or more."
  }
}

variable "erasure_schedule" {
  description = "When the scheduled query runs the erasure job over pending deletion requests (BigQuery Data Transfer schedule syntax)."
  type        = string
  default     = "every day 04:00"
}

variable "pseudonym_key_readers" {
  description = "Other identities that may read the pseudonymisation key, e.g. [\"serviceAccount:serving@P.iam.gserviceaccount.com\"]: whatever serves `clickstream recommend --user RAW` hashes raw ids. Each gets secretAccessor on that one secret."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.pseudonym_key_readers : can(regex("^(serviceAccount|user|group|principal|principalSet):[^\\s]+$", m))])
    error_message = "Each pseudonym key reader must be a named member (serviceAccount:, user:, group:, principal: or principalSet:); never the public."
  }
}

# Default "1": pseudonym_key_command adds the secret's first version, so a first deployment works
# unchanged; a rotation is then a deliberate change of this number (docs/deploy.md). Never
# "latest": workers load the key when they start, and one started after a version is added would
# hash with a different key than the others (two pseudonyms for one person at once).
variable "pseudonym_key_version" {
  description = "The pseudonymisation key's Secret Manager version the job reads (a positive whole number, e.g. \"2\"; never latest). Rotation: add a version holding the new key first and the old one after it, then set this to its number and apply."
  type        = string
  default     = "1"
  validation {
    condition     = can(regex("^[1-9][0-9]*$", var.pseudonym_key_version))
    error_message = "pseudonym_key_version must be a version number (1, 2, ...), never latest: every worker must read the same key."
  }
}
