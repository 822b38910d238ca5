#!/usr/bin/env bash
# Makes sure Go and the source of golang.org/x/mod (Debian's packages `golang-go` and
# `golang-golang-x-mod-dev`) are available for the independent check of the transparency-log
# tree (crates/dossier-proofs/tests/go_tlog.rs, which builds tests/tlog-go/main.go against
# x/mod's sumdb/tlog and sumdb/note in GOPATH mode, nothing fetched), and prints two lines on
# standard output: the path of the `go` binary, then the GOPATH holding x/mod's source.
#
# Order of preference:
#   1. $GO_BIN and $DOSSIER_GOPATH, if both are set;
#   2. `go` on PATH and x/mod's source under /usr/share/gocode (where Debian puts it);
#   3. Debian's packages installed with apt-get (needs root; runs `apt-get update` first).
#      Nothing is downloaded from anywhere else.
#
# Usage:  { read -r GO_BIN; read -r DOSSIER_GOPATH; } < <(scripts/install-go.sh)
# Idempotent: when both are installed it only checks and prints the paths.
set -euo pipefail

# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

fail() {
    echo "scripts/install-go.sh: $*" >&2
    exit 1
}

tlog_src=src/golang.org/x/mod/sumdb/tlog/tlog.go

if [[ -n "${GO_BIN:-}" || -n "${DOSSIER_GOPATH:-}" ]]; then
    [[ -x "${GO_BIN:-}" ]] || fail "GO_BIN=${GO_BIN:-} is not an executable file (set both or neither)"
    [[ -f "${DOSSIER_GOPATH:-}/$tlog_src" ]] || fail "DOSSIER_GOPATH=${DOSSIER_GOPATH:-} does not hold $tlog_src (set both or neither)"
    echo "$GO_BIN"
    echo "$DOSSIER_GOPATH"
    exit 0
fi

gopath=/usr/share/gocode
if ! command -v go >/dev/null 2>&1 || [[ ! -f "$gopath/$tlog_src" ]]; then
    apt_install "go and golang.org/x/mod are" "GO_BIN and DOSSIER_GOPATH" golang-go golang-golang-x-mod-dev
fi

go="$(command -v go)" || fail "go is still not on PATH"
[[ -f "$gopath/$tlog_src" ]] || fail "$gopath/$tlog_src is missing after installing golang-golang-x-mod-dev"
"$go" version >/dev/null 2>&1 || fail "$go does not run (\`$go version\` failed)"
echo "$go"
echo "$gopath"
