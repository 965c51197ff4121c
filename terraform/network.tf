# The Dataflow workers' network (issue 13): workers have private IPs only, so they reach Pub/Sub,
# BigQuery, Cloud Storage, Secret Manager and Artifact Registry (the image) through Private Google
# Access, which the default network's subnetworks have off. With dataflow_subnetwork = null
# Terraform creates a network of their own with it on; a given subnetwork is used as it is
# (docs/deploy.md: it needs Private Google Access and the rule below).

resource "google_compute_network" "dataflow" {
  count                   = local.create_dataflow_network ? 1 : 0
  name                    = "${var.name_prefix}-dataflow"
  description             = "Dataflow workers of ${var.name_prefix} (private IPs, Private Google Access)"
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "dataflow" {
  count         = local.create_dataflow_network ? 1 : 0
  name          = "${var.name_prefix}-dataflow"
  region        = var.region
  network       = google_compute_network.dataflow[0].id
  ip_cidr_range = var.dataflow_subnetwork_cidr
  # The only way out for workers without public IPs: Google APIs on their private addresses.
  private_ip_google_access = true
  # Flow logs (a sample, aggregated): which addresses the workers talked to, for audits.
  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Dataflow workers talk to each other (shuffle, streaming) on TCP 12345-12346; a new network
# denies all ingress. Dataflow tags every worker VM "dataflow" (Google's Dataflow networking
# guide, "Configure internet access and firewall rules"), so the rule opens those ports between
# workers only, not to any address range.
resource "google_compute_firewall" "dataflow_workers" {
  count       = local.create_dataflow_network ? 1 : 0
  name        = "${var.name_prefix}-dataflow-workers"
  description = "Dataflow workers to Dataflow workers, TCP 12345-12346"
  network     = google_compute_network.dataflow[0].id
  direction   = "INGRESS"
  priority    = 1000
  source_tags = ["dataflow"]
  target_tags = ["dataflow"]
  allow {
    protocol = "tcp"
    ports    = ["12345-12346"]
  }
  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

locals {
  # What the job runs on: the subnetwork given, or the one made above.
  dataflow_subnetwork = local.create_dataflow_network ? google_compute_subnetwork.dataflow[0].self_link : var.dataflow_subnetwork
}
