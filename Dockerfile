# leadflow: the worker, the simulator, the lag exporter and every other `leadflow` command in one image.
#   docker build -t leadflow .            docker run --rm leadflow --help
# leadflow-native (native/, Rust) is built into a wheel in a stage of its own; the image carries no Rust toolchain.
FROM rust:1.95-slim-bookworm AS native
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /build && /build/bin/pip install --no-cache-dir maturin==1.16.0
COPY native /native
RUN /build/bin/maturin build --release --locked --manifest-path /native/Cargo.toml --interpreter python3 --out /wheels

FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system leadflow && useradd --system --gid leadflow --home-dir /app leadflow

WORKDIR /app
# Dependencies first (pinned in pyproject.toml), so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY pipelines ./pipelines
COPY services ./services
COPY dashboards ./dashboards
COPY --from=native /wheels /wheels
RUN pip install /wheels/*.whl . && rm -rf /wheels && mkdir -p /var/lib/leadflow && chown leadflow:leadflow /var/lib/leadflow
COPY agreements ./agreements

USER leadflow
ENV LEADFLOW_AGREEMENTS=/app/agreements \
    LEADFLOW_STATE_DIR=/var/lib/leadflow/faust \
    LEADFLOW_STORE=chdb:/var/lib/leadflow/chdb \
    LEADFLOW_WEB_HOST=0.0.0.0 \
    LEADFLOW_WEB_PORT=6066
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/metrics', timeout=4)"]
ENTRYPOINT ["leadflow"]
CMD ["worker"]
