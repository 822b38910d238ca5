#!/usr/bin/env bash
# Makes sure the Python tools the HTTP service's tests use are installed in the project-local
# virtual environment .venv (the one scripts/install-nats-server.sh uses), at pinned versions:
#   - openapi-spec-validator: validates docs/openapi.json, independently of the code that made it;
#   - schemathesis: property-based testing of the live service from that document;
#   - stix2-validator, pymisp, prov: check the STIX 2.1, MISP and PROV exports
#     (tests/exchange/check.py, driven by crates/dossier-exchange's tests).
# Prints the absolute path of .venv/bin on standard output (nothing else goes there).
#
# Usage:  DOSSIER_PY_TOOLS="$(scripts/install-py-tools.sh)" && export DOSSIER_PY_TOOLS
# Idempotent: when .venv already holds the pinned versions, it only checks and prints the path.
# Needs python3 with the venv module (Debian: `apt-get install python3-venv`) and access to PyPI
# for the first install.
set -euo pipefail

OPENAPI_SPEC_VALIDATOR_VERSION="0.9.0"
SCHEMATHESIS_VERSION="4.32.5"
STIX2_VALIDATOR_VERSION="3.3.2"
PYMISP_VERSION="2.5.34.4"
PROV_VERSION="3.2.3"

cd "$(dirname "$0")/.."
venv="$(pwd)/.venv"

fail() {
    echo "scripts/install-py-tools.sh: $*" >&2
    exit 1
}

installed_version() {
    "$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true
}

if [[ ! -x "$venv/bin/python" ]]; then
    command -v python3 >/dev/null 2>&1 || fail "python3 is not installed"
    echo "scripts/install-py-tools.sh: creating $venv" >&2
    python3 -m venv "$venv" >&2 ||
        fail "\`python3 -m venv $venv\` failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi

wanted=()
[[ "$(installed_version openapi-spec-validator)" == "$OPENAPI_SPEC_VALIDATOR_VERSION" ]] ||
    wanted+=("openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION")
[[ "$(installed_version schemathesis)" == "$SCHEMATHESIS_VERSION" ]] ||
    wanted+=("schemathesis==$SCHEMATHESIS_VERSION")
[[ "$(installed_version stix2-validator)" == "$STIX2_VALIDATOR_VERSION" ]] ||
    wanted+=("stix2-validator==$STIX2_VALIDATOR_VERSION")
[[ "$(installed_version pymisp)" == "$PYMISP_VERSION" ]] ||
    wanted+=("pymisp==$PYMISP_VERSION")
[[ "$(installed_version prov)" == "$PROV_VERSION" ]] ||
    wanted+=("prov==$PROV_VERSION")
if ((${#wanted[@]})); then
    echo "scripts/install-py-tools.sh: installing ${wanted[*]} into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${wanted[@]}" >&2 ||
        fail "pip could not install ${wanted[*]} (no access to PyPI?)"
fi

for tool in openapi-spec-validator st stix2_validator; do
    [[ -x "$venv/bin/$tool" ]] || fail "$venv/bin/$tool is missing after the install (try: rm -rf $venv)"
done
echo "$venv/bin"
