"""The built wheel, installed without extras, is the emitter library and nothing more.

Builds the wheel from this checkout, installs it into a fresh venv (dependencies from the
package index), checks that Beam is not there and the contract is, and publishes one
event from that venv to a schema-enforced topic on a Pub/Sub emulator this test starts.
The venv's code runs with ``-I`` from a folder outside the checkout, so it cannot import
the checkout by accident.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from clickstream.app import provisioning
from clickstream.app.local import services
from clickstream.core import contract
from clickstream.core.config import Settings
from tests.support.events import pull_all

# One worker builds the wheel and the venv once for the whole module under `pytest -n --dist loadgroup`.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("wheel")]

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path
    site_packages: Path
    workdir: Path  # cwd for commands: outside the checkout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would point the venv at the checkout or at a stack."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "CLICKSTREAM_", "PIP_REQUIRE_VIRTUALENV"))
        and k not in ("PUBSUB_EMULATOR_HOST", "VIRTUAL_ENV", "XDG_STATE_HOME")
    }
    env.update(extra)
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env or _clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{output}"
    return result.stdout


def _in_venv(venv: Venv, snippet: str, timeout: float = 120, **env: str) -> dict:
    """Run ``snippet`` with the venv's interpreter, isolated from the checkout; it prints one JSON line."""
    out = _run([venv.python, "-I", "-c", textwrap.dedent(snippet)], venv.workdir, timeout, _clean_env(**env))
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the wheel installed without extras."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel_dir = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheel_dir, "."], REPO, INSTALL_TIMEOUT_S)
    (wheel,) = wheel_dir.glob("clickstream-*.whl")
    root = tmp / "venv"
    _run([sys.executable, "-m", "venv", root], tmp, 300)
    python = root / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel], tmp, INSTALL_TIMEOUT_S)
    workdir = tmp / "work"
    workdir.mkdir()
    site_packages = Path(
        _run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], workdir, 60).strip()
    )
    return Venv(root, python, site_packages, workdir)


def _state_leftovers(site_packages: Path) -> list[Path]:
    """Anything under site-packages that looks like runtime state rather than installed code."""
    return [
        p
        for p in site_packages.rglob("*")
        if p.name == ".clickstream" or p.suffix in (".sqlite", ".sqlite-journal", ".sqlite-wal", ".log")
    ]


