"""Engine and session handling for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Column, Engine, bindparam, create_engine, event, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    # A short-lived command has no use for a pool and must not leave connections open.
    pool = {} if pooled else {"poolclass": NullPool}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer commits; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Where a session carries the audit trail's MAC key (archive.audit reads it there), so
# every session the app opens can write audit events without the key passing through
# every caller, and a session opened without it cannot write an unkeyed event.
AUDIT_KEY_INFO = "chartvault.audit_key"


class Database:
    """One engine and session factory per app (or CLI invocation)."""

    def __init__(self, url: str, *, pooled: bool = True, audit_key: bytes | None = None):
        self.url = url
        self.engine = make_engine(url, pooled=pooled)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.audit_key: bytes | None = None
        if audit_key is not None:
            self.use_audit_key(audit_key)

    def use_audit_key(self, key: bytes) -> None:
        """Sessions opened from now on sign audit events with ``key``."""
        self.audit_key = key
        self.sessionmaker.configure(info={AUDIT_KEY_INFO: key})

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any exception."""
        with self.sessionmaker() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def relocate_rows(session: Session, key: Column, version: Column,
                  moves: Sequence[tuple[str, str, str]]) -> None:
    """Point every row whose ``key`` and ``version`` columns name an object's old version
    (``moves``: key, old version, new version, e.g. archive.interfaces.Relocation) at its
    new one: one statement, compiled once and run for every move (a restore moves
    thousands at a time)."""
    if not moves:
        return
    session.execute(
        update(key.table)
        .where(key == bindparam("moved_key"), version == bindparam("old_version"))
        .values({version.name: bindparam("new_version")}),
        [{"moved_key": k, "old_version": old, "new_version": new} for k, old, new in moves],
    )
