"""One configuration object for every command, read from flags and environment.

Precedence: explicit argument > environment variable > default. The same code
talks to real Google Cloud when no emulator endpoint is set: ``PUBSUB_EMULATOR_HOST``
(honoured as the Google client libraries honour it) and ``CLICKSTREAM_BIGQUERY_ENDPOINT``
switch each service to its local stand-in.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from clickstream.core.identifiers import DATASET_ID, PROJECT_ID, check
from clickstream.core.paths import default_state_dir

ENV_PREFIX = "CLICKSTREAM_"
# How long after a deletion request a person's new events are still dropped (the pipeline's
# --erased_user_suppression_days) and the erasure job still sweeps the request once done
# (`clickstream privacy erase --sweep-days`, the scheduled query's sweep_days): rows can still
# arrive after the erasure ran, so both last as long.
ERASED_USER_SUPPRESSION_DAYS = 30


class PseudonymKeyMissing(ValueError):
    """Settings that talk to real Google Cloud were given no pseudonymisation key."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper(), default)


@dataclass(frozen=True)
class Settings:
    """Every knob shared by the emitters, the local stack and (later) the pipeline.

    Each field maps to the environment variable ``CLICKSTREAM_<FIELD>`` (upper case),
    except ``pubsub_emulator_host`` which is ``PUBSUB_EMULATOR_HOST``.
    """

    project: str = "clickstream-local"
    topic: str = "clickstream-events"
    schema_id: str = "clickstream-event"
    subscription: str = "clickstream-pipeline"
    dead_letter_topic: str = "clickstream-events-dead-letter"
    dead_letter_subscription: str = "clickstream-events-dead-letter-inspect"
    # The last resort: dead letters the dead_letters table itself refused (pipelines/transforms/park.py).
    parked_topic: str = "clickstream-events-parked"
    parked_subscription: str = "clickstream-events-parked-inspect"
    # Events the HTTP collector refused (not an event of the contract): the topic's schema keeps
    # them off the events topic, so they travel here and the pipeline writes them to dead_letters.
    rejected_topic: str = "clickstream-events-rejected"
    rejected_subscription: str = "clickstream-pipeline-rejected"
    dataset: str = "clickstream"
    # Local endpoints: None means "talk to real Google Cloud".
    pubsub_emulator_host: str | None = None
    bigquery_endpoint: str | None = None
    # Local stack.
    # A checkout keeps it in <repo>/.clickstream; an installed package in the user's state folder.
    state_dir: Path = field(default_factory=default_state_dir)
    # The BigQuery stand-in's own venv; shared by every state_dir (tests use their own).
    tools_dir: Path = field(default_factory=lambda: default_state_dir() / "tools")
    pubsub_port: int = 8085
    bigquery_port: int = 9050
    bigquery_grpc_port: int = 9060
    collector_port: int = 8087
    catalog_size: int = 500
    # The pseudonymisation key (clickstream.core.pseudonyms): a file or a Secret Manager version.
    # Empty: the local stack's key file in state_dir, which `local up` creates.
    pseudonym_key: str = ""
    # What an event without a consent record means (granted | denied); docs/privacy.md.
    consent_default: str = "granted"
    # Subscription retry policy; short locally so dead-lettering is observable in seconds.
    retry_min_backoff_s: int = 1
    retry_max_backoff_s: int = 10
    max_delivery_attempts: int = 5
    ack_deadline_s: int = 60

    def __post_init__(self) -> None:
        # Both reach SQL as identifiers: refuse what could rewrite a statement, whatever set them.
        check(PROJECT_ID, self.project, f"project ({ENV_PREFIX}PROJECT)")
        check(DATASET_ID, self.dataset, f"dataset ({ENV_PREFIX}DATASET)")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then ``CLICKSTREAM_*`` variables, then non-None ``overrides``."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get("PUBSUB_EMULATOR_HOST") if f.name == "pubsub_emulator_host" else _env(f.name)
            if raw is None or raw == "":
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, bool):
                values[f.name] = raw.lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, Path):
                values[f.name] = Path(raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def with_local_endpoints(self) -> Settings:
        """These settings pointed at the local stack's ports."""
        return replace(
            self,
            pubsub_emulator_host=f"127.0.0.1:{self.pubsub_port}",
            bigquery_endpoint=f"http://127.0.0.1:{self.bigquery_port}",
        )

    def isolated(self, tag: str, own_dataset: bool = True) -> Settings:
        """These settings with a topic, subscriptions, client state folder (spool) and, with
        ``own_dataset``, a BigQuery dataset of their own: a test or benchmark run whose counts
        nothing else can touch. Nothing is created here (``provisioning.provision`` does)."""
        suffix = f"{tag}-{uuid.uuid4().hex[:8]}"
        return replace(
            self,
            topic=f"events-{suffix}",
            subscription=f"pipeline-{suffix}",
            dead_letter_topic=f"dead-letter-{suffix}",
            dead_letter_subscription=f"dead-letter-inspect-{suffix}",
            parked_topic=f"parked-{suffix}",
            parked_subscription=f"parked-inspect-{suffix}",
            rejected_topic=f"rejected-{suffix}",
            rejected_subscription=f"pipeline-rejected-{suffix}",
            dataset=suffix.replace("-", "_") if own_dataset else self.dataset,
            state_dir=self.state_dir / f"client-{suffix}",
            # The key belongs to the stack, not to the client folder.
            pseudonym_key=self.pseudonym_key or str(self.local_pseudonym_key_file),
        )

    # Resource paths, spelled once.
    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def schema_path(self) -> str:
        return f"projects/{self.project}/schemas/{self.schema_id}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"

    @property
    def dead_letter_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.dead_letter_topic}"

    @property
    def dead_letter_subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.dead_letter_subscription}"

    @property
    def parked_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.parked_topic}"

    @property
    def parked_subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.parked_subscription}"

    @property
    def rejected_topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.rejected_topic}"

    @property
    def rejected_subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.rejected_subscription}"

    @property
    def local_pseudonym_key_file(self) -> Path:
        """The local stack's key file, which `local up` creates."""
        return self.state_dir / "pseudonym.key"

    @property
    def pseudonym_key_source(self) -> str:
        """Where the pseudonymisation key is read from (a file path or a Secret Manager version).

        The local key file only for the local stack: against real BigQuery the rows were hashed by the
        pipeline on Dataflow with the Secret Manager key, and any other key finds none of them (an
        erasure would delete nothing and say done), so an empty key is refused there."""
        if self.pseudonym_key:
            return self.pseudonym_key
        if self.bigquery_endpoint is None:
            raise PseudonymKeyMissing(
                f"no pseudonymisation key for Google Cloud: set {ENV_PREFIX}PSEUDONYM_KEY to the Secret Manager "
                f"version the pipeline uses, projects/{self.project}/secrets/NAME_PREFIX-pseudonym-key/versions/N "
                "(Terraform's output pseudonym_key_version_name); the local key file hashes to other "
                "pseudonyms than the pipeline's"
            )
        return str(self.local_pseudonym_key_file)

    def table_id(self, table: str) -> str:
        return f"{self.project}.{self.dataset}.{table}"

    def pipeline_args(self, read_subscription: bool = True) -> list[str]:
        """The pipeline options these settings imply: the one mapping from Settings to the
        Beam pipeline's arguments (``pipelines.options.ClickstreamOptions``)."""
        args = [
            f"--project={self.project}",
            f"--dataset={self.dataset}",
            f"--parked_topic={self.parked_topic_path}",
            f"--pseudonym_key={self.pseudonym_key_source}",
            f"--consent_default={self.consent_default}",
        ]
        if read_subscription:
            args[:0] = [
                f"--input_subscription={self.subscription_path}",
                f"--rejected_subscription={self.rejected_subscription_path}",
            ]
        if self.bigquery_endpoint:
            args.append(f"--bigquery_endpoint={self.bigquery_endpoint}")
        return args
