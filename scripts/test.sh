#!/usr/bin/env bash
# Runs the whole test suite: every crate's unit, integration, property and end-to-end tests.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "scripts/test.sh: cargo is not installed; install the Rust toolchain from https://rustup.rs" >&2
    exit 1
fi

cargo test --workspace --locked "$@"
