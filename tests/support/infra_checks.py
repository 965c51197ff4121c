"""Offline checks of the deployment files (no provider binary or network needed).

Each check takes the repository root, so tests can run it on the real tree and on a
deliberately broken copy; each returns a list of problems (empty means it passed).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import hcl2
import yaml
from hcl2 import SerializationOptions

from clickstream.core.paths import REPO_ROOT

BASIC_ROLES = ("roles/owner", "roles/editor", "roles/viewer")
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
CHECKOV_VERSION = "3.3.30"
# The Terraform providers' schemas, offline: @cdktf/provider-google(-beta) are generated from each
# provider's own schema (their package.json names the provider version), and their .jsii file lists
# every argument and block of every resource and data source. `make setup` unpacks them into
# .clickstream/tools/provider-<name>/.
PROVIDER_SCHEMAS = {
    "google": "@cdktf/provider-google@16.12.1",
    "google-beta": "@cdktf/provider-google-beta@16.12.1",
}
DOCKERFILES = ("dataflow/Dockerfile", "dataflow/collector.Dockerfile")
# What the collector reads from its environment (clickstream.core.config.Settings and the
# collector's own configuration; docs/deploy.md).
COLLECTOR_ENV = (
    "CLICKSTREAM_PROJECT",
    "CLICKSTREAM_TOPIC",
    "CLICKSTREAM_REJECTED_TOPIC",
    "CLICKSTREAM_COLLECTOR_WRITE_KEYS",
    "CLICKSTREAM_COLLECTOR_ALLOWED_ORIGINS",
    "CLICKSTREAM_COLLECTOR_TRACING_EXPORTER",
    "CLICKSTREAM_COLLECTOR_TRACING_SAMPLE_RATIO",
    "CLICKSTREAM_COLLECTOR_TRUSTED_PROXY_HOPS",
)
# The Terraform variables every plan needs; the grant checks evaluate conditions with them.
REQUIRED_VARIABLES = {"project_id": "clickstream-local", "dataset_id": "clickstream"}
CLOUD_TRACE_AGENT = ("google_project_iam_member", "project", "roles/cloudtrace.agent")
# The tables the pipeline (and a replay, which runs the same sinks) writes.
PIPELINE_SINKS = ("events", "sessions", "dead_letters", "duplicates", "filtered", "impressions")
# Files of terraform/ with only variables and locals (no provider): evaluated offline.
PURE_FILES = ("variables.tf", "access.tf")
# What each service account may do with tracing off (least privilege): (kind, target, role).
BASE_GRANTS = {
    "collector": {
        ("google_pubsub_topic_iam_member", "events", "roles/pubsub.publisher"),
        ("google_pubsub_topic_iam_member", "rejected", "roles/pubsub.publisher"),
        # /readyz, the startup probe, looks both topics up (pubsub.topics.get).
        ("google_pubsub_topic_iam_member", "events", "roles/pubsub.viewer"),
        ("google_pubsub_topic_iam_member", "rejected", "roles/pubsub.viewer"),
    },
    "dataflow_worker": {
        ("google_project_iam_member", "project", "roles/dataflow.worker"),
        ("google_project_iam_member", "project", "roles/bigquery.jobUser"),
        ("google_pubsub_subscription_iam_member", "pipeline", "roles/pubsub.subscriber"),
        ("google_pubsub_subscription_iam_member", "rejected", "roles/pubsub.subscriber"),
        ("google_pubsub_topic_iam_member", "parked", "roles/pubsub.publisher"),
        # Per table, never the dataset: it writes its sinks and reads the catalog and the
        # deletion requests (the erased-user side input).
        *(("google_bigquery_table_iam_member", t, "roles/bigquery.dataEditor") for t in PIPELINE_SINKS),
        ("google_bigquery_table_iam_member", "video_catalog", "roles/bigquery.dataViewer"),
        ("google_bigquery_table_iam_member", "deletion_requests", "roles/bigquery.dataViewer"),
        # Only under staging/ and tmp/ (an IAM condition; tests/infra/test_least_privilege.py).
        ("google_storage_bucket_iam_member", "pipeline", "roles/storage.objectAdmin"),
        ("google_secret_manager_secret_iam_member", "pseudonym_key", "roles/secretmanager.secretAccessor"),
        # The template image, which is also the workers' SDK container.
        ("google_artifact_registry_repository_iam_member", "var.name_prefix", "roles/artifactregistry.reader"),
    },
}


def _env() -> dict[str, str]:
    return {**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"}


def load_hcl(root: Path) -> dict[str, Any]:
    """Every .tf file of terraform/, merged: {"resource": {...}, "locals": {...}, ...}."""
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
    merged: dict[str, Any] = {"resource": {}, "locals": {}, "variable": {}, "data": {}, "output": {}}
    for path in sorted((root / "terraform").glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=options)
        for section in ("resource", "data"):
            for block in parsed.get(section, []):
                for kind, named in block.items():
                    merged[section].setdefault(kind, {}).update(named)
        for block in parsed.get("locals", []):
            merged["locals"].update(block)
        for section in ("variable", "output"):
            for block in parsed.get(section, []):
                merged[section].update(block)
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
    match = re.search(rf"{kind}\.([A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.", str(reference))
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

    * the subscriptions Dataflow reads (the events and the collector's rejected events) have no
      dead-letter or retry policy (Dataflow acknowledges on checkpoint; a policy there would move
      healthy messages whose leases lapsed in a backlog), and the Dataflow worker may consume them;
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
    parameters = hcl["locals"].get("deployment_parameters") or {}
    problems = []
    read_by_dataflow = {}
    for parameter, topic in (("input_subscription", "events"), ("rejected_subscription", "rejected")):
        name = _resource_name(parameters.get(parameter), "google_pubsub_subscription")
        if name not in subscriptions:
            problems.append(f"the Dataflow job's {parameter} is not a subscription here")
            continue
        read_by_dataflow[name] = parameter
        if _resource_name(subscriptions[name].get("topic"), "google_pubsub_topic") != topic:
            problems.append(f"the Dataflow job's {parameter} ({name}) is not a subscription of the {topic} topic")
        if not _granted(resources, "subscription", name, "roles/pubsub.subscriber", "dataflow_worker"):
            problems.append(f"the Dataflow worker may not consume {name} ({parameter})")
    # Nested blocks parse as lists of one dict each.
    policies = {name: (sub.get("dead_letter_policy") or [None])[0] for name, sub in subscriptions.items()}
    targets = {_resource_name(p.get("dead_letter_topic"), "google_pubsub_topic") for p in policies.values() if p}

    def never_expires(sub: dict[str, Any]) -> bool:
        return any(str(e.get("ttl")) == "" for e in sub.get("expiration_policy") or [])

    for name, sub in subscriptions.items():
        topic, policy = _resource_name(sub.get("topic"), "google_pubsub_topic"), policies[name]
        if name in read_by_dataflow:
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


def _public_invokers(resources: dict[str, Any]) -> list[str]:
    """The one public grant allowed: anyone may invoke the collector (its write key is the
    application's, shipped in every page, not a credential)."""
    grants = resources.get("google_cloud_run_v2_service_iam_member", {})
    return [
        name
        for name, g in grants.items()
        if g.get("member") == "allUsers"
        and g.get("role") == "roles/run.invoker"
        and _resource_name(g.get("name"), "google_cloud_run_v2_service") == "collector"
    ]


def no_basic_roles_or_public_access(root: Path) -> list[str]:
    problems = []
    public = 0
    for path in sorted((root / "terraform").glob("*.tf")):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        problems += [f"{path.name}: basic role {r}" for r in BASIC_ROLES if re.search(rf'"{r}"', code)]
        public += sum(code.count(f'"{m}"') for m in PUBLIC_MEMBERS)
        problems += [
            f"{path.name}: public member {m} outside a quoted member" for m in PUBLIC_MEMBERS
            if code.count(m) != code.count(f'"{m}"')
        ]  # fmt: skip
    allowed = _public_invokers(load_hcl(root)["resource"])
    if public > len(allowed):
        problems.append(
            f"{public - len(allowed)} public member(s) (allUsers/allAuthenticatedUsers) other than "
            "roles/run.invoker on the collector service"
        )
    return problems


# The argument that names what a grant is on, by kind (the first one present wins).
_TARGET_KEYS = ("table_id", "topic", "subscription", "bucket", "secret_id", "repository", "crypto_key_id", "name")


def _target_expression(grant: dict[str, Any]) -> str:
    key = next((k for k in _TARGET_KEYS if k in grant), None)
    if key is None:
        key = next((k for k in grant if k not in ("role", "member", "members", "count", "for_each")), "")
    return str(grant.get(key, ""))


def _grant_target(kind: str, grant: dict[str, Any]) -> str:
    """The name of the resource a grant is on (``events`` for a topic), ``var.x`` for one named
    by a variable, or ``project``."""
    if kind == "google_project_iam_member":
        return "project"
    target = _target_expression(grant)
    match = re.search(r"google_[a-z0-9_]+\.([A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.", target)
    if match:
        return match.group(1)
    variable = re.fullmatch(r"\$\{(var\.[a-z0-9_]+)\}", target)
    return variable.group(1) if variable else target


def _evaluate(root: Path, expressions: list[str], values: dict[str, str]) -> list[str]:
    """Each expression's value, by `terraform console` on a module of terraform/'s PURE_FILES
    alone (variables, validations and locals; no provider needed) with ``values`` as -var."""
    with tempfile.TemporaryDirectory() as tmp:
        module = Path(tmp) / "terraform"
        module.mkdir()
        for name in PURE_FILES:
            if (root / "terraform" / name).exists():
                shutil.copy2(root / "terraform" / name, module / name)
        shutil.copytree(root / "schemas", Path(tmp) / "schemas")
        env = {**_env(), "TF_IN_AUTOMATION": "1"}
        run = functools.partial(subprocess.run, cwd=module, env=env, capture_output=True, text=True, timeout=120)
        init = run(["terraform", "init", "-input=false", "-backend=false", "-no-color"])
        if init.returncode != 0:
            raise RuntimeError(f"terraform init failed: {init.stderr}")
        result = run(
            ["terraform", "console", "-no-color", *(f"-var={k}={v}" for k, v in values.items())],
            # One expression: piped to the console, several lines print only the last result.
            input=f"jsonencode([{', '.join(expressions)}])\n",
        )
        if result.returncode != 0:
            raise RuntimeError(f"terraform console failed on {expressions}: {result.stderr}")
        [line] = [line for line in result.stdout.splitlines() if line.strip()]
        return json.loads(json.loads(line))


def _expression(value: Any) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else json.dumps(value)


def account_grants(root: Path, account: str, values: dict[str, str] | None = None) -> set[tuple[str, str, str]]:
    """(kind, target, role) of every grant to ``google_service_account.<account>`` that a plan
    with ``values`` (over REQUIRED_VARIABLES) creates: a grant with ``count``/``for_each`` is
    counted when Terraform itself evaluates that to at least one instance."""
    grants = []
    for kind, named in load_hcl(root)["resource"].items():
        if not kind.endswith(("_iam_member", "_iam_binding")):
            continue
        for grant in named.values():
            members = str(grant.get("member", "")) + str(grant.get("members", ""))
            if f"google_service_account.{account}." in members:
                grants.append((kind, grant))
    conditional = [g for _, g in grants if "count" in g or "for_each" in g]
    expressions = [_expression(g["count"]) if "count" in g else _expression(g["for_each"]) for g in conditional]
    evaluated = _evaluate(root, expressions, {**REQUIRED_VARIABLES, **(values or {})}) if expressions else []
    instances = {id(g): value for g, value in zip(conditional, evaluated, strict=True)}
    granted = set()
    for kind, g in grants:
        if "for_each" in g:
            # One grant per instance: a map's key names the target when the target is each.key,
            # its value the role when the role is each.value.
            value = instances[id(g)]
            items = value.items() if isinstance(value, dict) else [(v, v) for v in value]
            per_target = "each." in _target_expression(g)
            for key, item in items:
                role = str(item) if "each.value" in str(g.get("role")) else str(g.get("role"))
                granted.add((kind, str(key) if per_target else _grant_target(kind, g), role))
        elif "count" not in g or instances[id(g)]:
            granted.add((kind, _grant_target(kind, g), str(g.get("role"))))
    return granted


def tracing_is_wired(root: Path) -> list[str]:
    """Spans reach Cloud Trace when var.trace_exporter is gcp, and only then may anyone write them:
    the Dataflow job gets trace_exporter and trace_sample_ratio, the collector its two tracing
    variables, and roles/cloudtrace.agent on the project goes to the Dataflow worker and the
    collector with trace_exporter = gcp and to no account with none."""
    hcl = load_hcl(root)
    problems = []
    parameters = hcl["locals"].get("deployment_parameters") or {}
    for parameter, variable in (
        ("trace_exporter", "var.trace_exporter"),
        ("trace_sample_ratio", "local.pipeline_trace_sample_ratio"),
    ):
        if variable not in str(parameters.get(parameter)):
            problems.append(f"the Dataflow job's {parameter} must come from {variable}")
    service = hcl["resource"].get("google_cloud_run_v2_service", {}).get("collector") or {}
    containers = ((service.get("template") or [{}])[0]).get("containers") or [{}]
    env = {e.get("name"): str(e.get("value")) for c in containers for e in c.get("env") or []}
    for name, variable in (
        ("CLICKSTREAM_COLLECTOR_TRACING_EXPORTER", "var.trace_exporter"),
        ("CLICKSTREAM_COLLECTOR_TRACING_SAMPLE_RATIO", "var.collector_trace_sample_ratio"),
    ):
        if variable not in env.get(name, ""):
            problems.append(f"the collector's {name} must come from {variable}")
    for account in BASE_GRANTS:
        for exporter, extra in (("none", set()), ("gcp", {CLOUD_TRACE_AGENT})):
            granted = account_grants(root, account, {"trace_exporter": exporter})
            wanted = BASE_GRANTS[account] | extra
            problems += [f"trace_exporter={exporter}: {account} lacks {g}" for g in sorted(wanted - granted)]
            problems += [f"trace_exporter={exporter}: {account} may not have {g}" for g in sorted(granted - wanted)]
    return problems


def collector_service(root: Path) -> list[str]:
    """The collector on Cloud Run: its own service account that may only publish to the events and
    rejected topics; the environment it reads; scaling and concurrency from variables; and the
    image Cloud Build builds from dataflow/collector.Dockerfile."""
    hcl = load_hcl(root)
    resources = hcl["resource"]
    service = resources.get("google_cloud_run_v2_service", {}).get("collector")
    if service is None:
        return ["no google_cloud_run_v2_service.collector"]
    problems = []
    template = (service.get("template") or [{}])[0]
    if "google_service_account.collector.email" not in str(template.get("service_account")):
        problems.append("the collector must run as google_service_account.collector")
    if "var.collector_concurrency" not in str(template.get("max_instance_request_concurrency")):
        problems.append("template.max_instance_request_concurrency must be var.collector_concurrency")
    scaling = (template.get("scaling") or [{}])[0]
    for key, variable in (
        ("min_instance_count", "var.collector_min_instances"),
        ("max_instance_count", "var.collector_max_instances"),
    ):
        if variable not in str(scaling.get(key)):
            problems.append(f"template.scaling.{key} must be {variable}")
    containers = template.get("containers") or [{}]
    env = {e.get("name") for c in containers for e in c.get("env") or []}
    problems += [f"the collector's container does not set {name}" for name in COLLECTOR_ENV if name not in env]
    hops = {e.get("name"): str(e.get("value")) for c in containers for e in c.get("env") or []}
    if hops.get("CLICKSTREAM_COLLECTOR_TRUSTED_PROXY_HOPS", "1") != "1":
        # Cloud Run's front end appends the client's address to X-Forwarded-For; the peer is the proxy.
        problems.append("on Cloud Run the collector must trust one proxy hop (else it keeps the proxy's network)")
    if "var.collector_image" not in str(containers[0].get("image")):
        problems.append("the collector's image must be var.collector_image (built by dataflow/cloudbuild.yaml)")

    # With tracing off; tracing_is_wired checks the one extra role tracing adds.
    expected = BASE_GRANTS["collector"]
    granted = account_grants(root, "collector")
    problems += [f"the collector's service account lacks {role} on {kind} {name}" for kind, name, role in
                 sorted(expected - granted)]  # fmt: skip
    problems += [f"the collector's service account may not have {role} on {kind} {name}" for kind, name, role in
                 sorted(granted - expected)]  # fmt: skip
    if not _public_invokers(resources):
        problems.append("anyone may not invoke the collector (roles/run.invoker for allUsers on it)")

    build = yaml.safe_load((root / "dataflow" / "cloudbuild.yaml").read_text())
    wanted = ["-f", "dataflow/collector.Dockerfile", "-t", "${_COLLECTOR_IMAGE}"]
    builds = [step.get("args", []) for step in build.get("steps", [])]
    if not any(args[1:5] == wanted for args in builds) or "${_COLLECTOR_IMAGE}" not in build.get("images", []):
        problems.append(
            "dataflow/cloudbuild.yaml does not build and push dataflow/collector.Dockerfile as ${_COLLECTOR_IMAGE}"
        )
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


def provider_schema_file(provider: str = "google") -> Path:
    """The jsii assembly of @cdktf/provider-<provider> that `make setup` unpacks."""
    return REPO_ROOT / ".clickstream" / "tools" / f"provider-{provider}" / ".jsii"


# Terraform's own arguments of every resource, which no provider schema lists.
_META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
_REGISTRY_LINK = re.compile(r"/docs/(?:resources|data-sources)/([a-z0-9_]+)#([a-z0-9_]+) ")
_CLASS_LINK = re.compile(r"/docs/(resources|data-sources)/[a-z0-9_]+ (google_[a-z0-9_]+)\}")
_JSII_BASES = {"cdktf.TerraformResource": "resource", "cdktf.TerraformDataSource": "data"}
# What a reference can read besides the provider's attributes: Terraform's own.
_TERRAFORM_ATTRIBUTES = {"id"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _terraform_name(prop: dict[str, Any]) -> str:
    # The registry link names the Terraform argument (cdktf renames a few, e.g. ones that clash
    # with its own); properties without docs are plain snake_case.
    link = _REGISTRY_LINK.search(prop.get("docs", {}).get("remarks", ""))
    return link.group(2) if link else _snake(prop["name"])


@functools.cache
def _provider_schema(path: Path) -> dict[str, dict[str, Any]]:
    """{"resource": {type: spec}, "data": {type: spec}}; a spec is {"block": block, "attributes":
    the names a reference may read}; a block is {argument: (required, nested block or None)}.

    Read from the jsii assembly of @cdktf/provider-google(-beta): each resource or data source
    class's config struct, whose properties carry the Terraform name in their registry link
    (``...#min_instance_count``) and whose block-typed properties point at the struct of that
    block; the class's own properties are what it exposes (arguments and computed attributes).
    """
    types = json.loads(path.read_text())["types"]

    def struct_of(type_ref: dict[str, Any]) -> str | None:
        if "fqn" in type_ref:
            target = types.get(type_ref["fqn"])
            return type_ref["fqn"] if target and target.get("datatype") else None
        if "collection" in type_ref:
            return struct_of(type_ref["collection"]["elementtype"])
        if "union" in type_ref:
            return next((s for t in type_ref["union"]["types"] if (s := struct_of(t))), None)
        return None

    blocks: dict[str, dict[str, Any]] = {}

    def block(fqn: str) -> dict[str, Any]:
        if fqn not in blocks:
            blocks[fqn] = arguments = {}
            for prop in types[fqn].get("properties", []):
                nested = struct_of(prop["type"])
                arguments[_terraform_name(prop)] = (not prop.get("optional"), block(nested) if nested else None)
        return blocks[fqn]

    schema: dict[str, dict[str, Any]] = {"resource": {}, "data": {}}
    for spec in types.values():
        kind = _JSII_BASES.get(spec.get("base", ""))
        match = _CLASS_LINK.search(spec.get("docs", {}).get("summary", ""))
        config = spec.get("initializer", {}).get("parameters", [{}])[-1].get("type", {}).get("fqn")
        if not (kind and match and config):
            continue
        arguments = block(config)
        exposed = {
            _snake(p["name"])
            for p in spec.get("properties", [])
            if not p["name"].endswith("Input") and p["name"] != "tfResourceType"
        }
        schema[kind][match.group(2)] = {
            "block": arguments,
            "attributes": exposed | set(arguments) | _TERRAFORM_ATTRIBUTES,
        }
    return schema


def _unknown_arguments(where: str, body: dict[str, Any], spec: dict[str, Any], top: bool) -> list[str]:
    problems = []
    blocks: list[tuple[str, Any]] = []
    for key, value in body.items():
        if top and key in _META_ARGUMENTS:
            continue
        if key == "dynamic":  # dynamic "name" { for_each = ..., content { ... } }
            for dynamic in value if isinstance(value, list) else [value]:
                blocks += [(name, [(d.get("content") or [{}])[0]]) for name, d in dynamic.items()]
        else:
            blocks.append((key, value))
    for key, value in blocks:
        if key not in spec:
            problems.append(f"{where}: the provider has no argument or block {key!r}")
            continue
        nested = spec[key][1]
        if nested is not None and isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    problems += _unknown_arguments(f"{where}.{key}", item, nested, top=False)
    present = {key for key, _ in blocks}
    problems += [
        f"{where}: required argument {name!r} is missing"
        for name, (required, _) in spec.items()
        if required and name not in present
    ]
    return problems


def _provider_of(body: dict[str, Any]) -> str:
    """The provider a block resolves to: google-beta when ``provider = google-beta`` (an alias
    ``google-beta.x`` too), else google."""
    provider = str(body.get("provider") or "google").removeprefix("${").removesuffix("}")
    return provider.split(".", 1)[0]


# `<type>.<name>[index].<attribute>` and `data.<type>.<name>[index].<attribute>`, in any expression.
_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9_.\-])(data\.)?(google_[a-z0-9_]+)\.([A-Za-z0-9_-]+)(?:\[[^\]]*\])?\.([A-Za-z_][A-Za-z0-9_]*)"
)


