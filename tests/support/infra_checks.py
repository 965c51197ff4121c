"""Offline checks of the deployment files (no provider binary or network needed).

Each check takes the repository root, so tests can run it on the real tree and on a
deliberately broken copy; each returns a list of problems (empty means it passed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

from clickstream.core.paths import REPO_ROOT

BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
CHECKOV_VERSION = "3.3.30"


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"}


def load_hcl(root: Path) -> dict[str, Any]:
    """Every .tf file of terraform/, merged: {"resource": {...}, "locals": {...}, ...}."""
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    merged: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "data": {}}
    for path in sorted((root / "terraform").glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=options)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                merged["resource"].setdefault(kind, {}).update(named)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for block in parsed.get("variable", []):
            merged["variable"].update(block)
    return merged


def terraform_fmt(root: Path) -> list[str]:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(root / "terraform")],
        capture_output=True,
        text=True,
        env=_env(),
    )
    return [] if result.returncode == 0 else [f"terraform fmt -check failed:\n{result.stdout}{result.stderr}"]


def tables_match_schemas(root: Path) -> list[str]:
    hcl = load_hcl(root)
    problems = []
    tables = hcl["resource"].get("google_bigquery_table", {}).get("tables")
    if not tables:
        return ["no google_bigquery_table.tables resource"]
    if "local.tables" not in str(tables.get("for_each")):
        problems.append("google_bigquery_table.tables must iterate local.tables (schemas/bigquery/tables.json)")
    if "schemas/bigquery" not in str(hcl["locals"].get("bq_dir")) or "tables.json" not in str(
        hcl["locals"].get("tables")
    ):
        problems.append("local.tables must be read from schemas/bigquery/tables.json")
    if "${each.key}.schema.json" not in str(tables.get("schema")):
        problems.append("each table's schema must be file(<table>.schema.json)")
    base = root / "schemas" / "bigquery"
    options = json.loads((base / "tables.json").read_text())
    files = {p.name.removesuffix(".schema.json") for p in base.glob("*.schema.json")}
    problems += [f"schema file without a table entry: {n}" for n in sorted(files - set(options))]
    problems += [f"table entry without a schema file: {n}" for n in sorted(set(options) - files)]
    for name, opts in options.items():
        if name not in files:
            continue
        fields = {f["name"] for f in json.loads((base / f"{name}.schema.json").read_text())}
        partition = (opts.get("time_partitioning") or {}).get("field")
        if partition and partition not in fields:
            problems.append(f"{name}: partition field {partition} is not in its schema")
        problems += [
            f"{name}: cluster field {c} is not in its schema" for c in opts.get("clustering", []) if c not in fields
        ]
    return problems


def _resource_name(reference: Any, kind: str) -> str | None:
    """``google_pubsub_topic.parked.id`` -> ``parked`` (for ``kind`` google_pubsub_topic)."""
    match = re.search(rf"{kind}\.([A-Za-z0-9_-]+)\.", str(reference))
    return match.group(1) if match else None


def _granted(resources: dict[str, Any], kind: str, name: str, role: str, member: str) -> bool:
    """Whether ``member`` has ``role`` on the Pub/Sub ``kind`` (topic, subscription) ``name``."""
    grants = resources.get(f"google_pubsub_{kind}_iam_member", {}).values()
    return any(
        _resource_name(g.get(kind), f"google_pubsub_{kind}") == name
        and g.get("role") == role
        and member in str(g.get("member"))
        for g in grants
    )


def subscriptions_have_policies(root: Path) -> list[str]:
    """Pub/Sub-side dead-lettering where it can work, and nowhere it cannot:

    * the subscription Dataflow reads has no dead-letter or retry policy (Dataflow acknowledges on
      checkpoint; a policy there would move healthy messages whose leases lapsed in a backlog);
    * every other subscription has a retry policy and dead-letters to another topic defined here,
      except the end of the chain: a subscription of a dead-letter topic that never expires;
    * every dead-letter topic has such a never-expiring subscription (a topic without one keeps
      what lands there only for its own retention);
    * Pub/Sub's service agent may publish to each dead-letter topic and acknowledge on each
      subscription that dead-letters (least privilege: on those resources only).
    """
    hcl = load_hcl(root)
    resources = hcl["resource"]
    topics = set(resources.get("google_pubsub_topic", {}))
    subscriptions = resources.get("google_pubsub_subscription", {})
    dataflow = _resource_name(
        (hcl["locals"].get("deployment_parameters") or {}).get("input_subscription"), "google_pubsub_subscription"
    )
    problems = [] if dataflow in subscriptions else ["the Dataflow job's input_subscription is not a subscription here"]
    # Nested blocks parse as lists of one dict each.
    policies = {name: (sub.get("dead_letter_policy") or [None])[0] for name, sub in subscriptions.items()}
    targets = {_resource_name(p.get("dead_letter_topic"), "google_pubsub_topic") for p in policies.values() if p}

    def never_expires(sub: dict[str, Any]) -> bool:
        return any(str(e.get("ttl")) == "" for e in sub.get("expiration_policy") or [])

    for name, sub in subscriptions.items():
        topic, policy = _resource_name(sub.get("topic"), "google_pubsub_topic"), policies[name]
        if name == dataflow:
            if policy or sub.get("retry_policy"):
                problems.append(f"subscription {name} is read by Dataflow: no dead_letter_policy or retry_policy")
            continue
        if not sub.get("retry_policy"):
            problems.append(f"subscription {name} has no retry_policy")
        if policy:
            target = _resource_name(policy.get("dead_letter_topic"), "google_pubsub_topic")
            if target not in topics:
                problems.append(
                    f"subscription {name}: dead-letter topic {policy.get('dead_letter_topic')!r} is not defined here"
                )
            elif target == topic:
                problems.append(f"subscription {name}: dead-letters to its own topic")
        elif topic not in targets or not never_expires(sub):
            problems.append(
                f"subscription {name} has no dead_letter_policy and is not a never-expiring end of the chain"
            )
    for target in sorted(t for t in targets if t in topics):
        if not any(_resource_name(s.get("topic"), "google_pubsub_topic") == target and never_expires(s)
                   for s in subscriptions.values()):  # fmt: skip
            problems.append(f"dead-letter topic {target} has no never-expiring subscription: it keeps nothing")

    agent = "local.pubsub_agent"
    for target in sorted(t for t in targets if t):
        if not _granted(resources, "topic", target, "roles/pubsub.publisher", agent):
            problems.append(f"Pub/Sub's service agent cannot publish dead letters to {target}")
    for name in sorted(n for n, p in policies.items() if p):
        if not _granted(resources, "subscription", name, "roles/pubsub.subscriber", agent):
            problems.append(f"Pub/Sub's service agent cannot acknowledge what it dead-letters from {name}")
    return problems


def no_basic_roles_or_public_access(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / "terraform").glob("*.tf")):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        problems += [f"{path.name}: basic role {r}" for r in BASIC_ROLES if re.search(rf'"{r}"', code)]
        problems += [f"{path.name}: public member {m}" for m in PUBLIC_MEMBERS if m in code]
    return problems


def flex_parameters_match_options(root: Path) -> list[str]:
    from pipelines.flex_metadata import metadata
    from pipelines.options import option_names

    problems = []
    on_disk = json.loads((root / "dataflow" / "metadata.json").read_text())
    names = [p["name"] for p in on_disk["parameters"]]
    if names != option_names():
        problems.append(f"metadata.json names {names} != pipeline options {option_names()}")
    if on_disk != metadata():
        problems.append(
            "dataflow/metadata.json is stale: run python -m pipelines.flex_metadata > dataflow/metadata.json"
        )
    hcl = load_hcl(root)
    job = hcl["resource"].get("google_dataflow_flex_template_job", {}).get("pipeline", {})
    if "local.pipeline_parameters" not in str(job.get("parameters")):
        problems.append("the flex job's parameters must be local.pipeline_parameters")
    built = str(hcl["locals"].get("pipeline_parameters"))
    if "local.flex_metadata.parameters" not in built or "metadata.json" not in str(hcl["locals"].get("flex_metadata")):
        problems.append("local.pipeline_parameters must have one key per dataflow/metadata.json parameter")
    if str(job.get("provider")) != "google-beta":
        problems.append("google_dataflow_flex_template_job needs provider = google-beta")
    return problems


def scheduled_query_runs_signal_sql(root: Path) -> list[str]:
    from clickstream.app.signals import SIGNALS

    signal_sql = str(load_hcl(root)["locals"].get("signal_sql"))
    problems = []
    if "sql/signals/${name}.sql" not in signal_sql:
        problems.append("local.signal_sql must templatefile() the files in sql/signals")
    problems += [
        f"the scheduled query does not run {s}" for s in SIGNALS if f'"{s}"' not in signal_sql and s not in signal_sql
    ]
    transfer = load_hcl(root)["resource"].get("google_bigquery_data_transfer_config", {})
    if not any("local.signal_sql" in str(t.get("params")) for t in transfer.values()):
        problems.append("no scheduled query runs local.signal_sql")
    return problems


def identifier_rules_are_shared(root: Path) -> list[str]:
    """Each rule in schemas/identifiers.json is what the Terraform variable of that name validates
    with (read from the file, never a copy), the file Python's Settings and pipeline options read."""
    hcl = load_hcl(root)
    rules = json.loads((root / "schemas" / "identifiers.json").read_text())
    problems = []
    if "schemas/identifiers.json" not in str(hcl["locals"].get("identifiers")):
        problems.append("local.identifiers must be jsondecode(file(...schemas/identifiers.json))")
    for name in rules:
        variable = hcl["variable"].get(name)
        if variable is None:
            problems.append(f"schemas/identifiers.json has a rule for {name} but terraform/ has no such variable")
            continue
        conditions = " ".join(str(v.get("condition")) for v in variable.get("validation", []))
        problems += [
            f"variable {name} does not validate with local.identifiers.{name}.{key}"
            for key in ("pattern", "min_length", "max_length")
            if f"local.identifiers.{name}.{key}" not in conditions
        ]
    return problems


