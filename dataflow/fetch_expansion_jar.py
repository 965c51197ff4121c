"""Fetch, at image build time, the Java expansion service jar that Beam's Storage Write API sink
starts at job launch (a cross-language transform), into the cache Beam looks in first.

The Flex Template launcher runs on the job's network with private IPs only: it reaches Google
APIs (Private Google Access), not Maven Central, so the jar must already be in the image.

    python fetch_expansion_jar.py   # in dataflow/Dockerfile, after the requirements are installed
"""

from __future__ import annotations

import os

import apache_beam.io.gcp.bigquery as beam_bigquery
from apache_beam.utils.subprocess_server import JavaJarServer


def jar_url() -> str:
    """The jar the installed Beam's StorageWriteToBigQuery would start (its own default)."""
    return beam_bigquery.StorageWriteToBigQuery(table="project:dataset.table")._expansion_service.path_to_jar


def cached_path() -> str:
    return os.path.join(JavaJarServer.JAR_CACHE, os.path.basename(jar_url()))


if __name__ == "__main__":
    path = JavaJarServer.local_jar(jar_url())
    if path != cached_path() or not os.path.getsize(path):
        raise SystemExit(f"the expansion jar is not in Beam's cache: {path}")
    print(path)
