#!/usr/bin/env bash
# Set up and run the main job on the embedded defaults: synthetic sample data, local files,
# a persistent SQLite Dagster instance under ./var/dagster_home. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/var/dagster_home}"
exec .venv/bin/odum main "$@"
