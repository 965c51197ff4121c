"""Where the project's data files live, for a source checkout and for a built wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
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
