#!/usr/bin/env bash
# Create (or refresh) ./.venv with a Python >= 3.12 found on this machine, and install the project.
# Usage: scripts/bootstrap.sh [extra]   (extra: "test" installs the test dependencies too)
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"

python_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }

find_python() {
  local candidate
  if [ -n "${ODUM_PYTHON:-}" ] && python_ok "$ODUM_PYTHON"; then echo "$ODUM_PYTHON"; return; fi
  for candidate in python3.13 python3.12 python3; do
    if command -v "$candidate" >/dev/null && python_ok "$(command -v "$candidate")"; then
      command -v "$candidate"; return
    fi
  done
  # pyenv's interpreters, newest first, whether or not pyenv is on PATH.
  local roots=()
  command -v pyenv >/dev/null && roots+=("$(pyenv root)")
  roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
  for root in "${roots[@]}"; do
    for candidate in $(ls -d "$root"/versions/3.1[2-9]* 2>/dev/null | sort -rV); do
      if python_ok "$candidate/bin/python3"; then echo "$candidate/bin/python3"; return; fi
    done
  done
  return 1
}

if [ -x .venv/bin/python ] && python_ok .venv/bin/python; then
  :
else
  if ! python="$(find_python)"; then
    echo "error: odum-pipeline needs Python >= 3.12 (nautilus_trader 1.231); none found on PATH or under pyenv." >&2
    echo "       Install one (e.g. 'pyenv install 3.12') or set ODUM_PYTHON=/path/to/python3.12." >&2
    exit 1
  fi
  echo "creating .venv with $python ($("$python" --version))"
  rm -rf .venv
  "$python" -m venv .venv
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
spec="."
[ -n "$extra" ] && spec=".[$extra]"
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install --quiet -e "$spec" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import nautilus_trader, dagster, dagster_gcp, odum_pipeline" \
  || { echo "error: installation into .venv failed (see pip output above)" >&2; exit 1; }
