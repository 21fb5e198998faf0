# syntax=docker/dockerfile:1
# support-kpi: one image for every subcommand (worker, simulate, report, replay, produce, import).
#
#   docker build -t support-kpi .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 -p 127.0.0.1:8001:8000 support-kpi
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=kafka:9092 support-kpi simulate --rate 20
#
# deploy/compose.yaml runs Kafka, two workers, the simulator, Prometheus, Alertmanager and Grafana
# from this image; deploy/k8s/ holds the Kubernetes manifests.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install the package and its dependencies into a virtualenv ----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every dependency (rocksdict included) ships manylinux wheels for CPython 3.11: no compiler.
COPY pyproject.toml README.md ./
COPY schemas/ schemas/
COPY service/ service/
RUN pip install --no-cache-dir ".[rocksdb]"

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/venv /opt/venv

# A fixed numeric uid/gid so Kubernetes can check runAsNonRoot; /data belongs to it so a fresh
# named volume (compose) or a volume with fsGroup 10001 (Kubernetes) is writable.
RUN groupadd --system --gid 10001 support-kpi \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin support-kpi \
    && mkdir -p /data \
    && chown 10001:10001 /data
WORKDIR /data

# Inside a container the worker must listen on all interfaces (0.0.0.0): the default 127.0.0.1
# is the container's own loopback, unreachable for other containers, published ports and
# Kubernetes probes. Publish the port on the host bound to 127.0.0.1 (see deploy/compose.yaml);
# /kpis and /metrics hold per-agent data, set SUPPORT_KPI_TOKEN when they are reachable beyond.
ENV SUPPORT_KPI_HTTP_HOST=0.0.0.0 \
    SUPPORT_KPI_HTTP_PORT=8000 \
    SUPPORT_KPI_DATA_DIR=/data

USER 10001:10001
EXPOSE 8000

# No curl in slim images: python's urllib. /healthz stays open when SUPPORT_KPI_TOKEN is set.
# The port is fixed at 8000 here; change both if SUPPORT_KPI_HTTP_PORT is changed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["support-kpi"]
CMD ["worker"]
