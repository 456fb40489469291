"""What a minute of the SQLite database journal costs, beside a plain copy of the same file.

    python -m bench.journal [--mib 256] [--rounds 3] [--dir DIR]

Untimed setup: a SQLite database in WAL mode of about ``--mib`` MiB (rows of page-like text,
as the ``pages`` table holds OCR text), a FilesystemStore replica, and a journal generation
started from a first copy (as the nightly snapshot starts one).

Timed, ``--rounds`` times, alternating: a plain ``shutil.copyfile`` of the database file
(the least any consistent copy costs), then one journal entry after a small write (a few
rows, as a minute of filing adds): ``backup.sqlite_journal.record_changes`` — the online
backup into a temporary file, a hash of every page, the changed pages stored. The figure is
the entry's time as a multiple of the copy's, median of the rounds; there is no target, the
README quotes the seconds a minute it costs.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path

from archive.storage.filesystem import FilesystemStore
from backup import sqlite_journal

MIB = 1024 * 1024
ROW_BYTES = 3000  # about a page of OCR text


def build_database(path: Path, mib: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    words = [f"word{n}" for n in range(5000)]
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE pages (id INTEGER PRIMARY KEY, text TEXT)")
        rows = mib * MIB // ROW_BYTES
        for start in range(0, rows, 1000):
            db.executemany("INSERT INTO pages (text) VALUES (?)", [
                (" ".join(rng.choices(words, k=ROW_BYTES // 8)),)
                for _ in range(min(1000, rows - start))])
            db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def a_minute_of_filing(path: Path, round_number: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.executemany("INSERT INTO pages (text) VALUES (?)",
                       [(f"round {round_number} page {n} " * 100,) for n in range(12)])
        db.commit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-journal-") as work:
        root = Path(work)
        data_dir, database = root / "data", root / "data" / "chartvault.db"
        data_dir.mkdir()
        build_database(database, args.mib)
        replica = FilesystemStore(root / "replica")
        with tempfile.TemporaryDirectory(dir=data_dir) as first:
            image = Path(first) / "database"
            stamp = sqlite_journal.consistent_copy(database, image)
            sqlite_journal.start_generation(data_dir, "bench-snapshot", image, stamp)
        size = database.stat().st_size
        print(f"database: {size / MIB:,.0f} MiB, {size // sqlite_journal.page_size_of(database):,}"
              " pages")
        print(f"{'round':>5}  {'plain copy':>10}  {'journal entry':>13}  {'ratio':>5}  stored")
        ratios, entries = [], []
        for number in range(1, args.rounds + 1):
            began = time.perf_counter()
            shutil.copyfile(database, root / "plain-copy")
            copy_seconds = time.perf_counter() - began
            (root / "plain-copy").unlink()
            a_minute_of_filing(database, number)
            state = sqlite_journal.JournalState.load(data_dir)
            began = time.perf_counter()
            entry = sqlite_journal.record_changes(replica, data_dir, database, state)
            entry_seconds = time.perf_counter() - began
            ratios.append(entry_seconds / copy_seconds)
            entries.append(entry_seconds)
            print(f"{number:>5}  {copy_seconds:>9.2f}s  {entry_seconds:>12.2f}s  "
                  f"{ratios[-1]:>5.1f}  {entry.pages} pages, {entry.size:,} bytes")
        print(f"median: a journal entry takes {statistics.median(entries):.2f} s, "
              f"{statistics.median(ratios):.1f}× a plain copy of the database file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
