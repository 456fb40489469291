"""The nightly retention sweep at archive scale, SQLite beside PostgreSQL.

    python -m bench.retention [--documents 1000000] [--skip-sqlite] [--skip-postgres]
                              [--seed 1] [--dir DIR]

What is timed is ``retention.disposition.sweep`` - the function the scheduler runs - as of
SWEEP_DAY, in one ``archive.db.Database.transaction()``, commit included:

* the first sweep: ``refresh_dates`` (delete every retention date, then one INSERT ... SELECT
  per policy in force) into an empty ``retention_dates``, then the batch part (count the
  held-out documents, fill a new disposition batch with the due ones, the audit event).
  ``refresh_dates`` is timed inside that same sweep by wrapping the module's function, so
  the split costs no extra run;
* the next night: the same sweep again, now replacing a full ``retention_dates`` (as every
  later night does) while the batch in review already lists every due document, so it adds
  none. That is the steady-state cost; the first sweep is the one with the big INSERT.

Both run on a SQLite file (WAL and the pragmas of ``archive.db``; no ANALYZE, which the app
never runs on SQLite) and on a throwaway PostgreSQL cluster (``tests.pg``: server defaults
but fsync off; VACUUM ANALYZE of patients and documents after loading, as autovacuum
would have done; the empty disposition tables stay unanalysed, as on a new install), each
migrated by the project's own migrations and loaded with the same synthetic archive,
untimed: raw executemany on SQLite, COPY on PostgreSQL.

The archive: --documents documents of about documents/8 patients. Each patient has an
active period (first encounter 1995-2026, span exponential with a mean of 3 years) and
their documents' dates of service fall in it (2 % without one, filed in that period);
about 3 % of patients were minors at their last encounter, 5 % have died since; 8 document
types, all "ready". Policies: the default "*" (10 years after the last encounter; minors 3
years after majority at 18; 6 years after death), pathology reports permanent, lab reports
7 years after the last encounter. Two legal holds in force: 100 patients' MRNs, and
operative reports of service dates 2000-2005 (undated ones included, as a hold's date range
covers them).

Printed, side by side: sweep seconds and their split, and the counts (dated, added, held
out), which must be the same on both databases and the same as retention.clocks computes in
Python from the generated data (each a PASS/FAIL line). The target (the issue): the
PostgreSQL sweep under 60 s at 1,000,000 documents. The exit status is 1 if the target
or a check fails. Every sweep is printed with the CPU other processes used meanwhile (the
PostgreSQL server's own processes count as this run's): the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from psycopg import sql
from sqlalchemy import Table, func, select, text

import ingest.models  # noqa: F401 - the tables, on the shared metadata
import search.models  # noqa: F401
from archive import migrate
from archive.auth.permissions import SYSTEM_ROLE, Principal
from archive.db import Database
from archive.models import Document, Patient
from bench.ocr import OtherLoad, _stat, _tree, load, others_note, verdict
from retention import disposition
from retention.clocks import Rules, disposition_date
from retention.disposition import SWEEP_ACTOR, SweepResult
from retention.floors import Floors
from retention.models import DEFAULT_POLICY, LegalHold
from retention.policies import save_policy
from tests.pg import ThrowawayPostgres

TARGET_DOCUMENTS = 1_000_000
TARGET_SECONDS = 60.0  # PostgreSQL, one sweep
DOCUMENTS_PER_PATIENT = 8
SWEEP_DAY = date(2026, 12, 1)  # fixed, so the counts do not drift from one day to the next
FLOORS = Floors()  # the shipped floors (1 year, 90 days), as a default installation sweeps
FIRST_SERVICE = date(1995, 1, 1)
LAST_SERVICE = date(2026, 11, 30)
MEAN_SPAN_DAYS = 3 * 365  # a patient's active period
UNDATED_SHARE = 0.02
MINOR_SHARE = 0.03
DECEASED_SHARE = 0.05
MINOR_DAYS = 18 * 365  # younger than this many days is under 18 whatever the leap days
DOCUMENT_TYPES = (
    "discharge_summary", "operative_report", "pathology_report", "radiology_report",
    "lab_report", "consultation", "progress_note", "correspondence",
)  # fmt: skip
POLICIES = {
    DEFAULT_POLICY: Rules(
        after_last_encounter_years=10,
        after_majority_years=3,
        age_of_majority=18,
        after_death_years=6,
    ),
    "pathology_report": Rules(permanent=True),
    "lab_report": Rules(after_last_encounter_years=7),
}
HELD_MRNS = 100
HELD_TYPE, HELD_FROM, HELD_TO = "operative_report", date(2000, 1, 1), date(2005, 12, 31)
PRINCIPAL = Principal(username="bench", role=SYSTEM_ROLE, source="bench")
CHUNK = 50_000  # rows per executemany on SQLite

PATIENT_COLUMNS = ("id", "mrn", "name", "dob", "date_of_death", "restricted", "created_at")
DOCUMENT_COLUMNS = (
    "id", "uid", "patient_id", "doc_type", "date_of_service", "status", "created_at",
)  # fmt: skip


# --- the synthetic archive ----------------------------------------------------------------------


@dataclass
class SyntheticArchive:
    """Rows in PATIENT_COLUMNS and DOCUMENT_COLUMNS order, ready for either database."""

    patients: list[tuple] = field(default_factory=list)
    documents: list[tuple] = field(default_factory=list)
    held_mrns: list[str] = field(default_factory=list)


def random_date(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def filed_at(rng: random.Random, day: date) -> datetime:
    """Filed some days after the encounter, at some time of day (UTC), never after the
    last day of service."""
    filed = min(day + timedelta(days=rng.randrange(30)), LAST_SERVICE)
    return datetime(filed.year, filed.month, filed.day, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(86_400)
    )


def synthetic_archive(documents: int, seed: int) -> SyntheticArchive:
    rng = random.Random(seed)
    count = max(1, documents // DOCUMENTS_PER_PATIENT)
    periods = []
    for _ in range(count):
        first = random_date(rng, FIRST_SERVICE, LAST_SERVICE)
        span = min(int(rng.expovariate(1 / MEAN_SPAN_DAYS)), (LAST_SERVICE - first).days)
        periods.append((first, span))
    archive = SyntheticArchive()
    last: list[date | None] = [None] * count  # each patient's last encounter
    for document_id in range(1, documents + 1):
        index = rng.randrange(count)
        first, span = periods[index]
        served = first + timedelta(days=rng.randrange(span + 1))
        filed = filed_at(rng, served)
        if rng.random() < UNDATED_SHARE:
            served = None
        encounter = served or filed.date()  # as retention.clocks.last_encounter
        if last[index] is None or encounter > last[index]:
            last[index] = encounter
        archive.documents.append((
            document_id, f"{rng.getrandbits(128):032x}", index + 1, rng.choice(DOCUMENT_TYPES),
            served, "ready", filed,
        ))  # fmt: skip
    mrns = rng.sample(range(10_000_000, 100_000_000), count)
    for index, ((first, span), mrn) in enumerate(zip(periods, mrns, strict=True)):
        encounter = last[index] or first  # a patient without documents keeps their period
        if rng.random() < MINOR_SHARE and span + 1 < MINOR_DAYS:
            dob = encounter - timedelta(days=rng.randrange(span + 1, MINOR_DAYS))
        else:
            latest = min(date(2020, 12, 31), encounter - timedelta(days=MINOR_DAYS + 10))
            dob = random_date(rng, date(1920, 1, 1), latest)
        died = random_date(rng, encounter, LAST_SERVICE) if rng.random() < DECEASED_SHARE else None
        registered = filed_at(rng, first - timedelta(days=1))
        archive.patients.append(
            (index + 1, str(mrn), f"BENCH, PATIENT {index + 1}", dob, died, False, registered)
        )
    archive.held_mrns = [str(mrn) for mrn in rng.sample(mrns, min(HELD_MRNS, count))]
    return archive


@dataclass(frozen=True)
class Counts:
    dated: int
    undated: int
    added: int
    held_out: int

    @classmethod
    def of(cls, result: SweepResult) -> Counts:
        return cls(result.dated, result.undated, result.added, result.held_out)


def expected_counts(archive: SyntheticArchive) -> Counts:
    """What the first sweep must find, computed in Python with retention.clocks (the rules
    the SQL of retention.date_sql mirrors) and the two holds' scopes."""
    last: dict[int, date] = {}
    for _id, _uid, patient_id, _type, served, _status, filed in archive.documents:
        encounter = served or filed.date()
        if patient_id not in last or encounter > last[patient_id]:
            last[patient_id] = encounter
    patients = {row[0]: row for row in archive.patients}
    held_mrns = set(archive.held_mrns)
    dates: dict[tuple[int, str], date | None] = {}
    added = held_out = 0
    for _id, _uid, patient_id, doc_type, served, _status, filed in archive.documents:
        policy = doc_type if doc_type in POLICIES else DEFAULT_POLICY
        key = (patient_id, policy)
        if key not in dates:
            _pid, _mrn, _name, dob, died, _restricted, _created = patients[patient_id]
            dates[key] = disposition_date(
                POLICIES[policy], dob=dob, last_encounter=last[patient_id], date_of_death=died
            )
        when = FLOORS.not_before(dates[key], filed.date())
        if when is None or when > SWEEP_DAY:
            continue
        held = patients[patient_id][1] in held_mrns or (
            doc_type == HELD_TYPE and (served is None or HELD_FROM <= served <= HELD_TO)
        )
        held_out += held
        added += not held
    return Counts(len(archive.documents), 0, added, held_out)


