resource "google_storage_bucket" "pipeline" {
  #checkov:skip=CKV_GCP_62: usage logs would need a second bucket; Cloud Audit Logs record data access instead (audit.tf).
  name                        = "${var.project_id}-${var.name_prefix}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  depends_on                  = [google_kms_crypto_key_iam_member.storage_uses_key]

  versioning {
    enabled = true
  }

  dynamic "encryption" {
    for_each = local.cmek ? [var.kms_key_name] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  # Dataflow staging and temp files are disposable after a week.
  lifecycle_rule {
    condition {
      age            = 7
      matches_prefix = ["staging/", "tmp/"]
    }
    action {
      type = "Delete"
    }
  }
  # Replay archives are read rarely once they age (unless they are deleted first).
  dynamic "lifecycle_rule" {
    for_each = var.archive_nearline_after_days < var.archive_retention_days ? [var.archive_nearline_after_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["archive/"]
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }
  # Retention (issue 13): an archive holds raw messages, which cannot be erased per person (an
  # object holds many people's events): it is deleted after archive_retention_days, so an erased
  # person's events are gone from it by then; with kms_key_name it is also encrypted with a key
  # you control (destroying that key makes every copy unreadable at once).
  lifecycle_rule {
    condition {
      age            = var.archive_retention_days
      matches_prefix = ["archive/"]
    }
    action {
      type = "Delete"
    }
  }
  # Versioning keeps a deleted archive as a noncurrent version: gone the next day, not after 30.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 1
      matches_prefix             = ["archive/"]
    }
    action {
      type = "Delete"
    }
  }
  # Old versions of overwritten objects go after 30 days.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
    }
    action {
      type = "Delete"
    }
  }
}
