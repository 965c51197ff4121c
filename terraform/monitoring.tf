# What on-call looks at (docs/operations.md): one dashboard of the whole path, from the collector
# to the warehouse, and the alerts that say data stopped flowing, went stale or went bad, or a
# scheduled job failed. Thresholds are variables (monitoring_variables.tf).

locals {
  # The names the job and the service get (dataflow.tf, collector.tf), which the metrics filter on.
  pipeline_job_name      = "${var.name_prefix}-pipeline"
  collector_service_name = "${var.name_prefix}-collector"
  # The Pub/Sub subscriptions Dataflow reads: a backlog there is data not yet processed.
  pipeline_subscriptions = [google_pubsub_subscription.pipeline.name, google_pubsub_subscription.rejected.name]
  subscriptions_filter   = join(" OR ", [for s in local.pipeline_subscriptions : "resource.labels.subscription_id = \"${s}\""])
  job_filter             = "resource.type = \"dataflow_job\" AND resource.labels.job_name = \"${local.pipeline_job_name}\""

  # The pipeline's Beam counters (pipelines/transforms/*.py, namespace "clickstream") reach Cloud
  # Monitoring as dataflow.googleapis.com/job/user_counter, a gauge of each counter's running
  # total per metric_name: a rate is its increase (PromQL delta; clamp_min drops the fall to zero
  # when an update starts a new job). invalid_<reason> counts each dead-letter reason of decoding
  # and validation; collector_rejected what the collector refused; decoded every message read.
  user_counter = "dataflow_googleapis_com:job_user_counter{monitored_resource=\"dataflow_job\",job_name=\"${local.pipeline_job_name}\""
  dead_letters_per_reason_per_minute = join("", [
    "sum by (metric_name) (clamp_min(delta(${local.user_counter},metric_name=~\"invalid_.*|collector_rejected\"}[5m]), 0)) / 5",
  ])
  dead_letter_share = join("", [
    "sum(clamp_min(delta(${local.user_counter},metric_name=~\"dead_lettered|collector_rejected\"}[${var.alert_dead_letter_window_s}s]), 0))",
    " / sum(clamp_min(delta(${local.user_counter},metric_name=~\"decoded|collector_rejected\"}[${var.alert_dead_letter_window_s}s]), 0))",
  ])

  # One chart per signal, two per row.
  dashboard_charts = [
    {
      title = "Events published per second (events and rejected topics)"
      filter = join(" AND ", [
        "metric.type = \"pubsub.googleapis.com/topic/send_message_operation_count\"",
        "resource.type = \"pubsub_topic\"",
        "(resource.labels.topic_id = \"${google_pubsub_topic.events.name}\" OR resource.labels.topic_id = \"${google_pubsub_topic.rejected.name}\")",
      ])
      aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.label.topic_id"]
    },
    {
      title   = "Subscription backlog (undelivered messages)"
      filter  = "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.type = \"pubsub_subscription\" AND (${local.subscriptions_filter})"
      aligner = "ALIGN_MEAN", reducer = "REDUCE_SUM", group_by = ["resource.label.subscription_id"]
    },
    {
      title   = "Oldest unacked message age (s); alert above ${var.alert_oldest_unacked_age_s}"
      filter  = "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type = \"pubsub_subscription\" AND (${local.subscriptions_filter})"
      aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group_by = ["resource.label.subscription_id"]
    },
    {
      title   = "Dataflow system lag (s)"
      filter  = "metric.type = \"dataflow.googleapis.com/job/system_lag\" AND ${local.job_filter}"
      aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group_by = []
    },
    {
      title   = "Dataflow data freshness (s); alert above ${var.alert_data_freshness_s}"
      filter  = "metric.type = \"dataflow.googleapis.com/job/data_watermark_age\" AND ${local.job_filter}"
      aligner = "ALIGN_MAX", reducer = "REDUCE_MAX", group_by = []
    },
    {
      # Both write methods: insertAll and the Storage Write API report uploaded rows per table.
      title   = "Rows written per table per second"
      filter  = "metric.type = \"bigquery.googleapis.com/storage/uploaded_row_count\" AND resource.type = \"bigquery_dataset\" AND resource.labels.dataset_id = \"${google_bigquery_dataset.clickstream.dataset_id}\""
      aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["metric.label.table"]
    },
    {
      title   = "Collector requests per second by response class"
      filter  = "metric.type = \"run.googleapis.com/request_count\" AND resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${local.collector_service_name}\""
      aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["metric.label.response_code_class"]
    },
    {
      title   = "Collector 5xx responses per second"
      filter  = "metric.type = \"run.googleapis.com/request_count\" AND resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${local.collector_service_name}\" AND metric.labels.response_code_class = \"5xx\""
      aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = []
    },
  ]
  dashboard_widgets = concat(
    [for c in local.dashboard_charts : {
      title = c.title
      xyChart = {
        dataSets = [{
          plotType = "LINE"
          timeSeriesQuery = {
            timeSeriesFilter = {
              filter = c.filter
              aggregation = {
                alignmentPeriod    = "60s"
                perSeriesAligner   = c.aligner
                crossSeriesReducer = c.reducer
                groupByFields      = c.group_by
              }
            }
          }
        }]
      }
    }],
    [{
      title = "Dead letters per reason per minute"
      xyChart = {
        dataSets = [{
          plotType        = "STACKED_BAR"
          timeSeriesQuery = { prometheusQuery = local.dead_letters_per_reason_per_minute }
        }]
      }
    }],
  )
}