# --- the databases ------------------------------------------------------------------------------


class Backend:
    """One migrated database holding the synthetic archive, its policies and holds."""

    name = ""

    def __init__(self, url: str):
        self.db = Database(url)
        self.cluster: ThrowawayPostgres | None = None

    def migrate(self) -> None:
        migrate.upgrade(self.db.engine)

    def load(self, archive: SyntheticArchive) -> None:
        raise NotImplementedError

    def add_policies_and_holds(self, archive: SyntheticArchive) -> None:
        with self.db.transaction() as session:
            for doc_type, rules in POLICIES.items():
                save_policy(
                    session, PRINCIPAL, doc_type, name=f"bench {doc_type}", rules=rules,
                    source="bench", reason="retention bench", floors=FLOORS,
                )  # fmt: skip
            holds = (
                ("bench patients", {"mrns": archive.held_mrns}),
                ("bench operative reports",
                 {"types": [HELD_TYPE], "from": HELD_FROM.isoformat(), "to": HELD_TO.isoformat()}),
            )  # fmt: skip
            for name, scope in holds:
                session.add(LegalHold(
                    name=name, reason="retention bench", issuer="bench", contact="bench",
                    scope=scope, placed_by=PRINCIPAL.username,
                ))  # fmt: skip

    def check_loaded(self, archive: SyntheticArchive) -> None:
        with self.db.transaction() as session:
            documents = session.scalar(select(func.count()).select_from(Document))
            patients = session.scalar(select(func.count()).select_from(Patient))
        if (documents, patients) != (len(archive.documents), len(archive.patients)):
            raise SystemExit(f"{self.name}: loaded {documents} documents, {patients} patients")

    def close(self) -> None:
        self.db.dispose()


