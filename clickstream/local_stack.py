"""The local stack: the real Pub/Sub emulator and a BigQuery API stand-in, by PID.

``up`` starts what is not running yet (a second ``up`` is a no-op), waits until
each service answers, then provisions every resource idempotently. ``down`` stops,
by process group, exactly what ``up`` started and nothing else. State (pid files,
logs, BigQuery data) lives under ``Settings.state_dir``.

The BigQuery stand-in is bqemulator (DuckDB-backed, REST API). It is installed
into its own venv under ``Settings.tools_dir`` because its dependency set clashes
with pytest's plugin loading in the main venv; its DuckDB spatial extension is
copied into a private HOME so it never tries to download it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from google.api_core import exceptions as gexc
from google.cloud import bigquery
from google.pubsub_v1.types import Encoding, Schema

from clickstream import contract
from clickstream.bq_tables import ensure_dataset_and_tables, ensure_views, table_specs
from clickstream.catalog import generate_catalog
from clickstream.clients import bigquery_client, publisher_client, schema_client, subscriber_client
from clickstream.config import Settings

BQEMULATOR_REQUIREMENTS = (
    "bqemulator==1.4.0",
    "duckdb==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "numpy>=1.26,<3",
)
_DUCKDB_VERSION = "v1.5.5"
READY_TIMEOUT_S = 90.0


class StackError(RuntimeError):
    """The local stack cannot start or is misconfigured; the message says what to do."""


class PortInUseError(StackError):
    pass


@dataclass(frozen=True)
class ServiceState:
    name: str
    pid: int | None
    port: int
    endpoint: str
    running: bool
    ready: bool
    log: Path


# ---------------------------------------------------------------------- install
def bigquery_emulator_python(settings: Settings) -> Path:
    return settings.tools_dir / "bqemulator-venv" / "bin" / "python"


def _bigquery_emulator_home(settings: Settings) -> Path:
    return settings.tools_dir / "bqemulator-home"


def install_bigquery_emulator(settings: Settings, quiet: bool = True) -> Path:
    """Create the stand-in's own venv once; later calls only check the marker."""
    venv = settings.tools_dir / "bqemulator-venv"
    marker = venv / ".clickstream-installed"
    wanted = "\n".join(BQEMULATOR_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return bigquery_emulator_python(settings)
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    if quiet:
        pip.append("-q")
    result = subprocess.run([*pip, *BQEMULATOR_REQUIREMENTS], capture_output=quiet, text=True)
    if result.returncode != 0:
        raise StackError("installing the BigQuery stand-in failed (pip needs PyPI):\n" + (result.stderr or "")[-2000:])
    # Ship the spatial extension where DuckDB looks, so it never downloads it.
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import duckdb_extension_spatial as m, pathlib; print(pathlib.Path(m.__file__).parent)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    extension = Path(found) / "extensions" / _DUCKDB_VERSION / "spatial.duckdb_extension"
    target = _bigquery_emulator_home(settings) / ".duckdb" / "extensions" / _DUCKDB_VERSION / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(extension, target / extension.name)
    marker.write_text(wanted)
    return bigquery_emulator_python(settings)


# ---------------------------------------------------------------------- processes
def _run_dir(settings: Settings) -> Path:
    return settings.state_dir / "run"


def _log_path(settings: Settings, name: str) -> Path:
    return settings.state_dir / "logs" / f"{name}.log"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Only zombies left in the group count as gone.
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().split(")")[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _read_pidfile(settings: Settings, name: str) -> dict | None:
    path = _run_dir(settings) / f"{name}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _ready_url(settings: Settings, name: str, port: int) -> str:
    if name == "pubsub":
        return f"http://127.0.0.1:{port}/"
    return f"http://127.0.0.1:{port}/bigquery/v2/projects/{settings.project}/datasets"


def _command(settings: Settings, name: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if name == "pubsub":
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise StackError(
                "gcloud not found: install the Google Cloud SDK with the Pub/Sub emulator component "
                "(`gcloud components install pubsub-emulator beta`, "
                "or Debian's google-cloud-cli-pubsub-emulator)"
            )
        if shutil.which("java") is None:
            raise StackError("java not found: the Pub/Sub emulator needs a Java 17+ runtime on PATH")
        return [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{settings.pubsub_port}",
            f"--project={settings.project}",
            "--quiet",
            "--verbosity=warning",
        ], env
    python = bigquery_emulator_python(settings)
    if not python.exists():
        raise StackError("the BigQuery stand-in is not installed: run `clickstream local install`")
    env["HOME"] = str(_bigquery_emulator_home(settings))
    data_dir = settings.state_dir / "bigquery-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(python),
        "-m",
        "bqemulator",
        "start",
        "--rest-host",
        "127.0.0.1",
        "--rest-port",
        str(settings.bigquery_port),
        "--grpc-host",
        "127.0.0.1",
        "--grpc-port",
        str(settings.bigquery_grpc_port),
        "--persistent",
        "--data-dir",
        str(data_dir),
        "--project",
        settings.project,
        "--log-level",
        "warning",
        "--log-format",
        "console",
    ], env


def _ports(settings: Settings, name: str) -> list[int]:
    if name == "pubsub":
        return [settings.pubsub_port]
    return [settings.bigquery_port, settings.bigquery_grpc_port]


def service_state(settings: Settings, name: str) -> ServiceState:
    info = _read_pidfile(settings, name)
    port = int(info["port"]) if info else _ports(settings, name)[0]
    running = bool(info) and _alive(int(info["pid"]))
    ready = running and _http_ok(_ready_url(settings, name, port))
    endpoint = f"127.0.0.1:{port}" if name == "pubsub" else f"http://127.0.0.1:{port}"
    return ServiceState(
        name, int(info["pid"]) if info else None, port, endpoint, running, ready, _log_path(settings, name)
    )


def start_service(settings: Settings, name: str) -> ServiceState:
    """Start one service unless our pid file says it already runs; wait until it answers."""
    current = service_state(settings, name)
    if current.running:
        if not current.ready:
            _wait_ready(settings, name, current.port, current.pid)
        return service_state(settings, name)
    for port in _ports(settings, name):
        if not port_is_free(port):
            raise PortInUseError(
                f"port {port} on 127.0.0.1 is taken by another process; {name} cannot start there. "
                f"Pick another port (--{name}-port or CLICKSTREAM_{name.upper()}_PORT) or stop that process."
            )
    command, env = _command(settings, name)
    log_path = _log_path(settings, name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    _run_dir(settings).mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=settings.state_dir,
        )
    (_run_dir(settings) / f"{name}.json").write_text(
        json.dumps(
            {
                "pid": process.pid,
                "pgid": process.pid,
                "port": _ports(settings, name)[0],
                "command": command,
                "started_at": time.time(),
            }
        )
    )
    try:
        _wait_ready(settings, name, _ports(settings, name)[0], process.pid)
    except StackError:
        stop_service(settings, name)
        raise
    return service_state(settings, name)


def _wait_ready(settings: Settings, name: str, port: int, pid: int | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = _ready_url(settings, name, port)
    while time.monotonic() < deadline:
        if _http_ok(url):
            return
        if pid is not None and not _alive(pid):
            break
        time.sleep(0.25)
    tail = ""
    log = _log_path(settings, name)
    if log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise StackError(f"{name} did not become ready on port {port}; last log lines ({log}):\n{tail}")


def stop_service(settings: Settings, name: str, timeout: float = 15.0) -> bool:
    """Stop the process group our pid file names; True when something was stopped."""
    info = _read_pidfile(settings, name)
    pidfile = _run_dir(settings) / f"{name}.json"
    if not info:
        return False
    stopped = stop_group(int(info["pgid"]), int(info["pid"]), timeout)
    pidfile.unlink(missing_ok=True)
    return stopped


def stop_group(pgid: int, pid: int, timeout: float = 15.0, kill: bool = False) -> bool:
    """SIGTERM a process group, then SIGKILL what is left after ``timeout`` seconds (``kill``
    goes straight to SIGKILL, to play a crash); True when something was running."""
    if not _group_alive(pgid):
        return False
    steps = ((signal.SIGKILL, 5.0),) if kill else ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0))
    for sig, wait in steps:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(pgid):
            _alive(pid)  # reaps our own child
            time.sleep(0.1)
        if not _group_alive(pgid):
            break
    return True


SERVICES = ("pubsub", "bigquery")


def own_stack_settings(state_dir: Path) -> Settings:
    """Settings for a stack of one's own: ``state_dir`` and free ports. Endpoints from the
    environment are dropped: tests and benchmarks must not touch a stack they did not start."""
    settings = Settings.from_env(
        state_dir=state_dir,
        pubsub_port=free_port(),
        bigquery_port=free_port(),
        bigquery_grpc_port=free_port(),
    )
    return replace(settings, pubsub_emulator_host=None, bigquery_endpoint=None)


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[Settings]:
    """``up`` on entry, ``down`` on exit (also when starting fails half-way); yields the
    settings pointed at the running services."""
    try:
        up(settings)
        yield settings.with_local_endpoints()
    finally:
        down(settings)


def up(settings: Settings) -> list[ServiceState]:
    install_bigquery_emulator(settings)
    states = [start_service(settings, name) for name in SERVICES]
    provision(settings.with_local_endpoints())
    return states


def down(settings: Settings) -> list[str]:
    return [name for name in SERVICES if stop_service(settings, name)]


def status(settings: Settings) -> list[ServiceState]:
    return [service_state(settings, name) for name in SERVICES]


# ---------------------------------------------------------------------- provisioning
def ensure_schema(settings: Settings) -> str:
    """Create the topic schema with every contract revision, oldest first; idempotent.

    Committing each revision lets the topic accept events written under any
    revision of the current major, as the evolution policy promises.
    """
    client = schema_client(settings)
    try:
        existing = client.list_schema_revisions(request={"name": settings.schema_path})
        known = {json.dumps(json.loads(s.definition), sort_keys=True) for s in existing}
    except gexc.NotFound:
        known = set()
    for rev in contract.revisions().values():
        canonical = json.dumps(json.loads(rev.definition), sort_keys=True)
        if canonical in known:
            continue
        schema = Schema(name=settings.schema_path, type_=Schema.Type.AVRO, definition=rev.definition)
        if not known:
            client.create_schema(
                request={
                    "parent": f"projects/{settings.project}",
                    "schema": schema,
                    "schema_id": settings.schema_id,
                }
            )
        else:
            client.commit_schema(request={"name": settings.schema_path, "schema": schema})
        known.add(canonical)
    return settings.schema_path


def ensure_event_topic(settings: Settings) -> None:
    """The events topic, checked against the contract's schema (``ensure_schema`` first)."""
    request = {
        "name": settings.topic_path,
        "schema_settings": {"schema": settings.schema_path, "encoding": Encoding.BINARY},
    }
    with contextlib.suppress(gexc.AlreadyExists):
        publisher_client(settings).create_topic(request=request)


def ensure_topics_and_subscriptions(settings: Settings) -> None:
    ensure_event_topic(settings)
    publisher = publisher_client(settings)
    subscriber = subscriber_client(settings)
    try:
        with contextlib.suppress(gexc.AlreadyExists):
            publisher.create_topic(request={"name": settings.dead_letter_topic_path})
        for request in (
            {
                "name": settings.subscription_path,
                "topic": settings.topic_path,
                "ack_deadline_seconds": settings.ack_deadline_s,
                "message_retention_duration": {"seconds": 7 * 24 * 3600},
                "dead_letter_policy": {
                    "dead_letter_topic": settings.dead_letter_topic_path,
                    "max_delivery_attempts": settings.max_delivery_attempts,
                },
                "retry_policy": {
                    "minimum_backoff": {"seconds": settings.retry_min_backoff_s},
                    "maximum_backoff": {"seconds": settings.retry_max_backoff_s},
                },
            },
            {
                "name": settings.dead_letter_subscription_path,
                "topic": settings.dead_letter_topic_path,
                "ack_deadline_seconds": settings.ack_deadline_s,
                "message_retention_duration": {"seconds": 7 * 24 * 3600},
            },
        ):
            with contextlib.suppress(gexc.AlreadyExists):
                subscriber.create_subscription(request=request)
    finally:
        subscriber.close()


def seed_catalog(client: bigquery.Client, settings: Settings) -> int:
    """Load the generated catalog into ``video_catalog`` when it is empty; returns rows loaded."""
    table_id = settings.table_id("video_catalog")
    existing = next(iter(client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`").result())).n
    if existing:
        return 0
    rows = [video.to_row() for video in generate_catalog(settings.catalog_size)]
    payload = io.BytesIO("\n".join(json.dumps(row) for row in rows).encode())
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        schema=table_specs()["video_catalog"].schema(),
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    client.load_table_from_file(payload, table_id, job_config=config).result()
    return len(rows)


def provision(settings: Settings) -> None:
    """Every Pub/Sub and BigQuery resource the pipeline and the emitters need."""
    ensure_schema(settings)
    ensure_topics_and_subscriptions(settings)
    client = bigquery_client(settings)
    ensure_dataset_and_tables(client, settings.project, settings.dataset)
    ensure_views(client, settings.project, settings.dataset)
    seed_catalog(client, settings)
