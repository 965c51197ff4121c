"""The browser tracker's own unit tests (``node --test`` in emitters/web), run by ``make test``.

The JavaScript tests use fakes of the browser's globals (clock, storage, fetch, sendBeacon)
injected through the tracker's options; the real browser runs in tests/web/test_tracker_browser.py.
``make setup`` installs the tracker's dev dependencies (esbuild, for the size budget) with
``npm ci --prefix emitters/web``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from clickstream.core import contract
from clickstream.core.paths import REPO_ROOT
from collector.config import CollectorConfig

WEB = REPO_ROOT / "emitters" / "web"


def _node_modules_or_fail() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the browser tracker's tests need Node 20+", pytrace=False)
    if not (WEB / "node_modules" / "esbuild").is_dir():
        pytest.fail("emitters/web/node_modules is missing: run `npm ci --prefix emitters/web`", pytrace=False)


def test_node_unit_tests_of_the_tracker_pass(record_property: pytest.RecordProperty) -> None:
    _node_modules_or_fail()
    files = sorted(str(p.relative_to(WEB)) for p in (WEB / "test").glob("*.test.js"))
    assert files, "no emitters/web/test/*.test.js"
    result = subprocess.run(
        ["node", "--test", *files], cwd=WEB, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, f"node --test failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    passed = int(re.search(r"^# pass (\d+)", result.stdout, flags=re.MULTILINE).group(1))
    assert passed >= len(files)
    size = re.search(r"tracker bundle: (\d+) bytes minified, (\d+) bytes gzipped", result.stdout)
    assert size, "the size test did not report the bundle size"
    record_property("figure", f"{passed} node tests; tracker {size.group(1)} B minified, {size.group(2)} B gzipped")


def test_the_tracker_writes_the_python_contracts_current_revision() -> None:
    # The node tests check src/contract.js against schemas/avro; this ties it to the Python side's reading.
    text = (WEB / "src" / "contract.js").read_text()
    assert f'export const SCHEMA_VERSION = "{contract.current_version()}";' in text


def test_the_trackers_limits_are_the_collectors_defaults() -> None:
    # src/contract.js carries the collector's limits, generated from collector/config.py's text; this
    # ties that reading to the defaults Python actually builds, so the two cannot drift apart.
    text = (WEB / "src" / "contract.js").read_text()
    defaults = CollectorConfig()
    for name in ("max_event_bytes", "max_request_bytes", "max_events"):
        found = re.search(rf"^export const {name.upper()} = (\d+);$", text, flags=re.MULTILINE)
        assert found, f"src/contract.js has no {name.upper()}: run `npm run generate --prefix emitters/web`"
        assert int(found.group(1)) == getattr(defaults, name), name


def test_make_setup_installs_the_trackers_node_modules_once() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^\t.*npm ci --prefix emitters/web", makefile, flags=re.MULTILINE), "no npm ci step in setup"
    # Guarded: it runs when node_modules is missing or older than the lock file, not on every make.
    assert re.search(r"emitters/web/node_modules.*: emitters/web/package-lock\.json", makefile)


def test_node_modules_is_git_ignored() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "emitters/web/node_modules/esbuild/package.json"], cwd=REPO_ROOT
    )
    assert ignored.returncode == 0
    assert Path(REPO_ROOT / "emitters" / "web" / "package-lock.json").is_file()


def test_the_docs_quote_the_measured_bundle_size(tmp_path: Path) -> None:
    _node_modules_or_fail()
    result = subprocess.run(
        ["node", "scripts/build.js", "--out", str(tmp_path)], cwd=WEB, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    minified, gzipped = re.search(r"(\d+) bytes minified, (\d+) bytes gzipped", result.stdout).groups()
    docs = (REPO_ROOT / "docs" / "web-tracker.md").read_text()
    assert f"**Size: {gzipped} bytes minified and gzipped** ({minified} bytes minified" in docs, (
        f"docs/web-tracker.md should quote {gzipped} B gzipped, {minified} B minified"
    )
