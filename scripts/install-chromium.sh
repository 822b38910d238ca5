#!/usr/bin/env bash
# Makes sure Chromium and its WebDriver (chromedriver) are available for the web page's browser
# tests (crates/dossier-web/tests/browser.rs) and prints two lines on standard output: the path
# of the browser, then the path of the driver (nothing else goes there).
#
# Order of preference:
#   1. $CHROMIUM_BIN and $CHROMEDRIVER_BIN, if both are set (they must be executable);
#   2. `chromium` and `chromedriver` on PATH;
#   3. Debian's packages `chromium` and `chromium-driver`, installed with apt-get (needs root;
#      runs `apt-get update` first). Nothing is downloaded from anywhere else.
#
# Usage:  { read -r CHROMIUM_BIN; read -r CHROMEDRIVER_BIN; } < <(scripts/install-chromium.sh)
# Idempotent: when both are installed it only checks and prints the paths.
set -euo pipefail

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

fail() {
    echo "scripts/install-chromium.sh: $*" >&2
    exit 1
}

if [[ -n "${CHROMIUM_BIN:-}" || -n "${CHROMEDRIVER_BIN:-}" ]]; then
    [[ -x "${CHROMIUM_BIN:-}" ]] || fail "CHROMIUM_BIN=${CHROMIUM_BIN:-} is not an executable file (set both or neither)"
    [[ -x "${CHROMEDRIVER_BIN:-}" ]] || fail "CHROMEDRIVER_BIN=${CHROMEDRIVER_BIN:-} is not an executable file (set both or neither)"
    echo "$CHROMIUM_BIN"
    echo "$CHROMEDRIVER_BIN"
    exit 0
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install "chromium and chromedriver are" "CHROMIUM_BIN and CHROMEDRIVER_BIN" chromium chromium-driver
fi

browser="$(command -v chromium)" || fail "chromium is still not on PATH"
driver="$(command -v chromedriver)" || fail "chromedriver is still not on PATH"
"$browser" --version >/dev/null 2>&1 || fail "$browser does not run (\`$browser --version\` failed)"
"$driver" --version >/dev/null 2>&1 || fail "$driver does not run (\`$driver --version\` failed)"
echo "$browser"
echo "$driver"
