"""The dashboard's figures at archive scale, SQLite beside PostgreSQL.

    python -m bench.dashboard [--documents 1000000] [--skip-sqlite] [--skip-postgres]
                              [--runs 20] [--seed 1]

Each database (a SQLite file; a throwaway PostgreSQL cluster from tests.pg, VACUUM ANALYZE
after loading) is migrated by the project's migrations and loaded, untimed, with a synthetic
year: --documents documents filed at random moments of 2025 (about 6 pages each, one in ten
rescanned), one finished OCR job and one searchable PDF per version, a QC flag for one
document in five (60 % reviewed), and one request for records per 200 documents.

Timed: each of stats.service's figures (the functions the API's cache calls) for the whole
year in America/Chicago, in a transaction of its own, bypassing the cache: the first call
("cold": the database's caches hold only what loading left) and then --runs calls ("warm"),
of which the p95 is printed. Beside them, a `SELECT count(*)` of document_versions in the
same run, for scale. The target (the issue): every call p95 <= 300 ms warm and <= 2 s cold
on PostgreSQL at 1,000,000 documents; the exit status is 1 when a PostgreSQL figure misses it.
The machine is shared: state the CPU beside any figure quoted (printed first).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text

from archive import migrate
from archive.db import Database
from archive.models import Document, DocumentVersion, Patient
from ingest.models import Derivative, Job, QcFlag
from release.models import ReleaseRequest
from stats.periods import Period
from stats.service import FIGURES
from tests.pg import ThrowawayPostgres

YEAR = Period(date(2025, 1, 1), date(2025, 12, 31), ZoneInfo("America/Chicago"))
BATCH = 20_000
WARM_TARGET, COLD_TARGET = 0.300, 2.0


def _moment(rng: random.Random) -> datetime:
    return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))


def load(db: Database, documents: int, seed: int) -> None:
    """The synthetic year, in batches of executemany (untimed)."""
    rng = random.Random(seed)
    with db.transaction() as session:
        session.execute(insert(Patient), [{"id": 1, "mrn": "MRN-1", "name": "DOE, JANE",
                                           "dob": date(1970, 1, 1)}])
    version_id = 0
    for start in range(0, documents, BATCH):
        rows: dict[type, list[dict]] = {Document: [], DocumentVersion: [], Job: [],
                                        Derivative: [], QcFlag: []}
        for document_id in range(start + 1, min(start + BATCH, documents) + 1):
            filed = _moment(rng)
            rows[Document].append({"id": document_id, "uid": f"d{document_id}",
                                   "patient_id": 1, "doc_type": "discharge_summary",
                                   "status": "ready", "created_at": filed})
            for number in (1, 2) if rng.random() < 0.1 else (1,):
                version_id += 1
                at = filed + timedelta(days=number - 1)
                _version_rows(rows, rng, document_id, version_id, number, at)
            if rng.random() < 0.2:
                reviewed = filed + timedelta(hours=rng.randint(1, 500))
                rows[QcFlag].append({"document_id": document_id, "kind": "mrn_missing",
                                     "status": "reviewed", "created_at": filed,
                                     "reviewed_at": reviewed if rng.random() < 0.6 else None})
        with db.transaction() as session:
            for model, batch in rows.items():
                session.execute(insert(model), batch)
    _requests(db, rng, documents // 200)


def _version_rows(rows, rng, document_id: int, version_id: int, number: int,
                  at: datetime) -> None:
    rows[DocumentVersion].append({
        "id": version_id, "document_id": document_id, "number": number,
        "object_key": f"o{version_id}", "store_version_id": "v", "sha256": "0" * 64,
        "size": rng.randint(50_000, 2_000_000), "media_type": "application/pdf",
        "page_count": rng.randint(1, 11), "created_by_name": "clerk1", "created_at": at})
    done = at + timedelta(seconds=rng.randint(20, 3600))
    rows[Job].append({"kind": "ocr", "document_id": document_id, "version_id": version_id,
                      "status": "done", "created_at": at, "finished_at": done})
    rows[Derivative].append({"version_id": version_id, "kind": "searchable_pdf",
                             "object_key": f"s{version_id}", "store_version_id": "v",
                             "sha256": "0" * 64, "size": rng.randint(50_000, 900_000),
                             "media_type": "application/pdf", "created_at": done})


def _requests(db: Database, rng: random.Random, count: int) -> None:
    rows = []
    for _ in range(count):
        received = YEAR.first + timedelta(days=rng.randrange(365))
        rows.append({"request_type": "records", "legal_basis": "authorization",
                     "requester_kind": "attorney", "requester_name": "Firm", "asked": {},
                     "received": received, "status": rng.choice(("logged", "closed")),
                     "due": received + timedelta(days=30),
                     "notice_deadline": received + timedelta(days=30), "created_by": "staff1"})
    with db.transaction() as session:
        session.execute(insert(ReleaseRequest), rows)


def timed(db: Database, call) -> float:
    began = time.perf_counter()
    with db.transaction() as session:
        call(session)
    return time.perf_counter() - began


def measure(name: str, db: Database, runs: int) -> bool:
    """Print each figure's cold and warm p95 seconds; True when PostgreSQL meets the target."""
    count = timed(db, lambda s: s.execute(select(func.count()).select_from(DocumentVersion)))
    print(f"\n{name}: count(*) of document_versions  {count * 1000:8.1f} ms")
    met = True
    for figure_name, figure in FIGURES.items():
        cold = timed(db, lambda s, f=figure: f.compute(s, YEAR))
        warm = sorted(timed(db, lambda s, f=figure: f.compute(s, YEAR)) for _ in range(runs))
        p95 = warm[min(len(warm) - 1, int(0.95 * len(warm)))]
        ok = p95 <= WARM_TARGET and cold <= COLD_TARGET
        met = met and ok
        print(f"  {figure_name:9} cold {cold * 1000:8.1f} ms   warm p95 {p95 * 1000:8.1f} ms"
              f"   median {statistics.median(warm) * 1000:8.1f} ms   {'PASS' if ok else 'FAIL'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    print(f"CPU: {cpu}; {args.documents:,} documents over {YEAR.first} to {YEAR.last}")
    met = True
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite:///{tmp}/bench.db")
            migrate.upgrade(db.engine)
            load(db, args.documents, args.seed)
            measure("SQLite", db, args.runs)
            db.dispose()
    if not args.skip_postgres:
        with ThrowawayPostgres() as cluster:
            db = Database(cluster.create_database("chartvault_bench"))
            migrate.upgrade(db.engine)
            load(db, args.documents, args.seed)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as raw:
                raw.execute(text("VACUUM ANALYZE"))
            met = measure("PostgreSQL", db, args.runs)
            db.dispose()
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
