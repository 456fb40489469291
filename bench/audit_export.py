"""The audit trail's CSV export: memory flat however many events it holds.

    python -m bench.audit_export [--events 1000000] [--dir DIR]

Untimed setup: a migrated SQLite database with ``--events`` audit events, inserted in bulk
(the export reads events; it does not verify their chain, so they are written without one).

Measured: ``archive.audit.export_csv`` consumed to the end for a tenth of the events and for
all of them, each with ``tracemalloc``'s peak. Target: the peak for all of them at most 1.5×
the peak for a tenth (flat, not growing with the trail). Exit status 1 on FAIL.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert

from archive import audit, migrate
from archive.db import Database
from archive.models import AuditEvent

BATCH = 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def fill(url: str, events: int) -> None:
    engine = create_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        for first in range(1, events + 1, BATCH):
            connection.execute(insert(AuditEvent), [
                {"seq": seq, "ts": START + timedelta(seconds=seq), "actor": f"user{seq % 40}",
                 "action": "document.viewed", "outcome": "success",
                 "patient_mrn": f"MRN-{seq % 900}",
                 "document_id": seq % 5000 + 1, "source": "10.0.0.7", "reason": "",
                 "details": {"page": seq % 12 + 1}, "prev_hash": "0" * 64, "hash": "0" * 64,
                 "mac": "hmac-sha256"}
                for seq in range(first, min(first + BATCH, events + 1))])
    engine.dispose()


def measure(db: Database, filters: audit.EventFilter, upto: int) -> tuple[int, float, int]:
    """Rows exported, seconds, peak traced bytes."""
    tracemalloc.start()
    began, lines = time.perf_counter(), 0
    for chunk in audit.export_csv(db, filters, upto):
        lines += chunk.count("\n")
    seconds = time.perf_counter() - began
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return lines - 1, seconds, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-audit-") as work:
        url = f"sqlite:///{Path(work) / 'audit.db'}"
        print(f"writing {args.events:,} events…")
        fill(url, args.events)
        db = Database(url)
        results = {}
        for label, upto in (("a tenth", args.events // 10), ("all", args.events)):
            results[label] = measure(db, audit.EventFilter(), upto)
            rows, seconds, peak = results[label]
            print(f"{label:>8}: {rows:>9,} rows in {seconds:6.1f} s, peak {peak / 2**20:5.1f} MiB")
        db.dispose()
    ratio = results["all"][2] / results["a tenth"][2]
    verdict = "PASS" if ratio <= 1.5 else "FAIL"
    print(f"peak memory, all against a tenth: {ratio:.2f}× (target ≤ 1.5×) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
