"""The local stack's services: the real Pub/Sub emulator, the BigQuery stand-in and the HTTP collector, by PID.

``up`` starts what is not running yet (a second ``up`` is a no-op), waits until each
service answers, then provisions every resource idempotently (``provisioning``). ``down``
stops, by process group, exactly what ``up`` started and nothing else: a pid file records
the process's identity (start time, command line) too, and a PID that now names another
process is never signalled. State (pid files, logs, BigQuery data) lives under
``Settings.state_dir``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from clickstream.app import provisioning
from clickstream.app.local import collector, standin_main
from clickstream.app.local.install import (
    InstallError,
    bigquery_emulator_home,
    bigquery_emulator_python,
    install_bigquery_emulator,
)
from clickstream.app.local.lock import held
from clickstream.app.local.processes import (
    ProcessIdentity,
    alive,
    free_port,
    group_alive,
    http_ok,
    identity,
    is_same_process,
    port_is_free,
    stop_group,
)
from clickstream.core.config import Settings

READY_TIMEOUT_S = 90.0
# In start order: the collector publishes to topics that exist only once the others are up and provisioned.
SERVICES = ("pubsub", "bigquery", "collector")
BACKENDS = ("pubsub", "bigquery")


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


def _run_dir(settings: Settings) -> Path:
    return settings.state_dir / "run"


def _log_path(settings: Settings, name: str) -> Path:
    return settings.state_dir / "logs" / f"{name}.log"


def _pidfile(settings: Settings, name: str) -> Path:
    return _run_dir(settings) / f"{name}.json"


def _read_pidfile(settings: Settings, name: str) -> dict | None:
    path = _pidfile(settings, name)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _write_pidfile(settings: Settings, name: str, record: dict) -> None:
    """Whole or not at all: ``status`` may read it while ``up`` writes it."""
    path = _pidfile(settings, name)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record))
    os.replace(partial, path)


def _is_ours(info: dict) -> bool:
    """The pid file's process still runs: same PID *and* same identity."""
    return is_same_process(int(info["pid"]), ProcessIdentity.from_json(info.get("identity")))


def _orphaned_group(info: dict) -> bool:
    """Our leader is gone but members of its process group still run. Linux does not hand out a
    number that is still some group's id, so the group is the one our leader made."""
    pid = int(info["pid"])
    alive(pid)  # reaps it if it is our own exited child
    return identity(pid) is None and group_alive(int(info["pgid"]))


def _ready_url(settings: Settings, name: str, port: int) -> str:
    if name == "pubsub":
        return f"http://127.0.0.1:{port}/"
    if name == "collector":
        return f"http://127.0.0.1:{port}/readyz"  # ready = can publish
    return f"http://127.0.0.1:{port}/bigquery/v2/projects/{settings.project}/datasets"


def _command(settings: Settings, name: str) -> tuple[list[str], dict[str, str]]:
    if name == "collector":
        return collector.command(settings)
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
    env["HOME"] = str(bigquery_emulator_home(settings))
    data_dir = settings.state_dir / "bigquery-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(python),
        str(Path(standin_main.__file__)),  # bqemulator without a table copy per write
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
    if name == "collector":
        return [settings.collector_port]
    return [settings.bigquery_port, settings.bigquery_grpc_port]


def service_state(settings: Settings, name: str) -> ServiceState:
    info = _read_pidfile(settings, name)
    port = int(info["port"]) if info else _ports(settings, name)[0]
    running = bool(info) and _is_ours(info)
    ready = running and http_ok(_ready_url(settings, name, port))
    endpoint = {"pubsub": f"127.0.0.1:{port}", "collector": f"http://127.0.0.1:{port}/v1/events"}.get(
        name, f"http://127.0.0.1:{port}"
    )
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
    record = {
        "pid": process.pid,
        "pgid": process.pid,
        "port": _ports(settings, name)[0],
        "command": command,
        "started_at": time.time(),
        "identity": None,
    }
    # Until we reap it, our child's PID cannot be reused, so what runs under it is ours.
    started = identity(process.pid)
    if started is not None:
        # The start time now; the command line once ready (gcloud's wrapper script execs Python).
        record["identity"] = ProcessIdentity(started.boot_id, started.start_ticks).to_json()
    _write_pidfile(settings, name, record)
    try:
        _wait_ready(settings, name, _ports(settings, name)[0], process.pid)
        settled = identity(process.pid)
        if started is not None and settled is not None and settled.start_ticks == started.start_ticks:
            _write_pidfile(settings, name, {**record, "identity": settled.to_json()})
    except BaseException:
        # Stop our own child by its Popen handle: its PID cannot have been reused yet.
        stop_group(process.pid, process.pid)
        _pidfile(settings, name).unlink(missing_ok=True)
        raise
    return service_state(settings, name)


def _wait_ready(settings: Settings, name: str, port: int, pid: int | None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = _ready_url(settings, name, port)
    while time.monotonic() < deadline:
        if http_ok(url):
            return
        if pid is not None and not alive(pid):
            break
        time.sleep(0.25)
    tail = ""
    log = _log_path(settings, name)
    if log.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise StackError(f"{name} did not become ready on port {port}; last log lines ({log}):\n{tail}")


def stop_service(settings: Settings, name: str, timeout: float = 15.0) -> bool:
    """Stop the process group our pid file names; True when something was stopped.

    Only when the PID still names the process we started (or its group outlived it): a PID
    that now belongs to another process, or a record without an identity, is not signalled
    and the stale pid file goes."""
    info = _read_pidfile(settings, name)
    if not info:
        return False
    stopped = False
    if _is_ours(info) or _orphaned_group(info):
        stopped = stop_group(int(info["pgid"]), int(info["pid"]), timeout)
    _pidfile(settings, name).unlink(missing_ok=True)
    return stopped


def own_stack_settings(state_dir: Path) -> Settings:
    """Settings for a stack of one's own: ``state_dir`` and free ports. Endpoints from the
    environment are dropped: tests and benchmarks must not touch a stack they did not start."""
    settings = Settings.from_env(
        state_dir=state_dir,
        pubsub_port=free_port(),
        bigquery_port=free_port(),
        bigquery_grpc_port=free_port(),
        collector_port=free_port(),
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


def _stack_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One ``up`` or ``down`` at a time per state folder: two ``up`` racing would both see a
    service missing, both start it, and keep the pid file of the copy that lost the port."""
    return held(_run_dir(settings) / "stack.lock")


def up(settings: Settings) -> list[ServiceState]:
    """Start what is not running and provision; a concurrent ``up`` waits, then finds it running."""
    with _stack_lock(settings):
        try:
            install_bigquery_emulator(settings)
        except InstallError as exc:
            raise StackError(str(exc)) from exc
        states = [start_service(settings, name) for name in BACKENDS]
        provisioning.provision(settings.with_local_endpoints())
        states.append(start_service(settings, "collector"))
        return states


def down(settings: Settings) -> list[str]:
    with _stack_lock(settings):
        # The collector first: it publishes to the emulator.
        return [name for name in reversed(SERVICES) if stop_service(settings, name)]


def status(settings: Settings) -> list[ServiceState]:
    return [service_state(settings, name) for name in SERVICES]