def test_base_install_is_the_emitter_library_only(base_venv: Venv) -> None:
    absent = subprocess.run(
        [base_venv.python, "-m", "pip", "show", "apache-beam"],
        cwd=base_venv.workdir,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert absent.returncode != 0, f"apache-beam is installed by a plain install:\n{absent.stdout}"
    found = _in_venv(
        base_venv,
        """
        import importlib.util, json
        import clickstream, emitters, emitters.publisher, emitters.simulator, emitters.traffic
        from clickstream.core import config, contract, paths, pubsub_clients
        print(json.dumps({
            "package": clickstream.__file__,
            "revisions": list(contract.revisions()),
            "schemas": str(paths.schemas_dir()),
            "sql": str(paths.sql_dir()),
            "beam": importlib.util.find_spec("apache_beam") is not None,
            "bigquery": importlib.util.find_spec("google.cloud.bigquery") is not None,
            "typer": importlib.util.find_spec("typer") is not None,
        }))
        """,
    )
    assert Path(found["package"]).is_relative_to(base_venv.site_packages)
    assert found["revisions"] == list(contract.revisions())
    assert Path(found["schemas"]) == base_venv.site_packages / "clickstream" / "_schemas"
    assert Path(found["sql"]) == base_venv.site_packages / "clickstream" / "_sql"
    assert sorted(p.name for p in Path(found["sql"]).rglob("*.sql")) == sorted(
        p.name for p in (REPO / "sql").rglob("*.sql")
    )
    assert not (found["beam"] or found["bigquery"] or found["typer"]), found
    # The browser tracker (and its node_modules) is an npm package, not part of the Python wheel.
    assert not (base_venv.site_packages / "emitters" / "web").exists()
    # The console script comes with the plain install: it names the extra instead of a traceback.
    script = subprocess.run(
        [str(Path(base_venv.python).parent / "clickstream"), "--help"],
        cwd=base_venv.workdir,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 1 and "Traceback" not in script.stderr, script.stderr
    assert "pip install 'clickstream[cli]'" in script.stderr


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Settings]:
    """A Pub/Sub emulator of this test's own (stopped by PID), with a schema-enforced topic."""
    settings = services.own_stack_settings(tmp_path / "stack")
    try:
        services.start_service(settings, "pubsub")
    except services.StackError as exc:
        pytest.fail(f"Pub/Sub emulator did not start: {exc}", pytrace=False)
    try:
        local = replace(settings.with_local_endpoints(), bigquery_endpoint=None).isolated("wheel", own_dataset=False)
        provisioning.ensure_schema(local)
        provisioning.ensure_topics_and_subscriptions(local)
        yield local
    finally:
        services.stop_service(settings, "pubsub")


def test_base_install_publishes_to_a_schema_enforced_topic(base_venv: Venv, emulator: Settings, tmp_path: Path) -> None:
    state_dir = tmp_path / "client-state"
    home = tmp_path / "home"
    home.mkdir()
    sent = _in_venv(
        base_venv,
        """
        import json
        from clickstream.core.config import Settings
        from emitters import ClientInfo, EventPublisher, PublisherConfig, video_paused

        settings = Settings.from_env()
        config = PublisherConfig.from_settings(settings)
        client = ClientInfo(platform="web", app_version="6.1.0", user_agent="Mozilla/5.0 (X11; Linux x86_64)")
        event = video_paused(
            user_id="u-wheel",
            device_id="d-wheel",
            client=client,
            video_id="vid-000042",
            position_ms=61_000,
            video_duration_ms=300_000,
        )
        with EventPublisher(config) as publisher:
            publisher.publish(event)
            report = publisher.flush(timeout=60)
        print(json.dumps({
            "event_id": event.event_id,
            "delivered": report.delivered,
            "rejected": report.rejected,
            "spool_depth": report.spool_depth,
            "spool_path": str(config.spool_path),
        }))
        """,
        timeout=180,
        PUBSUB_EMULATOR_HOST=emulator.pubsub_emulator_host or "",
        CLICKSTREAM_PROJECT=emulator.project,
        CLICKSTREAM_TOPIC=emulator.topic,
        CLICKSTREAM_STATE_DIR=str(state_dir),
        HOME=str(home),
    )
    assert sent["delivered"] == 1 and sent["rejected"] == 0 and sent["spool_depth"] == 0, sent

    (message,) = pull_all(emulator, expect=1, timeout_s=60)
    attributes = dict(message.message.attributes)
    assert attributes["event_id"] == sent["event_id"]
    # The topic checked the bytes against its Avro schema.
    assert attributes["googclient_schemaencoding"] == "BINARY"
    assert contract.decode(message.message.data, attributes["schema_version"])["event_id"] == sent["event_id"]

    # The venv's state went to CLICKSTREAM_STATE_DIR, nowhere near the installed code.
    assert Path(sent["spool_path"]).is_relative_to(state_dir) and Path(sent["spool_path"]).exists()
    assert _state_leftovers(base_venv.site_packages) == []


def test_installed_package_keeps_default_state_in_a_user_folder(base_venv: Venv, tmp_path: Path) -> None:
    """Without CLICKSTREAM_STATE_DIR an installed package uses the XDG state folder, never site-packages."""
    home = tmp_path / "home"
    home.mkdir()
    snippet = """
        import json
        from clickstream.core.config import Settings
        from clickstream.core.paths import default_state_dir
        settings = Settings.from_env()
        print(json.dumps({
            "default": str(default_state_dir()),
            "state_dir": str(settings.state_dir),
            "tools_dir": str(settings.tools_dir),
        }))
        """
    plain = _in_venv(base_venv, snippet, HOME=str(home))
    xdg = _in_venv(base_venv, snippet, HOME=str(home), XDG_STATE_HOME=str(tmp_path / "xdg"))

    assert Path(plain["default"]) == home / ".local" / "state" / "clickstream"
    assert Path(xdg["default"]) == tmp_path / "xdg" / "clickstream"
    for found, expected in ((plain, Path(plain["default"])), (xdg, Path(xdg["default"]))):
        assert Path(found["state_dir"]).is_relative_to(expected), found
        assert Path(found["tools_dir"]).is_relative_to(expected), found
        assert not Path(found["state_dir"]).is_relative_to(base_venv.root), found
    assert _state_leftovers(base_venv.site_packages) == []