class SQLiteBackend(Backend):
    name = "SQLite"

    def __init__(self, path: Path):
        super().__init__(f"sqlite:///{path}")

    def load(self, archive: SyntheticArchive) -> None:
        """executemany on the driver's connection, each value converted by the column's own
        SQLAlchemy type (dates and UTC timestamps as the app stores them)."""
        raw = self.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            for table, rows in ((Patient.__table__, archive.patients),
                                (Document.__table__, archive.documents)):  # fmt: skip
                statement, convert = self._insert(table, rows)
                for start in range(0, len(rows), CHUNK):
                    cursor.executemany(statement, map(convert, rows[start : start + CHUNK]))
            raw.commit()
        finally:
            raw.close()

    def _insert(self, table: Table, rows: list[tuple]) -> tuple[str, Callable]:
        columns = PATIENT_COLUMNS if table.name == "patients" else DOCUMENT_COLUMNS
        dialect = self.db.engine.dialect
        processors = [
            table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ]

        def convert(row: tuple) -> tuple:
            return tuple(
                process(value) if process and value is not None else value
                for process, value in zip(processors, row, strict=True)
            )

        marks = ", ".join("?" * len(columns))
        return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", convert  # noqa: S608 - constants


class PostgresBackend(Backend):
    name = "PostgreSQL"

    def __init__(self, cluster: ThrowawayPostgres):
        super().__init__(cluster.create_database("chartvault_bench"))
        self.cluster = cluster

    def load(self, archive: SyntheticArchive) -> None:
        raw = self.db.engine.raw_connection()
        try:
            connection = raw.driver_connection
            with connection.cursor() as cursor:
                for table, columns, rows in (
                    ("patients", PATIENT_COLUMNS, archive.patients),
                    ("documents", DOCUMENT_COLUMNS, archive.documents),
                ):
                    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                    )
                    with cursor.copy(statement) as copy:
                        for row in rows:
                            copy.write_row(row)
                    cursor.execute(
                        sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), {})").format(
                            sql.Literal(table), sql.Literal(len(rows) or 1)
                        )
                    )
            connection.commit()
        finally:
            raw.close()

    def analyze(self, everything: bool = False) -> None:
        """Statistics for the loaded tables; with ``everything``, for the empty disposition
        tables too (as a database-wide ANALYZE after a restore leaves them): the case that
        once made the sweep's plan quadratic."""
        tables = "" if everything else " patients, documents"
        with self.db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f"VACUUM ANALYZE{tables}")
            )

    def server_pid(self) -> int:
        assert self.cluster is not None
        return int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])