def checkov_binary(root: Path) -> Path:
    return root / ".clickstream" / "tools" / "checkov-venv" / "bin" / "checkov"


def checkov(root: Path, target: Path | None = None) -> list[str]:
    binary = checkov_binary(REPO_ROOT)
    if not binary.exists():
        return [f"checkov is not installed at {binary}: run `make setup`"]
    problems = []
    for args in (
        ["-d", str(target or root / "terraform"), "--framework", "terraform"],
        ["-f", str(root / "dataflow" / "Dockerfile"), "--framework", "dockerfile"],
    ):
        result = subprocess.run(
            [str(binary), "--skip-download", "--quiet", "--compact", *args],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=600,
        )
        if result.returncode != 0:
            problems.append(f"checkov {' '.join(args[-3:])} failed:\n{result.stdout[-3000:]}{result.stderr[-1000:]}")
    return problems


def hadolint(root: Path) -> list[str]:
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([binary, str(root / "dataflow" / "Dockerfile")], capture_output=True, text=True)
    return [] if result.returncode == 0 else [f"hadolint failed:\n{result.stdout}{result.stderr}"]


def flex_template_build(root: Path) -> list[str]:
    result = subprocess.run(
        [
            "gcloud",
            "dataflow",
            "flex-template",
            "build",
            "gs://offline/t.json",
            "--image",
            "x",
            "--sdk-language",
            "PYTHON",
            "--metadata-file",
            str(root / "dataflow" / "metadata.json"),
            "--print-only",
            "--project",
            "offline",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return (
        [] if result.returncode == 0 else [f"gcloud flex-template build --print-only failed:\n{result.stderr[-2000:]}"]
    )


ALL_CHECKS = (
    terraform_fmt,
    tables_match_schemas,
    subscriptions_have_policies,
    no_basic_roles_or_public_access,
    flex_parameters_match_options,
    scheduled_query_runs_signal_sql,
    identifier_rules_are_shared,
    hadolint,
    flex_template_build,
    checkov,
)
