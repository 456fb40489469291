# Shared set-up steps of scripts/run.sh and scripts/test.sh (sourced, not run).
#
#   install_os_packages PKG...   apt-get install whichever of PKG are missing (and
#                                python3-venv when venv cannot work), once, as root or via sudo
#   ensure_venv EXTRAS           make .venv once; pip install -e ".[EXTRAS]" when
#                                pyproject.toml changed since the last install

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf '==> %s\n' "$*" >&2; }

package_installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

apt_get() {
    if [[ $EUID -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get "$@"
    else
        sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
    fi
}

install_os_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        package_installed "$pkg" || missing+=("$pkg")
    done
    # Debian's python3 has no ensurepip (so no `python3 -m venv`) without python3-venv.
    if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing+=(python3-venv)
    fi
    [[ ${#missing[@]} -eq 0 ]] && return 0

    if ! command -v apt-get >/dev/null 2>&1; then
        log "WARNING: not a Debian machine; install these yourself: ${missing[*]}"
        return 0
    fi
    if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
        log "WARNING: not root and no sudo, so skipping apt-get install of: ${missing[*]}"
        log "         install them as root and run again."
        return 0
    fi
    log "installing OS packages: ${missing[*]}"
    apt_get update -qq
    apt_get install -y -qq "${missing[@]}"
}

ensure_venv() {
    local extras=$1 stamp digest
    if [[ ! -x .venv/bin/python ]]; then
        log "creating .venv"
        python3 -m venv .venv
    fi
    stamp=".venv/.chartvault-installed${extras:+-$extras}"
    digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [[ -f $stamp && $(<"$stamp") == "$digest" ]]; then
        return 0
    fi
    log "installing chartvault${extras:+[$extras]} into .venv"
    .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
    printf '%s\n' "$digest" >"$stamp"
}
