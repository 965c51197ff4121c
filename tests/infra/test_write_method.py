"""On Dataflow the pipeline writes with the BigQuery Storage Write API (issue 13): rows it writes
can be deleted at once, so an erasure request is done in one run (insertAll's streaming buffer
refuses DML for up to 90 minutes), and it writes exactly once. Beam's Python SDK runs that sink
through Java (a cross-language transform): the launcher must be able to start the expansion
service offline, so the image carries a Java runtime and the expansion jar."""

from __future__ import annotations

import importlib.util
import re

import apache_beam.io.gcp.bigquery as beam_bigquery
from apache_beam.utils.subprocess_server import JavaJarServer

from clickstream.core.paths import REPO_ROOT
from tests.support import infra_checks as checks

DOCKERFILE = (REPO_ROOT / "dataflow" / "Dockerfile").read_text()


def _fetch_script():
    path = REPO_ROOT / "dataflow" / "fetch_expansion_jar.py"
    spec = importlib.util.spec_from_file_location("fetch_expansion_jar", path)
    assert spec and spec.loader, f"no {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dataflow_job_writes_with_the_storage_write_api_by_default() -> None:
    parameters = checks.load_hcl(REPO_ROOT)["locals"]["deployment_parameters"]
    assert parameters.get("write_method") == "STORAGE_WRITE_API"


def test_the_image_has_a_java_runtime_on_its_path() -> None:
    assert re.search(r"^COPY --from=eclipse-temurin:\S+-jre\S* /opt/java/openjdk /opt/java/openjdk$", DOCKERFILE, re.M)
    assert re.search(r"^ENV JAVA_HOME=/opt/java/openjdk", DOCKERFILE, re.M)
    assert 'PATH="/opt/java/openjdk/bin:${PATH}"' in DOCKERFILE


def test_the_image_caches_the_jar_beam_starts_for_the_storage_write_api() -> None:
    """The jar the launcher would otherwise download from Maven Central (which private IPs do not
    reach) is fetched at build time into the cache Beam looks in."""
    assert "python fetch_expansion_jar.py" in DOCKERFILE
    assert "dataflow/fetch_expansion_jar.py" in DOCKERFILE
    script = _fetch_script()
    expected = beam_bigquery.StorageWriteToBigQuery(table="p:d.t")._expansion_service.path_to_jar
    assert script.jar_url() == expected
    assert script.cached_path().startswith(JavaJarServer.JAR_CACHE)
