# The optional customer-managed key (var.kms_key_name; issue 13): the dataset and its tables, the
# bucket (so the replay archive), the topics and the Dataflow job's state are encrypted with it. Each service encrypts
# through its own service agent, which must be allowed to use the key, on the key only; with no
# key none of this exists.

data "google_bigquery_default_service_account" "this" {
  count = local.cmek ? 1 : 0
}

data "google_storage_project_service_account" "this" {
  count = local.cmek ? 1 : 0
}

resource "google_kms_crypto_key_iam_member" "bigquery_uses_key" {
  count         = local.cmek ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = data.google_bigquery_default_service_account.this[0].member
}

resource "google_kms_crypto_key_iam_member" "storage_uses_key" {
  count         = local.cmek ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = data.google_storage_project_service_account.this[0].member
}

resource "google_kms_crypto_key_iam_member" "pubsub_uses_key" {
  count         = local.cmek ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.pubsub_agent
}

# The Dataflow job (dataflow.tf, kms_key_name): Google's Dataflow CMEK guide has both the Dataflow
# service agent (Streaming Engine state, the job's data) and the Compute Engine service agent (the
# workers' persistent disks) use the key.
resource "google_kms_crypto_key_iam_member" "dataflow_uses_key" {
  count         = local.cmek ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@dataflow-service-producer-prod.iam.gserviceaccount.com"
}

resource "google_kms_crypto_key_iam_member" "compute_uses_key" {
  count         = local.cmek ? 1 : 0
  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = "serviceAccount:service-${data.google_project.this.number}@compute-system.iam.gserviceaccount.com"
}
