#!/usr/bin/env bash
# The one test command (README quick start, CI): installs what a fresh machine lacks, then runs
# every check and test. Safe to re-run; a second run reuses the venv and the cargo cache.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required ($2)" >&2; exit 1; }; }

need cargo "install Rust with rustup: https://rustup.rs"
need python3 "install Python 3.9 or newer"
cargo fmt --version >/dev/null 2>&1 || { echo "error: rustfmt is required (rustup component add rustfmt)" >&2; exit 1; }
cargo clippy --version >/dev/null 2>&1 || { echo "error: clippy is required (rustup component add clippy)" >&2; exit 1; }

# Python venv with the pinned test tools; rebuilt when the pins change.
VENV=${MLM_TEST_VENV:-.venv}
stamp="$VENV/.requirements.sha256"
want=$(cat requirements-test.txt ./*/requirements-test.txt testing/aws-emulator/requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  step "Python test venv ($VENV)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip==25.3
  "$VENV/bin/python" -m pip install --quiet -r requirements-test.txt
  echo "$want" > "$stamp"
fi
PY="$VENV/bin/python"
# The AWS backend's tests start the emulator with this interpreter.
export MLM_EMULATOR_PYTHON="$PWD/$PY"
export MLM_TEST_PYTHON="$PWD/$PY"

step "rustfmt"
cargo fmt --all --check

step "clippy (-D warnings; all targets, so benches and examples are type-checked too)"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p mlm-core --all-targets --all-features --locked -- -D warnings
cargo clippy -p mlm-cli --all-targets --features aws --locked -- -D warnings

step "feature combinations users choose (each must build on its own)"
cargo check -p mlm-client --no-default-features --locked   # plain HTTP, no TLS stack
cargo check -p mlm-cli --no-default-features --locked      # no backend compiled in
cargo check -p mlm-core --no-default-features --features openapi --locked
# The declared rust-version (1.89) is not checked here: this machine has one toolchain and no
# network to install another (see the architecture-pass issue's note).

step "layers: the Python wheel links the client, not the server"
py_deps=$(cargo tree -p mlm-py -e normal --locked)
if grep -E 'axum|utoipa|swagger' <<<"$py_deps"; then
  echo "error: mlm-py pulls in server crates (it must depend on mlm-client, not mlm-http)" >&2
  exit 1
fi

step "rustdoc (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
RUSTDOCFLAGS="-D warnings" cargo doc -p mlm-core --no-deps --all-features --locked

step "Rust tests (unit, conformance, integration, doc)"
cargo test --workspace --locked
cargo test -p mlm-core --all-features --locked
cargo test -p mlm-cli --features aws --test serve_aws --test binary --locked   # mlm serve --provider aws

step "Python tests (example runtime, AWS emulator)"
"$PY" -m pytest -q -p no:cacheprovider examples/agnews-classifier
"$PY" -m pytest -q -p no:cacheprovider testing/aws-emulator/tests

step "AWS deployment: SAM template (cfn-lint; IAM actions == the SDK calls in the code)"
"$PY" -m pytest -q -p no:cacheprovider deploy/aws

step "Python bindings: build the wheel, install it, test it"
rm -rf target/wheels
"$VENV/bin/maturin" build --quiet --profile dev --locked -m mlm-py/Cargo.toml -o target/wheels
"$PY" -m pip install --quiet --force-reinstall --no-deps --no-index --find-links target/wheels mlm
cargo build -p mlm-cli --bin mlm --locked   # the HTTP client tests start this server
"$PY" -m pytest -q -p no:cacheprovider mlm-py/tests

step "schemathesis against the live server (all checks)"
scripts/schemathesis.sh

step "clients generated from docs/openapi.json (Python, TypeScript) against the live server"
scripts/generated-clients.sh

step "all tests passed"
