locals {
  bq_dir = "${path.module}/../schemas/bigquery"
  # local.tables (variables.tf) lists every table of tables.json; its fields are in <table>.schema.json.

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
  #checkov:skip=CKV_GCP_81: CMEK is optional (var.kms_key_name, the dynamic block below); null keeps Google-managed keys.
  dataset_id  = var.dataset_id
  location    = var.region
  description = "Clickstream events, sessions, dead letters and recommendation signals."

  # The dataset's ACL, in full (issue 13): without access blocks BigQuery gives projectReaders
  # READER, so every project viewer could read raw events. Project owners own it and project
  # editors write it: whoever runs Terraform is usually an editor, whom BigQuery lets at the
  # dataset only through projectWriters (it creates and replaces the tables and views);
  # viewers get nothing by their basic role. Project-level roles/bigquery.* reach the dataset
  # whatever these blocks say (docs/deploy.md). Every service
  # account gets its tables one by one (bigquery_iam.tf): table-level IAM does not fight these
  # blocks, a google_bigquery_dataset_iam_* resource would (each apply would undo the other).
  access {
    role          = "OWNER"
    special_group = "projectOwners"
  }
  access {
    role          = "WRITER"
    special_group = "projectWriters"
  }

  dynamic "default_encryption_configuration" {
    for_each = local.cmek ? [var.kms_key_name] : []
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
  depends_on = [google_kms_crypto_key_iam_member.bigquery_uses_key]
}

resource "google_bigquery_table" "tables" {
  #checkov:skip=CKV_GCP_80: CMEK is optional (var.kms_key_name, the dynamic block below); null keeps Google-managed keys.
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
      # Retention (issue 13): the days in tables.json, or the table's own variable.
      expiration_ms = (
        local.partition_expiration_days[each.key] == null ? null : local.partition_expiration_days[each.key] * 86400000
      )
    }
  }

  dynamic "encryption_configuration" {
    for_each = local.cmek ? [var.kms_key_name] : []
    content {
      kms_key_name = encryption_configuration.value
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
