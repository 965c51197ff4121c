"""A fresh Google Cloud deploy registers the same contract revisions as the local stack: the same
files, in the same order, so a 1.0 client is accepted on both.

Both paths run for real against the Pub/Sub emulator: the local stack's
``provisioning.ensure_schema``, and Terraform's: the schema resource created with the definition it
names, then the commit step's own command (from ``terraform/schema.tf``) run with gcloud pointed
at the emulator. Terraform's list of files is evaluated by ``terraform console`` from the
module's own ``locals`` block, offline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from clickstream.app import provisioning
from clickstream.core import contract
from clickstream.core.config import Settings
from clickstream.core.paths import REPO_ROOT
from clickstream.core.pubsub_clients import schema_client
from tests.support.infra_checks import load_hcl

pytestmark = pytest.mark.integration

SCHEMA_TF = REPO_ROOT / "terraform" / "schema.tf"


def _locals_block(text: str) -> str:
    """The first ``locals { ... }`` block of a .tf file (braces balanced)."""
    start = text.index("locals {")
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0 and text[i] == "}":
            return text[start : i + 1]
    raise ValueError("unbalanced locals block")


def _heredoc(value: str) -> str:
    """The text of an HCL ``<<-EOT`` heredoc as python-hcl2 returns it (markers included)."""
    lines = value.splitlines()
    assert lines[0].startswith("<<-") and lines[-1].strip() == lines[0][3:], "not a <<- heredoc"
    return textwrap.dedent("\n".join(lines[1:-1])) + "\n"


def _terraform_eval(expression: str, tmp_path: Path) -> object:
    """``expression`` evaluated by ``terraform console`` over schema.tf's locals, in a copy of the
    module's surroundings (path.module/../schemas resolves as in the repository)."""
    module = tmp_path / "tf" / "terraform"
    module.mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "schemas", tmp_path / "tf" / "schemas")
    (module / "main.tf").write_text(_locals_block(SCHEMA_TF.read_text()))
    result = subprocess.run(
        ["terraform", "console"],
        input=f"jsonencode({expression})\n",
        capture_output=True,
        text=True,
        cwd=module,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout))


def _files_in_commit_order(settings: Settings, schema_id: str) -> list[str]:
    """The schema's revisions on the emulator, oldest first, as the contract files they are."""
    by_definition = {
        json.dumps(json.loads(rev.definition), sort_keys=True): f"clickstream_event.v{version}.avsc"
        for version, rev in contract.revisions().items()
    }
    revisions = schema_client(settings).list_schema_revisions(
        request={"name": f"projects/{settings.project}/schemas/{schema_id}"}
    )
    ordered = sorted(revisions, key=lambda r: r.revision_create_time)
    return [by_definition.get(json.dumps(json.loads(r.definition), sort_keys=True), "?") for r in ordered]


def _gcloud_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    """gcloud talking to the emulator: its REST endpoint, and a token it never checks."""
    token = tmp_path / "token"
    token.write_text("emulator\n")
    return {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{settings.pubsub_emulator_host}/",
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud-config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }


def test_terraform_registers_every_revision_the_local_stack_commits_in_the_same_order(
    stack: Settings, tmp_path: Path
) -> None:
    contract_files = [f"clickstream_event.v{version}.avsc" for version in contract.revisions()]
    assert len(contract_files) > 1, "the test needs at least two revisions"
    # 1.3 appended a payload branch (ThumbnailsShown): the topic must accept all four.
    assert contract_files[:4] == [f"clickstream_event.v1.{minor}.avsc" for minor in range(4)]

    # The local stack.
    local = replace(stack, schema_id=f"local-{uuid.uuid4().hex[:8]}")
    provisioning.ensure_schema(local)
    assert _files_in_commit_order(local, local.schema_id) == contract_files

    # Terraform: the files it lists, the one the schema resource is created with, then the rest
    # committed by its commit step.
    hcl = load_hcl(REPO_ROOT)
    schema = hcl["resource"]["google_pubsub_schema"]["event"]
    assert "avro_revisions" in hcl["locals"], "Terraform lists no revisions: it registers only one file"
    assert str(schema["definition"]) == "${file(local.avro_revision_paths[0])}", schema["definition"]
    paths = _terraform_eval("local.avro_revision_paths", tmp_path)
    assert isinstance(paths, list) and [Path(p).name for p in paths] == contract_files
    step = hcl["resource"]["terraform_data"]["schema_revisions"]
    provisioner = step["provisioner"][0]["local-exec"]
    assert "local.avro_revision_paths" in str(provisioner["environment"]["FILES"])
    assert "google_pubsub_schema.event.name" in str(provisioner["environment"]["SCHEMA"])

    module_dir = REPO_ROOT / "terraform"  # path.module, where the step runs

    def apply(schema_id: str, created_with: str) -> None:
        """What `terraform apply` does: create the schema with one file, then run the step."""
        schema_client(stack).create_schema(
            request={
                "parent": f"projects/{stack.project}",
                "schema": {
                    "name": f"projects/{stack.project}/schemas/{schema_id}",
                    "type_": "AVRO",
                    "definition": (module_dir / created_with).read_text(),
                },
                "schema_id": schema_id,
            }
        )
        env = {**_gcloud_env(stack, tmp_path), "SCHEMA": schema_id, "PROJECT": stack.project, "FILES": " ".join(paths)}
        for _ in range(2):  # a second apply (or a replaced step) commits nothing twice
            run = subprocess.run(
                [*provisioner["interpreter"], _heredoc(str(provisioner["command"]))],
                cwd=module_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert run.returncode == 0, run.stderr

    fresh = f"tf-{uuid.uuid4().hex[:8]}"
    apply(fresh, paths[0])
    assert _files_in_commit_order(stack, fresh) == contract_files
    # A schema the old module created with the newest revision alone gets the older ones.
    old = f"tf-{uuid.uuid4().hex[:8]}"
    apply(old, paths[-1])
    assert sorted(_files_in_commit_order(stack, old)) == sorted(contract_files)
