#!/usr/bin/env bash
# Runs the whole test suite: every crate's unit, integration, property and end-to-end tests.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "scripts/test.sh: cargo is not installed; install the Rust toolchain from https://rustup.rs" >&2
    exit 1
fi

# The JetStream tests run against a real nats-server (2.12 or later); a missing server fails
# them loudly, so make sure one is there first (see scripts/install-nats-server.sh).
NATS_SERVER_BIN="$(scripts/install-nats-server.sh)"
export NATS_SERVER_BIN
echo "scripts/test.sh: using $("$NATS_SERVER_BIN" --version) at $NATS_SERVER_BIN" >&2

# The HTTP service's OpenAPI document is checked by openapi-spec-validator and schemathesis
# (crates/dossier-http/tests/schemathesis.rs); they live in .venv too.
DOSSIER_PY_TOOLS="$(scripts/install-py-tools.sh)"
export DOSSIER_PY_TOOLS

# The web page's tests drive a real headless Chromium through chromedriver (Debian's packages
# chromium and chromium-driver; see scripts/install-chromium.sh).
{ read -r CHROMIUM_BIN; read -r CHROMEDRIVER_BIN; } < <(scripts/install-chromium.sh)
export CHROMIUM_BIN CHROMEDRIVER_BIN

# Go's transparency-log code (golang.org/x/mod/sumdb/tlog and sumdb/note) checks dossier's
# checkpoints, proofs and tiles (crates/dossier-proofs/tests/go_tlog.rs); Debian's golang-go
# and golang-golang-x-mod-dev, built in GOPATH mode with nothing fetched (scripts/install-go.sh).
{ read -r GO_BIN; read -r DOSSIER_GOPATH; } < <(scripts/install-go.sh)
export GO_BIN DOSSIER_GOPATH

# A linker that runs out of disk dies with "Bus error" rather than a word about space; say it first.
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
free_kib="$(df -Pk "$target_dir" | awk 'NR == 2 { print $4 }')"
if [ -n "$free_kib" ] && [ "$free_kib" -lt $((3 * 1024 * 1024)) ]; then
    echo "scripts/test.sh: warning: only $((free_kib / 1024)) MiB free under $target_dir;" \
        "a clean build of the tests needs about 2 GiB" >&2
fi

cargo test --workspace --locked --exclude dossier-fuzz "$@"

# The bounded fuzz run (100,000 mutants per target, crates/dossier-fuzz): optimized, since a
# debug build checks signatures two orders of magnitude slower.
cargo test --release --locked -p dossier-fuzz --test bounded "$@"
