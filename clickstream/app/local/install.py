"""Installing the BigQuery stand-in (bqemulator) into a venv of its own.

Its dependency set clashes with pytest's plugin loading in the main venv, so it lives in
``Settings.tools_dir``; its DuckDB spatial extension is copied into a private HOME so it
never tries to download it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from clickstream.core.config import Settings

BQEMULATOR_REQUIREMENTS = (
    "bqemulator==1.4.0",
    "duckdb==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "numpy>=1.26,<3",
)
_DUCKDB_VERSION = "v1.5.5"


class InstallError(RuntimeError):
    """The stand-in could not be installed; the message carries pip's error."""


def bigquery_emulator_python(settings: Settings) -> Path:
    return settings.tools_dir / "bqemulator-venv" / "bin" / "python"


def bigquery_emulator_home(settings: Settings) -> Path:
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
        raise InstallError(
            "installing the BigQuery stand-in failed (pip needs PyPI):\n" + (result.stderr or "")[-2000:]
        )
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
    target = bigquery_emulator_home(settings) / ".duckdb" / "extensions" / _DUCKDB_VERSION / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(extension, target / extension.name)
    marker.write_text(wanted)
    return bigquery_emulator_python(settings)
