# One image for the Dagster code location, webserver and daemon.
FROM python:3.12-slim

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    UNIFIED_CLOUD_LOCAL_PATH=/data/raw \
    DATA_CATALOG_PATH=/data/catalog \
    BACKTEST_RESULTS_PATH=/data/backtest_results

WORKDIR /opt/odum
COPY pyproject.toml README.md dagster.yaml workspace.yaml ./
COPY odum_pipeline ./odum_pipeline
COPY configs ./configs
COPY algorithms ./algorithms
COPY scripts ./scripts

# The same install steps as scripts/bootstrap.sh (a venv in ./.venv, project with pinned deps).
RUN ODUM_PYTHON=/usr/local/bin/python3 scripts/bootstrap.sh \
    && mkdir -p "$DAGSTER_HOME" /data/raw /data/catalog /data/backtest_results \
    && cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"
ENV PATH=/opt/odum/.venv/bin:$PATH

EXPOSE 3000 4000
# Code location server by default; the webserver and daemon use the same image:
#   dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml
#   dagster-daemon run -w workspace.yaml
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "odum_pipeline.definitions"]
