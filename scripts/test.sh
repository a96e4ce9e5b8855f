#!/usr/bin/env bash
# Runs the whole test suite in the project venv. pytest's exit code 5 ("no tests
# collected") is a failure here: an empty selection must never pass silently.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

"$BIN/python" -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: treating this as a failure" >&2
  exit 1
fi
exit "$rc"