class LoadBesides(OtherLoad):
    """OtherLoad, with the PostgreSQL server's processes counted as this run's own: they
    were started by pg_ctl and are no children of this process."""

    def __init__(self, server_pid: int | None):
        self._server = server_pid

    def _ours(self) -> int:
        total = super()._ours()
        if self._server is not None:
            for pid in _tree(self._server):
                total += sum(_stat(pid)[11:15])
        return total


# --- the sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    seconds: float
    refresh: float  # of which in refresh_dates
    counts: Counts
    others: float  # cores other processes used meanwhile

    @property
    def batch_part(self) -> float:
        return self.seconds - self.refresh


@contextlib.contextmanager
def timing_refresh_dates() -> Iterator[list[float]]:
    """Time each call of retention.disposition.refresh_dates that sweep makes."""
    original = disposition.refresh_dates
    spent: list[float] = []

    def timed(session, floors):
        started = time.perf_counter()
        try:
            return original(session, floors)
        finally:
            spent.append(time.perf_counter() - started)

    disposition.refresh_dates = timed
    try:
        yield spent
    finally:
        disposition.refresh_dates = original


def timed_sweep(backend: Backend) -> Sweep:
    server = backend.server_pid() if isinstance(backend, PostgresBackend) else None
    with LoadBesides(server) as others, timing_refresh_dates() as refresh:
        started = time.perf_counter()
        with backend.db.transaction() as session:
            result = disposition.sweep(session, today=SWEEP_DAY, floors=FLOORS,
                                       actor=SWEEP_ACTOR)
        seconds = time.perf_counter() - started
    return Sweep(seconds, sum(refresh), Counts.of(result), others.cores)


@dataclass(frozen=True)
class Column:
    name: str
    load_seconds: float
    first: Sweep
    next_night: Sweep


def measure(backend: Backend, archive: SyntheticArchive, analyze_all: bool = False) -> Column:
    print(f"\n{backend.name}:", flush=True)
    started = time.perf_counter()
    backend.migrate()
    backend.load(archive)
    if isinstance(backend, PostgresBackend):
        backend.analyze(everything=analyze_all)
    backend.add_policies_and_holds(archive)
    backend.check_loaded(archive)
    loaded = time.perf_counter() - started
    print(f"  migrated and loaded in {loaded:.1f} s (untimed setup)", flush=True)
    runs = []
    for label in ("first sweep", "next night"):
        run = timed_sweep(backend)
        print(
            f"  {label}: {run.seconds:.2f} s (refresh_dates {run.refresh:.2f} s, batch part "
            f"{run.batch_part:.2f} s); {run.counts.dated:,} dated, {run.counts.added:,} added, "
            f"{run.counts.held_out:,} held out; {others_note(run.others)}",
            flush=True,
        )
        runs.append(run)
    return Column(backend.name, loaded, *runs)


# --- the report ---------------------------------------------------------------------------------


def describe_machine() -> None:
    print(
        f"ChartVault retention sweep bench  {time.strftime('%Y-%m-%d %H:%M')}  "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, load average {load()}"
    )


