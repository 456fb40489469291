#!/usr/bin/env bash
# The run command (`make run`): ChartVault on this machine, embedded defaults (SQLite database
# and filesystem object store in the data directory), on http://127.0.0.1:8000.
#
# Environment: CHARTVAULT_DATA_DIR (default ./data in the repository); CHARTVAULT_SECRET_KEY
# (else `chartvault init` keeps a random key in <data>/secret_key); CHARTVAULT_ADMIN_PASSWORD
# (first run only; without it `chartvault init` prints a one-time admin password).
set -euo pipefail

caller_dir=$PWD
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

# tesseract runs one page per process; its own OpenMP threads only oversubscribe the cores.
export OMP_THREAD_LIMIT=1

install_os_packages tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils fonts-dejavu-core
ensure_venv ""

# A relative CHARTVAULT_DATA_DIR means relative to where the command was typed.
if [[ -n ${CHARTVAULT_DATA_DIR:-} ]]; then
    data_dir=$(cd "$caller_dir" && realpath -m -- "$CHARTVAULT_DATA_DIR")
else
    data_dir=$(realpath -m -- ./data)
fi
export CHARTVAULT_DATA_DIR=$data_dir

# Medical records live here: nobody but this user reads what we create.
umask 077
log "chartvault init (data directory $data_dir)"
.venv/bin/chartvault init

echo "ChartVault is running: open http://127.0.0.1:8000 and log in as admin"
exec .venv/bin/chartvault serve --host 127.0.0.1 --port 8000
