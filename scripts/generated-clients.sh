#!/usr/bin/env bash
# Clients generated from the checked-in docs/openapi.json, used as a UI team and a Python team
# would: a Python client (openapi-python-client) type-checked with `mypy --strict`, and
# TypeScript types (openapi-typescript) with openapi-fetch type-checked with `tsc --strict`.
# Each runs testing/generated-clients/flow.{py,ts} (create, deploy, invoke, scale, delete)
# against a live `mlm serve` on the local backend: loopback only, a fresh data directory,
# authentication on. Exits non-zero on any failure; a missing tool is a failure too.
#
#   MLM_TEST_PYTHON=.venv/bin/python scripts/generated-clients.sh
#
# MLM_TEST_PYTHON: a Python with mlm-http/requirements-test.txt and mypy installed (default
# .venv/bin/python, the test command's venv). Node 20+ and npm are needed; the npm packages
# are pinned in testing/generated-clients/package-lock.json and installed there with `npm ci`.
# Every step is bounded in time; the run takes about a minute and a half on a 2-core machine
# once `mlm` is built.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${MLM_TEST_PYTHON:-.venv/bin/python}
CLIENTS=testing/generated-clients
# Hard limits, in seconds.
BUILD_TIMEOUT=1200  # building mlm from scratch
INSTALL_TIMEOUT=300 # npm ci
GEN_TIMEOUT=120     # generating a client
CHECK_TIMEOUT=300   # a type check
READY_TIMEOUT=30    # the server answering /readyz
FLOW_TIMEOUT=240    # one flow against the server (its polls give up after 60 s each)
STOP_TIMEOUT=20     # the server's graceful shutdown, before everything it started is killed

fail() { echo "error: $*" >&2; exit 1; }

[ -x "$PY" ] ||
  fail "no Python at $PY: set MLM_TEST_PYTHON to one with requirements-test.txt installed"
for module in openapi_python_client mypy httpx attrs dateutil; do
  "$PY" -c "import $module" 2>/dev/null ||
    fail "$module is not installed in $PY: pip install -r requirements-test.txt"
done
command -v node >/dev/null 2>&1 || fail "node is required (Node.js 20 or newer)"
command -v npm >/dev/null 2>&1 || fail "npm is required (it comes with Node.js)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  fail "Node.js 20 or newer is required, not $(node --version)"
# Absolute, as the flows run in their own directories. The generator formats its output with
# ruff, which it looks for on PATH.
PY_BIN=$(cd "$(dirname "$PY")" && pwd)
PY="$PY_BIN/$(basename "$PY")"
export PATH="$PY_BIN:$PATH"

echo "==> building mlm"
timeout "$BUILD_TIMEOUT" cargo build -p mlm-cli --bin mlm --locked

# shellcheck source=lib/live-server.sh
. scripts/lib/live-server.sh

echo "==> Python client (openapi-python-client), mypy --strict"
timeout "$GEN_TIMEOUT" "$PY_BIN/openapi-python-client" generate --path docs/openapi.json \
  --meta none --output-path "$work/python/mlm_client" >"$work/python-gen.log" 2>&1 || {
  cat "$work/python-gen.log" >&2
  fail "openapi-python-client could not generate a client from docs/openapi.json"
}
cp "$CLIENTS/flow.py" "$CLIENTS/mypy.ini" "$work/python/"
# The generated package is checked too: the flow imports it (mypy.ini says what is exempt).
(cd "$work/python" && timeout "$CHECK_TIMEOUT" "$PY" -m mypy --strict --config-file mypy.ini \
  --no-incremental --cache-dir "$work/mypy-cache" flow.py)

echo "==> TypeScript client (openapi-typescript + openapi-fetch), tsc --strict"
(cd "$CLIENTS" && timeout "$INSTALL_TIMEOUT" npm ci --ignore-scripts --no-audit --no-fund \
  --loglevel=error)
mkdir -p "$work/ts"
timeout "$GEN_TIMEOUT" "$CLIENTS/node_modules/.bin/openapi-typescript" docs/openapi.json \
  -o "$work/ts/api.d.ts" >"$work/ts-gen.log" 2>&1 || {
  cat "$work/ts-gen.log" >&2
  fail "openapi-typescript could not generate types from docs/openapi.json"
}
cp "$CLIENTS/flow.ts" "$CLIENTS/tsconfig.json" "$work/ts/"
ln -s "$PWD/$CLIENTS/node_modules" "$work/ts/node_modules"
printf '{"type": "module"}\n' >"$work/ts/package.json"
(cd "$work/ts" && timeout "$CHECK_TIMEOUT" node_modules/.bin/tsc -p tsconfig.json --strict)

# Authentication on, with an operator token made for this run.
token=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')

start_live_server "$token"

echo "==> Python flow"
(cd "$work/python" && timeout --kill-after=10 "$FLOW_TIMEOUT" "$PY" flow.py "$base" "$token")

echo "==> TypeScript flow"
(cd "$work/ts" && timeout --kill-after=10 "$FLOW_TIMEOUT" node dist/flow.js "$base" "$token")

echo "==> generated clients: both flows passed"
