locals {
  # The rules for project and dataset names, shared with Python (clickstream.core.identifiers):
  # a pattern for the characters plus length bounds (RE2 refuses repeat counts over 1000).
  identifiers = jsondecode(file("${path.module}/../schemas/identifiers.json"))
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
