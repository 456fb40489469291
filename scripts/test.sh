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
source scripts/setup.sh

export OMP_THREAD_LIMIT=1

install_os_packages tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd poppler-utils fonts-dejavu-core chromium
# Any PostgreSQL server will do for the throwaway test cluster (tests/pg.py).
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    install_os_packages postgresql
fi
ensure_venv test,server

log "ruff check ."
.venv/bin/ruff check .

log "lint-imports (the layers in pyproject.toml)"
.venv/bin/lint-imports

# One pytest worker per core (pytest-xdist), each with its own PostgreSQL, S3 endpoint and
# browser; a file's tests stay together so its module fixtures are built once.
log "pytest -n auto --dist loadfile $*"
exec .venv/bin/python -m pytest -n auto --dist loadfile "$@"
