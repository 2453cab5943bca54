# Shared by the scripts that test a live `mlm serve` (schemathesis.sh, generated-clients.sh):
# a temporary work dir, a server on 127.0.0.1 in a process group of its own, and clean-up on
# every exit. Source it after setting PY (a Python) and STOP_TIMEOUT / READY_TIMEOUT (seconds);
# it sets `work`, and `start_live_server TOKEN` sets `base` (the server's URL) once it is ready.

work=$(mktemp -d "${TMPDIR:-/tmp}/mlm-live-server.XXXXXX")
server_pid=
server_group=

live_server_cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$server_pid" ]; then
    # SIGTERM: the server finishes, stops its model instances and exits.
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 $((STOP_TIMEOUT * 10))); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    # Whatever is left of what it started (its own process group, never ours) is killed.
    if [ -n "$server_group" ]; then
      kill -KILL -- "-$server_group" 2>/dev/null || true
    else
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$work/server.log" ]; then
    echo "--- server log: errors and warnings (last 40) ---" >&2
    grep -E 'ERROR|WARN|panicked' "$work/server.log" | tail -n 40 >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap live_server_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

live_server_ready() {
  "$PY" - "$1/readyz" 2>/dev/null <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
PY
}

# From the repository root with no config file, the server uses artifact root ./examples and
# the `agnews-classifier` runtime. Port 0: the kernel picks a free port, the server prints it.
# setsid: the server and the model instances it starts get a process group of their own.
start_live_server() {
  local token=$1
  echo "==> starting mlm serve (data dir $work/data)"
  MLM_TOKENS="$token:operator" RUST_LOG=${RUST_LOG:-warn} \
    setsid target/debug/mlm serve --bind 127.0.0.1:0 --data-dir "$work/data" \
    >"$work/server.out" 2>"$work/server.log" &
  server_pid=$!
  local group
  group=$(ps -o pgid= -p "$server_pid" 2>/dev/null | tr -d ' ' || true)
  if [ "$group" = "$server_pid" ]; then
    server_group=$group
  fi
  base=
  local deadline=$((SECONDS + READY_TIMEOUT))
  until [ -n "$base" ] && live_server_ready "$base"; do
    kill -0 "$server_pid" 2>/dev/null || {
      cat "$work/server.log" >&2
      echo "error: mlm serve exited" >&2
      exit 1
    }
    [ "$SECONDS" -lt "$deadline" ] || {
      echo "error: mlm serve was not ready within ${READY_TIMEOUT}s" >&2
      exit 1
    }
    [ -n "$base" ] ||
      base=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$work/server.out")
    sleep 0.1
  done
  echo "==> $base is ready"
}