def _strings(value: Any):
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        yield str(value)


def provider_arguments(root: Path) -> list[str]:
    """Every ``resource`` and ``data`` block of terraform/, checked against the schema of the
    provider it resolves to (google, or google-beta by ``provider =``): the type exists there,
    every argument and nested block (at any depth, ``dynamic`` content too) exists, no required
    one is missing, and every reference ``<type>.<name>.<attr>`` / ``data.<type>.<name>.<attr>``
    reads an attribute that type exposes. A typo or a renamed argument fails here, offline,
    instead of at `terraform plan`."""
    missing = [p for p in PROVIDER_SCHEMAS if not provider_schema_file(p).exists()]
    if missing:
        return [
            f"the provider schema is not installed at {provider_schema_file(p)}: run `make setup` "
            f"({PROVIDER_SCHEMAS[p]})"
            for p in missing
        ]
    schemas = {p: _provider_schema(provider_schema_file(p)) for p in PROVIDER_SCHEMAS}
    hcl = load_hcl(root)
    problems = []
    resolved: dict[tuple[str, str, str], dict[str, Any]] = {}
    for kind in ("resource", "data"):
        for type_, named in sorted(hcl[kind].items()):
            if not type_.startswith("google_"):
                continue
            for name, body in sorted(named.items()):
                provider = _provider_of(body)
                label = f"{'data.' if kind == 'data' else ''}{type_}.{name}"
                if provider not in schemas:
                    problems.append(f"{label}: provider {provider!r} has no schema here")
                    continue
                spec = schemas[provider][kind].get(type_)
                if spec is None:
                    what = "data source" if kind == "data" else "resource"
                    problems.append(f"{label}: the {provider} provider has no {what} {type_}")
                    continue
                resolved[(kind, type_, name)] = spec
                problems += _unknown_arguments(label, body, spec["block"], top=True)
    for text in sorted(set(_strings(hcl))):
        for data, type_, name, attribute in _REFERENCE.findall(text):
            kind = "data" if data else "resource"
            spec = resolved.get((kind, type_, name))
            if spec is not None and attribute not in spec["attributes"]:
                problems.append(f"{data}{type_}.{name}.{attribute}: {type_} has no attribute {attribute!r}")
    return problems


