"""Where the project's data files and its local state live, for a source checkout and for a built wheel."""

from __future__ import annotations

import os
from pathlib import Path

# clickstream/core/paths.py -> clickstream/ (where a wheel carries _schemas and _sql) -> the checkout.
_PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = _PACKAGE_DIR.parent


def schemas_dir() -> Path:
    """The single home of the event and table schemas.

    A source checkout (and an editable install) reads ``<repo>/schemas``; a built
    wheel carries a copy as ``clickstream/_schemas``. ``CLICKSTREAM_SCHEMAS_DIR``
    overrides both, for images that lay files out differently.
    """
    override = os.environ.get("CLICKSTREAM_SCHEMAS_DIR")
    if override:
        return Path(override)
    for candidate in (_PACKAGE_DIR / "_schemas", REPO_ROOT / "schemas"):
        if (candidate / "avro").is_dir():
            return candidate
    raise FileNotFoundError("schemas/ not found next to the clickstream package; set CLICKSTREAM_SCHEMAS_DIR")


def sql_dir() -> Path:
    """The warehouse SQL (views, signal job); a built wheel carries a copy as ``clickstream/_sql``."""
    override = os.environ.get("CLICKSTREAM_SQL_DIR")
    if override:
        return Path(override)
    for candidate in (_PACKAGE_DIR / "_sql", REPO_ROOT / "sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("sql/ not found next to the clickstream package; set CLICKSTREAM_SQL_DIR")


def _installed() -> bool:
    """True when this package was installed (site-packages / dist-packages), not run from a checkout."""
    return any(part in ("site-packages", "dist-packages") for part in _PACKAGE_DIR.parts)


def default_state_dir() -> Path:
    """Where local state (spool, pid files, logs, tools) lives when ``CLICKSTREAM_STATE_DIR`` is not set.

    A source checkout (or an editable install of one) keeps it in ``<repo>/.clickstream``.
    An installed package never writes next to its code: it uses ``$XDG_STATE_HOME/clickstream``,
    else ``~/.local/state/clickstream`` (the XDG default). ``CLICKSTREAM_STATE_DIR`` itself is
    read by ``Settings.from_env``.
    """
    if not _installed() and (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / ".clickstream"
    xdg = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "clickstream"
