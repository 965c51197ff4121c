# The HTTP collector's image for Cloud Run (terraform/collector.tf). Build context: the
# repository root (dataflow/cloudbuild.yaml; `clickstream deploy` runs it). collector/Dockerfile,
# if present, belongs to the collector itself; this one is the deployed image.
FROM python:3.11-slim

WORKDIR /app
COPY dataflow/collector-requirements.txt ./
COPY pyproject.toml README.md LICENSE ./src/
COPY clickstream ./src/clickstream
COPY collector ./src/collector
COPY emitters ./src/emitters
COPY pipelines ./src/pipelines
COPY schemas ./src/schemas
COPY sql ./src/sql

# Pinned requirements first ([collector,tracing] and the command line's own, not Beam), then the
# project itself (its packages and the schemas/ it reads) without re-resolving dependencies.
RUN pip install --no-cache-dir -r collector-requirements.txt \
    && pip install --no-cache-dir --no-deps ./src \
    && rm -rf ./src \
    && useradd --system --uid 10001 --no-create-home collector

USER 10001
ENV PYTHONUNBUFFERED=1 PORT=8080
EXPOSE 8080

# checkov:skip=CKV_DOCKER_2: Cloud Run ignores HEALTHCHECK; its startup and liveness probes call /readyz and /healthz (terraform/collector.tf).
# Cloud Run passes the port in $PORT; exec so the server gets SIGTERM and drains.
CMD ["sh", "-c", "exec clickstream collector serve --host 0.0.0.0 --port \"${PORT}\""]