def provider_pins_match_schema(root: Path) -> list[str]:
    """terraform/versions.tf pins each provider to the release its offline schema was generated
    from (the npm package's package.json, cdktf.provider.version): ``~> X.Y.Z``, patch releases
    only, so what provider_arguments accepted is what `terraform init` installs."""
    with (root / "terraform" / "versions.tf").open() as handle:
        parsed = hcl2.load(handle, serialization_options=SerializationOptions(strip_string_quotes=True))
    required: dict[str, Any] = {}
    for block in parsed.get("terraform", []):
        for providers in block.get("required_providers", []):
            required.update(providers)
    problems = []
    for provider in PROVIDER_SCHEMAS:
        package = provider_schema_file(provider).with_name("package.json")
        if not package.exists():
            problems.append(f"the provider schema is not installed at {package}: run `make setup`")
            continue
        generated = json.loads(package.read_text())["cdktf"]["provider"]["version"]
        wanted = f"~> {generated}"
        pinned = (required.get(provider) or {}).get("version")
        if pinned != wanted:
            problems.append(f"versions.tf pins {provider} to {pinned!r}; the schema checked is {generated}: {wanted!r}")
    return problems


# What the dashboard must chart (docs/operations.md): metric types, and for the pipeline's own
# counters the PromQL metric of Dataflow's user counters.
DASHBOARD_METRICS = (
    "pubsub.googleapis.com/topic/send_message_operation_count",
    "pubsub.googleapis.com/subscription/num_undelivered_messages",
    "pubsub.googleapis.com/subscription/oldest_unacked_message_age",
    "dataflow.googleapis.com/job/system_lag",
    "dataflow.googleapis.com/job/data_watermark_age",
    "bigquery.googleapis.com/storage/uploaded_row_count",
    "run.googleapis.com/request_count",
    "dataflow_googleapis_com:job_user_counter",
)
# Alert policy -> the variable its threshold comes from (None: a log-match alert, no threshold).
ALERTS = {
    "oldest_unacked_message": "var.alert_oldest_unacked_age_s",
    "data_freshness": "var.alert_data_freshness_s",
    "dead_letter_share": "var.alert_dead_letter_share",
    "scheduled_query_failed": None,
}
_COUNTER = re.compile(r"Metrics\.counter\(METRICS_NAMESPACE, f?\"([a-z_]+)(\{)?")


