"""A throwaway PostgreSQL cluster for the test suite.

Production runs on PostgreSQL, so the DB-touching suite runs on a real server too: a private
cluster made with the machine's own ``initdb``/``pg_ctl`` (Debian's PostgreSQL packages, which
``scripts/test.sh`` installs) on a free loopback port, with durability switched off because the
data dies with the test run anyway.

    with ThrowawayPostgres() as pg:
        url = pg.create_database("chartvault_test")   # SQLAlchemy URL
        ...

PostgreSQL refuses to run as root, and CI runs as root: then the cluster belongs to ``nobody``
and every server program runs through ``runuser -u nobody --``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from glob import glob
from pathlib import Path

INSTALL_HINT = "run scripts/test.sh, which installs PostgreSQL"
UNPRIVILEGED_USER = "nobody"


class PostgresUnavailable(RuntimeError):
    """The throwaway cluster cannot be made or started on this machine."""


def find_server_binaries() -> Path:
    """The ``bin`` directory of the newest PostgreSQL server installed (initdb and pg_ctl)."""
    candidates = [Path(p).parent for p in glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates = [d for d in candidates if (d / "pg_ctl").is_file()]
    if candidates:
        return max(candidates, key=_version_key)
    # Not Debian's layout (a developer's Homebrew or distro package): trust PATH.
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found under "
        f"/usr/lib/postgresql/*/bin or on PATH; {INSTALL_HINT}"
    )


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin; "9.6" must sort below "15".
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reachable_by_others(path: Path) -> bool:
    """Whether an unprivileged user can walk down to ``path`` (every ancestor has o+x)."""
    return all(directory.stat().st_mode & stat.S_IXOTH for directory in [path, *path.parents])


class ThrowawayPostgres:
    """A private PostgreSQL cluster on 127.0.0.1, removed with everything in it on exit.

    Use as a context manager, or call ``start()`` and ``stop()`` yourself. ``url(name)`` gives a
    SQLAlchemy URL, ``conninfo(name)`` a libpq one (for psycopg), and ``create_database(name)``
    makes a database and returns its SQLAlchemy URL.
    """

    superuser = "postgres"

    def __init__(self, bin_dir: Path | None = None, start_timeout: float = 30.0) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else find_server_binaries()
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.startup_seconds: float | None = None
        self._finalizer: weakref.finalize | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> ThrowawayPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> ThrowawayPostgres:
        if self.base_dir is not None:
            raise RuntimeError("this cluster is already running")
        began = time.monotonic()
        prefix = self._command_prefix()
        self.base_dir = self._make_base_dir(as_root=os.geteuid() == 0)
        # Should the test process die without calling stop(), the server still goes at exit.
        self._finalizer = weakref.finalize(self, _shutdown, prefix, self.bin_dir, self.base_dir)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                f"--username={self.superuser}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: the data is thrown away) and remove it."""
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self.base_dir = None
        self.port = None

    # -- addresses -------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._require_base_dir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_base_dir()

    @property
    def log_file(self) -> Path:
        return self._require_base_dir() / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL of ``dbname`` on this cluster (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.superuser}@127.0.0.1:{self._require_port()}/{dbname}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq URL of ``dbname`` on this cluster, for ``psycopg.connect``."""
        return f"postgresql://{self.superuser}@127.0.0.1:{self._require_port()}/{dbname}"

    # -- databases -------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        self._execute_in_maintenance_db("CREATE DATABASE {}", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting whoever is still connected."""
        self._execute_in_maintenance_db("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _execute_in_maintenance_db(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        # CREATE/DROP DATABASE cannot run inside a transaction block.
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    # -- internals -------------------------------------------------------------------------

    def _make_base_dir(self, as_root: bool) -> Path:
        parent = Path(tempfile.gettempdir())
        if as_root and not _reachable_by_others(parent):
            parent = Path("/tmp")  # noqa: S108 - world-traversable, which nobody needs
        base = Path(tempfile.mkdtemp(prefix="chartvault-pg-", dir=parent))
        if as_root:
            try:
                user = pwd.getpwnam(UNPRIVILEGED_USER)
            except KeyError as exc:
                shutil.rmtree(base, ignore_errors=True)
                raise PostgresUnavailable(
                    f"PostgreSQL refuses to run as root and there is no user "
                    f"{UNPRIVILEGED_USER!r} to run it as"
                ) from exc
            os.chown(base, user.pw_uid, user.pw_gid)
        return base

    def _command_prefix(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        if not Path(runuser).exists():
            raise PostgresUnavailable("PostgreSQL refuses to run as root and runuser is missing")
        return [runuser, "-u", UNPRIVILEGED_USER, "--"]

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return _run(self._command_prefix(), self.bin_dir, self._require_base_dir(), program, *args)

    def stop_server(self) -> None:
        """Stop the server as an outage would: every session is cut at once (``-m fast``).
        The cluster and its port stay, for ``start_server``; ``stop()`` still removes it."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def start_server(self) -> None:
        """Start a server ``stop_server`` stopped, on the same port (the clients' URLs)."""
        self._start_server(port=self._require_port())

    def _start_server(self, port: int | None = None) -> None:
        # The port is free when we look and could be taken before the server binds it.
        last_error: PostgresUnavailable | None = None
        for _attempt in range(1 if port else 3):
            self.port = port or _free_loopback_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {self.port}",
                    f"-c unix_socket_directories={shlex.quote(str(self.socket_dir))}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                ]
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                    "-o",
                    options,
                    "start",
                )
                return
            except PostgresUnavailable as exc:
                last_error = exc
                if "could not bind" not in self._log_tail():
                    break
        raise PostgresUnavailable(f"{last_error}\n--- server log ---\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _require_base_dir(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("the throwaway cluster is not running; call start() first")
        return self.base_dir

    def _require_port(self) -> int:
        self._require_base_dir()
        assert self.port is not None
        return self.port


def _run(
    prefix: list[str], bin_dir: Path, cwd: Path, program: str, *args: str
) -> subprocess.CompletedProcess[str]:
    # cwd: nobody's home (/nonexistent) and the caller's directory may be out of its reach.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", HOME=str(cwd))
    command = [*prefix, str(bin_dir / program), *args]
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{shlex.join(command)} failed with exit code {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


def _shutdown(prefix: list[str], bin_dir: Path, base_dir: Path) -> None:
    if (base_dir / "data" / "postmaster.pid").exists():
        with contextlib.suppress(PostgresUnavailable, OSError):
            _run(
                prefix,
                bin_dir,
                base_dir,
                "pg_ctl",
                "-D",
                str(base_dir / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
            )
    shutil.rmtree(base_dir, ignore_errors=True)
