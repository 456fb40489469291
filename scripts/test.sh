#!/usr/bin/env bash
# The test command (`make test`): install what the suite needs, lint, run pytest.
#
#   scripts/test.sh [PYTEST ARGS...]
#
# Safe to run again and again: OS packages are installed only when missing, the virtualenv is
# made once and pip runs only when pyproject.toml changed. Works on a fresh Debian 12 machine as
# root (CI) and as a developer with sudo.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# tesseract runs one page per process; its own OpenMP threads only oversubscribe the cores.
export OMP_THREAD_LIMIT=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf '==> %s\n' "$*" >&2; }

package_installed() {
    dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed
}

# Runs apt-get as root, through sudo when we are not root; returns 1 when neither is possible.
apt_get() {
    if [[ $EUID -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
    else
        return 1
    fi
}

install_os_packages() {
    local missing=() pkg
    for pkg in tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils chromium; do
        package_installed "$pkg" || missing+=("$pkg")
    done
    # Any PostgreSQL server will do for the throwaway test cluster (tests/pg.py).
    if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        missing+=(postgresql)
    fi
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
        log "         tests that need them will fail; install them as root and run again."
        return 0
    fi
    log "installing OS packages: ${missing[*]}"
    apt_get update -qq
    apt_get install -y -qq "${missing[@]}"
}

# Makes .venv (once) and installs the project with EXTRAS into it when pyproject.toml changed.
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

install_os_packages
ensure_venv test,server

log "ruff check ."
.venv/bin/ruff check .

log "pytest $*"
exec .venv/bin/python -m pytest "$@"
