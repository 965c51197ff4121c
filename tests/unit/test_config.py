from __future__ import annotations

import json
from pathlib import Path

import pytest

from clickstream.core.config import Settings
from clickstream.core.paths import schemas_dir


def test_environment_then_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_TOPIC", "from-env")
    monkeypatch.setenv("CLICKSTREAM_PUBSUB_PORT", "18000")
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:18000")
    monkeypatch.setenv("CLICKSTREAM_STATE_DIR", "/tmp/somewhere")
    settings = Settings.from_env(topic="from-flag", dataset=None)
    assert settings.topic == "from-flag"
    assert settings.pubsub_port == 18000
    assert settings.pubsub_emulator_host == "127.0.0.1:18000"
    assert settings.state_dir == Path("/tmp/somewhere")
    assert settings.dataset == "clickstream"
    assert settings.topic_path == "projects/clickstream-local/topics/from-flag"


def test_without_emulator_variables_clients_target_real_gcp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("CLICKSTREAM_BIGQUERY_ENDPOINT", raising=False)
    settings = Settings.from_env()
    assert settings.pubsub_emulator_host is None and settings.bigquery_endpoint is None
    local = settings.with_local_endpoints()
    assert local.pubsub_emulator_host == f"127.0.0.1:{settings.pubsub_port}"


_INJECTIONS = [
    ("CLICKSTREAM_DATASET", "dataset_id", "clickstream.events` WHERE TRUE; --"),
    ("CLICKSTREAM_PROJECT", "project_id", "clickstream-local`.x.y` WHERE TRUE; --"),
]


@pytest.mark.parametrize(("variable", "rule", "value"), _INJECTIONS, ids=[i[0] for i in _INJECTIONS])
def test_an_identifier_from_the_environment_that_could_rewrite_sql_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, rule: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as raised:
        Settings.from_env()
    message = str(raised.value)
    pattern = json.loads((schemas_dir() / "identifiers.json").read_text())[rule]["pattern"]
    assert variable in message and pattern in message and value in message
    assert "\n" not in message


def test_the_cli_reports_a_bad_identifier_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from clickstream.app.cli import app

    monkeypatch.setenv("CLICKSTREAM_DATASET", "x` WHERE TRUE; --")
    result = CliRunner().invoke(app, ["local", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "CLICKSTREAM_DATASET" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("flag", ["--dataset", "--bq_project"])
def test_pipeline_options_refuse_a_dataset_or_project_that_is_not_an_identifier(
    capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.options import ClickstreamOptions

    with pytest.raises(SystemExit):
        PipelineOptions([f"{flag}=a` WHERE TRUE; --"]).view_as(ClickstreamOptions)
    error = capsys.readouterr().err
    assert f"argument {flag}" in error and "is not a valid" in error


def test_real_bigquery_without_a_key_refuses_instead_of_using_the_local_key_file(tmp_path: Path) -> None:
    # The local key file hashes to other pseudonyms than the pipeline on Dataflow (its key is the
    # Secret Manager secret): an erasure would find nothing and still say done.
    settings = Settings(state_dir=tmp_path, bigquery_endpoint=None, pseudonym_key="")
    with pytest.raises(ValueError) as raised:
        settings.pseudonym_key_source  # noqa: B018
    message = str(raised.value)
    assert "CLICKSTREAM_PSEUDONYM_KEY" in message and "/versions/" in message and "\n" not in message


def test_the_local_stack_keeps_its_key_file_and_pipeline_args(tmp_path: Path) -> None:
    local = Settings(state_dir=tmp_path).with_local_endpoints()
    assert local.pseudonym_key_source == str(tmp_path / "pseudonym.key")
    assert f"--pseudonym_key={tmp_path / 'pseudonym.key'}" in local.pipeline_args()
    given = Settings(state_dir=tmp_path, pseudonym_key="projects/p/secrets/s/versions/3")
    assert given.pseudonym_key_source == "projects/p/secrets/s/versions/3"  # real cloud with a key: fine


@pytest.mark.parametrize(
    "command",
    [
        ["privacy", "forget", "--user", "alice@example.com"],
        ["recommend", "--user", "alice@example.com"],
        # Writes to real BigQuery (no --output-dir); an offline replay uses the state folder's key.
        ["replay", "--input", "archive.jsonl", "--catalog-path", "c.jsonl", "--deletion-requests-path", "r.jsonl"],
    ],
    ids=["forget", "recommend", "replay"],
)  # fmt: skip
def test_commands_that_hash_raw_ids_refuse_real_bigquery_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    from typer.testing import CliRunner

    from clickstream.app.cli import app

    for variable in ("PUBSUB_EMULATOR_HOST", "CLICKSTREAM_BIGQUERY_ENDPOINT", "CLICKSTREAM_PSEUDONYM_KEY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pseudonym.key").write_text("00" * 32 + "\n")  # a local key file that must not be used
    # Credentials that load without a network call: the refusal must come from the key, not from them.
    credentials = tmp_path / "adc.json"
    credentials.write_text(
        json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"})
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(credentials))
    result = CliRunner().invoke(app, [*command, "--state-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "CLICKSTREAM_PSEUDONYM_KEY" in result.output and "Traceback" not in result.output