def print_summary(columns: list[Column]) -> None:
    print()
    ratio = len(columns) == 2
    print(f"{'':<32}" + "".join(f"{c.name:>14}" for c in columns)
          + (f"{'SQLite / PostgreSQL':>22}" if ratio else ""))  # fmt: skip
    rows: list[tuple[str, Callable[[Column], float], str]] = [
        ("first sweep s", lambda c: c.first.seconds, ".2f"),
        ("  of which refresh_dates s", lambda c: c.first.refresh, ".2f"),
        ("  of which the batch part s", lambda c: c.first.batch_part, ".2f"),
        ("next night s", lambda c: c.next_night.seconds, ".2f"),
        ("  of which refresh_dates s", lambda c: c.next_night.refresh, ".2f"),
        ("dated", lambda c: c.first.counts.dated, ",d"),
        ("added (first sweep)", lambda c: c.first.counts.added, ",d"),
        ("held out", lambda c: c.first.counts.held_out, ",d"),
        ("added (next night)", lambda c: c.next_night.counts.added, ",d"),
        ("other processes, cores", lambda c: max(c.first.others, c.next_night.others), ".2f"),
    ]
    for label, value, spec in rows:
        line = f"{label:<32}" + "".join(f"{value(c):>14{spec}}" for c in columns)
        if ratio and label.endswith(" s"):
            line += f"{value(columns[0]) / value(columns[1]):>21.1f}x"
        print(line)


def print_checks(columns: list[Column], expected: Counts, documents: int) -> bool:
    ok = True
    for column in columns:
        same = column.first.counts == expected
        print(f"{column.name} first sweep counts as retention.clocks computes them "
              f"({expected.dated:,} dated, {expected.added:,} added, {expected.held_out:,} "
              f"held out): {verdict(same)}")  # fmt: skip
        night = column.next_night.counts
        steady = night == Counts(expected.dated, 0, 0, expected.held_out)
        print(f"{column.name} next night dates the same and adds none: {verdict(steady)}")
        ok = ok and same and steady
    if len(columns) == 2:
        agree = all(
            (a.counts.dated, a.counts.added, a.counts.held_out)
            == (b.counts.dated, b.counts.added, b.counts.held_out)
            for a, b in ((columns[0].first, columns[1].first),
                         (columns[0].next_night, columns[1].next_night))
        )  # fmt: skip
        print(f"SQLite and PostgreSQL give the same counts: {verdict(agree)}")
        ok = ok and agree
    postgres = next((c for c in columns if c.name == PostgresBackend.name), None)
    if postgres:
        seconds = postgres.first.seconds
        scale = (
            ""
            if documents >= TARGET_DOCUMENTS
            else f" (at {documents:,} documents, below the target's {TARGET_DOCUMENTS:,})"
        )
        met = seconds < TARGET_SECONDS and documents >= TARGET_DOCUMENTS
        print(f"target: PostgreSQL sweep < {TARGET_SECONDS:.0f} s at {TARGET_DOCUMENTS:,} "
              f"documents: {seconds:.2f} s{scale}  {verdict(met)}")  # fmt: skip
        ok = ok and met
    return ok


# --- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, root: Path) -> bool:
    describe_machine()
    started = time.perf_counter()
    archive = synthetic_archive(args.documents, args.seed)
    generated = time.perf_counter() - started
    expected = expected_counts(archive)
    patients = archive.patients
    print(
        f"documents: {len(archive.documents):,}; patients: {len(patients):,} "
        f"({sum(p[4] is not None for p in patients):,} deceased); "
        f"undated: {sum(d[4] is None for d in archive.documents):,}; seed {args.seed}; "
        f"generated in {generated:.1f} s; swept as of {SWEEP_DAY}"
    )
    columns = []
    if not args.skip_sqlite:
        backend = SQLiteBackend(root / "chartvault.db")
        try:
            columns.append(measure(backend, archive))
        finally:
            backend.close()
    if not args.skip_postgres:
        with ThrowawayPostgres() as cluster:
            backend = PostgresBackend(cluster)
            try:
                columns.append(measure(backend, archive, args.analyze_all))
            finally:
                backend.close()
    print(
        "\nload (untimed): "
        + ", ".join(f"{c.name} {c.load_seconds:.1f} s" for c in columns)
        + f"; load average now {load()}"
    )
    print_summary(columns)
    print()
    return print_checks(columns, expected, len(archive.documents))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=TARGET_DOCUMENTS)
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--analyze-all", action="store_true",
                        help="PostgreSQL: ANALYZE the empty disposition tables too")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default /tmp)")
    args = parser.parse_args(argv)
    if args.skip_sqlite and args.skip_postgres:
        parser.error("nothing to measure with both --skip-sqlite and --skip-postgres")
    with tempfile.TemporaryDirectory(prefix="chartvault-bench-retention-", dir=args.dir) as tmp:
        return 0 if run(args, Path(tmp)) else 1


if __name__ == "__main__":
    sys.exit(main())
