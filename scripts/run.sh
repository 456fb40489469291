#!/usr/bin/env bash
# The run command (`make run`): ChartVault on this machine, embedded defaults (SQLite database
# and filesystem object store in the data directory), on http://127.0.0.1:8000.
#
# Environment: CHARTVAULT_DATA_DIR (default ./data in the repository), CHARTVAULT_SECRET_KEY
# (else `chartvault init` keeps a random key in <data>/secret_key), CHARTVAULT_ADMIN_PASSWORD
# (first run only; without
# it `chartvault init` prints a one-time admin password).
set -euo pipefail

caller_dir=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export OMP_THREAD_LIMIT=1
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
    for pkg in tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils; do
        package_installed "$pkg" || missing+=("$pkg")
    done
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
        log "         OCR will not work until they are installed."
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

install_os_packages
ensure_venv ""

# A relative CHARTVAULT_DATA_DIR means relative to where the command was typed.
if [[ -n ${CHARTVAULT_DATA_DIR:-} ]]; then
    data_dir=$(cd "$caller_dir" && realpath -m -- "$CHARTVAULT_DATA_DIR")
else
    data_dir=$(realpath -m -- ./data)
fi
export CHARTVAULT_DATA_DIR=$data_dir

# Medical records live here: nobody but this user reads what we create. `chartvault init`
# also keeps a session signing key in the data directory unless CHARTVAULT_SECRET_KEY is set.
umask 077
log "chartvault init (data directory $data_dir)"
.venv/bin/chartvault init

echo "ChartVault is running: open http://127.0.0.1:8000 and log in as admin"
exec .venv/bin/chartvault serve --host 127.0.0.1 --port 8000