def pipeline_counters(root: Path) -> set[str]:
    """The Beam counter names pipelines/ defines (``invalid_`` for an f-string prefix)."""
    names = set()
    for path in (root / "pipelines").rglob("*.py"):
        names |= {name for name, _ in _COUNTER.findall(path.read_text())}
    return names


def monitoring_is_wired(root: Path) -> list[str]:
    """terraform/monitoring.tf: a dashboard charting every DASHBOARD_METRICS, each alert of ALERTS
    with its threshold from its variable and var.notification_channels, a failed-run alert for
    each scheduled query (erasure and signals), and only pipeline counters that pipelines/ has."""
    hcl = load_hcl(root)
    resources = hcl["resource"]
    problems = []
    dashboards = resources.get("google_monitoring_dashboard", {})
    if not dashboards:
        problems.append("no google_monitoring_dashboard")
    text = str(hcl["locals"]) + str(dashboards)
    problems += [f"the dashboard does not chart {m}" for m in DASHBOARD_METRICS if m not in text]
    if not any("jsonencode(" in str(d.get("dashboard_json")) for d in dashboards.values()):
        problems.append("dashboard_json must be built with jsonencode (a typo is then an HCL error, not bad JSON)")
    policies = resources.get("google_monitoring_alert_policy", {})
    for name, variable in ALERTS.items():
        policy = policies.get(name)
        if policy is None:
            problems.append(f"no google_monitoring_alert_policy.{name}")
            continue
        if "var.notification_channels" not in str(policy.get("notification_channels")):
            problems.append(f"alert {name} does not notify var.notification_channels")
        # The threshold itself (a display name may quote the variable too).
        thresholds = [
            str(threshold.get("threshold_value")) + str(query.get("query"))
            for condition in policy.get("conditions") or []
            for threshold in condition.get("condition_threshold") or [{}]
            for query in condition.get("condition_prometheus_query_language") or [{}]
        ]
        if variable and not any(variable in t for t in thresholds):
            problems.append(f"alert {name}'s threshold is not {variable}")
        if not policy.get("documentation"):
            problems.append(f"alert {name} has no documentation for on-call")
    failed = str((policies.get("scheduled_query_failed") or {}).get("for_each"))
    for config in sorted(resources.get("google_bigquery_data_transfer_config", {})):
        if f"google_bigquery_data_transfer_config.{config}." not in failed:
            problems.append(f"no alert when the {config} scheduled query fails")
    variables = hcl["variable"]
    problems += [
        f"{v} is not a declared variable" for v in [*filter(None, ALERTS.values()), "var.notification_channels"]
        if v.removeprefix("var.") not in variables
    ]  # fmt: skip
    counters = pipeline_counters(root)
    for name in sorted({n for t in _strings(hcl["locals"]) for n in re.findall(r'metric_name=~\\"([^"\\]+)', t)}):
        for part in name.split("|"):
            if part.removesuffix(".*") not in counters:
                problems.append(f"monitoring reads the counter {part!r}, which pipelines/ does not define")
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
        *(["-f", str(root / dockerfile), "--framework", "dockerfile"] for dockerfile in DOCKERFILES),
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
    problems = []
    for dockerfile in DOCKERFILES:
        result = subprocess.run([binary, str(root / dockerfile)], capture_output=True, text=True)
        if result.returncode != 0:
            problems.append(f"hadolint {dockerfile} failed:\n{result.stdout}{result.stderr}")
    return problems


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
    collector_service,
    tracing_is_wired,
    provider_arguments,
    provider_pins_match_schema,
    monitoring_is_wired,
    hadolint,
    flex_template_build,
    checkov,
)
