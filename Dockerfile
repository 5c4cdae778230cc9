# Two images, two build targets:
#   api     regtune[server,s3]: `regtune api` (its default command, with a HEALTHCHECK on the
#           API's /healthz), `regtune migrate`, `regtune dashboard`; no torch
#   worker  regtune[all,s3]: `regtune worker` (its default command; no HEALTHCHECK: a worker
#           serves no port), and every other part; the default target
#
#   docker build --target api -t regtune-api .
#   docker build -t regtune .
#   docker build -t regtune --build-arg PIP_EXTRA_INDEX_URL=<PyTorch CPU wheel index> .
#
# Build arguments:
#   BASE_IMAGE           a Debian-based image with python3 (3.11) and its venv module
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_TRUSTED_HOST
#                        where pip looks; point one at PyTorch's CPU wheel index (or a folder of
#                        wheels served over HTTP) to get the CPU build of torch
#   EXTRA_CA_CERTS       PEM text of extra CA certificates pip must trust, e.g. a proxy's CA
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build: the server's dependencies in /opt/venv
FROM ${BASE_IMAGE} AS build

ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
ARG EXTRA_CA_CERTS=""
ARG TORCH_VERSION=2.13.0

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PIP_CERT=/opt/ca-bundle.pem \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# pip trusts its own CA bundle plus whatever EXTRA_CA_CERTS adds (build stage only).
RUN python3 -m venv /opt/venv \
    && cat "$(python -c 'from pip._vendor import certifi; print(certifi.where())')" > /opt/ca-bundle.pem \
    && printf '%s\n' "$EXTRA_CA_CERTS" >> /opt/ca-bundle.pem \
    && pip install --upgrade "pip>=24" "setuptools>=77"

# The project's dependencies, read from pyproject.toml alone: code changes do not invalidate them.
WORKDIR /src
COPY pyproject.toml LICENSE ./
RUN mkdir regtune && touch regtune/__init__.py \
    && pip install --no-build-isolation "/src[server,s3]" \
    && pip uninstall --yes regtune

# ---------------------------------------------------------------- build-worker: + torch and the trainers
FROM build AS build-worker

# a stage sees only the build arguments it declares itself
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
ARG TORCH_VERSION=2.13.0

# torch first and pinned: from a CPU index it is ~200 MB instead of a multi-GB CUDA build.
RUN pip install "torch==${TORCH_VERSION}" \
    && pip install --no-build-isolation "/src[all,s3]" \
    && pip uninstall --yes regtune

# ---------------------------------------------------------------- runtime: no compilers, no pip cache
FROM ${BASE_IMAGE} AS runtime

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# tini as PID 1 forwards SIGTERM, so a worker hands its trial back on `docker stop`.
# Error-Mode=any: an index that cannot be fetched fails the build instead of warning.
# hadolint ignore=DL3008
RUN apt-get update -o APT::Update::Error-Mode=any \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 regtune \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/regtune \
        --shell /usr/sbin/nologin regtune \
    && install -d -o regtune -g regtune /data /data/artifacts

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    REGTUNE_DATABASE_URL=sqlite:////data/regtune.db \
    REGTUNE_ARTIFACT_DIR=/data/artifacts

# The project itself (the same in both images): regtune/ holds the links to service/ and worker/.
COPY pyproject.toml LICENSE /tmp/regtune/
COPY regtune /tmp/regtune/regtune
COPY service /tmp/regtune/service
COPY worker /tmp/regtune/worker

WORKDIR /data

ENTRYPOINT ["tini", "--", "regtune"]

# ---------------------------------------------------------------- api: the API, dashboard and migrations
FROM runtime AS api
COPY --from=build /opt/venv /opt/venv
RUN pip install --no-cache-dir --disable-pip-version-check --no-build-isolation --no-deps /tmp/regtune \
    && rm -rf /tmp/regtune \
    && regtune --help >/dev/null \
    && ! python -c "import torch" 2>/dev/null
USER 10001:10001
EXPOSE 8000 8080
# The API's liveness; compose points it at the dashboard's port for the dashboard.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------- worker (default): every part, with torch
FROM runtime AS worker
COPY --from=build-worker /opt/venv /opt/venv
RUN pip install --no-cache-dir --disable-pip-version-check --no-build-isolation --no-deps /tmp/regtune \
    && rm -rf /tmp/regtune \
    && regtune --help >/dev/null
USER 10001:10001
# A worker serves no port: a probe of the API's would mark every worker container unhealthy.
HEALTHCHECK NONE
CMD ["worker"]
