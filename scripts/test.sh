#!/usr/bin/env bash
# Set up and run the test suite. Extra arguments go to pytest, e.g. scripts/test.sh -m "not slow".
# The test files are spread over a worker per core (pytest-xdist); "-n 0" runs them in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
exec .venv/bin/python -m pytest --numprocesses auto --dist loadfile "$@"
