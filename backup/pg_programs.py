"""The PostgreSQL client programs the backups run (pg_dump, pg_restore, pg_receivewal,
pg_basebackup), wrapped here only: which installed version to run, and how to hand it the
connection without showing the password in the process list."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from glob import glob

from sqlalchemy.engine import URL, make_url

from archive.errors import ArchiveError


def libpq_connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries the password (so
    it never shows in the process list)."""
    parsed: URL = make_url(url)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    conninfo = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False)
    return conninfo, env


def pg_program(name: str) -> str:
    """The newest installed PostgreSQL client program ``name`` (Debian's layout first, as
    tests/pg.py finds the server), else the one on PATH."""
    found = glob(f"/usr/lib/postgresql/*/bin/{name}")
    if found:
        return max(found, key=lambda path: tuple(int(n) for n in re.findall(r"\d+", path)))
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise ArchiveError(f"{name} was not found (install the PostgreSQL client programs, "
                       "e.g. apt-get install postgresql-client).")


def run_pg_program(name: str, *args: str, env: dict[str, str],
                   timeout: float | None = None) -> None:
    try:
        result = subprocess.run([pg_program(name), *args], env=env, capture_output=True,
                                text=True, stdin=subprocess.DEVNULL, check=False,
                                timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise ArchiveError(f"{name} did not finish within {timeout:.0f} s.") from err
    if result.returncode != 0:
        raise ArchiveError(f"{name} failed (exit code {result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()[-2000:]}")