resource "google_monitoring_dashboard" "clickstream" {
  dashboard_json = jsonencode({
    displayName = "${var.name_prefix} clickstream: is data flowing and fresh?"
    mosaicLayout = {
      columns = 48
      tiles = [for i, widget in local.dashboard_widgets : {
        xPos   = (i % 2) * 24
        yPos   = floor(i / 2) * 16
        width  = 24
        height = 16
        widget = widget
      }]
    }
  })
}

resource "google_monitoring_alert_policy" "oldest_unacked_message" {
  display_name          = "${var.name_prefix}: events waiting in Pub/Sub longer than ${var.alert_oldest_unacked_age_s}s"
  combiner              = "OR"
  notification_channels = var.notification_channels
  conditions {
    display_name = "oldest unacked message age > ${var.alert_oldest_unacked_age_s}s"
    condition_threshold {
      filter          = "metric.type = \"pubsub.googleapis.com/subscription/oldest_unacked_message_age\" AND resource.type = \"pubsub_subscription\" AND (${local.subscriptions_filter})"
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_oldest_unacked_age_s
      duration        = "${var.alert_duration_s}s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "The pipeline is not consuming: the oldest message on a subscription Dataflow reads is over ${var.alert_oldest_unacked_age_s}s old (Mozilla's SLO counts that as down). See docs/operations.md#oldest-unacked-message-age."
  }
}

resource "google_monitoring_alert_policy" "data_freshness" {
  display_name          = "${var.name_prefix}: warehouse more than ${var.alert_data_freshness_s}s behind"
  combiner              = "OR"
  notification_channels = var.notification_channels
  conditions {
    display_name = "Dataflow data freshness > ${var.alert_data_freshness_s}s"
    condition_threshold {
      filter          = "metric.type = \"dataflow.googleapis.com/job/data_watermark_age\" AND ${local.job_filter}"
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_data_freshness_s
      duration        = "${var.alert_duration_s}s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "The Dataflow job's output is complete only up to more than ${var.alert_data_freshness_s}s ago: events and sessions reach BigQuery late. See docs/operations.md#data-freshness."
  }
}

resource "google_monitoring_alert_policy" "dead_letter_share" {
  display_name          = "${var.name_prefix}: dead letters above ${var.alert_dead_letter_share * 100}% of input"
  combiner              = "OR"
  notification_channels = var.notification_channels
  conditions {
    display_name = "dead letters / input > ${var.alert_dead_letter_share} over ${var.alert_dead_letter_window_s}s"
    condition_prometheus_query_language {
      query               = "(${local.dead_letter_share}) > ${var.alert_dead_letter_share}"
      duration            = "${var.alert_duration_s}s"
      evaluation_interval = "60s"
    }
  }
  documentation {
    mime_type = "text/markdown"
    content   = "More than ${var.alert_dead_letter_share * 100}% of the events read (and the collector's rejects) became dead letters over ${var.alert_dead_letter_window_s}s. See docs/operations.md#dead-letter-share."
  }
}

# A scheduled query's failed run writes an ERROR entry to the transfer config's log
# (resource bigquery_dts_config; config_id is the last part of the config's name).
resource "google_monitoring_alert_policy" "scheduled_query_failed" {
  for_each = {
    erasure = google_bigquery_data_transfer_config.erasure.name
    signals = google_bigquery_data_transfer_config.signals.name
  }
  display_name          = "${var.name_prefix}: the ${each.key} scheduled query failed"
  combiner              = "OR"
  notification_channels = var.notification_channels
  conditions {
    display_name = "a ${each.key} run logged an error"
    condition_matched_log {
      filter = "resource.type = \"bigquery_dts_config\" AND resource.labels.config_id = \"${basename(each.value)}\" AND severity >= ERROR"
    }
  }
  # A log-match alert needs a rate limit: one notification per failing run is enough.
  alert_strategy {
    notification_rate_limit {
      period = "3600s"
    }
    auto_close = "86400s"
  }
  documentation {
    mime_type = "text/markdown"
    content   = "A run of the ${each.key} scheduled query (BigQuery Data Transfer) failed. See docs/operations.md#${each.key}-scheduled-query-failed."
  }
}
