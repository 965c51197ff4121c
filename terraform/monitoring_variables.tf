# Monitoring (monitoring.tf, docs/operations.md): where alerts go and when they fire. Every
# threshold is here, with why it is what it is; docs/operations.md says what to do when one fires.

variable "notification_channels" {
  description = "Cloud Monitoring notification channel ids (projects/P/notificationChannels/N) every alert notifies. Empty: the alerts still open incidents in the console, but nobody is told."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "Each notification channel must be a full id: projects/PROJECT/notificationChannels/ID."
  }
}

variable "alert_oldest_unacked_age_s" {
  description = "Alert when the oldest unacknowledged message on the pipeline's subscriptions is older than this many seconds. Mozilla's telemetry pipeline SLO counts more than 60 s as down; Dataflow acknowledges on checkpoint, within seconds when healthy."
  type        = number
  default     = 60
  validation {
    condition     = var.alert_oldest_unacked_age_s > 0
    error_message = "alert_oldest_unacked_age_s must be positive."
  }
}

variable "alert_data_freshness_s" {
  description = "Alert when the Dataflow job's data freshness (data_watermark_age: how far behind now the output is complete) exceeds this many seconds. 600: two minutes of windowing and Storage Write API commits are normal; ten means sessions and events are visibly late."
  type        = number
  default     = 600
  validation {
    condition     = var.alert_data_freshness_s > 0
    error_message = "alert_data_freshness_s must be positive."
  }
}

variable "alert_dead_letter_share" {
  description = "Alert when dead letters (the pipeline's and the collector's) exceed this share of the input over alert_dead_letter_window_s. 0.01: a client release that breaks the contract shows up within one window; a trickle of bots and old app versions stays below it."
  type        = number
  default     = 0.01
  validation {
    condition     = var.alert_dead_letter_share > 0 && var.alert_dead_letter_share < 1
    error_message = "alert_dead_letter_share must be between 0 and 1."
  }
}

variable "alert_dead_letter_window_s" {
  description = "The window, in seconds, over which the dead-letter share is measured (Dataflow reports counters once a minute, so at least 300)."
  type        = number
  default     = 900
  validation {
    condition     = var.alert_dead_letter_window_s >= 300
    error_message = "alert_dead_letter_window_s must be at least 300 (counters are sampled every 60 s)."
  }
}

variable "alert_duration_s" {
  description = "How long, in seconds, a metric condition must hold before its alert fires. 300 rides out a worker restart or an autoscaling step without hiding a real outage for long."
  type        = number
  default     = 300
  validation {
    condition     = var.alert_duration_s >= 60
    error_message = "alert_duration_s must be at least 60."
  }
}
