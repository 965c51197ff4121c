terraform {
  # 1.9: variable validations may read other objects (local.identifiers, schemas/identifiers.json).
  required_version = ">= 1.9"
  # Pinned to the provider release the offline schema check reads (npm @cdktf/provider-google and
  # -google-beta 16.12.1 were generated from 6.50.0; tests/support/infra_checks.py): a patch release
  # may fix bugs, never rename an argument. Raising it means raising the npm packages in the Makefile.
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50.0"
    }
    # google_dataflow_flex_template_job is a beta-only resource.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.50.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}
