# syntax=docker/dockerfile:1
#
# mlpilot: one image for every component (gateway, API, monitor, rollout jobs, CLI).
#
#   docker build -t mlpilot:0.1.0 .
#   docker build --build-arg EXTRAS=postgres,onnx -t mlpilot:0.1.0-onnx .
#   docker run --rm -p 8081:8081 -v mlpilot:/var/lib/mlpilot mlpilot:0.1.0
#
# Two stages: "build" installs the package and its dependencies into a virtual
# environment (pip, wheels, caches stay behind); "runtime" copies only that
# environment onto a fresh slim Python and runs as an unprivileged user.
# The command is `mlpilot`; the default arguments serve the gateway. Every setting
# is an MLPILOT_* environment variable (see docs/deploy.md).

ARG PYTHON_VERSION=3.12

# ---------------------------------------------------------------------------- build
FROM python:${PYTHON_VERSION}-slim-bookworm AS build

# Optional extras to install beside the core: postgres (psycopg 3), onnx, ray.
ARG EXTRAS=postgres

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/mlpilot

WORKDIR /src
# Metadata first, so the dependency layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/mlpilot/bin/pip install --upgrade "pip>=24" \
    && /opt/mlpilot/bin/pip install ".[${EXTRAS}]" \
    && /opt/mlpilot/bin/python -m compileall -q /opt/mlpilot/lib \
    && /opt/mlpilot/bin/mlpilot --version

# -------------------------------------------------------------------------- runtime
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="mlpilot" \
      org.opencontainers.image.description="An open-source autopilot for machine-learning models in production." \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, unprivileged uid/gid (matches runAsUser in deploy/kubernetes).
RUN groupadd --system --gid 10001 mlpilot \
    && useradd --system --uid 10001 --gid mlpilot --home-dir /var/lib/mlpilot \
       --shell /usr/sbin/nologin mlpilot \
    && mkdir -p /var/lib/mlpilot \
    && chown mlpilot:mlpilot /var/lib/mlpilot \
    && chmod 0700 /var/lib/mlpilot

COPY --from=build /opt/mlpilot /opt/mlpilot

ENV PATH=/opt/mlpilot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MLPILOT_HOME=/var/lib/mlpilot \
    MLPILOT_HEALTH_URL=http://127.0.0.1:8081/v2/health/live

USER 10001:10001
WORKDIR /var/lib/mlpilot
VOLUME ["/var/lib/mlpilot"]

# 8081: gateway (`mlpilot serve`), 8080: control-plane API (`mlpilot api`).
EXPOSE 8081 8080

# No curl in a slim image: ask Python. For the API set
# MLPILOT_HEALTH_URL=http://127.0.0.1:8080/api/v1/health. (Kubernetes ignores
# HEALTHCHECK and uses the probes in deploy/kubernetes instead.)
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['MLPILOT_HEALTH_URL'], timeout=4)"]

ENTRYPOINT ["mlpilot"]
# The gateway is unauthenticated: publish this port only behind an authenticating proxy.
CMD ["serve", "--host", "0.0.0.0", "--port", "8081"]
