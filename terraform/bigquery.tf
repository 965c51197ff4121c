locals {
  bq_dir = "${path.module}/../schemas/bigquery"
  # Every table in schemas/bigquery/tables.json, with its fields from <table>.schema.json.
  tables = jsondecode(file("${local.bq_dir}/tables.json"))

  view_sql = {
    for f in fileset("${path.module}/../sql/views", "*.sql") :
    trimsuffix(f, ".sql") => templatefile("${path.module}/../sql/views/${f}", {
      project = var.project_id
      dataset = google_bigquery_dataset.clickstream.dataset_id
    })
  }
  # Views that read other views are created after them (one level of nesting).
  derived_views = {
    for name, sql in local.view_sql : name => sql
    if anytrue([for other in keys(local.view_sql) : other != name && strcontains(sql, ".${other}`")])
  }
  base_views = { for name, sql in local.view_sql : name => sql if !contains(keys(local.derived_views), name) }
}

resource "google_bigquery_dataset" "clickstream" {
  #checkov:skip=CKV_GCP_81: Google-managed encryption by default; set default_encryption_configuration for CMEK.
  dataset_id  = var.dataset_id
  location    = var.region
  description = "Clickstream events, sessions, dead letters and recommendation signals."
}

resource "google_bigquery_table" "tables" {
  #checkov:skip=CKV_GCP_80: Google-managed encryption by default, as for the dataset.
  for_each            = local.tables
  dataset_id          = google_bigquery_dataset.clickstream.dataset_id
  table_id            = each.key
  description         = each.value.description
  schema              = file("${local.bq_dir}/${each.key}.schema.json")
  clustering          = lookup(each.value, "clustering", null)
  deletion_protection = true

  dynamic "time_partitioning" {
    for_each = lookup(each.value, "time_partitioning", null) == null ? [] : [each.value.time_partitioning]
    content {
      type  = time_partitioning.value.type
      field = time_partitioning.value.field
      expiration_ms = (
        lookup(each.value, "retention", "") == "raw_events" && var.raw_events_partition_expiration_days != null
        ? var.raw_events_partition_expiration_days * 86400000 : null
      )
    }
  }
}

resource "google_bigquery_table" "base_views" {
  #checkov:skip=CKV_GCP_80: a view stores no data to encrypt.
  #checkov:skip=CKV_GCP_121: a view holds no data; Terraform must replace it when its SQL changes.
  for_each            = local.base_views
  dataset_id          = google_bigquery_dataset.clickstream.dataset_id
  table_id            = each.key
  deletion_protection = false
  view {
    query          = each.value
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.tables]
}

resource "google_bigquery_table" "derived_views" {
  #checkov:skip=CKV_GCP_80: a view stores no data to encrypt.
  #checkov:skip=CKV_GCP_121: a view holds no data; Terraform must replace it when its SQL changes.
  for_each            = local.derived_views
  dataset_id          = google_bigquery_dataset.clickstream.dataset_id
  table_id            = each.key
  deletion_protection = false
  view {
    query          = each.value
    use_legacy_sql = false
  }
  depends_on = [google_bigquery_table.base_views]
}
