resource "google_storage_bucket" "pipeline" {
  #checkov:skip=CKV_GCP_62: access logs would need a second bucket; Cloud Audit Logs cover data access here.
  name                        = "${var.project_id}-${var.name_prefix}"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  versioning {
    enabled = true
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
  # Replay archives are read rarely once they age.
  lifecycle_rule {
    condition {
      age            = var.archive_nearline_after_days
      matches_prefix = ["archive/"]
    }
    action {
      type          = "SetStorageClass"
      storage_class = "NEARLINE"
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
