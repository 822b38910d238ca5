# Sourced by the install scripts: installs Debian packages with apt-get, or says exactly why it
# cannot. Expects the caller's `fail` function (prints its message and exits 1).
#
#   apt_install WHAT ENV_HINT PACKAGE...
#
# WHAT names what is missing (for the messages), ENV_HINT the variables that would point at an
# existing install instead. Needs root; runs `apt-get update` first; writes only to stderr.
apt_install() {
    local what=$1 hint=$2
    shift 2
    command -v apt-get >/dev/null 2>&1 ||
        fail "$what not installed and apt-get is missing; install them, or set $hint"
    [[ "$(id -u)" == 0 ]] ||
        fail "$what not installed; as root run: apt-get update && apt-get install $*"
    echo "${0#./}: installing Debian's $*" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
        fail "apt-get could not install $*"
}
