# The pseudonymisation key (issue 13; clickstream.core.pseudonyms): a Secret Manager secret with
# no version here. Its value must never be in Terraform state (state is readable by whoever runs
# Terraform and often stored in a bucket), so Terraform creates the empty secret and you add the
# key once, outside Terraform: the output pseudonym_key_command prints the command. The job reads
# one numbered version (var.pseudonym_key_version) when its workers start: every worker, whenever
# it starts, loads the same key, so a version added for a rotation changes nothing until the
# variable names it and the job is updated.

locals {
  # The one name of the key the job uses; the output pseudonym_key_version_name gives it to the
  # other readers (CLICKSTREAM_PSEUDONYM_KEY of `privacy forget` and `recommend --user`).
  pseudonym_key_version_name = "${google_secret_manager_secret.pseudonym_key.id}/versions/${var.pseudonym_key_version}"
}

resource "google_secret_manager_secret" "pseudonym_key" {
  secret_id = "${var.name_prefix}-pseudonym-key"
  # Kept in the region with the data it pseudonymises.
  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }
}

# Who may read the key: the accounts that pseudonymise a raw id, on this secret only.
resource "google_secret_manager_secret_iam_member" "dataflow_reads_pseudonym_key" {
  secret_id = google_secret_manager_secret.pseudonym_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.dataflow_worker.member
}

# A replay runs DecodeAndValidate, which pseudonymises (and opens sealed dead letters).
resource "google_secret_manager_secret_iam_member" "replay_reads_pseudonym_key" {
  secret_id = google_secret_manager_secret.pseudonym_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.replay.member
}

# `clickstream privacy forget --user RAW` hashes the raw id it is given (under every key held);
# operators run it, with `privacy erase` and `privacy status`, as the erasure account.
resource "google_secret_manager_secret_iam_member" "erasure_reads_pseudonym_key" {
  secret_id = google_secret_manager_secret.pseudonym_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.erasure.member
}

# Whatever serves `clickstream recommend --user RAW` (not created here) hashes raw ids too.
resource "google_secret_manager_secret_iam_member" "extra_readers_of_pseudonym_key" {
  for_each  = toset(var.pseudonym_key_readers)
  secret_id = google_secret_manager_secret.pseudonym_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}
