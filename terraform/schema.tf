# The event contract on Pub/Sub: every revision in schemas/avro, committed oldest first, as the
# local stack does (clickstream.app.provisioning.ensure_schema), so clients of every revision of
# the current major are accepted (docs/contract.md).
#
# google_pubsub_schema holds one definition: creating it commits that one revision, and changing
# it later commits one more. A fresh deploy could therefore only register one revision, and
# registering the newest alone would reject every older client. So the schema is created with
# the oldest revision and the commit step below commits the others, in order, with gcloud (the
# same revisions and order as the local stack: tests/infra/test_schema_revisions.py runs both
# against the Pub/Sub emulator).

# Only files and functions here: the tests evaluate this block offline with `terraform console`.
locals {
  avro_dir = "${path.module}/../schemas/avro"
  # Every revision, oldest first in version order (sort() alone is lexical: 1.10 before 1.9).
  avro_revisions = [
    for key in sort([
      for f in fileset(local.avro_dir, "clickstream_event.v*.avsc") :
      format("%06d.%06d %s", tonumber(regex("v(\\d+)\\.(\\d+)\\.avsc$", f)[0]), tonumber(regex("v(\\d+)\\.(\\d+)\\.avsc$", f)[1]), f)
    ]) : split(" ", key)[1]
  ]
  avro_revision_paths = [for f in local.avro_revisions : "${local.avro_dir}/${f}"]
}

resource "google_pubsub_schema" "event" {
  name       = "${var.name_prefix}-event"
  type       = "AVRO"
  definition = file(local.avro_revision_paths[0])
  lifecycle {
    # After the commit step the schema's current definition is the newest revision; Terraform
    # must not "fix" it back to the oldest by committing that again.
    ignore_changes = [definition]
  }
}

# Commits every revision the schema does not have yet, in order (Python's standard library and
# gcloud, which `clickstream deploy` needs anyway). A revision counts as present when its
# definition equals one of the schema's as JSON, as in the local stack, so re-running the step
# commits nothing twice, a new file commits just that revision, and a schema an older version of
# this module created with the newest revision alone gets the older ones added (after it: every
# revision is accepted whatever the order). `gcloud pubsub schemas commit` can exit 0 when the
# commit failed, so each commit is checked by listing the revisions again.
resource "terraform_data" "schema_revisions" {
  # Also when the schema itself is replaced: a new schema starts with the first revision only.
  triggers_replace = concat([google_pubsub_schema.event.id], [for p in local.avro_revision_paths : filesha256(p)])

  provisioner "local-exec" {
    interpreter = ["python3", "-c"]
    working_dir = path.module
    environment = {
      SCHEMA  = google_pubsub_schema.event.name
      PROJECT = google_pubsub_schema.event.project
      FILES   = join(" ", local.avro_revision_paths)
    }
    command = <<-EOT
      import json, os, subprocess, sys

      schema, project = os.environ["SCHEMA"], os.environ["PROJECT"]
      gcloud = ["gcloud", "pubsub", "schemas"]

      def canonical(text):
          return json.dumps(json.loads(text), sort_keys=True)

      def registered():
          listed = subprocess.run(
              [*gcloud, "list-revisions", schema, f"--project={project}", "--view=full", "--format=json"],
              check=True, capture_output=True, text=True,
          )
          return {canonical(revision["definition"]) for revision in json.loads(listed.stdout)}

      have = registered()
      for path in os.environ["FILES"].split():
          with open(path) as handle:
              definition = canonical(handle.read())
          if definition in have:
              continue
          subprocess.run(
              [*gcloud, "commit", schema, f"--project={project}", "--type=avro", f"--definition-file={path}"],
              check=True,
          )
          have = registered()
          if definition not in have:
              sys.exit(f"committing {path} to schema {schema} failed (see gcloud's message above)")
    EOT
  }
}
