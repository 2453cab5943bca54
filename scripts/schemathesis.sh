#!/usr/bin/env bash
# Property-based API tests: schemathesis runs every check, in every phase (examples, coverage,
# fuzzing, stateful), against a live `mlm serve` on the local backend: loopback only, a fresh
# data directory, authentication on. Exits non-zero on any failure.
#
#   MLM_TEST_PYTHON=.venv/bin/python scripts/schemathesis.sh [SCHEMATHESIS OPTIONS]
#
# Extra options go to `schemathesis run`, e.g. `--include-path-regex events` to check only
# the routes you changed (the test command runs them all).
# MLM_TEST_PYTHON: a Python with mlm-http/requirements-test.txt installed (default
# .venv/bin/python, the test command's venv). mlm-http/schemathesis.toml holds the
# configuration and explains each setting. The run is reproducible (fixed seed, no example
# database, no cache) and every step is bounded in time; it takes about a minute on a 2-core
# machine once `mlm` is built.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${MLM_TEST_PYTHON:-.venv/bin/python}
SEED=${MLM_SCHEMATHESIS_SEED:-20250101}
# Test cases per operation in each generating phase: bounds the run's length.
MAX_EXAMPLES=${MLM_SCHEMATHESIS_MAX_EXAMPLES:-100}
# Hard limits, in seconds.
BUILD_TIMEOUT=1200  # building mlm from scratch
READY_TIMEOUT=30    # the server answering /readyz
SETUP_TIMEOUT=60    # creating the example resources
RUN_TIMEOUT=240     # the schemathesis run (it takes well under a minute)
STOP_TIMEOUT=20     # the server's graceful shutdown, before everything it started is killed

[ -x "$PY" ] || {
  echo "error: no Python at $PY: set MLM_TEST_PYTHON to one with mlm-http/requirements-test.txt installed" >&2
  exit 1
}
"$PY" -c 'import schemathesis' 2>/dev/null || {
  echo "error: schemathesis is not installed in $PY: pip install -r mlm-http/requirements-test.txt" >&2
  exit 1
}

echo "==> building mlm"
timeout "$BUILD_TIMEOUT" cargo build -p mlm-cli --bin mlm --locked

# shellcheck source=lib/live-server.sh
. scripts/lib/live-server.sh

# Authentication on, with an operator token made for this run (mlm-http/schemathesis.toml
# hands it to schemathesis), so the auth checks have something to check.
MLM_SCHEMATHESIS_TOKEN=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
export MLM_SCHEMATHESIS_TOKEN

start_live_server "$MLM_SCHEMATHESIS_TOKEN"

# Test data: the resources the spec's examples name (model `news-classifier`, its version 1,
# endpoint `news` serving it, InService), so operations on existing resources get past 404.
echo "==> creating the example resources"
timeout "$SETUP_TIMEOUT" "$PY" - "$base" <<'PY'
import json, os, sys, time, urllib.request

base = sys.argv[1]
token = os.environ["MLM_SCHEMATHESIS_TOKEN"]

def call(method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)

call("POST", "/v1/models", {"name": "news-classifier"})
call("POST", "/v1/models/news-classifier/versions",
     {"artifact_uri": "examples/agnews-classifier/model", "image": "agnews-classifier"})
call("POST", "/v1/endpoints", {"name": "news", "variants": [{
    "name": "primary", "instance_type": "ml.m5.large",
    "model_version": {"model": "news-classifier", "version": 1}}]})
deadline = time.monotonic() + 45
while (status := call("GET", "/v1/endpoints/news")["status"]) != "InService":
    if status == "Failed" or time.monotonic() > deadline:
        sys.exit(f"endpoint news is {status}, not InService")
    time.sleep(0.2)
PY

# `python -m schemathesis` has no __main__ module in 4.x; the CLI is schemathesis.cli.
# One worker: hypothesis parses lambda sources with `ast`, which CPython 3.11 can break when
# two threads do it at once ("AST constructor recursion depth mismatch").
echo "==> schemathesis (seed $SEED, at most $MAX_EXAMPLES test cases per operation and phase)"
timeout --kill-after=10 "$RUN_TIMEOUT" "$PY" -m schemathesis.cli \
  --config-file mlm-http/schemathesis.toml \
  run "$base/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --seed "$SEED" \
  --max-examples "$MAX_EXAMPLES" \
  --generation-database none \
  --request-timeout 10 \
  --workers 1 \
  --no-color \
  "$@"
